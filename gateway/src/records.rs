//! The real [`Backend`]: PDS lookups, prefetch jobs on RabbitMQ, documents from Redis, and
//! bounded waits on job completion.
//!
//! ITI-55/47 → [`Records::discover`] → PDS → on a match, take the patient's single-flight lease
//! in Redis and publish a prefetch job (so the record is usually cached before ITI-38 arrives).
//! ITI-38/39 → cache hit, or wait on the completion signal ([`Completions`]) until the document
//! or the job's failure lands, bounded by `XHUMA_JOB_WAIT_TIMEOUT_MS`; a query that finds
//! nothing cached and nothing in flight starts a job itself.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use xhuma_common::NhsNumber;
use xhuma_common::cache::completion::Completions;
use xhuma_common::cache::{Cache, CacheError, LeaseOutcome};
use xhuma_common::chain::Chain;
use xhuma_common::config::{AmqpConfig, ConfigError, Env, RedisConfig};
use xhuma_common::job::PrefetchJob;
use xhuma_common::nhs::{NhsConfig, PdsClient};
use xhuma_common::nhs::{PdsSearch, PdsSearchOutcome};
use xhuma_common::patient::{Demographics, PdsOutcome};
use xhuma_common::queue::{Amqp, QueueError};

use xhuma_common::audit::{AuditOutcome, AuditSink};

use crate::backend::{
    Backend, BackendError, BoxFuture, Caller, Discovery, Documents, Retrieved, SecurityAlert,
};

mod audit;
mod publish;
mod wait;

use audit::{error_detail, failure_outcome};
pub use publish::{DEFAULT_PREFETCH_IN_FLIGHT, XHUMA_PREFETCH_IN_FLIGHT};
use publish::{Published, Publisher};
use xhuma_common::cli::Setting;

pub const XHUMA_JOB_WAIT_TIMEOUT_MS: &str = "XHUMA_JOB_WAIT_TIMEOUT_MS";
pub const DEFAULT_JOB_WAIT_TIMEOUT_MS: u64 = 25_000;
pub const XHUMA_LEASE_TTL_MS: &str = "XHUMA_LEASE_TTL_MS";
pub const DEFAULT_LEASE_TTL_MS: u64 = 60_000;
pub const XHUMA_ITI38_ON_DEMAND: &str = "XHUMA_ITI38_ON_DEMAND";
pub const XHUMA_REFRESH_AFTER_SECS: &str = "XHUMA_REFRESH_AFTER_SECS";
pub const DEFAULT_REFRESH_AFTER_SECS: u64 = 900;
pub const XHUMA_AUDIT_FAIL_OPEN: &str = "XHUMA_AUDIT_FAIL_OPEN";
pub const XHUMA_AUDIT_CONFIRM_TIMEOUT_MS: &str = "XHUMA_AUDIT_CONFIRM_TIMEOUT_MS";
pub const DEFAULT_AUDIT_CONFIRM_TIMEOUT_MS: u64 = 5_000;

/// The settings above as `--help` lists them ([`xhuma_common::cli`]).
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        XHUMA_PREFETCH_IN_FLIGHT,
        "256",
        "Prefetch publishes that may wait on RabbitMQ at once",
    ),
    Setting::new(
        XHUMA_JOB_WAIT_TIMEOUT_MS,
        "25000",
        "How long ITI-38/39 wait for an in-flight prefetch before answering XDSRegistryBusy",
    ),
    Setting::new(
        XHUMA_LEASE_TTL_MS,
        "60000",
        "Single-flight lease per patient",
    ),
    Setting::new(
        XHUMA_ITI38_ON_DEMAND,
        "false",
        "Answer ITI-38 at once with an On-Demand entry while the job runs",
    ),
    Setting::new(
        XHUMA_REFRESH_AFTER_SECS,
        "900",
        "A patient discovery refetches a cached record older than this (the old one is served meanwhile)",
    ),
    Setting::new(
        XHUMA_AUDIT_FAIL_OPEN,
        "false",
        "Release an ITI-39 document even when RabbitMQ has not confirmed its audit event",
    ),
    Setting::new(
        XHUMA_AUDIT_CONFIRM_TIMEOUT_MS,
        "5000",
        "How long ITI-39 waits for that confirmation",
    ),
];

/// Settings of the record pipeline as the gateway sees it.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// `XHUMA_JOB_WAIT_TIMEOUT_MS`: how long ITI-38/39 wait for an in-flight prefetch before
    /// answering `XDSRegistryBusy` (keep it below the EHR's own timeout, Epic's is 30-60 s).
    pub wait_timeout: Duration,
    /// `XHUMA_LEASE_TTL_MS`: single-flight lease per patient (same value as the workers').
    /// The worker renews it while the job runs; this bounds how long a job that never reached
    /// a worker (lost with its gateway) keeps the patient busy.
    pub lease_ttl: Duration,
    /// `XHUMA_PREFETCH_IN_FLIGHT` (default 256): prefetch publishes that may wait on RabbitMQ
    /// at once; beyond that a discovery answers without starting one (its lease released).
    pub prefetch_in_flight: usize,
    /// `XHUMA_ITI38_ON_DEMAND`: answer ITI-38 at once with an On-Demand entry while the job
    /// runs, and let ITI-39 do the waiting (default false: ITI-38 waits).
    pub on_demand: bool,
    /// `XHUMA_REFRESH_AFTER_SECS`: a patient discovery refetches a cached record older than
    /// this (the old one is served until the new one lands).
    pub refresh_after: Duration,
    /// `XHUMA_AUDIT_FAIL_OPEN` (default false): release an ITI-39 document even when its audit
    /// event could not be confirmed by RabbitMQ. By default (fail closed) the document is held
    /// back and the caller gets `XDSRepositoryError`: no read without its record.
    pub audit_fail_open: bool,
    /// `XHUMA_AUDIT_CONFIRM_TIMEOUT_MS` (default 5000): how long ITI-39 waits for the broker to
    /// confirm the audit event of a document it is about to release.
    pub audit_confirm_timeout: Duration,
    /// NHS API settings (the gateway calls PDS).
    pub nhs: NhsConfig,
}

// === impl PipelineConfig ===

impl PipelineConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            wait_timeout: env.millis(XHUMA_JOB_WAIT_TIMEOUT_MS, DEFAULT_JOB_WAIT_TIMEOUT_MS)?,
            lease_ttl: env.millis(XHUMA_LEASE_TTL_MS, DEFAULT_LEASE_TTL_MS)?,
            prefetch_in_flight: env.parse(XHUMA_PREFETCH_IN_FLIGHT, DEFAULT_PREFETCH_IN_FLIGHT)?,
            on_demand: env.bool(XHUMA_ITI38_ON_DEMAND, false)?,
            refresh_after: env.secs(XHUMA_REFRESH_AFTER_SECS, DEFAULT_REFRESH_AFTER_SECS)?,
            audit_fail_open: env.bool(XHUMA_AUDIT_FAIL_OPEN, false)?,
            audit_confirm_timeout: env.millis(
                XHUMA_AUDIT_CONFIRM_TIMEOUT_MS,
                DEFAULT_AUDIT_CONFIRM_TIMEOUT_MS,
            )?,
            nhs: NhsConfig::from_env(env)?,
        })
    }
}

/// Errors starting the backend.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to RabbitMQ")]
    Queue(#[from] QueueError),
    #[error("cannot set up the Redis cache")]
    Cache(#[from] CacheError),
    #[error("cannot build the NHS clients")]
    Nhs(#[from] xhuma_common::nhs::UpstreamError),
}

/// PDS + RabbitMQ + Redis behind the ITI handlers.
#[derive(Clone)]
pub struct Records {
    inner: Arc<Inner>,
}

struct Inner {
    config: PipelineConfig,
    amqp: Amqp,
    cache: Cache,
    pds: PdsClient,
    completions: Completions,
    publisher: Publisher,
    audit: AuditSink,
    shutdown: CancellationToken,
}

// === impl Records ===

impl Records {
    /// Builds the Redis pool and the PDS client, subscribes to completion signals until
    /// `shutdown`, and starts connecting to RabbitMQ in the background: a gateway whose broker
    /// is down starts anyway, serves what is cached and reports the broker in readiness.
    pub async fn connect(
        amqp: &AmqpConfig,
        redis: &RedisConfig,
        config: PipelineConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, ConnectError> {
        let amqp = Amqp::lazy(amqp, "xhuma-gateway");
        let early = amqp.clone();
        tokio::spawn(async move {
            // Declares the topology now rather than on the first publish; failures are retried
            // by whoever needs the broker next.
            if let Err(error) = early.ping().await {
                tracing::warn!(%error, "RabbitMQ is not reachable yet; prefetch jobs wait for it");
            }
        });
        let cache = Cache::new(redis)?;
        let pds = xhuma_common::nhs::NhsClients::new(&config.nhs)?.pds;
        let completions = Completions::spawn(
            cache.target().clone(),
            cache.done_channel(),
            shutdown.clone(),
        );
        let audit = AuditSink::spawn(amqp.clone(), shutdown.clone())
            .with_source(format!("gateway@{}", xhuma_common::process::hostname()));
        let publisher = Publisher::new(amqp.clone(), cache.clone(), config.prefetch_in_flight);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                amqp,
                cache,
                pds,
                completions,
                publisher,
                audit,
                shutdown,
            }),
        })
    }

    /// The audit sink (flushed by `main` at shutdown).
    pub fn audit(&self) -> &AuditSink {
        &self.inner.audit
    }

    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    pub fn amqp(&self) -> &Amqp {
        &self.inner.amqp
    }

    /// The completion subscription (readiness reports it).
    pub fn completions(&self) -> &Completions {
        &self.inner.completions
    }

    /// Starts a prefetch for the patient unless a fresh document is cached, a job is in flight,
    /// or a recent failure is still remembered. The publish itself runs in the background;
    /// the returned receiver (when a job was started) tells how it went.
    async fn ensure_prefetch(
        &self,
        nhs: NhsNumber,
        caller: &Caller,
        gp_ods: Option<String>,
    ) -> Result<Option<Published>, BackendError> {
        let cache = &self.inner.cache;
        if let Some(meta) = cache.document_for(nhs).await.map_err(unavailable)? {
            let age = OffsetDateTime::now_utc() - meta.created;
            if age < self.inner.config.refresh_after {
                metrics::counter!("xhuma_prefetch_total", "outcome" => "cached").increment(1);
                return Ok(None);
            }
        }
        if cache.failure(nhs).await.map_err(unavailable)?.is_some() {
            metrics::counter!("xhuma_prefetch_total", "outcome" => "recently_failed").increment(1);
            return Ok(None);
        }
        let mut job =
            PrefetchJob::new(nhs, caller.requester.clone(), caller.correlation_id.clone());
        job.gp_ods = gp_ods;
        match cache
            .try_lease(nhs, &job.lease(), self.inner.config.lease_ttl)
            .await
            .map_err(unavailable)?
        {
            LeaseOutcome::Held(_) => {
                metrics::counter!("xhuma_prefetch_total", "outcome" => "in_flight").increment(1);
                Ok(None)
            }
            LeaseOutcome::Acquired { fence } => {
                job.fence = fence;
                let published = self
                    .inner
                    .publisher
                    .submit(job)
                    .await
                    .map_err(|shed| BackendError::Unavailable(Chain(&shed).to_string()))?;
                Ok(Some(published))
            }
        }
    }
}

fn unavailable(error: CacheError) -> BackendError {
    BackendError::Unavailable(Chain(&error).to_string())
}

fn record_wait(started: std::time::Instant, outcome: &'static str) {
    metrics::counter!("xhuma_wait_total", "outcome" => outcome).increment(1);
    metrics::histogram!("xhuma_wait_seconds", "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
}

impl Backend for Records {
    fn discover<'a>(
        &'a self,
        nhs: NhsNumber,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Discovery, BackendError>> {
        Box::pin(async move {
            let outcome = match self
                .inner
                .pds
                .read_patient(nhs, &caller.correlation_id)
                .await
            {
                Ok(o) => o,
                Err(e) => {
                    self.audit_event(
                        caller,
                        AuditOutcome::Failed,
                        Some(nhs),
                        None,
                        Some("pds unavailable"),
                    );
                    return Err(BackendError::Unavailable(Chain(&e).to_string()));
                }
            };
            let (audited, detail) = match &outcome {
                PdsOutcome::Found(_) => (AuditOutcome::Success, None),
                PdsOutcome::Superseded { .. } => (AuditOutcome::Success, Some("superseded")),
                PdsOutcome::Restricted => (AuditOutcome::Denied, Some("restricted")),
                PdsOutcome::Deceased { .. } => (AuditOutcome::NotFound, Some("deceased")),
                PdsOutcome::NotFound => (AuditOutcome::NotFound, None),
            };
            self.audit_event(caller, audited, Some(nhs), None, detail);
            Ok(outcome)
        })
    }

    fn search<'a>(
        &'a self,
        query: &'a PdsSearch,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<PdsSearchOutcome, BackendError>> {
        Box::pin(async move {
            let outcome = match self.inner.pds.search(query, &caller.correlation_id).await {
                Ok(o) => o,
                Err(e) => {
                    self.audit_event(
                        caller,
                        AuditOutcome::Failed,
                        None,
                        None,
                        Some("pds search unavailable"),
                    );
                    return Err(BackendError::Unavailable(Chain(&e).to_string()));
                }
            };
            // Who searched, and whom the search found (never the demographics searched by).
            let (audited, nhs, detail) = match &outcome {
                PdsSearchOutcome::Match(found) => match found.as_ref() {
                    PdsOutcome::Found(d) => (AuditOutcome::Success, Some(d.nhs_number), None),
                    PdsOutcome::Superseded { current, .. } => (
                        AuditOutcome::Success,
                        Some(current.nhs_number),
                        Some("search: superseded"),
                    ),
                    PdsOutcome::Restricted => {
                        (AuditOutcome::Denied, None, Some("search: restricted"))
                    }
                    PdsOutcome::Deceased { .. } => {
                        (AuditOutcome::NotFound, None, Some("search: deceased"))
                    }
                    PdsOutcome::NotFound => (AuditOutcome::NotFound, None, Some("search")),
                },
                PdsSearchOutcome::NoMatch => (AuditOutcome::NotFound, None, Some("search")),
                PdsSearchOutcome::TooManyMatches => (
                    AuditOutcome::NotFound,
                    None,
                    Some("search: more than one match"),
                ),
            };
            self.audit_event(caller, audited, nhs, None, detail);
            Ok(outcome)
        })
    }

    fn prefetch<'a>(
        &'a self,
        patient: &'a Demographics,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            match &patient.gp_ods {
                // Discovery answers without waiting for the broker's confirm.
                Some(ods) => self
                    .ensure_prefetch(patient.nhs_number, caller, Some(ods.clone()))
                    .await
                    .map(drop),
                // Not registered with a practice: there is no GP record to fetch.
                None => Ok(()),
            }
        })
    }

    fn documents<'a>(
        &'a self,
        nhs: NhsNumber,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Documents, BackendError>> {
        Box::pin(async move {
            let deadline = Instant::now() + self.inner.config.wait_timeout;
            let result = self
                .wait_for_patient(nhs, caller, deadline, self.inner.config.on_demand)
                .await;
            match &result {
                Ok(Documents::Ready(meta)) => self.audit_event(
                    caller,
                    AuditOutcome::Success,
                    Some(nhs),
                    Some(&meta.unique_id),
                    None,
                ),
                Ok(Documents::Pending { unique_id, .. }) => self.audit_event(
                    caller,
                    AuditOutcome::Success,
                    Some(nhs),
                    Some(unique_id),
                    Some("on-demand entry"),
                ),
                Ok(Documents::Failed(f)) => self.audit_event(
                    caller,
                    failure_outcome(f.kind),
                    Some(nhs),
                    None,
                    Some(f.kind.as_str()),
                ),
                Err(e) => self.audit_event(
                    caller,
                    AuditOutcome::Failed,
                    Some(nhs),
                    None,
                    Some(error_detail(e)),
                ),
            }
            result
        })
    }

    fn retrieve<'a>(
        &'a self,
        unique_ids: &'a [String],
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<Retrieved>, BackendError>> {
        Box::pin(async move {
            let deadline = Instant::now() + self.inner.config.wait_timeout;
            let mut out = Vec::with_capacity(unique_ids.len());
            for uid in unique_ids {
                let mut one = self.retrieve_one(uid, deadline).await;
                // A document id alone is never enough: the document's patient (from its sealed
                // metadata) must be the one the assertion names.
                if let (Ok(Retrieved::Found { meta, .. }), Some(named)) = (&one, caller.patient)
                    && meta.nhs_number != named
                {
                    let asked = meta.nhs_number;
                    one = Ok(Retrieved::Denied);
                    crate::caller::deny_document(caller, self, asked, uid);
                }
                match &one {
                    Ok(Retrieved::Found { meta, .. }) => {
                        self.audit_release(caller, meta.nhs_number, uid).await?
                    }
                    Ok(Retrieved::Unknown) => {
                        self.audit_event(caller, AuditOutcome::NotFound, None, Some(uid), None)
                    }
                    // Audited as a security alert where it was decided.
                    Ok(Retrieved::Denied) => {}
                    Ok(Retrieved::Failed(f)) => self.audit_event(
                        caller,
                        failure_outcome(f.kind),
                        None,
                        Some(uid),
                        Some(f.kind.as_str()),
                    ),
                    Err(e) => self.audit_event(
                        caller,
                        AuditOutcome::Failed,
                        None,
                        Some(uid),
                        Some(error_detail(e)),
                    ),
                }
                out.push(one?);
            }
            Ok(out)
        })
    }

    fn first_use<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, BackendError>> {
        Box::pin(async move {
            self.inner
                .cache
                .first_use(key, ttl)
                .await
                .map_err(unavailable)
        })
    }

    fn security_alert(&self, alert: SecurityAlert<'_>) {
        self.audit_alert(alert);
    }
}
