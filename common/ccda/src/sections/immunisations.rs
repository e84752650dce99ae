//! Immunisations: GP Connect "Immunisations" → Immunizations Section (entries
//! required, V3), one Immunization Activity per Immunization.
//!
//! An immunisation recorded as not given (`notGiven`) is an Immunization
//! Activity with `negationInd="true"` and, when the GP recorded why, an
//! Immunization Refusal Reason (`refusal.rs`: `reasonNotGiven` mapped to HL7
//! ActReason by its SNOMED CT code, else by its words; the GP's own code kept
//! as a translation).
//!
//! GP systems often send `vaccineCode` as a null-flavour "unknown" and put the
//! real meaning in the VaccinationProcedure extension; that coding is used
//! for the vaccine when the vaccine code itself is not usable.

use super::{Item, notes};
use crate::cda::{id, template, text_ref, ts};
use crate::codes::{self, LOINC};
use crate::fhir::{CodeableConcept, Extensions, Immunization, Resource};
use crate::index::{Index, list_code};
use crate::narrative::{Section, Spec, cell, cell_id};
use crate::xml::Xml;
use crate::{Context, Report, dates, describe};

mod refusal;

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
        refusal::write(x, cx, key, rid, reason);
    }
    x.close();
}

fn reason_not_given(im: &Immunization) -> Option<&CodeableConcept> {
    im.explanation.as_ref()?.reason_not_given.first()
}
