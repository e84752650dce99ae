//! ITI-55 (XCPD): the synthetic Epic requests, XCPD "no match" semantics, query errors.
#![allow(clippy::unwrap_used)]

mod support;

use support::*;
use xhuma_common::patient::PdsOutcome;

const PATH: &str = "/SOAP/iti55";

#[tokio::test]
async fn epic_request_with_two_ids_is_answered_aa_ok() {
    let (app, backend) = standard_app();
    let r = post_soap(&app, PATH, synthetic("iti55_request.xml")).await;
    let body = r.text();
    assert_eq!(r.status, 200, "{body}");
    assert!(r.content_type().starts_with("application/soap+xml"));
    validate("iti55-response", &r.body, false);
    assert!(body.contains(r#"<typeCode code="AA"/>"#), "{body}");
    assert!(body.contains(r#"<queryResponseCode code="OK"/>"#));
    assert!(body.contains(r#"<id root="2.16.840.1.113883.2.1.4.1" extension="9690937278"/>"#));
    assert!(body.contains(r#"<id root="2.16.840.1.113883.2.1.4.1.99" extension="9690937278"/>"#));
    assert!(body.contains(r#"<id root="2.16.840.1.113883.2.1.4.3" extension="E82665"/>"#));
    assert!(body.contains(r#"<registrationEvent classCode="REG" moodCode="EVN">"#));
    assert!(body.contains(
        r#"<interactionId root="2.16.840.1.113883.1.6" extension="PRPA_IN201306UV02"/>"#
    ));
    assert!(
        body.contains(
            "<wsa:RelatesTo>urn:uuid:11111111-2222-3333-4444-555555555555</wsa:RelatesTo>"
        )
    );
    assert!(body.contains("<wsa:MessageID>urn:uuid:"));
    // The HL7 message id of the request is what the acknowledgement targets.
    assert!(body.contains(r#"<targetMessage><id root="1.2.840.114350.1.13.525.3.7.3.688884.100" extension="MSG1"/></targetMessage>"#));
    // queryByParameter is echoed.
    assert!(body.contains("UHL5MFM2ZLPQCW5"));
    let creation = body.split("<creationTime value=\"").nth(1).unwrap();
    assert!(creation[..14].bytes().all(|b| b.is_ascii_digit()) && &creation[14..15] == "\"");
    assert_eq!(
        backend.calls(),
        vec![
            "discover 9690937278 as Xhuma gateway",
            "prefetch 9690937278"
        ]
    );
}

#[tokio::test]
async fn single_livingsubjectid_value_works() {
    let (app, _) = standard_app();
    let r = post_soap(&app, PATH, synthetic("iti55_request_single_id.xml")).await;
    validate("iti55-response", &r.body, false);
    assert!(r.text().contains(r#"<queryResponseCode code="OK"/>"#));
}

async fn answer_for(outcome: PdsOutcome) -> String {
    let mut b = FakeBackend::standard();
    b.patients.insert(nhs(LUCIEN), outcome);
    let (app, _) = app_with(b, &[]);
    let r = post_soap(&app, PATH, synthetic("iti55_request.xml")).await;
    assert_eq!(r.status, 200);
    validate("iti55-response", &r.body, false);
    r.text()
}

/// The parts of an answer that differ between two identical requests.
fn strip_volatile(s: &str) -> String {
    let mut out = String::new();
    for part in s.split('"') {
        let volatile = part.len() >= 14 && part.bytes().all(|b| b.is_ascii_digit())
            || uuid::Uuid::parse_str(part.trim_start_matches("urn:uuid:")).is_ok();
        out.push_str(if volatile { "X" } else { part });
        out.push('"');
    }
    out.split("<wsa:MessageID>").next().unwrap().to_string()
        + s.split("</wsa:MessageID>")
            .nth(1)
            .map(|t| t.split("<creationTime").next().unwrap())
            .unwrap_or("")
}

#[tokio::test]
async fn not_found_restricted_and_deceased_look_the_same() {
    let not_found = answer_for(PdsOutcome::NotFound).await;
    let restricted = answer_for(PdsOutcome::Restricted).await;
    let deceased = answer_for(PdsOutcome::Deceased {
        date: Some("2020-01-01".into()),
    })
    .await;
    for body in [&not_found, &restricted, &deceased] {
        assert!(body.contains(r#"<typeCode code="AA"/>"#), "{body}");
        assert!(body.contains(r#"<queryResponseCode code="NF"/>"#));
        assert!(!body.contains("<subject "));
        assert!(!body.to_lowercase().contains("restrict"));
        assert!(!body.to_lowercase().contains("deceased"));
    }
    let shape = |s: &str| {
        s.split("<creationTime").next().unwrap().len()
            - s.split("<wsa:MessageID>").next().unwrap().len()
    };
    assert_eq!(shape(&not_found), shape(&restricted));
    assert_eq!(not_found.len(), restricted.len());
    assert_eq!(not_found.len(), deceased.len());
    let _ = strip_volatile;
}

#[tokio::test]
async fn superseded_number_answers_with_the_current_patient() {
    let mut current = lucien();
    current.nhs_number = other_nhs(943476591);
    let body = answer_for(PdsOutcome::Superseded {
        requested: nhs(LUCIEN),
        current: Box::new(current.clone()),
    })
    .await;
    assert!(body.contains(&format!("extension=\"{}\"", current.nhs_number)));
}

/// Epic's XCPD often carries demographics only: without an NHS number the gateway asks PDS
/// for a single match by family name and birth date (given names, gender and postcode too).
#[tokio::test]
async fn demographics_only_query_is_a_pds_search() {
    let (app, backend) = standard_app();
    let no_id = synthetic("iti55_request_single_id.xml")
        .replace("root=\"2.16.840.1.113883.2.1.4.1\"", "root=\"1.2.3.4\"");
    let r = post_soap(&app, PATH, no_id.clone()).await;
    let body = r.text();
    assert_eq!(r.status, 200, "{body}");
    validate("iti55-response", &r.body, false);
    assert!(body.contains(r#"<typeCode code="AA"/>"#), "{body}");
    assert!(body.contains(r#"<queryResponseCode code="OK"/>"#), "{body}");
    assert!(
        body.contains("extension=\"9690937278\""),
        "the NHS number found: {body}"
    );
    let calls = backend.calls();
    assert!(calls.iter().any(|c| c.starts_with("search")), "{calls:?}");
    assert!(calls.iter().any(|c| c.starts_with("prefetch")), "{calls:?}");

    // Demographics that match nobody, or only in part: no match, never a guess.
    for (from, to) in [
        ("value=\"19381211\"", "value=\"19381212\""),
        ("<given>Lucien</given>", "<given>Lucian</given>"),
        ("<value code=\"M\"/>", "<value code=\"F\"/>"),
    ] {
        let (app, backend) = standard_app();
        let r = post_soap(&app, PATH, no_id.replace(from, to)).await;
        let body = r.text();
        validate("iti55-response", &r.body, false);
        assert!(
            body.contains(r#"<queryResponseCode code="NF"/>"#),
            "{to}: {body}"
        );
        assert!(!body.contains("<subject "), "{to}: {body}");
        assert!(!backend.calls().iter().any(|c| c.starts_with("prefetch")));
    }

    // Two patients fit the demographics: no match (PDS says "more than one", we do not pick).
    let mut b = FakeBackend::standard();
    let mut twin = lucien();
    twin.nhs_number = nhs("9690937286");
    b.patients.insert(
        twin.nhs_number,
        xhuma_common::patient::PdsOutcome::Found(twin),
    );
    let (app, _) = app_with(b, &[]);
    let body = post_soap(&app, PATH, no_id.clone()).await.text();
    assert!(body.contains(r#"<queryResponseCode code="NF"/>"#), "{body}");

    // Too little to search by (no birth date): a query error, and PDS is not asked.
    let (app, backend) = standard_app();
    let thin = no_id.replace("<value value=\"19381211\"/>", "<value value=\"1938\"/>");
    let body = post_soap(&app, PATH, thin).await.text();
    assert!(body.contains(r#"<queryResponseCode code="QE"/>"#), "{body}");
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn missing_or_invalid_nhs_number_is_ae_qe() {
    let (app, backend) = standard_app();
    let req = synthetic("iti55_request_single_id.xml");
    // No NHS number and no family name to search by.
    let no_id_no_name = req
        .replace("root=\"2.16.840.1.113883.2.1.4.1\"", "root=\"1.2.3.4\"")
        .replace("<family>SAMUAL</family>", "");
    for body in [
        no_id_no_name,
        req.replace("extension=\"9690937278\"", "extension=\"9690937277\""),
        req.replace("extension=\"9690937278\"", "extension=\"96909372\""),
    ] {
        let r = post_soap(&app, PATH, body).await;
        let body = r.text();
        assert_eq!(r.status, 200, "{body}");
        validate("iti55-response", &r.body, false);
        assert!(body.contains(r#"<typeCode code="AE"/>"#), "{body}");
        assert!(body.contains(r#"<queryResponseCode code="QE"/>"#));
        assert!(body.contains("<acknowledgementDetail typeCode=\"E\">"));
    }
    assert!(
        backend.calls().is_empty(),
        "no PDS lookup without a valid number"
    );
}

#[tokio::test]
async fn backend_failure_is_ae_without_internal_text() {
    let mut b = FakeBackend::standard();
    b.fail = Some(Fail::Unavailable);
    let (app, _) = app_with(b, &[]);
    let r = post_soap(&app, PATH, synthetic("iti55_request.xml")).await;
    let body = r.text();
    validate("iti55-response", &r.body, false);
    assert!(body.contains(r#"<queryResponseCode code="AE"/>"#));
    assert!(!body.contains("10.0.0.7"));
    assert!(!body.contains("redis"));
}

#[tokio::test]
async fn demographic_cross_check_when_enabled() {
    let (app, _) = app_with(
        FakeBackend::standard(),
        &[("XHUMA_XCPD_DEMOGRAPHIC_CHECK", "true")],
    );
    let ok = post_soap(&app, PATH, synthetic("iti55_request.xml")).await;
    assert!(ok.text().contains(r#"<queryResponseCode code="OK"/>"#));
    let wrong_dob = synthetic("iti55_request.xml").replace("19381211", "19400101");
    let r = post_soap(&app, PATH, wrong_dob).await;
    validate("iti55-response", &r.body, false);
    assert!(r.text().contains(r#"<queryResponseCode code="NF"/>"#));
}

#[tokio::test]
async fn generic_endpoint_dispatches_on_action() {
    let (app, _) = standard_app();
    for path in ["/SOAP", "/xca"] {
        let r = post_soap(&app, path, synthetic("iti55_request.xml")).await;
        validate("iti55-response", &r.body, false);
        assert!(
            r.text()
                .contains("PRPA_IN201306UV02:CrossGatewayPatientDiscovery")
        );
    }
}

#[tokio::test]
async fn mtom_request_on_any_route_gets_an_mtom_answer() {
    let (app, _) = standard_app();
    let body = format!(
        "--b1\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-ID: <root@epic>\r\n\r\n{}\r\n--b1--\r\n",
        synthetic("iti55_request.xml")
    );
    let r = post(
        &app,
        PATH,
        "multipart/related; type=\"application/xop+xml\"; boundary=b1; start=\"<root@epic>\"; start-info=\"application/soap+xml\"",
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.content_type().starts_with("multipart/related"));
    validate("iti55-response", &r.raw_with_headers(), true);
    assert!(r.text().contains(r#"<queryResponseCode code="OK"/>"#));
}
