//! The Medication Activity entry for one MedicationStatement: the drug code,
//! the dose (coded when structured), the authorisation (plan) and each issue
//! as Medication Supply Orders, and the dosage text as a Free Text Sig
//! pointing at its narrative cell.

use super::{Med, repeats};
use crate::Context;
use crate::codes::{self, LOINC, SNOMED};
use crate::fhir::{MedicationRequest, Quantity};
use crate::sections::{id, template, text_ref, ts};
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
    crate::sections::ivl(x, "effectiveTime", true, start.as_deref(), end.as_deref());
    dose(x, m);
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

/// `doseQuantity`: the one structured dose of the statement's dosage (or of
/// the plan's dosage instruction). A UCUM unit is carried as `@unit`; a dose
/// form unit (`tablet`, SNOMED) leaves `@unit` at its default `1`, as C-CDA
/// asks for pre-coordinated products, and travels as a SNOMED translation.
/// No dose, or several different ones: `nullFlavor="NI"`, and the Free Text
/// Sig carries the instruction.
fn dose(x: &mut Xml, m: &Med<'_>) {
    fn from(ds: &[crate::fhir::Dosage]) -> Vec<&Quantity> {
        ds.iter()
            .filter_map(|d| d.dose_quantity.as_ref())
            .filter(|q| q.value.is_some())
            .collect()
    }
    let mut doses = from(&m.ms.dosage);
    if doses.is_empty()
        && let Some(p) = m.plan
    {
        doses = from(&p.dosage_instruction);
    }
    let same = doses
        .windows(2)
        .all(|w| w[0].value == w[1].value && w[0].code == w[1].code && w[0].unit == w[1].unit);
    let Some(q) = doses.first().filter(|_| same) else {
        x.empty("doseQuantity", &[("nullFlavor", "NI")]);
        return;
    };
    let value = q.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let system = q.system.as_deref().map(|s| s.trim_end_matches('/'));
    let code = q
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.contains(char::is_whitespace));
    match (system, code) {
        (Some("http://unitsofmeasure.org"), Some(c)) => {
            x.empty("doseQuantity", &[("value", &value), ("unit", c)]);
        }
        (Some(codes::SNOMED_URI), Some(c)) => {
            x.open("doseQuantity", &[("value", &value)]);
            let mut a = vec![
                ("value", value.as_str()),
                ("code", c),
                ("codeSystem", SNOMED),
                ("codeSystemName", "SNOMED CT"),
            ];
            if let Some(u) = q.unit.as_deref() {
                a.push(("displayName", u));
            }
            x.empty("translation", &a);
            x.close();
        }
        _ => match q.unit.as_deref() {
            Some(u) => {
                x.open("doseQuantity", &[("value", &value)]);
                x.open("translation", &[("value", &value), ("nullFlavor", "OTH")]);
                x.leaf("originalText", &[], u);
                x.close();
                x.close();
            }
            None => x.empty("doseQuantity", &[("value", &value)]),
        },
    }
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
    crate::sections::ivl(x, "effectiveTime", true, low, high);
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
