//! `prefetch-latency`: does prefetch hide the upstream? With the simulator's GP Connect
//! latency set to (say) 2 s, for each probe patient send ITI-55, wait (say) 2.5 s, then time
//! ITI-38, which should be answered from the cache. For contrast, time ITI-38 for other,
//! never-discovered patients (cold: the query enqueues the job and waits for GP Connect and the
//! conversion). Patients are taken one at a time so the numbers are latencies, not queueing.
//! The simulator's GP Connect faults are restored afterwards, also on error.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::patients;
use crate::probe::{Snapshot, Targets};
use crate::soap;

/// Settings of one probe (from the command line).
#[derive(Debug, Clone)]
pub struct Settings {
    pub gateway: String,
    pub sim: String,
    pub gateway_metrics: String,
    pub patients: usize,
    pub gpc_latency: Duration,
    pub wait: Duration,
    /// Patients reserved at the end of the synthetic list (2 × `patients` must fit).
    pub reserve: usize,
}

/// Latencies of one kind of request.
#[derive(Debug, Clone, Default)]
struct Sample(Vec<Duration>);

// === impl Sample ===

impl Sample {
    fn at(&self, q: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }

    fn row(&self, name: &str) -> String {
        let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
        let mean = if self.0.is_empty() {
            Duration::ZERO
        } else {
            self.0.iter().sum::<Duration>() / self.0.len() as u32
        };
        format!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            self.0.len(),
            ms(self.at(0.0)),
            ms(self.at(0.5)),
            ms(self.at(0.95)),
            ms(self.at(1.0)),
            ms(mean)
        )
    }
}

/// Runs the probe and returns its markdown (tables and the simulator/gateway deltas).
pub async fn run(client: &reqwest::Client, s: &Settings) -> anyhow::Result<String> {
    anyhow::ensure!(
        2 * s.patients <= s.reserve,
        "--patients {} needs {} reserved patients, only {} are",
        s.patients,
        2 * s.patients,
        s.reserve
    );
    let all = patients::synthetic(client, &s.sim).await?;
    anyhow::ensure!(all.len() >= s.reserve, "too few synthetic patients");
    let probe = &all[all.len() - 2 * s.patients..];
    let (warm, cold) = probe.split_at(s.patients);

    let faults_url = format!("{}/_admin/faults/gpconnect", s.sim.trim_end_matches('/'));
    let saved: serde_json::Value = client
        .get(&faults_url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .context("reading the simulator's GP Connect faults")?
        .json()
        .await?;
    let mut slow = saved.clone();
    slow["latency"] = serde_json::json!({"kind": "fixed", "ms": s.gpc_latency.as_millis() as u64});
    client
        .put(&faults_url)
        .json(&slow)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .context("setting the simulator's GP Connect latency")?;
    let result = measure(client, s, warm, cold).await;
    let restored = client
        .put(&faults_url)
        .json(&saved)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .context("restoring the simulator's GP Connect faults");
    let out = result?;
    restored?;
    Ok(out)
}

async fn measure(
    client: &reqwest::Client,
    s: &Settings,
    warm: &[String],
    cold: &[String],
) -> anyhow::Result<String> {
    let targets = Targets {
        sim: s.sim.clone(),
        metrics: vec![("gateway".into(), s.gateway_metrics.clone())],
        pids: Vec::new(),
    };
    let timed = |path: &'static str, body: String| async move {
        let t = Instant::now();
        let answer = soap::post(client, &s.gateway, path, body).await?;
        Ok::<_, anyhow::Error>((t.elapsed(), answer))
    };

    let before = Snapshot::take(client, &targets).await?;
    let (mut discovery, mut served) = (Sample::default(), Sample::default());
    for nhs in warm {
        let (d, answer) = timed(soap::ITI55_PATH, soap::iti55(nhs)).await?;
        anyhow::ensure!(soap::iti55_found(&answer, nhs), "ITI-55 found no patient");
        discovery.0.push(d);
        tokio::time::sleep(s.wait).await;
        let (d, answer) = timed(soap::ITI38_PATH, soap::iti38(nhs)).await?;
        anyhow::ensure!(
            soap::iti38_unique_id(&answer).is_some(),
            "prefetched ITI-38 advertised no document"
        );
        served.0.push(d);
    }
    let mid = Snapshot::take(client, &targets).await?;
    let mut cold_query = Sample::default();
    for nhs in cold {
        let (d, answer) = timed(soap::ITI38_PATH, soap::iti38(nhs)).await?;
        anyhow::ensure!(
            soap::iti38_unique_id(&answer).is_some(),
            "cold ITI-38 advertised no document"
        );
        cold_query.0.push(d);
    }
    let after = Snapshot::take(client, &targets).await?;

    let mut out = String::new();
    out.push_str("| request | n | min ms | p50 ms | p95 ms | max ms | mean ms |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    let _ = writeln!(out, "{}", discovery.row("ITI-55 (starts the prefetch)"));
    let _ = writeln!(
        out,
        "{}",
        served.row(&format!(
            "**ITI-38 {:.1} s after ITI-55** (prefetched)",
            s.wait.as_secs_f64()
        ))
    );
    let _ = writeln!(
        out,
        "{}",
        cold_query.row("ITI-38 without ITI-55 (cold: waits for the job)")
    );
    let _ = writeln!(
        out,
        "\nGP Connect latency injected: {} ms fixed. GP Connect calls: {} for the {} prefetched \
         patients, {} for the {} cold ones. Gateway waits on a job during the prefetched phase: \
         {}; during the cold phase: {}.",
        s.gpc_latency.as_millis(),
        mid.sim.gpconnect - before.sim.gpconnect,
        warm.len(),
        after.sim.gpconnect - mid.sim.gpconnect,
        cold.len(),
        waits(&before, &mid),
        waits(&mid, &after),
    );
    Ok(out)
}

fn waits(a: &Snapshot, b: &Snapshot) -> String {
    let v = a.changed(b, "xhuma_wait_total");
    if v.is_empty() {
        return "none".into();
    }
    v.into_iter()
        .map(|(l, d)| format!("`{l}` {d:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}
