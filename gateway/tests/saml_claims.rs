//! Issuer, audience, validity windows, unsigned and missing assertions, and the holder-of-key
//! proof over `wsu:Timestamp`. Fixtures signed by Python signxml (`tests/data/saml/README.md`).
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod saml_support;

use saml_support::saml::{SamlConfig, SamlError};
use saml_support::*;
use time::Duration;

#[test]
fn expired_assertion_refused() {
    assert_eq!(verify("expired.xml"), Err(SamlError::Expired));
}

#[test]
fn not_yet_valid_assertion_refused() {
    assert_eq!(verify("not-yet-valid.xml"), Err(SamlError::NotYetValid));
}

#[test]
fn validity_window_honours_clock_skew() {
    // Valid 11:59..12:05; five minutes of skew lets 12:09 through, not 12:11.
    let cfg = SamlConfig {
        clock_skew: std::time::Duration::from_secs(300),
        ..config()
    };
    let v = verifier(&cfg);
    let env = fixture("valid-sha256.xml");
    // The HoK timestamp expires at 12:05 too, so it limits the same way.
    assert!(v.verify(&env, NOW + Duration::minutes(9)).is_ok());
    assert!(v.verify(&env, NOW + Duration::minutes(11)).is_err());
}

#[test]
fn subject_confirmation_expired_refused() {
    assert_eq!(
        verify("subject-confirmation-expired.xml"),
        Err(SamlError::Expired)
    );
}

#[test]
fn wrong_audience_refused() {
    assert_eq!(verify("wrong-audience.xml"), Err(SamlError::WrongAudience));
}

#[test]
fn audience_not_checked_when_not_configured() {
    let cfg = SamlConfig {
        audience: None,
        ..config()
    };
    assert!(verify_with(&cfg, "wrong-audience.xml").unwrap().is_some());
}

#[test]
fn untrusted_issuer_refused() {
    assert_eq!(verify("other-issuer.xml"), Err(SamlError::UntrustedIssuer));
    let cfg = SamlConfig {
        trusted_issuers: vec!["CN=someone-else".into()],
        ..config()
    };
    assert_eq!(
        verify_with(&cfg, "valid-sha256.xml"),
        Err(SamlError::UntrustedIssuer)
    );
}

#[test]
fn any_issuer_when_none_configured() {
    let cfg = SamlConfig {
        trusted_issuers: vec![],
        ..config()
    };
    assert!(verify_with(&cfg, "other-issuer.xml").unwrap().is_some());
}

#[test]
fn unsigned_refused_by_default() {
    assert_eq!(verify("unsigned.xml"), Err(SamlError::Unsigned));
}

#[test]
fn unsigned_accepted_only_when_allowed() {
    let cfg = SamlConfig {
        allow_unsigned: true,
        ..config()
    };
    let v = verifier(&cfg)
        .verify_assertion(&fixture("unsigned.xml"), NOW)
        .unwrap()
        .expect("assertion");
    assert!(!v.signed);
    assert!(!v.holder_of_key);
    assert_eq!(v.requester.subject_id, "CONE, Stephen");
}

#[test]
fn missing_assertion_refused_when_required() {
    assert_eq!(verify("missing-assertion.xml"), Err(SamlError::Missing));
    let no_header =
        br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>"#;
    assert_eq!(
        verifier(&config()).verify(no_header, NOW),
        Err(SamlError::Missing)
    );
}

#[test]
fn missing_assertion_allowed_when_not_required() {
    let cfg = SamlConfig {
        required: false,
        ..config()
    };
    assert_eq!(verify_with(&cfg, "missing-assertion.xml"), Ok(None));
    // A present but bad assertion is still refused.
    assert_eq!(
        verify_with(&cfg, "tampered-attribute.xml"),
        Err(SamlError::BadSignature)
    );
}

#[test]
fn holder_of_key_timestamp_signed_with_wrong_key_refused() {
    assert_eq!(verify("hok-wrong-key.xml"), Err(SamlError::HolderOfKey));
}

#[test]
fn holder_of_key_timestamp_tampered_refused() {
    assert_eq!(
        verify("hok-tampered-timestamp.xml"),
        Err(SamlError::HolderOfKey)
    );
}

#[test]
fn holder_of_key_timestamp_expired_refused() {
    assert_eq!(
        verify("hok-expired-timestamp.xml"),
        Err(SamlError::StaleTimestamp)
    );
}

#[test]
fn holder_of_key_proof_required_by_policy() {
    let cfg = SamlConfig {
        require_holder_of_key: true,
        ..config()
    };
    assert!(verify_with(&cfg, "valid-sha256.xml").unwrap().is_some());
    assert!(verify_with(&cfg, "valid-sha1-epic.xml").unwrap().is_some());
    assert_eq!(
        verify_with(&cfg, "hok-unsigned-timestamp.xml"),
        Err(SamlError::HolderOfKey)
    );
    assert_eq!(
        verify_with(&cfg, "valid-idp2-no-keyinfo.xml"),
        Err(SamlError::HolderOfKey)
    );
    // Without the policy, an unsigned (but current) timestamp is fine.
    assert!(verify("hok-unsigned-timestamp.xml").unwrap().is_some());
}

#[test]
fn holder_of_key_from_rsa_key_value() {
    // The holder's key is given only as ds:RSAKeyValue; the Timestamp signature must verify
    // with it (and the proof counts).
    let cfg = SamlConfig {
        require_holder_of_key: true,
        ..config()
    };
    let v = verifier(&cfg)
        .verify_assertion(&fixture("hok-keyvalue-only.xml"), NOW)
        .unwrap()
        .expect("assertion");
    assert!(v.holder_of_key);
}
