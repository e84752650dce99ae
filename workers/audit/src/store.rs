//! The audit store: batches of events → one `INSERT … SELECT FROM UNNEST(…)` into
//! `<schema>.audit_event`, idempotent on the event id.
//!
//! One connection is enough: the consumer writes one batch at a time, and readiness only pings.
//! The connection is opened lazily and dropped after an error, so the next call reconnects
//! (the consumer retries a failed batch with backoff and acks nothing meanwhile).

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;
use xhuma_common::audit::AuditEvent;

use crate::migrate::{self, MigrateError, Mode};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const INSERT: &str = "INSERT INTO audit_event (
        id, event_time, kind, outcome, nhs_number, patient_key,
        user_id, user_org, user_org_id, user_ods_code, user_role_code, user_role_name,
        purpose_of_use_code, purpose_of_use_name, home_community_id, saml_issuer,
        correlation_id, ssp_trace_id, trace_id, document_unique_id, source, detail,
        peer_address, tls_client_subject, assertion_id, message_id)
    SELECT * FROM UNNEST(
        $1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
        $13::text[], $14::text[], $15::text[], $16::text[],
        $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[],
        $23::text[], $24::text[], $25::text[], $26::text[])
    ON CONFLICT (id) DO NOTHING
    RETURNING id";

/// Errors talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to PostgreSQL")]
    Connect(#[source] tokio_postgres::Error),
    #[error("PostgreSQL {op} failed")]
    Query {
        op: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("PostgreSQL {op} timed out")]
    Timeout { op: &'static str },
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error("PostgreSQL TLS: {0}")]
    Tls(#[from] crate::pg_tls::PgTlsError),
}

// === impl StoreError ===

impl StoreError {
    /// The SQLSTATE of a database error (`22021`, …), without its message, which may quote the
    /// row.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            StoreError::Query { source, .. } => source.code().map(|c| c.code()),
            _ => None,
        }
    }

    /// Whether the database refused the data itself (SQLSTATE class 22 data exception or 23
    /// integrity violation): retrying the same rows cannot help.
    pub fn is_data_error(&self) -> bool {
        match self {
            StoreError::Query { source, .. } => source
                .code()
                .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23")),
            _ => false,
        }
    }
}

/// A lazily (re)connecting handle on the audit database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    schema: String,
    client: Mutex<Option<Arc<Client>>>,
}

/// The columns of a batch, one vector per column (what UNNEST takes).
#[derive(Default)]
struct Columns {
    id: Vec<Uuid>,
    event_time: Vec<OffsetDateTime>,
    kind: Vec<&'static str>,
    outcome: Vec<&'static str>,
    nhs_number: Vec<Option<String>>,
    patient_key: Vec<Option<String>>,
    user_id: Vec<Option<String>>,
    user_org: Vec<Option<String>>,
    user_org_id: Vec<Option<String>>,
    user_ods_code: Vec<Option<String>>,
    user_role_code: Vec<Option<String>>,
    user_role_name: Vec<Option<String>>,
    purpose_code: Vec<Option<String>>,
    purpose_name: Vec<Option<String>>,
    home_community_id: Vec<Option<String>>,
    saml_issuer: Vec<Option<String>>,
    correlation_id: Vec<String>,
    ssp_trace_id: Vec<Option<String>>,
    trace_id: Vec<Option<String>>,
    document_unique_id: Vec<Option<String>>,
    source: Vec<String>,
    detail: Vec<Option<String>>,
    peer_address: Vec<Option<String>>,
    tls_client_subject: Vec<Option<String>>,
    assertion_id: Vec<Option<String>>,
    message_id: Vec<Option<String>>,
}

// === impl Store ===

impl Store {
    /// Connects, then applies pending migrations (creating the schema when missing) or, in
    /// [`Mode::Verify`], checks that they are all applied.
    pub async fn open(url: &str, schema: &str, mode: Mode) -> Result<Self, StoreError> {
        let store = Self {
            inner: Arc::new(Inner {
                url: url.to_string(),
                schema: schema.to_string(),
                client: Mutex::new(None),
            }),
        };
        let mut client = connect(url, schema).await?;
        match mode {
            Mode::Apply => {
                let applied = migrate::migrate(&mut client, schema).await?;
                if !applied.is_empty() {
                    tracing::info!(schema, ?applied, "Applied audit migrations");
                }
            }
            Mode::Verify => migrate::verify(&client, schema).await?,
        }
        *store.inner.client.lock().await = Some(Arc::new(client));
        Ok(store)
    }

    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let mut guard = self.inner.client.lock().await;
        if let Some(client) = guard.as_ref()
            && !client.is_closed()
        {
            return Ok(client.clone());
        }
        let client = connect(&self.inner.url, &self.inner.schema).await?;
        let client = Arc::new(client);
        *guard = Some(client.clone());
        Ok(client)
    }

    async fn forget(&self) {
        self.inner.client.lock().await.take();
    }

    /// Checks the database answers (readiness), reconnecting when needed.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        match client.simple_query("SELECT 1").await {
            Ok(_) => Ok(()),
            Err(source) => {
                self.forget().await;
                Err(StoreError::Query { op: "ping", source })
            }
        }
    }

    /// Writes the events in one statement (committed when this returns `Ok`) and returns the
    /// ids that were new; ids already stored are skipped.
    pub async fn insert(&self, events: &[AuditEvent]) -> Result<Vec<Uuid>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let c = Columns::from_events(events);
        let client = self.client().await?;
        let result = client
            .query(
                INSERT,
                &[
                    &c.id,
                    &c.event_time,
                    &c.kind,
                    &c.outcome,
                    &c.nhs_number,
                    &c.patient_key,
                    &c.user_id,
                    &c.user_org,
                    &c.user_org_id,
                    &c.user_ods_code,
                    &c.user_role_code,
                    &c.user_role_name,
                    &c.purpose_code,
                    &c.purpose_name,
                    &c.home_community_id,
                    &c.saml_issuer,
                    &c.correlation_id,
                    &c.ssp_trace_id,
                    &c.trace_id,
                    &c.document_unique_id,
                    &c.source,
                    &c.detail,
                    &c.peer_address,
                    &c.tls_client_subject,
                    &c.assertion_id,
                    &c.message_id,
                ],
            )
            .await;
        match result {
            Ok(rows) => Ok(rows.iter().map(|r| r.get(0)).collect()),
            Err(source) => {
                let error = StoreError::Query {
                    op: "insert",
                    source,
                };
                if !error.is_data_error() {
                    self.forget().await;
                }
                Err(error)
            }
        }
    }
}

/// Opens a connection whose `search_path` is the audit schema (it may not exist yet: then
/// the migration creates it).
/// `sslmode=require` → TLS with the server's certificate verified ([`crate::pg_tls`]).
async fn connect(url: &str, schema: &str) -> Result<Client, StoreError> {
    let config: tokio_postgres::Config = url.parse().map_err(StoreError::Connect)?;
    let client = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        open_connection(&config, crate::pg_tls::RustlsConnect::from_native_roots()?).await?
    } else {
        open_connection(&config, NoTls).await?
    };
    client
        .batch_execute(&format!("SET search_path TO {schema}"))
        .await
        .map_err(|source| StoreError::Query {
            op: "set search_path",
            source,
        })?;
    Ok(client)
}

/// Opens a connection within [`CONNECT_TIMEOUT`], drives it in its own task and hands back
/// its client.
async fn open_connection<T>(config: &tokio_postgres::Config, tls: T) -> Result<Client, StoreError>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) =
        match tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tls)).await {
            Ok(connected) => connected.map_err(StoreError::Connect)?,
            Err(_) => return Err(StoreError::Timeout { op: "connect" }),
        };
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

// === impl Columns ===

impl Columns {
    fn from_events(events: &[AuditEvent]) -> Self {
        let mut c = Columns::default();
        for e in events {
            let r = e.requester.as_ref();
            let role = r.and_then(|r| r.role.as_ref());
            let purpose = r.and_then(|r| r.purpose_of_use.as_ref());
            let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
            c.id.push(e.id);
            c.event_time.push(e.at);
            c.kind.push(e.kind.as_str());
            c.outcome.push(e.outcome.as_str());
            c.nhs_number.push(e.nhs_number.map(|n| n.to_string()));
            c.patient_key.push(e.patient_key.clone());
            c.user_id.push(r.and_then(|r| text(&r.subject_id)));
            c.user_org.push(r.and_then(|r| text(&r.organization)));
            c.user_org_id.push(r.and_then(|r| text(&r.organization_id)));
            c.user_ods_code.push(r.and_then(|r| r.ods_code.clone()));
            c.user_role_code.push(role.map(|x| x.code.clone()));
            c.user_role_name
                .push(role.and_then(|x| x.display_name.clone()));
            c.purpose_code.push(purpose.map(|x| x.code.clone()));
            c.purpose_name
                .push(purpose.and_then(|x| x.display_name.clone()));
            c.home_community_id
                .push(r.and_then(|r| r.home_community_id.clone()));
            c.saml_issuer.push(r.and_then(|r| r.issuer.clone()));
            c.correlation_id.push(e.correlation_id.clone());
            c.ssp_trace_id.push(e.ssp_trace_id.clone());
            c.trace_id.push(e.trace_id.clone());
            c.document_unique_id.push(e.document_unique_id.clone());
            c.source.push(e.source.clone());
            c.detail.push(e.detail.clone());
            let q = e.request.as_ref();
            c.peer_address.push(q.and_then(|q| q.peer_address.clone()));
            c.tls_client_subject
                .push(q.and_then(|q| q.tls_client_subject.clone()));
            c.assertion_id.push(q.and_then(|q| q.assertion_id.clone()));
            c.message_id.push(q.and_then(|q| q.message_id.clone()));
        }
        c
    }
}
