//! What the SOAP layer needs from the rest of Xhuma.
//!
//! The ITI handlers (`iti/*.rs`) parse a request, call one method here, and render the answer.
//! [`crate::records::Records`] is the real implementation (PDS, RabbitMQ prefetch jobs, Redis
//! cache, bounded wait on job completion); tests of the SOAP layer may use an in-memory one.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use xhuma_common::NhsNumber;
use xhuma_common::audit::RequestContext;
use xhuma_common::document::DocumentMeta;
use xhuma_common::identity::Requester;
use xhuma_common::job::JobFailure;
use xhuma_common::nhs::{PdsSearch, PdsSearchOutcome};
use xhuma_common::patient::{Demographics, PdsOutcome};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Context every backend call carries.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who asks (verified SAML identity, or the configured default).
    pub requester: Requester,
    /// Correlation id for logs, job and audit (the request's `wsa:MessageID` or a new UUID).
    pub correlation_id: String,
    /// The transaction being served (`iti55`, `iti47`, `iti38`, `iti39`), for the audit trail.
    pub iti: &'static str,
    /// The patient the verified assertion names (XACML `resource-id`): the only patient this
    /// request may be served for. `None` only where policy allows an assertion without one
    /// (`XHUMA_SAML_REQUIRE_RESOURCE_ID=false`, or no SAML in a dev/sandbox set-up).
    pub patient: Option<NhsNumber>,
    /// Peer, credentials and message id, carried into every audit event of the request.
    pub context: RequestContext,
}

/// Why a request was refused at the edge (the `detail` of its security-alert audit event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The SAML assertion (or WS-Security header) was missing, invalid or not trusted.
    Credentials(&'static str),
    /// The message (its MessageID or holder-of-key Timestamp signature) was seen before.
    Replay,
    /// The assertion names another patient than the one asked for.
    PatientMismatch,
}

/// A refused request, for the audit trail.
#[derive(Debug, Clone)]
pub struct SecurityAlert<'a> {
    pub iti: &'static str,
    pub refusal: Refusal,
    /// Who asked, when the assertion was verified far enough to say.
    pub caller: Option<&'a Caller>,
    pub context: &'a RequestContext,
    /// The patient asked for, when the request got that far.
    pub patient: Option<NhsNumber>,
    /// The document asked for (ITI-39).
    pub document: Option<&'a str>,
}

/// ITI-55 / ITI-47 result.
pub type Discovery = PdsOutcome;

/// ITI-38 result for one patient.
#[derive(Debug, Clone)]
pub enum Documents {
    /// The document is cached (or was produced while we waited).
    Ready(DocumentMeta),
    /// On-Demand mode: the prefetch is in flight; advertise an On-Demand entry whose uniqueId
    /// ITI-39 will be able to retrieve once the job finishes.
    Pending {
        unique_id: String,
        entry_uuid: String,
    },
    /// The prefetch job failed for good.
    Failed(JobFailure),
}

/// ITI-39 result for one requested uniqueId.
// One value per requested document, built once and rendered at once: boxing the large
// variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Retrieved {
    Found {
        meta: DocumentMeta,
        document: Bytes,
    },
    /// Unknown or expired uniqueId (`XDSDocumentUniqueIdError`).
    Unknown,
    /// The document is another patient's than the one the assertion names.
    Denied,
    Failed(JobFailure),
}

/// Infrastructure failures the SOAP layer maps to RegistryErrors / faults.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// PDS/Redis/RabbitMQ unreachable (`XDSRegistryNotAvailable`, HL7 AE for discovery).
    #[error("a service Xhuma depends on is unavailable: {0}")]
    Unavailable(String),
    /// The bounded wait for the prefetch job ran out (`XDSRegistryBusy`).
    #[error("the record is still being prepared")]
    Busy,
    /// The gateway is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

/// The three operations behind the four ITI transactions.
pub trait Backend: Send + Sync + 'static {
    /// ITI-55/ITI-47: look the patient up in PDS.
    fn discover<'a>(
        &'a self,
        nhs: NhsNumber,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Discovery, BackendError>>;

    /// ITI-55/ITI-47 without an NHS number: a PDS single-match search by demographics.
    fn search<'a>(
        &'a self,
        query: &'a PdsSearch,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<PdsSearchOutcome, BackendError>>;

    /// ITI-55/ITI-47 after a match: start fetching the patient's record in the background so
    /// it is cached before ITI-38 arrives. Called only when the discovery answers with a match
    /// (so a failed demographic cross-check fetches nothing).
    fn prefetch<'a>(
        &'a self,
        patient: &'a Demographics,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<(), BackendError>>;

    /// ITI-38: the patient's document, waiting (bounded) on an in-flight prefetch; enqueues
    /// one when nothing is cached or in flight.
    fn documents<'a>(
        &'a self,
        nhs: NhsNumber,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Documents, BackendError>>;

    /// ITI-39: the documents with these uniqueIds (in request order), waiting (bounded) on
    /// in-flight prefetches.
    fn retrieve<'a>(
        &'a self,
        unique_ids: &'a [String],
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<Retrieved>, BackendError>>;

    /// Replay guard: remembers `key` for `ttl`, shared by every gateway. `Ok(true)` the first
    /// time a key is seen, `Ok(false)` for a repeat.
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, BackendError>>;

    /// Records a refused request in the audit trail (an ATNA Security Alert).
    fn security_alert(&self, alert: SecurityAlert<'_>);
}
