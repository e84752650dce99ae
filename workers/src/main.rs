//! `xhuma-worker`: config → telemetry → connect → consume until SIGTERM → drain.

use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
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
    let mut config = match WorkerConfig::from_env() {
        Ok(c) => c,
        Err(error) => {
            eprintln!("xhuma-worker: bad configuration: {error}");
            return ExitCode::from(64);
        }
    };
    if let Some(stages) = stages_flag {
        let lookup =
            |k: &str| (k == xhuma_workers::config::XHUMA_WORKER_STAGES).then(|| stages.clone());
        match WorkerConfig::stages_from(&xhuma_common::config::Env::new(&lookup)) {
            Ok(s) => config.stages = s,
            Err(error) => {
                eprintln!("xhuma-worker: --stages: {}\n{USAGE}", error.reason);
                return ExitCode::from(64);
            }
        }
    }
    let telemetry =
        xhuma_common::telemetry::init("xhuma-worker", &xhuma_common::config::process_env);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("xhuma-worker: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(config));
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "Worker failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    let metrics = xhuma_common::telemetry::install_metrics();
    let listen = config.listen;
    let worker = Worker::connect(config)
        .await
        .context("connecting to RabbitMQ and Redis")?;
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the ops port {listen}"))?;
    tracing::info!(addr = %listen, "Ops endpoint listening");
    let ops_shutdown = shutdown.clone();
    let ops_router = ops::router(worker.clone(), metrics);
    tokio::spawn(async move {
        let served = axum::serve(listener, ops_router)
            .with_graceful_shutdown(async move { ops_shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "Ops endpoint stopped");
        }
    });
    tokio::spawn(ops::sample_queue_depths(worker.clone(), shutdown.clone()));
    let signal_token = shutdown.clone();
    tokio::spawn(async move {
        xhuma_common::shutdown::signal().await;
        signal_token.cancel();
    });
    worker.run(shutdown).await;
    tracing::info!("Worker stopped");
    Ok(())
}
