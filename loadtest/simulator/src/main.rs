//! `nhs-sim`: parse flags, load the data, serve until SIGINT/SIGTERM, drain within 10 s.
//! See the crate README.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use xhuma_simulator::{GpcCase, Latency, ServiceFaults, SimService, Simulator};

#[derive(Parser, Debug)]
#[command(
    name = "nhs-sim",
    about = "Local NHS simulator: OAuth, PDS, SDS, SSP, GP Connect"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9100", env = "NHS_SIM_LISTEN")]
    listen: SocketAddr,
    /// URL others reach this simulator at (default http://{listen}).
    #[arg(long, env = "NHS_SIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// Fixtures directory (default: ../../shared/fixtures beside the repo).
    #[arg(long, env = "NHS_SIM_FIXTURES")]
    fixtures: Option<PathBuf>,
    /// Add N generated patients for load tests.
    #[arg(long, default_value_t = 0)]
    synthetic: usize,
    /// Print the patients (NHS number, name, fixture, ODS, scenario) and exit.
    #[arg(long)]
    list_patients: bool,
    /// Latency per service: SERVICE=MS, SERVICE=MIN..MAX or SERVICE=exp:MEAN (repeatable).
    #[arg(long, value_parser = parse_latency)]
    latency: Vec<(SimService, Latency)>,
    /// Error rate per service: `SERVICE=RATE[:STATUS]` (repeatable), e.g. pds=0.05:503.
    #[arg(long, value_parser = parse_error_rate)]
    error_rate: Vec<(SimService, f64, u16)>,
    /// Timeout (hang) rate per service: SERVICE=RATE (repeatable).
    #[arg(long, value_parser = parse_rate)]
    timeout_rate: Vec<(SimService, f64)>,
    /// Requests per second per service, beyond which 429 (PDS's default is 5): SERVICE=N.
    #[arg(long, value_parser = parse_limit)]
    rate_limit: Vec<(SimService, u32)>,
    /// Register an application: API_KEY=KID:PUBLIC_PEM_PATH[,KID:PATH…] (repeatable). The dev
    /// application `xhuma-dev-api-key` (keys test-1, test-2) is always registered.
    #[arg(long, value_parser = parse_app)]
    app: Vec<(String, Vec<(String, PathBuf)>)>,
    /// Accredit another consumer ASID at the SSP (repeatable; 200000002574 always is).
    #[arg(long)]
    consumer_asid: Vec<String>,
    /// A named GP Connect error for every request, e.g. NO_PATIENT_CONSENT.
    #[arg(long)]
    gpconnect_case: Option<GpcCase>,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 599)]
    token_lifetime_secs: u64,
}

fn split(s: &str) -> Result<(SimService, &str), String> {
    let (svc, v) = s.split_once('=').ok_or("expected SERVICE=VALUE")?;
    Ok((svc.parse()?, v))
}

fn parse_latency(s: &str) -> Result<(SimService, Latency), String> {
    let (svc, v) = split(s)?;
    Ok((svc, v.parse()?))
}

fn parse_error_rate(s: &str) -> Result<(SimService, f64, u16), String> {
    let (svc, v) = split(s)?;
    let (rate, status) = v.split_once(':').unwrap_or((v, "503"));
    Ok((
        svc,
        rate.parse().map_err(|_| "bad rate")?,
        status.parse().map_err(|_| "bad status")?,
    ))
}

fn parse_limit(s: &str) -> Result<(SimService, u32), String> {
    let (svc, v) = split(s)?;
    Ok((svc, v.parse().map_err(|_| "bad limit")?))
}

fn parse_app(s: &str) -> Result<(String, Vec<(String, PathBuf)>), String> {
    let (key, keys) = s
        .split_once('=')
        .ok_or("expected API_KEY=KID:PATH[,KID:PATH]")?;
    let keys = keys
        .split(',')
        .map(|k| {
            let (kid, path) = k.split_once(':').ok_or("expected KID:PATH")?;
            Ok((kid.to_string(), PathBuf::from(path)))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((key.to_string(), keys))
}

fn parse_rate(s: &str) -> Result<(SimService, f64), String> {
    let (svc, v) = split(s)?;
    Ok((svc, v.parse().map_err(|_| "bad rate")?))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut b = Simulator::builder()
        .listen(cli.listen)
        .synthetic(cli.synthetic)
        .token_lifetime(Duration::from_secs(cli.token_lifetime_secs));
    if let Some(dir) = &cli.fixtures {
        b = b.fixtures_dir(dir);
    }
    if let Some(url) = &cli.public_url {
        b = b.public_url(url);
    }
    let mut faults: Vec<(SimService, ServiceFaults)> = SimService::ALL
        .iter()
        .map(|s| (*s, ServiceFaults::default()))
        .collect();
    let slot = |faults: &mut Vec<(SimService, ServiceFaults)>, s: SimService| {
        faults.iter().position(|(x, _)| *x == s).unwrap_or(0)
    };
    for (s, l) in cli.latency {
        let i = slot(&mut faults, s);
        faults[i].1.latency = l;
    }
    for (s, rate, status) in cli.error_rate {
        let i = slot(&mut faults, s);
        faults[i].1.error_rate = rate;
        faults[i].1.error_status = status;
    }
    for (s, rate) in cli.timeout_rate {
        let i = slot(&mut faults, s);
        faults[i].1.timeout_rate = rate;
    }
    for (s, n) in cli.rate_limit {
        let i = slot(&mut faults, s);
        faults[i].1.rate_limit_per_sec = Some(n);
    }
    for (s, f) in faults {
        b = b.faults(s, f);
    }
    for (api_key, keys) in cli.app {
        let mut pems = Vec::new();
        for (kid, path) in keys {
            let pem = std::fs::read_to_string(&path)
                .with_context(|| format!("reading public key {}", path.display()))?;
            pems.push((kid, pem));
        }
        b = b.app(api_key, pems);
    }
    for asid in cli.consumer_asid {
        b = b.consumer_asid(asid);
    }
    if let Some(c) = cli.gpconnect_case {
        b = b.gpconnect_case(None, c);
    }
    if cli.list_patients {
        let state = b
            .build_state(cli.listen)
            .await
            .context("loading fixtures")?;
        println!(
            "{:<12} {:<28} {:<8} {:<30} FIXTURE / SCENARIO",
            "NHS NUMBER", "NAME", "ODS", "GP CONNECT"
        );
        for p in state.store.list() {
            println!(
                "{:<12} {:<28} {:<8} {:<30} {} ({})",
                p.nhs_number,
                p.name,
                p.ods.as_deref().unwrap_or("-"),
                p.gp_connect,
                p.fixture,
                p.scenario
            );
        }
        return Ok(());
    }
    // Logs as every Xhuma binary writes them (JSON lines; XHUMA_LOG_FORMAT=text for people).
    let telemetry = xhuma_common::telemetry::init("nhs-sim", &xhuma_common::config::process_env);
    let started = std::time::Instant::now();
    let sim = b.spawn().await.context("starting nhs-sim")?;
    tracing::info!(
        addr = %sim.addr(),
        patients = sim.patients().len(),
        startup_ms = started.elapsed().as_millis() as u64,
        "nhs-sim listening."
    );
    xhuma_common::shutdown::signal().await;
    tracing::info!("Shutting down.");
    // Hung requests (injected timeouts) must not hold the process: 10 s grace.
    if tokio::time::timeout(Duration::from_secs(10), sim.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("Requests still in flight after the grace period; exiting anyway.");
    }
    telemetry.shutdown();
    Ok(())
}
