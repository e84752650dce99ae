//! How a job can fail, and the one place that decides what happens to its message.
//!
//! [`JobError`] carries the cause (with its `source`); [`JobError::disposition`] turns it into
//! a [`Disposition`] the consumer carries out: retry after a delay (transient), or fail for good
//! (cached as a [`JobFailure`] for waiting gateways, and dead-lettered with the reason).

use std::time::Duration;

use xhuma_common::cache::CacheError;
use xhuma_common::job::{FailureKind, JobFailure};
use xhuma_common::nhs::{SpineCode, UpstreamError};
use xhuma_common::queue::QueueError;

/// Why a job did not complete.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("job message is not valid")]
    Decode(#[source] serde_json::Error),
    #[error("job message version {0} is not supported")]
    Version(u32),
    #[error("{upstream} call failed")]
    Upstream {
        upstream: &'static str,
        #[source]
        source: UpstreamError,
    },
    /// PDS says no (not found, restricted, deceased); the reason stays internal.
    #[error("patient is not available from PDS ({0})")]
    PatientUnavailable(&'static str),
    #[error("patient has no registered GP practice")]
    NoPractice,
    #[error("the practice has no GP Connect endpoint in SDS")]
    NoEndpoint,
    #[error("the GP Connect bundle cannot be converted")]
    Convert(#[source] xhuma_ccda::ConvertError),
    #[error("conversion task failed")]
    ConvertPanicked,
    /// GP Connect returned a record whose Patient is not the job's patient.
    #[error("the GP Connect record is for another patient")]
    WrongPatient,
    /// GP Connect's Patient disagrees with PDS on a demographic (GEN-07); the field is named,
    /// the values are PHI and stay out.
    #[error("the GP Connect record's {} differs from PDS", .0.as_str())]
    DemographicMismatch(crate::jobs::crosscheck::Mismatch),
    #[error("cache error")]
    Cache(#[from] CacheError),
    #[error("queue error")]
    Queue(#[from] QueueError),
}

/// What to do with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Try again after at least this long (a retry tier is picked from the attempt number).
    Retry { after: Option<Duration> },
    /// Give up: tell waiters, dead-letter with the reason.
    Fail(JobFailure),
}

// === impl JobError ===

impl JobError {
    pub fn upstream(source: UpstreamError) -> Self {
        Self::Upstream {
            upstream: source.service(),
            source,
        }
    }

    /// A low-cardinality label for metrics and logs.
    pub fn error_type(&self) -> &'static str {
        match self {
            JobError::Decode(_) | JobError::Version(_) => "bad_message",
            JobError::Upstream { .. } => "upstream",
            JobError::PatientUnavailable(_) => "patient_unavailable",
            JobError::NoPractice | JobError::NoEndpoint => "no_endpoint",
            JobError::Convert(_) | JobError::ConvertPanicked => "conversion",
            JobError::WrongPatient => "wrong_patient",
            JobError::DemographicMismatch(_) => "demographic_mismatch",
            JobError::Cache(_) => "cache",
            JobError::Queue(_) => "queue",
        }
    }

    /// The single decision: retry or fail, and how a failure is told to waiters.
    pub fn disposition(&self) -> Disposition {
        let fail = |kind, reason: &str| {
            Disposition::Fail(JobFailure {
                kind,
                reason: reason.to_string(),
            })
        };
        match self {
            JobError::Decode(_) | JobError::Version(_) => {
                fail(FailureKind::Internal, "Invalid job message")
            }
            JobError::PatientUnavailable(_) => fail(
                FailureKind::PatientNotFound,
                "The patient's GP record is not available",
            ),
            JobError::NoPractice => fail(
                FailureKind::NoEndpoint,
                "The patient is not registered with a GP practice",
            ),
            JobError::NoEndpoint => fail(
                FailureKind::NoEndpoint,
                "The patient's GP practice does not offer GP Connect",
            ),
            JobError::Convert(_) | JobError::ConvertPanicked => fail(
                FailureKind::Conversion,
                "The GP record could not be converted",
            ),
            // Never cached, never served, never retried: a person has to look at it.
            JobError::WrongPatient => fail(
                FailureKind::Internal,
                "The GP record returned was for another patient",
            ),
            JobError::DemographicMismatch(_) => fail(
                FailureKind::Internal,
                "The GP record's demographics do not match PDS",
            ),
            JobError::Cache(_) | JobError::Queue(_) => Disposition::Retry { after: None },
            JobError::Upstream { source, .. } => {
                if source.is_retryable() {
                    return Disposition::Retry {
                        after: source.retry_after(),
                    };
                }
                match source.code() {
                    Some(
                        SpineCode::PatientNotFound
                        | SpineCode::InvalidNhsNumber
                        | SpineCode::ResourceNotFound
                        | SpineCode::InvalidatedResource
                        | SpineCode::InvalidResourceId
                        | SpineCode::InvalidPatientDemographics
                        | SpineCode::NoRecordFound,
                    ) => fail(
                        FailureKind::PatientNotFound,
                        "The patient's GP record is not available",
                    ),
                    Some(
                        SpineCode::NoPatientConsent
                        | SpineCode::GpcAccessDenied
                        | SpineCode::NoRelationship
                        | SpineCode::NoOrganisationConsent,
                    ) => fail(
                        FailureKind::AccessDenied,
                        "The GP practice declined to share the record",
                    ),
                    _ => fail(
                        FailureKind::UpstreamUnavailable,
                        "An NHS service could not provide the record",
                    ),
                }
            }
        }
    }
}
