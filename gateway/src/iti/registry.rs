//! ebRS 3.0 pieces ITI-38 and ITI-39 share: status URNs, RegistryError codes and the
//! `rs:RegistryErrorList` writer.

use crate::soap::markup::Markup;

pub const RS_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0";
pub const RIM_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";
pub const QUERY_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0";
pub const XDSB_NS: &str = "urn:ihe:iti:xds-b:2007";

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success";
pub const STATUS_FAILURE: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure";
pub const STATUS_PARTIAL: &str = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess";
const SEVERITY_ERROR: &str = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error";
const SEVERITY_WARNING: &str = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning";

/// The XDS/XCA error codes this gateway answers with (ITI TF-3 Table 4.2.4.1-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryCode {
    UnknownPatientId,
    RegistryNotAvailable,
    RegistryBusy,
    RegistryError,
    RepositoryError,
    RepositoryBusy,
    DocumentUniqueIdError,
    UnknownCommunity,
    UnknownRepositoryId,
    MissingHomeCommunityId,
    StoredQueryParamNumber,
    UnknownStoredQuery,
    /// A warning attached to a successful answer (GP Connect returned warnings).
    PartialRecord,
}

/// One RegistryError with a fixed, safe context sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    pub code: RegistryCode,
    pub context: &'static str,
    pub warning: bool,
}

// === impl RegistryCode ===

impl RegistryCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownPatientId => "XDSUnknownPatientId",
            Self::RegistryNotAvailable => "XDSRegistryNotAvailable",
            Self::RegistryBusy => "XDSRegistryBusy",
            Self::RegistryError => "XDSRegistryError",
            Self::RepositoryError => "XDSRepositoryError",
            Self::RepositoryBusy => "XDSRepositoryBusy",
            Self::DocumentUniqueIdError => "XDSDocumentUniqueIdError",
            Self::UnknownCommunity => "XDSUnknownCommunity",
            Self::UnknownRepositoryId => "XDSUnknownRepositoryId",
            Self::MissingHomeCommunityId => "XDSMissingHomeCommunityId",
            Self::StoredQueryParamNumber => "XDSStoredQueryParamNumber",
            Self::UnknownStoredQuery => "XDSUnknownStoredQuery",
            Self::PartialRecord => "XDSRegistryError",
        }
    }
}

// === impl RegistryError ===

impl RegistryError {
    pub fn error(code: RegistryCode, context: &'static str) -> Self {
        Self {
            code,
            context,
            warning: false,
        }
    }

    pub fn warning(code: RegistryCode, context: &'static str) -> Self {
        Self {
            code,
            context,
            warning: true,
        }
    }
}

/// Writes `rs:RegistryErrorList` (nothing when `errors` is empty). `location` is our home
/// community id, as XCA asks (ITI39-012). The `rs` prefix must be declared by the caller.
pub fn write_error_list(m: &mut Markup, errors: &[RegistryError], location: &str) {
    if errors.is_empty() {
        return;
    }
    let highest = if errors.iter().any(|e| !e.warning) {
        SEVERITY_ERROR
    } else {
        SEVERITY_WARNING
    };
    m.open("rs:RegistryErrorList", &[("highestSeverity", highest)]);
    for e in errors {
        let severity = if e.warning {
            SEVERITY_WARNING
        } else {
            SEVERITY_ERROR
        };
        m.empty(
            "rs:RegistryError",
            &[
                ("errorCode", e.code.as_str()),
                ("codeContext", e.context),
                ("location", location),
                ("severity", severity),
            ],
        );
    }
    m.close("rs:RegistryErrorList");
}
