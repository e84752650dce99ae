//! Conversion speed and peak memory on the largest Xhuma fixture
//! (`shared/fixtures/xhuma/bundles/9692136744.json`, 1.15 MB), plus the 3 MB
//! demonstrator record. Numbers go to docs/performance.md; peak memory is
//! measured on the CLI with `/usr/bin/time -v` (the workspace forbids the
//! `unsafe` a counting allocator would need).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn context() -> xhuma_ccda::Context {
    xhuma_ccda::Context::new(
        time::macros::datetime!(2026-11-22 07:00:00 UTC),
        uuid::Uuid::from_u128(1),
    )
}

fn bench(c: &mut Criterion) {
    let cx = context();
    for (name, rel) in [
        ("xhuma-9692136744-1.15MB", "xhuma/bundles/9692136744.json"),
        (
            "demonstrator-skelly-large-3MB",
            "gpconnect/bundles/demonstrator/9690937286-skelly-large.json",
        ),
    ] {
        let bytes = fixture(rel);
        let out = xhuma_ccda::convert(&bytes, &cx).expect("converts");
        println!(
            "{name}: input {} bytes, output {} bytes",
            bytes.len(),
            out.xml.len()
        );
        let mut g = c.benchmark_group("convert");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| xhuma_ccda::convert(black_box(&bytes), &cx).expect("converts"))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
