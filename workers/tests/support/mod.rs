//! The whole stack in one test process: `nhs-sim`, a gateway on 127.0.0.1:0 and N workers, on
//! the real RabbitMQ and Redis, each stack with its own queue and key prefix so tests run in
//! parallel. Requests are the examples in `deploy/local/examples` with the NHS number swapped.

#![allow(dead_code)]

pub mod logs;
pub mod proxy;
pub mod saml;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio_util::sync::CancellationToken;
use xhuma_common::nhs::NhsConfig;
use xhuma_gateway::records::Records;
use xhuma_gateway::{AppState, GatewayConfig, router};
use xhuma_simulator::{SimHandle, SimulatorBuilder};
use xhuma_workers::{Worker, WorkerConfig};

pub const EXAMPLE_NHS: &str = "9690937286";

/// Settings a test changes; everything else is the stack's default.
#[derive(Default)]
pub struct Options {
    /// In-process workers (at least one unless `no_workers`).
    pub workers: usize,
    /// Start no in-process worker (the test runs `xhuma-worker` processes itself).
    pub no_workers: bool,
    pub env: Vec<(&'static str, String)>,
}

pub struct Stack {
    pub sim: SimHandle,
    pub gateway: String,
    pub prefix: String,
    pub records: Records,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    workers: Vec<(CancellationToken, tokio::task::JoinHandle<()>)>,
    env: HashMap<String, String>,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

pub fn shared_dir() -> PathBuf {
    std::env::var("XHUMA_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("../shared"))
}

fn example(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("deploy/local/examples").join(name))
        .expect("example request")
}

pub fn iti55(nhs: &str) -> String {
    example("iti55.xml").replace(EXAMPLE_NHS, nhs)
}

pub fn iti47(nhs: &str) -> String {
    // Same PRPA_IN201305UV02 query, PDQv3 action.
    iti55(nhs).replace(
        "urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery",
        "urn:hl7-org:v3:PRPA_IN201305UV02",
    )
}

pub fn iti38(nhs: &str) -> String {
    example("iti38.xml").replace(EXAMPLE_NHS, nhs)
}

pub fn iti39(unique_id: &str) -> String {
    example("iti39.xml").replace("DOCUMENT_UNIQUE_ID", unique_id)
}

impl Stack {
    pub async fn start(sim: SimulatorBuilder, opts: Options) -> Stack {
        let sim = sim.spawn().await.expect("simulator");
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let mut env: HashMap<String, String> = HashMap::from([
            ("XHUMA_QUEUE_PREFIX".into(), prefix.clone()),
            ("XHUMA_REDIS_PREFIX".into(), prefix.clone()),
            ("XHUMA_LISTEN_ADDR".into(), "127.0.0.1:0".into()),
            ("XHUMA_SAML_REQUIRED".into(), "false".into()),
            ("XHUMA_SAML_ALLOW_UNSIGNED".into(), "true".into()),
            // The examples carry unsigned assertions naming no patient: a dev rig.
            ("XHUMA_SAML_DEV_MODE".into(), "true".into()),
            ("XHUMA_SAML_REQUIRE_RESOURCE_ID".into(), "false".into()),
            ("XHUMA_JOB_WAIT_TIMEOUT_MS".into(), "20000".into()),
            ("XHUMA_WORKER_LISTEN".into(), "127.0.0.1:0".into()),
            ("XHUMA_SHUTDOWN_GRACE_MS".into(), "2000".into()),
            ("XHUMA_CACHE_KEY".into(), "11".repeat(32)),
            // NhsConfig::from_env needs these; the configs are pointed at the simulator below.
            ("XHUMA_NHS_API_KEY".into(), "unused".into()),
            ("XHUMA_NHS_SIGNING_KEY_PATH".into(), "unused".into()),
            ("XHUMA_NHS_ASID".into(), "unused".into()),
        ]);
        for (k, v) in opts.env {
            env.insert(k.to_string(), v);
        }
        let shutdown = CancellationToken::new();
        let lookup = |k: &str| env.get(k).cloned();
        let mut gw_cfg = GatewayConfig::from_lookup(&lookup).expect("gateway config");
        gw_cfg.pipeline.nhs = NhsConfig::for_simulator(&sim.base_url());
        let records = Records::connect(
            &gw_cfg.amqp,
            &gw_cfg.redis,
            gw_cfg.pipeline.clone(),
            shutdown.clone(),
        )
        .await
        .expect("records");
        let state = AppState::new(gw_cfg, Arc::new(records.clone())).expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let gateway = format!("http://{}", listener.local_addr().expect("addr"));
        let app = router(state);
        let token = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum_serve(listener, app, token).await;
        });
        let mut stack = Stack {
            sim,
            gateway,
            prefix,
            records,
            http: reqwest::Client::new(),
            shutdown,
            workers: Vec::new(),
            env,
        };
        let workers = if opts.no_workers {
            0
        } else {
            opts.workers.max(1)
        };
        for _ in 0..workers {
            stack.add_worker().await;
        }
        stack
    }

    pub fn worker_config(&self) -> WorkerConfig {
        let lookup = |k: &str| self.env.get(k).cloned();
        let mut cfg = WorkerConfig::from_lookup(&lookup).expect("worker config");
        let allowed = cfg.nhs.gpc_allowed_hosts.clone();
        cfg.nhs = NhsConfig::for_simulator(&self.sim.base_url());
        // The one NHS setting a test may set through the environment.
        cfg.nhs.gpc_allowed_hosts = allowed;
        cfg
    }

    /// Environment for running the real `xhuma-worker` binary against this stack.
    pub fn worker_process_env(&self) -> Vec<(String, String)> {
        let base = self.sim.base_url();
        let keys = repo_root().join("deploy/local/keys");
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend([
            (
                "XHUMA_NHS_PDS_URL".into(),
                format!("{base}/personal-demographics/FHIR/R4"),
            ),
            (
                "XHUMA_NHS_SDS_URL".into(),
                format!("{base}/spine-directory/FHIR/R4"),
            ),
            ("XHUMA_NHS_TOKEN_URL".into(), format!("{base}/oauth2/token")),
            ("XHUMA_NHS_SSP_URL".into(), format!("{base}/ssp/")),
            ("XHUMA_NHS_API_KEY".into(), "xhuma-dev-api-key".into()),
            (
                "XHUMA_NHS_SIGNING_KEY_PATH".into(),
                keys.join("test-1.pem").display().to_string(),
            ),
            ("XHUMA_NHS_SIGNING_KID".into(), "test-1".into()),
            ("XHUMA_NHS_ASID".into(), "200000002574".into()),
        ]);
        env
    }

    pub async fn add_worker(&mut self) {
        self.add_stage_worker(&xhuma_common::queue::Stage::ALL)
            .await;
    }

    /// Adds an in-process worker consuming only `stages`.
    pub async fn add_stage_worker(&mut self, stages: &[xhuma_common::queue::Stage]) {
        let mut cfg = self.worker_config();
        cfg.stages = stages.to_vec();
        let worker = Worker::connect(cfg).await.expect("worker");
        let token = CancellationToken::new();
        let t = token.clone();
        let handle = tokio::spawn(async move { worker.run(t).await });
        self.workers.push((token, handle));
    }

    /// Starts another gateway on this stack (same Redis prefix and queues, its own
    /// connections and port), as a second replica behind a load balancer would be; returns its
    /// base URL. It stops with the stack.
    pub async fn another_gateway(&self) -> String {
        self.another_gateway_with(|_| {}).await
    }

    /// [`Self::another_gateway`] with its configuration changed by `adjust` (e.g. its RabbitMQ
    /// reached through a [`proxy::Proxy`]).
    pub async fn another_gateway_with(&self, adjust: impl FnOnce(&mut GatewayConfig)) -> String {
        self.gateway_with_records(adjust).await.0
    }

    /// [`Self::another_gateway_with`], also returning its [`Records`] and request [`Load`]
    /// (for its readiness, say).
    pub async fn gateway_with_records(
        &self,
        adjust: impl FnOnce(&mut GatewayConfig),
    ) -> (String, Records, xhuma_gateway::app::Load) {
        let lookup = |k: &str| self.env.get(k).cloned();
        let mut cfg = GatewayConfig::from_lookup(&lookup).expect("gateway config");
        cfg.pipeline.nhs = NhsConfig::for_simulator(&self.sim.base_url());
        adjust(&mut cfg);
        let records = Records::connect(
            &cfg.amqp,
            &cfg.redis,
            cfg.pipeline.clone(),
            self.shutdown.clone(),
        )
        .await
        .expect("records");
        let state = AppState::new(cfg, Arc::new(records.clone())).expect("state");
        let load = state.load();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = router(state);
        let token = self.shutdown.clone();
        tokio::spawn(async move {
            let _ = axum_serve(listener, app, token).await;
        });
        (url, records, load)
    }

    pub async fn post(&self, path: &str, body: String) -> (u16, String) {
        self.post_to(&self.gateway, path, body).await
    }

    /// Posts to the gateway at `base` (this stack's or [`Self::another_gateway`]'s).
    pub async fn post_to(&self, base: &str, path: &str, body: String) -> (u16, String) {
        let resp = self
            .http
            .post(format!("{base}{path}"))
            .header("content-type", "application/soap+xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    pub async fn stop(self) {
        for (token, handle) in self.workers {
            token.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(5), handle).await;
        }
        self.shutdown.cancel();
        self.records.amqp().close().await;
        delete_queues(&self.prefix).await;
        self.sim.shutdown().await;
    }
}

async fn axum_serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    token: CancellationToken,
) -> std::io::Result<()> {
    // With the peer address, as `xhuma-gateway` serves (the audit trail records it).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { token.cancelled().await })
    .await
}

/// PostgreSQL of the test machine (trust auth, database `test`).
pub const AUDIT_DB: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Starts an in-process audit consumer for this stack, writing to its own schema
/// (`audit_<prefix>`); returns the schema and the token that stops it.
pub async fn start_auditor(stack: &Stack) -> (String, CancellationToken) {
    let schema = format!("audit_{}", stack.prefix);
    let vars = [
        ("XHUMA_QUEUE_PREFIX", stack.prefix.clone()),
        ("XHUMA_AUDIT_DATABASE_URL", AUDIT_DB.to_string()),
        ("XHUMA_AUDIT_DATABASE_SCHEMA", schema.clone()),
        ("XHUMA_AUDIT_LISTEN", "127.0.0.1:0".to_string()),
        ("XHUMA_AUDIT_BATCH_WAIT_MS", "50".to_string()),
    ];
    let lookup = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let config = xhuma_audit::AuditConfig::from_lookup(&lookup).expect("audit config");
    let auditor = xhuma_audit::Auditor::connect(config)
        .await
        .expect("auditor");
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move { auditor.run(s).await });
    (schema, stop)
}

/// Removes a test prefix's queues and exchange from the broker.
pub async fn delete_queues(prefix: &str) {
    let cfg = amqp_config("amqp://guest:guest@127.0.0.1:5672/%2f", prefix);
    let Ok(amqp) = xhuma_common::queue::Amqp::connect(&cfg, "test-cleanup").await else {
        return;
    };
    let names = amqp.names().clone();
    if let Ok(ch) = amqp.channel().await {
        let mut queues = vec![names.dead(), names.audit()];
        for stage in xhuma_common::queue::Stage::ALL {
            queues.push(names.stage(stage));
            for t in xhuma_common::queue::RETRY_TIERS_MS {
                queues.push(names.retry(stage, t));
            }
        }
        for q in queues {
            let _ = ch.queue_delete(q.into(), Default::default()).await;
        }
        let _ = ch
            .exchange_delete(names.exchange().into(), Default::default())
            .await;
    }
    amqp.close().await;
}

/// The first `2.25.…` uniqueId an ITI-38 answer advertises.
pub fn unique_id(iti38_response: &str) -> Option<String> {
    let start = iti38_response.find("value=\"2.25.")? + "value=\"".len();
    let end = start + iti38_response[start..].find('"')?;
    Some(iti38_response[start..end].to_string())
}

/// The base64 documents of an ITI-39 answer, decoded.
pub fn documents(iti39_response: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = iti39_response;
    while let Some(open) = rest.find("Document>") {
        // Skip `DocumentResponse>` / `DocumentUniqueId>` and closing tags.
        let before = &rest[..open];
        let tag_start = before.rfind('<').unwrap_or(0);
        let tag = &rest[tag_start..open + "Document>".len()];
        rest = &rest[open + "Document>".len()..];
        if tag.starts_with("</") || !(tag.ends_with(":Document>") || tag == "<Document>") {
            continue;
        }
        let Some(close) = rest.find('<') else { break };
        let text: String = rest[..close].split_whitespace().collect();
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text) {
            out.push(bytes);
        }
    }
    out
}

/// Runs a shared validator tool on a file. Missing tools fail under CI and skip elsewhere.
pub fn validate(tool: &str, args: &[&str]) -> bool {
    let path = shared_dir().join("tools").join(tool);
    if !path.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "{tool} is missing under CI: run shared/tools/install-validators"
        );
        eprintln!("note: {tool} not installed; skipping that check");
        return true;
    }
    let out = Command::new(&path)
        .args(args)
        .output()
        .expect("run validator");
    if !out.status.success() {
        eprintln!(
            "{tool} {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

pub fn write_temp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xhuma-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// Takes one message from a queue of this stack, if any (e.g. the dead-letter queue).
pub async fn take_message(prefix: &str, queue: &str) -> Option<lapin::message::BasicGetMessage> {
    let cfg = xhuma_common::config::AmqpConfig {
        url: xhuma_common::config::Secret::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
        prefix: prefix.to_string(),
        queue_type: xhuma_common::config::QueueType::Quorum,
    };
    let amqp = xhuma_common::queue::Amqp::connect(&cfg, "test-inspect")
        .await
        .ok()?;
    let ch = amqp.channel().await.ok()?;
    let got = ch
        .basic_get(
            queue.into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .ok()
        .flatten();
    amqp.close().await;
    got
}

/// The AMQP settings a test uses to look into the broker (or cluster) at `urls`.
pub fn amqp_config(urls: &str, prefix: &str) -> xhuma_common::config::AmqpConfig {
    xhuma_common::config::AmqpConfig {
        url: xhuma_common::config::Secret::new(urls),
        prefix: prefix.to_string(),
        queue_type: xhuma_common::config::QueueType::Quorum,
    }
}

/// `GET /metrics` on an ops router, as Prometheus would scrape it.
pub async fn scrape_metrics(router: axum::Router) -> String {
    use tower::ServiceExt;
    let resp = router
        .oneshot(
            http::Request::get("/metrics")
                .body(axum::body::Body::empty())
                .expect("req"),
        )
        .await
        .expect("resp");
    assert_eq!(resp.status(), 200);
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .expect("body");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
