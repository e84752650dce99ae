//! `xhuma-convert` as people and scripts run it: flags, exit codes, stdout and `--out DIR`.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_xhuma-convert");
const NOW: &str = "2026-11-22T07:00:00Z";
const ID: &str = "5eed0000-0000-4000-8000-000000000001";

fn bundle() -> PathBuf {
    support::shared().join("fixtures/gpconnect/bundles/demonstrator/9690937286-skelly-large.json")
}

fn convert(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run xhuma-convert")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn one_bundle_goes_to_stdout_with_a_summary_on_stderr_and_is_reproducible() {
    let b = bundle();
    let args = ["--now", NOW, "--id", ID, b.to_str().unwrap()];
    let out = convert(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let xml = text(&out.stdout);
    assert!(xml.contains("<ClinicalDocument"), "{}", &xml[..200]);
    assert!(
        text(&out.stderr).contains(": ok, "),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(convert(&args).stdout, out.stdout, "same flags, same bytes");
    // The library's own output for the same clock and id.
    let lib = xhuma_ccda::convert(&std::fs::read(&b).unwrap(), &support::context()).unwrap();
    assert_eq!(out.stdout, lib.xml);

    let quiet = convert(&["-q", "--now", NOW, b.to_str().unwrap()]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet.stderr));
}

#[test]
fn out_dir_converts_every_bundle_of_a_directory() {
    let dir = support::shared().join("fixtures/gpconnect/bundles/demonstrator");
    let expected = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .count();
    let out_dir = std::env::temp_dir().join(format!("xhuma-convert-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = convert(&[
        "-q",
        "--now",
        NOW,
        "--out",
        out_dir.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    let written = std::fs::read_dir(&out_dir)
        .map(|rd| rd.count())
        .unwrap_or(0);
    let stderr = text(&out.stderr);
    let _ = std::fs::remove_dir_all(&out_dir);
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains(&format!("{expected} converted, 0 failed")),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(written, expected);
}

#[test]
fn a_bundle_about_someone_else_fails_with_status_1() {
    let b = bundle();
    let out = convert(&["--nhs", "9000000009", b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing about the wrong patient");
    let missing = convert(&["/nonexistent/bundle.json"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("cannot read"));
}

#[test]
fn help_exits_0_and_bad_usage_exits_64() {
    let help = convert(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = text(&help.stdout);
    for flag in ["--out", "--now", "--id", "--nhs", "--quiet", "Exit status"] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
    let b = bundle();
    let b = b.to_str().unwrap();
    for bad in [
        vec![],
        vec!["--no-such-flag", b],
        vec!["--now", "yesterday", b],
        vec!["--id", "not-a-uuid", b],
        vec![b, b],
    ] {
        let out = convert(&bad);
        assert_eq!(
            out.status.code(),
            Some(64),
            "{bad:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{bad:?}");
    }
}
