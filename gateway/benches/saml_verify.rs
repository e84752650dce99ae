//! CPU cost of one SAML verification (issue 12: ≤ 250 µs for an Epic-shaped request), over the
//! signed fixtures in `tests/data/saml/fixtures` at the instant they were signed for.
//!
//! Cases: RSA-SHA1 as Epic signs and RSA-SHA256, each with the holder-of-key signature over
//! `wsu:Timestamp` and without it (the header signature cut out here; the assertion's own
//! signature still covers exactly what it did), plus a signer that names no certificate, so
//! every pinned key is tried. The whole check runs, pre-pass included, as `caller.rs` runs it.
//! Results go to docs/performance.md ("SAML verification cost"); `saml_phases.py` beside this
//! file splits a perf profile of it into the phases of a check.
//!
//! Time is the bench thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: the goal is
//! CPU per request, and on the shared 2-core machine wall time also counts the time other
//! processes hold the core.

use std::hint::black_box;

/// The gateway's allocator (`src/main.rs`), so the bench measures what the gateway runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use time::OffsetDateTime;
use time::macros::datetime;
use xhuma_gateway::soap::saml::{SamlConfig, SamlVerifier};

mod support;
use support::ThreadCpu;

/// The instant `tests/data/saml/make-fixtures.py` signs for (as `tests/saml_support`).
const NOW: OffsetDateTime = datetime!(2027-06-01 12:00:00 UTC);

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/saml")
        .join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(data("fixtures").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The fixture without the holder-of-key `ds:Signature` directly in `wsse:Security` (the one
/// after the assertion).
fn without_header_signature(envelope: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(envelope).expect("UTF-8 fixture");
    let after = text.find("</saml2:Assertion>").expect("an assertion");
    let start = after
        + text[after..]
            .find("<ds:Signature")
            .expect("a header signature");
    let end = start + text[start..].find("</ds:Signature>").expect("its end") + 15;
    format!("{}{}", &text[..start], &text[end..]).into_bytes()
}

/// The test configuration (`tests/saml_support::config`), trusting idp.crt and idp2.crt.
fn config() -> SamlConfig {
    SamlConfig {
        trust_pems: vec![data("idp.crt"), data("idp2.crt")],
        audience: Some("https://xhuma.test/SOAP/iti38".into()),
        trusted_issuers: vec!["CN=test-idp.epic.invalid, O=Xhuma Test, C=GB".into()],
        allow_sha1: true,
        ..SamlConfig::default()
    }
}

fn bench(c: &mut Criterion<ThreadCpu>) {
    let verifier = SamlVerifier::new(&config()).expect("test trust store loads");
    let sha1 = fixture("valid-sha1-epic.xml");
    let sha256 = fixture("valid-sha256.xml");
    let cases = [
        ("sha1-epic+hok", sha1.clone(), true),
        ("sha256+hok", sha256.clone(), true),
        ("sha1-epic", without_header_signature(&sha1), false),
        ("sha256", without_header_signature(&sha256), false),
        (
            "sha256-no-keyinfo",
            fixture("valid-idp2-no-keyinfo.xml"),
            false,
        ),
    ];
    let mut g = c.benchmark_group("saml_verify");
    for (name, envelope, hok) in &cases {
        let v = verifier
            .verify_assertion(envelope, NOW)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .expect("an assertion");
        assert!(v.signed, "{name}");
        assert_eq!(v.holder_of_key, *hok, "{name}");
        g.bench_function(*name, |b| {
            b.iter(|| verifier.verify_assertion(black_box(envelope), NOW))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = bench
}
criterion_main!(benches);
