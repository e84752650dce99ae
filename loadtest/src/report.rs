//! Markdown for one measured run: goose's per-request numbers (req/s, p50/p95/p99), failures,
//! and what the stack did meanwhile (simulator calls against patients for single-flight, jobs
//! per second, conversion time, waits, CPU) from two or three `probe::Snapshot`s.

use std::fmt::Write as _;
use std::time::Duration;

use goose::metrics::{GooseMetrics, GooseRequestMetricTimingData};

use crate::probe::Snapshot;

/// Everything one run's section is built from.
pub struct Run<'a> {
    pub scenario: &'static str,
    pub users: usize,
    pub wall: Duration,
    pub metrics: &'a GooseMetrics,
    /// `mixed`: the weights and the users each type got (one line).
    pub mix: Option<&'a str>,
    /// Distinct patients the scenario started (0 for `cached_reads`), and whether the
    /// rotation wrapped (`mixed`: its cold types', the hot patient included).
    pub patients: usize,
    /// Patients warmed before the window (`cached_reads`).
    pub warmed: usize,
    pub wrapped: bool,
    pub before: &'a Snapshot,
    /// At the end of the load.
    pub end: &'a Snapshot,
    /// After the workers went quiet, and how long that took (at most `drain_max`).
    pub drained: &'a Snapshot,
    pub drain: Duration,
    pub drain_max: Duration,
}

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

fn row(
    out: &mut String,
    name: &str,
    t: &GooseRequestMetricTimingData,
    ok: usize,
    fail: usize,
    secs: f64,
) {
    let _ = writeln!(
        out,
        "| {name} | {} | {fail} | {:.1} | {} | {} | {} | {} | {} |",
        ok + fail,
        (ok + fail) as f64 / secs,
        ms(t.minimum_time_us),
        ms(t.percentile_us(0.5)),
        ms(t.percentile_us(0.95)),
        ms(t.percentile_us(0.99)),
        ms(t.maximum_time_us),
    );
}

/// The section for one run (a `###` heading and its tables).
pub fn render(r: &Run<'_>) -> String {
    let secs = r.wall.as_secs_f64().max(1e-9);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### `{}`: {} users, {:.0} s\n",
        r.scenario, r.users, secs
    );
    out.push_str(
        "| request | count | failed | req/s | min ms | p50 ms | p95 ms | p99 ms | max ms |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut names: Vec<&String> = r.metrics.requests.keys().collect();
    names.sort();
    for key in names {
        let m = &r.metrics.requests[key];
        row(
            &mut out,
            key,
            &m.raw_data,
            m.success_count,
            m.fail_count,
            secs,
        );
    }
    for scenario in &r.metrics.transactions {
        for t in scenario {
            let _ = writeln!(out, "{}", {
                let mut s = String::new();
                row(
                    &mut s,
                    &format!(
                        "**iteration** `{}`",
                        t.transaction_name.name_for_transaction()
                    ),
                    &t.run_times,
                    t.success_count,
                    t.fail_count,
                    secs,
                );
                s.trim_end().to_owned()
            });
        }
    }
    if !r.metrics.errors.is_empty() {
        out.push_str("\nFailures by reason:\n\n");
        for e in r.metrics.errors.values() {
            let _ = writeln!(out, "- `{}` × {}: {}", e.name, e.occurrences, e.error);
        }
    }
    out.push('\n');
    pipeline(&mut out, r, secs);
    out
}

fn pipeline(out: &mut String, r: &Run<'_>, secs: f64) {
    let (b, e, d) = (r.before, r.end, r.drained);
    let gpc_load = e.sim.gpconnect - b.sim.gpconnect;
    let gpc_all = d.sim.gpconnect - b.sim.gpconnect;
    let mb = (d.sim.gpconnect_bytes - b.sim.gpconnect_bytes) as f64 / 1e6;
    if let Some(mix) = r.mix {
        let _ = writeln!(out, "- {mix}");
    }
    if r.warmed > 0 {
        let _ = writeln!(
            out,
            "- {} patients warmed before the window (not measured), then read round-robin.",
            r.warmed
        );
    }
    let _ = writeln!(
        out,
        "- Patients started: **{}**{}; GP Connect calls: **{}** ({} during the load, {} while \
         draining {:.1} s after it{}), {:.1} MB; PDS calls {}, SDS calls {}, token requests {}.",
        r.patients,
        if r.wrapped {
            " (the patient list wrapped: later iterations hit the cache)"
        } else {
            ""
        },
        gpc_all,
        gpc_load,
        gpc_all - gpc_load,
        r.drain.as_secs_f64(),
        if r.drain >= r.drain_max {
            ", **still busy when the wait ended**"
        } else {
            ""
        },
        mb,
        d.sim.pds - b.sim.pds,
        d.sim.sds - b.sim.sds,
        d.sim.oauth - b.sim.oauth,
    );
    if r.patients > 0 && !r.wrapped {
        let ratio = gpc_all as f64 / r.patients as f64;
        let verdict = if gpc_all as usize <= r.patients {
            "single-flight held"
        } else {
            "**more calls than patients**"
        };
        let _ = writeln!(
            out,
            "- GP Connect calls per patient: {ratio:.2} ({verdict})."
        );
    }
    let jobs = |s: &Snapshot, t: &Snapshot, stage: &str| {
        s.delta_matching(t, "xhuma_jobs_total{", &[&format!("stage=\"{stage}\"")])
    };
    // Records are the jobs that fetched and cached one; yielded and already-fresh jobs did
    // no upstream work and are not throughput.
    let cached = b.delta_matching(
        e,
        "xhuma_jobs_total{",
        &["stage=\"gpconnect\"", "outcome=\"cached\""],
    );
    let _ = writeln!(
        out,
        "- Jobs finished during the load: sds {:.0}, gpconnect {:.0}, of which {cached:.0} \
         fetched and cached a record (**{:.1} records/s**); after it: gpconnect {:.0}. By \
         outcome (whole run): {}.",
        jobs(b, e, "sds"),
        jobs(b, e, "gpconnect"),
        cached / secs,
        jobs(e, d, "gpconnect"),
        labels(b.changed(d, "xhuma_jobs_total")),
    );
    let conv_n = b.delta(d, "xhuma_conversion_seconds_count");
    let conv_s = b.delta(d, "xhuma_conversion_seconds_sum");
    let fetch_n = b.delta(d, "xhuma_gpconnect_fetch_seconds_count");
    let fetch_s = b.delta(d, "xhuma_gpconnect_fetch_seconds_sum");
    if conv_n > 0.0 {
        let _ = writeln!(
            out,
            "- Conversion: {conv_n:.0} documents, mean {:.1} ms wall (includes waiting for a core), \
             {:.2} conversions running on average; GP Connect fetch mean {:.1} ms.",
            conv_s / conv_n * 1000.0,
            conv_s / (secs + r.drain.as_secs_f64()),
            if fetch_n > 0.0 {
                fetch_s / fetch_n * 1000.0
            } else {
                0.0
            },
        );
    }
    let prefetch = b.changed(e, "xhuma_prefetch_total");
    if !prefetch.is_empty() {
        let _ = writeln!(out, "- Gateway prefetch decisions: {}.", labels(prefetch));
    }
    let waits = b.changed(e, "xhuma_wait_total");
    if !waits.is_empty() {
        let n = b.delta(e, "xhuma_wait_seconds_count");
        let s = b.delta(e, "xhuma_wait_seconds_sum");
        let mean = if n > 0.0 {
            format!(", mean wait {:.0} ms", s / n * 1000.0)
        } else {
            String::new()
        };
        let _ = writeln!(out, "- ITI-38/39 waits on a job: {}{mean}.", labels(waits));
    }
    let cpu = b.cpu_share(e);
    if !cpu.is_empty() {
        let list: Vec<String> = cpu
            .iter()
            .map(|(n, s)| format!("{n} {:.0}%", s * 100.0))
            .collect();
        let _ = writeln!(
            out,
            "- CPU during the load (% of one core): {}; whole machine (2 cores, shared) {}.",
            list.join(", "),
            b.machine_busy(e)
                .map_or("?".into(), |x| format!("{:.0}% busy", x * 100.0)),
        );
        // CPU seconds over the window's requests: what each component costs per request
        // (the figure issue "Performance on signed requests" compares).
        let requests: usize = r
            .metrics
            .requests
            .values()
            .map(|m| m.success_count + m.fail_count)
            .sum();
        if requests > 0 {
            let list: Vec<String> = b
                .cpu_seconds(e)
                .iter()
                .map(|(n, s)| format!("{n} {:.0}", s / requests as f64 * 1e6))
                .collect();
            let _ = writeln!(
                out,
                "- CPU per request (µs, over {requests} requests): {}.",
                list.join(", ")
            );
        }
    }
    if !e.peak_rss.is_empty() {
        let list: Vec<String> = e
            .peak_rss
            .iter()
            .map(|(n, b)| format!("{n} {:.0}", *b as f64 / (1024.0 * 1024.0)))
            .collect();
        let _ = writeln!(
            out,
            "- Peak resident memory since start (VmHWM, MiB): {}.",
            list.join(", ")
        );
    }
}

fn labels(v: Vec<(String, f64)>) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.into_iter()
        .map(|(l, d)| format!("`{l}` {d:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}
