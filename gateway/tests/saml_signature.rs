//! XML-DSig verification of assertions signed by an independent signer (Python signxml, see
//! `tests/data/saml/README.md`): good signatures in both algorithms Epic may use, and the ways a
//! signature can be wrong.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod saml_support;

use saml_support::saml::SamlError;
use saml_support::*;

#[test]
fn valid_rsa_sha256_maps_xspa_attributes() {
    let r = verify("valid-sha256.xml").unwrap().expect("requester");
    assert_eq!(r.subject_id, "CONE, Stephen");
    assert_eq!(
        r.organization,
        "UCLH - University College London Hospitals - TST"
    );
    assert_eq!(
        r.organization_id,
        "urn:oid:1.2.840.114350.1.13.525.3.7.3.688884.100"
    );
    assert_eq!(
        r.home_community_id.as_deref(),
        Some("urn:oid:1.2.840.114350.1.13.525.3.7.3.688884.100")
    );
    let role = r.role.expect("role");
    assert_eq!(role.code, "224608005");
    assert_eq!(role.code_system.as_deref(), Some("2.16.840.1.113883.6.96"));
    assert_eq!(role.code_system_name.as_deref(), Some("SNOMED_CT"));
    assert_eq!(
        role.display_name.as_deref(),
        Some("Administrative healthcare staff")
    );
    let pou = r.purpose_of_use.expect("purpose of use");
    assert_eq!(pou.code, "TREATMENT");
    assert_eq!(
        pou.code_system.as_deref(),
        Some("2.16.840.1.113883.3.18.7.1")
    );
    assert_eq!(pou.display_name.as_deref(), Some("Treatment"));
    assert_eq!(r.issuer.as_deref(), Some(ISSUER));
}

#[test]
fn valid_rsa_sha256_details_include_resource_id_and_holder_of_key() {
    let v = verifier(&config())
        .verify_assertion(&fixture("valid-sha256.xml"), NOW)
        .unwrap()
        .expect("assertion");
    assert_eq!(
        v.resource_id.as_deref(),
        Some("9690937278^^^&2.16.840.1.113883.2.1.4.1&ISO")
    );
    assert_eq!(v.assertion_id, "_a1");
    assert!(v.signed);
    assert!(v.holder_of_key);
}

#[test]
fn valid_rsa_sha1_as_epic_signs() {
    let r = verify("valid-sha1-epic.xml").unwrap().expect("requester");
    assert_eq!(r.subject_id, "CONE, Stephen");
}

#[test]
fn sha1_refused_when_policy_forbids_it() {
    let cfg = saml_support::saml::SamlConfig {
        allow_sha1: false,
        ..config()
    };
    assert_eq!(
        verify_with(&cfg, "valid-sha1-epic.xml"),
        Err(SamlError::UnsupportedAlgorithm)
    );
    assert!(verify_with(&cfg, "valid-sha256.xml").is_ok());
}

#[test]
fn second_trusted_key_without_keyinfo_certificate() {
    let r = verify("valid-idp2-no-keyinfo.xml")
        .unwrap()
        .expect("requester");
    assert_eq!(r.subject_id, "CONE, Stephen");
}

#[test]
fn untrusted_certificate_refused() {
    assert_eq!(
        verify("untrusted-cert.xml"),
        Err(SamlError::UntrustedCertificate)
    );
}

#[test]
fn no_trust_store_refuses_signed_assertions() {
    let cfg = saml_support::saml::SamlConfig {
        trust_pems: vec![],
        ..config()
    };
    assert_eq!(
        verify_with(&cfg, "valid-sha256.xml"),
        Err(SamlError::UntrustedCertificate)
    );
}

#[test]
fn expired_trusted_certificate_refused() {
    let cfg = saml_support::saml::SamlConfig {
        trust_pems: vec![data("expired.crt")],
        ..config()
    };
    assert_eq!(
        verify_with(&cfg, "valid-idp2-no-keyinfo.xml"),
        Err(SamlError::UntrustedCertificate)
    );
}

#[test]
fn attribute_tampered_after_signing_refused() {
    assert_eq!(
        verify("tampered-attribute.xml"),
        Err(SamlError::BadSignature)
    );
}

#[test]
fn comment_inside_signed_value_is_read_whole() {
    // Exclusive c14n drops comments, so the signature is still good; the value we read must be
    // the whole text ("CONE, Stephen"), not the part before the comment.
    let r = verify("comment-in-subject.xml")
        .unwrap()
        .expect("requester");
    assert_eq!(r.subject_id, "CONE, Stephen");
}

#[test]
fn signature_wrapping_moved_assertion_refused() {
    // The signed assertion moved out of the header next to an evil one: two assertions in the
    // envelope is ambiguous, refused before any signature is looked at.
    assert!(matches!(
        verify("wrapping-moved.xml"),
        Err(SamlError::Malformed(_))
    ));
}

#[test]
fn signature_wrapping_duplicate_id_refused() {
    assert!(matches!(
        verify("wrapping-duplicate-id.xml"),
        Err(SamlError::Malformed(_))
    ));
}

#[test]
fn signature_wrapping_into_body_refused() {
    // The header holds the evil unsigned assertion, the signed one sits in the Body: refused as
    // ambiguous (one assertion per envelope, in the header).
    assert_eq!(
        verify("wrapping-into-body.xml"),
        Err(SamlError::Malformed("more than one SAML assertion"))
    );
}

#[test]
fn two_assertions_refused() {
    assert!(matches!(
        verify("two-assertions.xml"),
        Err(SamlError::Malformed(_))
    ));
}

#[test]
fn verifier_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<saml_support::saml::SamlVerifier>();
}

#[test]
fn concurrent_verification_from_many_threads() {
    let v = std::sync::Arc::new(verifier(&config()));
    let good = std::sync::Arc::new(fixture("valid-sha1-epic.xml"));
    let bad = std::sync::Arc::new(fixture("tampered-attribute.xml"));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (v, good, bad) = (v.clone(), good.clone(), bad.clone());
            std::thread::spawn(move || {
                for _ in 0..25 {
                    assert!(v.verify(&good, NOW).unwrap().is_some());
                    assert_eq!(v.verify(&bad, NOW), Err(SamlError::BadSignature));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// Not a test of speed (no timing assertions): prints the mean cost of one verification.
/// `cargo test -p xhuma-gateway --test saml_signature -- --ignored --nocapture measure`
#[test]
#[ignore]
fn measure_verification_cost() {
    let v = verifier(&config());
    for name in ["valid-sha256.xml", "valid-sha1-epic.xml"] {
        let env = fixture(name);
        let n = 500;
        let start = std::time::Instant::now();
        for _ in 0..n {
            v.verify(&env, NOW).unwrap();
        }
        let per = start.elapsed() / n;
        println!(
            "{name}: {} bytes, {per:?} per verify (assertion + HoK timestamp)",
            env.len()
        );
    }
}
