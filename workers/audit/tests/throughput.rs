//! A measurement, not a check (ignored by default): how fast events go from `AuditSink::emit`
//! to committed rows. Run with
//! `cargo test -p xhuma-audit --release --test throughput -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod support;

use std::time::{Duration, Instant};

use support::Harness;
use xhuma_common::audit::{AuditKind, AuditOutcome, AuditSink};
use xhuma_common::queue::Amqp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by hand"]
async fn events_per_second_from_emit_to_row() {
    let n: usize = std::env::var("AUDIT_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let h = Harness::start_with("tput", &[("XHUMA_AUDIT_BATCH_SIZE", "200".into())]).await;
    let publisher = Amqp::connect(&h.auditor.config.amqp, "audit-tput")
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sink = AuditSink::spawn_with_capacity(publisher.clone(), shutdown.clone(), n);
    let started = Instant::now();
    for i in 0..n {
        sink.emit(support::event(
            AuditKind::Iti38,
            AuditOutcome::Success,
            &format!("c{i}"),
        ));
    }
    let emitted = started.elapsed();
    sink.flush(Duration::from_secs(120)).await;
    let published = started.elapsed();
    let mut rows = 0;
    while rows < n as i64 && started.elapsed() < Duration::from_secs(300) {
        rows = h.count("true").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = started.elapsed();
    println!(
        "audit throughput: {n} events; emit {:?} ({:.0} ns/event); published {:?} ({:.0}/s); stored {:?} ({:.0}/s); rows {rows}",
        emitted,
        emitted.as_nanos() as f64 / n as f64,
        published,
        n as f64 / published.as_secs_f64(),
        stored,
        n as f64 / stored.as_secs_f64()
    );
    assert_eq!(rows, n as i64);
    shutdown.cancel();
    publisher.close().await;
    h.finish().await;
}
