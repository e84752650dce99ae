//! Metadata of a converted C-CDA document.
//!
//! Written by a worker next to the document in Redis (`cache`), read by the gateway to build the
//! ITI-38 DocumentEntry and the ITI-39 DocumentResponse.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::NhsNumber;

/// Everything ITI-38 advertises about one cached document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentMeta {
    /// XDS `uniqueId`: `2.25.<uuid as integer>`, stable for this document.
    pub unique_id: String,
    /// The entryUUID (`urn:uuid:…`) of the DocumentEntry.
    pub entry_uuid: String,
    pub nhs_number: NhsNumber,
    /// When the C-CDA was produced.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// SHA-1 of the document bytes, lower-case hex (XDS `hash`).
    pub sha1: String,
    /// Size of the document in bytes (XDS `size`).
    pub size: u64,
    /// Patient display name for `sourcePatientInfo` (PID-5), if known.
    #[serde(default)]
    pub patient_name: Option<String>,
    /// ODS code and name of the GP practice the record came from (author institution).
    pub practice_ods: String,
    #[serde(default)]
    pub practice_name: Option<String>,
    /// Conversion / GP Connect warnings: non-empty means ITI-38 answers PartialSuccess.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// `Ssp-TraceID` of the GP Connect call that produced it (audit).
    #[serde(default)]
    pub ssp_trace_id: Option<String>,
}
