//! Snapshots of the stack taken around a measured window: Prometheus text from the gateway and
//! workers (`/metrics`), the simulator's call counters (`/_admin/counters`), and CPU time of
//! named processes and of the whole machine (`/proc`). Deltas between two snapshots go into
//! the report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;

/// Clock ticks per second of `/proc/*/stat` times (`getconf CLK_TCK`; 100 on Linux builds
/// this runs on).
const CLK_TCK: f64 = 100.0;

/// Where to look: `name=URL` metrics endpoints and `name=PID` processes.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    pub sim: String,
    pub metrics: Vec<(String, String)>,
    pub pids: Vec<(String, u32)>,
}

/// The simulator's counters (requests received per service).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct SimCounters {
    #[serde(default)]
    pub pds: u64,
    #[serde(default)]
    pub sds: u64,
    #[serde(default)]
    pub gpconnect: u64,
    #[serde(default)]
    pub gpconnect_bytes: u64,
    #[serde(default)]
    pub oauth: u64,
}

/// One moment of the stack.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub at: Instant,
    pub sim: SimCounters,
    /// Sum over all metrics endpoints of each series (`name{labels}` → value).
    pub series: BTreeMap<String, f64>,
    /// CPU seconds used so far per named process.
    pub cpu: BTreeMap<String, f64>,
    /// Peak resident memory so far per named process (`VmHWM`, bytes): the figure issue 12's
    /// RSS goals (gateway ≤ 64 MB, worker ≤ 256 MB) compare.
    pub peak_rss: BTreeMap<String, u64>,
    /// Machine-wide (busy, total) jiffies from `/proc/stat`.
    pub machine: (u64, u64),
}

// === impl Snapshot ===

impl Snapshot {
    pub async fn take(client: &reqwest::Client, t: &Targets) -> anyhow::Result<Self> {
        let sim = sim_counters(client, &t.sim).await?;
        let mut series = BTreeMap::new();
        for (name, url) in &t.metrics {
            let text = client
                .get(url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .with_context(|| format!("scraping {name} at {url}"))?
                .text()
                .await
                .with_context(|| format!("reading {name} metrics"))?;
            for (k, v) in parse_prometheus(&text) {
                *series.entry(k).or_insert(0.0) += v;
            }
        }
        let mut cpu = BTreeMap::new();
        let mut peak_rss = BTreeMap::new();
        for (name, pid) in &t.pids {
            if let Some(secs) = process_cpu_secs(&format!("/proc/{pid}/stat")) {
                cpu.insert(name.clone(), secs);
            }
            if let Some(bytes) = process_peak_rss(&format!("/proc/{pid}/status")) {
                peak_rss.insert(name.clone(), bytes);
            }
        }
        if let Some(secs) = process_cpu_secs("/proc/self/stat") {
            cpu.insert("xhuma-loadtest".into(), secs);
        }
        Ok(Self {
            at: Instant::now(),
            sim,
            series,
            cpu,
            peak_rss,
            machine: machine_jiffies().unwrap_or((0, 0)),
        })
    }

    /// `after - self` of one series (0 when absent from both).
    pub fn delta(&self, after: &Snapshot, key: &str) -> f64 {
        after.series.get(key).copied().unwrap_or(0.0) - self.series.get(key).copied().unwrap_or(0.0)
    }

    /// Sum of the deltas of every series whose key starts with `prefix` and contains all of
    /// `labels` (e.g. `("xhuma_jobs_total{", &["stage=\"gpconnect\"", "outcome=\"ok\""])`).
    pub fn delta_matching(&self, after: &Snapshot, prefix: &str, labels: &[&str]) -> f64 {
        after
            .series
            .keys()
            .chain(self.series.keys())
            .filter(|k| k.starts_with(prefix) && labels.iter().all(|l| k.contains(l)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|k| self.delta(after, k))
            .sum()
    }

    /// Label sets (the part in braces) of a metric seen in `after` with a non-zero delta.
    pub fn changed(&self, after: &Snapshot, name: &str) -> Vec<(String, f64)> {
        let prefix = format!("{name}{{");
        after
            .series
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .map(|k| {
                (
                    k[prefix.len()..k.len() - 1].to_owned(),
                    self.delta(after, k),
                )
            })
            .filter(|(_, d)| *d != 0.0)
            .collect()
    }

    /// CPU used per process between the snapshots, as a share of one core.
    pub fn cpu_share(&self, after: &Snapshot) -> Vec<(String, f64)> {
        let wall = after.at.duration_since(self.at).as_secs_f64().max(1e-9);
        self.cpu_seconds(after)
            .into_iter()
            .map(|(name, s)| (name, s / wall))
            .collect()
    }

    /// CPU seconds each process used between the snapshots.
    pub fn cpu_seconds(&self, after: &Snapshot) -> Vec<(String, f64)> {
        after
            .cpu
            .iter()
            .filter_map(|(name, a)| self.cpu.get(name).map(|b| (name.clone(), a - b)))
            .collect()
    }

    /// Share of the whole machine (all cores) that was busy between the snapshots.
    pub fn machine_busy(&self, after: &Snapshot) -> Option<f64> {
        let busy = after.machine.0.checked_sub(self.machine.0)?;
        let total = after.machine.1.checked_sub(self.machine.1)?;
        (total > 0).then(|| busy as f64 / total as f64)
    }
}

pub async fn sim_counters(client: &reqwest::Client, sim: &str) -> anyhow::Result<SimCounters> {
    let url = format!("{}/_admin/counters", sim.trim_end_matches('/'));
    client
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .context("parsing simulator counters")
}

/// Waits until the simulator's GP Connect counter has not moved for `quiet`, at most `max`:
/// the workers have drained what the load left queued. Returns the time it took.
pub async fn drain(
    client: &reqwest::Client,
    sim: &str,
    quiet: Duration,
    max: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut last = sim_counters(client, sim).await?.gpconnect;
    let mut still_since = Instant::now();
    while started.elapsed() < max {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = sim_counters(client, sim).await?.gpconnect;
        if now != last {
            last = now;
            still_since = Instant::now();
        } else if still_since.elapsed() >= quiet {
            return Ok(still_since.duration_since(started));
        }
    }
    Ok(started.elapsed())
}

/// Parses the Prometheus text format into `name{labels}` → value (comments skipped, labels
/// kept as written, which the exporter writes in a stable order).
pub fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.trim().to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// `VmHWM` of a `/proc/<pid>/status` file, in bytes.
fn process_peak_rss(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// utime + stime of a `/proc/<pid>/stat` file, in seconds.
fn process_cpu_secs(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLK_TCK)
}

/// (busy, total) jiffies of all CPUs from the first line of `/proc/stat`.
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}
