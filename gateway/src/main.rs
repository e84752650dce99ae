//! `xhuma-gateway`: config (exit 64 when bad) → telemetry → connect the pipeline → bind →
//! serve until SIGTERM/SIGINT → drain within the grace period.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use xhuma_common::config::Env;
use xhuma_gateway::inbound::{self, InboundConfig};
use xhuma_gateway::records::Records;
use xhuma_gateway::{AppState, GatewayConfig, ops, router};

/// mimalloc instead of glibc malloc: request handling allocates and frees many small strings
/// on several threads, and glibc's malloc/free (arena locks, consolidation) were a quarter of
/// the gateway's CPU per request (docs/performance.md, "Where the gateway's CPU goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    xhuma_common::process::run("xhuma-gateway", GatewayConfig::from_env(), run)
}

async fn run(config: GatewayConfig) -> anyhow::Result<()> {
    let inbound = InboundConfig::from_env(&Env::new(&xhuma_common::config::process_env))
        .context("inbound settings")?;
    let tls = inbound.server_config().context("loading TLS material")?;
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
