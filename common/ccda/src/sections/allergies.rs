//! Allergies and adverse reactions: GP Connect "Allergies and adverse
//! reactions" (current) and "Ended allergies" → Allergies and Intolerances
//! Section (entries required, V3) with one Allergy Concern Act per item.
//!
//! Severity (per reaction, a Severity Observation inside the Reaction
//! Observation) and criticality (a Criticality Observation on the allergy)
//! are coded, not only narrative: EHR reconciliation reads the entries.
//!
//! An allergy is shown as ended (concern `completed`, its own table) when it
//! comes from the ended list, has `clinicalStatus` resolved, or carries the
//! AllergyIntoleranceEnd extension: an ended allergy never appears active.

use super::{Item, items, notes, open_concern};
use crate::cda::{id, ivl, template, text_ref, ts};

mod reactions;
use crate::codes::{self, LOINC, SNOMED};
use crate::fhir::{AllergyIntolerance, Extensions, Resource};
use crate::index::{Index, list_code};
use crate::narrative::{Section, Spec, cell, cell_id};
use crate::xml::Xml;
use crate::{Context, Report, dates, describe};
use reactions::{criticality_xml, reaction_xml, severity};

static SPEC: Spec = Spec {
    title: "Allergies and adverse reactions",
    code: "48765-2",
    code_system: LOINC,
    code_system_name: "LOINC",
    display: "Allergies and adverse reactions Document",
    template: Some(("2.16.840.1.113883.10.20.22.2.6.1", "2015-08-01")),
    null_when_empty: true,
    prefix: "alg",
};

const CURRENT: &[&str] = &[
    "Allergen",
    "Reaction",
    "Severity / criticality",
    "Type",
    "Onset",
    "Recorded",
    "Notes",
];
const ENDED: &[&str] = &[
    "Allergen",
    "Reaction",
    "Severity / criticality",
    "Type",
    "Onset",
    "Ended",
    "Reason ended",
    "Notes",
];

pub fn write(ix: &Index, x: &mut Xml, cx: &Context, report: &mut Report) {
    let current_lists: Vec<_> = ix.lists(list_code::ALLERGIES).collect();
    let ended_lists: Vec<_> = ix.lists(list_code::ENDED_ALLERGIES).collect();
    let mut s = Section::new(&SPEC, x.depth());
    let fallback = current_lists.is_empty() && ended_lists.is_empty() && !ix.has_primary_lists();
    let firsts = if fallback {
        super::gather(ix, &mut s, &[], "AllergyIntolerance", "Allergies")
    } else {
        s.list_notes(
            current_lists
                .iter()
                .chain(ended_lists.iter())
                .map(|(_, l)| *l),
            "Allergies",
        );
        items(ix, &current_lists)
    };
    let mut current = Vec::new();
    let mut ended = Vec::new();
    for it in firsts {
        match &it {
            Item::Ok {
                res: Resource::AllergyIntolerance(a),
                ..
            } if is_ended(a) => ended.push(it),
            _ => current.push(it),
        }
    }
    ended.extend(items(ix, &ended_lists));

    for (caption, headers, group, is_ended_table) in [
        (
            "Current allergies and adverse reactions",
            CURRENT,
            current,
            false,
        ),
        ("Ended allergies", ENDED, ended, true),
    ] {
        s.table(Some(caption), headers);
        for it in group {
            match it {
                Item::Ok {
                    entry,
                    res: Resource::AllergyIntolerance(a),
                    n,
                } => {
                    let rid = s.next_id();
                    row(&mut s, &rid, a, is_ended_table);
                    let key = entry.key(n);
                    let x = s.entry();
                    let mut w = Vec::new();
                    entry_xml(
                        x,
                        cx,
                        &key,
                        &rid,
                        a,
                        is_ended_table || is_ended(a),
                        &entry.label(),
                        &mut w,
                    );
                    s.end_entry();
                    s.warnings.extend(w);
                }
                Item::Ok { entry, .. } => {
                    s.unreadable_row(format!("{}: not an AllergyIntolerance", entry.label()))
                }
                Item::Bad(w) => s.unreadable_row(w),
            }
        }
        s.end_table();
    }
    s.finish(x, report);
}

fn is_ended(a: &AllergyIntolerance) -> bool {
    matches!(a.clinical_status.as_deref(), Some("resolved" | "inactive"))
        || a.ext("AllergyIntoleranceEnd-1").is_some()
}

fn end_info(a: &AllergyIntolerance) -> (Option<&str>, Option<&str>) {
    let e = a.ext("AllergyIntoleranceEnd-1");
    let date = e
        .and_then(|e| e.ext("endDate"))
        .and_then(|e| e.value_date_time.as_deref().or(e.value_date.as_deref()));
    let reason = e
        .and_then(|e| e.ext("reasonEnded"))
        .and_then(|e| e.value_string.as_deref());
    (date, reason)
}

fn onset(a: &AllergyIntolerance) -> Option<&str> {
    a.onset_date_time
        .as_deref()
        .or_else(|| a.onset_period.as_ref().and_then(|p| p.start.as_deref()))
}

fn reactions(a: &AllergyIntolerance) -> String {
    a.reaction
        .iter()
        .map(|r| {
            let m: Vec<String> = r
                .manifestation
                .iter()
                .map(|m| describe::concept(Some(m)))
                .collect();
            let mut s = m.join(", ");
            if let Some(d) = r.description.as_deref() {
                s = if s.is_empty() {
                    d.to_string()
                } else {
                    format!("{s} ({d})")
                };
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn category(a: &AllergyIntolerance) -> (&'static str, &'static str, &'static str) {
    match a.category.first().map(String::as_str) {
        Some("medication") => ("416098002", "Allergy to drug", "Medication"),
        Some("food") => ("414285001", "Allergy to food", "Food"),
        Some("environment") => ("426232007", "Environmental allergy", "Environment"),
        Some("biologic") => ("419199007", "Allergy to substance", "Biologic"),
        _ => (
            "420134006",
            "Propensity to adverse reactions",
            "Not recorded",
        ),
    }
}

/// `severe; criticality low`, for the narrative (the entries code both).
fn severity_text(a: &AllergyIntolerance) -> String {
    let sev = a
        .reaction
        .iter()
        .filter_map(|r| r.severity.as_deref())
        .collect::<Vec<_>>()
        .join(", ");
    let crit = a
        .criticality
        .as_deref()
        .map(|c| format!("criticality {c}"))
        .unwrap_or_default();
    [sev, crit]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn row(s: &mut Section, rid: &str, a: &AllergyIntolerance, ended: bool) {
    let name = describe::concept(a.code.as_ref());
    let mut note = notes(&a.note);
    if a.verification_status.as_deref() == Some("unconfirmed") {
        note = format!("Unconfirmed\n{note}").trim_end().to_string();
    }
    let onset_s = dates::display(onset(a));
    let cat = category(a).2.to_string();
    if ended {
        let (end, reason) = end_info(a);
        s.row(
            rid,
            &[
                cell_id(format!("{rid}-name"), name),
                cell(reactions(a)),
                cell(severity_text(a)),
                cell(cat),
                cell(onset_s),
                cell(dates::display(end)),
                cell(reason.unwrap_or("")),
                cell(note),
            ],
        );
    } else {
        let sc = severity_text(a);
        s.row(
            rid,
            &[
                cell_id(format!("{rid}-name"), name),
                cell(reactions(a)),
                cell(sc),
                cell(cat),
                cell(onset_s),
                cell(dates::display(a.asserted_date.as_deref())),
                cell(note),
            ],
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn entry_xml(
    x: &mut Xml,
    cx: &Context,
    key: &str,
    rid: &str,
    a: &AllergyIntolerance,
    ended: bool,
    label: &str,
    w: &mut Vec<String>,
) {
    let asserted = ts(a.asserted_date.as_deref(), label, w);
    let onset_ts = ts(onset(a), label, w);
    let (end, _) = end_info(a);
    let end_ts = ts(end, label, w);
    open_concern(
        x,
        cx,
        key,
        "2.16.840.1.113883.10.20.22.4.30",
        ended,
        asserted.as_deref(),
        end_ts.as_deref(),
    );
    x.open("entryRelationship", &[("typeCode", "SUBJ")]);
    x.open("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
    template(x, "2.16.840.1.113883.10.20.22.4.7", "2014-06-09");
    id(x, cx, key);
    codes::fixed(
        x,
        "code",
        "ASSERTION",
        codes::ACT_CODE,
        "ActCode",
        "Assertion",
    );
    text_ref(x, rid);
    x.empty("statusCode", &[("code", "completed")]);
    ivl(
        x,
        "effectiveTime",
        false,
        onset_ts.as_deref(),
        if ended { end_ts.as_deref() } else { None },
    );
    let (code, disp, _) = category(a);
    x.empty(
        "value",
        &[
            ("xsi:type", "CD"),
            ("code", code),
            ("codeSystem", SNOMED),
            ("codeSystemName", "SNOMED CT"),
            ("displayName", disp),
        ],
    );
    x.open("participant", &[("typeCode", "CSM")]);
    x.open("participantRole", &[("classCode", "MANU")]);
    x.open("playingEntity", &[("classCode", "MMAT")]);
    let name_ref = format!("#{rid}-name");
    codes::concept(x, "code", a.code.as_ref(), None, Some(&name_ref));
    x.close();
    x.close();
    x.close();
    let mut i = 0;
    for r in &a.reaction {
        let sev = severity(r.severity.as_deref());
        let manifestations: Vec<Option<&crate::fhir::CodeableConcept>> =
            if r.manifestation.is_empty() && sev.is_some() {
                vec![None]
            } else {
                r.manifestation.iter().map(Some).collect()
            };
        for m in manifestations {
            reaction_xml(x, cx, &format!("{key}/reaction/{i}"), m, sev);
            i += 1;
        }
    }
    criticality_xml(x, a.criticality.as_deref());
    x.close();
    x.close();
    x.close();
}
