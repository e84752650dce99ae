//! The `Parameters` body of `$gpc.getstructuredrecord`: which patient, which areas.

use serde_json::Value;
use xhuma_common::NhsNumber;
use xhuma_common::nhs::ClinicalArea;

use crate::data::template::{PRESCRIPTION_ISSUES_BIT, RESOLVED_ALLERGIES_BIT};
use crate::faults::GpcCase;

/// A valid request: the patient, the area mask, and what the provider does not recognise
/// (`name` or `name.part`, answered with a warning inside the Bundle, not an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructuredRequest {
    pub nhs: NhsNumber,
    pub mask: u16,
    pub unsupported: Vec<String>,
}

/// The parts each area parameter may carry.
fn known_parts(area: ClinicalArea) -> &'static [&'static str] {
    match area {
        ClinicalArea::Allergies => &["includeResolvedAllergies"],
        ClinicalArea::Medication => &["includePrescriptionIssues", "medicationSearchFromDate"],
        ClinicalArea::Consultations => &["consultationSearchPeriod", "includeNumberOfMostRecent"],
        ClinicalArea::Problems => &["filterStatus", "filterSignificance"],
        ClinicalArea::Immunisations => &["includeNotGiven", "includeStatus"],
        ClinicalArea::Uncategorised => &["uncategorisedDataSearchPeriod"],
        ClinicalArea::Investigations => &["investigationSearchPeriod"],
        ClinicalArea::Referrals => &["referralSearchPeriod"],
        ClinicalArea::DiaryEntries => &["diaryEntriesSearchDate"],
    }
}

/// A rejected body: the case and its diagnostics.
pub type Rejection = (GpcCase, String);

fn reject(case: GpcCase, d: impl Into<String>) -> Rejection {
    (case, d.into())
}

pub fn parse(body: &[u8]) -> Result<StructuredRequest, Rejection> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| reject(GpcCase::InvalidResource, "Parameters could not be parsed"))?;
    if v.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(reject(
            GpcCase::InvalidResource,
            "Request body is not a Parameters resource",
        ));
    }
    let params = v
        .get("parameter")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut nhs = None;
    let mut mask = 0u16;
    let mut unsupported = Vec::new();
    for p in &params {
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        if name == "patientNHSNumber" {
            let id = p.get("valueIdentifier").ok_or_else(|| {
                reject(
                    GpcCase::InvalidParameter,
                    "patientNHSNumber has no valueIdentifier",
                )
            })?;
            if id.get("system").and_then(Value::as_str) != Some("https://fhir.nhs.uk/Id/nhs-number")
            {
                return Err(reject(
                    GpcCase::InvalidIdentifierSystem,
                    "patientNHSNumber.system must be https://fhir.nhs.uk/Id/nhs-number",
                ));
            }
            let value = id.get("value").and_then(Value::as_str).unwrap_or("");
            nhs = Some(
                NhsNumber::parse(value)
                    .map_err(|_| reject(GpcCase::InvalidNhsNumber, "patientNHSNumber"))?,
            );
            continue;
        }
        let Some(area) = ClinicalArea::from_parameter(name) else {
            unsupported.push(name.to_string());
            continue;
        };
        mask |= area.bit();
        let parts = p
            .get("part")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for part in &parts {
            let pname = part_name(part);
            if !known_parts(area).contains(&pname) {
                unsupported.push(format!("{name}.{pname}"));
                continue;
            }
            let has_value = part
                .as_object()
                .is_some_and(|o| o.keys().any(|k| k.starts_with("value")));
            if !has_value {
                return Err(reject(
                    GpcCase::InvalidParameter,
                    format!("{name}.{} has no value", part_name(part)),
                ));
            }
            for key in ["valuePeriod"] {
                if let Some(period) = part.get(key) {
                    check_period(period).map_err(|d| {
                        reject(
                            GpcCase::InvalidParameter,
                            format!("{name}.{}: {d}", part_name(part)),
                        )
                    })?;
                }
            }
            if let Some(d) = part.get("valueDate").and_then(Value::as_str)
                && !whole_date(d)
            {
                return Err(reject(
                    GpcCase::InvalidParameter,
                    format!("{name}.{}: not a whole date", part_name(part)),
                ));
            }
        }
        let part = |n: &str| {
            parts
                .iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some(n))
        };
        match area {
            ClinicalArea::Allergies => match part("includeResolvedAllergies")
                .and_then(|p| p.get("valueBoolean"))
                .and_then(Value::as_bool)
            {
                None => {
                    return Err(reject(
                        GpcCase::InvalidParameter,
                        "includeAllergies.includeResolvedAllergies is mandatory",
                    ));
                }
                Some(true) => mask |= RESOLVED_ALLERGIES_BIT,
                Some(false) => {}
            },
            ClinicalArea::Consultations
                if part("consultationSearchPeriod").is_some()
                    && part("includeNumberOfMostRecent").is_some() =>
            {
                return Err(reject(
                    GpcCase::InvalidResource,
                    "consultationSearchPeriod and includeNumberOfMostRecent cannot both be sent",
                ));
            }
            ClinicalArea::Medication => {
                let issues = part("includePrescriptionIssues")
                    .and_then(|p| p.get("valueBoolean"))
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                if issues {
                    mask |= PRESCRIPTION_ISSUES_BIT;
                }
            }
            ClinicalArea::Problems => {
                if let Some(s) = part("filterStatus")
                    .and_then(|p| p.get("valueCode"))
                    .and_then(Value::as_str)
                    && s != "active"
                    && s != "inactive"
                {
                    return Err(reject(
                        GpcCase::InvalidParameter,
                        "includeProblems.filterStatus must be active or inactive",
                    ));
                }
            }
            _ => {}
        }
    }
    let nhs =
        nhs.ok_or_else(|| reject(GpcCase::InvalidParameter, "patientNHSNumber is mandatory"))?;
    if mask == 0 {
        return Err(reject(
            GpcCase::InvalidParameter,
            "No clinical area was requested",
        ));
    }
    Ok(StructuredRequest {
        nhs,
        mask,
        unsupported,
    })
}

fn part_name(p: &Value) -> &str {
    p.get("name").and_then(Value::as_str).unwrap_or("?")
}

fn whole_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn check_period(p: &Value) -> Result<(), &'static str> {
    let start = p.get("start").and_then(Value::as_str);
    let end = p.get("end").and_then(Value::as_str);
    for d in [start, end].into_iter().flatten() {
        if !whole_date(d) {
            return Err("period dates must be whole dates");
        }
    }
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err("period start is after its end");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn spec_full_parameters_are_accepted() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/gpconnect/requests/spec-full-parameters.json"
        );
        let body = std::fs::read(path).unwrap();
        // The spec's illustration sends consultationSearchPeriod and includeNumberOfMostRecent
        // together, which its own rules reject.
        assert_eq!(parse(&body).unwrap_err().0, GpcCase::InvalidResource);
        let mut v: Value = serde_json::from_slice(&body).unwrap();
        for p in v["parameter"].as_array_mut().unwrap() {
            if p["name"] == "includeConsultations" {
                p["part"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|x| x["name"] != "includeNumberOfMostRecent");
            }
        }
        let r = parse(v.to_string().as_bytes()).unwrap();
        assert_eq!(r.nhs.to_string(), "9999999999");
        assert!(r.mask & ClinicalArea::Referrals.bit() != 0);
    }

    #[test]
    fn rejections() {
        let case = |b: &str| parse(b.as_bytes()).unwrap_err().0;
        assert_eq!(case("nope"), GpcCase::InvalidResource);
        assert_eq!(
            case(r#"{"resourceType":"Parameters","parameter":[{"name":"includeProblems"}]}"#),
            GpcCase::InvalidParameter
        );
        let nhs = |v: &str, sys: &str| {
            format!(
                r#"{{"resourceType":"Parameters","parameter":[{{"name":"patientNHSNumber","valueIdentifier":{{"system":"{sys}","value":"{v}"}}}},{{"name":"includeProblems"}}]}}"#
            )
        };
        assert_eq!(
            case(&nhs("1234567890", "https://fhir.nhs.uk/Id/nhs-number")),
            GpcCase::InvalidNhsNumber
        );
        assert_eq!(
            case(&nhs("9690937286", "urn:x")),
            GpcCase::InvalidIdentifierSystem
        );
        assert_eq!(
            case(
                r#"{"resourceType":"Parameters","parameter":[{"name":"patientNHSNumber","valueIdentifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9690937286"}},{"name":"includeAllergies"}]}"#
            ),
            GpcCase::InvalidParameter
        );
    }
}
