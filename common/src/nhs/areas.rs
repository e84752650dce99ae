//! GP Connect Access Record Structured clinical areas: the `include*` request parameters and
//! the SNOMED codes of the primary Lists each area returns.
//!
//! The client builds its `Parameters` body from the configured areas; the simulator reads the
//! same names back to decide which Lists (and the resources they reference) to return.

use std::fmt;
use std::str::FromStr;

/// One clinical area of the structured record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClinicalArea {
    Allergies,
    Medication,
    Consultations,
    Problems,
    Immunisations,
    Uncategorised,
    Investigations,
    Referrals,
    DiaryEntries,
}

// === impl ClinicalArea ===

impl ClinicalArea {
    /// Every area, in the order the spec lists them.
    pub const ALL: [ClinicalArea; 9] = [
        Self::Allergies,
        Self::Medication,
        Self::Consultations,
        Self::Problems,
        Self::Immunisations,
        Self::Uncategorised,
        Self::Investigations,
        Self::Referrals,
        Self::DiaryEntries,
    ];

    /// The `Parameters.parameter.name` that requests this area.
    pub fn parameter(self) -> &'static str {
        match self {
            Self::Allergies => "includeAllergies",
            Self::Medication => "includeMedication",
            Self::Consultations => "includeConsultations",
            Self::Problems => "includeProblems",
            Self::Immunisations => "includeImmunisations",
            Self::Uncategorised => "includeUncategorisedData",
            Self::Investigations => "includeInvestigations",
            Self::Referrals => "includeReferrals",
            Self::DiaryEntries => "includeDiaryEntries",
        }
    }

    /// The short name used in configuration (`XHUMA_NHS_GPC_AREAS`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Allergies => "allergies",
            Self::Medication => "medication",
            Self::Consultations => "consultations",
            Self::Problems => "problems",
            Self::Immunisations => "immunisations",
            Self::Uncategorised => "uncategorised",
            Self::Investigations => "investigations",
            Self::Referrals => "referrals",
            Self::DiaryEntries => "diary",
        }
    }

    pub fn from_parameter(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.parameter() == name)
    }

    /// SNOMED CT codes of the primary List(s) of this area.
    pub fn list_codes(self) -> &'static [&'static str] {
        match self {
            Self::Allergies => &["886921000000105", "1103671000000101"],
            Self::Medication => &["933361000000108"],
            Self::Consultations => &["1149501000000101"],
            Self::Problems => &["717711000000103"],
            Self::Immunisations => &["1102181000000102"],
            Self::Uncategorised => &["826501000000100"],
            Self::Investigations => &["887191000000108"],
            Self::Referrals => &["792931000000107"],
            Self::DiaryEntries => &["714311000000108"],
        }
    }

    /// The area whose primary List carries `code`.
    pub fn from_list_code(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.list_codes().contains(&code))
    }

    /// A bit for area sets (`1 << index`).
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for ClinicalArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ClinicalArea {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s) || a.parameter() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "unknown clinical area (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in ClinicalArea::ALL {
            assert_eq!(a.name().parse::<ClinicalArea>(), Ok(a));
            assert_eq!(ClinicalArea::from_parameter(a.parameter()), Some(a));
            for c in a.list_codes() {
                assert_eq!(ClinicalArea::from_list_code(c), Some(a));
            }
        }
        assert!("bogus".parse::<ClinicalArea>().is_err());
    }
}
