//! SDS stage: find the patient's registered practice and its GP Connect endpoint.
//!
//! job (maybe without `gp_ods`) → PDS read when the gateway did not supply the practice →
//! SDS `Device` + `Endpoint` for the ODS code, cached in Redis per ODS code for hours →
//! the job, now carrying its endpoint, is published to the GP Connect stage.

use tracing::instrument;
use xhuma_common::audit::{AuditEvent, AuditKind, AuditOutcome};
use xhuma_common::job::PrefetchJob;
use xhuma_common::nhs::ProviderEndpoint;
use xhuma_common::patient::{Demographics, PdsOutcome};
use xhuma_common::queue::{Stage, job_headers};

use super::Outcome;
use crate::Worker;
use crate::error::JobError;

const SDS_NAMESPACE: &str = "sds";

/// Runs the SDS stage and forwards the job.
#[instrument(skip_all, fields(stage = "sds"))]
pub async fn handle(worker: &Worker, mut job: PrefetchJob) -> Result<Outcome, JobError> {
    if job.endpoint.is_none() {
        job.endpoint = Some(resolve_endpoint(worker, &mut job).await?);
    }
    let traceparent = xhuma_common::telemetry::traceparent();
    let headers = job_headers(&job.correlation_id, 0, traceparent.as_deref());
    worker
        .amqp
        .publish_to_stage(Stage::GpConnect, &job, headers, &job.job_id.to_string())
        .await?;
    Ok(Outcome::Forwarded)
}

/// Resolves (and caches) the GP Connect endpoint of the job's patient's practice.
pub async fn resolve_endpoint(
    worker: &Worker,
    job: &mut PrefetchJob,
) -> Result<ProviderEndpoint, JobError> {
    let ods = match job.gp_ods.clone() {
        Some(ods) => ods,
        None => {
            let ods = practice_from_pds(worker, job).await?;
            job.gp_ods = Some(ods.clone());
            ods
        }
    };
    if let Some(hit) = worker
        .cache
        .get_cached::<ProviderEndpoint>(SDS_NAMESPACE, &ods)
        .await?
    {
        metrics::counter!("xhuma_sds_cache_total", "outcome" => "hit").increment(1);
        return Ok(hit);
    }
    metrics::counter!("xhuma_sds_cache_total", "outcome" => "miss").increment(1);
    let endpoint = worker
        .nhs
        .sds
        .gp_connect_endpoint(&ods, &job.correlation_id)
        .await
        .map_err(JobError::upstream)?
        .ok_or(JobError::NoEndpoint)?;
    worker
        .cache
        .put_cached(SDS_NAMESPACE, &ods, &endpoint, worker.config.sds_ttl)
        .await?;
    Ok(endpoint)
}

async fn practice_from_pds(worker: &Worker, job: &PrefetchJob) -> Result<String, JobError> {
    pds_demographics(worker, job)
        .await?
        .gp_ods
        .ok_or(JobError::NoPractice)
}

/// The job's patient as PDS knows them now (audited); a patient PDS will not give us is a
/// permanent failure.
pub async fn pds_demographics(
    worker: &Worker,
    job: &PrefetchJob,
) -> Result<Demographics, JobError> {
    let read = worker
        .nhs
        .pds
        .read_patient(job.nhs_number, &job.correlation_id)
        .await;
    let audited = match &read {
        Ok(PdsOutcome::Found(_) | PdsOutcome::Superseded { .. }) => AuditOutcome::Success,
        Ok(PdsOutcome::Restricted) => AuditOutcome::Denied,
        Ok(PdsOutcome::Deceased { .. } | PdsOutcome::NotFound) => AuditOutcome::NotFound,
        Err(_) => AuditOutcome::Failed,
    };
    worker.audit.emit(
        AuditEvent::new(AuditKind::PdsLookup, audited, job.correlation_id.clone())
            .requester(&job.requester)
            .patient(job.nhs_number, worker.cache.patient_key(job.nhs_number)),
    );
    let outcome = read.map_err(JobError::upstream)?;
    match outcome {
        PdsOutcome::Found(d) => Ok(d),
        PdsOutcome::Superseded { current, .. } => Ok(*current),
        PdsOutcome::Restricted => Err(JobError::PatientUnavailable("restricted")),
        PdsOutcome::Deceased { .. } => Err(JobError::PatientUnavailable("deceased")),
        PdsOutcome::NotFound => Err(JobError::PatientUnavailable("not found")),
    }
}
