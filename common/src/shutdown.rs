//! Process shutdown: a future that resolves on SIGTERM or SIGINT (Ctrl-C).
//!
//! Binaries pass it to their serve / consume loops and then drain within a grace period
//! (linkerd's `signal` crate, mini-redis's `server::run(listener, shutdown)`).

/// Resolves when the process is asked to stop.
pub async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Received SIGINT; shutting down"),
        _ = term => tracing::info!("Received SIGTERM; shutting down"),
    }
}
