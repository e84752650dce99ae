//! Test helpers: a consumer on its own queue prefix and database schema, against the real
//! RabbitMQ and PostgreSQL of this machine (`XHUMA_TEST_AMQP_URL`, `XHUMA_TEST_DATABASE_URL`
//! override the defaults).
#![allow(dead_code)]

pub mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;
use xhuma_audit::{AuditConfig, Auditor};
use xhuma_common::NhsNumber;
use xhuma_common::audit::{AuditEvent, AuditKind, AuditOutcome};
use xhuma_common::identity::{Coded, Requester};
use xhuma_common::queue::{RETRY_TIERS_MS, Stage};

pub fn amqp_url() -> String {
    std::env::var("XHUMA_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

pub fn database_url() -> String {
    std::env::var("XHUMA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// One test's world: a unique queue prefix and schema, a running consumer, a verifying client.
pub struct Harness {
    pub prefix: String,
    pub schema: String,
    pub auditor: Arc<Auditor>,
    pub shutdown: CancellationToken,
    pub db: Client,
    consumer: tokio::task::JoinHandle<()>,
}

pub fn unique(name: &str) -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let short = &id[..12];
    (
        format!("audit-test-{name}-{short}"),
        format!("audit_t_{}_{short}", name.replace('-', "_")),
    )
}

pub fn config(prefix: &str, schema: &str, extra: &[(&str, String)]) -> AuditConfig {
    let mut map: HashMap<String, String> = HashMap::from([
        ("XHUMA_AMQP_URL".into(), amqp_url()),
        ("XHUMA_QUEUE_PREFIX".into(), prefix.into()),
        ("XHUMA_QUEUE_TYPE".into(), "classic".into()),
        ("XHUMA_AUDIT_DATABASE_URL".into(), database_url()),
        ("XHUMA_AUDIT_DATABASE_SCHEMA".into(), schema.into()),
        ("XHUMA_AUDIT_BATCH_SIZE".into(), "10".into()),
        ("XHUMA_AUDIT_BATCH_WAIT_MS".into(), "50".into()),
    ]);
    for (k, v) in extra {
        map.insert(k.to_string(), v.clone());
    }
    AuditConfig::from_lookup(&|k| map.get(k).cloned()).expect("test config")
}

pub async fn db_client() -> Client {
    let (client, connection) = tokio_postgres::connect(&database_url(), NoTls)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (db test)");
    tokio::spawn(connection);
    client
}

impl Harness {
    pub async fn start(name: &str) -> Self {
        Self::start_with(name, &[]).await
    }

    pub async fn start_with(name: &str, extra: &[(&str, String)]) -> Self {
        let (prefix, schema) = unique(name);
        let auditor = Auditor::connect(config(&prefix, &schema, extra))
            .await
            .expect("audit consumer connects");
        let shutdown = CancellationToken::new();
        let consumer = {
            let auditor = auditor.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move { auditor.run(shutdown).await })
        };
        Self {
            prefix,
            schema,
            auditor,
            shutdown,
            db: db_client().await,
            consumer,
        }
    }

    /// Rows in this test's `audit_event`.
    pub async fn count(&self, condition: &str) -> i64 {
        let sql = format!(
            "SELECT count(*) FROM {}.audit_event WHERE {condition}",
            self.schema
        );
        self.db.query_one(&sql, &[]).await.expect("count").get(0)
    }

    /// Waits (bounded) until `condition` matches at least `n` rows.
    pub async fn wait_rows(&self, condition: &str, n: i64) -> i64 {
        let mut got = 0;
        for _ in 0..300 {
            got = self.count(condition).await;
            if got >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        got
    }

    /// Stops the consumer, drops the schema and the queues.
    pub async fn finish(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.consumer).await;
        let _ = self
            .db
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .await;
        delete_topology(&self.auditor.amqp).await;
        self.auditor.amqp.close().await;
    }
}

/// Deletes every queue and the exchange `declare_topology` made for this prefix.
pub async fn delete_topology(amqp: &xhuma_common::queue::Amqp) {
    let Ok(channel) = amqp.channel().await else {
        return;
    };
    let names = amqp.names();
    let mut queues = vec![names.dead(), names.audit()];
    for stage in Stage::ALL {
        queues.push(names.stage(stage));
        for delay in RETRY_TIERS_MS {
            queues.push(names.retry(stage, delay));
        }
    }
    for queue in queues {
        let _ = channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = channel
        .exchange_delete(names.exchange().into(), ExchangeDeleteOptions::default())
        .await;
    let _ = channel.close(200, "done".into()).await;
}

pub fn requester() -> Requester {
    Requester {
        subject_id: "CONE, Stephen".into(),
        organization: "Example Hospital".into(),
        organization_id: "urn:oid:1.2.840.114350.1.13.525.3.7.3.688884.100".into(),
        home_community_id: Some("urn:oid:1.2.840.114350.1.13.525.3.7.3.688884".into()),
        role: Some(Coded {
            code: "224608005".into(),
            code_system: Some("2.16.840.1.113883.6.96".into()),
            code_system_name: Some("SNOMED_CT".into()),
            display_name: Some("Administrative healthcare staff".into()),
        }),
        purpose_of_use: Some(Coded {
            code: "TREATMENT".into(),
            code_system: Some("2.16.840.1.113883.3.18.7.1".into()),
            code_system_name: Some("nhin-purpose".into()),
            display_name: Some("Treatment".into()),
        }),
        issuer: Some("CN=Epic, O=Example".into()),
        reason_for_request: None,
        ods_code: Some("RX1".into()),
    }
}

pub fn nhs() -> NhsNumber {
    NhsNumber::parse("9690937278").expect("valid NHS number")
}

pub fn event(kind: AuditKind, outcome: AuditOutcome, correlation: &str) -> AuditEvent {
    AuditEvent::new(kind, outcome, correlation)
        .requester(&requester())
        .patient(nhs(), "pk-0123456789abcdef")
        .source("gateway@test")
}
