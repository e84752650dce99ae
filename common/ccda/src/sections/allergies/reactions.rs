//! The coded parts of an allergy an EHR reconciles on: one Reaction
//! Observation per manifestation, each with its Severity Observation (R2.1
//! puts severity on the reaction, never on the allergy), and the allergy's
//! Criticality Observation.

use crate::Context;
use crate::cda::{id, template};
use crate::codes::{self, LOINC, SNOMED};
use crate::xml::Xml;

const OBSERVATION_VALUE: &str = "2.16.840.1.113883.5.1063";

/// FHIR `reaction.severity` → the C-CDA Severity value set (SNOMED CT).
pub(super) fn severity(s: Option<&str>) -> Option<(&'static str, &'static str)> {
    match s? {
        "mild" => Some(("255604002", "Mild")),
        "moderate" => Some(("6736007", "Moderate")),
        "severe" => Some(("24484000", "Severe")),
        _ => None,
    }
}

/// FHIR `criticality` → the Criticality Observation value set (HL7ObservationValue).
fn criticality(c: Option<&str>) -> Option<(&'static str, &'static str)> {
    match c? {
        "low" => Some(("CRITL", "low criticality")),
        "high" => Some(("CRITH", "high criticality")),
        "unable-to-assess" => Some(("CRITU", "unable to assess criticality")),
        _ => None,
    }
}

/// A Reaction Observation for one manifestation (`None`: a reaction recorded
/// with a severity but no manifestation), with its Severity Observation.
pub(super) fn reaction_xml(
    x: &mut Xml,
    cx: &Context,
    key: &str,
    m: Option<&crate::fhir::CodeableConcept>,
    sev: Option<(&str, &str)>,
) {
    x.open(
        "entryRelationship",
        &[("typeCode", "MFST"), ("inversionInd", "true")],
    );
    x.open("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
    template(x, "2.16.840.1.113883.10.20.22.4.9", "2014-06-09");
    id(x, cx, key);
    codes::fixed(
        x,
        "code",
        "ASSERTION",
        codes::ACT_CODE,
        "ActCode",
        "Assertion",
    );
    x.empty("statusCode", &[("code", "completed")]);
    codes::concept(x, "value", m, Some("CD"), None);
    if let Some((code, display)) = sev {
        x.open(
            "entryRelationship",
            &[("typeCode", "SUBJ"), ("inversionInd", "true")],
        );
        x.open("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
        template(x, "2.16.840.1.113883.10.20.22.4.8", "2014-06-09");
        codes::fixed(
            x,
            "code",
            "SEV",
            codes::ACT_CODE,
            "ActCode",
            "Severity Observation",
        );
        x.empty("statusCode", &[("code", "completed")]);
        x.empty(
            "value",
            &[
                ("xsi:type", "CD"),
                ("code", code),
                ("codeSystem", SNOMED),
                ("codeSystemName", "SNOMED CT"),
                ("displayName", display),
            ],
        );
        x.close();
        x.close();
    }
    x.close();
    x.close();
}

/// A Criticality Observation (`…4.145`) on the Allergy - Intolerance Observation.
pub(super) fn criticality_xml(x: &mut Xml, c: Option<&str>) {
    if let Some((code, display)) = criticality(c) {
        x.open(
            "entryRelationship",
            &[("typeCode", "SUBJ"), ("inversionInd", "true")],
        );
        x.open("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
        x.empty(
            "templateId",
            &[("root", "2.16.840.1.113883.10.20.22.4.145")],
        );
        codes::fixed(
            x,
            "code",
            "82606-5",
            LOINC,
            "LOINC",
            "Allergy or intolerance criticality",
        );
        x.empty("statusCode", &[("code", "completed")]);
        x.empty(
            "value",
            &[
                ("xsi:type", "CD"),
                ("code", code),
                ("codeSystem", OBSERVATION_VALUE),
                ("codeSystemName", "HL7ObservationValue"),
                ("displayName", display),
            ],
        );
        x.close();
        x.close();
    }
}
