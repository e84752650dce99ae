//! Uncategorised data: GP Connect "Uncategorised data" Observations → two
//! sections. Recognised vital signs (weight, height, BMI, pulse, respiratory
//! rate, temperature, oxygen saturation, blood pressure) with a numeric value
//! go to the Vital Signs Section (V3) as Vital Signs Organizers, with LOINC as
//! the code and the GP's SNOMED code as translation. Everything else goes to
//! "Other observations", a section with a local Xhuma template (no C-CDA
//! template fits GP "miscellaneous record" data), as plain observations with
//! their SNOMED code, value, range and comment.

use super::Item;
use crate::cda::{id, template, text_ref, ts};
use crate::codes::{self, LOINC, SNOMED};
use crate::fhir::{CodeableConcept, Observation, Quantity, Resource};
use crate::index::{Index, list_code};
use crate::narrative::{Section, Spec, cell, cell_id};
use crate::xml::Xml;

mod values;
use crate::{Context, Report, dates, describe};
use values::{pq, pq_ok};
pub use values::{reference_range, value};

static VITALS: Spec = Spec {
    title: "Vital signs",
    code: "8716-3",
    code_system: LOINC,
    code_system_name: "LOINC",
    display: "Vital signs",
    template: Some(("2.16.840.1.113883.10.20.22.2.4.1", "2015-08-01")),
    null_when_empty: true,
    prefix: "vit",
};

static OTHER: Spec = Spec {
    title: "Other observations (uncategorised data)",
    code: "826501000000100",
    code_system: SNOMED,
    code_system_name: "SNOMED CT",
    display: "Miscellaneous record",
    template: Some((OTHER_SECTION_TEMPLATE, "")),
    null_when_empty: true,
    prefix: "obs",
};

/// Local template ids (OIDs under 2.25 from name-based UUIDs), so consumers that
/// dispatch on `templateId` can recognise these sections and entries.
pub const OTHER_SECTION_TEMPLATE: &str = "2.25.335194278419899206810444367717809822616";
const OTHER_ENTRY_TEMPLATE: &str = "2.25.14723259231421627676143827231717728386";

const VITAL_COLS: &[&str] = &["Measurement", "Value", "Date", "Comment"];
const OTHER_COLS: &[&str] = &[
    "Observation",
    "Value",
    "Reference range",
    "Interpretation",
    "Date",
    "Comment",
];

/// SNOMED code → (LOINC code, LOINC display).
const VITAL_MAP: &[(&str, &str, &str)] = &[
    ("27113001", "29463-7", "Body weight"),
    ("50373000", "8302-2", "Body height"),
    ("60621009", "39156-5", "Body mass index (BMI) [Ratio]"),
    ("364075005", "8867-4", "Heart rate"),
    ("78564009", "8867-4", "Heart rate"),
    ("86290005", "9279-1", "Respiratory rate"),
    ("276885007", "8310-5", "Body temperature"),
    ("386725007", "8310-5", "Body temperature"),
    (
        "103228002",
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
    ),
    (
        "431314004",
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
    ),
    ("72313002", "8480-6", "Systolic blood pressure"),
    ("271649006", "8480-6", "Systolic blood pressure"),
    ("163030003", "8480-6", "Systolic blood pressure"),
    ("1091811000000102", "8462-4", "Diastolic blood pressure"),
    ("271650006", "8462-4", "Diastolic blood pressure"),
    ("163031004", "8462-4", "Diastolic blood pressure"),
];

/// The GP's code, the LOINC (code, display) it maps to, and the value.
type Vital<'a> = (
    &'a CodeableConcept,
    (&'static str, &'static str),
    &'a Quantity,
);

fn vital_of(cc: Option<&CodeableConcept>) -> Option<(&'static str, &'static str)> {
    let cc = cc?;
    cc.coding
        .iter()
        .filter(|c| c.system.as_deref() == Some(codes::SNOMED_URI))
        .find_map(|c| {
            VITAL_MAP
                .iter()
                .find(|(s, _, _)| Some(*s) == c.code.as_deref())
                .map(|(_, l, d)| (*l, *d))
        })
}

/// `(code, quantity)` pairs if `o` is a recognised vital sign with numeric values.
fn vitals(o: &Observation) -> Option<Vec<Vital<'_>>> {
    if let (Some(q), Some(v)) = (o.value_quantity.as_ref(), vital_of(o.code.as_ref())) {
        let code = o.code.as_ref()?;
        return pq_ok(q).then(|| vec![(code, v, q)]);
    }
    if o.component.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for c in &o.component {
        let (Some(code), Some(q)) = (c.code.as_ref(), c.value_quantity.as_ref()) else {
            return None;
        };
        let v = vital_of(Some(code))?;
        if !pq_ok(q) {
            return None;
        }
        out.push((code, v, q));
    }
    Some(out)
}

pub fn write(ix: &Index, x: &mut Xml, cx: &Context, report: &mut Report) {
    let lists: Vec<_> = ix.lists(list_code::UNCATEGORISED).collect();
    let mut vs = Section::new(&VITALS, x.depth());
    let mut other = Section::new(&OTHER, x.depth());
    let its = super::gather(ix, &mut other, &lists, "Observation", "Uncategorised data");
    vs.list_notes(
        lists.iter().map(|(_, l)| *l),
        "Uncategorised data (including vital signs)",
    );
    vs.table(None, VITAL_COLS);
    other.table(None, OTHER_COLS);
    for it in its {
        match it {
            Item::Ok {
                entry,
                res: Resource::Observation(o),
                n,
            } => {
                let key = entry.key(n);
                let label = entry.label();
                let mut w = Vec::new();
                let when = o
                    .effective_date_time
                    .as_deref()
                    .or_else(|| o.effective_period.as_ref().and_then(|p| p.start.as_deref()));
                let t = ts(when, &label, &mut w);
                if let Some(vals) = vitals(o) {
                    let rid = vs.next_id();
                    vs.row(
                        &rid,
                        &[
                            cell(describe::concept(o.code.as_ref())),
                            cell(describe::observation_value(o)),
                            cell(dates::display(when)),
                            cell(o.comment.clone().unwrap_or_default()),
                        ],
                    );
                    let x = vs.entry();
                    x.open(
                        "organizer",
                        &[("classCode", "CLUSTER"), ("moodCode", "EVN")],
                    );
                    template(x, "2.16.840.1.113883.10.20.22.4.26", "2015-08-01");
                    id(x, cx, &key);
                    x.open(
                        "code",
                        &[
                            ("code", "46680005"),
                            ("codeSystem", SNOMED),
                            ("codeSystemName", "SNOMED CT"),
                            ("displayName", "Vital signs"),
                        ],
                    );
                    x.empty("translation", &[("code", "74728-7"), ("codeSystem", LOINC), ("codeSystemName", "LOINC"), ("displayName", "Vital signs, weight, height, head circumference, oximetry, BMI, and BSA panel")]);
                    x.close();
                    x.empty("statusCode", &[("code", "completed")]);
                    effective(x, t.as_deref());
                    for (i, (code, (loinc, disp), q)) in vals.into_iter().enumerate() {
                        x.open("component", &[]);
                        x.open("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
                        template(x, "2.16.840.1.113883.10.20.22.4.27", "2014-06-09");
                        id(x, cx, &format!("{key}/{i}"));
                        x.open(
                            "code",
                            &[
                                ("code", loinc),
                                ("codeSystem", LOINC),
                                ("codeSystemName", "LOINC"),
                                ("displayName", disp),
                            ],
                        );
                        if let Some(c) = code
                            .primary()
                            .filter(|c| c.system.as_deref() == Some(codes::SNOMED_URI))
                        {
                            let mut a = vec![
                                ("code", c.code.as_deref().unwrap_or_default()),
                                ("codeSystem", SNOMED),
                                ("codeSystemName", "SNOMED CT"),
                            ];
                            if let Some(d) = c.display.as_deref() {
                                a.push(("displayName", d));
                            }
                            x.empty("translation", &a);
                        }
                        x.close();
                        text_ref(x, &rid);
                        x.empty("statusCode", &[("code", "completed")]);
                        effective(x, t.as_deref());
                        pq(x, "value", q);
                        x.close();
                        x.close();
                    }
                    x.close();
                    vs.end_entry();
                    vs.warnings.extend(w);
                } else {
                    let rid = other.next_id();
                    other.row(
                        &rid,
                        &[
                            cell_id(format!("{rid}-name"), describe::concept(o.code.as_ref())),
                            cell(describe::observation_value(o)),
                            cell(
                                o.reference_range
                                    .iter()
                                    .map(super::results::range_text)
                                    .collect::<Vec<_>>()
                                    .join("\n"),
                            ),
                            cell(
                                o.interpretation
                                    .as_ref()
                                    .and_then(CodeableConcept::label)
                                    .unwrap_or(""),
                            ),
                            cell(dates::display(when)),
                            cell(o.comment.clone().unwrap_or_default()),
                        ],
                    );
                    let x = other.entry();
                    x.open("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
                    template(x, OTHER_ENTRY_TEMPLATE, "");
                    id(x, cx, &key);
                    codes::concept(
                        x,
                        "code",
                        o.code.as_ref(),
                        None,
                        Some(&format!("#{rid}-name")),
                    );
                    text_ref(x, &rid);
                    x.empty("statusCode", &[("code", "completed")]);
                    effective(x, t.as_deref());
                    value(x, o);
                    if let Some(i) = o.interpretation.as_ref().filter(|i| i.primary().is_some()) {
                        codes::concept(x, "interpretationCode", Some(i), None, None);
                    }
                    if let Some(b) = o.body_site.as_ref().filter(|b| b.primary().is_some()) {
                        codes::concept(x, "targetSiteCode", Some(b), None, None);
                    }
                    for r in &o.reference_range {
                        reference_range(x, r);
                    }
                    x.close();
                    other.end_entry();
                    other.warnings.extend(w);
                }
            }
            Item::Ok { entry, .. } => {
                other.unreadable_row(format!("{}: not an Observation", entry.label()))
            }
            Item::Bad(w) => other.unreadable_row(w),
        }
    }
    vs.end_table();
    other.end_table();
    vs.finish(x, report);
    other.finish(x, report);
}

fn effective(x: &mut Xml, t: Option<&str>) {
    match t {
        Some(t) => x.empty("effectiveTime", &[("value", t)]),
        None => x.empty("effectiveTime", &[("nullFlavor", "UNK")]),
    }
}
