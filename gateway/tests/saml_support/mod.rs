//! Shared set-up for the `saml_*` tests: the module under test, fixture paths, the fixed instant
//! the fixtures were signed for, and verifiers built from the test trust store.
//!
//! The tests use only the public API (`xhuma_gateway::soap::saml`), as the gateway does.
#![allow(dead_code)]

use std::path::PathBuf;

use time::OffsetDateTime;
use time::macros::datetime;
use xhuma_common::identity::Requester;

use saml::{SamlConfig, SamlError, SamlVerifier};
pub use xhuma_gateway::soap::saml;

/// The instant `tests/data/saml/make-fixtures.py` signs for.
pub const NOW: OffsetDateTime = datetime!(2027-06-01 12:00:00 UTC);
pub const AUDIENCE: &str = "https://xhuma.test/SOAP/iti38";
pub const ISSUER: &str = "CN=test-idp.epic.invalid, O=Xhuma Test, C=GB";

pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/saml")
        .join(name)
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(data("fixtures").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Trusts idp.crt and idp2.crt; audience and issuer pinned to the fixtures' values.
pub fn config() -> SamlConfig {
    SamlConfig {
        trust_pems: vec![data("idp.crt"), data("idp2.crt")],
        audience: Some(AUDIENCE.into()),
        trusted_issuers: vec![ISSUER.into()],
        // Epic signs with RSA-SHA1 (valid-sha1-epic.xml).
        allow_sha1: true,
        ..SamlConfig::default()
    }
}

pub fn verifier(cfg: &SamlConfig) -> SamlVerifier {
    SamlVerifier::new(cfg).expect("test trust store loads")
}

pub fn verify_with(cfg: &SamlConfig, name: &str) -> Result<Option<Requester>, SamlError> {
    verifier(cfg).verify(&fixture(name), NOW)
}

pub fn verify(name: &str) -> Result<Option<Requester>, SamlError> {
    verify_with(&config(), name)
}
