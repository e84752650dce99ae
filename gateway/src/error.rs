//! The single map from error causes to what the caller sees.
//!
//! Protocol failures ([`GatewayError`]) become SOAP 1.2 Faults; backend outcomes become XDS
//! RegistryErrors ([`registry_error_for_backend`], [`registry_error_for_failure`]) or an HL7
//! AE acknowledgement ([`discovery_error`]). Every text a caller can read is a fixed sentence
//! from this file: no internal error text, no upstream body, no patient data.

use http::StatusCode;
use xhuma_common::chain::Chain;
use xhuma_common::job::{FailureKind, JobFailure};

use crate::backend::BackendError;
use crate::iti::registry::{RegistryCode, RegistryError};
use crate::soap::envelope::EnvelopeError;
use crate::soap::fault::{Fault, FaultCode};
use crate::soap::mtom::MtomError;
use crate::soap::wsa::WSA_NS;

const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

/// Why a request could not be answered with a business response.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("request body larger than the limit")]
    BodyTooLarge,
    #[error("request body could not be read")]
    BodyUnreadable,
    #[error("request body not received within the body-read timeout")]
    BodyTimeout,
    #[error("unsupported Content-Type")]
    MediaType,
    #[error("MTOM: {0}")]
    Mtom(#[from] MtomError),
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("no wsa:Action on the generic endpoint")]
    ActionMissing,
    #[error("wsa:Action not supported at this endpoint")]
    ActionNotSupported,
    #[error("ReplyTo/FaultTo is not anonymous")]
    NotAnonymous,
    /// The Body payload lacks what the transaction needs (a fixed, safe explanation).
    #[error("payload: {0}")]
    Payload(&'static str),
    /// The caller's identity could not be established (SAML missing, invalid or refused):
    /// a fixed reason and the WS-Security fault subcode.
    #[error("security: {0}")]
    Security(&'static str, &'static str),
    /// The assertion names another patient than the request asks about.
    #[error("the assertion does not authorise access to this patient")]
    PatientNotAuthorised,
    /// The replay guard (Redis) could not be asked: refused, never let through unchecked.
    #[error("the replay guard is unavailable")]
    ReplayGuardUnavailable,
    #[error("the request took longer than the deadline")]
    Timeout,
    #[error("too many requests in flight")]
    Overloaded,
    #[error("the gateway is shutting down")]
    ShuttingDown,
    #[error("internal error")]
    Internal,
}

// === impl GatewayError ===

impl GatewayError {
    /// The fault the caller receives.
    pub fn fault(&self) -> Fault {
        match self {
            Self::BodyTooLarge => {
                Fault::sender("The request body is larger than this service accepts.")
                    .with_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            Self::BodyUnreadable => Fault::sender("The request body could not be read."),
            Self::BodyTimeout => Fault::sender("The request body was not received in time.")
                .with_status(StatusCode::REQUEST_TIMEOUT),
            Self::MediaType => Fault::sender(
                "Unsupported Content-Type: send application/soap+xml or multipart/related (MTOM).",
            )
            .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            Self::Mtom(_) => Fault::sender("The MTOM/XOP multipart message is malformed."),
            Self::Envelope(e) => envelope_fault(e),
            Self::ActionMissing => Fault::sender("The wsa:Action header is required.")
                .with_subcode(WSA_NS, "MessageAddressingHeaderRequired"),
            Self::ActionNotSupported => {
                Fault::sender("The wsa:Action is not supported at this endpoint.")
                    .with_subcode(WSA_NS, "ActionNotSupported")
            }
            Self::NotAnonymous => Fault::sender(
                "Only synchronous replies are supported: ReplyTo and FaultTo must be anonymous.",
            )
            .with_subcode(WSA_NS, "OnlyAnonymousAddressSupported"),
            Self::Payload(reason) => Fault::sender(reason),
            Self::Security(reason, code) => Fault::sender(reason).with_subcode(WSSE_NS, code),
            Self::PatientNotAuthorised => Fault::sender(
                "The SAML assertion does not authorise access to this patient's record.",
            )
            .with_subcode(WSSE_NS, "FailedAuthentication"),
            Self::ReplayGuardUnavailable => {
                Fault::receiver("The request could not be checked; retry shortly.")
                    .with_status(StatusCode::SERVICE_UNAVAILABLE)
            }
            Self::Timeout => Fault::receiver("The request could not be completed in time.")
                .with_status(StatusCode::SERVICE_UNAVAILABLE),
            Self::Overloaded => Fault::receiver("The service is busy; retry shortly.")
                .with_status(StatusCode::SERVICE_UNAVAILABLE),
            Self::ShuttingDown => Fault::receiver("The service is restarting; retry shortly.")
                .with_status(StatusCode::SERVICE_UNAVAILABLE),
            Self::Internal => Fault::receiver("The request could not be processed."),
        }
    }

    /// A low-cardinality label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BodyTooLarge => "body_too_large",
            Self::BodyUnreadable => "body_unreadable",
            Self::BodyTimeout => "body_timeout",
            Self::MediaType => "media_type",
            Self::Mtom(_) => "mtom",
            Self::Envelope(_) => "envelope",
            Self::ActionMissing | Self::ActionNotSupported => "action",
            Self::NotAnonymous => "reply_to",
            Self::Payload(_) => "payload",
            Self::Security(..) => "security",
            Self::PatientNotAuthorised => "patient_not_authorised",
            Self::ReplayGuardUnavailable => "replay_guard_unavailable",
            Self::Timeout => "timeout",
            Self::Overloaded => "overloaded",
            Self::ShuttingDown => "shutting_down",
            Self::Internal => "internal",
        }
    }
}

fn envelope_fault(e: &EnvelopeError) -> Fault {
    match e {
        EnvelopeError::Soap11 => Fault {
            code: FaultCode::VersionMismatch,
            subcode: None,
            reason: "SOAP 1.1 is not supported; this service speaks SOAP 1.2.",
            status: StatusCode::BAD_REQUEST,
        },
        EnvelopeError::MustUnderstand { .. } => Fault {
            code: FaultCode::MustUnderstand,
            subcode: None,
            reason: "A header block marked mustUnderstand is not supported.",
            status: StatusCode::BAD_REQUEST,
        },
        EnvelopeError::Xml(x) => match x {
            crate::soap::element::XmlError::Doctype | crate::soap::element::XmlError::Entity => {
                Fault::sender("DTDs and entity declarations are not accepted.")
            }
            crate::soap::element::XmlError::TooDeep | crate::soap::element::XmlError::TooLarge => {
                Fault::sender("The XML document exceeds the nesting or size limits.")
            }
            crate::soap::element::XmlError::IncludeBudget => Fault::sender(
                "Each MTOM part may be included once, and included parts may not exceed the message size.",
            ),
            _ => Fault::sender("The request is not well-formed XML."),
        },
        EnvelopeError::NotAnEnvelope | EnvelopeError::BodyShape => {
            Fault::sender("The request is not a SOAP 1.2 envelope with one Body element.")
        }
    }
}

/// ITI-38/39: what a backend infrastructure failure becomes. `Err` means a fault instead.
pub fn registry_error_for_backend(
    e: &BackendError,
    retrieve: bool,
) -> Result<RegistryError, GatewayError> {
    let (code, context) = match (e, retrieve) {
        (BackendError::ShuttingDown, _) => return Err(GatewayError::ShuttingDown),
        (BackendError::Busy, false) => (
            RegistryCode::RegistryBusy,
            "The record is still being prepared; retry shortly.",
        ),
        (BackendError::Busy, true) => (
            RegistryCode::RepositoryBusy,
            "The document is still being prepared; retry shortly.",
        ),
        (BackendError::Unavailable(_), false) => (
            RegistryCode::RegistryNotAvailable,
            "A service this gateway depends on is unavailable.",
        ),
        (BackendError::Unavailable(_), true) => (
            RegistryCode::RepositoryError,
            "A service this gateway depends on is unavailable.",
        ),
    };
    log_backend_failure(e, code.as_str());
    Ok(RegistryError::error(code, context))
}

/// The one log line of a backend failure, where it becomes an answer: the EHR sees only the
/// code, so the cause (Redis, RabbitMQ or PDS, with its own cause) is here or nowhere.
fn log_backend_failure(e: &BackendError, answer: &'static str) {
    match e {
        BackendError::Busy => tracing::info!(answer, "The record was not ready within the wait"),
        _ => tracing::warn!(error = %Chain(e), answer, "Backend failure answered as an error"),
    }
}

/// ITI-38/39: what a failed prefetch job becomes.
pub fn registry_error_for_failure(f: &JobFailure, retrieve: bool) -> RegistryError {
    let (code, context) = match f.kind {
        FailureKind::PatientNotFound if retrieve => (
            RegistryCode::DocumentUniqueIdError,
            "The document is not available.",
        ),
        FailureKind::PatientNotFound => (
            RegistryCode::UnknownPatientId,
            "The patient is not known to this community.",
        ),
        FailureKind::NoEndpoint => (
            registry_or_repository(retrieve),
            "The patient's GP practice does not offer structured record access.",
        ),
        FailureKind::AccessDenied => (
            registry_or_repository(retrieve),
            "The GP practice did not permit access to the record.",
        ),
        FailureKind::UpstreamUnavailable => (
            if retrieve {
                RegistryCode::RepositoryError
            } else {
                RegistryCode::RegistryNotAvailable
            },
            "The GP record service is unavailable.",
        ),
        FailureKind::Conversion | FailureKind::Internal => (
            registry_or_repository(retrieve),
            "The record could not be prepared.",
        ),
    };
    RegistryError::error(code, context)
}

fn registry_or_repository(retrieve: bool) -> RegistryCode {
    if retrieve {
        RegistryCode::RepositoryError
    } else {
        RegistryCode::RegistryError
    }
}

/// ITI-55/47: the HL7 AE detail text for a backend failure. `Err` means a fault instead.
pub fn discovery_error(e: &BackendError) -> Result<&'static str, GatewayError> {
    match e {
        BackendError::ShuttingDown => Err(GatewayError::ShuttingDown),
        BackendError::Busy | BackendError::Unavailable(_) => {
            log_backend_failure(e, "AE");
            Ok("The patient demographics service is temporarily unavailable.")
        }
    }
}
