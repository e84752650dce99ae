//! `xhuma-worker`: config → telemetry → connect → consume until SIGTERM → drain.

use std::process::ExitCode;

use anyhow::Context;
use xhuma_workers::{Worker, WorkerConfig, ops};

const USAGE: &str = "usage: xhuma-worker [--stages sds,gpconnect]
  --stages   which pipeline stages this process consumes (overrides XHUMA_WORKER_STAGES;
             default both). Run separate processes per stage to scale them apart.
Configuration is read from XHUMA_* environment variables (see the README).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stages_flag = match args.as_slice() {
        [] => None,
        [flag, stages] if flag == "--stages" => Some(stages.clone()),
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    let config = WorkerConfig::from_env().and_then(|mut config| {
        if let Some(stages) = &stages_flag {
            let lookup =
                |k: &str| (k == xhuma_workers::config::XHUMA_WORKER_STAGES).then(|| stages.clone());
            config.stages = WorkerConfig::stages_from(&xhuma_common::config::Env::new(&lookup))?;
        }
        Ok(config)
    });
    xhuma_common::process::run("xhuma-worker", config, run)
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
