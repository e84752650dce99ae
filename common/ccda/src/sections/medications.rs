//! Medications: GP Connect "Medications and medical devices" → the
//! Medications Section (entries required, V2) with two tables, "Active
//! Medications" and "Past Medications". Which table a medication goes in is
//! decided by [`status::classify`] from the statement *and* its authorisation
//! (plan status, status reason, end dates, authorisation expiry), not from
//! `MedicationStatement.status` alone. (One section, not two: the CCD allows
//! exactly one Medications Section, and consumers such as Medplum reject
//! medication entries under any other section template.)
//!
//! Each MedicationStatement becomes a Medication Activity with: the Medication
//! code (dm+d/SNOMED first, EMIS/Multilex/Gemscript as translations), a
//! `PIVL_TS` period when the dosage has a structured `timing.repeat`, a coded
//! `doseQuantity` (a `low`/`high` range for a `doseRange`) when the dosage has
//! a structured dose, the dosage text as a Free Text Sig, the authorising MedicationRequest (`intent` plan, via
//! `basedOn`) as a Medication Supply Order with its repeats, and each issue
//! (`intent` order, `basedOn` → plan) as a further supply order.

use super::{Item, notes};
use crate::codes::LOINC;
use crate::fhir::{Extensions, MedicationRequest, MedicationStatement, Resource};
use crate::index::{Index, Parsed, list_code};
use crate::narrative::{Section, Spec, cell, cell_id};
use crate::xml::Xml;
use crate::{Context, Report, dates, describe};
use std::collections::HashMap;

mod dose;
mod entry;
mod status;
mod timing;
use entry::entry_xml;
use status::Status;

static SPEC: Spec = Spec {
    title: "Medications",
    code: "10160-0",
    code_system: LOINC,
    code_system_name: "LOINC",
    display: "History of Medication use Narrative",
    template: Some(("2.16.840.1.113883.10.20.22.2.1.1", "2014-06-09")),
    null_when_empty: true,
    prefix: "med",
};

const ACTIVE_COLS: &[&str] = &[
    "Medication",
    "Dosage instructions",
    "Quantity",
    "Type",
    "Start date",
    "Last issued",
    "Repeats issued / allowed",
    "Prescriber",
    "Notes",
];
const PAST_COLS: &[&str] = &[
    "Medication",
    "Dosage instructions",
    "Quantity",
    "Type",
    "Start date",
    "End date",
    "Status",
    "Status reason",
    "Last issued",
    "Notes",
];

/// A statement with its authorisation and issues.
pub(super) struct Med<'a> {
    pub(super) ms: &'a MedicationStatement,
    pub(super) plan: Option<&'a MedicationRequest>,
    pub(super) plan_ref: Option<&'a str>,
    pub(super) issues: Vec<(&'a str, &'a MedicationRequest)>,
    pub(super) name: Option<String>,
    pub(super) status: Status<'a>,
}

pub fn write(ix: &Index, x: &mut Xml, cx: &Context, report: &mut Report) {
    let lists: Vec<_> = ix.lists(list_code::MEDICATIONS).collect();
    let mut s = Section::new(&SPEC, x.depth());
    let all = super::gather(ix, &mut s, &lists, "MedicationStatement", "Medications");

    // plan reference → issues, in bundle order
    let mut issues: HashMap<String, Vec<(&str, &MedicationRequest)>> = HashMap::new();
    for e in ix.all("MedicationRequest") {
        if let Parsed::Ok(Resource::MedicationRequest(r)) = &e.parsed
            && r.intent.as_deref() == Some("order")
        {
            for b in r.based_on.iter().filter_map(|b| b.target()) {
                issues
                    .entry(b.to_string())
                    .or_default()
                    .push((e.id.as_deref().unwrap_or(""), r));
            }
        }
    }

    let (past, active): (Vec<_>, Vec<_>) = all.into_iter().partition(|it| match it {
        Item::Ok {
            res: Resource::MedicationStatement(ms),
            ..
        } => status::classify(ms, plan_of(ix, ms).1, cx.now).past,
        _ => false,
    });
    for (caption, cols, group) in [
        ("Active Medications", ACTIVE_COLS, active),
        ("Past Medications", PAST_COLS, past),
    ] {
        s.table(Some(caption), cols);
        for it in group {
            match it {
                Item::Ok {
                    entry,
                    res: Resource::MedicationStatement(ms),
                    n,
                } => one(ix, &mut s, cx, &issues, entry, n, ms),
                Item::Ok { entry, .. } => {
                    s.unreadable_row(format!("{}: not a MedicationStatement", entry.label()))
                }
                Item::Bad(w) => s.unreadable_row(w),
            }
        }
        s.end_table();
    }
    s.finish(x, report);
}

/// The authorising plan: the statement's `basedOn` reference and what it resolves to.
fn plan_of<'a>(
    ix: &'a Index,
    ms: &'a MedicationStatement,
) -> (Option<&'a str>, Option<&'a MedicationRequest>) {
    let plan_ref = ms.based_on.first().and_then(|b| b.target());
    match ix.get(plan_ref) {
        Some(Resource::MedicationRequest(r)) => (plan_ref, Some(&**r)),
        _ => (plan_ref, None),
    }
}

type Issues<'a> = HashMap<String, Vec<(&'a str, &'a MedicationRequest)>>;

fn one(
    ix: &Index,
    s: &mut Section,
    cx: &Context,
    issues: &Issues<'_>,
    entry: &crate::index::Entry,
    n: usize,
    ms: &MedicationStatement,
) {
    let label = entry.label();
    let (plan_ref, plan) = plan_of(ix, ms);
    if plan.is_none() {
        s.warnings.push(format!(
            "{label}: authorising MedicationRequest not found; shown without prescription details"
        ));
    }
    let med_ref = ms.medication_reference.as_ref().and_then(|r| r.target());
    let name = describe::medication_name(ix, med_ref, ms.medication_codeable_concept.as_ref());
    if name.is_none() {
        s.warnings
            .push(format!("{label}: medication not identified"));
    }
    let plan_key = plan_ref
        .and_then(|r| r.rsplit('/').next())
        .map(|id| format!("MedicationRequest/{id}"));
    let mut is: Vec<(&str, &MedicationRequest)> = plan_key
        .as_deref()
        .and_then(|k| issues.get(k))
        .cloned()
        .unwrap_or_default();
    is.dedup_by_key(|(id, _)| *id);
    let med = Med {
        ms,
        plan,
        plan_ref,
        issues: is,
        name,
        status: status::classify(ms, plan, cx.now),
    };
    let rid = s.next_id();
    row(s, &rid, &med);
    let key = entry.key(n);
    let code = match ix.get(med_ref) {
        Some(Resource::Medication(m)) => m.code.as_ref(),
        _ => ms.medication_codeable_concept.as_ref(),
    };
    let mut w = Vec::new();
    let xw = s.entry();
    entry_xml(xw, cx, &key, &rid, &med, code, &label, &mut w);
    s.end_entry();
    s.warnings.extend(w);
}

fn coding_display<'a>(r: &'a MedicationRequest, ext: &str) -> Option<&'a str> {
    let cc = r.ext(ext)?.value_codeable_concept.as_ref()?;
    cc.coding
        .first()
        .and_then(|c| c.display.as_deref())
        .or(cc.text.as_deref())
}

pub(super) fn repeats(plan: &MedicationRequest) -> (Option<u64>, Option<u64>, Option<&str>) {
    let e = plan.ext("MedicationRepeatInformation-1");
    let allowed = e
        .and_then(|e| e.ext("numberOfRepeatPrescriptionsAllowed"))
        .and_then(|e| e.value_positive_int.or(e.value_unsigned_int));
    let issued = e
        .and_then(|e| e.ext("numberOfRepeatPrescriptionsIssued"))
        .and_then(|e| e.value_unsigned_int.or(e.value_positive_int));
    let expiry = e
        .and_then(|e| e.ext("authorisationExpiryDate"))
        .and_then(|e| e.value_date_time.as_deref().or(e.value_date.as_deref()));
    (allowed, issued, expiry)
}

/// `28 tablet`, from the quantity or the quantity-text extension.
fn quantity(r: &MedicationRequest) -> String {
    let Some(d) = &r.dispense_request else {
        return String::new();
    };
    let text = d
        .ext("MedicationQuantityText-1")
        .or_else(|| {
            d.quantity
                .as_ref()
                .and_then(|q| q.ext("MedicationQuantityText-1"))
        })
        .and_then(|e| e.value_string.as_deref());
    match (&d.quantity, text) {
        (Some(q), Some(t)) if q.unit.is_none() => format!(
            "{} {t}",
            q.value.as_ref().map(|v| v.to_string()).unwrap_or_default()
        )
        .trim()
        .to_string(),
        (Some(q), _) => describe::quantity(q),
        (None, Some(t)) => t.to_string(),
        (None, None) => String::new(),
    }
}

fn row(s: &mut Section, rid: &str, m: &Med<'_>) {
    let ms = m.ms;
    let dosage = ms
        .dosage
        .iter()
        .map(
            |d| match (d.text.as_deref(), d.patient_instruction.as_deref()) {
                (Some(t), Some(p)) => format!("{t}\nPatient instructions: {p}"),
                (Some(t), None) => t.to_string(),
                (None, Some(p)) => format!("Patient instructions: {p}"),
                (None, None) => String::new(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n");
    let last_issue = status::last_issue_date(ms)
        .or_else(|| m.issues.last().and_then(|(_, r)| r.authored_on.as_deref()));
    let qty = m
        .issues
        .last()
        .map(|(_, r)| quantity(r))
        .filter(|q| !q.is_empty())
        .or_else(|| m.plan.map(quantity))
        .unwrap_or_default();
    let kind = m
        .plan
        .and_then(|p| coding_display(p, "PrescriptionType-1"))
        .unwrap_or("");
    let agency = ms
        .ext("PrescribingAgency-1")
        .and_then(|e| e.value_codeable_concept.as_ref())
        .and_then(|c| {
            c.coding
                .first()
                .and_then(|c| c.display.as_deref())
                .or(c.text.as_deref())
        })
        .unwrap_or("");
    let mut note_lines: Vec<String> = Vec::new();
    for n in [
        notes(&ms.note),
        m.plan.map(|p| notes(&p.note)).unwrap_or_default(),
    ] {
        for line in n.lines() {
            if !line.is_empty() && !note_lines.iter().any(|l| l.contains(line)) {
                note_lines.push(line.to_string());
            }
        }
    }
    if let Some(reason) = m.status.reason.filter(|_| !m.status.past) {
        note_lines.push(format!("Status reason: {reason}"));
    }
    if !m.issues.is_empty() {
        note_lines.push(format!("Issues in this record: {}", m.issues.len()));
    }
    let period = ms.effective_period.as_ref();
    let start = dates::display(
        period
            .and_then(|p| p.start.as_deref())
            .or(ms.effective_date_time.as_deref()),
    );
    let name = m
        .name
        .clone()
        .unwrap_or_else(|| "(medication not identified)".into());
    let sig = cell_id(format!("{rid}-sig"), dosage);
    if !m.status.past {
        let (allowed, issued, expiry) = m.plan.map(repeats).unwrap_or((None, None, None));
        let rep = match (issued, allowed) {
            (Some(i), Some(a)) => format!("{i} of {a}"),
            (None, Some(a)) => format!("{a} allowed"),
            (Some(i), None) => format!("{i}"),
            _ => String::new(),
        };
        if let Some(e) = expiry {
            note_lines.push(format!("Authorisation expires {}", dates::display(Some(e))));
        }
        s.row(
            rid,
            &[
                cell_id(format!("{rid}-name"), name),
                sig,
                cell(qty),
                cell(kind),
                cell(start),
                cell(dates::display(last_issue)),
                cell(rep),
                cell(agency),
                cell(note_lines.join("\n")),
            ],
        );
    } else {
        s.row(
            rid,
            &[
                cell_id(format!("{rid}-name"), name),
                sig,
                cell(qty),
                cell(kind),
                cell(start),
                cell(dates::display(m.status.ended)),
                cell(m.status.label),
                cell(m.status.reason.unwrap_or("")),
                cell(dates::display(last_issue)),
                cell(note_lines.join("\n")),
            ],
        );
    }
}
