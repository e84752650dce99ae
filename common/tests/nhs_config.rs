//! Building the clients: mTLS identity and CA bundle from PEM files, bad keys and paths.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use xhuma_common::nhs::{NhsClients, NhsConfig, SigningKeyConfig, TlsConfig};

fn data(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls")).join(name)
}

#[test]
fn mtls_identity_and_ca_load_from_pem() {
    let mut cfg = NhsConfig::for_simulator("http://127.0.0.1:1");
    cfg.tls = TlsConfig {
        client_cert_path: Some(data("client.crt")),
        client_key_path: Some(data("client.key")),
        ca_path: Some(data("ca.crt")),
    };
    assert!(NhsClients::new(&cfg).is_ok());
}

#[test]
fn half_an_identity_or_a_missing_file_is_a_config_error() {
    let mut cfg = NhsConfig::for_simulator("http://127.0.0.1:1");
    cfg.tls.client_cert_path = Some(data("client.crt"));
    let e = NhsClients::new(&cfg).unwrap_err();
    assert_eq!(e.service(), "gpconnect");
    assert!(e.to_string().contains("configuration"));

    let mut cfg = NhsConfig::for_simulator("http://127.0.0.1:1");
    cfg.tls.ca_path = Some(data("nope.crt"));
    assert!(NhsClients::new(&cfg).is_err());

    let mut cfg = NhsConfig::for_simulator("http://127.0.0.1:1");
    cfg.signing_keys = vec![SigningKeyConfig {
        kid: "test-1".into(),
        pem_path: data("client.crt"),
    }];
    let e = NhsClients::new(&cfg).unwrap_err();
    assert_eq!(e.service(), "oauth");

    let mut cfg = NhsConfig::for_simulator("http://127.0.0.1:1");
    cfg.active_kid = "test-9".into();
    assert!(NhsClients::new(&cfg).is_err());
}
