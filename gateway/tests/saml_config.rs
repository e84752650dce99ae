//! `SamlConfig::from_env` and trust-store loading at start-up.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod saml_support;

use std::collections::HashMap;
use std::time::Duration;

use saml_support::saml::{SamlConfig, SamlError, SamlVerifier};
use saml_support::*;
use xhuma_common::config::Env;

fn from_map(pairs: &[(&str, &str)]) -> Result<SamlConfig, xhuma_common::config::ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| map.get(k).cloned();
    SamlConfig::from_env(&Env::new(&lookup))
}

#[test]
fn defaults_are_strict() {
    let cfg = from_map(&[("XHUMA_SAML_AUDIENCE", "https://xhuma.example/SOAP")]).unwrap();
    assert_eq!(
        cfg,
        SamlConfig {
            audience: Some("https://xhuma.example/SOAP".into()),
            ..SamlConfig::default()
        }
    );
    assert!(cfg.required);
    assert!(!cfg.allow_unsigned);
    assert!(
        !cfg.allow_sha1,
        "SHA-1 is an explicit setting (Epic needs it)"
    );
    assert!(cfg.require_resource_id);
    assert_eq!(cfg.max_lifetime, Duration::from_secs(3600));
    assert!(cfg.purpose_allowed("TREATMENT") && cfg.purpose_allowed("etreat"));
    assert!(!cfg.purpose_allowed("MARKETING") && !cfg.purpose_allowed(""));
    assert_eq!(cfg.clock_skew, Duration::from_secs(120));
    assert!(cfg.trust_pems.is_empty());
}

#[test]
fn unsafe_combinations_refused_at_start_up() {
    let audience = ("XHUMA_SAML_AUDIENCE", "https://xhuma.example/SOAP");
    // Required SAML needs an audience.
    assert_eq!(from_map(&[]).unwrap_err().var, "XHUMA_SAML_AUDIENCE");
    // Unsigned or absent SAML only in a sandbox or with the dev flag.
    for relaxed in [
        ("XHUMA_SAML_ALLOW_UNSIGNED", "true"),
        ("XHUMA_SAML_REQUIRED", "false"),
    ] {
        assert_eq!(from_map(&[relaxed, audience]).unwrap_err().var, relaxed.0);
        assert!(from_map(&[relaxed, audience, ("XHUMA_SAML_DEV_MODE", "true")]).is_ok());
        assert!(from_map(&[relaxed, audience, ("XHUMA_NHS_ENV", "sandbox")]).is_ok());
        assert!(from_map(&[relaxed, audience, ("XHUMA_NHS_ENV", "prod")]).is_err());
    }
    // A trust store implies required, signed SAML, even in dev mode.
    let trust = ("XHUMA_SAML_TRUST_PEM", "/etc/idp.pem");
    let dev = ("XHUMA_SAML_DEV_MODE", "true");
    assert_eq!(
        from_map(&[trust, audience, dev, ("XHUMA_SAML_REQUIRED", "false")])
            .unwrap_err()
            .var,
        "XHUMA_SAML_REQUIRED"
    );
    assert_eq!(
        from_map(&[trust, audience, dev, ("XHUMA_SAML_ALLOW_UNSIGNED", "true")])
            .unwrap_err()
            .var,
        "XHUMA_SAML_ALLOW_UNSIGNED"
    );
    assert!(from_map(&[trust, audience]).unwrap().required);
    assert_eq!(
        from_map(&[audience, ("XHUMA_SAML_PURPOSES_OF_USE", " , ")])
            .unwrap_err()
            .var,
        "XHUMA_SAML_PURPOSES_OF_USE"
    );
}

#[test]
fn values_are_read() {
    let cfg = from_map(&[
        ("XHUMA_SAML_TRUST_PEM", "/etc/a.pem, /etc/b.pem"),
        ("XHUMA_SAML_AUDIENCE", "https://xhuma.example/SOAP"),
        ("XHUMA_SAML_ALLOW_UNSIGNED", "false"),
        ("XHUMA_SAML_REQUIRED", "true"),
        ("XHUMA_SAML_TRUSTED_ISSUERS", "CN=epic, O=UCLH | CN=other"),
        ("XHUMA_SAML_CLOCK_SKEW_SECS", "30"),
        ("XHUMA_SAML_ALLOW_SHA1", "true"),
        ("XHUMA_SAML_REQUIRE_HOLDER_OF_KEY", "yes"),
        ("XHUMA_SAML_DEV_MODE", "true"),
        ("XHUMA_SAML_MAX_LIFETIME_SECS", "600"),
        ("XHUMA_SAML_REQUIRE_RESOURCE_ID", "false"),
        ("XHUMA_SAML_PURPOSES_OF_USE", "TREATMENT, EMERGENCY"),
    ])
    .unwrap();
    assert_eq!(cfg.trust_pems.len(), 2);
    assert_eq!(cfg.trust_pems[1].to_str(), Some("/etc/b.pem"));
    assert_eq!(cfg.audience.as_deref(), Some("https://xhuma.example/SOAP"));
    assert!(!cfg.allow_unsigned && cfg.required && cfg.allow_sha1 && cfg.require_holder_of_key);
    assert_eq!(cfg.trusted_issuers, vec!["CN=epic, O=UCLH", "CN=other"]);
    assert_eq!(cfg.clock_skew, Duration::from_secs(30));
    assert_eq!(cfg.max_lifetime, Duration::from_secs(600));
    assert!(!cfg.require_resource_id);
    assert_eq!(cfg.purposes_of_use, vec!["TREATMENT", "EMERGENCY"]);
}

#[test]
fn bad_values_name_the_variable() {
    let err = from_map(&[("XHUMA_SAML_ALLOW_UNSIGNED", "maybe")]).unwrap_err();
    assert_eq!(err.var, "XHUMA_SAML_ALLOW_UNSIGNED");
    let err = from_map(&[("XHUMA_SAML_MAX_LIFETIME_SECS", "forever")]).unwrap_err();
    assert_eq!(err.var, "XHUMA_SAML_MAX_LIFETIME_SECS");
    let err = from_map(&[("XHUMA_SAML_ALLOW_UNSIGNED", "maybe")]).unwrap_err();
    assert_eq!(err.var, "XHUMA_SAML_ALLOW_UNSIGNED");
    let err = from_map(&[("XHUMA_SAML_CLOCK_SKEW_SECS", "-1")]).unwrap_err();
    assert_eq!(err.var, "XHUMA_SAML_CLOCK_SKEW_SECS");
}

#[test]
fn trust_store_errors_at_start_up() {
    let missing = SamlConfig {
        trust_pems: vec![data("does-not-exist.pem")],
        ..SamlConfig::default()
    };
    assert!(matches!(
        SamlVerifier::new(&missing),
        Err(SamlError::TrustStore { .. })
    ));
    let not_pem = SamlConfig {
        trust_pems: vec![data("README.md")],
        ..SamlConfig::default()
    };
    assert!(matches!(
        SamlVerifier::new(&not_pem),
        Err(SamlError::TrustStore { .. })
    ));
    // A private key file is not a certificate.
    let key = SamlConfig {
        trust_pems: vec![data("idp.key")],
        ..SamlConfig::default()
    };
    assert!(SamlVerifier::new(&key).is_err());
    assert!(SamlVerifier::new(&config()).is_ok());
}

#[test]
fn fault_codes_are_wsse_subcodes() {
    assert_eq!(SamlError::BadSignature.wsse_fault_code(), "FailedCheck");
    assert_eq!(SamlError::Missing.wsse_fault_code(), "InvalidSecurity");
    assert_eq!(SamlError::Expired.wsse_fault_code(), "MessageExpired");
    assert_eq!(
        SamlError::UntrustedCertificate.wsse_fault_code(),
        "FailedAuthentication"
    );
    // Display never carries message content.
    assert_eq!(
        SamlError::Malformed("duplicate ID").to_string(),
        "malformed WS-Security header: duplicate ID"
    );
}
