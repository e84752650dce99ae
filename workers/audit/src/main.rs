//! `xhuma-audit`: config → telemetry → connect (migrations) → consume until SIGTERM → drain.
//!
//! `xhuma-audit migrate` only applies the migrations and exits (run it as the schema owner
//! when the service's role may not create tables; then set `XHUMA_AUDIT_MIGRATE=false`).

use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use xhuma_audit::{AuditConfig, Auditor, ops};

fn main() -> ExitCode {
    let migrate_only = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("migrate") => true,
        Some(_) => {
            eprintln!("usage: xhuma-audit [migrate]");
            return ExitCode::from(64);
        }
    };
    let config = match AuditConfig::from_env() {
        Ok(c) => c,
        Err(error) => {
            eprintln!("xhuma-audit: bad configuration: {error}");
            return ExitCode::from(64);
        }
    };
    xhuma_common::telemetry::init("xhuma-audit", &xhuma_common::config::process_env);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("xhuma-audit: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    if migrate_only {
        return match runtime.block_on(migrate(config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "Migration failed");
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "Audit consumer failed");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: AuditConfig) -> anyhow::Result<()> {
    xhuma_audit::store::Store::open(
        config.database_url.expose(),
        &config.schema,
        xhuma_audit::migrate::Mode::Apply,
    )
    .await
    .context("migrating the audit database")?;
    tracing::info!(schema = %config.schema, "Audit schema is up to date");
    Ok(())
}

async fn run(config: AuditConfig) -> anyhow::Result<()> {
    let metrics = xhuma_common::telemetry::install_metrics();
    let listen = config.listen;
    let grace = config.grace;
    let auditor = Auditor::connect(config)
        .await
        .context("connecting to RabbitMQ and PostgreSQL")?;
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the ops port {listen}"))?;
    let bound = listener.local_addr().unwrap_or(listen);
    tracing::info!(addr = %bound, "Ops endpoint listening");
    let ops_shutdown = shutdown.clone();
    let ops_router = ops::router(auditor.clone(), metrics);
    tokio::spawn(async move {
        let served = axum::serve(listener, ops_router)
            .with_graceful_shutdown(async move { ops_shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "Ops endpoint stopped");
        }
    });
    let signal_token = shutdown.clone();
    tokio::spawn(async move {
        xhuma_common::shutdown::signal().await;
        signal_token.cancel();
    });
    // The consumer finishes the batch in hand after the signal; bound that by the grace period.
    let consumer = {
        let auditor = auditor.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { auditor.run(shutdown).await })
    };
    shutdown.cancelled().await;
    if tokio::time::timeout(grace, consumer).await.is_err() {
        tracing::warn!("Grace period over; unacked audit events will be redelivered");
    }
    auditor.amqp.close().await;
    tracing::info!("Audit consumer stopped");
    Ok(())
}
