//! Single-flight leases and fencing: at most one prefetch job per patient, owned by its job.
//!
//! The gateway takes a patient's lease (`P:pt:{pk}:lease`, the [`Lease`] JSON naming the job)
//! together with the On-Demand `pending` record and a fencing token, in one script; the
//! worker running the job renews it while it works and before each retry delay; only the
//! owner releases it (compare-and-delete), and storing the job's result releases it in the same
//! script. The fencing token (`P:pt:{pk}:gen`, a counter) travels in the job; the token of the
//! current document is kept in `P:pt:{pk}:fence`, and a result with an older token never
//! becomes current: a job that outlived its lease cannot overwrite a newer document.
//!
//! Every multi-key operation is a Lua script, so each is atomic on the Redis server.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Cache, CacheError};
use crate::NhsNumber;

/// The job holding a patient's single-flight lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub job_id: uuid::Uuid,
    /// The uniqueId the job's document will have (advertised On-Demand before it exists).
    pub unique_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

/// The result of asking for a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// We hold it now, with this fencing token: put it in the job and publish the job.
    Acquired { fence: u64 },
    /// Another job holds it (`None` when it was released between our attempt and our read).
    Held(Option<Lease>),
}

/// What renewing a lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours; its TTL starts again.
    Renewed,
    /// Expired or released: nobody holds it (the job's result still lands, fenced).
    Gone,
    /// Another job holds it now.
    Lost,
}

/// Who wrote a result: the job and its fencing token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub job_id: uuid::Uuid,
    pub fence: u64,
}

/// Whether a stored document became the patient's current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Current,
    /// A job with a later token stored a document first: this one is kept under its own
    /// uniqueId (an On-Demand entry may name it) but the patient's pointer is not moved.
    Superseded,
}

/// `owns(lease_key, job_id)`: whether the lease names this job. Shared by the scripts below.
const OWNS: &str = r#"
local function owns(key, job)
  local v = redis.call('GET', key)
  if not v then return false end
  local ok, lease = pcall(cjson.decode, v)
  return ok and type(lease) == 'table' and lease.job_id == job
end
"#;

/// KEYS: lease, pending, gen, fence. ARGV: lease JSON, lease TTL ms, patient key, document
/// TTL s. Returns `{1, token}` when taken, `{0, held lease JSON}` when not.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, redis.call('GET', KEYS[1])}
end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
local token = redis.call('INCR', KEYS[3])
local current = tonumber(redis.call('GET', KEYS[4]) or '0')
if token <= current then
  token = current + 1
  redis.call('SET', KEYS[3], token)
end
redis.call('EXPIRE', KEYS[3], ARGV[4])
return {1, tostring(token)}
"#,
    )
});

/// KEYS: lease. ARGV: job id, TTL ms. Returns 1 renewed, 0 gone, -1 held by another job.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{OWNS}
if owns(KEYS[1], ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
return 0
"#
    ))
});

/// KEYS: lease. ARGV: job id, channel, patient key. Returns 1 when released (and announced,
/// so waiters re-check and may start a job of their own).
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{OWNS}
if owns(KEYS[1], ARGV[1]) then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
"#
    ))
});

/// KEYS: body, meta, pointer, lease, failed, fence. ARGV: sealed body, sealed meta, uniqueId,
/// document TTL s, job id, token, channel, patient key. Returns 1 current, 0 superseded.
static STORE_DOCUMENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{OWNS}
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[4])
local current = tonumber(redis.call('GET', KEYS[6]) or '0')
local fresh = tonumber(ARGV[6]) >= current
if fresh then
  redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
  redis.call('SET', KEYS[6], ARGV[6], 'EX', ARGV[4])
  redis.call('DEL', KEYS[5])
end
if owns(KEYS[4], ARGV[5]) then redis.call('DEL', KEYS[4]) end
redis.call('PUBLISH', ARGV[7], ARGV[8])
if fresh then return 1 end
return 0
"#
    ))
});

/// KEYS: failed, lease, fence. ARGV: failure JSON, failure TTL s, job id, token, channel,
/// patient key. The failure is recorded only when no other job holds the lease and no newer
/// document exists (a late failure must not override a newer job's waiters). Returns 1 when
/// recorded.
static STORE_FAILURE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{OWNS}
local mine = owns(KEYS[2], ARGV[3])
local free = mine or redis.call('EXISTS', KEYS[2]) == 0
local recorded = 0
if free and tonumber(ARGV[4]) >= tonumber(redis.call('GET', KEYS[3]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  recorded = 1
end
if mine then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return recorded
"#
    ))
});

fn millis(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

// === impl Cache ===

impl Cache {
    /// Takes the patient's single-flight lease for `lease_ttl` together with the On-Demand
    /// pending record and a fencing token (one script), or reports who holds it. The worker
    /// renews the lease while the job runs, so `lease_ttl` only bounds how long a job that
    /// was never published (a gateway killed mid-request) blocks the patient.
    pub async fn try_lease(
        &self,
        nhs: NhsNumber,
        lease: &Lease,
        lease_ttl: Duration,
    ) -> Result<LeaseOutcome, CacheError> {
        let pk = self.patient_key(nhs);
        let mut c = self.conn().await?;
        let (taken, value): (i64, Option<Vec<u8>>) = ACQUIRE
            .key(self.key(&["pt", &pk, "lease"]))
            .key(self.key(&["pending", &lease.unique_id]))
            .key(self.key(&["pt", &pk, "gen"]))
            .key(self.key(&["pt", &pk, "fence"]))
            .arg(serde_json::to_vec(lease)?)
            .arg(millis(lease_ttl))
            .arg(&pk)
            .arg(self.inner.document_ttl.as_secs().max(1))
            .invoke_async(&mut c)
            .await?;
        if taken == 1 {
            // The token comes back as an integer reply in the second slot.
            let fence = value
                .as_deref()
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            return Ok(LeaseOutcome::Acquired { fence });
        }
        Ok(LeaseOutcome::Held(
            value.map(|v| serde_json::from_slice(&v)).transpose()?,
        ))
    }

    /// Extends the job's lease by `ttl` when the job still owns it.
    pub async fn renew_lease(
        &self,
        nhs: NhsNumber,
        job_id: uuid::Uuid,
        ttl: Duration,
    ) -> Result<Renewal, CacheError> {
        let pk = self.patient_key(nhs);
        let mut c = self.conn().await?;
        let r: i64 = RENEW
            .key(self.key(&["pt", &pk, "lease"]))
            .arg(job_id.to_string())
            .arg(millis(ttl))
            .invoke_async(&mut c)
            .await?;
        Ok(match r {
            1 => Renewal::Renewed,
            0 => Renewal::Gone,
            _ => Renewal::Lost,
        })
    }

    /// Releases the job's lease without a result (a job that was never published), unless
    /// another job holds it by now. Returns whether it was released.
    pub async fn release_lease(
        &self,
        nhs: NhsNumber,
        job_id: uuid::Uuid,
    ) -> Result<bool, CacheError> {
        let pk = self.patient_key(nhs);
        let mut c = self.conn().await?;
        let r: i64 = RELEASE
            .key(self.key(&["pt", &pk, "lease"]))
            .arg(job_id.to_string())
            .arg(self.done_channel())
            .arg(&pk)
            .invoke_async(&mut c)
            .await?;
        Ok(r == 1)
    }

    /// The lease of the job in flight for this patient, if any.
    pub async fn lease(&self, nhs: NhsNumber) -> Result<Option<Lease>, CacheError> {
        let pk = self.patient_key(nhs);
        self.get_json(&self.key(&["pt", &pk, "lease"])).await
    }

    /// Stores a converted document; makes it the patient's current one unless a job with a
    /// later token got there first; releases the job's own lease, clears the patient's
    /// failure and announces completion. One script.
    pub async fn store_document(
        &self,
        meta: &crate::document::DocumentMeta,
        document: &[u8],
        owner: Owner,
    ) -> Result<Stored, CacheError> {
        let pk = self.patient_key(meta.nhs_number);
        let uid = meta.unique_id.as_str();
        let body_key = self.key(&["doc", uid, "body"]);
        let meta_key = self.key(&["doc", uid, "meta"]);
        let sealed = self.inner.sealer.seal(&body_key, document)?;
        // The metadata names the patient (NHS number, name, practice): sealed like the body.
        let sealed_meta = self
            .inner
            .sealer
            .seal(&meta_key, &serde_json::to_vec(meta)?)?;
        let mut c = self.conn().await?;
        let r: i64 = STORE_DOCUMENT
            .key(&body_key)
            .key(&meta_key)
            .key(self.key(&["pt", &pk, "doc"]))
            .key(self.key(&["pt", &pk, "lease"]))
            .key(self.key(&["pt", &pk, "failed"]))
            .key(self.key(&["pt", &pk, "fence"]))
            .arg(sealed)
            .arg(sealed_meta)
            .arg(uid)
            .arg(self.inner.document_ttl.as_secs().max(1))
            .arg(owner.job_id.to_string())
            .arg(owner.fence)
            .arg(self.done_channel())
            .arg(&pk)
            .invoke_async(&mut c)
            .await?;
        Ok(if r == 1 {
            Stored::Current
        } else {
            Stored::Superseded
        })
    }

    /// Records a permanent job failure (unless a newer job holds the patient or a newer
    /// document exists), releases the job's own lease and announces completion. Returns
    /// whether the failure was recorded.
    pub async fn store_failure(
        &self,
        nhs: NhsNumber,
        failure: &crate::job::JobFailure,
        ttl: Duration,
        owner: Owner,
    ) -> Result<bool, CacheError> {
        let pk = self.patient_key(nhs);
        let mut c = self.conn().await?;
        let r: i64 = STORE_FAILURE
            .key(self.key(&["pt", &pk, "failed"]))
            .key(self.key(&["pt", &pk, "lease"]))
            .key(self.key(&["pt", &pk, "fence"]))
            .arg(serde_json::to_vec(failure)?)
            .arg(ttl.as_secs().max(1))
            .arg(owner.job_id.to_string())
            .arg(owner.fence)
            .arg(self.done_channel())
            .arg(&pk)
            .invoke_async(&mut c)
            .await?;
        Ok(r == 1)
    }
}
