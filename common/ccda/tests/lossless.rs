//! Nothing is lost: for every fixture and variant, the number of clinical
//! items in each GP Connect primary List (or, in an extract without primary
//! Lists, the number of resources of the area's type) equals the number of
//! `<entry>` elements plus visible "could not be shown" rows in the matching
//! section(s) of the produced XML. Both sides are counted independently of
//! the converter: the bundle with serde_json, the document with quick-xml
//! (`support::xml_sections`), never the converter's own report.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use xhuma_ccda::convert;

/// Primary List code → the section titles its items land in.
const MAP: &[(&[&str], &[&str])] = &[
    (
        &["886921000000105", "1103671000000101"],
        &["Allergies and adverse reactions"],
    ),
    (&["933361000000108"], &["Medications"]),
    (&["717711000000103"], &["Problems"]),
    (&["1102181000000102"], &["Immunisations"]),
    (&["887191000000108"], &["Investigations and results"]),
    (
        &["826501000000100"],
        &["Vital signs", "Other observations (uncategorised data)"],
    ),
    (&["1149501000000101"], &["Consultations"]),
    (&["792931000000107"], &["Referrals"]),
    (&["714311000000108"], &["Recalls and diary entries"]),
];

/// Distinct item references of all Lists with one of `codes`.
fn list_items(bundle: &Value, codes: &[&str]) -> Option<usize> {
    let mut seen: Vec<String> = Vec::new();
    let mut any = false;
    for e in bundle["entry"].as_array()? {
        let r = &e["resource"];
        if r["resourceType"] != "List" {
            continue;
        }
        let has = r["code"]["coding"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| codes.iter().any(|k| c["code"] == *k)));
        if !has {
            continue;
        }
        any = true;
        for item in r["entry"].as_array().into_iter().flatten() {
            let key = item["item"]["reference"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}", seen.len()));
            if !seen.contains(&key) {
                seen.push(key);
            }
        }
    }
    any.then_some(seen.len())
}

/// Without primary Lists every resource of the area's type is shown.
const BY_TYPE: &[(&str, &str)] = &[
    ("AllergyIntolerance", "Allergies and adverse reactions"),
    ("MedicationStatement", "Medications"),
    ("Condition", "Problems"),
    ("Immunization", "Immunisations"),
    ("ReferralRequest", "Referrals"),
];

fn has_primary_lists(bundle: &Value) -> bool {
    let codes: Vec<&str> = MAP.iter().flat_map(|(c, _)| c.iter().copied()).collect();
    bundle["entry"].as_array().into_iter().flatten().any(|e| {
        let r = &e["resource"];
        r["resourceType"] == "List"
            && r["code"]["coding"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| codes.iter().any(|k| c["code"] == *k)))
    })
}

fn count_of_type(bundle: &Value, t: &str) -> usize {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["resource"]["resourceType"] == t)
        .count()
}

#[test]
fn every_primary_list_item_reaches_its_section() {
    let cx = support::context();
    let mut checked = 0;
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, bytes) in support::documents() {
        let json: Value = serde_json::from_slice(&bytes).expect("fixture is JSON");
        let c = convert(&bytes, &cx).unwrap_or_else(|e| panic!("{name}: {e}"));
        let sections = support::xml_sections(&c.xml);
        let got_in = |titles: &[&str]| -> usize {
            sections
                .iter()
                .filter(|s| titles.contains(&s.title.as_str()))
                .map(|s| s.entries + s.unreadable)
                .sum()
        };
        if !has_primary_lists(&json) {
            for (t, title) in BY_TYPE {
                let expected = count_of_type(&json, t);
                let got = got_in(&[title]);
                assert_eq!(
                    got, expected,
                    "{name}: {title} has {got} items, the bundle has {expected} {t}"
                );
                *totals.entry(title).or_default() += expected;
                checked += 1;
            }
            continue;
        }
        for (codes, titles) in MAP {
            let Some(expected) = list_items(&json, codes) else {
                continue;
            };
            let got = got_in(titles);
            assert_eq!(
                got, expected,
                "{name}: {titles:?} has {got} items, GP Connect lists {expected}"
            );
            *totals.entry(titles[0]).or_default() += expected;
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} list/section pairs checked");
    println!("items checked per area: {totals:?}");
}

#[test]
fn fixtures_have_no_unreadable_items() {
    // Real supplier data in the fixtures is all readable; an unreadable row
    // here means the model is too strict.
    let cx = support::context();
    for (name, bytes) in support::documents() {
        let c = convert(&bytes, &cx).expect("convert");
        let bad: usize = support::xml_sections(&c.xml)
            .iter()
            .map(|s| s.unreadable)
            .sum();
        assert_eq!(bad, 0, "{name}: {:?}", c.report.warnings);
    }
}

#[test]
fn the_xml_has_the_sections_the_report_claims() {
    // The report is what logs and the CLI show; it must not drift from the document.
    let cx = support::context();
    for (name, bytes) in support::documents() {
        let c = convert(&bytes, &cx).expect("convert");
        let xml: Vec<(String, usize)> = support::xml_sections(&c.xml)
            .into_iter()
            .map(|s| (s.title, s.entries))
            .collect();
        let report: Vec<(String, usize)> = c
            .report
            .sections
            .iter()
            .map(|s| (s.title.clone(), s.entries))
            .collect();
        assert_eq!(xml, report, "{name}");
    }
}
