//! ITI-47 (PDQv3): the official IHE PDQ query and the Epic-style NHS-number query.
#![allow(clippy::unwrap_used)]

mod support;

use support::*;

const PATH: &str = "/SOAP/iti47";

/// Wraps a bare PRPA_IN201305UV02 (the IHE examples have no envelope) in a SOAP 1.2 envelope.
pub fn wrap_pdq(payload: &str) -> String {
    let payload = payload.trim_start();
    let payload = match payload.strip_prefix("<?xml") {
        Some(rest) => &rest[rest.find("?>").unwrap() + 2..],
        None => payload,
    };
    format!(
        r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"><soap:Header><wsa:Action soap:mustUnderstand="1">urn:hl7-org:v3:PRPA_IN201305UV02</wsa:Action><wsa:MessageID>urn:uuid:5e0c7b1c-7a0a-4f3b-9d7e-3c2a1b0e9f11</wsa:MessageID></soap:Header><soap:Body>{payload}</soap:Body></soap:Envelope>"#
    )
}

fn check(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    validate("iti47-response", &r.body, false);
    r.text()
}

#[tokio::test]
async fn official_pdq_query_by_demographics_is_a_pds_search() {
    let req = wrap_pdq(&fixture("schemas/examples/ihe/PDQV3/01_PDQQuery1.xml"));
    validate("iti47-request", req.as_bytes(), false);
    let (app, backend) = standard_app();
    let body = check(&post_soap(&app, PATH, req).await);
    // Jimmy Jones, born 1963-08-04: PDS has no such patient, so no match (AA/NF).
    assert!(body.contains("<queryResponseCode code=\"NF\"/>"), "{body}");
    assert!(body.contains("<typeCode code=\"AA\"/>"), "{body}");
    assert!(body.contains(
        "<wsa:Action env:mustUnderstand=\"true\">urn:hl7-org:v3:PRPA_IN201306UV02</wsa:Action>"
    ));
    // The demographic query (with its xsi:type match criterion) is echoed and stays valid.
    assert!(body.contains("Jimmy"));
    assert!(
        backend.calls().iter().all(|c| c.starts_with("search")),
        "{:?}",
        backend.calls()
    );
}

#[tokio::test]
async fn official_pdq_query_with_an_nhs_number() {
    let req = wrap_pdq(&fixture("schemas/examples/ihe/PDQV3/01_PDQQuery1.xml").replace(
        "<livingSubjectName>",
        "<livingSubjectId><value root=\"2.16.840.1.113883.2.1.4.1\" extension=\"9690937278\"/><semanticsText>LivingSubject.id</semanticsText></livingSubjectId><livingSubjectName>",
    ));
    validate("iti47-request", req.as_bytes(), false);
    let (app, _) = standard_app();
    let body = check(&post_soap(&app, PATH, req).await);
    assert!(body.contains("<queryResponseCode code=\"OK\"/>"), "{body}");
    assert!(body.contains("<given>Lucien</given>"));
    assert!(
        !body.contains("HealthDataLocator"),
        "the XCPD custodian code is ITI-55 only"
    );
}

#[tokio::test]
async fn epic_style_query_on_the_pdq_path_and_by_action() {
    let req = with_action(
        &synthetic("iti55_request.xml"),
        "urn:hl7-org:v3:PRPA_IN201305UV02",
    );
    let (app, backend) = standard_app();
    let body = check(&post_soap(&app, PATH, req.clone()).await);
    assert!(body.contains("<queryResponseCode code=\"OK\"/>"));
    let body = check(&post_soap(&app, "/SOAP", req).await);
    assert!(body.contains("<queryResponseCode code=\"OK\"/>"));
    let calls = backend.calls();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("prefetch ")).count(),
        2,
        "both start the prefetch after a match: {calls:?}"
    );
}
