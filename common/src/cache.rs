//! Redis: converted documents, single-flight leases, job failures, SDS lookups.
//!
//! Workers write here (`store_document`, `store_failure`); the gateway reads (`document_for`,
//! `document`) and takes leases (`try_lease`, [`lease`]) so that one patient has at most one
//! prefetch in flight across every gateway and worker, and a late job never overwrites a newer
//! document. Completion is signalled on a pub/sub channel
//! ([`completion`]). The Redis is one URL or the primary a Sentinel group names, with the
//! pooled connections that follow it through a failover ([`primary`]).
//!
//! Keys (`P` = `XHUMA_REDIS_PREFIX`, `pk` = keyed hash of the NHS number, never the number):
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `P:pt:{pk}:doc` | uniqueId of the patient's current document | document TTL |
//! | `P:pt:{pk}:lease` | [`Lease`] of the job in flight (renewed by its worker) | lease TTL |
//! | `P:pt:{pk}:gen` | last fencing token handed out ([`lease`]) | document TTL |
//! | `P:pt:{pk}:fence` | token of the job that wrote the current document | document TTL |
//! | `P:pt:{pk}:failed` | [`JobFailure`] of the last job | failure TTL |
//! | `P:doc:{uid}:meta` | [`DocumentMeta`] JSON | document TTL |
//! | `P:doc:{uid}:body` | sealed C-CDA ([`seal`]) | document TTL |
//! | `P:pending:{uid}` | `pk` of the patient an On-Demand uniqueId belongs to | document TTL |
//! | `P:sds:{ods}` | cached SDS answer (JSON) | SDS TTL |
//! | `P:deliveries:{message id}` | redeliveries seen (classic queues' delivery limit) | 1 h |
//! | channel `P:done` | `pk` published on completion | — |

pub mod completion;
pub mod lease;
pub mod primary;
pub mod seal;

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::NhsNumber;
use crate::config::RedisConfig;
use crate::document::DocumentMeta;
use crate::job::JobFailure;
pub use lease::{Lease, LeaseOutcome, Owner, Renewal, Stored};
pub use primary::Target;
use primary::{Conn, Pool};
use seal::{SealError, Sealer};

/// How long a failure stays visible to waiters (and holds off a new job for that patient).
pub const DEFAULT_FAILURE_TTL: Duration = Duration::from_secs(30);

/// Errors talking to Redis or reading what is stored there.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("Redis pool error")]
    Pool(#[from] deadpool_redis::PoolError),
    #[error("Redis command failed")]
    Redis(#[from] redis::RedisError),
    #[error("cannot create the Redis pool")]
    CreatePool(#[from] deadpool_redis::CreatePoolError),
    #[error("invalid Redis or Sentinel address")]
    Target(#[source] redis::RedisError),
    #[error("cached value is not valid JSON")]
    Decode(#[from] serde_json::Error),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("Redis did not answer in time")]
    Timeout,
}

/// A handle on the cache; cheap to clone.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    prefix: String,
    document_ttl: Duration,
    sealer: Sealer,
    target: Target,
}

// === impl Cache ===

impl Cache {
    /// Builds the pool (connections are opened lazily, so this does not fail when Redis is
    /// down; [`Cache::ping`] tells).
    pub fn new(config: &RedisConfig) -> Result<Self, CacheError> {
        let target = Target::new(config).map_err(CacheError::Target)?;
        let pool = target.pool(config.pool_size, Duration::from_secs(2))?;
        let key_hex = config.encryption_key.as_ref().map(|k| k.expose());
        if key_hex.is_none() {
            tracing::warn!(
                "XHUMA_CACHE_KEY is not set: cached documents are compressed but not encrypted, \
                 and patient keys are only pseudonymous; set it outside development"
            );
        }
        let old: Vec<&str> = config.old_keys.iter().map(|k| k.expose()).collect();
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                prefix: config.prefix.clone(),
                document_ttl: config.document_ttl,
                sealer: Sealer::new(key_hex, &old)?,
                target,
            }),
        })
    }

    /// Where the Redis primary is (for the completion subscriber's own connection).
    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    pub fn document_ttl(&self) -> Duration {
        self.inner.document_ttl
    }

    /// The pseudonymous key of a patient: used in Redis keys, the completion channel and logs
    /// (`patient.key`) instead of the NHS number.
    pub fn patient_key(&self, nhs: NhsNumber) -> String {
        self.inner.sealer.patient_key(&nhs.to_string())
    }

    /// The pub/sub channel completions are announced on.
    pub fn done_channel(&self) -> String {
        format!("{}:done", self.inner.prefix)
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.inner.prefix.clone();
        for p in parts {
            k.push(':');
            k.push_str(p);
        }
        k
    }

    async fn conn(&self) -> Result<Conn, CacheError> {
        self.inner.pool.get().await
    }

    /// Checks Redis answers (readiness).
    pub async fn ping(&self) -> Result<(), CacheError> {
        let probe = async {
            let mut c = self.conn().await?;
            let _: String = redis::cmd("PING").query_async(&mut c).await?;
            Ok(())
        };
        // A half-dead connection never answers; readiness must.
        tokio::time::timeout(Duration::from_secs(3), probe)
            .await
            .unwrap_or(Err(CacheError::Timeout))
    }

    /// The patient's current document, if cached.
    pub async fn document_for(&self, nhs: NhsNumber) -> Result<Option<DocumentMeta>, CacheError> {
        let mut c = self.conn().await?;
        // Under the write key's patient hash first, then under old keys' (a rotation): a
        // document written before it is still served until it expires.
        let mut uid = None;
        for pk in self.inner.sealer.patient_keys(&nhs.to_string()) {
            uid = c.get(self.key(&["pt", &pk, "doc"])).await?;
            if uid.is_some() {
                break;
            }
        }
        let Some(uid): Option<String> = uid else {
            return Ok(None);
        };
        let meta_key = self.key(&["doc", &uid, "meta"]);
        let meta: Option<Vec<u8>> = c.get(&meta_key).await?;
        let Some(meta) = meta.and_then(|m| self.open_meta(&meta_key, &m)) else {
            return Ok(None);
        };
        // The patient → document pointer is not authenticated; the sealed metadata is. A
        // pointer to another patient's document is a miss (and a refetch), never a hit.
        if meta.nhs_number != nhs {
            tracing::error!("A patient's document pointer names another patient's document");
            metrics::counter!("xhuma_wrong_patient_total", "stage" => "cache").increment(1);
            return Ok(None);
        }
        Ok(Some(meta))
    }

    /// Opens sealed metadata. `None` (a miss) when it does not open: written in the clear,
    /// with another key, tampered with, or for another key name.
    fn open_meta(&self, key: &str, sealed: &[u8]) -> Option<DocumentMeta> {
        match self
            .inner
            .sealer
            .open(key, sealed)
            .map_err(CacheError::from)
            .and_then(|plain| Ok(serde_json::from_slice(&plain)?))
        {
            Ok(meta) => Some(meta),
            Err(error) => {
                tracing::warn!(%error, "Cached document metadata does not open; treated as a miss");
                metrics::counter!("xhuma_cache_unreadable_total", "kind" => "meta").increment(1);
                None
            }
        }
    }

    /// A document and its metadata by uniqueId.
    pub async fn document(
        &self,
        unique_id: &str,
    ) -> Result<Option<(DocumentMeta, Vec<u8>)>, CacheError> {
        let mut c = self.conn().await?;
        let body_key = self.key(&["doc", unique_id, "body"]);
        let meta_key = self.key(&["doc", unique_id, "meta"]);
        let (meta, body): (Option<Vec<u8>>, Option<Vec<u8>>) = redis::pipe()
            .get(&meta_key)
            .get(&body_key)
            .query_async(&mut c)
            .await?;
        match (meta, body) {
            (Some(meta), Some(body)) => {
                let Some(meta) = self.open_meta(&meta_key, &meta) else {
                    return Ok(None);
                };
                let doc = self.inner.sealer.open(&body_key, &body)?;
                Ok(Some((meta, doc)))
            }
            _ => Ok(None),
        }
    }

    /// The patient's last job failure, if still remembered.
    pub async fn failure(&self, nhs: NhsNumber) -> Result<Option<JobFailure>, CacheError> {
        let pk = self.patient_key(nhs);
        self.get_json(&self.key(&["pt", &pk, "failed"])).await
    }

    /// Replay guard: `true` the first time `key` is seen within `ttl` (one `SET NX PX`, so
    /// every gateway sharing this Redis agrees on which arrival was first).
    pub async fn first_use(&self, key: &str, ttl: Duration) -> Result<bool, CacheError> {
        let mut c = self.conn().await?;
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(&["seen", key]))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut c)
            .await?;
        Ok(set.is_some())
    }

    /// Counts one more delivery of message `id` (kept an hour): the delivery limit of classic
    /// queues, which have none of their own.
    pub async fn count_delivery(&self, id: &str) -> Result<u64, CacheError> {
        let key = self.key(&["deliveries", id]);
        let mut c = self.conn().await?;
        let (n,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .expire(&key, 3600)
            .ignore()
            .query_async(&mut c)
            .await?;
        Ok(n)
    }

    /// The patient key an On-Demand uniqueId was advertised for.
    pub async fn pending_patient(&self, unique_id: &str) -> Result<Option<String>, CacheError> {
        let mut c = self.conn().await?;
        Ok(c.get(self.key(&["pending", unique_id])).await?)
    }

    /// Whether a patient (by key) has a document, failure or lease right now.
    pub async fn state_by_key(&self, pk: &str) -> Result<KeyState, CacheError> {
        let mut c = self.conn().await?;
        let (doc, failed, lease): (Option<String>, Option<Vec<u8>>, Option<Vec<u8>>) =
            redis::pipe()
                .get(self.key(&["pt", pk, "doc"]))
                .get(self.key(&["pt", pk, "failed"]))
                .get(self.key(&["pt", pk, "lease"]))
                .query_async(&mut c)
                .await?;
        Ok(KeyState {
            document: doc,
            failure: failed.map(|f| serde_json::from_slice(&f)).transpose()?,
            lease: lease.map(|l| serde_json::from_slice(&l)).transpose()?,
        })
    }

    /// Reads a JSON value cached under `P:{namespace}:{id}` (e.g. SDS answers).
    pub async fn get_cached<T: DeserializeOwned>(
        &self,
        namespace: &str,
        id: &str,
    ) -> Result<Option<T>, CacheError> {
        self.get_json(&self.key(&[namespace, id])).await
    }

    /// Caches a JSON value under `P:{namespace}:{id}` for `ttl`.
    pub async fn put_cached<T: Serialize>(
        &self,
        namespace: &str,
        id: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let mut c = self.conn().await?;
        let _: () = c
            .set_ex(
                self.key(&[namespace, id]),
                serde_json::to_vec(value)?,
                ttl.as_secs().max(1),
            )
            .await?;
        Ok(())
    }

    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        let mut c = self.conn().await?;
        let v: Option<Vec<u8>> = c.get(key).await?;
        Ok(v.map(|v| serde_json::from_slice(&v)).transpose()?)
    }
}

/// What the cache knows about one patient key.
#[derive(Debug, Clone)]
pub struct KeyState {
    pub document: Option<String>,
    pub failure: Option<JobFailure>,
    pub lease: Option<Lease>,
}
