//! FHIR STU3 (GP Connect Access Record Structured) → HL7 C-CDA R2.1 CCD.
//!
//! Layout: bundle bytes → [`index`] (typed [`fhir`] models, reference
//! resolution) → [`header`] (with the GP [`practice`]) and one module per section
//! under [`sections`] (each with its [`narrative`] table), all writing through
//! the [`cda`] building blocks into one [`xml::Xml`] buffer → [`Conversion`]
//! (XML bytes plus a PHI-free [`Report`]). Modules depend downwards only
//! (sections → narrative, practice → index → fhir; everything → cda, xml). Pure: no I/O, no clock, no randomness; the caller's
//! [`Context`] supplies `now` and the document id, so the same bundle and
//! context always give byte-identical output.
//!
//! Failure model: a bundle that cannot describe a patient (not JSON, not a
//! Bundle, no readable Patient, no way to tell which Patient the Lists are
//! about, or not the patient the caller asked for) is a [`ConvertError`]. Everything else is
//! recoverable: a resource that cannot be read or resolved becomes a visible
//! "could not be shown — see GP record" row in its section and a warning in
//! the report; its neighbours are never dropped.

mod cda;
mod codes;
mod dates;
mod describe;
mod fhir;
mod header;
mod index;
mod narrative;
mod practice;
mod sections;
mod xml;

use uuid::Uuid;

/// Everything the conversion needs from outside the bundle.
#[derive(Debug, Clone)]
pub struct Context {
    /// Document time (`effectiveTime`, author time, "generated on").
    pub now: time::OffsetDateTime,
    /// `ClinicalDocument/id` and `setId`; also the namespace for entry ids.
    pub document_id: Uuid,
    /// How old the data may be, for the freshness caveat ("24 hours").
    pub freshness_window: String,
    /// Author device name and version.
    pub software_name: String,
    pub software_version: String,
    /// The NHS number the document was requested for. When set, a bundle
    /// about anyone else is refused ([`ConvertError::PatientMismatch`])
    /// instead of becoming a document.
    pub expected_nhs_number: Option<String>,
}

/// Per-section summary for logs, the CLI and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionReport {
    pub title: String,
    /// LOINC (or local) section code.
    pub code: String,
    /// Coded `<entry>` elements written.
    pub entries: usize,
    /// Items shown as "could not be shown — see GP record".
    pub unreadable: usize,
    pub warnings: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub sections: Vec<SectionReport>,
    /// PHI-free: resource type/id and what went wrong.
    pub warnings: Vec<String>,
    pub nhs_number: Option<String>,
    pub patient_name: Option<String>,
    pub practice_ods: Option<String>,
    pub practice_name: Option<String>,
    /// The document's `confidentialityCode` (`N`, `R` or `V`), for the
    /// registry metadata that describes it.
    pub confidentiality: String,
    /// The record's Patient as the GP Connect demographic cross-check (GEN-07) compares it
    /// with PDS. PHI: for that comparison only, never logged.
    pub demographics: RecordDemographics,
}

/// Birth date, gender and family names of the document's patient, as the GP record has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordDemographics {
    /// Every current family name (`old` and `maiden` names left out).
    pub families: Vec<String>,
    /// The text of current names that have no structured family name.
    pub text_names: Vec<String>,
    /// `YYYY-MM-DD` (or partial) as GP Connect sent it.
    pub birth_date: Option<String>,
    /// FHIR administrative gender code (`male`, `female`, `other`, `unknown`).
    pub gender: Option<String>,
}

#[derive(Debug)]
pub struct Conversion {
    pub xml: Vec<u8>,
    pub report: Report,
}

/// The bundle cannot be turned into a document about a patient.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ConvertError {
    #[error("input is not UTF-8")]
    NotUtf8,
    #[error("input is not JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("input is not a FHIR Bundle (resourceType {found:?})")]
    NotABundle { found: Option<String> },
    #[error("bundle has no Patient resource")]
    NoPatient,
    #[error("bundle's Patient resource could not be read")]
    UnreadablePatient,
    #[error("input is larger than the {limit} byte limit")]
    TooLarge { limit: usize },
    /// The record's patient is not the one requested (`Context::expected_nhs_number`).
    /// Neither number is in the message: it is logged and the numbers are PHI.
    #[error("bundle's patient is not the requested patient")]
    PatientMismatch,
    /// The Lists say the record is about different patients.
    #[error("bundle's Lists have different subjects")]
    ConflictingSubjects,
    /// The Lists' subject is not a Patient in the bundle.
    #[error("bundle's List subject is not a Patient in the bundle")]
    SubjectNotInBundle,
    /// Several Patients, and nothing says which one the record is about.
    #[error("bundle has {patients} Patient resources and no List subject to choose one")]
    AmbiguousPatient { patients: usize },
}

/// Inputs above this size are refused (the largest real record seen is ~3 MB).
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;

// === impl Context ===

impl Context {
    pub fn new(now: time::OffsetDateTime, document_id: Uuid) -> Self {
        Context {
            now,
            document_id,
            freshness_window: "24 hours".into(),
            software_name: "Xhuma".into(),
            software_version: env!("CARGO_PKG_VERSION").into(),
            expected_nhs_number: None,
        }
    }

    /// Refuse bundles about any patient but `nhs_number` (see [`ConvertError::PatientMismatch`]).
    pub fn for_patient(mut self, nhs_number: impl Into<String>) -> Self {
        self.expected_nhs_number = Some(nhs_number.into());
        self
    }

    /// A stable id for `key` (e.g. `AllergyIntolerance/123`) within this document.
    pub fn id_for(&self, key: &str) -> String {
        Uuid::new_v5(&self.document_id, key.as_bytes())
            .hyphenated()
            .encode_upper(&mut Uuid::encode_buffer())
            .to_string()
    }
}

/// Converts a GP Connect structured-record Bundle (JSON bytes) into a C-CDA CCD.
pub fn convert(bundle_json: &[u8], cx: &Context) -> Result<Conversion, ConvertError> {
    if bundle_json.len() > MAX_BUNDLE_BYTES {
        return Err(ConvertError::TooLarge {
            limit: MAX_BUNDLE_BYTES,
        });
    }
    let expected = cx.expected_nhs_number.as_deref().map(str::trim);
    let ix = index::Index::build_for(bundle_json, expected)?;
    if let Some(want) = expected
        && ix.patient().nhs_number() != Some(want)
    {
        return Err(ConvertError::PatientMismatch);
    }
    let mut report = Report {
        warnings: ix.warnings.clone(),
        ..Report::default()
    };
    let mut x = xml::Xml::with_capacity(bundle_json.len() / 3 + 16 * 1024);
    header::write(&ix, &mut x, cx, &mut report);
    sections::write_all(&ix, &mut x, cx, &mut report);
    x.close(); // structuredBody
    x.close(); // component
    Ok(Conversion {
        xml: x.finish(),
        report,
    })
}
