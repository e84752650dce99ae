//! The Medication Activity entry for one MedicationStatement: the drug code,
//! the dose timing and dose (`timing.rs`, `dose.rs`: coded when structured),
//! the authorisation (plan) and each issue
//! as Medication Supply Orders, and the dosage text as a Free Text Sig
//! pointing at its narrative cell.

use super::{Med, repeats};
use crate::Context;
use crate::cda::{id, template, text_ref, ts};
use crate::codes::{self, LOINC};
use crate::fhir::MedicationRequest;
use crate::xml::Xml;

#[allow(clippy::too_many_arguments)]
pub(super) fn entry_xml(
    x: &mut Xml,
    cx: &Context,
    key: &str,
    rid: &str,
    m: &Med<'_>,
    code: Option<&crate::fhir::CodeableConcept>,
    label: &str,
    w: &mut Vec<String>,
) {
    let ms = m.ms;
    let active = !m.status.past;
    let period = ms.effective_period.as_ref();
    let start = ts(
        period
            .and_then(|p| p.start.as_deref())
            .or(ms.effective_date_time.as_deref()),
        label,
        w,
    );
    let end = ts(
        period.and_then(|p| p.end.as_deref()).or(m.status.ended),
        label,
        w,
    );
    x.open(
        "substanceAdministration",
        &[
            ("classCode", "SBADM"),
            ("moodCode", if active { "INT" } else { "EVN" }),
        ],
    );
    template(x, "2.16.840.1.113883.10.20.22.4.16", "2014-06-09");
    id(x, cx, key);
    text_ref(x, rid);
    x.empty("statusCode", &[("code", m.status.act_status)]);
    crate::cda::ivl(x, "effectiveTime", true, start.as_deref(), end.as_deref());
    super::timing::pivl(x, m);
    super::dose::dose(x, m);
    x.open("consumable", &[]);
    x.open("manufacturedProduct", &[("classCode", "MANU")]);
    template(x, "2.16.840.1.113883.10.20.22.4.23", "2014-06-09");
    x.open("manufacturedMaterial", &[]);
    codes::concept(x, "code", code, None, Some(&format!("#{rid}-name")));
    x.close();
    x.close();
    x.close();
    if let Some(plan) = m.plan {
        let (allowed, _, expiry) = repeats(plan);
        let low = ts(plan.authored_on.as_deref(), label, w);
        let high = ts(expiry, label, w);
        supply(
            x,
            cx,
            &format!("{key}/plan/{}", m.plan_ref.unwrap_or("")),
            plan,
            low.as_deref(),
            high.as_deref(),
            allowed.map(|a| a + 1),
        );
        for (iid, issue) in &m.issues {
            let vp = issue
                .dispense_request
                .as_ref()
                .and_then(|d| d.validity_period.as_ref());
            let low = ts(
                issue
                    .authored_on
                    .as_deref()
                    .or(vp.and_then(|p| p.start.as_deref())),
                label,
                w,
            );
            let high = ts(vp.and_then(|p| p.end.as_deref()), label, w);
            supply(
                x,
                cx,
                &format!("{key}/issue/{iid}"),
                issue,
                low.as_deref(),
                high.as_deref(),
                None,
            );
        }
    }
    if ms
        .dosage
        .iter()
        .any(|d| d.text.is_some() || d.patient_instruction.is_some())
    {
        x.open("entryRelationship", &[("typeCode", "COMP")]);
        x.open(
            "substanceAdministration",
            &[("classCode", "SBADM"), ("moodCode", "EVN")],
        );
        x.empty(
            "templateId",
            &[("root", "2.16.840.1.113883.10.20.22.4.147")],
        );
        codes::fixed(
            x,
            "code",
            "76662-6",
            LOINC,
            "LOINC",
            "Instructions Medication",
        );
        text_ref(x, &format!("{rid}-sig"));
        x.open("consumable", &[]);
        x.open("manufacturedProduct", &[]);
        x.empty("manufacturedLabeledDrug", &[("nullFlavor", "NA")]);
        x.close();
        x.close();
        x.close();
        x.close();
    }
    x.close();
}

/// A Medication Supply Order (authorisation or one issue).
#[allow(clippy::too_many_arguments)]
fn supply(
    x: &mut Xml,
    cx: &Context,
    key: &str,
    r: &MedicationRequest,
    low: Option<&str>,
    high: Option<&str>,
    repeat: Option<u64>,
) {
    x.open("entryRelationship", &[("typeCode", "REFR")]);
    x.open("supply", &[("classCode", "SPLY"), ("moodCode", "INT")]);
    template(x, "2.16.840.1.113883.10.20.22.4.17", "2014-06-09");
    id(x, cx, key);
    x.empty(
        "statusCode",
        &[("code", codes::act_status(r.status.as_deref()))],
    );
    crate::cda::ivl(x, "effectiveTime", true, low, high);
    if let Some(n) = repeat {
        x.empty("repeatNumber", &[("value", &n.to_string())]);
    }
    if let Some(v) = r
        .dispense_request
        .as_ref()
        .and_then(|d| d.quantity.as_ref())
        .and_then(|q| q.value.as_ref())
    {
        x.empty("quantity", &[("value", &v.to_string())]);
    }
    x.close();
    x.close();
}
