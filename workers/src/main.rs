//! `xhuma-worker`: command line and config (`--help` lists every setting; `--stages sds` runs one
//! stage; exit 64 when a setting is bad) → telemetry → connect → consume until SIGTERM → drain.

use std::process::ExitCode;

use anyhow::Context;
use xhuma_workers::config::CLI;
use xhuma_workers::{Worker, WorkerConfig, ops};

fn main() -> ExitCode {
    let settings = match xhuma_common::cli::parse(&CLI) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let config = WorkerConfig::from_lookup(&settings.lookup());
    xhuma_common::process::run("xhuma-worker", &settings, config, run)
}

async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    let metrics = xhuma_common::telemetry::install_metrics();
    let listen = config.listen;
    let worker = Worker::connect(config)
        .await
        .context("connecting to RabbitMQ and Redis")?;
    let shutdown = xhuma_common::process::shutdown_on_signal();
    xhuma_common::process::serve_ops(
        listen,
        ops::router(worker.clone(), metrics),
        shutdown.clone(),
    )
    .await
    .with_context(|| format!("binding the ops port {listen}"))?;
    tokio::spawn(ops::sample_queue_depths(worker.clone(), shutdown.clone()));
    worker.run(shutdown).await;
    Ok(())
}
