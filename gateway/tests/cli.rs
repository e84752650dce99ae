//! `xhuma-gateway` as an operator starts it: `--help` is the configuration reference, and every
//! bad setting (a value, a flag, a TLS or SAML trust file) exits 64 naming it, before anything
//! connects or binds.

use std::process::{Command, Output};

use xhuma_gateway::config::CLI;

const BIN: &str = env!("CARGO_BIN_EXE_xhuma-gateway");

/// What a gateway needs to get past its configuration at all.
const VALID: &[(&str, &str)] = &[
    ("XHUMA_NHS_API_KEY", "test-key"),
    ("XHUMA_NHS_ASID", "200000000001"),
    ("XHUMA_NHS_SIGNING_KEY_PATH", "/nonexistent/test-key.pem"),
    ("XHUMA_SAML_AUDIENCE", "https://xhuma.test/SOAP"),
];

fn gateway(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .env_clear()
        .args(args)
        .envs(VALID.iter().copied())
        .envs(env.iter().copied())
        .output()
        .expect("run xhuma-gateway")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_setting_with_its_variable_and_never_a_value() {
    let out = gateway(&["--help"], &[("XHUMA_CACHE_KEY", "s3cr3t-not-for-help")]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for (_, s) in CLI.settings() {
        assert!(help.contains(s.var), "{} missing from --help", s.var);
        assert!(help.contains(&format!("--{}", s.flag())), "--{}", s.flag());
    }
    assert!(!help.contains("s3cr3t"), "an environment value was echoed");
    assert_eq!(gateway(&["--version"], &[]).status.code(), Some(0));
}

/// Arguments, environment, and what the refusal must name.
type Case = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

const CASES: &[Case] = &[
    (&["--no-such-flag"], &[], "--no-such-flag"),
    (&[], &[("XHUMA_MAX_XML_DEPTH", "3")], "XHUMA_MAX_XML_DEPTH"),
    (&["--max-xml-depth", "3"], &[], "XHUMA_MAX_XML_DEPTH"),
    (
        &[],
        &[("XHUMA_RATE_LIMIT_PER_SEC", "fast")],
        "XHUMA_RATE_LIMIT_PER_SEC",
    ),
    (
        &[],
        &[("XHUMA_SHUTDOWN_GRACE_MS", "soon")],
        "XHUMA_SHUTDOWN_GRACE_MS",
    ),
    (
        &[],
        &[
            ("XHUMA_TLS_CERT_PATH", "/nonexistent/cert.pem"),
            ("XHUMA_TLS_KEY_PATH", "/nonexistent/key.pem"),
        ],
        "XHUMA_TLS_CERT_PATH",
    ),
    (
        &[],
        &[("XHUMA_SAML_TRUST_PEM", "/nonexistent/idp.pem")],
        "XHUMA_SAML_TRUST_PEM",
    ),
];

#[test]
fn bad_settings_exit_64_naming_the_variable() {
    for (args, env, named) in CASES {
        let out = gateway(args, env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} {env:?}: {stderr}");
    }
}
