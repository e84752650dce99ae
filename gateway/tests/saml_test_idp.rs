//! Requests signed by our test IdP (`loadtest/idp`, what the demo, the e2e tests and the load
//! test use) verify with the gateway's verifier at the real clock: SHA-256 and SHA-1, with and
//! without holder-of-key.
#![allow(clippy::unwrap_used)]

mod saml_support;

use saml_support::saml::SamlConfig;
use saml_support::*;
use time::OffsetDateTime;
use xhuma_test_idp::{Claims, Signer, sign_request};

const REQUEST: &str = r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"><soap:Header><wsa:Action>urn:ihe:iti:2007:CrossGatewayQuery</wsa:Action><wsa:MessageID>urn:uuid:fixed</wsa:MessageID></soap:Header><soap:Body><x:y xmlns:x="urn:x"/></soap:Body></soap:Envelope>"#;

fn signer(hok: bool, sha1: bool) -> Signer {
    let read = |n| std::fs::read(data(n)).unwrap();
    let mut s = Signer::new(read("idp.key"), read("idp.crt"));
    if hok {
        s = s.with_holder_of_key(read("hok.key"), read("hok.crt"));
    }
    s.sha1 = sha1;
    s
}

#[test]
fn signed_by_the_test_idp_verifies_now() {
    let now = OffsetDateTime::now_utc();
    let mut claims = Claims::epic_like("9690937278", Some(AUDIENCE));
    claims.issuer = ISSUER.into();
    for (hok, sha1) in [(false, false), (false, true), (true, false), (true, true)] {
        let cfg = SamlConfig {
            require_holder_of_key: hok,
            ..config()
        };
        let signed = sign_request(REQUEST, &claims, &signer(hok, sha1), now).unwrap();
        assert!(!signed.contains("urn:uuid:fixed"), "fresh MessageID");
        let v = verifier(&cfg)
            .verify_assertion(signed.as_bytes(), now)
            .unwrap_or_else(|e| panic!("hok={hok} sha1={sha1}: {e}\n{signed}"))
            .unwrap();
        assert_eq!(v.requester.subject_id, "CONE, Stephen");
        assert_eq!(v.holder_of_key, hok);
        assert_eq!(
            v.resource_id.as_deref(),
            Some("9690937278^^^&2.16.840.1.113883.2.1.4.1&ISO")
        );
    }
}
