//! Investigations: GP Connect "Investigations and results" (DiagnosticReport →
//! test-group Observations → test-result Observations) → Results Section
//! (entries required, V3): one Result Organizer per report, one Result
//! Observation per test result (groups are flattened, their name kept in the
//! narrative). Filing comments are shown as report notes.
//!

use super::Item;
use crate::cda::{id, template, text_ref, ts};
use crate::codes::{self, LOINC};
use crate::fhir::{CodeableConcept, DiagnosticReport, Observation, Resource};
use crate::index::{Entry, Index, Resolved, list_code};
use crate::narrative::{Section, Spec, cell, cell_id};
use crate::xml::Xml;
use crate::{Context, Report, dates, describe};

static SPEC: Spec = Spec {
    title: "Investigations and results",
    code: "30954-2",
    code_system: LOINC,
    code_system_name: "LOINC",
    display: "Relevant diagnostic tests/laboratory data Narrative",
    template: Some(("2.16.840.1.113883.10.20.22.2.3.1", "2015-08-01")),
    null_when_empty: true,
    prefix: "res",
};

const COLS: &[&str] = &[
    "Test",
    "Result",
    "Reference range",
    "Interpretation",
    "Date",
    "Comment",
];
const FILING_COMMENT: &str = "37331000000100";
const MAX_DEPTH: usize = 4;

pub fn write(ix: &Index, x: &mut Xml, cx: &Context, report: &mut Report) {
    let lists: Vec<_> = ix.lists(list_code::INVESTIGATIONS).collect();
    let mut s = Section::new(&SPEC, x.depth());
    let its = super::gather(
        ix,
        &mut s,
        &lists,
        "DiagnosticReport",
        "Investigations and results",
    );
    s.table(None, COLS);
    for it in its {
        match it {
            Item::Ok {
                entry,
                res: Resource::DiagnosticReport(d),
                n,
            } => report_entry(ix, &mut s, cx, entry, n, d),
            Item::Ok { entry, .. } => {
                s.unreadable_row(format!("{}: not a DiagnosticReport", entry.label()))
            }
            Item::Bad(w) => s.unreadable_row(w),
        }
    }
    s.end_table();
    s.finish(x, report);
}

/// A result to show: the observation, its group name, and its entry.
struct Leaf<'a> {
    entry: &'a Entry,
    obs: &'a Observation,
    group: Option<String>,
}

fn collect<'a>(
    ix: &'a Index,
    reference: &str,
    group: Option<String>,
    depth: usize,
    out: &mut Vec<Leaf<'a>>,
    comments: &mut Vec<String>,
    bad: &mut Vec<String>,
) {
    match ix.resolve(reference, None) {
        Resolved::Found(entry, Resource::Observation(o)) => {
            if out.iter().any(|l| std::ptr::eq(l.entry, entry)) {
                return;
            }
            let is_comment = o.code.as_ref().is_some_and(|c| {
                c.coding
                    .iter()
                    .any(|c| c.code.as_deref() == Some(FILING_COMMENT))
            });
            if is_comment {
                if let Some(t) = o.comment.as_deref().or(o.value_string.as_deref()) {
                    comments.push(t.trim().to_string());
                }
                return;
            }
            let members: Vec<&str> = o
                .related
                .iter()
                .filter(|r| r.type_.as_deref() != Some("derived-from"))
                .filter_map(|r| r.target.target())
                .collect();
            if members.is_empty() || depth >= MAX_DEPTH {
                out.push(Leaf {
                    entry,
                    obs: o,
                    group,
                });
            } else {
                let name = describe::concept(o.code.as_ref());
                if let Some(c) = o.comment.as_deref() {
                    comments.push(format!("{name}: {}", c.trim()));
                }
                for m in members {
                    collect(ix, m, Some(name.clone()), depth + 1, out, comments, bad);
                }
            }
        }
        Resolved::Found(entry, _) => {
            bad.push(format!("{}: result is not an Observation", entry.label()))
        }
        Resolved::Unreadable(entry, why) => bad.push(format!("{}: {why}", entry.label())),
        Resolved::Missing => {
            bad.push("DiagnosticReport result: referenced Observation not in bundle".into())
        }
    }
}

fn report_entry(
    ix: &Index,
    s: &mut Section,
    cx: &Context,
    entry: &Entry,
    n: usize,
    d: &DiagnosticReport,
) {
    let label = entry.label();
    let mut leaves = Vec::new();
    let mut comments = Vec::new();
    let mut bad = Vec::new();
    for r in d.result.iter().filter_map(|r| r.target()) {
        collect(ix, r, None, 0, &mut leaves, &mut comments, &mut bad);
    }
    let specimens: Vec<String> = d
        .specimen
        .iter()
        .filter_map(|r| match ix.get(r.target()) {
            Some(Resource::Specimen(sp)) => sp
                .type_
                .as_ref()
                .and_then(CodeableConcept::label)
                .map(str::to_string),
            _ => None,
        })
        .collect();
    let rid = s.next_id();
    let when = d.issued.as_deref().or(d.effective_date_time.as_deref());
    let mut head = format!(
        "{} \u{2014} {}",
        describe::concept(d.code.as_ref()),
        dates::display(when)
    );
    if !specimens.is_empty() {
        head.push_str(&format!("\nSpecimen: {}", specimens.join(", ")));
    }
    if let Some(c) = d.conclusion.as_deref() {
        head.push_str(&format!("\nConclusion: {c}"));
    }
    for c in &comments {
        head.push_str(&format!("\nComment: {c}"));
    }
    if leaves.is_empty() {
        head.push_str("\nNo test results in this report.");
    }
    let cols = COLS.len().to_string();
    s.nar.open("tr", &[("ID", &rid)]);
    s.nar
        .open_inline("td", &[("colspan", &cols), ("styleCode", "Bold")]);
    s.nar.text(&head, true);
    s.nar.close();
    s.nar.close();
    let mut rows = Vec::new();
    for leaf in &leaves {
        let oid = s.next_id();
        let o = leaf.obs;
        let name = match &leaf.group {
            Some(g) => format!("{g}: {}", describe::concept(o.code.as_ref())),
            None => describe::concept(o.code.as_ref()),
        };
        s.row(
            &oid,
            &[
                cell_id(format!("{oid}-name"), name),
                cell(describe::observation_value(o)),
                cell(
                    o.reference_range
                        .iter()
                        .map(range_text)
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
                cell(
                    o.interpretation
                        .as_ref()
                        .and_then(CodeableConcept::label)
                        .unwrap_or(""),
                ),
                cell(dates::display(o.effective_date_time.as_deref().or(when))),
                cell(o.comment.clone().unwrap_or_default()),
            ],
        );
        rows.push(oid);
    }
    for b in bad {
        s.warnings.push(format!("{label}: {b}"));
    }
    let mut w = Vec::new();
    let key = entry.key(n);
    let report_ts = ts(when, &label, &mut w);
    let x = s.entry();
    x.open(
        "organizer",
        &[("classCode", "BATTERY"), ("moodCode", "EVN")],
    );
    template(x, "2.16.840.1.113883.10.20.22.4.1", "2015-08-01");
    id(x, cx, &key);
    codes::concept(x, "code", d.code.as_ref(), None, None);
    x.empty(
        "statusCode",
        &[(
            "code",
            if d.status.as_deref() == Some("final") || d.status.is_none() {
                "completed"
            } else {
                "active"
            },
        )],
    );
    if let Some(t) = &report_ts {
        x.open("effectiveTime", &[]);
        x.empty("low", &[("value", t)]);
        x.empty("high", &[("value", t)]);
        x.close();
    }
    if leaves.is_empty() {
        x.open("component", &[]);
        observation(
            x,
            cx,
            &format!("{key}/empty"),
            &rid,
            None,
            report_ts.as_deref(),
            &label,
            &mut w,
        );
        x.close();
    }
    for (leaf, oid) in leaves.iter().zip(rows.iter()) {
        x.open("component", &[]);
        observation(
            x,
            cx,
            &leaf.entry.key(0),
            oid,
            Some(leaf.obs),
            report_ts.as_deref(),
            &label,
            &mut w,
        );
        x.close();
    }
    x.close();
    s.end_entry();
    s.warnings.extend(w);
}

/// A Result Observation; `None` writes a placeholder for a report without results.
#[allow(clippy::too_many_arguments)]
fn observation(
    x: &mut Xml,
    cx: &Context,
    key: &str,
    rid: &str,
    o: Option<&Observation>,
    fallback_ts: Option<&str>,
    label: &str,
    w: &mut Vec<String>,
) {
    x.open("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
    template(x, "2.16.840.1.113883.10.20.22.4.2", "2015-08-01");
    id(x, cx, key);
    let name_ref = format!("#{rid}-name");
    codes::concept(
        x,
        "code",
        o.and_then(|o| o.code.as_ref()),
        None,
        o.map(|_| name_ref.as_str()),
    );
    text_ref(x, rid);
    x.empty("statusCode", &[("code", "completed")]);
    let t = o
        .and_then(|o| {
            ts(
                o.effective_date_time.as_deref().or(o.issued.as_deref()),
                label,
                w,
            )
        })
        .or(fallback_ts.map(str::to_string));
    match t {
        Some(t) => x.empty("effectiveTime", &[("value", &t)]),
        None => x.empty("effectiveTime", &[("nullFlavor", "UNK")]),
    }
    match o {
        Some(o) => {
            if !super::observations::value(x, o) {
                x.empty("value", &[("xsi:type", "CD"), ("nullFlavor", "NI")]);
            }
            if let Some(i) = o.interpretation.as_ref().filter(|i| i.primary().is_some()) {
                codes::concept(x, "interpretationCode", Some(i), None, None);
            }
            for r in &o.reference_range {
                super::observations::reference_range(x, r);
            }
        }
        None => x.empty("value", &[("xsi:type", "CD"), ("nullFlavor", "NI")]),
    }
    x.close();
}

pub fn range_text(r: &crate::fhir::ReferenceRange) -> String {
    if let Some(t) = r.text.as_deref() {
        return t.to_string();
    }
    match (&r.low, &r.high) {
        (Some(l), Some(h)) => format!(
            "{} \u{2013} {}",
            describe::quantity(l),
            describe::quantity(h)
        ),
        (Some(l), None) => format!("\u{2265} {}", describe::quantity(l)),
        (None, Some(h)) => format!("\u{2264} {}", describe::quantity(h)),
        (None, None) => String::new(),
    }
}
