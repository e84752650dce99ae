//! Malformed and hostile requests get a SOAP 1.2 Fault with a safe reason, and never reach the
//! backend: bad XML, DTDs and entities, oversized bodies, wrong Action, SOAP 1.1, callbacks,
//! unknown mandatory headers, bad MTOM, wrong media type.
#![allow(clippy::unwrap_used)]

mod support;

use support::*;

fn fault(r: &Reply, status: u16, code: &str) -> String {
    let body = r.text();
    assert_eq!(r.status.as_u16(), status, "{body}");
    assert!(
        r.content_type().starts_with("application/soap+xml"),
        "{}",
        r.content_type()
    );
    assert!(
        body.contains(&format!("<env:Value>{code}</env:Value>")),
        "{body}"
    );
    assert!(
        body.contains("<wsa:Action>http://www.w3.org/2005/08/addressing/soap/fault</wsa:Action>")
    );
    assert!(r.headers.get("x-content-type-options").is_some());
    body
}

#[tokio::test]
async fn malformed_xml() {
    let (app, backend) = standard_app();
    for bad in [
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>",
        "not xml at all",
        "",
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><a></b></s:Body></s:Envelope>",
        "<x:Envelope><x:Body/></x:Envelope>",
    ] {
        let body = fault(
            &post_soap(&app, "/SOAP/iti55", bad).await,
            400,
            "env:Sender",
        );
        assert!(!body.contains("quick"), "{body}");
    }
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn dtd_and_entity_payloads() {
    let (app, backend) = standard_app();
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><p>&lol2;</p></s:Body></s:Envelope>"#;
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><p>&xxe;</p></s:Body></s:Envelope>"#;
    let undeclared = synthetic("iti55_request.xml").replace("SAMUAL", "&xxe;");
    for bad in [laughs.to_string(), xxe.to_string(), undeclared] {
        let body = fault(
            &post_soap(&app, "/SOAP/iti55", bad).await,
            400,
            "env:Sender",
        );
        assert!(
            body.contains("DTDs and entity declarations are not accepted."),
            "{body}"
        );
        assert!(!body.contains("root:"));
    }
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn oversized_and_too_deep_bodies() {
    let (app, backend) = app_with(FakeBackend::standard(), &[("XHUMA_MAX_BODY_BYTES", "4096")]);
    let big = synthetic("iti55_request.xml").replace(
        "</s:Header>",
        &format!("<!-- {} --></s:Header>", "x".repeat(8192)),
    );
    fault(
        &post_soap(&app, "/SOAP/iti55", big).await,
        413,
        "env:Sender",
    );
    let deep = synthetic("iti55_request.xml").replace(
        "<semanticsText>LivingSubject.id</semanticsText>",
        &format!("{}{}", "<x>".repeat(80), "</x>".repeat(80)),
    );
    let body = fault(
        &post_soap(&app, "/SOAP/iti55", deep).await,
        400,
        "env:Sender",
    );
    assert!(body.contains("limits"));
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn wrong_or_missing_action() {
    let (app, backend) = standard_app();
    let wrong = with_action(
        &synthetic("iti55_request.xml"),
        "urn:ihe:iti:2007:RegistryStoredQuery",
    );
    let body = fault(
        &post_soap(&app, "/SOAP", wrong.clone()).await,
        400,
        "env:Sender",
    );
    assert!(body.contains("ActionNotSupported"), "{body}");
    assert!(
        body.contains(
            "<wsa:RelatesTo>urn:uuid:11111111-2222-3333-4444-555555555555</wsa:RelatesTo>"
        )
    );
    fault(
        &post_soap(&app, "/SOAP/iti55", wrong).await,
        400,
        "env:Sender",
    );
    // An ITI-38 Action on the ITI-55 path.
    let crossed = with_action(
        &synthetic("iti55_request.xml"),
        "urn:ihe:iti:2007:CrossGatewayQuery",
    );
    fault(
        &post_soap(&app, "/SOAP/iti55", crossed).await,
        400,
        "env:Sender",
    );
    // No Action: the Epic path decides, the generic endpoint cannot.
    let start = synthetic("iti55_request.xml");
    let a = start.find("<a:Action").unwrap();
    let b = start.find("</a:Action>").unwrap() + "</a:Action>".len();
    let no_action = format!("{}{}", &start[..a], &start[b..]);
    let body = fault(
        &post_soap(&app, "/SOAP", no_action.clone()).await,
        400,
        "env:Sender",
    );
    assert!(body.contains("MessageAddressingHeaderRequired"));
    let r = post_soap(&app, "/SOAP/iti55", no_action).await;
    assert_eq!(r.status, 200);
    let discovered = backend
        .calls()
        .iter()
        .filter(|c| c.starts_with("discover "))
        .count();
    assert_eq!(discovered, 1, "only the Epic path reached the backend");
}

#[tokio::test]
async fn soap_11_gets_version_mismatch() {
    let (app, backend) = standard_app();
    let soap11 = synthetic("iti55_request.xml").replace(
        "http://www.w3.org/2003/05/soap-envelope",
        "http://schemas.xmlsoap.org/soap/envelope/",
    );
    let r = post(&app, "/SOAP/iti55", "text/xml; charset=utf-8", soap11).await;
    let body = fault(&r, 400, "env:VersionMismatch");
    assert!(body.contains("<env:Upgrade>"));
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn non_anonymous_reply_to_is_refused_and_never_called() {
    let (app, backend) = standard_app();
    for header in ["ReplyTo", "FaultTo"] {
        let evil = synthetic("iti55_request.xml").replace(
            "<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>",
            &format!("<a:{header}><a:Address>http://127.0.0.1:9/steal</a:Address></a:{header}>"),
        );
        let body = fault(
            &post_soap(&app, "/SOAP/iti55", evil).await,
            400,
            "env:Sender",
        );
        assert!(body.contains("OnlyAnonymousAddressSupported"));
    }
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn unknown_mandatory_header() {
    let (app, _) = standard_app();
    let req = synthetic("iti55_request.xml").replace(
        "</s:Header>",
        "<x:Billing xmlns:x=\"urn:example\" s:mustUnderstand=\"true\">1</x:Billing></s:Header>",
    );
    fault(
        &post_soap(&app, "/SOAP/iti55", req).await,
        400,
        "env:MustUnderstand",
    );
}

#[tokio::test]
async fn bad_mtom_and_media_type() {
    let (app, backend) = standard_app();
    let r = post(
        &app,
        "/SOAP/iti39",
        "multipart/related; type=\"application/xop+xml\"",
        synthetic("iti39_request_mtom.txt"),
    )
    .await;
    fault(&r, 400, "env:Sender");
    let r = post(
        &app,
        "/SOAP/iti39",
        "multipart/related; boundary=nope",
        synthetic("iti39_request_mtom.txt"),
    )
    .await;
    fault(&r, 400, "env:Sender");
    let r = post(&app, "/SOAP/iti55", "application/json", "{}").await;
    fault(&r, 415, "env:Sender");
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn wrong_payload_for_the_action() {
    let (app, _) = standard_app();
    let req = synthetic("iti55_request.xml")
        .replace("PRPA_IN201305UV02 xmlns", "PRPA_IN201310UV02 xmlns")
        .replace("</PRPA_IN201305UV02>", "</PRPA_IN201310UV02>");
    fault(
        &post_soap(&app, "/SOAP/iti55", req).await,
        400,
        "env:Sender",
    );
}

#[tokio::test]
async fn the_wsdl_is_served() {
    let (app, _) = standard_app();
    for (path, action) in [
        (
            "/SOAP/iti55?wsdl",
            "urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery",
        ),
        ("/SOAP/iti47?wsdl", "urn:hl7-org:v3:PRPA_IN201305UV02"),
        ("/SOAP/iti38?wsdl", "urn:ihe:iti:2007:CrossGatewayQuery"),
        ("/SOAP/iti39?WSDL", "urn:ihe:iti:2007:CrossGatewayRetrieve"),
        ("/SOAP?wsdl", "urn:ihe:iti:2007:CrossGatewayRetrieve"),
    ] {
        let req = http::Request::builder()
            .uri(path)
            .header("host", "xhuma.example:8443")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(action), "{path}");
        assert!(
            text.contains("soap12:address location=\"http://xhuma.example:8443/SOAP"),
            "{text}"
        );
    }
    let req = http::Request::builder()
        .uri("/SOAP/iti55?wsdl")
        .header("host", "evil\"><x")
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&body).contains("http://localhost/SOAP/iti55"));
}

#[tokio::test]
async fn a_panic_becomes_a_receiver_fault_without_details() {
    let mut b = FakeBackend::standard();
    b.fail = Some(Fail::Panic);
    let (app, _) = app_with(b, &[]);
    let body = fault(
        &post_soap(&app, "/SOAP/iti55", synthetic("iti55_request.xml")).await,
        500,
        "env:Receiver",
    );
    assert!(
        !body.contains("9690937278") && !body.contains("backend bug"),
        "{body}"
    );
}

#[tokio::test]
async fn the_request_deadline_answers_with_a_fault() {
    let mut b = FakeBackend::standard();
    b.fail = Some(Fail::Hang);
    let (app, _) = app_with(b, &[("XHUMA_REQUEST_TIMEOUT_MS", "50")]);
    let body = fault(
        &post_soap(&app, "/SOAP/iti55", synthetic("iti55_request.xml")).await,
        503,
        "env:Receiver",
    );
    assert!(
        body.contains(
            "<wsa:RelatesTo>urn:uuid:11111111-2222-3333-4444-555555555555</wsa:RelatesTo>"
        ),
        "{body}"
    );
}

#[tokio::test]
async fn overload_is_shed_with_503() {
    let mut b = FakeBackend::standard();
    b.fail = Some(Fail::Hang);
    let (app, backend) = app_with(b, &[("XHUMA_MAX_CONCURRENT_REQUESTS", "1")]);
    let busy = app.clone();
    let first = tokio::spawn(async move {
        post_soap(&busy, "/SOAP/iti55", synthetic("iti55_request.xml")).await
    });
    while backend.calls().is_empty() {
        tokio::task::yield_now().await;
    }
    let body = fault(
        &post_soap(&app, "/SOAP/iti55", synthetic("iti55_request.xml")).await,
        503,
        "env:Receiver",
    );
    assert!(body.contains("busy"), "{body}");
    assert_eq!(backend.calls().len(), 1);
    first.abort();
}
