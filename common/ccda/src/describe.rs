//! One-line human descriptions of resources, for narrative cells that list
//! related items (consultation headings, problem links) and for values.

use crate::dates;
use crate::fhir::{CodeableConcept, Observation, ObservationComponent, Quantity, Resource};
use crate::index::{Index, Resolved};

/// `5.2 mmol/L`, `<0.5 mg/L`.
pub fn quantity(q: &Quantity) -> String {
    let mut s = String::new();
    if let Some(c) = q.comparator.as_deref() {
        s.push_str(c);
    }
    if let Some(v) = &q.value {
        s.push_str(&v.to_string());
    }
    if let Some(u) = q.unit.as_deref().or(q.code.as_deref()) {
        s.push(' ');
        s.push_str(u);
    }
    s
}

pub fn concept(cc: Option<&CodeableConcept>) -> String {
    cc.and_then(CodeableConcept::label)
        .unwrap_or("(no term recorded)")
        .to_string()
}

/// The observation's value as text, components included (`120/80`-style BP as
/// `Systolic 120 mm[Hg]; Diastolic 80 mm[Hg]`).
pub fn observation_value(o: &Observation) -> String {
    if let Some(q) = &o.value_quantity {
        return quantity(q);
    }
    if let Some(s) = &o.value_string {
        return s.clone();
    }
    if let Some(c) = &o.value_codeable_concept {
        return concept(Some(c));
    }
    if let Some(b) = o.value_boolean {
        return if b { "Yes".into() } else { "No".into() };
    }
    let parts: Vec<String> = o
        .component
        .iter()
        .map(component_value)
        .filter(|s| !s.is_empty())
        .collect();
    if !parts.is_empty() {
        return parts.join("; ");
    }
    match &o.data_absent_reason {
        Some(d) => format!("No value ({})", concept(Some(d))),
        None => String::new(),
    }
}

fn component_value(c: &ObservationComponent) -> String {
    let v = if let Some(q) = &c.value_quantity {
        quantity(q)
    } else if let Some(s) = &c.value_string {
        s.clone()
    } else if let Some(cc) = &c.value_codeable_concept {
        concept(Some(cc))
    } else {
        return String::new();
    };
    format!("{} {v}", concept(c.code.as_ref()))
}

/// The medication name behind a MedicationStatement/Request.
pub fn medication_name(
    ix: &Index,
    reference: Option<&str>,
    cc: Option<&CodeableConcept>,
) -> Option<String> {
    if let Some(Resource::Medication(m)) = ix.get(reference) {
        return m
            .code
            .as_ref()
            .and_then(CodeableConcept::label)
            .map(str::to_string);
    }
    cc.and_then(CodeableConcept::label).map(str::to_string)
}

/// `Type: summary` for any resource.
pub fn resource(ix: &Index, r: &Resource) -> String {
    match r {
        Resource::AllergyIntolerance(a) => format!("Allergy: {}", concept(a.code.as_ref())),
        Resource::Condition(c) => format!("Problem: {}", concept(c.code.as_ref())),
        Resource::Observation(o) => {
            let v = observation_value(o);
            let mut s = concept(o.code.as_ref());
            if !v.is_empty() {
                s = format!("{s}: {v}");
            }
            if let Some(c) = o.comment.as_deref().filter(|c| !c.trim().is_empty()) {
                s = format!("{s} ({})", c.trim());
            }
            s
        }
        Resource::MedicationRequest(m) => {
            let name = medication_name(
                ix,
                m.medication_reference.as_ref().and_then(|r| r.target()),
                m.medication_codeable_concept.as_ref(),
            )
            .unwrap_or_else(|| "(medication not recorded)".into());
            match m.dosage_instruction.first().and_then(|d| d.text.as_deref()) {
                Some(d) => format!("Medication: {name} \u{2014} {d}"),
                None => format!("Medication: {name}"),
            }
        }
        Resource::MedicationStatement(m) => {
            let name = medication_name(
                ix,
                m.medication_reference.as_ref().and_then(|r| r.target()),
                m.medication_codeable_concept.as_ref(),
            )
            .unwrap_or_else(|| "(medication not recorded)".into());
            format!("Medication: {name}")
        }
        Resource::Immunization(i) => {
            let vac = i
                .vaccine_code
                .as_ref()
                .and_then(CodeableConcept::label)
                .filter(|l| *l != "unknown");
            let proc_ = i
                .extension
                .iter()
                .find(|e| e.url.ends_with("VaccinationProcedure-1"))
                .and_then(|e| e.value_codeable_concept.as_ref())
                .and_then(CodeableConcept::label);
            format!(
                "Immunisation: {}",
                proc_.or(vac).unwrap_or("(vaccine not recorded)")
            )
        }
        Resource::DiagnosticReport(d) => format!(
            "Investigation: {} {}",
            d.code
                .as_ref()
                .and_then(CodeableConcept::label)
                .unwrap_or("report"),
            dates::display(d.issued.as_deref().or(d.effective_date_time.as_deref()))
        )
        .trim_end()
        .to_string(),
        Resource::ReferralRequest(r) => {
            let what = r
                .reason_code
                .first()
                .or(r.service_requested.first())
                .and_then(CodeableConcept::label);
            format!(
                "Referral: {}",
                what.or(r.description.as_deref())
                    .unwrap_or("(no reason recorded)")
            )
        }
        Resource::ProcedureRequest(p) => format!("Plan: {}", concept(p.code.as_ref())),
        Resource::DocumentReference(d) => {
            let t = d.type_.as_ref().and_then(CodeableConcept::label);
            format!(
                "Document: {}",
                d.description.as_deref().or(t).unwrap_or("(untitled)")
            )
        }
        Resource::Encounter(e) => format!(
            "Consultation: {} {}",
            e.type_
                .first()
                .and_then(CodeableConcept::label)
                .unwrap_or(""),
            dates::display(e.period.as_ref().and_then(|p| p.start.as_deref()))
        ),
        Resource::List(l) => l.title.clone().unwrap_or_else(|| "List".into()),
        Resource::Medication(m) => concept(m.code.as_ref()),
        Resource::Specimen(s) => format!("Specimen: {}", concept(s.type_.as_ref())),
        _ => "Other record item".into(),
    }
}

/// Describes whatever `reference` points to; a reference that is only text
/// ("Referral items are not supported…") is shown as given.
pub fn reference(
    ix: &Index,
    reference: Option<&str>,
    display: Option<&str>,
    list: Option<usize>,
) -> String {
    match reference {
        Some(r) => match ix.resolve(r, list) {
            Resolved::Found(_, res) => resource(ix, res),
            Resolved::Unreadable(..) => crate::narrative::UNREADABLE_TEXT.into(),
            Resolved::Missing if !r.contains('/') && !r.starts_with('#') => r.to_string(),
            Resolved::Missing => display
                .map(str::to_string)
                .unwrap_or_else(|| "Item not included in this extract".into()),
        },
        None => display
            .unwrap_or("Item not included in this extract")
            .to_string(),
    }
}
