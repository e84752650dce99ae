//! Code systems (FHIR URI → HL7 OID) and the CD/CE writer.
//!
//! The primary coding (SNOMED CT first, then another known system) becomes
//! `@code`; other codings with a known OID (Read v2, CTV3, EMIS, Multilex,
//! Gemscript…) become `<translation>`s. Codings in systems without an OID are
//! left out of the coded value and survive in `originalText`. With no usable
//! coding the element carries `nullFlavor="UNK"` and the original text.

use crate::fhir::{CodeableConcept, Coding};
use crate::xml::Xml;

pub const SNOMED_URI: &str = "http://snomed.info/sct";
pub const SNOMED: &str = "2.16.840.1.113883.6.96";
pub const LOINC: &str = "2.16.840.1.113883.6.1";
pub const UCUM: &str = "2.16.840.1.113883.6.8";
pub const ACT_CODE: &str = "2.16.840.1.113883.5.4";
pub const ACT_CLASS: &str = "2.16.840.1.113883.5.6";
pub const INTERPRETATION: &str = "2.16.840.1.113883.5.83";
pub const NHS_NUMBER: &str = "2.16.840.1.113883.2.1.4.1";
pub const ODS: &str = "2.16.840.1.113883.2.1.4.3";

/// `(FHIR system URI, OID, name)` for systems we can carry as coded values.
const SYSTEMS: &[(&str, &str, &str)] = &[
    (SNOMED_URI, SNOMED, "SNOMED CT"),
    ("https://dmd.nhs.uk", SNOMED, "dm+d"),
    ("http://dmd.nhs.uk", SNOMED, "dm+d"),
    ("http://loinc.org", LOINC, "LOINC"),
    (
        "http://read.info/readv2",
        "2.16.840.1.113883.2.1.6.2",
        "Read Codes v2",
    ),
    (
        "http://read.info/ctv3",
        "2.16.840.1.113883.2.1.3.2.4.14",
        "Read Codes CTV3",
    ),
    (
        "https://fhir.hl7.org.uk/Id/emis-drug-codes",
        "2.16.840.1.113883.2.1.6.9",
        "EMIS drug codes",
    ),
    (
        "https://fhir.hl7.org.uk/Id/multilex-drug-codes",
        "2.16.840.1.113883.2.1.6.4",
        "Multilex",
    ),
    (
        "https://fhir.hl7.org.uk/Id/resipuk-gemscript-drug-codes",
        "2.16.840.1.113883.2.1.6.15",
        "Gemscript",
    ),
    (
        "http://hl7.org/fhir/v2/0078",
        INTERPRETATION,
        "ObservationInterpretation",
    ),
    ("http://unitsofmeasure.org", UCUM, "UCUM"),
];

/// The OID for a FHIR code system URI, when it has one.
pub fn oid_for(system: Option<&str>) -> Option<&'static str> {
    let s = system?.trim_end_matches('/');
    SYSTEMS
        .iter()
        .find(|(uri, _, _)| *uri == s)
        .map(|(_, oid, _)| *oid)
}

fn name_for(system: Option<&str>) -> Option<&'static str> {
    let s = system?.trim_end_matches('/');
    SYSTEMS
        .iter()
        .find(|(uri, _, _)| *uri == s)
        .map(|(_, _, n)| *n)
}

/// A fixed code (template codes such as `ASSERTION`, LOINC section codes).
pub fn fixed(x: &mut Xml, elem: &str, code: &str, system: &str, name: &str, display: &str) {
    x.empty(
        elem,
        &[
            ("code", code),
            ("codeSystem", system),
            ("codeSystemName", name),
            ("displayName", display),
        ],
    );
}

/// Writes `cc` as `<elem>`; `xsi_type` for `value` elements (`CD`).
/// `text_ref` points `originalText` at the narrative cell showing the term.
pub fn concept(
    x: &mut Xml,
    elem: &'static str,
    cc: Option<&CodeableConcept>,
    xsi_type: Option<&str>,
    text_ref: Option<&str>,
) {
    let primary = cc
        .and_then(CodeableConcept::primary)
        .filter(|c| oid_for(c.system.as_deref()).is_some());
    let mut attrs: Vec<(&str, &str)> = Vec::with_capacity(6);
    if let Some(t) = xsi_type {
        attrs.push(("xsi:type", t));
    }
    let disp;
    match primary {
        Some(c) => {
            attrs.push(("code", c.code.as_deref().unwrap_or_default().trim()));
            attrs.push((
                "codeSystem",
                oid_for(c.system.as_deref()).unwrap_or_default(),
            ));
            if let Some(n) = name_for(c.system.as_deref()) {
                attrs.push(("codeSystemName", n));
            }
            disp = c.display.as_deref().or_else(|| c.description_display());
            if let Some(d) = disp {
                attrs.push(("displayName", d));
            }
        }
        None => attrs.push(("nullFlavor", "UNK")),
    }
    let label = cc.and_then(CodeableConcept::label);
    let translations: Vec<&Coding> = cc
        .map(|cc| {
            cc.coding
                .iter()
                .filter(|c| {
                    !std::ptr::eq(*c, primary.map_or(std::ptr::null(), |p| p as *const Coding))
                })
                .filter(|c| oid_for(c.system.as_deref()).is_some() && c.has_code())
                .collect()
        })
        .unwrap_or_default();
    if label.is_none() && text_ref.is_none() && translations.is_empty() {
        x.empty(elem, &attrs);
        return;
    }
    x.open(elem, &attrs);
    match (text_ref, label) {
        (Some(r), _) => {
            x.open("originalText", &[]);
            x.empty("reference", &[("value", r)]);
            x.close();
        }
        (None, Some(l)) => x.leaf("originalText", &[], l),
        (None, None) => {}
    }
    for t in translations {
        let mut a: Vec<(&str, &str)> = vec![
            ("code", t.code.as_deref().unwrap_or_default().trim()),
            (
                "codeSystem",
                oid_for(t.system.as_deref()).unwrap_or_default(),
            ),
        ];
        if let Some(n) = name_for(t.system.as_deref()) {
            a.push(("codeSystemName", n));
        }
        if let Some(d) = t.display.as_deref() {
            a.push(("displayName", d));
        }
        x.empty("translation", &a);
    }
    x.close();
}

/// FHIR status → CDA act `statusCode` (ActStatus).
pub fn act_status(fhir: Option<&str>) -> &'static str {
    match fhir.unwrap_or("") {
        "active" | "in-progress" | "intended" | "on-hold" | "planned" | "arrived" | "draft"
        | "requested" => "active",
        "stopped" | "cancelled" | "revoked" => "aborted",
        "entered-in-error" => "nullified",
        "suspended" => "suspended",
        _ => "completed",
    }
}
