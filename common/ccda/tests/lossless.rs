//! Nothing is lost: for every fixture, the number of clinical items in each
//! GP Connect primary List equals the number of entries (plus visible "could
//! not be shown" rows) in the matching section(s). Counted independently of
//! the converter, straight from the JSON.

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

#[test]
fn every_primary_list_item_reaches_its_section() {
    let cx = support::context();
    let mut checked = 0;
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for p in support::bundles() {
        if support::expect_error(&p) {
            continue;
        }
        let name = support::name(&p);
        let bytes = std::fs::read(&p).expect("read");
        let json: Value = serde_json::from_slice(&bytes).expect("fixture is JSON");
        let c = convert(&bytes, &cx).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (codes, titles) in MAP {
            let Some(expected) = list_items(&json, codes) else {
                continue;
            };
            let got: usize = c
                .report
                .sections
                .iter()
                .filter(|s| titles.contains(&s.title.as_str()))
                .map(|s| s.entries + s.unreadable)
                .sum();
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
    for p in support::bundles() {
        if support::expect_error(&p) {
            continue;
        }
        let c = convert(&std::fs::read(&p).expect("read"), &cx).expect("convert");
        let bad: usize = c.report.sections.iter().map(|s| s.unreadable).sum();
        assert_eq!(bad, 0, "{}: {:?}", support::name(&p), c.report.warnings);
    }
}
