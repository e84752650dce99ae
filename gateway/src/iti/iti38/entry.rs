//! One XDS DocumentEntry (the GP record as C-CDA) and its ebRIM `ExtrinsicObject`.
//!
//! Scheme UUIDs are those of IHE ITI TF-3 §4.2.5 (checked against the official XDS.b
//! RegistryStoredQueryResponse example in `shared/schemas/examples/ihe`).

use xhuma_common::NhsNumber;
use xhuma_common::document::DocumentMeta;

use super::super::discovery::ODS_OID;
use super::super::discovery::hl7_ts;
use super::super::registry::{RegistryCode, RegistryError};
use super::cx_id;
use crate::config::GatewayConfig;
use crate::soap::markup::Markup;

pub const STABLE_TYPE: &str = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1";
pub const ON_DEMAND_TYPE: &str = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248";
const AUTHOR: &str = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d";
const CLASS_CODE: &str = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a";
const CONFIDENTIALITY: &str = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f";
const FORMAT_CODE: &str = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d";
const FACILITY_TYPE: &str = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1";
const PRACTICE_SETTING: &str = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead";
const TYPE_CODE: &str = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983";
const PATIENT_ID: &str = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427";
const UNIQUE_ID: &str = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab";
const CLASSIFICATION: &str =
    "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification";
const EXTERNAL_ID: &str =
    "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier";
const APPROVED: &str = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved";

const LOINC: &str = "2.16.840.1.113883.6.1";
const SNOMED: &str = "2.16.840.1.113883.6.96";

/// The coded metadata every entry carries: (scheme, code, coding scheme, display).
const CODES: &[(&str, &str, &str, &str)] = &[
    (
        CLASS_CODE,
        "34133-9",
        LOINC,
        "Summarization of episode note",
    ),
    (CONFIDENTIALITY, "N", "2.16.840.1.113883.5.25", "normal"),
    (
        FORMAT_CODE,
        "urn:hl7-org:sdwg:ccda-structuredBody:2.1",
        "1.3.6.1.4.1.19376.1.2.3",
        "C-CDA R2.1 Structured Body",
    ),
    (
        FACILITY_TYPE,
        "264358009",
        SNOMED,
        "General practice premises",
    ),
    (
        PRACTICE_SETTING,
        "394814009",
        SNOMED,
        "General practice (specialty)",
    ),
    (TYPE_CODE, "34133-9", LOINC, "Summarization of episode note"),
];

/// FindDocuments code slots and the code we would match in each.
pub const CODE_SLOTS: &[(&str, &str)] = &[
    ("$XDSDocumentEntryClassCode", "34133-9"),
    ("$XDSDocumentEntryTypeCode", "34133-9"),
    (
        "$XDSDocumentEntryFormatCode",
        "urn:hl7-org:sdwg:ccda-structuredBody:2.1",
    ),
    ("$XDSDocumentEntryHealthcareFacilityTypeCode", "264358009"),
    ("$XDSDocumentEntryPracticeSettingCode", "394814009"),
    ("$XDSDocumentEntryConfidentialityCode", "N"),
    // We assign no event codes, so any event-code filter excludes the entry.
    ("$XDSDocumentEntryEventCodeList", ""),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Stable,
    OnDemand,
}

/// One DocumentEntry to advertise.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: EntryKind,
    /// `urn:uuid:…`.
    pub entry_uuid: String,
    pub unique_id: String,
    pub nhs: NhsNumber,
    /// The patient-id assigning authority the caller used (echoed in patientId).
    pub authority: &'static str,
    /// Known once the document exists.
    pub meta: Option<DocumentMeta>,
}

// === impl Entry ===

impl Entry {
    pub fn stable(meta: DocumentMeta, authority: &'static str, nhs: NhsNumber) -> Self {
        Self {
            kind: EntryKind::Stable,
            entry_uuid: urn_uuid(&meta.entry_uuid),
            unique_id: meta.unique_id.clone(),
            nhs,
            authority,
            meta: Some(meta),
        }
    }

    pub fn on_demand(
        unique_id: String,
        entry_uuid: String,
        nhs: NhsNumber,
        authority: &'static str,
    ) -> Self {
        Self {
            kind: EntryKind::OnDemand,
            entry_uuid: urn_uuid(&entry_uuid),
            unique_id,
            nhs,
            authority,
            meta: None,
        }
    }

    pub fn into_on_demand(mut self) -> Self {
        self.kind = EntryKind::OnDemand;
        self
    }

    /// A warning when GP Connect or the conversion reported gaps (answered Success, with the
    /// warning in a RegistryErrorList of severity Warning).
    pub fn warnings(&self) -> Vec<RegistryError> {
        match &self.meta {
            Some(m) if !m.warnings.is_empty() => vec![RegistryError::warning(
                RegistryCode::PartialRecord,
                "The GP record was returned with warnings; some information may be missing.",
            )],
            _ => Vec::new(),
        }
    }

    /// Writes the `rim:ExtrinsicObject` (LeafClass).
    pub fn write_extrinsic(&self, m: &mut Markup, cfg: &GatewayConfig) {
        let home = cfg.home_community_urn();
        let object_type = match self.kind {
            EntryKind::Stable => STABLE_TYPE,
            EntryKind::OnDemand => ON_DEMAND_TYPE,
        };
        let id = self.entry_uuid.as_str();
        m.open(
            "rim:ExtrinsicObject",
            &[
                ("id", id),
                ("lid", id),
                ("home", &home),
                ("objectType", object_type),
                ("status", APPROVED),
                ("mimeType", "text/xml"),
                ("isOpaque", "false"),
            ],
        );
        let patient = cx_id(self.nhs, self.authority);
        if let (EntryKind::Stable, Some(meta)) = (self.kind, &self.meta) {
            slot(m, "creationTime", &hl7_ts(meta.created));
            slot(m, "hash", &meta.sha1);
        }
        slot(m, "languageCode", "en-GB");
        slot(m, "repositoryUniqueId", &cfg.repository_unique_id);
        if let (EntryKind::Stable, Some(meta)) = (self.kind, &self.meta) {
            slot(m, "size", &meta.size.to_string());
        }
        slot(m, "sourcePatientId", &patient);
        let mut info = vec![format!("PID-3|{patient}")];
        if let Some(name) = self.meta.as_ref().and_then(|m| m.patient_name.as_deref()) {
            info.push(format!("PID-5|{}", xpn(name)));
        }
        slots(m, "sourcePatientInfo", &info);
        m.open("rim:Name", &[]);
        m.empty(
            "rim:LocalizedString",
            &[("value", "GP record summary (GP Connect)")],
        );
        m.close("rim:Name");
        if let Some(meta) = &self.meta {
            let name = meta.practice_name.as_deref().unwrap_or(&meta.practice_ods);
            let xon = format!(
                "{}^^^^^&{ODS_OID}&ISO^^^^{}",
                name.replace(['|', '^', '&', '~', '\\'], " "),
                meta.practice_ods
            );
            m.open(
                "rim:Classification",
                &[
                    ("id", &new_id()),
                    ("classificationScheme", AUTHOR),
                    ("classifiedObject", id),
                    ("nodeRepresentation", ""),
                    ("objectType", CLASSIFICATION),
                ],
            );
            slot(m, "authorInstitution", &xon);
            m.close("rim:Classification");
        }
        for (scheme, code, coding, display) in CODES {
            m.open(
                "rim:Classification",
                &[
                    ("id", &new_id()),
                    ("classificationScheme", scheme),
                    ("classifiedObject", id),
                    ("nodeRepresentation", code),
                    ("objectType", CLASSIFICATION),
                ],
            );
            slot(m, "codingScheme", coding);
            m.open("rim:Name", &[]);
            m.empty("rim:LocalizedString", &[("value", display)]);
            m.close("rim:Name");
            m.close("rim:Classification");
        }
        external_id(m, PATIENT_ID, id, &patient, "XDSDocumentEntry.patientId");
        external_id(
            m,
            UNIQUE_ID,
            id,
            &self.unique_id,
            "XDSDocumentEntry.uniqueId",
        );
        m.close("rim:ExtrinsicObject");
    }
}

/// An HL7 v2 XPN from a display name: "Family, Given" → `Family^Given`; HL7 delimiters in
/// the parts become spaces.
fn xpn(name: &str) -> String {
    let clean = |s: &str| s.trim().replace(['|', '^', '&', '~', '\\'], " ");
    match name.split_once(',') {
        Some((family, given)) => format!("{}^{}", clean(family), clean(given)),
        None => clean(name),
    }
}

fn urn_uuid(s: &str) -> String {
    if s.starts_with("urn:uuid:") {
        s.to_string()
    } else {
        format!("urn:uuid:{s}")
    }
}

fn new_id() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

fn slot(m: &mut Markup, name: &str, value: &str) {
    slots(m, name, &[value.to_string()]);
}

fn slots(m: &mut Markup, name: &str, values: &[String]) {
    m.open("rim:Slot", &[("name", name)]);
    m.open("rim:ValueList", &[]);
    for v in values {
        m.leaf("rim:Value", &[], v);
    }
    m.close("rim:ValueList");
    m.close("rim:Slot");
}

fn external_id(m: &mut Markup, scheme: &str, object: &str, value: &str, name: &str) {
    m.open(
        "rim:ExternalIdentifier",
        &[
            ("id", &new_id()),
            ("identificationScheme", scheme),
            ("objectType", EXTERNAL_ID),
            ("registryObject", object),
            ("value", value),
        ],
    );
    m.open("rim:Name", &[]);
    m.empty("rim:LocalizedString", &[("value", name)]);
    m.close("rim:Name");
    m.close("rim:ExternalIdentifier");
}
