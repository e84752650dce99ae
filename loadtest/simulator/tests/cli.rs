//! The `nhs-sim` binary: `--list-patients` prints every patient, scenario numbers included.
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn list_patients_prints_fixtures_and_scenarios() {
    let out = Command::new(env!("CARGO_BIN_EXE_nhs-sim"))
        .args(["--list-patients", "--synthetic", "3"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "9690937286",
        "SKELLY",
        "B82617",
        "9690938576",
        "NO_PATIENT_CONSENT",
        "synthetic:",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
    assert!(text.lines().count() > 90);
}

#[test]
fn bad_flags_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_nhs-sim"))
        .args(["--latency", "teapot=5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
