//! Serde models of the GP Connect STU3 resources the converter reads.
//!
//! Input: the raw JSON of one Bundle entry (see `crate::index`). Output: a typed
//! [`Resource`]. Only the fields the C-CDA mapping uses are modelled; unknown
//! fields are ignored, so a provider adding fields never breaks conversion. A
//! field of the wrong JSON type fails only its own resource, which the section
//! then shows as a "could not be shown" row.

mod datatypes;
mod resources;

pub use datatypes::*;
pub use resources::*;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The two fields every resource has; read first to pick the typed model.
#[derive(Debug, Deserialize)]
pub struct ResourceHead {
    #[serde(rename = "resourceType")]
    pub resource_type: Option<String>,
    pub id: Option<String>,
}

/// Only `meta.security` of any resource (read when the raw JSON mentions it).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SecurityHead {
    pub meta: Option<Meta>,
}

/// One parsed resource. `Other` keeps resource types the converter does not
/// render (QuestionnaireResponse, HealthcareService, OperationOutcome…).
#[derive(Debug)]
pub enum Resource {
    Patient(Box<Patient>),
    Organization(Box<Organization>),
    Practitioner(Box<Practitioner>),
    PractitionerRole(Box<PractitionerRole>),
    Location(Box<Location>),
    List(Box<List>),
    AllergyIntolerance(Box<AllergyIntolerance>),
    MedicationStatement(Box<MedicationStatement>),
    MedicationRequest(Box<MedicationRequest>),
    Medication(Box<Medication>),
    Condition(Box<Condition>),
    Immunization(Box<Immunization>),
    Observation(Box<Observation>),
    DiagnosticReport(Box<DiagnosticReport>),
    Specimen(Box<Specimen>),
    Encounter(Box<Encounter>),
    ReferralRequest(Box<ReferralRequest>),
    ProcedureRequest(Box<ProcedureRequest>),
    DocumentReference(Box<DocumentReference>),
    Other,
}

// === impl Resource ===

impl Resource {
    /// The resource's logical id (`Other` has none here; see `ResourceHead`).
    pub fn id(&self) -> Option<&str> {
        match self {
            Resource::Patient(r) => r.id.as_deref(),
            Resource::Organization(r) => r.id.as_deref(),
            Resource::Practitioner(r) => r.id.as_deref(),
            Resource::PractitionerRole(r) => r.id.as_deref(),
            Resource::Location(r) => r.id.as_deref(),
            Resource::List(r) => r.id.as_deref(),
            Resource::AllergyIntolerance(r) => r.id.as_deref(),
            Resource::MedicationStatement(r) => r.id.as_deref(),
            Resource::MedicationRequest(r) => r.id.as_deref(),
            Resource::Medication(r) => r.id.as_deref(),
            Resource::Condition(r) => r.id.as_deref(),
            Resource::Immunization(r) => r.id.as_deref(),
            Resource::Observation(r) => r.id.as_deref(),
            Resource::DiagnosticReport(r) => r.id.as_deref(),
            Resource::Specimen(r) => r.id.as_deref(),
            Resource::Encounter(r) => r.id.as_deref(),
            Resource::ReferralRequest(r) => r.id.as_deref(),
            Resource::ProcedureRequest(r) => r.id.as_deref(),
            Resource::DocumentReference(r) => r.id.as_deref(),
            Resource::Other => None,
        }
    }

    /// `resourceType` when it is the first member of the object (as every FHIR
    /// JSON producer writes it), without parsing the rest. `None`: ask serde.
    pub fn sniff_type(raw: &str) -> Option<&str> {
        let rest = raw.trim_start().strip_prefix('{')?.trim_start();
        let rest = rest
            .strip_prefix("\"resourceType\"")?
            .trim_start()
            .strip_prefix(':')?
            .trim_start();
        let rest = rest.strip_prefix('"')?;
        let end = rest.find('"')?;
        let t = &rest[..end];
        t.bytes().all(|b| b.is_ascii_alphanumeric()).then_some(t)
    }

    /// Parses `raw` as the typed model for `resource_type`.
    pub fn parse(resource_type: &str, raw: &str) -> Result<Resource, serde_json::Error> {
        fn p<T: for<'de> Deserialize<'de>>(raw: &str) -> Result<Box<T>, serde_json::Error> {
            serde_json::from_str::<T>(raw).map(Box::new)
        }
        Ok(match resource_type {
            "Patient" => Resource::Patient(p(raw)?),
            "Organization" => Resource::Organization(p(raw)?),
            "Practitioner" => Resource::Practitioner(p(raw)?),
            "PractitionerRole" => Resource::PractitionerRole(p(raw)?),
            "Location" => Resource::Location(p(raw)?),
            "List" => Resource::List(p(raw)?),
            "AllergyIntolerance" => Resource::AllergyIntolerance(p(raw)?),
            "MedicationStatement" => Resource::MedicationStatement(p(raw)?),
            "MedicationRequest" => Resource::MedicationRequest(p(raw)?),
            "Medication" => Resource::Medication(p(raw)?),
            "Condition" => Resource::Condition(p(raw)?),
            "Immunization" => Resource::Immunization(p(raw)?),
            "Observation" => Resource::Observation(p(raw)?),
            "DiagnosticReport" => Resource::DiagnosticReport(p(raw)?),
            "Specimen" => Resource::Specimen(p(raw)?),
            "Encounter" => Resource::Encounter(p(raw)?),
            "ReferralRequest" => Resource::ReferralRequest(p(raw)?),
            "ProcedureRequest" => Resource::ProcedureRequest(p(raw)?),
            "DocumentReference" => Resource::DocumentReference(p(raw)?),
            _ => Resource::Other,
        })
    }
}

/// Top level of a GP Connect response. Entries stay raw until the index parses them.
#[derive(Debug, Deserialize)]
pub struct Bundle<'a> {
    #[serde(rename = "resourceType")]
    pub resource_type: Option<String>,
    #[serde(default, borrow)]
    pub entry: Option<Vec<BundleEntry<'a>>>,
}

#[derive(Debug, Deserialize)]
pub struct BundleEntry<'a> {
    #[serde(borrow)]
    pub resource: Option<&'a RawValue>,
}
