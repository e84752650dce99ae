//! [`UpstreamError`]: what went wrong talking to an NHS service, typed so callers can branch on
//! it (PDS `RESOURCE_NOT_FOUND`, GP Connect `NO_PATIENT_CONSENT`, ...) and decide whether a
//! retry could help.

use std::fmt;
use std::time::Duration;

/// Which upstream an error came from (also the `upstream` span field and metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Oauth,
    Pds,
    Sds,
    GpConnect,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oauth => "oauth",
            Self::Pds => "pds",
            Self::Sds => "sds",
            Self::GpConnect => "gpconnect",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error code from an NHS error body: the Spine `details.coding.code` of an
/// OperationOutcome, the SSP's token (e.g. `ASID_CHECK_FAILED_MESSAGESENDER_…`), or the OAuth
/// `error` field. Codes callers branch on have variants; the rest keep their text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpineCode {
    // PDS (R4) and the API platform
    InvalidResourceId,
    ResourceNotFound,
    InvalidatedResource,
    MissingValue,
    InvalidValue,
    UnsupportedService,
    /// `ACCESS_DENIED` (PDS / platform: bad token or not allowed).
    AccessDenied,
    TooManyRequests,
    UnableToCallService,
    // GP Connect (STU3)
    InvalidNhsNumber,
    InvalidIdentifierSystem,
    InvalidIdentifierValue,
    InvalidPatientDemographics,
    BadRequest,
    NoPatientConsent,
    /// `ACCESS DENIED` (with a space): GP Connect or this capability is off at the practice.
    GpcAccessDenied,
    NoRelationship,
    NoOrganisationConsent,
    PatientNotFound,
    NoRecordFound,
    OrganisationNotFound,
    PractitionerNotFound,
    InvalidResource,
    InvalidParameter,
    InternalServerError,
    NotImplemented,
    /// Anything else, verbatim.
    Other(String),
}

impl SpineCode {
    pub fn parse(code: &str) -> Self {
        match code {
            "INVALID_RESOURCE_ID" => Self::InvalidResourceId,
            "RESOURCE_NOT_FOUND" => Self::ResourceNotFound,
            "INVALIDATED_RESOURCE" => Self::InvalidatedResource,
            "MISSING_VALUE" => Self::MissingValue,
            "INVALID_VALUE" => Self::InvalidValue,
            "UNSUPPORTED_SERVICE" => Self::UnsupportedService,
            "ACCESS_DENIED" => Self::AccessDenied,
            "TOO_MANY_REQUESTS" => Self::TooManyRequests,
            "UNABLE_TO_CALL_SERVICE" => Self::UnableToCallService,
            "INVALID_NHS_NUMBER" => Self::InvalidNhsNumber,
            "INVALID_IDENTIFIER_SYSTEM" => Self::InvalidIdentifierSystem,
            "INVALID_IDENTIFIER_VALUE" => Self::InvalidIdentifierValue,
            "INVALID_PATIENT_DEMOGRAPHICS" => Self::InvalidPatientDemographics,
            "BAD_REQUEST" => Self::BadRequest,
            "NO_PATIENT_CONSENT" => Self::NoPatientConsent,
            "ACCESS DENIED" => Self::GpcAccessDenied,
            "NO_RELATIONSHIP" => Self::NoRelationship,
            "NO_ORGANISATION_CONSENT" => Self::NoOrganisationConsent,
            "PATIENT_NOT_FOUND" => Self::PatientNotFound,
            "NO_RECORD_FOUND" => Self::NoRecordFound,
            "ORGANISATION_NOT_FOUND" => Self::OrganisationNotFound,
            "PRACTITIONER_NOT_FOUND" => Self::PractitionerNotFound,
            "INVALID_RESOURCE" => Self::InvalidResource,
            "INVALID_PARAMETER" => Self::InvalidParameter,
            "INTERNAL_SERVER_ERROR" => Self::InternalServerError,
            "NOT_IMPLEMENTED" => Self::NotImplemented,
            other => Self::Other(other.to_string()),
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidResourceId => "INVALID_RESOURCE_ID",
            Self::ResourceNotFound => "RESOURCE_NOT_FOUND",
            Self::InvalidatedResource => "INVALIDATED_RESOURCE",
            Self::MissingValue => "MISSING_VALUE",
            Self::InvalidValue => "INVALID_VALUE",
            Self::UnsupportedService => "UNSUPPORTED_SERVICE",
            Self::AccessDenied => "ACCESS_DENIED",
            Self::TooManyRequests => "TOO_MANY_REQUESTS",
            Self::UnableToCallService => "UNABLE_TO_CALL_SERVICE",
            Self::InvalidNhsNumber => "INVALID_NHS_NUMBER",
            Self::InvalidIdentifierSystem => "INVALID_IDENTIFIER_SYSTEM",
            Self::InvalidIdentifierValue => "INVALID_IDENTIFIER_VALUE",
            Self::InvalidPatientDemographics => "INVALID_PATIENT_DEMOGRAPHICS",
            Self::BadRequest => "BAD_REQUEST",
            Self::NoPatientConsent => "NO_PATIENT_CONSENT",
            Self::GpcAccessDenied => "ACCESS DENIED",
            Self::NoRelationship => "NO_RELATIONSHIP",
            Self::NoOrganisationConsent => "NO_ORGANISATION_CONSENT",
            Self::PatientNotFound => "PATIENT_NOT_FOUND",
            Self::NoRecordFound => "NO_RECORD_FOUND",
            Self::OrganisationNotFound => "ORGANISATION_NOT_FOUND",
            Self::PractitionerNotFound => "PRACTITIONER_NOT_FOUND",
            Self::InvalidResource => "INVALID_RESOURCE",
            Self::InvalidParameter => "INVALID_PARAMETER",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
            Self::NotImplemented => "NOT_IMPLEMENTED",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for SpineCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed call to an NHS service. `Display` never contains patient data or response bodies
/// (the diagnostics text is kept in the value for debug logging only).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The request did not get an HTTP answer (connect error, reset, timeout).
    #[error("{service}: request failed{}", if *.timeout { " (timed out)" } else { "" })]
    Transport {
        service: Service,
        timeout: bool,
        #[source]
        source: reqwest::Error,
    },
    /// An HTTP answer other than success.
    #[error("{service}: HTTP {status}{}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
    Status {
        service: Service,
        status: u16,
        code: Option<SpineCode>,
        /// The body's `diagnostics` / `error_description` (may echo request values: debug only).
        diagnostics: Option<String>,
        retry_after: Option<Duration>,
    },
    /// A success status with a body we could not use.
    #[error("{service}: unusable response: {reason}")]
    InvalidResponse { service: Service, reason: String },
    /// A concurrent caller's token fetch failed just now; its waiters share the outcome rather
    /// than each repeating the fetch.
    #[error("{service}: token fetch failed for a concurrent caller{}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    SharedFailure {
        service: Service,
        status: Option<u16>,
        code: Option<SpineCode>,
        retryable: bool,
    },
    /// The clients could not be built (key, certificate or URL problem).
    #[error("{service}: configuration: {reason}")]
    Config { service: Service, reason: String },
}

// === impl UpstreamError ===

impl UpstreamError {
    /// Whether trying again later can succeed: transport failures, 5xx (except 501), 408
    /// (Spine timeout) and 429. Never other 4xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => {
                matches!(*status, 408 | 429) || (*status >= 500 && *status != 501)
            }
            Self::SharedFailure { retryable, .. } => *retryable,
            Self::InvalidResponse { .. } | Self::Config { .. } => false,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn service(&self) -> &'static str {
        self.service_kind().as_str()
    }

    pub fn service_kind(&self) -> Service {
        match self {
            Self::Transport { service, .. }
            | Self::Status { service, .. }
            | Self::InvalidResponse { service, .. }
            | Self::SharedFailure { service, .. }
            | Self::Config { service, .. } => *service,
        }
    }

    /// The Spine / SSP / OAuth error code, as on the wire.
    pub fn spine_code(&self) -> Option<&str> {
        self.code().map(SpineCode::as_str)
    }

    /// The typed error code.
    pub fn code(&self) -> Option<&SpineCode> {
        match self {
            Self::Status { code, .. } | Self::SharedFailure { code, .. } => code.as_ref(),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::SharedFailure { status, .. } => *status,
            _ => None,
        }
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Transport { timeout: true, .. })
    }

    pub(crate) fn config(service: Service, reason: impl Into<String>) -> Self {
        Self::Config {
            service,
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(service: Service, reason: impl Into<String>) -> Self {
        Self::InvalidResponse {
            service,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn status(status: u16, code: &str) -> UpstreamError {
        UpstreamError::Status {
            service: Service::GpConnect,
            status,
            code: Some(SpineCode::parse(code)),
            diagnostics: None,
            retry_after: None,
        }
    }

    #[test]
    fn retryability_and_codes() {
        assert!(status(503, "X").is_retryable());
        assert!(status(429, "TOO_MANY_REQUESTS").is_retryable());
        assert!(!status(501, "NOT_IMPLEMENTED").is_retryable());
        assert!(!status(400, "BAD_REQUEST").is_retryable());
        let e = status(403, "ACCESS DENIED");
        assert_eq!(e.code(), Some(&SpineCode::GpcAccessDenied));
        assert_eq!(e.spine_code(), Some("ACCESS DENIED"));
        assert_eq!(e.to_string(), "gpconnect: HTTP 403 ACCESS DENIED");
        assert_eq!(SpineCode::parse("WHATEVER").as_str(), "WHATEVER");
    }
}
