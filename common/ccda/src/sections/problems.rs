//! Problems: GP Connect "Problems" (ProblemHeader Conditions) → Problem
//! Section (entries required, V3), one Problem Concern Act per problem.
//!
//! Each Problem Observation carries a coded Problem Status observation
//! (active / inactive / resolved…, from `clinicalStatus`), so an EHR need not
//! infer the status from the concern act or the table it sits in.
//!
//! Active and inactive problems get separate tables; significance, onset,
//! end and the items the GP linked to the problem (RelatedClinicalContent,
//! ActualProblem) are shown in the narrative.

use super::{Item, notes, open_concern};
use crate::cda::{id, ivl, template, text_ref, ts};
use crate::codes::{self, LOINC, SNOMED};
use crate::fhir::{CodeableConcept, Condition, Extensions, Resource};
use crate::index::{Index, list_code};
use crate::narrative::{Section, Spec, cell, cell_id};
use crate::xml::Xml;
use crate::{Context, Report, dates, describe};

static SPEC: Spec = Spec {
    title: "Problems",
    code: "11450-4",
    code_system: LOINC,
    code_system_name: "LOINC",
    display: "Problem list - Reported",
    template: Some(("2.16.840.1.113883.10.20.22.2.5.1", "2015-08-01")),
    null_when_empty: true,
    prefix: "prb",
};

const COLS: &[&str] = &[
    "Problem",
    "Significance",
    "Onset",
    "Ended",
    "Recorded",
    "Linked items",
    "Notes",
];

pub fn write(ix: &Index, x: &mut Xml, cx: &Context, report: &mut Report) {
    let lists: Vec<_> = ix.lists(list_code::PROBLEMS).collect();
    let mut s = Section::new(&SPEC, x.depth());
    let all = super::gather(ix, &mut s, &lists, "Condition", "Problems");
    let (inactive, active): (Vec<_>, Vec<_>) = all.into_iter().partition(|it| match it {
        Item::Ok {
            res: Resource::Condition(c),
            ..
        } => is_inactive(c),
        _ => false,
    });
    for (caption, group, ended) in [
        ("Active problems", active, false),
        ("Inactive problems", inactive, true),
    ] {
        s.table(Some(caption), COLS);
        for it in group {
            match it {
                Item::Ok {
                    entry,
                    res: Resource::Condition(c),
                    n,
                } => {
                    let rid = s.next_id();
                    let code = problem_code(ix, c);
                    let linked = linked(ix, c);
                    let sig = c
                        .ext("ProblemSignificance-1")
                        .and_then(|e| e.value_code.as_deref())
                        .map(|v| {
                            if v == "major" {
                                "Major"
                            } else if v == "minor" {
                                "Minor"
                            } else {
                                v
                            }
                        })
                        .unwrap_or("");
                    s.row(
                        &rid,
                        &[
                            cell_id(format!("{rid}-name"), describe::concept(code)),
                            cell(sig),
                            cell(dates::display(c.onset_date_time.as_deref())),
                            cell(dates::display(c.abatement_date_time.as_deref())),
                            cell(dates::display(c.asserted_date.as_deref())),
                            cell(linked),
                            cell(notes(&c.note)),
                        ],
                    );
                    let key = entry.key(n);
                    let label = entry.label();
                    let mut w = Vec::new();
                    let xw = s.entry();
                    entry_xml(xw, cx, &key, &rid, c, code, ended, &label, &mut w);
                    s.end_entry();
                    s.warnings.extend(w);
                }
                Item::Ok { entry, .. } => {
                    s.unreadable_row(format!("{}: not a Condition", entry.label()))
                }
                Item::Bad(w) => s.unreadable_row(w),
            }
        }
        s.end_table();
    }
    s.finish(x, report);
}

fn is_inactive(c: &Condition) -> bool {
    matches!(
        c.clinical_status.as_deref(),
        Some("inactive" | "resolved" | "remission")
    )
}

/// The Condition's code, or the code of the ActualProblem item it points to.
fn problem_code<'a>(ix: &'a Index, c: &'a Condition) -> Option<&'a CodeableConcept> {
    if c.code.as_ref().is_some_and(|cc| cc.label().is_some()) {
        return c.code.as_ref();
    }
    let actual = c
        .ext("ActualProblem-1")
        .and_then(|e| e.value_reference.as_ref())
        .and_then(|r| r.target());
    match ix.get(actual) {
        Some(Resource::Observation(o)) => o.code.as_ref(),
        Some(Resource::Condition(c2)) => c2.code.as_ref(),
        Some(Resource::AllergyIntolerance(a)) => a.code.as_ref(),
        Some(Resource::Immunization(i)) => i.vaccine_code.as_ref(),
        _ => c.code.as_ref(),
    }
}

fn linked(ix: &Index, c: &Condition) -> String {
    let mut out: Vec<String> = Vec::new();
    for e in c.exts("RelatedClinicalContent-1") {
        let r = e.value_reference.as_ref();
        let target = r.and_then(|r| r.target());
        // consultation structure lists are navigation aids, not clinical items
        if target.is_some_and(|t| t.starts_with("List/")) {
            continue;
        }
        let d = describe::reference(ix, target, r.and_then(|r| r.display.as_deref()), None);
        if !out.contains(&d) {
            out.push(d);
        }
    }
    for e in c.exts("RelatedProblemHeader-1") {
        let kind = e
            .ext("type")
            .and_then(|t| t.value_code.as_deref())
            .unwrap_or("related");
        let target = e.ext("target").and_then(|t| t.value_reference.as_ref());
        let d = describe::reference(
            ix,
            target.and_then(|r| r.target()),
            target.and_then(|r| r.display.as_deref()),
            None,
        );
        out.push(format!("{kind}: {d}"));
    }
    out.join("\n")
}

#[allow(clippy::too_many_arguments)]
fn entry_xml(
    x: &mut Xml,
    cx: &Context,
    key: &str,
    rid: &str,
    c: &Condition,
    code: Option<&CodeableConcept>,
    ended: bool,
    label: &str,
    w: &mut Vec<String>,
) {
    let onset = ts(c.onset_date_time.as_deref(), label, w);
    let abated = ts(c.abatement_date_time.as_deref(), label, w);
    let asserted = ts(c.asserted_date.as_deref(), label, w);
    open_concern(
        x,
        cx,
        key,
        "2.16.840.1.113883.10.20.22.4.3",
        ended,
        asserted.as_deref().or(onset.as_deref()),
        abated.as_deref(),
    );
    x.open("entryRelationship", &[("typeCode", "SUBJ")]);
    x.open("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
    template(x, "2.16.840.1.113883.10.20.22.4.4", "2015-08-01");
    id(x, cx, key);
    x.open(
        "code",
        &[
            ("code", "55607006"),
            ("codeSystem", SNOMED),
            ("codeSystemName", "SNOMED CT"),
            ("displayName", "Problem"),
        ],
    );
    x.empty(
        "translation",
        &[
            ("code", "75326-9"),
            ("codeSystem", LOINC),
            ("codeSystemName", "LOINC"),
            ("displayName", "Problem"),
        ],
    );
    x.close();
    text_ref(x, rid);
    x.empty("statusCode", &[("code", "completed")]);
    ivl(
        x,
        "effectiveTime",
        false,
        onset.as_deref(),
        abated.as_deref(),
    );
    codes::concept(x, "value", code, Some("CD"), Some(&format!("#{rid}-name")));
    if let Some((code, display)) = problem_status(c.clinical_status.as_deref()) {
        x.open("entryRelationship", &[("typeCode", "REFR")]);
        x.open("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
        template(x, "2.16.840.1.113883.10.20.22.4.6", "2019-06-20");
        codes::fixed(x, "code", "33999-4", LOINC, "LOINC", "Status");
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
    x.close();
}

/// FHIR `Condition.clinicalStatus` → the C-CDA Problem Status value set (SNOMED CT).
fn problem_status(s: Option<&str>) -> Option<(&'static str, &'static str)> {
    match s? {
        "active" => Some(("55561003", "Active")),
        "recurrence" => Some(("246455001", "Recurrence")),
        "inactive" => Some(("73425007", "Inactive")),
        "remission" => Some(("277022003", "Remission phase")),
        "resolved" => Some(("413322009", "Problem resolved")),
        _ => None,
    }
}
