//! Shared helpers for the integration tests: fixture discovery (read in place
//! from the sibling `shared/` checkout) and a fixed conversion context.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use xhuma_ccda::Context;

/// `/work/shared` (or the CI clone's sibling `shared/`).
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// Every GP Connect bundle fixture, sorted.
pub fn bundles() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let roots = [
        shared().join("fixtures/gpconnect/bundles"),
        shared().join("fixtures/xhuma/bundles"),
    ];
    for root in roots {
        let mut dirs = vec![root];
        while let Some(d) = dirs.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "json") {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 40,
        "fixtures not found under {}",
        shared().display()
    );
    out
}

pub fn fixture(rel: &str) -> Vec<u8> {
    let p = shared().join("fixtures").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A fixed clock and document id, so outputs are reproducible.
pub fn context() -> Context {
    let now = time::macros::datetime!(2026-11-22 07:00:00 UTC);
    Context::new(
        now,
        uuid::Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0001),
    )
}

/// Fixtures that must be refused: the bundle has no Patient.
pub fn expect_error(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.contains("missing-patient")
        || name.contains("with-no-patient")
        || name.contains("duplicated-resource-bundle")
}

pub fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
