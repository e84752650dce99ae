//! `xhuma-audit` as an operator starts it: `--help` lists every setting and the `migrate`
//! mode; a bad flag, mode or setting exits 64 naming it, before anything connects.

use std::process::{Command, Output};

use xhuma_audit::config::CLI;

const BIN: &str = env!("CARGO_BIN_EXE_xhuma-audit");

fn audit(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .env_clear()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run xhuma-audit")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_setting_and_the_migrate_mode() {
    let secret = "postgres://audit:s3cr3t@db/audit";
    let out = audit(&["--help"], &[("XHUMA_AUDIT_DATABASE_URL", secret)]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for (_, s) in CLI.settings() {
        assert!(help.contains(s.var), "{} missing from --help", s.var);
    }
    assert!(help.contains("migrate"), "{help}");
    assert!(!help.contains("s3cr3t"), "an environment value was echoed");
}

/// Arguments, environment, and what the refusal must name.
type Case = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

const CASES: &[Case] = &[
    (&["--no-such-flag"], &[], "--no-such-flag"),
    (&["migrat"], &[], "migrat"),
    (
        &[],
        &[("XHUMA_AUDIT_BATCH_SIZE", "many")],
        "XHUMA_AUDIT_BATCH_SIZE",
    ),
    (
        &["migrate"],
        &[("XHUMA_AUDIT_MIGRATE", "perhaps")],
        "XHUMA_AUDIT_MIGRATE",
    ),
    (
        &[],
        &[("XHUMA_AUDIT_SYSLOG", "carrier-pigeon://x")],
        "XHUMA_AUDIT_SYSLOG",
    ),
];

#[test]
fn bad_flags_modes_and_settings_exit_64_naming_them() {
    for (args, env, named) in CASES {
        let out = audit(args, env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} {env:?}: {stderr}");
    }
}
