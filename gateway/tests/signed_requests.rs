//! SAML through the router: envelopes signed by an independent signer (Python signxml, the
//! fixtures of `tests/data/saml/`, made for a fixed instant) reach the backend with the XSPA
//! identity; tampered, expired, unsigned or missing assertions get a WS-Security fault and
//! never reach the backend.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use support::*;
use time::OffsetDateTime;
use time::macros::datetime;
use xhuma_gateway::{AppState, router};

fn fixed_now() -> OffsetDateTime {
    datetime!(2027-06-01 12:00:00 UTC)
}

fn saml_data(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/saml")
        .join(name)
}

fn signed_app() -> (axum::Router, Arc<FakeBackend>) {
    let trust = saml_data("idp.crt").display().to_string();
    let cfg = config(&[
        ("XHUMA_SAML_TRUST_PEM", trust.as_str()),
        ("XHUMA_SAML_AUDIENCE", "https://xhuma.test/SOAP/iti38"),
        (
            "XHUMA_SAML_TRUSTED_ISSUERS",
            "CN=test-idp.epic.invalid, O=Xhuma Test, C=GB",
        ),
        ("XHUMA_SAML_REQUIRED", "true"),
        ("XHUMA_SAML_ALLOW_UNSIGNED", "false"),
        ("XHUMA_SAML_ALLOW_SHA1", "true"),
        ("XHUMA_SAML_REQUIRE_RESOURCE_ID", "true"),
    ]);
    let backend = Arc::new(FakeBackend::standard());
    let state = AppState::new(cfg, backend.clone())
        .unwrap()
        .with_clock(fixed_now);
    (router(state), backend)
}

fn envelope(name: &str) -> Vec<u8> {
    std::fs::read(saml_data("fixtures").join(name)).unwrap()
}

#[tokio::test]
async fn epic_sha1_signed_assertion_becomes_the_requester() {
    for name in ["valid-sha1-epic.xml", "valid-sha256.xml"] {
        // The fixtures share a MessageID: each goes to its own gateway (a second arrival at
        // the same one would be a replay).
        let (app, backend) = signed_app();
        let r = post_soap(&app, "/SOAP/iti38", envelope(name)).await;
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        validate("iti38-response", &r.body, false);
        assert!(r.text().contains("ExtrinsicObject"));
        assert_eq!(backend.calls(), vec!["documents 9690937278"]);
    }
}

#[tokio::test]
async fn bad_assertions_are_refused_before_the_backend() {
    let (app, backend) = signed_app();
    for (name, code) in [
        ("tampered-attribute.xml", "FailedCheck"),
        ("expired.xml", "MessageExpired"),
        ("unsigned.xml", "InvalidSecurityToken"),
        ("missing-assertion.xml", "InvalidSecurity"),
        ("untrusted-cert.xml", "FailedAuthentication"),
        ("wrong-audience.xml", "FailedAuthentication"),
        ("wrapping-into-body.xml", ""),
    ] {
        let r = post_soap(&app, "/SOAP/iti38", envelope(name)).await;
        let body = r.text();
        assert_eq!(r.status, 400, "{name}: {body}");
        assert!(
            body.contains("<env:Value>env:Sender</env:Value>"),
            "{name}: {body}"
        );
        assert!(body.contains(code), "{name}: expected {code} in {body}");
        assert!(!body.contains("CONE"), "{name}");
    }
    assert!(backend.calls().is_empty());
}
