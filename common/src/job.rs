//! Prefetch jobs on the wire, and how a job can fail.
//!
//! The gateway publishes a [`PrefetchJob`] after a successful patient discovery (or a query that
//! finds nothing cached); a worker resolves the practice in SDS, fetches the GP Connect
//! structured record, converts it and caches the C-CDA. When the job fails for good, the worker
//! caches a [`JobFailure`] so that waiting ITI-38/39 requests answer with the right
//! RegistryError instead of timing out.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::NhsNumber;
use crate::identity::Requester;

/// Version of the job message schema; a worker rejects (dead-letters) versions it does not know.
pub const JOB_VERSION: u32 = 1;

/// One request to fetch, convert and cache a patient's GP record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefetchJob {
    /// Schema version ([`JOB_VERSION`]).
    pub v: u32,
    /// Unique per job (UUID v7, time-ordered).
    pub job_id: Uuid,
    pub nhs_number: NhsNumber,
    /// ODS code of the registered practice when the gateway already knows it from PDS; the
    /// worker asks PDS itself when it is missing.
    #[serde(default)]
    pub gp_ods: Option<String>,
    /// On whose behalf (goes into the GP Connect JWT and the audit trail).
    pub requester: Requester,
    /// Correlates gateway request, job, upstream calls and audit events.
    pub correlation_id: String,
    /// The XDS uniqueId the resulting document will have (advertised On-Demand before the
    /// document exists).
    pub unique_id: String,
    /// When the job was created; a worker skips it when a newer document is already cached.
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: time::OffsetDateTime,
    /// The practice's GP Connect endpoint, filled in by the SDS stage for the GP Connect stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<crate::nhs::ProviderEndpoint>,
    /// The fencing token handed out with the patient's lease ([`crate::cache::Cache::try_lease`]):
    /// a document is only made current when no job with a later token stored one first, so a
    /// job that outlived its lease never overwrites a newer document. 0 for jobs from before
    /// tokens existed (the oldest order).
    #[serde(default)]
    pub fence: u64,
}

/// Why a prefetch job failed for good. Cached for a short time so waiters learn of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    pub kind: FailureKind,
    /// A short, safe description: no patient data, no upstream bodies.
    pub reason: String,
}

/// The failures a caller can tell apart. The gateway maps each to one RegistryError code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// PDS or GP Connect does not know the patient (or may not say: restricted, deceased).
    PatientNotFound,
    /// The patient is not registered with a GP practice, or the practice has no GP Connect
    /// endpoint in SDS.
    NoEndpoint,
    /// GP Connect refused: no consent, no relationship, capability disabled.
    AccessDenied,
    /// An NHS service failed or kept failing after retries.
    UpstreamUnavailable,
    /// The bundle could not be converted.
    Conversion,
    /// Anything else (bad job, internal error).
    Internal,
}

// === impl PrefetchJob ===

impl PrefetchJob {
    pub fn new(nhs_number: NhsNumber, requester: Requester, correlation_id: String) -> Self {
        let job_id = Uuid::now_v7();
        Self {
            v: JOB_VERSION,
            job_id,
            nhs_number,
            gp_ods: None,
            requester,
            correlation_id,
            unique_id: unique_id_for(Uuid::new_v4()),
            requested_at: time::OffsetDateTime::now_utc(),
            endpoint: None,
            fence: 0,
        }
    }

    /// The job as the writer of its result (for fencing).
    pub fn owner(&self) -> crate::cache::Owner {
        crate::cache::Owner {
            job_id: self.job_id,
            fence: self.fence,
        }
    }

    /// The lease this job holds (or held) on its patient.
    pub fn lease(&self) -> crate::cache::Lease {
        crate::cache::Lease {
            job_id: self.job_id,
            unique_id: self.unique_id.clone(),
            since: self.requested_at,
        }
    }
}

/// An XDS uniqueId in the `2.25.<UUID as a decimal integer>` OID form (ISO/IEC 9834-8).
pub fn unique_id_for(uuid: Uuid) -> String {
    format!("2.25.{}", uuid.as_u128())
}

/// The document UUID behind a `2.25.` uniqueId.
pub fn uuid_of_unique_id(unique_id: &str) -> Option<Uuid> {
    let n: u128 = unique_id.strip_prefix("2.25.")?.parse().ok()?;
    Some(Uuid::from_u128(n))
}

// === impl FailureKind ===

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::PatientNotFound => "patient_not_found",
            FailureKind::NoEndpoint => "no_endpoint",
            FailureKind::AccessDenied => "access_denied",
            FailureKind::UpstreamUnavailable => "upstream_unavailable",
            FailureKind::Conversion => "conversion",
            FailureKind::Internal => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_round_trip() {
        let u = Uuid::new_v4();
        let id = unique_id_for(u);
        assert!(id.starts_with("2.25."));
        assert!(
            id.len() <= 64,
            "XDS uniqueId OIDs are at most 64 characters"
        );
        assert_eq!(uuid_of_unique_id(&id), Some(u));
    }
}
