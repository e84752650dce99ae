//! Trust at the edge, through the router: requests signed by the test IdP (at the real clock)
//! are served only for the patient their assertion names, only for an accepted purpose of use,
//! only once, and every refusal is a typed fault (or RegistryError) and a security alert.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use support::*;
use time::OffsetDateTime;
use xhuma_gateway::{AppState, router};
use xhuma_test_idp::{Claims, Signer, sign_request};

const AUDIENCE: &str = "https://xhuma.test/SOAP";
const ISSUER: &str = "CN=test-idp.epic.invalid, O=Xhuma Test, C=GB";

fn saml_data(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/saml")
        .join(name)
}

fn app(extra: &[(&str, &str)]) -> (axum::Router, Arc<FakeBackend>) {
    let trust = saml_data("idp.crt").display().to_string();
    let mut pairs = vec![
        ("XHUMA_SAML_TRUST_PEM", trust.as_str()),
        ("XHUMA_SAML_AUDIENCE", AUDIENCE),
        ("XHUMA_SAML_TRUSTED_ISSUERS", ISSUER),
        ("XHUMA_SAML_REQUIRED", "true"),
        ("XHUMA_SAML_ALLOW_UNSIGNED", "false"),
        ("XHUMA_SAML_ALLOW_SHA1", "true"),
        ("XHUMA_SAML_REQUIRE_RESOURCE_ID", "true"),
    ];
    pairs.extend_from_slice(extra);
    let backend = Arc::new(FakeBackend::standard());
    let state = AppState::new(config(&pairs), backend.clone()).unwrap();
    (router(state), backend)
}

fn signer(hok: bool) -> Signer {
    let read = |n| std::fs::read(saml_data(n)).unwrap();
    let mut s = Signer::new(read("idp.key"), read("idp.crt"));
    if hok {
        s = s.with_holder_of_key(read("hok.key"), read("hok.crt"));
    }
    s.sha1 = true;
    s
}

fn claims(nhs: &str) -> Claims {
    let mut c = Claims::epic_like(nhs, Some(AUDIENCE));
    c.issuer = ISSUER.into();
    c
}

fn signed(request: &str, c: &Claims) -> String {
    sign_request(request, c, &signer(false), OffsetDateTime::now_utc()).unwrap()
}

fn iti55() -> String {
    synthetic("iti55_request.xml")
}

fn iti38() -> String {
    synthetic("iti38_request.xml")
}

fn iti39() -> String {
    let ex = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/local/examples/iti39.xml");
    std::fs::read_to_string(ex)
        .unwrap()
        .replace("DOCUMENT_UNIQUE_ID", FIXTURE_DOC_ID)
}

fn is_denied_fault(r: &Reply) -> bool {
    r.status == 400
        && r.text().contains("FailedAuthentication")
        && r.text()
            .contains("does not authorise access to this patient")
}

#[tokio::test]
async fn the_named_patient_is_served_on_every_transaction() {
    let (app, backend) = app(&[]);
    let c = claims(LUCIEN);
    let r = post_soap(&app, "/SOAP/iti55", signed(&iti55(), &c)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("code=\"AA\""));
    let r = post_soap(&app, "/SOAP/iti38", signed(&iti38(), &c)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("ExtrinsicObject"));
    let r = post_soap(&app, "/SOAP/iti39", signed(&iti39(), &c)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("<xdsb:Document>"), "{}", r.text());
    assert!(backend.alerts().is_empty(), "{:?}", backend.alerts());
}

#[tokio::test]
async fn another_patients_record_is_refused_and_audited() {
    let (app, backend) = app(&[]);
    // A valid assertion naming another patient; the Body asks for Lucien.
    let other = other_nhs(100_000_000).to_string();
    let c = claims(&other);
    let r = post_soap(&app, "/SOAP/iti55", signed(&iti55(), &c)).await;
    assert!(is_denied_fault(&r), "ITI-55: {}", r.text());
    let r = post_soap(&app, "/SOAP/iti38", signed(&iti38(), &c)).await;
    assert!(is_denied_fault(&r), "ITI-38: {}", r.text());
    // Nothing was looked up, fetched or queried for the patient asked about.
    assert!(
        backend.calls().is_empty(),
        "backend reached: {:?}",
        backend.calls()
    );
    // ITI-39: the document id alone is not enough; the document's patient is checked.
    let r = post_soap(&app, "/SOAP/iti39", signed(&iti39(), &c)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.text();
    assert!(body.contains("XDSRegistryError"), "{body}");
    assert!(body.contains("does not authorise access"), "{body}");
    assert!(!body.contains("<xdsb:Document>"), "{body}");
    assert!(!body.contains("SAMUAL"), "{body}");
    assert_eq!(
        backend.alerts(),
        vec![
            "iti55 patient_mismatch",
            "iti38 patient_mismatch",
            "iti39 patient_mismatch"
        ]
    );
}

#[tokio::test]
async fn an_assertion_naming_no_patient_is_refused() {
    let (app, backend) = app(&[]);
    let mut c = claims(LUCIEN);
    c.resource_id = None;
    let r = post_soap(&app, "/SOAP/iti38", signed(&iti38(), &c)).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("must name the patient"), "{}", r.text());
    // A local MRN is not an NHS number.
    c.resource_id = Some("UHL5MFM2ZLPQCW5^^^&1.2.840.114350.1.13.525.3.7.3.688884.100&ISO".into());
    let r = post_soap(&app, "/SOAP/iti38", signed(&iti38(), &c)).await;
    assert_eq!(r.status, 400);
    assert!(backend.calls().is_empty());
    assert_eq!(
        backend.alerts(),
        vec!["iti38 saml_no_patient", "iti38 saml_no_patient"]
    );
}

#[tokio::test]
async fn purpose_of_use_is_an_allow_list() {
    let (app, backend) = app(&[]);
    let mut c = claims(LUCIEN);
    c.purpose_of_use.code = "MARKETING".into();
    let r = post_soap(&app, "/SOAP/iti38", signed(&iti38(), &c)).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("FailedAuthentication"), "{}", r.text());
    assert!(r.text().contains("purpose of use"), "{}", r.text());
    assert!(backend.calls().is_empty());
    c.purpose_of_use.code = "EMERGENCY".into();
    let r = post_soap(&app, "/SOAP/iti38", signed(&iti38(), &c)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(backend.alerts(), vec!["iti38 saml_purpose_refused"]);
}

#[tokio::test]
async fn a_replayed_message_is_refused() {
    let (app, backend) = app(&[]);
    let envelope = signed(&iti38(), &claims(LUCIEN));
    let first = post_soap(&app, "/SOAP/iti38", envelope.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text());
    for _ in 0..3 {
        let again = post_soap(&app, "/SOAP/iti38", envelope.clone()).await;
        assert_eq!(again.status, 400);
        assert!(
            again.text().contains("already been received"),
            "{}",
            again.text()
        );
    }
    assert_eq!(backend.calls(), vec!["documents 9690937278"]);
    assert_eq!(backend.alerts(), vec!["iti38 replay"; 3]);
    // With holder-of-key, a copy with a new MessageID still carries the old Timestamp
    // signature: also a replay.
    let hok = sign_request(
        &iti38(),
        &claims(LUCIEN),
        &signer(true),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert_eq!(
        post_soap(&app, "/SOAP/iti38", hok.clone()).await.status,
        200
    );
    let start = hok.find("MessageID>").unwrap() + "MessageID>".len();
    let end = start + hok[start..].find('<').unwrap();
    let renamed = format!(
        "{}urn:uuid:{}{}",
        &hok[..start],
        uuid::Uuid::new_v4(),
        &hok[end..]
    );
    let r = post_soap(&app, "/SOAP/iti38", renamed).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("already been received"));
}

#[tokio::test]
async fn one_assertion_serves_the_epic_flow_with_new_message_ids() {
    let (app, _) = app(&[]);
    // Epic signs one assertion and sends it with ITI-55, then ITI-38, then ITI-39, each a new
    // message (own MessageID).
    let first = signed(&iti55(), &claims(LUCIEN));
    let s = first.find("<wsse:Security").unwrap();
    let e = first.find("</wsse:Security>").unwrap() + "</wsse:Security>".len();
    let header = &first[s..e];
    let with_header = |request: String| {
        let (s, e) = (
            request.find("<wsse:Security").unwrap(),
            request.find("</wsse:Security>").unwrap() + "</wsse:Security>".len(),
        );
        let msg_start = request.find("MessageID>").unwrap() + "MessageID>".len();
        let msg_end = msg_start + request[msg_start..].find('<').unwrap();
        let fresh = format!(
            "{}urn:uuid:{}{}",
            &request[..msg_start],
            uuid::Uuid::new_v4(),
            &request[msg_end..]
        );
        let shift = fresh.len() as isize - request.len() as isize;
        let (s, e) = if s > msg_start {
            ((s as isize + shift) as usize, (e as isize + shift) as usize)
        } else {
            (s, e)
        };
        format!("{}{header}{}", &fresh[..s], &fresh[e..])
    };
    assert_eq!(
        post_soap(&app, "/SOAP/iti55", first.clone()).await.status,
        200
    );
    let r = post_soap(
        &app,
        "/SOAP/iti38",
        with_header(signed(&iti38(), &claims(LUCIEN))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post_soap(
        &app,
        "/SOAP/iti39",
        with_header(signed(&iti39(), &claims(LUCIEN))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("<xdsb:Document>"));
}

#[tokio::test]
async fn lifetime_is_bounded_and_expired_is_refused() {
    let (app, _) = app(&[("XHUMA_SAML_MAX_LIFETIME_SECS", "600")]);
    let mut c = claims(LUCIEN);
    c.lifetime = time::Duration::hours(2);
    let r = post_soap(&app, "/SOAP/iti38", signed(&iti38(), &c)).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("InvalidSecurityToken"), "{}", r.text());
    // Signed for an hour ago, valid five minutes: expired.
    let old = sign_request(
        &iti38(),
        &claims(LUCIEN),
        &signer(false),
        OffsetDateTime::now_utc() - time::Duration::hours(1),
    )
    .unwrap();
    let r = post_soap(&app, "/SOAP/iti38", old).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("MessageExpired"), "{}", r.text());
}

#[tokio::test]
async fn signed_mtom_retrieve_with_holder_of_key() {
    // Epic's ITI-39: MTOM, RSA-SHA1, holder-of-key Timestamp; the signed envelope is the root
    // part, the answer is MTOM with the document as an attachment.
    let (app, backend) = app(&[("XHUMA_SAML_REQUIRE_HOLDER_OF_KEY", "true")]);
    let signed = sign_request(
        &iti39(),
        &claims(LUCIEN),
        &signer(true),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let body = format!(
        "--MIMEBoundary_abc\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <0.root@example>\r\n\r\n{signed}\r\n--MIMEBoundary_abc--\r\n"
    );
    let ct = "multipart/related; type=\"application/xop+xml\"; boundary=\"MIMEBoundary_abc\"; start=\"<0.root@example>\"; start-info=\"application/soap+xml\"";
    let r = post(&app, "/SOAP/iti39", ct, body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.content_type().starts_with("multipart/related"),
        "{}",
        r.content_type()
    );
    assert!(r.text().contains("xop:Include"), "{}", r.text());
    assert!(
        r.text().contains("ClinicalDocument"),
        "the attachment carries the C-CDA"
    );
    assert!(backend.alerts().is_empty());
}
