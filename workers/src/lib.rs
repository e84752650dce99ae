//! Prefetch workers: the back half of the pipeline.
//!
//! RabbitMQ (`P.sds`, `P.gpconnect`) → [`consumer`] (prefetch-bounded delivery loop, ack /
//! retry / dead-letter via [`error::Disposition`]) → [`jobs::sds`] (PDS when needed, SDS cached
//! per ODS code) → [`jobs::gpconnect`] (GP Connect structured record → `xhuma-ccda` off the async
//! runtime → Redis). Each stage is its own queue, so operators scale them apart; one worker
//! process can run either or both (`XHUMA_WORKER_STAGES`).
#![forbid(unsafe_code)]

pub mod config;
pub mod consumer;
pub mod error;
pub mod jobs;
pub mod ops;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use xhuma_common::audit::AuditSink;
use xhuma_common::cache::Cache;
use xhuma_common::nhs::NhsClients;
use xhuma_common::queue::Amqp;

pub use config::WorkerConfig;

/// What every job handler needs; built once per process.
pub struct Worker {
    pub config: WorkerConfig,
    pub amqp: Amqp,
    pub cache: Cache,
    pub nhs: NhsClients,
    /// Every GP Connect call and PDS lookup is audited here.
    pub audit: AuditSink,
    /// Whether each configured stage's consumer is consuming now (readiness).
    pub consumers: consumer::ConsumerStatus,
    audit_shutdown: CancellationToken,
}

/// Errors starting a worker.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot connect to RabbitMQ")]
    Queue(#[from] xhuma_common::queue::QueueError),
    #[error("cannot set up the Redis cache")]
    Cache(#[from] xhuma_common::cache::CacheError),
    #[error("cannot build the NHS clients")]
    Nhs(#[from] xhuma_common::nhs::UpstreamError),
}

// === impl Worker ===

impl Worker {
    pub async fn connect(config: WorkerConfig) -> Result<Arc<Self>, StartError> {
        let amqp = Amqp::connect(&config.amqp, "xhuma-worker").await?;
        let cache = Cache::new(&config.redis)?;
        let nhs = NhsClients::new(&config.nhs)?;
        let audit_shutdown = CancellationToken::new();
        let audit = AuditSink::spawn(amqp.clone(), audit_shutdown.clone())
            .with_source(format!("worker@{}", xhuma_common::process::hostname()));
        let consumers = consumer::ConsumerStatus::new(&config.stages);
        Ok(Arc::new(Self {
            consumers,
            config,
            amqp,
            cache,
            nhs,
            audit,
            audit_shutdown,
        }))
    }

    /// Consumes the configured stages until `shutdown` is cancelled, then lets in-flight jobs
    /// finish within the grace period. Jobs still running after it stay unacked and are
    /// redelivered to another worker.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        for stage in self.config.stages.clone() {
            let worker = self.clone();
            let shutdown = shutdown.clone();
            tracker.spawn(async move { consumer::consume(worker, stage, shutdown).await });
        }
        tracker.close();
        tracker.wait().await;
        self.audit_shutdown.cancel();
        self.audit.flush(std::time::Duration::from_secs(5)).await;
        self.amqp.close().await;
    }
}
