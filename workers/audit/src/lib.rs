//! `xhuma-audit`: the audit consumer.
//!
//! Gateway and workers publish [`xhuma_common::audit::AuditEvent`]s to the durable `P.audit`
//! queue. This service consumes them in batches, writes each batch with one INSERT into
//! PostgreSQL (`<schema>.audit_event`, idempotent on the event id) and acks the batch only
//! after the commit; what cannot be decoded or stored goes to `P.dead` with a reason. When
//! `XHUMA_AUDIT_SYSLOG` is set, every newly stored event is also sent as an IHE ATNA message
//! over syslog.
//!
//! Layout:
//! - [`config`]: `XHUMA_AUDIT_*` settings.
//! - [`migrate`]: embedded, ordered schema migrations (`migrations/*.sql`).
//! - [`store`]: the PostgreSQL writer.
//! - [`consumer`]: the delivery loop: batch, decode, store, ack, dead-letter, syslog.
//! - [`atna`]: event → DICOM/RFC 3881 audit message XML; [`syslog`]: RFC 5424 over UDP/TCP.
//! - [`ops`]: `/health/live`, `/health/ready`, `/metrics`.
#![forbid(unsafe_code)]

pub mod atna;
pub mod config;
pub mod consumer;
pub mod migrate;
pub mod ops;
pub mod pg_tls;
pub mod store;
pub mod syslog;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use xhuma_common::queue::{Amqp, QueueError};

pub use config::AuditConfig;
use store::{Store, StoreError};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("connecting to RabbitMQ")]
    Queue(#[from] QueueError),
    #[error("opening the audit database")]
    Store(#[from] StoreError),
}

/// The running service's shared state.
pub struct Auditor {
    pub config: AuditConfig,
    pub amqp: Amqp,
    pub store: Store,
}

// === impl Auditor ===

impl Auditor {
    /// Connects to RabbitMQ (declaring the topology) and PostgreSQL (applying migrations).
    pub async fn connect(config: AuditConfig) -> Result<Arc<Self>, StartError> {
        let amqp = Amqp::connect(&config.amqp, "xhuma-audit").await?;
        let store =
            Store::open(config.database_url.expose(), &config.schema, config.migrate).await?;
        Ok(Arc::new(Self {
            config,
            amqp,
            store,
        }))
    }

    /// Consumes `P.audit` until `shutdown`; the batch in hand is finished or left unacked.
    pub async fn run(self: &Arc<Self>, shutdown: CancellationToken) {
        consumer::consume(self.clone(), shutdown).await;
    }
}
