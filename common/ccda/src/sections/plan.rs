//! Diary entries: GP Connect "Patient recall administration"
//! (ProcedureRequests) → Plan of Treatment Section (V2), one Planned Act per
//! recall or diary entry, dated by when it is due.

use super::{Item, notes};
use crate::cda::{id, template, text_ref, ts};
use crate::codes::{self, LOINC};
use crate::fhir::Resource;
use crate::index::{Index, list_code};
use crate::narrative::{Section, Spec, cell, cell_id};
use crate::xml::Xml;
use crate::{Context, Report, dates, describe};

static SPEC: Spec = Spec {
    title: "Recalls and diary entries",
    code: "18776-5",
    code_system: LOINC,
    code_system_name: "LOINC",
    display: "Plan of care note",
    template: Some(("2.16.840.1.113883.10.20.22.2.10", "2014-06-09")),
    null_when_empty: true,
    prefix: "pln",
};

const COLS: &[&str] = &["Due", "Item", "Status", "Recorded", "Notes"];

pub fn write(ix: &Index, x: &mut Xml, cx: &Context, report: &mut Report) {
    let lists: Vec<_> = ix.lists(list_code::RECALLS).collect();
    let mut s = Section::new(&SPEC, x.depth());
    let its = super::gather(
        ix,
        &mut s,
        &lists,
        "ProcedureRequest",
        "Recalls and diary entries",
    );
    s.table(None, COLS);
    for it in its {
        match it {
            Item::Ok {
                entry,
                res: Resource::ProcedureRequest(p),
                n,
            } => {
                let rid = s.next_id();
                let due = p.occurrence_date_time.as_deref().or_else(|| {
                    p.occurrence_period
                        .as_ref()
                        .and_then(|p| p.start.as_deref())
                });
                s.row(
                    &rid,
                    &[
                        cell(dates::display(due)),
                        cell_id(format!("{rid}-name"), describe::concept(p.code.as_ref())),
                        cell(p.status.clone().unwrap_or_default()),
                        cell(dates::display(p.authored_on.as_deref())),
                        cell(notes(&p.note)),
                    ],
                );
                let key = entry.key(n);
                let label = entry.label();
                let mut w = Vec::new();
                let t = ts(due, &label, &mut w);
                let x = s.entry();
                x.open("act", &[("classCode", "ACT"), ("moodCode", "INT")]);
                template(x, "2.16.840.1.113883.10.20.22.4.39", "2014-06-09");
                id(x, cx, &key);
                codes::concept(
                    x,
                    "code",
                    p.code.as_ref(),
                    None,
                    Some(&format!("#{rid}-name")),
                );
                text_ref(x, &rid);
                x.empty("statusCode", &[("code", "active")]);
                match t {
                    Some(t) => x.empty("effectiveTime", &[("value", &t)]),
                    None => x.empty("effectiveTime", &[("nullFlavor", "UNK")]),
                }
                x.close();
                s.end_entry();
                s.warnings.extend(w);
            }
            Item::Ok { entry, .. } => {
                s.unreadable_row(format!("{}: not a ProcedureRequest", entry.label()))
            }
            Item::Bad(w) => s.unreadable_row(w),
        }
    }
    s.end_table();
    s.finish(x, report);
}
