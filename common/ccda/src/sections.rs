//! The document body: one module per clinical area, each turning its GP
//! Connect primary List(s) into one C-CDA section (narrative + entries).
//!
//! Sections are written into a fragment first, so that "Important
//! Information" (which summarises every section's warnings) can go first, as
//! the live Epic integration expects.

mod allergies;
mod documents;
mod encounters;
mod immunisations;
mod important;
mod medications;
mod observations;
mod plan;
mod problems;
mod referrals;
mod results;
mod social;

use crate::cda::{id, template};
use crate::fhir::{List, Resource};
use crate::index::{Entry, Index, Parsed, Resolved};
use crate::narrative::Section;
use crate::xml::Xml;
use crate::{Context, Report};
use std::collections::HashSet;

pub fn write_all(ix: &Index, x: &mut Xml, cx: &Context, report: &mut Report) {
    let depth = x.depth();
    let mut body = Xml::fragment(depth, 64 * 1024);
    let mut rest = Report::default();
    allergies::write(ix, &mut body, cx, &mut rest);
    medications::write(ix, &mut body, cx, &mut rest);
    problems::write(ix, &mut body, cx, &mut rest);
    immunisations::write(ix, &mut body, cx, &mut rest);
    results::write(ix, &mut body, cx, &mut rest);
    observations::write(ix, &mut body, cx, &mut rest);
    social::write(&mut body, &mut rest);
    encounters::write(ix, &mut body, cx, &mut rest);
    referrals::write(ix, &mut body, cx, &mut rest);
    plan::write(ix, &mut body, cx, &mut rest);
    documents::write(ix, &mut body, cx, &mut rest);
    important::write(ix, x, cx, report, &rest);
    x.append(body);
    report.sections.extend(rest.sections);
    report.warnings.extend(rest.warnings);
}

/// An item of a primary List, resolved.
pub enum Item<'a> {
    Ok {
        entry: &'a Entry,
        res: &'a Resource,
        n: usize,
    },
    /// Unreadable or missing; the string is the PHI-free warning.
    Bad(String),
}

/// The items of `lists` in order; a reference repeated across lists is kept once.
pub fn items<'a>(ix: &'a Index, lists: &[(usize, &'a List)]) -> Vec<Item<'a>> {
    let mut out = Vec::new();
    let mut seen: Vec<*const Entry> = Vec::new();
    for (li, l) in lists {
        for (n, e) in l.entry.iter().enumerate() {
            let list_name = l.title.as_deref().unwrap_or("List");
            match e.item.target() {
                Some(r) => match ix.resolve(r, Some(*li)) {
                    Resolved::Found(entry, res) => {
                        let p = entry as *const Entry;
                        if !seen.contains(&p) {
                            seen.push(p);
                            out.push(Item::Ok {
                                entry,
                                res,
                                n: out.len(),
                            });
                        }
                    }
                    Resolved::Unreadable(entry, why) => {
                        out.push(Item::Bad(format!("{}: {why}", entry.label())))
                    }
                    Resolved::Missing => out.push(Item::Bad(format!(
                        "List '{list_name}' entry {n}: referenced resource not in bundle"
                    ))),
                },
                None => out.push(Item::Bad(format!(
                    "List '{list_name}' entry {n}: no reference"
                ))),
            }
        }
    }
    out
}

/// The C-CDA R2.1 templateId plus the R1.1 root-only one (required for
/// templates that existed in R1.1; harmless for the others).
/// An empty `ext` writes the root only (local Xhuma templates).
/// The items for a section: its primary Lists' items (with their warnings as
/// section notes) or, when the bundle has no primary Lists at all, every
/// resource of `resource_type` in bundle order.
pub fn gather<'a>(
    ix: &'a Index,
    s: &mut Section,
    lists: &[(usize, &'a List)],
    resource_type: &str,
    area: &str,
) -> Vec<Item<'a>> {
    if lists.is_empty() && !ix.has_primary_lists() {
        let its = all_of(ix, resource_type);
        if its.is_empty() {
            s.list_notes([], area);
        } else {
            s.paragraph(&format!(
                "This extract has no GP Connect query lists; all {} in the record are shown.",
                area.to_lowercase()
            ));
        }
        return its;
    }
    s.list_notes(lists.iter().map(|(_, l)| *l), area);
    items(ix, lists)
}

/// Every resource of one type; for Observations, only top-level ones (not
/// members of a test group or results of a DiagnosticReport).
pub fn all_of<'a>(ix: &'a Index, resource_type: &str) -> Vec<Item<'a>> {
    let mut nested: HashSet<String> = HashSet::new();
    if resource_type == "Observation" {
        for e in &ix.entries {
            match &e.parsed {
                Parsed::Ok(Resource::DiagnosticReport(d)) => {
                    nested.extend(
                        d.result
                            .iter()
                            .filter_map(|r| r.target())
                            .map(str::to_string),
                    );
                }
                Parsed::Ok(Resource::Observation(o)) => {
                    nested.extend(
                        o.related
                            .iter()
                            .filter_map(|r| r.target.target())
                            .map(str::to_string),
                    );
                }
                _ => {}
            }
        }
    }
    ix.all(resource_type)
        .filter(|e| {
            !nested.contains(&format!(
                "{}/{}",
                e.resource_type,
                e.id.as_deref().unwrap_or("")
            ))
        })
        .enumerate()
        .map(|(n, e)| match &e.parsed {
            Parsed::Ok(r) => Item::Ok {
                entry: e,
                res: r,
                n,
            },
            Parsed::Unreadable(w) => Item::Bad(format!("{}: {w}", e.label())),
        })
        .collect()
}

/// Opens a Concern Act (C-CDA allergy or problem concern, `template_root` 2015-08-01) and
/// writes it up to its effectiveTime: `low` is when the concern was recorded (or `UNK`); an
/// ended concern is `completed` with `high` (or `UNK`). The caller adds the entryRelationship
/// with the observation and closes the act.
pub fn open_concern(
    x: &mut Xml,
    cx: &Context,
    key: &str,
    template_root: &str,
    ended: bool,
    low: Option<&str>,
    high: Option<&str>,
) {
    x.open("act", &[("classCode", "ACT"), ("moodCode", "EVN")]);
    template(x, template_root, "2015-08-01");
    id(x, cx, &format!("{key}/concern"));
    crate::codes::fixed(
        x,
        "code",
        "CONC",
        crate::codes::ACT_CLASS,
        "HL7ActClass",
        "Concern",
    );
    x.empty(
        "statusCode",
        &[("code", if ended { "completed" } else { "active" })],
    );
    x.open("effectiveTime", &[]);
    match low {
        Some(t) => x.empty("low", &[("value", t)]),
        None => x.empty("low", &[("nullFlavor", "UNK")]),
    }
    if ended {
        match high {
            Some(t) => x.empty("high", &[("value", t)]),
            None => x.empty("high", &[("nullFlavor", "UNK")]),
        }
    }
    x.close();
}

/// Free-text notes joined for a cell.
pub fn notes<'a>(n: impl IntoIterator<Item = &'a crate::fhir::Annotation>) -> String {
    n.into_iter()
        .filter_map(|a| a.text.as_deref())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}
