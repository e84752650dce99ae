//! `xhuma-loadtest`: load for a running Xhuma stack (see `loadtest/README.md`).
//!
//! - `run`: one goose attack (Locust-style users / ramp / duration, goose's own flags) of one
//!   scenario (`scenarios`), with the stack probed before and after (`probe`) and a markdown
//!   section appended to a report (`report`).
//! - `prefetch-latency`: the issue-5 measurement (`prefetch`).
//! - `balance`: a round-robin TCP front for several gateways (`balance`), which `loadtest/run`
//!   starts with `LT_GATEWAYS=N`.
//!
//! Patients come from the simulator's admin API (`patients`); the SOAP bodies from `soap`.
//! Every target must be on loopback; every loop is bounded by a count and a time.

mod balance;
mod patients;
mod prefetch;
mod probe;
mod progress;
mod report;
mod scenarios;
mod soap;

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use goose::config::GooseConfiguration;
use goose::prelude::*;

use crate::patients::{Rotation, Slices};
use crate::probe::{Snapshot, Targets};
use crate::scenarios::Which;
use crate::scenarios::mixed::{self, Mix};

/// Patients kept at the end of the synthetic list for `prefetch-latency`.
const PROBE_RESERVE: usize = 100;
/// The longest `run` may take, whatever goose is told.
const MAX_RUN: Duration = Duration::from_secs(1800);

#[derive(Parser, Debug)]
#[command(
    name = "xhuma-loadtest",
    about = "Load test and prefetch-latency probe for a local Xhuma stack"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One goose attack of one scenario (goose flags: -H host, -u users, -r ramp, -t time, …).
    Run(Box<RunArgs>),
    /// ITI-38 latency after ITI-55 with slow GP Connect, against cold ITI-38.
    PrefetchLatency(PrefetchArgs),
    /// A loopback TCP front dealing connections round-robin to several gateways.
    Balance(BalanceArgs),
}

#[derive(clap::Args, Debug)]
struct BalanceArgs {
    /// Address to accept on (loopback).
    #[arg(long)]
    listen: std::net::SocketAddr,
    /// A gateway address (repeatable, loopback); connections go to each in turn.
    #[arg(long = "backend", required = true)]
    backends: Vec<std::net::SocketAddr>,
    /// Connections relayed at once; more wait in the listen backlog.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// How long to wait for a backend to accept before trying the next.
    #[arg(long, default_value_t = 2000)]
    connect_timeout_ms: u64,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The scenario.
    #[arg(long, value_enum)]
    scenario: Which,
    /// nhs-sim base URL (patients, counters).
    #[arg(long, default_value = "http://127.0.0.1:9100")]
    sim: String,
    /// Patients `cached_reads` (and `iti38_reads`, `iti39_reads`) warms before its window.
    #[arg(long, default_value_t = 200)]
    warm: usize,
    /// Read only these patients (repeatable) instead of `--warm` synthetic ones, e.g. the
    /// fixture patient 9692136744 whose C-CDA is about 600 KB.
    #[arg(long = "patient", value_name = "NHS")]
    read_patients: Vec<String>,
    /// `iti38_reads`/`iti39_reads`: build (and sign) this many requests before the window, so
    /// signing does not share the cores with the gateway while it is measured.
    #[arg(long, default_value_t = 0)]
    presign: usize,
    /// Send ITI-39 as MTOM (multipart/related), so the answer carries the document as an
    /// attachment.
    #[arg(long)]
    mtom: bool,
    /// `mixed`: the weight of each user type (a type left out, or 0, does not run).
    #[arg(long, default_value = mixed::DEFAULT_MIX)]
    mix: Mix,
    /// `mixed`: ITI-55s per discovery storm burst.
    #[arg(long, default_value_t = 10)]
    storm_burst: usize,
    /// A progress line on stderr this often while the attack runs (0: none).
    #[arg(long, default_value_t = 5)]
    progress_secs: u64,
    /// Concurrent warm-up requests.
    #[arg(long, default_value_t = 8)]
    warm_concurrency: usize,
    /// Prometheus endpoints to diff, NAME=URL (repeatable).
    #[arg(long = "metrics", value_parser = name_value)]
    metrics: Vec<(String, String)>,
    /// Processes whose CPU to report, NAME=PID (repeatable).
    #[arg(long = "pid", value_parser = name_value)]
    pids: Vec<(String, String)>,
    /// Append the markdown section to this file (it is printed to stdout too).
    #[arg(long)]
    report_md: Option<std::path::PathBuf>,
    /// After the load, wait at most this long for the workers to go quiet.
    #[arg(long, default_value_t = 120)]
    drain_max_secs: u64,
    #[command(flatten)]
    signing: SigningArgs,
    #[command(flatten)]
    goose: GooseConfiguration,
}

/// Signed SAML, as production requires.
#[derive(clap::Args, Debug)]
struct SigningArgs {
    /// Sign every request (Epic-shaped: RSA-SHA1, holder-of-key Timestamp, the patient named)
    /// with the keys in this directory (the layout of deploy/local/keys, which
    /// deploy/local/run's gateway trusts). Without it requests carry an unsigned assertion.
    #[arg(long, value_name = "DIR")]
    signed: Option<std::path::PathBuf>,
    /// The gateway's XHUMA_SAML_AUDIENCE, for --signed.
    #[arg(long, default_value = "http://127.0.0.1:8000/SOAP")]
    audience: String,
}

impl SigningArgs {
    fn apply(&self) -> anyhow::Result<()> {
        match &self.signed {
            Some(keys) => soap::sign_with(keys, &self.audience),
            None => Ok(()),
        }
    }
}

#[derive(clap::Args, Debug)]
struct PrefetchArgs {
    /// Gateway base URL.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    gateway: String,
    /// nhs-sim base URL.
    #[arg(long, default_value = "http://127.0.0.1:9100")]
    sim: String,
    /// Patients per phase (prefetched and cold).
    #[arg(long, default_value_t = 20)]
    patients: usize,
    /// GP Connect latency injected in the simulator, ms.
    #[arg(long, default_value_t = 2000)]
    gpc_latency_ms: u64,
    /// Pause between ITI-55 and ITI-38, ms.
    #[arg(long, default_value_t = 2500)]
    wait_ms: u64,
    /// Append the markdown to this file (it is printed to stdout too).
    #[arg(long)]
    report_md: Option<std::path::PathBuf>,
    #[command(flatten)]
    signing: SigningArgs,
}

fn name_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .ok_or_else(|| "expected NAME=VALUE".into())
}

/// Refuses any target that is not on this machine's loopback.
fn loopback(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("bad URL {url}"))?;
    match parsed.host_str() {
        Some("127.0.0.1" | "localhost" | "[::1]") => Ok(()),
        _ => anyhow::bail!("{url}: only loopback targets (127.0.0.1) are allowed"),
    }
}

fn emit(section: &str, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    println!("{section}");
    if let Some(path) = file {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "{section}").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(90))
        .build()
        .context("building the HTTP client")?;
    match cli.command {
        Command::Run(args) => run(&client, *args).await,
        Command::PrefetchLatency(a) => {
            a.signing.apply()?;
            loopback(&a.gateway)?;
            loopback(&a.sim)?;
            let settings = prefetch::Settings {
                gateway_metrics: format!("{}/metrics", a.gateway.trim_end_matches('/')),
                gateway: a.gateway,
                sim: a.sim,
                patients: a.patients,
                gpc_latency: Duration::from_millis(a.gpc_latency_ms),
                wait: Duration::from_millis(a.wait_ms),
                reserve: PROBE_RESERVE,
            };
            let md = prefetch::run(&client, &settings).await?;
            emit(&md, a.report_md.as_deref())
        }
        Command::Balance(a) => {
            let settings = balance::Settings {
                listen: a.listen,
                backends: a.backends,
                max_connections: a.max_connections,
                connect_timeout: Duration::from_millis(a.connect_timeout_ms),
            };
            balance::run(settings, balance::stop_signal()).await
        }
    }
}

async fn run(client: &reqwest::Client, mut a: RunArgs) -> anyhow::Result<()> {
    let host = a
        .goose
        .host
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:8000".into());
    loopback(&host)?;
    loopback(&a.sim)?;
    a.signing.apply()?;
    for (_, url) in &a.metrics {
        loopback(url)?;
    }
    a.goose.host = Some(host.clone());
    let users = a.goose.users.unwrap_or(8);
    soap::set_mtom(a.mtom);

    let all = patients::synthetic(client, &a.sim).await?;
    let slices = Slices::split(&all, a.warm, PROBE_RESERVE)?;
    let (ehr, discovery) = slices.cold.split_at(slices.cold.len() / 2);
    // `mixed` warms only the patients its cached readers read (none when they weigh 0).
    let mixed_readers = a.mix.weight(mixed::UserType::CachedReads) > 0;
    let mine = match a.scenario {
        Which::Mixed if !mixed_readers => Vec::new(),
        _ if a.scenario.warmed() && !a.read_patients.is_empty() => a.read_patients.clone(),
        Which::CachedReads | Which::Iti38Reads | Which::Iti39Reads | Which::Mixed => {
            slices.warm.clone()
        }
        Which::EhrFlow => ehr.to_vec(),
        Which::DiscoveryOnly => discovery.to_vec(),
    };
    anyhow::ensure!(
        !mine.is_empty() || a.scenario == Which::Mixed,
        "no patients for {}",
        a.scenario.name()
    );
    anyhow::ensure!(
        a.read_patients.is_empty() || a.scenario.warmed(),
        "--patient is for the warmed scenarios (cached_reads, iti38_reads, iti39_reads)"
    );
    let count = mine.len();
    if (a.scenario.warmed() || a.scenario == Which::Mixed) && count > 0 {
        eprintln!("loadtest: warming {count} patients…");
        let (took, documents) = scenarios::warm(
            client,
            &host,
            &mine,
            a.warm_concurrency,
            Duration::from_secs(300),
        )
        .await?;
        eprintln!("loadtest: warm in {:.1} s", took.as_secs_f64());
        scenarios::set_documents(documents)?;
        if a.presign > 0 {
            let started = Instant::now();
            let (which, patients, n) = (a.scenario, mine.clone(), a.presign);
            let built =
                tokio::task::spawn_blocking(move || scenarios::presign(which, &patients, n))
                    .await
                    .context("presign task")??;
            eprintln!(
                "loadtest: {built} requests built before the window in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        probe::drain(
            client,
            &a.sim,
            Duration::from_secs(2),
            Duration::from_secs(a.drain_max_secs),
        )
        .await?;
    }
    if a.scenario == Which::Mixed {
        mixed::set_patients(mine, &slices.cold, a.storm_burst)?;
    } else {
        a.scenario.set_patients(Rotation::new(mine)?)?;
    }

    let targets = Targets {
        sim: a.sim.clone(),
        metrics: a.metrics.clone(),
        pids: a
            .pids
            .iter()
            .filter_map(|(n, p)| p.parse().ok().map(|p| (n.clone(), p)))
            .collect(),
    };
    let before = Snapshot::take(client, &targets).await?;
    let started = Instant::now();
    let mut attack = GooseAttack::initialize_with_config(a.goose.clone())?;
    for scenario in a.scenario.scenarios(&a.mix)? {
        attack = attack.register_scenario(scenario);
    }
    let attack = attack
        .set_default(GooseDefault::Users, 8)?
        .set_default(GooseDefault::IncreaseRate, "4")?
        .set_default(GooseDefault::RunTime, 30)?
        .set_default(GooseDefault::Timeout, "60")?
        .set_default(GooseDefault::NoResetMetrics, true)?;
    let progress = (a.progress_secs > 0).then(|| {
        progress::spawn(
            a.scenario.name(),
            Duration::from_secs(a.progress_secs),
            planned(&a.goose, users),
        )
    });
    let outcome = tokio::time::timeout(MAX_RUN, attack.execute()).await;
    if let Some(progress) = progress {
        progress.abort();
    }
    let metrics = outcome.context("the attack overran its hard limit")??;
    let wall = started.elapsed();
    let end = Snapshot::take(client, &targets).await?;
    let drain = probe::drain(
        client,
        &a.sim,
        Duration::from_secs(3),
        Duration::from_secs(a.drain_max_secs),
    )
    .await?;
    let drained = Snapshot::take(client, &targets).await?;

    let (patients, warmed, wrapped, mix) = if a.scenario == Which::Mixed {
        let (started, warmed, wrapped, line) = mixed::outcome(&a.mix);
        (started, warmed, wrapped, Some(line))
    } else {
        let rotation = a.scenario.rotation().context("rotation vanished")?;
        if a.scenario.warmed() {
            (0, rotation.len(), false, None)
        } else {
            let wrapped = rotation.handed_out() > rotation.len();
            (rotation.distinct(), 0, wrapped, None)
        }
    };
    let section = report::render(&report::Run {
        scenario: a.scenario.name(),
        users,
        wall,
        metrics: &metrics,
        mix: mix.as_deref(),
        patients,
        warmed,
        wrapped,
        before: &before,
        end: &end,
        drained: &drained,
        drain,
        drain_max: Duration::from_secs(a.drain_max_secs),
    });
    emit(&section, a.report_md.as_deref())
}

/// Goose's ramp-up plus run time, for the progress line (the defaults set on the attack when
/// the flags leave them out).
fn planned(goose: &GooseConfiguration, users: usize) -> Duration {
    let run = goose
        .run_time
        .as_deref()
        .and_then(goose::util::parse_timespan)
        .unwrap_or(30);
    let rate: f64 = goose
        .increase_rate
        .as_deref()
        .and_then(|r| r.parse().ok())
        .filter(|r: &f64| *r > 0.0)
        .unwrap_or(4.0);
    Duration::from_secs(run as u64) + Duration::from_secs_f64(users as f64 / rate)
}
