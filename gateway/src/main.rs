//! `xhuma-gateway`: command line and config (`--help` lists every setting; exit 64 when one is
//! bad, TLS and SAML trust files included) → telemetry → connect the pipeline → bind → serve
//! until SIGTERM/SIGINT → drain within the grace period.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use xhuma_gateway::config::CLI;
use xhuma_gateway::inbound;
use xhuma_gateway::records::Records;
use xhuma_gateway::{AppState, GatewayConfig, ops, router};

/// mimalloc instead of glibc malloc: request handling allocates and frees many small strings
/// on several threads, and glibc's malloc/free (arena locks, consolidation) were a quarter of
/// the gateway's CPU per request (docs/performance.md, "Where the gateway's CPU goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let settings = match xhuma_common::cli::parse(&CLI) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let config = GatewayConfig::from_lookup(&settings.lookup()).and_then(|config| {
        let tls = config.preflight()?;
        Ok((config, tls))
    });
    xhuma_common::process::run("xhuma-gateway", &settings, config, run)
}

async fn run(
    (config, tls): (GatewayConfig, Option<Arc<rustls::ServerConfig>>),
) -> anyhow::Result<()> {
    let inbound = config.inbound.clone();
    let metrics = xhuma_common::telemetry::install_metrics();
    // On SIGTERM, waiting ITI-38/39 requests answer with a fault instead of holding shutdown.
    let shutdown = xhuma_common::process::shutdown_on_signal();
    let records = Records::connect(
        &config.amqp,
        &config.redis,
        config.pipeline.clone(),
        shutdown.clone(),
    )
    .await
    .context("connecting to RabbitMQ and Redis")?;
    let listen = config.listen;
    let grace = config.shutdown_grace;
    let state = AppState::new(config, Arc::new(records.clone())).context("loading SAML trust")?;
    // Health and metrics stay outside the rate limit: probes must not be throttled.
    let load = state.load();
    let app = inbound::client_address(inbound::rate_limited(router(state), &inbound), &inbound)
        .merge(ops::router_with_load(records.clone(), metrics, Some(load)));
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    tracing::info!(
        addr = %listen,
        tls = tls.is_some(),
        client_certificates = inbound.client_ca.is_some(),
        rate_limit_per_sec = inbound.rate_per_sec,
        "Gateway listening"
    );
    inbound::serve(listener, app, tls, &inbound, shutdown, grace)
        .await
        .context("serving")?;
    records.audit().flush(Duration::from_secs(5)).await;
    records.amqp().close().await;
    Ok(())
}
