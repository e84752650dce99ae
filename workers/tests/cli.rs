//! `xhuma-worker` as an operator starts it: `--help` is the configuration reference, and a bad
//! flag or setting exits 64 naming it, before anything connects.

use std::process::{Command, Output};

use xhuma_workers::config::CLI;

const BIN: &str = env!("CARGO_BIN_EXE_xhuma-worker");

/// What a worker needs to get past its configuration at all.
const VALID: &[(&str, &str)] = &[
    ("XHUMA_NHS_API_KEY", "test-key"),
    ("XHUMA_NHS_ASID", "200000000001"),
    ("XHUMA_NHS_SIGNING_KEY_PATH", "/nonexistent/test-key.pem"),
];

fn worker(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .env_clear()
        .args(args)
        .envs(VALID.iter().copied())
        .envs(env.iter().copied())
        .output()
        .expect("run xhuma-worker")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_setting_and_the_stages_flag() {
    let out = worker(&["--help"], &[("XHUMA_NHS_API_KEY", "s3cr3t-not-for-help")]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for (_, s) in CLI.settings() {
        assert!(help.contains(s.var), "{} missing from --help", s.var);
    }
    assert!(help.contains("--stages"), "{help}");
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
    (&["--stages", "fax"], &[], "XHUMA_WORKER_STAGES"),
    (
        &[],
        &[("XHUMA_WORKER_STAGES", "fax")],
        "XHUMA_WORKER_STAGES",
    ),
    (
        &[],
        &[("XHUMA_WORKER_PREFETCH", "0")],
        "XHUMA_WORKER_PREFETCH",
    ),
    (&[], &[("XHUMA_QUEUE_TYPE", "stream")], "XHUMA_QUEUE_TYPE"),
    (&[], &[("XHUMA_NHS_API_KEY", "")], "XHUMA_NHS_API_KEY"),
];

#[test]
fn bad_flags_and_settings_exit_64_naming_them() {
    for (args, env, named) in CASES {
        let out = worker(args, env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} {env:?}: {stderr}");
    }
}
