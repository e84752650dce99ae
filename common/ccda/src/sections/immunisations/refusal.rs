//! Immunization Refusal Reason (`…4.53`): an Immunization's
//! `explanation.reasonNotGiven` (SNOMED CT from GP systems, or only text) →
//! an HL7 ActReason code of the No Immunization Reason value set, with the
//! GP's own codes as translations and the narrative cell as original text.
//!
//! A SNOMED CT code in [`SNOMED`] decides; the words of the reason are only
//! the fallback, for reasons sent as text or with a code not in the table.
//! The table holds only concepts whose ids and terms were checked against
//! published SNOMED CT value sets (FHIR's "procedure not performed reason"
//! and "immunization status reason"): the refused / declined / consent-not-
//! given concepts and the contraindication concepts. Religious objection,
//! immunity and out of stock have no entry yet, so they are matched on words.

use crate::Context;
use crate::cda::id;
use crate::codes::{self, SNOMED_URI};
use crate::fhir::CodeableConcept;
use crate::xml::Xml;

/// HL7 ActReason code system.
const ACT_REASON: &str = "2.16.840.1.113883.5.8";

const PATOBJ: (&str, &str) = ("PATOBJ", "patient objection");
const MEDPREC: (&str, &str) = ("MEDPREC", "medical precaution");
const IMMUNE: (&str, &str) = ("IMMUNE", "immunity");
const OSTOCK: (&str, &str) = ("OSTOCK", "product out of stock");
const RELIG: (&str, &str) = ("RELIG", "religious objection");

/// SNOMED CT concept id → ActReason (the concept's term in the comment).
const SNOMED: &[(&str, (&str, &str))] = &[
    ("183944003", PATOBJ),  // Procedure refused
    ("416432009", PATOBJ),  // Procedure not wanted
    ("310376006", PATOBJ),  // Immunization consent not given
    ("1156551007", PATOBJ), // Vaccination declined
    ("183932001", MEDPREC), // Procedure contraindicated
    ("266757004", MEDPREC), // Medical contraindication to procedure
    ("266758009", MEDPREC), // Immunization contraindicated
    ("268560002", MEDPREC), // Medical C/I - immunization
    ("171277005", MEDPREC), // Sensitivity C/I - immunization
    ("183934000", MEDPREC), // Sensitivity contraindication to procedure
    ("183936003", MEDPREC), // Contraindication to live immunization
    ("171284002", MEDPREC), // Pertussis vaccine contraindicated
];

/// The ActReason `(code, displayName)` for a reason: its first SNOMED CT
/// coding found in the table, else its words.
fn act_reason(reason: &CodeableConcept) -> Option<(&'static str, &'static str)> {
    reason
        .coding
        .iter()
        .filter(|c| c.system.as_deref().map(|s| s.trim_end_matches('/')) == Some(SNOMED_URI))
        .filter_map(|c| c.code.as_deref().map(str::trim))
        .find_map(|code| SNOMED.iter().find(|(c, _)| *c == code).map(|(_, r)| *r))
        .or_else(|| reason.label().and_then(by_words))
}

/// The fallback: the reason's words (GP systems' terms and free text).
fn by_words(label: &str) -> Option<(&'static str, &'static str)> {
    let l = label.to_ascii_lowercase();
    let has = |w: &[&str]| w.iter().any(|w| l.contains(w));
    if has(&["relig"]) {
        Some(RELIG)
    } else if has(&[
        "refus",
        "declin",
        "object",
        "dissent",
        "not wanted",
        "no consent",
    ]) {
        Some(PATOBJ)
    } else if has(&[
        "contraindic",
        "precaution",
        "allerg",
        "unwell",
        "illness",
        "pregnan",
    ]) {
        Some(MEDPREC)
    } else if has(&["immunity", "is immune", "had disease", "already had"]) {
        Some(IMMUNE)
    } else if has(&["stock", "unavailable", "not available"]) {
        Some(OSTOCK)
    } else {
        None
    }
}

/// Immunization Refusal Reason (`entryRelationship RSON`); `nullFlavor="OTH"`
/// when the reason has no ActReason.
pub(super) fn write(x: &mut Xml, cx: &Context, key: &str, rid: &str, reason: &CodeableConcept) {
    x.open("entryRelationship", &[("typeCode", "RSON")]);
    x.open("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
    x.empty("templateId", &[("root", "2.16.840.1.113883.10.20.22.4.53")]);
    id(x, cx, &format!("{key}/reason-not-given"));
    match act_reason(reason) {
        Some((code, display)) => x.open(
            "code",
            &[
                ("code", code),
                ("codeSystem", ACT_REASON),
                ("codeSystemName", "HL7ActReason"),
                ("displayName", display),
            ],
        ),
        None => x.open("code", &[("nullFlavor", "OTH")]),
    }
    x.open("originalText", &[]);
    x.empty("reference", &[("value", &format!("#{rid}-note"))]);
    x.close();
    for c in reason.coding.iter().filter(|c| c.has_code()) {
        let Some(oid) = codes::oid_for(c.system.as_deref()) else {
            continue;
        };
        let mut a = vec![
            ("code", c.code.as_deref().unwrap_or_default().trim()),
            ("codeSystem", oid),
        ];
        if let Some(d) = c.display.as_deref() {
            a.push(("displayName", d));
        }
        x.empty("translation", &a);
    }
    x.close();
    x.empty("statusCode", &[("code", "completed")]);
    x.close();
    x.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::Coding;

    fn coded(code: &str, display: &str) -> CodeableConcept {
        CodeableConcept {
            coding: vec![Coding {
                system: Some(SNOMED_URI.into()),
                code: Some(code.into()),
                display: Some(display.into()),
                ..Coding::default()
            }],
            text: None,
        }
    }

    fn text(t: &str) -> CodeableConcept {
        CodeableConcept {
            coding: vec![],
            text: Some(t.into()),
        }
    }

    fn code(r: &CodeableConcept) -> Option<&'static str> {
        act_reason(r).map(|r| r.0)
    }

    #[test]
    fn a_known_snomed_code_decides() {
        assert_eq!(
            code(&coded("183944003", "Procedure refused")),
            Some("PATOBJ")
        );
        assert_eq!(
            code(&coded("310376006", "Consent not given")),
            Some("PATOBJ")
        );
        assert_eq!(
            code(&coded("266758009", "Immunisation contraindicated")),
            Some("MEDPREC")
        );
        // the code wins over words that would say otherwise
        assert_eq!(
            code(&coded("183936003", "Patient declined")),
            Some("MEDPREC")
        );
        assert_eq!(
            code(&coded("183944003", "Vaccine out of stock")),
            Some("PATOBJ")
        );
        // a known code in a later coding still decides
        let mut r = coded("1343541000000101", "Vaccination course postponed");
        r.coding
            .push(coded("183932001", "Procedure contraindicated").coding[0].clone());
        assert_eq!(code(&r), Some("MEDPREC"));
    }

    #[test]
    fn a_code_outside_the_table_or_system_falls_back_to_words() {
        assert_eq!(
            code(&coded("1343531000000105", "Immunisation declined")),
            Some("PATOBJ")
        );
        assert_eq!(
            code(&coded("1343541000000101", "Vaccination course postponed")),
            None
        );
        // the same id in another code system is not the SNOMED concept
        let mut r = coded("183932001", "Refused");
        r.coding[0].system = Some("http://read.info/readv2".into());
        assert_eq!(code(&r), Some("PATOBJ"));
    }

    #[test]
    fn text_only_reasons_map_on_their_words() {
        assert_eq!(
            code(&text("Immunisation refused by patient")),
            Some("PATOBJ")
        );
        assert_eq!(code(&text("Declined")), Some("PATOBJ"));
        assert_eq!(code(&text("Immunisation contraindicated")), Some("MEDPREC"));
        assert_eq!(code(&text("Has immunity: had disease")), Some("IMMUNE"));
        assert_eq!(code(&text("Religious objection")), Some("RELIG"));
        assert_eq!(code(&text("Vaccine out of stock")), Some("OSTOCK"));
        assert_eq!(code(&text("Not needed")), None);
        assert_eq!(code(&text("Something else")), None);
    }
}
