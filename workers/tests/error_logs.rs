//! Each failure leaves one log line that explains it, with its whole cause: a GP Connect 5xx
//! names the service and the HTTP status where the job fails for good, and a backend failure
//! behind ITI-38 (Redis gone) names Redis's own error where it becomes a RegistryError, not
//! only "gpconnect call failed" or nothing at all. Logged as in production (JSON, info).

mod support;

use std::sync::OnceLock;

use support::logs::Captured;
use support::proxy::Proxy;
use support::{Options, Stack, iti38};
use tracing_subscriber::EnvFilter;
use xhuma_common::config::Secret;
use xhuma_simulator::{SimService, Simulator};

/// The process's log, captured once (`cargo test` runs both tests in one process).
fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(EnvFilter::new("info,xhuma_simulator=off"))
            .with_writer(move || writer.clone())
            .init();
        logs
    })
}

/// Log lines whose message is `message`.
fn lines_with(message: &str) -> Vec<serde_json::Value> {
    let text = logs().text();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == message)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gp_connect_5xx_is_logged_with_its_status() {
    logs();
    // More 500s than the client's own retries, and one job attempt: the job fails for good.
    let sim = Simulator::builder().fail_next(SimService::Gpconnect, 20, 500);
    let options = Options {
        env: vec![("XHUMA_JOB_MAX_ATTEMPTS", "1".into())],
        ..Options::default()
    };
    let stack = Stack::start(sim, options).await;
    let (status, body) = stack.post("/SOAP/iti38", iti38("9690937286")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ResponseStatusType:Failure"), "{body}");
    stack.stop().await;

    let failed = lines_with("Job failed for good");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let error = failed[0]["error"].as_str().unwrap_or_default();
    eprintln!("GP Connect failure logged as: {error}");
    assert!(
        error.starts_with("gpconnect call failed: gpconnect: HTTP 500"),
        "the cause, not only the summary: {error}"
    );
    assert!(!error.contains("9690937286"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backend_failure_behind_iti38_is_logged_with_its_cause() {
    logs();
    let stack = Stack::start(Simulator::builder(), Options::default()).await;
    let redis = Proxy::start("127.0.0.1:6379".parse().expect("addr")).await;
    let gateway = stack
        .another_gateway_with(|cfg| {
            cfg.redis.url = Secret::new(format!("redis://{}/0", redis.addr));
        })
        .await;
    redis.cut().await;
    let (status, body) = stack
        .post_to(&gateway, "/SOAP/iti38", iti38("9690937286"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("XDSRegistryNotAvailable"), "{body}");
    stack.stop().await;

    let failed = lines_with("Backend failure answered as an error");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["answer"], "XDSRegistryNotAvailable");
    let error = failed[0]["error"].as_str().unwrap_or_default();
    eprintln!("backend failure logged as: {error}");
    assert!(
        error.to_lowercase().contains("redis") && error.contains(": "),
        "Redis's own error: {error}"
    );
}
