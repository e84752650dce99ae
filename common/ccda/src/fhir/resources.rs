//! The GP Connect STU3 resources the converter renders (fields it reads only).

use super::datatypes::*;
use serde::Deserialize;
use serde_json::value::RawValue;

macro_rules! ext_impl {
    ($($t:ty),*) => {$(
        impl Extensions for $t {
            fn extensions(&self) -> &[Extension] { &self.extension }
        }
    )*};
}

ext_impl!(
    Patient,
    List,
    AllergyIntolerance,
    MedicationStatement,
    MedicationRequest,
    Condition,
    Immunization,
    Observation,
    Encounter,
    ReferralRequest,
    DispenseRequest
);

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Patient {
    pub id: Option<String>,
    pub extension: Vec<Extension>,
    pub identifier: Vec<Identifier>,
    pub name: Vec<HumanName>,
    pub gender: Option<String>,
    #[serde(rename = "birthDate")]
    pub birth_date: Option<String>,
    pub address: Vec<Address>,
    pub telecom: Vec<ContactPoint>,
    #[serde(rename = "generalPractitioner")]
    pub general_practitioner: Vec<Reference>,
    #[serde(rename = "managingOrganization")]
    pub managing_organization: Option<Reference>,
}

impl Patient {
    /// The NHS number the Patient is identified by.
    pub fn nhs_number(&self) -> Option<&str> {
        self.identifier
            .iter()
            .find(|i| {
                i.system
                    .as_deref()
                    .is_some_and(|s| s.ends_with("/nhs-number"))
            })
            .and_then(|i| i.value.as_deref())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Organization {
    pub id: Option<String>,
    pub identifier: Vec<Identifier>,
    pub name: Option<String>,
    pub telecom: Vec<ContactPoint>,
    pub address: Vec<Address>,
}

impl Organization {
    /// The ODS organisation code.
    pub fn ods_code(&self) -> Option<&str> {
        self.identifier
            .iter()
            .find(|i| {
                i.system
                    .as_deref()
                    .is_some_and(|s| s.ends_with("/ods-organization-code"))
            })
            .and_then(|i| i.value.as_deref())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Practitioner {
    pub id: Option<String>,
    pub name: Vec<HumanName>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PractitionerRole {
    pub id: Option<String>,
    pub practitioner: Option<Reference>,
    pub organization: Option<Reference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Location {
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListEntry {
    pub item: Reference,
}

/// GP Connect List: primary/secondary query lists and the consultation structure.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct List {
    pub id: Option<String>,
    pub extension: Vec<Extension>,
    pub contained: Vec<Box<RawValue>>,
    pub title: Option<String>,
    pub code: Option<CodeableConcept>,
    /// The patient the List is about: the document's patient.
    pub subject: Option<Reference>,
    pub encounter: Option<Reference>,
    pub note: Vec<Annotation>,
    pub entry: Vec<ListEntry>,
    #[serde(rename = "emptyReason")]
    pub empty_reason: Option<CodeableConcept>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Reaction {
    pub manifestation: Vec<CodeableConcept>,
    pub description: Option<String>,
    pub severity: Option<String>,
    pub onset: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AllergyIntolerance {
    pub id: Option<String>,
    pub meta: Option<Meta>,
    pub extension: Vec<Extension>,
    #[serde(rename = "clinicalStatus")]
    pub clinical_status: Option<String>,
    #[serde(rename = "verificationStatus")]
    pub verification_status: Option<String>,
    pub category: Vec<String>,
    pub criticality: Option<String>,
    pub code: Option<CodeableConcept>,
    #[serde(rename = "onsetDateTime")]
    pub onset_date_time: Option<String>,
    #[serde(rename = "onsetPeriod")]
    pub onset_period: Option<Period>,
    #[serde(rename = "assertedDate")]
    pub asserted_date: Option<String>,
    pub note: Vec<Annotation>,
    pub reaction: Vec<Reaction>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Dosage {
    pub text: Option<String>,
    #[serde(rename = "patientInstruction")]
    pub patient_instruction: Option<String>,
    /// The structured dose (`1 tablet`), when the GP system sends one.
    #[serde(rename = "doseQuantity")]
    pub dose_quantity: Option<Quantity>,
    /// A dose given as a range (`1-2 tablets`).
    #[serde(rename = "doseRange")]
    pub dose_range: Option<Range>,
    /// Structured timing (`twice a day`), when the GP system sends one.
    pub timing: Option<Timing>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MedicationStatement {
    pub id: Option<String>,
    pub extension: Vec<Extension>,
    #[serde(rename = "basedOn")]
    pub based_on: Vec<Reference>,
    pub status: Option<String>,
    #[serde(rename = "medicationReference")]
    pub medication_reference: Option<Reference>,
    #[serde(rename = "medicationCodeableConcept")]
    pub medication_codeable_concept: Option<CodeableConcept>,
    #[serde(rename = "effectivePeriod")]
    pub effective_period: Option<Period>,
    #[serde(rename = "effectiveDateTime")]
    pub effective_date_time: Option<String>,
    #[serde(rename = "dateAsserted")]
    pub date_asserted: Option<String>,
    pub note: Vec<Annotation>,
    pub dosage: Vec<Dosage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DispenseRequest {
    #[serde(rename = "validityPeriod")]
    pub validity_period: Option<Period>,
    pub quantity: Option<Quantity>,
    #[serde(rename = "expectedSupplyDuration")]
    pub expected_supply_duration: Option<Quantity>,
    pub extension: Vec<Extension>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MedicationRequest {
    pub id: Option<String>,
    pub extension: Vec<Extension>,
    #[serde(rename = "basedOn")]
    pub based_on: Vec<Reference>,
    #[serde(rename = "groupIdentifier")]
    pub group_identifier: Option<Identifier>,
    pub status: Option<String>,
    pub intent: Option<String>,
    #[serde(rename = "medicationReference")]
    pub medication_reference: Option<Reference>,
    #[serde(rename = "medicationCodeableConcept")]
    pub medication_codeable_concept: Option<CodeableConcept>,
    #[serde(rename = "authoredOn")]
    pub authored_on: Option<String>,
    pub note: Vec<Annotation>,
    #[serde(rename = "dosageInstruction")]
    pub dosage_instruction: Vec<Dosage>,
    #[serde(rename = "dispenseRequest")]
    pub dispense_request: Option<DispenseRequest>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Medication {
    pub id: Option<String>,
    pub code: Option<CodeableConcept>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Condition {
    pub id: Option<String>,
    pub extension: Vec<Extension>,
    #[serde(rename = "clinicalStatus")]
    pub clinical_status: Option<String>,
    pub code: Option<CodeableConcept>,
    #[serde(rename = "onsetDateTime")]
    pub onset_date_time: Option<String>,
    #[serde(rename = "abatementDateTime")]
    pub abatement_date_time: Option<String>,
    #[serde(rename = "assertedDate")]
    pub asserted_date: Option<String>,
    pub note: Vec<Annotation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Immunization {
    pub id: Option<String>,
    pub extension: Vec<Extension>,
    pub status: Option<String>,
    #[serde(rename = "notGiven")]
    pub not_given: Option<bool>,
    #[serde(rename = "vaccineCode")]
    pub vaccine_code: Option<CodeableConcept>,
    pub date: Option<String>,
    #[serde(rename = "lotNumber")]
    pub lot_number: Option<String>,
    pub site: Option<CodeableConcept>,
    pub route: Option<CodeableConcept>,
    #[serde(rename = "doseQuantity")]
    pub dose_quantity: Option<Quantity>,
    pub note: Vec<Annotation>,
    pub explanation: Option<ImmunizationExplanation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ImmunizationExplanation {
    pub reason: Vec<CodeableConcept>,
    #[serde(rename = "reasonNotGiven")]
    pub reason_not_given: Vec<CodeableConcept>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReferenceRange {
    pub low: Option<Quantity>,
    pub high: Option<Quantity>,
    pub text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Related {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub target: Reference,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ObservationComponent {
    pub code: Option<CodeableConcept>,
    #[serde(rename = "valueQuantity")]
    pub value_quantity: Option<Quantity>,
    #[serde(rename = "valueString")]
    pub value_string: Option<String>,
    #[serde(rename = "valueCodeableConcept")]
    pub value_codeable_concept: Option<CodeableConcept>,
    pub interpretation: Option<CodeableConcept>,
    #[serde(rename = "referenceRange")]
    pub reference_range: Vec<ReferenceRange>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Observation {
    pub id: Option<String>,
    pub extension: Vec<Extension>,
    pub status: Option<String>,
    pub code: Option<CodeableConcept>,
    #[serde(rename = "effectiveDateTime")]
    pub effective_date_time: Option<String>,
    #[serde(rename = "effectivePeriod")]
    pub effective_period: Option<Period>,
    pub issued: Option<String>,
    #[serde(rename = "valueQuantity")]
    pub value_quantity: Option<Quantity>,
    #[serde(rename = "valueString")]
    pub value_string: Option<String>,
    #[serde(rename = "valueCodeableConcept")]
    pub value_codeable_concept: Option<CodeableConcept>,
    #[serde(rename = "valueBoolean")]
    pub value_boolean: Option<bool>,
    #[serde(rename = "dataAbsentReason")]
    pub data_absent_reason: Option<CodeableConcept>,
    pub interpretation: Option<CodeableConcept>,
    pub comment: Option<String>,
    #[serde(rename = "bodySite")]
    pub body_site: Option<CodeableConcept>,
    #[serde(rename = "referenceRange")]
    pub reference_range: Vec<ReferenceRange>,
    pub related: Vec<Related>,
    pub component: Vec<ObservationComponent>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DiagnosticReport {
    pub id: Option<String>,
    pub status: Option<String>,
    pub code: Option<CodeableConcept>,
    pub category: Option<CodeableConcept>,
    #[serde(rename = "effectiveDateTime")]
    pub effective_date_time: Option<String>,
    pub issued: Option<String>,
    pub specimen: Vec<Reference>,
    pub result: Vec<Reference>,
    pub conclusion: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Specimen {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<CodeableConcept>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EncounterParticipant {
    #[serde(rename = "type")]
    pub type_: Vec<CodeableConcept>,
    pub individual: Option<Reference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EncounterLocation {
    pub location: Option<Reference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Encounter {
    pub id: Option<String>,
    pub extension: Vec<Extension>,
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub type_: Vec<CodeableConcept>,
    pub participant: Vec<EncounterParticipant>,
    pub period: Option<Period>,
    pub location: Vec<EncounterLocation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReferralRequest {
    pub id: Option<String>,
    pub extension: Vec<Extension>,
    pub status: Option<String>,
    pub priority: Option<String>,
    #[serde(rename = "serviceRequested")]
    pub service_requested: Vec<CodeableConcept>,
    pub specialty: Option<CodeableConcept>,
    #[serde(rename = "authoredOn")]
    pub authored_on: Option<String>,
    pub recipient: Vec<Reference>,
    #[serde(rename = "reasonCode")]
    pub reason_code: Vec<CodeableConcept>,
    pub description: Option<String>,
    pub note: Vec<Annotation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProcedureRequest {
    pub id: Option<String>,
    pub status: Option<String>,
    pub code: Option<CodeableConcept>,
    #[serde(rename = "occurrenceDateTime")]
    pub occurrence_date_time: Option<String>,
    #[serde(rename = "occurrencePeriod")]
    pub occurrence_period: Option<Period>,
    #[serde(rename = "authoredOn")]
    pub authored_on: Option<String>,
    pub note: Vec<Annotation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Attachment {
    #[serde(rename = "contentType")]
    pub content_type: Option<String>,
    pub url: Option<String>,
    pub title: Option<String>,
    pub size: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DocumentContent {
    pub attachment: Attachment,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DocumentReference {
    pub id: Option<String>,
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<CodeableConcept>,
    pub created: Option<String>,
    pub indexed: Option<String>,
    pub author: Vec<Reference>,
    pub description: Option<String>,
    pub content: Vec<DocumentContent>,
}
