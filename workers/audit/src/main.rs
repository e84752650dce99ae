//! `xhuma-audit`: config → telemetry → connect (migrations) → consume until SIGTERM → drain.
//!
//! `xhuma-audit migrate` only applies the migrations and exits (run it as the schema owner
//! when the service's role may not create tables; then set `XHUMA_AUDIT_MIGRATE=false`).

use std::process::ExitCode;

use anyhow::Context;
use xhuma_audit::config::CLI;
use xhuma_audit::{AuditConfig, Auditor, ops};

fn main() -> ExitCode {
    let settings = match xhuma_common::cli::parse(&CLI) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let config = AuditConfig::from_lookup(&settings.lookup());
    if settings.subcommand() == Some("migrate") {
        return xhuma_common::process::run("xhuma-audit", &settings, config, migrate);
    }
    xhuma_common::process::run("xhuma-audit", &settings, config, run)
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
    let shutdown = xhuma_common::process::shutdown_on_signal();
    xhuma_common::process::serve_ops(
        listen,
        ops::router(auditor.clone(), metrics),
        shutdown.clone(),
    )
    .await
    .with_context(|| format!("binding the ops port {listen}"))?;
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
