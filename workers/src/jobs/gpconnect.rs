//! GP Connect stage: fetch the structured record, convert it, cache the C-CDA.
//!
//! job with endpoint (resolved here when a single-stage deployment skipped the SDS stage) →
//! `$gpc.getstructuredrecord` through the SSP → `xhuma_ccda::convert` on the blocking pool (CPU
//! work never stalls the runtime) → the record's Patient checked against the job's patient (a
//! mismatch is dead-lettered, never cached) → with `XHUMA_GPC_DEMOGRAPHIC_CHECK` (the default),
//! its birth date, gender and family name checked against PDS, read beside the GP Connect
//! call ([`super::crosscheck`], GEN-07; a mismatch is a security alert and dead-lettered) → document + metadata into Redis in one script,
//! which also releases the job's lease and announces completion; a document whose fencing
//! token is older than the current one's is kept but never made current.

use sha1::{Digest, Sha1};
use time::OffsetDateTime;
use tracing::instrument;
use xhuma_common::audit::{AuditEvent, AuditKind, AuditOutcome};
use xhuma_common::cache::Stored;
use xhuma_common::document::DocumentMeta;
use xhuma_common::job::{PrefetchJob, uuid_of_unique_id};

use super::Outcome;
use crate::Worker;
use crate::error::JobError;

/// Runs the GP Connect stage.
#[instrument(skip_all, fields(stage = "gpconnect"))]
pub async fn handle(worker: &Worker, mut job: PrefetchJob) -> Result<Outcome, JobError> {
    let endpoint = match job.endpoint.clone() {
        Some(e) => e,
        None => super::sds::resolve_endpoint(worker, &mut job).await?,
    };
    let ssp_trace_id = uuid::Uuid::new_v4().to_string();
    let started = std::time::Instant::now();
    // PDS is read beside the GP Connect call, not after it: the cross-check costs a PDS
    // round trip of load, not of latency.
    let (fetched, pds) = tokio::join!(
        worker.nhs.gpconnect.get_structured_record(
            job.nhs_number,
            &endpoint,
            &job.requester,
            &ssp_trace_id
        ),
        async {
            match worker.config.demographic_check {
                true => super::sds::pds_demographics(worker, &job).await.map(Some),
                false => Ok(None),
            }
        }
    );
    let (outcome, detail) = match &fetched {
        Ok(_) => (AuditOutcome::Success, None),
        Err(e) => (
            if e.status() == Some(403) {
                AuditOutcome::Denied
            } else if e.status() == Some(404) {
                AuditOutcome::NotFound
            } else {
                AuditOutcome::Failed
            },
            Some(e.spine_code().unwrap_or("error").to_string()),
        ),
    };
    let mut event = AuditEvent::new(AuditKind::GpConnect, outcome, job.correlation_id.clone())
        .requester(&job.requester)
        .patient(job.nhs_number, worker.cache.patient_key(job.nhs_number))
        .ssp_trace_id(ssp_trace_id.clone())
        .document(job.unique_id.clone())
        .detail(format!("practice {}", endpoint.ods));
    if let Some(d) = detail {
        event = event.detail(format!("practice {}: {d}", endpoint.ods));
    }
    worker.audit.emit(event);
    let bundle = fetched.map_err(JobError::upstream)?;
    let pds = pds?;
    metrics::histogram!("xhuma_gpconnect_fetch_seconds").record(started.elapsed().as_secs_f64());

    let document_id = uuid_of_unique_id(&job.unique_id).unwrap_or_else(uuid::Uuid::new_v4);
    let now = OffsetDateTime::now_utc();
    let convert_started = std::time::Instant::now();
    let freshness = freshness_window(worker.config.redis.document_ttl);
    let expected = job.nhs_number.to_string();
    let conversion = tokio::task::spawn_blocking(move || {
        // The converter picks the job's patient among several Patients and refuses a record
        // about anyone else (the check below then only confirms what it found).
        let mut cx = xhuma_ccda::Context::new(now, document_id).for_patient(expected);
        // The document's caveat tells the clinician how stale a cached copy can be.
        cx.freshness_window = freshness;
        xhuma_ccda::convert(&bundle, &cx)
    })
    .await
    .map_err(|_| JobError::ConvertPanicked)?
    .map_err(|e| match e {
        xhuma_ccda::ConvertError::PatientMismatch => wrong_patient(&job.job_id),
        e => JobError::Convert(e),
    })?;
    metrics::histogram!("xhuma_conversion_seconds").record(convert_started.elapsed().as_secs_f64());
    metrics::histogram!("xhuma_conversion_output_bytes").record(conversion.xml.len() as f64);

    let report = conversion.report;
    // The hand-over check: the record's Patient must be the patient the job is for.
    let record_patient = report
        .nhs_number
        .as_deref()
        .and_then(|n| xhuma_common::NhsNumber::parse(n.trim()).ok());
    if record_patient != Some(job.nhs_number) {
        return Err(wrong_patient(&job.job_id));
    }
    if let Some(pds) = &pds
        && let Err(field) = super::crosscheck::check(pds, &report.demographics)
    {
        return Err(demographic_mismatch(worker, &job, &endpoint.ods, field));
    }
    let meta = DocumentMeta {
        unique_id: job.unique_id.clone(),
        entry_uuid: format!("urn:uuid:{document_id}"),
        nhs_number: job.nhs_number,
        created: now,
        sha1: hex_sha1(&conversion.xml),
        size: conversion.xml.len() as u64,
        patient_name: report.patient_name.clone(),
        practice_ods: report
            .practice_ods
            .clone()
            .unwrap_or_else(|| endpoint.ods.clone()),
        practice_name: report.practice_name.clone(),
        warnings: report.warnings.clone(),
        ssp_trace_id: Some(ssp_trace_id),
    };
    match worker
        .cache
        .store_document(&meta, &conversion.xml, job.owner())
        .await?
    {
        Stored::Current => Ok(Outcome::Cached),
        Stored::Superseded => Ok(Outcome::Superseded),
    }
}

/// GP Connect returned another patient's record: counted, logged without either number, and
/// dead-lettered by the caller.
fn wrong_patient(job_id: &impl std::fmt::Display) -> JobError {
    tracing::error!(job.id = %job_id, "GP Connect returned another patient's record");
    metrics::counter!("xhuma_wrong_patient_total", "stage" => "gpconnect").increment(1);
    JobError::WrongPatient
}

/// GP Connect's Patient is not the person PDS knows by that number (GEN-07): a security
/// alert in the audit trail, counted, logged by field only, and dead-lettered by the caller.
fn demographic_mismatch(
    worker: &Worker,
    job: &PrefetchJob,
    ods: &str,
    field: super::crosscheck::Mismatch,
) -> JobError {
    tracing::error!(
        job.id = %job.job_id,
        field = field.as_str(),
        "GP Connect record's demographics differ from PDS"
    );
    metrics::counter!("xhuma_demographic_mismatch_total", "field" => field.as_str()).increment(1);
    worker.audit.emit(
        AuditEvent::new(
            AuditKind::SecurityAlert,
            AuditOutcome::Denied,
            job.correlation_id.clone(),
        )
        .requester(&job.requester)
        .patient(job.nhs_number, worker.cache.patient_key(job.nhs_number))
        .document(job.unique_id.clone())
        .detail(format!(
            "practice {ods}: GP Connect record's {} differs from PDS (GEN-07)",
            field.as_str()
        )),
    );
    JobError::DemographicMismatch(field)
}

/// "4 hours", "90 minutes": the cache TTL as the document's data-freshness caveat says it.
fn freshness_window(ttl: std::time::Duration) -> String {
    let secs = ttl.as_secs().max(60);
    match (secs % 3600, secs / 3600, secs / 60) {
        (0, 1, _) => "1 hour".into(),
        (0, h, _) => format!("{h} hours"),
        (_, _, m) => format!("{m} minutes"),
    }
}

fn hex_sha1(bytes: &[u8]) -> String {
    let digest = Sha1::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_in_words() {
        use std::time::Duration;
        assert_eq!(freshness_window(Duration::from_secs(4 * 3600)), "4 hours");
        assert_eq!(freshness_window(Duration::from_secs(3600)), "1 hour");
        assert_eq!(freshness_window(Duration::from_secs(5400)), "90 minutes");
    }
}
