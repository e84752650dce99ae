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

impl PrefetchJob {
    pub fn new(nhs_number: NhsNumber, requester: Requester, correlation_id: String) -> Self {
        Self {
            v: JOB_VERSION,
            job_id: Uuid::now_v7(),
            nhs_number,
            gp_ods: None,
            requester,
            correlation_id,
        }
    }
}
