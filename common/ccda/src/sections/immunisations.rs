//! Immunisations: GP Connect "Immunisations" → Immunizations Section (entries
//! required, V3), one Immunization Activity per Immunization.
//!
//! An immunisation recorded as not given (`notGiven`) is an Immunization
//! Activity with `negationInd="true"` and, when the GP recorded why, an
//! Immunization Refusal Reason (`reasonNotGiven` mapped to HL7 ActReason,
//! the GP's own code kept as a translation).
//!
//! GP systems often send `vaccineCode` as a null-flavour "unknown" and put the
//! real meaning in the VaccinationProcedure extension; that coding is used
//! for the vaccine when the vaccine code itself is not usable.

use super::{Item, id, notes, template, text_ref, ts};
use crate::codes::{self, LOINC};
use crate::fhir::{CodeableConcept, Extensions, Immunization, Resource};
use crate::index::{Index, list_code};
use crate::narrative::{Section, Spec, cell, cell_id};
use crate::xml::Xml;
use crate::{Context, Report, dates, describe};

static SPEC: Spec = Spec {
    title: "Immunisations",
    code: "11369-6",
    code_system: LOINC,
    code_system_name: "LOINC",
    display: "History of Immunization Narrative",
    template: Some(("2.16.840.1.113883.10.20.22.2.2.1", "2015-08-01")),
    null_when_empty: true,
    prefix: "imm",
};

const COLS: &[&str] = &[
    "Vaccine",
    "Date",
    "Status",
    "Dose / route / site",
    "Batch",
    "Recorded",
    "Notes",
];

pub fn write(ix: &Index, x: &mut Xml, cx: &Context, report: &mut Report) {
    let lists: Vec<_> = ix.lists(list_code::IMMUNISATIONS).collect();
    let mut s = Section::new(&SPEC, x.depth());
    let its = super::gather(ix, &mut s, &lists, "Immunization", "Immunisations");
    s.table(None, COLS);
    for it in its {
        match it {
            Item::Ok {
                entry,
                res: Resource::Immunization(im),
                n,
            } => {
                let rid = s.next_id();
                let code = vaccine(im);
                let given = if im.not_given == Some(true) {
                    "Not given"
                } else {
                    "Given"
                };
                let drs = [
                    im.dose_quantity.as_ref().map(describe::quantity),
                    im.route
                        .as_ref()
                        .and_then(CodeableConcept::label)
                        .map(str::to_string),
                    im.site
                        .as_ref()
                        .and_then(CodeableConcept::label)
                        .map(str::to_string),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
                let recorded = im
                    .ext("DateRecorded-1")
                    .and_then(|e| e.value_date_time.as_deref());
                let mut note = notes(&im.note);
                if let Some(r) = reason_not_given(im).and_then(CodeableConcept::label) {
                    note = format!("Reason not given: {r}\n{note}")
                        .trim_end()
                        .to_string();
                }
                s.row(
                    &rid,
                    &[
                        cell_id(format!("{rid}-name"), describe::concept(code)),
                        cell(dates::display(im.date.as_deref())),
                        cell(given),
                        cell(drs),
                        cell(im.lot_number.clone().unwrap_or_default()),
                        cell(dates::display(recorded)),
                        cell_id(format!("{rid}-note"), note),
                    ],
                );
                let key = entry.key(n);
                let label = entry.label();
                let mut w = Vec::new();
                let xw = s.entry();
                entry_xml(xw, cx, &key, &rid, im, code, &label, &mut w);
                s.end_entry();
                s.warnings.extend(w);
            }
            Item::Ok { entry, .. } => {
                s.unreadable_row(format!("{}: not an Immunization", entry.label()))
            }
            Item::Bad(w) => s.unreadable_row(w),
        }
    }
    s.end_table();
    s.finish(x, report);
}

/// The vaccine code, or the VaccinationProcedure coding when the vaccine code is a null flavour.
fn vaccine(im: &Immunization) -> Option<&CodeableConcept> {
    let usable = |cc: &&CodeableConcept| {
        cc.coding
            .iter()
            .any(|c| !c.system.as_deref().unwrap_or("").contains("NullFlavor"))
    };
    im.vaccine_code
        .as_ref()
        .filter(usable)
        .or_else(|| {
            im.ext("VaccinationProcedure-1")
                .and_then(|e| e.value_codeable_concept.as_ref())
        })
        .or(im.vaccine_code.as_ref())
}

#[allow(clippy::too_many_arguments)]
fn entry_xml(
    x: &mut Xml,
    cx: &Context,
    key: &str,
    rid: &str,
    im: &Immunization,
    code: Option<&CodeableConcept>,
    label: &str,
    w: &mut Vec<String>,
) {
    let neg = if im.not_given == Some(true) {
        "true"
    } else {
        "false"
    };
    x.open(
        "substanceAdministration",
        &[
            ("classCode", "SBADM"),
            ("moodCode", "EVN"),
            ("negationInd", neg),
        ],
    );
    template(x, "2.16.840.1.113883.10.20.22.4.52", "2015-08-01");
    id(x, cx, key);
    text_ref(x, rid);
    x.empty(
        "statusCode",
        &[("code", codes::act_status(im.status.as_deref()))],
    );
    match ts(im.date.as_deref(), label, w) {
        Some(t) => x.empty("effectiveTime", &[("value", &t)]),
        None => x.empty("effectiveTime", &[("nullFlavor", "UNK")]),
    }
    if let Some(route) = im.route.as_ref().filter(|r| r.primary().is_some()) {
        codes::concept(x, "routeCode", Some(route), None, None);
    }
    x.open("consumable", &[]);
    x.open("manufacturedProduct", &[("classCode", "MANU")]);
    template(x, "2.16.840.1.113883.10.20.22.4.54", "2014-06-09");
    x.open("manufacturedMaterial", &[]);
    codes::concept(x, "code", code, None, Some(&format!("#{rid}-name")));
    if let Some(lot) = im.lot_number.as_deref() {
        x.leaf("lotNumberText", &[], lot);
    }
    x.close();
    x.close();
    x.close();
    if let Some(reason) = reason_not_given(im).filter(|_| im.not_given == Some(true)) {
        refusal_reason(x, cx, key, rid, reason);
    }
    x.close();
}

fn reason_not_given(im: &Immunization) -> Option<&CodeableConcept> {
    im.explanation.as_ref()?.reason_not_given.first()
}

/// HL7 ActReason code of the No Immunization Reason value set for a GP's
/// reason, matched on its words (GP systems send SNOMED CT or text).
fn act_reason(label: &str) -> Option<(&'static str, &'static str)> {
    let l = label.to_ascii_lowercase();
    let has = |w: &[&str]| w.iter().any(|w| l.contains(w));
    if has(&["relig"]) {
        Some(("RELIG", "religious objection"))
    } else if has(&[
        "refus",
        "declin",
        "object",
        "dissent",
        "not wanted",
        "no consent",
    ]) {
        Some(("PATOBJ", "patient objection"))
    } else if has(&[
        "contraindic",
        "precaution",
        "allerg",
        "unwell",
        "illness",
        "pregnan",
    ]) {
        Some(("MEDPREC", "medical precaution"))
    } else if has(&["immunity", "is immune", "had disease", "already had"]) {
        Some(("IMMUNE", "immunity"))
    } else if has(&["stock", "unavailable", "not available"]) {
        Some(("OSTOCK", "product out of stock"))
    } else {
        None
    }
}

/// Immunization Refusal Reason (`entryRelationship RSON`).
fn refusal_reason(x: &mut Xml, cx: &Context, key: &str, rid: &str, reason: &CodeableConcept) {
    x.open("entryRelationship", &[("typeCode", "RSON")]);
    x.open("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
    x.empty("templateId", &[("root", "2.16.840.1.113883.10.20.22.4.53")]);
    id(x, cx, &format!("{key}/reason-not-given"));
    let mapped = reason.label().and_then(act_reason);
    match mapped {
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

const ACT_REASON: &str = "2.16.840.1.113883.5.8";

#[cfg(test)]
mod tests {
    use super::act_reason;

    #[test]
    fn reasons_map_to_act_reason() {
        assert_eq!(
            act_reason("Immunisation refused by patient").map(|r| r.0),
            Some("PATOBJ")
        );
        assert_eq!(act_reason("Declined").map(|r| r.0), Some("PATOBJ"));
        assert_eq!(
            act_reason("Immunisation contraindicated").map(|r| r.0),
            Some("MEDPREC")
        );
        assert_eq!(
            act_reason("Has immunity: had disease").map(|r| r.0),
            Some("IMMUNE")
        );
        assert_eq!(
            act_reason("Religious objection").map(|r| r.0),
            Some("RELIG")
        );
        assert_eq!(
            act_reason("Vaccine out of stock").map(|r| r.0),
            Some("OSTOCK")
        );
        assert_eq!(act_reason("Something else"), None);
    }
}
