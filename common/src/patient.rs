//! PDS demographics as Xhuma uses them.
//!
//! `nhs::pds` reads a FHIR R4 Patient and reduces it to a [`PdsOutcome`]; the gateway answers
//! ITI-55/ITI-47 from it and the workers take the registered GP practice (`gp_ods`) from it.

use serde::{Deserialize, Serialize};

use crate::NhsNumber;

/// Administrative gender as PDS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
    Other,
    #[default]
    Unknown,
}

/// A postal address (home address first when PDS gives several).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Address {
    pub lines: Vec<String>,
    pub postal_code: Option<String>,
}

/// The demographics of one patient, already reduced to what the IHE answers need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demographics {
    pub nhs_number: NhsNumber,
    /// Given names of the chosen name (official → usual → first).
    pub given: Vec<String>,
    pub family: Option<String>,
    pub prefix: Vec<String>,
    pub gender: Gender,
    /// `YYYY-MM-DD` (or a partial date) as PDS sends it.
    pub birth_date: Option<String>,
    pub address: Option<Address>,
    /// ODS code of the registered GP practice (`generalPractitioner[0]`); `None` when the
    /// patient is not registered.
    pub gp_ods: Option<String>,
    /// `meta.versionId`, PDS's ETag.
    pub version_id: Option<String>,
}

/// What a PDS read by NHS number tells us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PdsOutcome {
    /// An unrestricted, living patient.
    Found(Demographics),
    /// PDS answered with a different NHS number: the requested one was merged into it.
    Superseded {
        requested: NhsNumber,
        current: Box<Demographics>,
    },
    /// Restricted (S-flag) record: never fetch GP data, never reveal that it exists.
    Restricted,
    /// The patient has died.
    Deceased { date: Option<String> },
    /// No such patient (404 RESOURCE_NOT_FOUND or INVALIDATED_RESOURCE).
    NotFound,
}
