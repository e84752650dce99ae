//! What every binary's `main` does the same way: its command line and environment are read
//! ([`crate::cli`]; `--help` lists every setting), a bad configuration exits 64 before anything
//! starts, telemetry is installed (and flushed at exit), the service runs on a multi-threaded
//! runtime until its shutdown token is cancelled by SIGTERM/SIGINT, and its ops endpoint
//! (`/health/*`, `/metrics`) is served beside it.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::cli::Settings;

/// `sysexits.h` EX_USAGE: the command line or a setting is wrong; restarting will not help.
pub const EXIT_CONFIG: u8 = 64;

/// Runs `work(config)` as the process's service and turns its result into the exit code.
/// `settings` is what [`crate::cli::parse`] read (telemetry's own settings are among them).
/// `E`'s alternate `Display` (`{:#}`, anyhow's error chain) is logged on failure.
pub fn run<C, E, F, Fut>(
    service: &'static str,
    settings: &Settings,
    config: Result<C, impl Display>,
    work: F,
) -> ExitCode
where
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let config = match config {
        Ok(c) => c,
        Err(error) => {
            eprintln!("{service}: bad configuration: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let telemetry = crate::telemetry::init(service, &settings.lookup());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("{service}: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(work(config));
    let code = match result {
        Ok(()) => {
            tracing::info!(service, "Stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(service, error = format!("{error:#}"), "Service failed");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

/// A token cancelled when the process receives SIGTERM or SIGINT.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        crate::shutdown::signal().await;
        t.cancel();
    });
    token
}

/// The ops routes every binary serves: `/health/live` (the process answers), `/health/ready`
/// (`ready()`: 200 or 503, with a JSON body saying which dependency is up or down) and
/// `/metrics` (Prometheus text). None of them returns patient data.
pub fn ops_router<F, Fut>(metrics: crate::telemetry::Metrics, ready: F) -> axum::Router
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = (axum::http::StatusCode, String)> + Send + 'static,
{
    use axum::routing::get;
    axum::Router::new()
        .route("/health/live", get(|| async { "ok" }))
        .route(
            "/health/ready",
            get(move || {
                let ready = ready.clone();
                async move {
                    let (status, body) = ready().await;
                    (status, [("content-type", "application/json")], body)
                }
            }),
        )
        .route("/metrics", get(move || async move { metrics.render() }))
}

/// Binds `listen` and serves the ops `router` until `shutdown`; returns the bound address.
pub async fn serve_ops(
    listen: SocketAddr,
    router: axum::Router,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "Ops endpoint listening");
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "Ops endpoint stopped");
        }
    });
    Ok(bound)
}

/// This host's name, for audit event sources and the syslog HOSTNAME field (never PHI): the
/// `HOSTNAME` the container runtime sets (the pod name on Kubernetes), else the kernel's, else
/// `localhost`.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
