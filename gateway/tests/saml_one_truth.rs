//! One XML truth: the claims used are the claims of the element whose signature verified.
//!
//! Every case here is an attack on a verifier that reads claims with one parser and checks the
//! signature with another (the ruby-saml REXML/Nokogiri class, CVE-2025-25291/25292): a genuine
//! signed assertion that only one parser can see, next to a forged one that only the other can.
//! Each must be refused, never answered with the forged identity.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod saml_support;

use saml_support::saml::{SamlConfig, SamlError};
use saml_support::*;
use xhuma_common::identity::Requester;

const SAML_NS: &str = "xmlns:saml2=\"urn:oasis:names:tc:SAML:2.0:assertion\"";

fn valid() -> String {
    String::from_utf8(fixture("valid-sha256.xml")).unwrap()
}

/// The fixture without its holder-of-key header signature (an attacker is not the holder).
fn without_hok(v: &str) -> String {
    let start = v
        .find("<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">")
        .expect("header signature");
    let end = start + v[start..].find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    format!("{}{}", &v[..start], &v[end..])
}

/// (before, assertion, after)
fn split(v: &str) -> (String, String, String) {
    let start = v.find("<saml2:Assertion").unwrap();
    let end = v.find("</saml2:Assertion>").unwrap() + "</saml2:Assertion>".len();
    (
        v[..start].to_string(),
        v[start..end].to_string(),
        v[end..].to_string(),
    )
}

/// The genuine assertion copied, re-identified and given another subject: signature shape
/// intact, cryptographically worthless.
fn forge(genuine: &str) -> String {
    genuine
        .replace("ID=\"_a1\"", "ID=\"_f1\"")
        .replace("URI=\"#_a1\"", "URI=\"#_f1\"")
        .replace("CONE, Stephen", "MALLORY, Eve")
}

fn with_ns_ref(assertion: &str, reference: &str) -> String {
    assertion.replacen(
        SAML_NS,
        &format!("xmlns:saml2=\"urn:oasis:names:tc:SAML:2.0:{reference}ssertion\""),
        1,
    )
}

fn check(envelope: &str) -> Result<Option<Requester>, SamlError> {
    verifier(&config()).verify(envelope.as_bytes(), NOW)
}

fn assert_refused(envelope: &str, what: &str) {
    match check(envelope) {
        Err(_) => {}
        Ok(r) => panic!("{what}: accepted as {:?}", r.map(|r| r.subject_id)),
    }
}

#[test]
fn the_unmodified_fixture_still_verifies() {
    let v = without_hok(&valid());
    assert_eq!(check(&v).unwrap().unwrap().subject_id, "CONE, Stephen");
    assert_eq!(
        check(&valid()).unwrap().unwrap().subject_id,
        "CONE, Stephen"
    );
}

#[test]
fn namespace_character_reference_genuine_first_refused() {
    let (pre, genuine, post) = split(&without_hok(&valid()));
    for r in ["&#97;", "&#x61;", "&#0097;", "&#x0061;"] {
        let env = format!("{pre}{}{}{post}", with_ns_ref(&genuine, r), forge(&genuine));
        assert_eq!(
            check(&env),
            Err(SamlError::Malformed(
                "namespace name with a reference or whitespace"
            )),
            "{r}"
        );
    }
}

#[test]
fn namespace_character_reference_forged_first_refused() {
    let (pre, genuine, post) = split(&without_hok(&valid()));
    for r in ["&#97;", "&#x61;"] {
        let env = format!("{pre}{}{}{post}", forge(&genuine), with_ns_ref(&genuine, r));
        assert_refused(&env, r);
        // And the reverse disguise: the forged one hidden from quick-xml, the genuine visible.
        let env = format!("{pre}{}{}{post}", with_ns_ref(&forge(&genuine), r), genuine);
        assert_refused(&env, r);
    }
}

#[test]
fn namespace_character_reference_with_holder_of_key_refused() {
    let cfg = SamlConfig {
        require_holder_of_key: true,
        ..config()
    };
    let (pre, genuine, post) = split(&valid());
    let env = format!(
        "{pre}{}{}{post}",
        with_ns_ref(&genuine, "&#97;"),
        forge(&genuine)
    );
    assert!(verifier(&cfg).verify(env.as_bytes(), NOW).is_err());
}

#[test]
fn default_namespace_and_entity_references_refused() {
    let (pre, genuine, post) = split(&without_hok(&valid()));
    // The whole assertion in a default namespace written with a reference.
    let unprefixed = genuine.replace("saml2:", "").replace(
        SAML_NS,
        "xmlns=\"urn:oasis:names:tc:SAML:2.0:&#97;ssertion\"",
    );
    assert_refused(
        &format!("{pre}{unprefixed}{}{post}", forge(&genuine)),
        "default ns",
    );
    // A predefined entity in a namespace name.
    let amp = genuine.replacen(
        SAML_NS,
        "xmlns:saml2=\"urn:oasis:names:tc:SAML:2.0:assertion&amp;\"",
        1,
    );
    assert_refused(&format!("{pre}{amp}{}{post}", forge(&genuine)), "&amp;");
}

#[test]
fn whitespace_in_namespace_names_refused() {
    let (pre, genuine, post) = split(&without_hok(&valid()));
    for ws in [" ", "\t", "\n", "&#9;", "&#10;", "&#13;", "&#32;"] {
        let odd = genuine.replacen(
            SAML_NS,
            &format!("xmlns:saml2=\"urn:oasis:names:tc:SAML:2.0:assertion{ws}\""),
            1,
        );
        assert_refused(
            &format!("{pre}{odd}{}{post}", forge(&genuine)),
            &format!("{ws:?}"),
        );
    }
}

#[test]
fn two_assertions_in_either_order_refused() {
    let (pre, genuine, post) = split(&without_hok(&valid()));
    let forged = forge(&genuine);
    assert_eq!(
        check(&format!("{pre}{genuine}{forged}{post}")),
        Err(SamlError::Malformed("more than one SAML assertion"))
    );
    assert_eq!(
        check(&format!("{pre}{forged}{genuine}{post}")),
        Err(SamlError::Malformed("more than one SAML assertion"))
    );
}

#[test]
fn assertion_inside_another_element_refused() {
    let v = without_hok(&valid());
    let (pre, genuine, post) = split(&v);
    let forged = forge(&genuine);
    // The genuine one wrapped in a foreign header element, the forged one where it is read.
    let wrapped = format!("{pre}<x:Wrap xmlns:x=\"urn:x\">{genuine}</x:Wrap>{forged}{post}");
    assert_refused(&wrapped, "wrapped genuine");
    // The forged one wrapped, the genuine one in place.
    let wrapped = format!("{pre}{genuine}<x:Wrap xmlns:x=\"urn:x\">{forged}</x:Wrap>{post}");
    assert_refused(&wrapped, "wrapped forged");
    // An assertion only in the Body, none in the header: ambiguous, not "no assertion".
    let body_only =
        format!("{pre}{post}").replacen("<soap:Body>", &format!("<soap:Body>{genuine}"), 1);
    let relaxed = SamlConfig {
        required: false,
        ..config()
    };
    assert_eq!(
        verifier(&relaxed).verify(body_only.as_bytes(), NOW),
        Err(SamlError::Malformed(
            "SAML assertion outside the WS-Security header"
        ))
    );
    // No Security header at all, an assertion in the Body.
    let start = body_only.find("<wsse:Security").unwrap();
    let end = body_only.find("</wsse:Security>").unwrap() + "</wsse:Security>".len();
    let no_header = format!("{}{}", &body_only[..start], &body_only[end..]);
    assert_eq!(
        verifier(&relaxed).verify(no_header.as_bytes(), NOW),
        Err(SamlError::Malformed(
            "SAML assertion outside the WS-Security header"
        ))
    );
}

#[test]
fn duplicate_ids_refused() {
    let (pre, genuine, post) = split(&without_hok(&valid()));
    // The forged copy keeps the genuine ID (so the genuine signature's reference fits it).
    let same_id = genuine.replace("CONE, Stephen", "MALLORY, Eve");
    assert_eq!(
        check(&format!(
            "{pre}{}{same_id}{post}",
            with_ns_ref(&genuine, "&#97;")
        )),
        Err(SamlError::Malformed(
            "namespace name with a reference or whitespace"
        ))
    );
    assert_eq!(
        check(&format!("{pre}{genuine}{post}").replacen(
            "<soap:Body>",
            "<soap:Body><x:y xmlns:x=\"urn:x\" ID=\"_a1\"/>",
            1
        )),
        Err(SamlError::Malformed("duplicate ID"))
    );
    // The same ID written with a character reference is still the same ID.
    assert_eq!(
        check(&format!("{pre}{genuine}{post}").replacen(
            "<soap:Body>",
            "<soap:Body><x:y xmlns:x=\"urn:x\" ID=\"&#95;a1\"/>",
            1
        )),
        Err(SamlError::Malformed("duplicate ID"))
    );
}

#[test]
fn comments_and_cdata_hide_nothing() {
    let (pre, genuine, post) = split(&without_hok(&valid()));
    let forged = forge(&genuine);
    // A forged assertion inside a comment or CDATA is text to both parsers: the genuine one
    // is read.
    let commented = format!("{pre}<!--{forged}-->{genuine}{post}");
    assert_eq!(
        check(&commented).unwrap().unwrap().subject_id,
        "CONE, Stephen"
    );
    let cdata = format!("{pre}{genuine}{post}").replacen(
        "<soap:Body>",
        &format!("<soap:Body><x:note xmlns:x=\"urn:x\"><![CDATA[{forged}]]></x:note>"),
        1,
    );
    assert_eq!(check(&cdata).unwrap().unwrap().subject_id, "CONE, Stephen");
    // A comment splitting the signed subject: the subject reads whole (as c14n sees it).
    let split_subject = format!(
        "{pre}{}{post}",
        genuine.replace("CONE, Stephen", "CONE, <!-- x -->Stephen")
    );
    assert_eq!(
        check(&split_subject).unwrap().unwrap().subject_id,
        "CONE, Stephen"
    );
    // A comment cannot hide a change from the signature.
    let changed = format!(
        "{pre}{}{post}",
        genuine.replace("CONE, Stephen", "CONE, <!-- x -->Eve")
    );
    assert_eq!(check(&changed), Err(SamlError::BadSignature));
}

fn pem_body(name: &str) -> String {
    let pem = std::fs::read_to_string(data(name)).unwrap();
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn replace_certificate(v: &str, cert: &str) -> String {
    let start = v.find("<ds:X509Certificate>").unwrap() + "<ds:X509Certificate>".len();
    let end = v.find("</ds:X509Certificate>").unwrap();
    format!("{}{cert}{}", &v[..start], &v[end..])
}

#[test]
fn keyinfo_swapping_changes_nothing_about_trust() {
    // Signed by the untrusted key, with a trusted certificate pasted into KeyInfo.
    let untrusted = String::from_utf8(fixture("untrusted-cert.xml")).unwrap();
    let swapped = replace_certificate(&untrusted, &pem_body("idp.crt"));
    assert_eq!(check(&swapped), Err(SamlError::BadSignature));
    // Signed by the trusted key, KeyInfo naming the other trusted signer: the named key is
    // used, and does not verify.
    let v = without_hok(&valid());
    let swapped = replace_certificate(&v, &pem_body("idp2.crt"));
    assert_eq!(check(&swapped), Err(SamlError::BadSignature));
}
