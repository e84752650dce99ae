//! A live progress line on stderr while an attack runs: every `--progress-secs`, the requests
//! sent so far, the rate over the last interval, the failures so far and the time elapsed of
//! the planned ramp-up plus run time.
//!
//! `scenarios::soap_call` counts each request as it is sent and `scenarios::fail` each failure
//! (a transport error, a non-2xx status or a failed check); goose's own metrics, which the
//! report is built from, are only read once the attack is over. The line is what
//! `loadtest/run` shows on the terminal; the final counts are the report's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static SENT: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);

/// One request sent.
pub fn sent() {
    SENT.fetch_add(1, Ordering::Relaxed);
}

/// One request failed.
pub fn failed() {
    FAILED.fetch_add(1, Ordering::Relaxed);
}

/// Prints a line every `every` until aborted (the caller aborts it when the attack returns).
/// `planned` is the ramp-up plus run time goose was given.
pub fn spawn(
    scenario: &'static str,
    every: Duration,
    planned: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut last = (started, SENT.load(Ordering::Relaxed));
        loop {
            ticks.tick().await;
            let now = Instant::now();
            let sent = SENT.load(Ordering::Relaxed);
            let rate = (sent - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-9);
            eprintln!(
                "loadtest: {scenario} {:.0}/{:.0} s: {sent} requests, {rate:.1} req/s over the last {:.0} s, {} failed",
                started.elapsed().as_secs_f64(),
                planned.as_secs_f64(),
                now.duration_since(last.0).as_secs_f64(),
                FAILED.load(Ordering::Relaxed),
            );
            last = (now, sent);
        }
    })
}
