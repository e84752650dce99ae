//! Signed SAML for running-stack tests: the gateway settings production uses (signed
//! assertions required, RSA-SHA1 with holder-of-key as Epic sends, the patient named), and the
//! test IdP (`loadtest/idp`) signing `deploy/local/examples` requests at the real clock with the
//! keys of `gateway/tests/data/saml`.

use time::OffsetDateTime;
use xhuma_test_idp::{Claims, Signer, sign_request};

use super::{Options, repo_root};

pub const AUDIENCE: &str = "https://xhuma.test/SOAP";
pub const ISSUER: &str = "CN=test-idp.epic.invalid, O=Xhuma Test, C=GB";

/// A file of `gateway/tests/data/saml`.
pub fn saml(name: &str) -> String {
    repo_root()
        .join("gateway/tests/data/saml")
        .join(name)
        .display()
        .to_string()
}

fn signer() -> Signer {
    let read = |n: &str| std::fs::read(saml(n)).expect("test key");
    let mut s = Signer::new(read("idp.key"), read("idp.crt"))
        .with_holder_of_key(read("hok.key"), read("hok.crt"));
    s.sha1 = true;
    s
}

/// `request` signed for a clinician asking about `patient`.
pub fn signed(request: &str, patient: &str) -> String {
    let mut claims = Claims::epic_like(patient, Some(AUDIENCE));
    claims.issuer = ISSUER.into();
    sign_request(request, &claims, &signer(), OffsetDateTime::now_utc()).expect("signed")
}

/// A gateway that trusts only the test IdP and requires what production requires.
pub fn strict() -> Options {
    Options {
        env: vec![
            ("XHUMA_SAML_REQUIRED", "true".into()),
            ("XHUMA_SAML_ALLOW_UNSIGNED", "false".into()),
            ("XHUMA_SAML_DEV_MODE", "false".into()),
            ("XHUMA_SAML_TRUST_PEM", saml("idp.crt")),
            ("XHUMA_SAML_AUDIENCE", AUDIENCE.into()),
            ("XHUMA_SAML_TRUSTED_ISSUERS", ISSUER.into()),
            ("XHUMA_SAML_ALLOW_SHA1", "true".into()),
            ("XHUMA_SAML_REQUIRE_HOLDER_OF_KEY", "true".into()),
            ("XHUMA_SAML_REQUIRE_RESOURCE_ID", "true".into()),
        ],
        ..Options::default()
    }
}
