//! Golden C-CDA documents for a handful of small fixtures (reviewed by hand;
//! regenerate with `INSTA_UPDATE=always cargo test -p xhuma-ccda --test
//! snapshots` and review the diff). Together they cover contained ended
//! allergies, a Medicus-style medication, body-site and uncategorised
//! observations, a text document, a DiagnosticReport with nested results, and
//! a consultation.

mod support;

use xhuma_ccda::convert;

fn snap(rel: &str) -> String {
    let c = convert(&support::fixture(rel), &support::context())
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    String::from_utf8(c.xml).expect("utf8")
}

#[test]
fn allergies_contained_resolved() {
    insta::assert_snapshot!(snap(
        "gpconnect/bundles/edge-cases/allergies-contained-resolved-9728951256.json"
    ));
}

#[test]
fn medicus_based_on() {
    insta::assert_snapshot!(snap(
        "gpconnect/bundles/edge-cases/medicus-basedon-9302014592.json"
    ));
}

#[test]
fn body_site() {
    insta::assert_snapshot!(snap(
        "gpconnect/bundles/edge-cases/bodysite-1239577290.json"
    ));
}

#[test]
fn related_observations() {
    insta::assert_snapshot!(snap(
        "gpconnect/bundles/edge-cases/unit-fhir-bundle-observations-with-related-observations.json"
    ));
}

#[test]
fn one_consultation() {
    insta::assert_snapshot!(snap(
        "gpconnect/bundles/edge-cases/unit-1-consultation-resource.json"
    ));
}

#[test]
fn skelly_normal_report() {
    let c = convert(
        &support::fixture("gpconnect/bundles/demonstrator/9690937287-skelly-normal.json"),
        &support::context(),
    )
    .expect("convert");
    insta::assert_debug_snapshot!(c.report);
}
