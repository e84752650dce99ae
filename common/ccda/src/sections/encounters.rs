//! Consultations: GP Connect "List of consultations" (Encounters) → Encounters
//! Section (entries required, V3), one Encounter Activity per consultation.
//!
//! The narrative shows what was recorded in each consultation, walking the
//! consultation structure: consultation List → topic Lists (with their
//! problem) → category Lists ("History", "Examination", "Plan"…) → items.

use super::Item;
use crate::cda::{id, template, text_ref, ts};
use crate::codes::{self, LOINC};
use crate::fhir::{CodeableConcept, Encounter, List, Resource};
use crate::index::{Index, Resolved, list_code};
use crate::narrative::{Section, Spec, cell, cell_id};
use crate::xml::Xml;
use crate::{Context, Report, dates, describe};

static SPEC: Spec = Spec {
    title: "Consultations",
    code: "46240-8",
    code_system: LOINC,
    code_system_name: "LOINC",
    display: "History of Hospitalizations+Outpatient visits Narrative",
    template: Some(("2.16.840.1.113883.10.20.22.2.22.1", "2015-08-01")),
    null_when_empty: true,
    prefix: "enc",
};

const COLS: &[&str] = &[
    "Date",
    "Consultation",
    "Clinician",
    "Location",
    "Recorded in this consultation",
];
/// Bound on list nesting, against cyclic List references.
const MAX_DEPTH: usize = 4;

pub fn write(ix: &Index, x: &mut Xml, cx: &Context, report: &mut Report) {
    let lists: Vec<_> = ix.lists(list_code::CONSULTATIONS).collect();
    let mut s = Section::new(&SPEC, x.depth());
    let its = super::gather(ix, &mut s, &lists, "Encounter", "Consultations");
    s.table(None, COLS);
    for it in its {
        match it {
            Item::Ok {
                entry,
                res: Resource::Encounter(e),
                n,
            } => {
                let rid = s.next_id();
                let reference = format!("Encounter/{}", entry.id.as_deref().unwrap_or(""));
                let kind = e
                    .type_
                    .first()
                    .and_then(CodeableConcept::label)
                    .unwrap_or("Consultation")
                    .to_string();
                let mut content = String::new();
                let mut heading = kind.clone();
                if let Some((li, l)) = ix.consultation_for(&reference) {
                    if let Some(t) = l.title.as_deref() {
                        heading = t.to_string();
                    }
                    walk(ix, li, l, 0, &mut content);
                }
                let start = e.period.as_ref().and_then(|p| p.start.as_deref());
                s.row(
                    &rid,
                    &[
                        cell(dates::display(start)),
                        cell_id(format!("{rid}-name"), heading),
                        cell(clinician(ix, e)),
                        cell(location(ix, e)),
                        cell(content.trim_end()),
                    ],
                );
                let key = entry.key(n);
                let label = entry.label();
                let mut w = Vec::new();
                let low = ts(start, &label, &mut w);
                let high = ts(
                    e.period.as_ref().and_then(|p| p.end.as_deref()),
                    &label,
                    &mut w,
                );
                let x = s.entry();
                x.open("encounter", &[("classCode", "ENC"), ("moodCode", "EVN")]);
                template(x, "2.16.840.1.113883.10.20.22.4.49", "2015-08-01");
                id(x, cx, &key);
                codes::concept(
                    x,
                    "code",
                    e.type_.first(),
                    None,
                    Some(&format!("#{rid}-name")),
                );
                text_ref(x, &rid);
                crate::cda::ivl(x, "effectiveTime", false, low.as_deref(), high.as_deref());
                x.close();
                s.end_entry();
                s.warnings.extend(w);
            }
            Item::Ok { entry, .. } => {
                s.unreadable_row(format!("{}: not an Encounter", entry.label()))
            }
            Item::Bad(w) => s.unreadable_row(w),
        }
    }
    s.end_table();
    s.finish(x, report);
}

/// Appends the headings and items under a consultation/topic/category List.
fn walk(ix: &Index, li: usize, l: &List, depth: usize, out: &mut String) {
    if depth >= MAX_DEPTH {
        return;
    }
    for e in &l.entry {
        let target = e.item.target();
        match target.map(|t| ix.resolve(t, Some(li))) {
            Some(Resolved::Found(entry, Resource::List(sub))) => {
                let Some(sub_i) = ix.entries.iter().position(|x| std::ptr::eq(x, entry)) else {
                    continue;
                };
                let is_topic = crate::index::is_list_code(sub, list_code::TOPIC);
                let title = sub
                    .title
                    .as_deref()
                    .unwrap_or(if is_topic { "" } else { "Item" });
                if is_topic {
                    if !title.is_empty() {
                        out.push_str(&format!("Topic: {title}\n"));
                    }
                    walk(ix, sub_i, sub, depth + 1, out);
                } else {
                    let mut inner = String::new();
                    walk(ix, sub_i, sub, depth + 1, &mut inner);
                    out.push_str(&format!(
                        "{title}: {}\n",
                        inner.trim_end().replace('\n', "; ")
                    ));
                }
            }
            _ => {
                let d = describe::reference(ix, target, e.item.display.as_deref(), Some(li));
                out.push_str(&d);
                out.push('\n');
            }
        }
    }
}

fn clinician(ix: &Index, e: &Encounter) -> String {
    let pprf = e
        .participant
        .iter()
        .find(|p| {
            p.type_
                .iter()
                .any(|t| t.coding.iter().any(|c| c.code.as_deref() == Some("PPRF")))
        })
        .or(e.participant.first());
    match ix.get(
        pprf.and_then(|p| p.individual.as_ref())
            .and_then(|r| r.target()),
    ) {
        Some(Resource::Practitioner(p)) => crate::fhir::HumanName::best(&p.name)
            .map(crate::fhir::HumanName::display)
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn location(ix: &Index, e: &Encounter) -> String {
    match ix.get(
        e.location
            .first()
            .and_then(|l| l.location.as_ref())
            .and_then(|r| r.target()),
    ) {
        Some(Resource::Location(l)) => l.name.clone().unwrap_or_default(),
        _ => String::new(),
    }
}
