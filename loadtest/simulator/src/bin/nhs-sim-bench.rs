//! `nhs-sim-bench`: how fast the simulator itself answers, so a load test can tell whether
//! it is the bottleneck. Drives PDS reads and GP Connect structured-record fetches (through
//! the SSP) with N concurrent connections for a fixed time and prints requests/s and MB/s.
//!
//! Against a running simulator: `nhs-sim-bench --url http://127.0.0.1:9100`; without `--url`
//! it starts one in-process (then both share the same cores).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use xhuma_common::NhsNumber;
use xhuma_common::identity::Requester;
use xhuma_common::nhs::{
    INTERACTION_GET_STRUCTURED, NhsClients, NhsConfig, build_jwt, build_parameters,
};

#[derive(Parser, Debug)]
#[command(name = "nhs-sim-bench")]
struct Cli {
    /// Simulator base URL; omit to start one in-process.
    #[arg(long)]
    url: Option<String>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
}

async fn run<F, Fut>(name: &str, concurrency: usize, secs: u64, f: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<usize, String>> + Send,
{
    let tally = Arc::new(Tally {
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    });
    let f = Arc::new(f);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (tally, f) = (tally.clone(), f.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    match f().await {
                        Ok(n) => {
                            tally.ok.fetch_add(1, Ordering::Relaxed);
                            tally.bytes.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(_) => {
                            tally.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let el = start.elapsed().as_secs_f64();
    let ok = tally.ok.load(Ordering::Relaxed) as f64;
    let mb = tally.bytes.load(Ordering::Relaxed) as f64 / 1_000_000.0;
    println!(
        "{name:<36} {:>8.0} req/s {:>8.1} MB/s  avg {:>6.0} KB  ({} ok, {} failed, {:.1} s, {concurrency} conns)",
        ok / el,
        mb / el,
        if ok > 0.0 { mb * 1000.0 / ok } else { 0.0 },
        ok,
        tally.failed.load(Ordering::Relaxed),
        el
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _local;
    let base = match &cli.url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let sim = xhuma_simulator::Simulator::builder()
                .spawn()
                .await
                .context("starting simulator")?;
            let url = sim.base_url();
            _local = sim;
            url
        }
    };
    let cfg = NhsConfig::for_simulator(&base);
    let clients = NhsClients::new(&cfg).context("clients")?;
    let token = clients.tokens.token().await.context("token")?.to_string();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.concurrency)
        .build()?;
    let patients: serde_json::Value = http
        .get(format!("{base}/_admin/patients"))
        .send()
        .await?
        .json()
        .await?;
    let find = |label: &str| -> anyhow::Result<NhsNumber> {
        let p = patients
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|p| p["fixture"].as_str().is_some_and(|f| f.ends_with(label)))
            })
            .with_context(|| format!("no patient from {label}"))?;
        Ok(NhsNumber::parse(p["nhs_number"].as_str().unwrap_or(""))?)
    };
    let normal = find("9690937287-skelly-normal.json")?;
    let large = find("9690937286-skelly-large.json")?;
    let endpoint = clients
        .sds
        .gp_connect_endpoint("B82617", "bench")
        .await?
        .context("B82617 endpoint")?;

    println!(
        "nhs-sim-bench against {base}, {} s per scenario",
        cli.seconds
    );
    {
        let (http, token, url) = (
            http.clone(),
            token.clone(),
            format!("{}/Patient/{normal}", cfg.pds_url),
        );
        run(
            "PDS read (Patient/{id})",
            cli.concurrency,
            cli.seconds,
            move || {
                let req = http
                    .get(&url)
                    .bearer_auth(&token)
                    .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
                    .header("X-Correlation-ID", "bench");
                async move {
                    let r = req.send().await.map_err(|e| e.to_string())?;
                    if !r.status().is_success() {
                        return Err(r.status().to_string());
                    }
                    Ok(r.bytes().await.map_err(|e| e.to_string())?.len())
                }
            },
        )
        .await;
    }
    for (name, nhs) in [
        ("GP Connect via SSP (skelly-normal)", normal),
        ("GP Connect via SSP (skelly-large)", large),
    ] {
        let body = build_parameters(nhs, &cfg).to_string();
        let url = format!(
            "{}{}/Patient/$gpc.getstructuredrecord",
            cfg.ssp_url, endpoint.address
        );
        let (http, cfg, ep) = (http.clone(), cfg.clone(), endpoint.clone());
        run(name, cli.concurrency, cli.seconds, move || {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let req = http
                .post(&url)
                .bearer_auth(build_jwt(&cfg, &Requester::default(), &ep.address, now))
                .header("Content-Type", "application/fhir+json;charset=utf-8")
                .header("Ssp-TraceID", uuid::Uuid::new_v4().to_string())
                .header("Ssp-From", &cfg.consumer_asid)
                .header("Ssp-To", &ep.asid)
                .header("Ssp-InteractionID", INTERACTION_GET_STRUCTURED)
                .body(body.clone());
            async move {
                let r = req.send().await.map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(r.status().to_string());
                }
                Ok(r.bytes().await.map_err(|e| e.to_string())?.len())
            }
        })
        .await;
    }
    Ok(())
}
