//! Shared helpers for the integration tests: fixture discovery (read in place
//! from the sibling `shared/` checkout) and a fixed conversion context.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use xhuma_ccda::Context;

/// `/work/shared` (or the CI clone's sibling `shared/`).
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// Every GP Connect bundle fixture, sorted.
pub fn bundles() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let roots = [
        shared().join("fixtures/gpconnect/bundles"),
        shared().join("fixtures/xhuma/bundles"),
    ];
    for root in roots {
        let mut dirs = vec![root];
        while let Some(d) = dirs.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "json") {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 40,
        "fixtures not found under {}",
        shared().display()
    );
    out
}

pub fn fixture(rel: &str) -> Vec<u8> {
    let p = shared().join("fixtures").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A fixed clock and document id, so outputs are reproducible.
pub fn context() -> Context {
    let now = time::macros::datetime!(2026-11-22 07:00:00 UTC);
    Context::new(
        now,
        uuid::Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0001),
    )
}

/// Fixtures that must be refused: the bundle has no Patient.
pub fn expect_error(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.contains("missing-patient")
        || name.contains("with-no-patient")
        || name.contains("duplicated-resource-bundle")
}

pub fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Cases the fixtures do not hold, made from a fixture in memory (the
/// fixtures stay read-only): `(name, bundle bytes)`. They are converted,
/// snapshotted and validated like the fixtures.
///
/// - `variant-not-given-immunisations`: dougill with two immunisations
///   recorded as not given, one refused (maps to ActReason PATOBJ), one
///   with a reason that has no ActReason (nullFlavor OTH, SNOMED kept).
/// - `variant-two-patients`: meyers with a second, unrelated Patient placed
///   first in the bundle; the Lists' subject decides.
/// - `variant-text-name`: dougill whose only name is a `usual` text name.
/// - `variant-stopped-plan`: nel with every plan of an active statement
///   stopped, with a status reason.
/// - `variant-allergy-criticality`: gainsford whose first three allergies
///   have criticality low, high and unable-to-assess, the first with a
///   moderate reaction and the second with a severity but no manifestation.
/// - `variant-dose-timing`: cadwall whose three active statements carry the
///   structured dosage their text says: a UCUM dose range once a day (PIVL
///   `1 d`, IVL_PQ in `mL`), a dose range in puffs "up to four times a day"
///   (`frequencyMax`: no PIVL; `puff` is not UCUM, so no `@unit`), and one
///   tablet three times a day (PIVL `8 h`).
/// - `variant-coded-refusal`: dougill with two immunisations not given, whose
///   reasons map to ActReason only by their SNOMED CT code (MEDPREC, PATOBJ);
///   their words alone match no ActReason.
pub fn variants() -> Vec<(String, Vec<u8>)> {
    use serde_json::{Value, json};
    let load =
        |rel: &str| -> Value { serde_json::from_slice(&fixture(rel)).expect("fixture JSON") };
    let entries =
        |b: &mut Value| -> Vec<Value> { b["entry"].as_array().cloned().unwrap_or_default() };
    let mut out = Vec::new();

    let mut b = load("gpconnect/bundles/emis-uat/9465701483-dougill.json");
    let mut n = 0;
    for e in b["entry"].as_array_mut().expect("entries") {
        let r = &mut e["resource"];
        if r["resourceType"] == "Immunization" && n < 2 {
            r["notGiven"] = json!(true);
            r["explanation"] = if n == 0 {
                json!({"reasonNotGiven": [{"coding": [{"system": "http://snomed.info/sct",
                    "code": "1343531000000105", "display": "Immunisation declined"}]}]})
            } else {
                json!({"reasonNotGiven": [{"coding": [{"system": "http://snomed.info/sct",
                    "code": "1343541000000101", "display": "Vaccination course postponed"}]}]})
            };
            n += 1;
        }
    }
    out.push(("variant-not-given-immunisations".to_string(), b));

    let mut b = load("gpconnect/bundles/emis-uat/9465701262-meyers.json");
    let mut es = entries(&mut b);
    es.insert(
        0,
        json!({"resource": {"resourceType": "Patient", "id": "other-patient",
            "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}],
            "name": [{"use": "official", "family": "Other", "given": ["Not", "This"]}],
            "gender": "male", "birthDate": "1950-01-01"}}),
    );
    b["entry"] = Value::Array(es);
    out.push(("variant-two-patients".to_string(), b));

    let mut b = load("gpconnect/bundles/emis-uat/9465701483-dougill.json");
    for e in b["entry"].as_array_mut().expect("entries") {
        if e["resource"]["resourceType"] == "Patient" {
            e["resource"]["name"] = json!([{"use": "usual", "text": "Ms Cedar Ursella DOUGILL"}]);
        }
    }
    out.push(("variant-text-name".to_string(), b));

    let mut b = load("gpconnect/bundles/emis-uat/9465701459-nel.json");
    let es = entries(&mut b);
    let plans: Vec<String> = es
        .iter()
        .filter(|e| {
            e["resource"]["resourceType"] == "MedicationStatement"
                && e["resource"]["status"] == "active"
        })
        .filter_map(|e| {
            e["resource"]["basedOn"][0]["reference"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    for e in b["entry"].as_array_mut().expect("entries") {
        let r = &mut e["resource"];
        let key = format!("MedicationRequest/{}", r["id"].as_str().unwrap_or(""));
        if r["resourceType"] == "MedicationRequest" && plans.contains(&key) {
            r["status"] = json!("stopped");
            r["extension"].as_array_mut().expect("extensions").push(json!({
                "url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-MedicationStatusReason-1",
                "extension": [
                    {"url": "statusChangeDate", "valueDateTime": "2020-02-03"},
                    {"url": "statusReason", "valueCodeableConcept": {"text": "Adverse reaction"}}
                ]}));
        }
    }
    out.push(("variant-stopped-plan".to_string(), b));

    let mut b = load("gpconnect/bundles/emis-uat/9465698679-gainsford.json");
    let mut n = 0;
    for e in b["entry"].as_array_mut().expect("entries") {
        let r = &mut e["resource"];
        if r["resourceType"] == "AllergyIntolerance" && n < 3 {
            r["criticality"] = json!(["low", "high", "unable-to-assess"][n]);
            if n == 0 {
                r["reaction"] = json!([{"severity": "moderate", "manifestation": [{"coding": [{
                    "system": "http://snomed.info/sct", "code": "271807003", "display": "Rash"}]}]}]);
            }
            if n == 1 {
                r["reaction"] = json!([{"severity": "severe", "description": "Collapsed"}]);
            }
            n += 1;
        }
    }
    out.push(("variant-allergy-criticality".to_string(), b));

    let mut b = load("gpconnect/bundles/emis-e2e/9726908779-pwtp11-cadwall.json");
    let ucum = |v: u64, c: &str| json!({"value": v, "unit": c, "system": "http://unitsofmeasure.org", "code": c});
    let puff = |v: u64| json!({"value": v, "unit": "puff"});
    for e in b["entry"].as_array_mut().expect("entries") {
        let r = &mut e["resource"];
        if r["resourceType"] != "MedicationStatement" {
            continue;
        }
        let id = r["id"].as_str().unwrap_or("").to_string();
        let d = &mut r["dosage"][0];
        if id.starts_with("AEDDB53B") {
            d["text"] = json!("5 to 10 ml once a day");
            d["doseRange"] = json!({"low": ucum(5, "mL"), "high": ucum(10, "mL")});
            d["timing"] = json!({"repeat": {"period": 1, "periodUnit": "d"}});
        } else if id.starts_with("F86CDA0F") {
            d["doseRange"] = json!({"low": puff(1), "high": puff(2)});
            d["timing"] = json!({"repeat": {"frequency": 1, "frequencyMax": 4, "period": 1, "periodUnit": "d"}});
        } else if id.starts_with("0DE53CCF") {
            d["doseQuantity"] = json!({"value": 1, "unit": "tablet",
                "system": "http://snomed.info/sct", "code": "428673006"});
            d["timing"] = json!({"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}});
        }
    }
    out.push(("variant-dose-timing".to_string(), b));

    let mut b = load("gpconnect/bundles/emis-uat/9465701483-dougill.json");
    let mut n = 0;
    for e in b["entry"].as_array_mut().expect("entries") {
        let r = &mut e["resource"];
        if r["resourceType"] == "Immunization" && n < 2 {
            let (code, display) = [
                ("268560002", "Medical C/I - immunization"),
                ("310376006", "Immunization consent not given"),
            ][n];
            r["notGiven"] = json!(true);
            r["explanation"] = json!({"reasonNotGiven": [{"coding": [{
                "system": "http://snomed.info/sct", "code": code, "display": display}]}]});
            n += 1;
        }
    }
    out.push(("variant-coded-refusal".to_string(), b));

    out.into_iter()
        .map(|(n, v)| (n, serde_json::to_vec_pretty(&v).expect("serialise")))
        .collect()
}

/// Every fixture that should convert, and every variant: `(name, bytes)`.
pub fn documents() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = bundles()
        .into_iter()
        .filter(|p| !expect_error(p))
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read fixture");
            (name(&p).trim_end_matches(".json").to_string(), bytes)
        })
        .collect();
    out.extend(variants());
    out
}

/// One `<section>` of a produced document, read back with quick-xml (not
/// with anything from the converter).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct XmlSection {
    pub title: String,
    /// `<entry>` children of the section.
    pub entries: usize,
    /// Narrative cells saying the item could not be shown.
    pub unreadable: usize,
}

/// The sections of `xml` in document order.
pub fn xml_sections(xml: &[u8]) -> Vec<XmlSection> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut out: Vec<XmlSection> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        match r.read_event_into(&mut buf).expect("well-formed XML") {
            Event::Eof => break,
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                if name == "section" {
                    open.push(out.len());
                    out.push(XmlSection::default());
                }
                if name == "entry"
                    && stack.last().is_some_and(|p| p == "section")
                    && let Some(&i) = open.last()
                {
                    out[i].entries += 1;
                }
                stack.push(name);
            }
            Event::Empty(e) => {
                if e.local_name().as_ref() == "entry"
                    && stack.last().is_some_and(|p| p == "section")
                    && let Some(&i) = open.last()
                {
                    out[i].entries += 1;
                }
            }
            Event::Text(t) => {
                let text = t.into_inner().into_owned();
                let n = stack.len();
                if let Some(&i) = open.last() {
                    if n >= 2 && stack[n - 1] == "title" && stack[n - 2] == "section" {
                        out[i].title.push_str(&text);
                    }
                    if stack.last().is_some_and(|p| p == "td")
                        && text.contains("could not be shown")
                    {
                        out[i].unreadable += 1;
                    }
                }
            }
            Event::End(_) => {
                let closed = stack.pop();
                if closed.as_deref() == Some("section") {
                    open.pop();
                }
            }
            _ => {}
        }
        buf.clear();
    }
    out
}

/// The text of the `<section>` titled `title` (from its title to its end).
pub fn section_text(xml: &[u8], title: &str) -> String {
    let s = String::from_utf8_lossy(xml);
    let Some(start) = s.find(&format!("<title>{title}</title>")) else {
        return String::new();
    };
    let rest = &s[start..];
    rest[..rest.find("</section>").unwrap_or(rest.len())].to_string()
}

/// The bundle bytes of the variant `name`.
pub fn variant(name: &str) -> Vec<u8> {
    variants()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b)
        .unwrap_or_else(|| panic!("no variant {name}"))
}
