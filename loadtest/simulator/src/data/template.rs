//! Pre-serialised GP Connect Bundles with holes for what changes per request or patient.
//!
//! A fixture bundle is parsed once per distinct set of requested areas, filtered, given
//! placeholder tokens (NHS number, family and given name, birth date and gender of the Patient,
//! `Bundle.id`),
//! serialised, and cut at the tokens into [`Segment`]s. Serving a record is then a list of
//! `Bytes` clones and three tiny strings: no JSON work on the hot path, and one template serves
//! every synthetic patient cloned from the same fixture.

use bytes::Bytes;
use serde_json::Value;
use xhuma_common::nhs::ClinicalArea;

const TOKEN_NHS: &str = "@@SIM-NHS@@";
const TOKEN_FAMILY: &str = "@@SIM-FAMILY@@";
const TOKEN_GIVEN: &str = "@@SIM-GIVEN@@";
const TOKEN_TRACE: &str = "@@SIM-TRACE@@";
const TOKEN_BIRTH: &str = "@@SIM-BIRTH@@";
const TOKEN_GENDER: &str = "@@SIM-GENDER@@";

/// Bit of the area mask meaning "include resolved (ended) allergies".
pub const RESOLVED_ALLERGIES_BIT: u16 = 1 << 12;
/// Bit of the area mask meaning "include prescription issues" (MedicationRequest, intent order).
pub const PRESCRIPTION_ISSUES_BIT: u16 = 1 << 13;

/// One piece of a serialised bundle.
#[derive(Debug, Clone)]
pub enum Segment {
    Literal(Bytes),
    Nhs,
    Family,
    Given,
    Trace,
    /// The Patient's birth date and gender: the patient's own (as PDS has them, so GP Connect
    /// and PDS agree as they do in the live service), or the fixture's (`original`, JSON
    /// string contents) when the patient has none.
    BirthDate {
        original: Bytes,
    },
    Gender {
        original: Bytes,
    },
    /// Where an extra entry (the "unsupported parameter" OperationOutcome) goes: just before
    /// the closing `]}` of `entry`, which is serialised last.
    Extra {
        after_entries: bool,
    },
}

/// Per-patient values for the holes (already valid JSON string contents).
#[derive(Debug, Clone)]
pub struct Identity {
    pub nhs: String,
    pub family: String,
    pub given: String,
    pub birth_date: Option<String>,
    pub gender: Option<String>,
}

/// A serialised bundle cut at its holes.
#[derive(Debug)]
pub struct Template {
    segments: Vec<Segment>,
    pub literal_bytes: usize,
}

// === impl Template ===

impl Template {
    /// Builds the template of `bundle` for the areas in `mask` (`ClinicalArea::bit`s, plus
    /// [`RESOLVED_ALLERGIES_BIT`]).
    pub fn build(mut bundle: Value, mask: u16) -> Self {
        filter_areas(&mut bundle, mask);
        let (birth, gender) = mark_identity(&mut bundle);
        let mut after_entries = false;
        if let Some(obj) = bundle.as_object_mut() {
            let entries = obj
                .remove("entry")
                .unwrap_or_else(|| Value::Array(Vec::new()));
            after_entries = entries.as_array().is_some_and(|a| !a.is_empty());
            obj.insert("entry".into(), entries);
        }
        let text = serde_json::to_string(&bundle).unwrap_or_default();
        let mut segments = Vec::new();
        let mut rest = text.as_str();
        let tokens = [
            (TOKEN_NHS, Segment::Nhs),
            (TOKEN_FAMILY, Segment::Family),
            (TOKEN_GIVEN, Segment::Given),
            (TOKEN_TRACE, Segment::Trace),
            (
                TOKEN_BIRTH,
                Segment::BirthDate {
                    original: Bytes::from(json_str(&birth)),
                },
            ),
            (
                TOKEN_GENDER,
                Segment::Gender {
                    original: Bytes::from(json_str(&gender)),
                },
            ),
        ];
        loop {
            let next = tokens
                .iter()
                .filter_map(|(t, s)| rest.find(t).map(|i| (i, t.len(), s)))
                .min_by_key(|(i, _, _)| *i);
            match next {
                Some((i, len, seg)) => {
                    segments.push(Segment::Literal(Bytes::copy_from_slice(
                        &rest.as_bytes()[..i],
                    )));
                    segments.push(seg.clone());
                    rest = &rest[i + len..];
                }
                None => {
                    match rest.strip_suffix("]}") {
                        Some(head) => {
                            segments
                                .push(Segment::Literal(Bytes::copy_from_slice(head.as_bytes())));
                            segments.push(Segment::Extra { after_entries });
                            segments.push(Segment::Literal(Bytes::from_static(b"]}")));
                        }
                        None => {
                            segments.push(Segment::Literal(Bytes::copy_from_slice(rest.as_bytes())))
                        }
                    }
                    break;
                }
            }
        }
        let literal_bytes = segments
            .iter()
            .map(|s| match s {
                Segment::Literal(b) => b.len(),
                _ => 0,
            })
            .sum();
        Self {
            segments,
            literal_bytes,
        }
    }

    /// The response body as chunks (`trace` must already be JSON-safe). `extra` is one more
    /// serialised entry (`{"resource": …}`) to append.
    pub fn render(&self, id: &Identity, trace: &str, extra: Option<&str>) -> Vec<Bytes> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Extra { after_entries } => match extra {
                    Some(e) if *after_entries => Bytes::from(format!(",{e}")),
                    Some(e) => Bytes::copy_from_slice(e.as_bytes()),
                    None => Bytes::new(),
                },
                Segment::Literal(b) => b.clone(),
                Segment::Nhs => Bytes::copy_from_slice(id.nhs.as_bytes()),
                Segment::Family => Bytes::copy_from_slice(id.family.as_bytes()),
                Segment::Given => Bytes::copy_from_slice(id.given.as_bytes()),
                Segment::Trace => Bytes::copy_from_slice(trace.as_bytes()),
                Segment::BirthDate { original } => own_or(id.birth_date.as_deref(), original),
                Segment::Gender { original } => own_or(id.gender.as_deref(), original),
            })
            .collect()
    }
}

fn own_or(own: Option<&str>, original: &Bytes) -> Bytes {
    match own {
        Some(v) => Bytes::copy_from_slice(v.as_bytes()),
        None => original.clone(),
    }
}

/// JSON string contents (no quotes) of `s`.
pub fn json_str(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted[1..quoted.len().saturating_sub(1)].to_string()
}

/// Puts the tokens into `Bundle.id` and the Patient's NHS number, first family, first given,
/// birth date and gender; returns the fixture's birth date and gender (empty when absent: a
/// token is only placed where the fixture has the field).
fn mark_identity(bundle: &mut Value) -> (String, String) {
    bundle["id"] = Value::String(TOKEN_TRACE.into());
    let mut originals = (String::new(), String::new());
    let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) else {
        return originals;
    };
    for e in entries {
        let Some(r) = e.get_mut("resource") else {
            continue;
        };
        if r.get("resourceType").and_then(Value::as_str) != Some("Patient") {
            continue;
        }
        if let Some(ids) = r.get_mut("identifier").and_then(Value::as_array_mut) {
            for i in ids {
                if i.get("system").and_then(Value::as_str)
                    == Some("https://fhir.nhs.uk/Id/nhs-number")
                {
                    i["value"] = Value::String(TOKEN_NHS.into());
                }
            }
        }
        if let Some(name) = r.get_mut("name").and_then(|n| n.get_mut(0)) {
            if name.get("family").is_some() {
                name["family"] = Value::String(TOKEN_FAMILY.into());
            }
            if let Some(g) = name.get_mut("given").and_then(|g| g.get_mut(0)) {
                *g = Value::String(TOKEN_GIVEN.into());
            }
        }
        for (field, token, original) in [
            ("birthDate", TOKEN_BIRTH, &mut originals.0),
            ("gender", TOKEN_GENDER, &mut originals.1),
        ] {
            if let Some(v) = r.get_mut(field) {
                *original = v.as_str().unwrap_or_default().to_string();
                *v = Value::String(token.into());
            }
        }
        break;
    }
    originals
}

/// Keeps the primary Lists of the requested areas and the clinical resources reachable from
/// them; administrative resources (Patient, Organization, Practitioner…) always stay. A bundle
/// without primary Lists is left whole.
fn filter_areas(bundle: &mut Value, mask: u16) {
    let all = ClinicalArea::ALL.iter().fold(0, |m, a| m | a.bit())
        | RESOLVED_ALLERGIES_BIT
        | PRESCRIPTION_ISSUES_BIT;
    if mask & all == all {
        return;
    }
    let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) else {
        return;
    };
    let list_area = |r: &Value| -> Option<(ClinicalArea, bool)> {
        if r.get("resourceType")?.as_str()? != "List" {
            return None;
        }
        let codings = r.get("code")?.get("coding")?.as_array()?;
        codings.iter().find_map(|c| {
            let code = c.get("code")?.as_str()?;
            ClinicalArea::from_list_code(code).map(|a| (a, code == "1103671000000101"))
        })
    };
    if !entries
        .iter()
        .any(|e| e.get("resource").and_then(list_area).is_some())
    {
        return;
    }
    let key = |r: &Value| -> Option<String> {
        Some(format!(
            "{}/{}",
            r.get("resourceType")?.as_str()?,
            r.get("id")?.as_str()?
        ))
    };
    let index: std::collections::HashMap<String, usize> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.get("resource").and_then(key).map(|k| (k, i)))
        .collect();
    let issues_excluded = mask & PRESCRIPTION_ISSUES_BIT == 0;
    let excluded: Vec<bool> = entries
        .iter()
        .map(|e| {
            let r = e.get("resource");
            issues_excluded
                && r.and_then(|r| r.get("resourceType"))
                    .and_then(Value::as_str)
                    == Some("MedicationRequest")
                && r.and_then(|r| r.get("intent")).and_then(Value::as_str) == Some("order")
        })
        .collect();
    let mut keep = vec![false; entries.len()];
    let mut stack = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(r) = e.get("resource") else { continue };
        let rt = r.get("resourceType").and_then(Value::as_str).unwrap_or("");
        if is_administrative(rt) {
            keep[i] = true;
        } else if let Some((area, ended)) = list_area(r) {
            let wanted = mask & area.bit() != 0 && (!ended || mask & RESOLVED_ALLERGIES_BIT != 0);
            if wanted {
                keep[i] = true;
                stack.push(i);
            }
        }
    }
    let reach = |stack: &mut Vec<usize>, keep: &mut Vec<bool>| {
        while let Some(i) = stack.pop() {
            let mut refs = Vec::new();
            if let Some(r) = entries[i].get("resource") {
                collect_refs(r, &mut refs);
            }
            for target in refs {
                if let Some(&j) = index.get(&target)
                    && !keep[j]
                    && !excluded[j]
                {
                    keep[j] = true;
                    stack.push(j);
                }
            }
        }
    };
    reach(&mut stack, &mut keep);
    // Issues point at their plan (`basedOn`), not the other way: add the issues of kept plans.
    if !issues_excluded {
        for (i, e) in entries.iter().enumerate() {
            let Some(r) = e.get("resource") else { continue };
            let is_issue = r.get("resourceType").and_then(Value::as_str)
                == Some("MedicationRequest")
                && r.get("intent").and_then(Value::as_str) == Some("order");
            if !is_issue || keep[i] {
                continue;
            }
            let mut refs = Vec::new();
            if let Some(b) = r.get("basedOn") {
                collect_refs(b, &mut refs);
            }
            if refs.iter().any(|t| index.get(t).is_some_and(|&j| keep[j])) {
                keep[i] = true;
                stack.push(i);
            }
        }
        reach(&mut stack, &mut keep);
    }
    let mut i = 0;
    entries.retain(|_| {
        let k = keep[i];
        i += 1;
        k
    });
}

fn is_administrative(rt: &str) -> bool {
    matches!(
        rt,
        "Patient"
            | "Organization"
            | "Practitioner"
            | "PractitionerRole"
            | "Location"
            | "HealthcareService"
            | "Device"
            | "OperationOutcome"
    )
}

/// Every `reference` string (`Type/id`, absolute URLs trimmed to their last two segments).
fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "reference"
                    && let Value::String(s) = v
                {
                    let parts: Vec<&str> = s.rsplitn(3, '/').collect();
                    if parts.len() >= 2 {
                        out.push(format!("{}/{}", parts[1], parts[0]));
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fills_holes_and_filters() {
        let bundle = json!({"resourceType": "Bundle", "entry": [
            {"resource": {"resourceType": "Patient", "id": "1",
                "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "1234567890"}],
                "name": [{"family": "Old", "given": ["Name"]}],
                "birthDate": "1901-02-03", "gender": "female"}},
            {"resource": {"resourceType": "List", "code": {"coding": [{"code": "886921000000105"}]},
                "entry": [{"item": {"reference": "AllergyIntolerance/a"}}]}},
            {"resource": {"resourceType": "AllergyIntolerance", "id": "a"}},
            {"resource": {"resourceType": "List", "code": {"coding": [{"code": "933361000000108"}]},
                "entry": [{"item": {"reference": "MedicationStatement/m"}}]}},
            {"resource": {"resourceType": "MedicationStatement", "id": "m"}}
        ]});
        let t = Template::build(bundle, ClinicalArea::Allergies.bit());
        let id = Identity {
            nhs: "9690937286".into(),
            family: "SKELLY".into(),
            given: "Horace".into(),
            birth_date: None,
            gender: Some("male".into()),
        };
        let body: Vec<u8> = t
            .render(
                &id,
                "trace-1",
                Some(r#"{"resource":{"resourceType":"OperationOutcome"}}"#),
            )
            .concat();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], "trace-1");
        assert_eq!(
            v["entry"][0]["resource"]["identifier"][0]["value"],
            "9690937286"
        );
        assert_eq!(v["entry"][0]["resource"]["name"][0]["family"], "SKELLY");
        // The patient's own gender; the fixture's birth date where the patient has none.
        assert_eq!(v["entry"][0]["resource"]["gender"], "male");
        assert_eq!(v["entry"][0]["resource"]["birthDate"], "1901-02-03");
        let types: Vec<_> = v["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["resourceType"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            types,
            ["Patient", "List", "AllergyIntolerance", "OperationOutcome"]
        );
    }
}
