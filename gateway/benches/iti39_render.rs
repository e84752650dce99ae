//! CPU cost of one ITI-39 answer for the largest fixture record (issue 12: ≤ 700 µs inline
//! base64, ≤ 400 µs MTOM), from the sealed bytes Redis holds to the body handed to hyper.
//!
//! The document is the real C-CDA of `shared/fixtures/xhuma/bundles/9692136744.json`
//! (converted here by `xhuma-ccda`, as the workers do), sealed by the real `Sealer` with a
//! key, as the workers store it. Each iteration opens it (AES-256-GCM, LZ4), renders the
//! RetrieveDocumentSetResponse, wraps it in the reply envelope and builds the HTTP body, inline
//! and MTOM. Redis, the network and hyper's write are not in it. Results go to
//! docs/performance.md ("ITI-39 response cost").
//!
//! Time is the bench thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), as in `saml_verify.rs`.

use std::hint::black_box;
use std::path::Path;

/// The gateway's allocator (`src/main.rs`), so the bench measures what the gateway runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use xhuma_common::cache::seal::Sealer;
use xhuma_gateway::iti::iti39::{self, DocumentRequest, Item};
use xhuma_gateway::soap::{mtom, reply_envelope};

mod support;
use support::ThreadCpu;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const AAD: &str = "P:doc:bench:body";
const HOME: &str = "urn:oid:2.16.840.1.113883.2.1.3.34.9001";
const REPOSITORY: &str = "2.16.840.1.113883.2.1.3.34.9001.1";

fn document() -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/xhuma/bundles/9692136744.json");
    let bundle = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let cx = xhuma_ccda::Context::new(
        time::macros::datetime!(2026-11-22 07:00:00 UTC),
        uuid::Uuid::from_u128(1),
    );
    xhuma_ccda::convert(&bundle, &cx)
        .expect("the fixture converts")
        .xml
}

/// One request's reply path; returns the body's length so nothing is optimised away.
fn answer(sealer: &Sealer, sealed: &[u8], req: &[DocumentRequest], mtom: bool) -> usize {
    let data = Bytes::from(sealer.open(AAD, sealed).expect("opens"));
    let items = [Item::Document {
        mime: "text/xml",
        data,
    }];
    let (payload, attachments) = iti39::render(req, &items, HOME, REPOSITORY, mtom);
    let xml = reply_envelope(
        "urn:ihe:iti:2007:CrossGatewayRetrieveResponse",
        "urn:uuid:00000000-0000-0000-0000-000000000001",
        "urn:uuid:00000000-0000-0000-0000-000000000002",
        payload,
    );
    let body = if mtom {
        mtom::package(xml, &attachments).1
    } else {
        xml
    };
    let len = body.len();
    drop(black_box(body.into_body()));
    len
}

fn bench(c: &mut Criterion<ThreadCpu>) {
    let doc = document();
    let sealer = Sealer::new(Some(KEY), &[]).expect("key");
    let sealed = sealer.seal(AAD, &doc).expect("seals");
    println!(
        "document {} bytes, sealed {} bytes",
        doc.len(),
        sealed.len()
    );
    let req = [DocumentRequest {
        home: Some(HOME.into()),
        repository: REPOSITORY.into(),
        unique_id: "2.25.1".into(),
    }];
    let mut g = c.benchmark_group("iti39_render");
    g.throughput(Throughput::Elements(1));
    g.bench_function("open", |b| {
        b.iter(|| sealer.open(AAD, black_box(&sealed)).expect("opens").len())
    });
    for (name, mtom) in [("inline", false), ("mtom", true)] {
        g.bench_function(name, |b| {
            b.iter(|| answer(&sealer, black_box(&sealed), &req, mtom))
        });
    }
    g.finish();
}

fn config() -> Criterion<ThreadCpu> {
    Criterion::default().with_measurement(ThreadCpu)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
