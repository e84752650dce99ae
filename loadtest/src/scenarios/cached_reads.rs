//! `cached_reads`: ITI-38 + ITI-39 for patients whose documents are already in Redis: the
//! path most EHR traffic takes once prefetch has done its job. `warm` fills the cache first,
//! outside the measured window (for `iti38_reads` and `iti39_reads` too).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use goose::prelude::*;

use super::{Rows, Which, next_patient, read_record};
use crate::soap;

pub async fn run(user: &mut GooseUser) -> TransactionResult {
    let nhs = next_patient(Which::CachedReads)?;
    read_record(user, Rows::PLAIN, &nhs).await
}

/// Sends ITI-55 then ITI-38 for every patient, `concurrency` at a time, until each ITI-38
/// advertises a document (a few attempts each, bounded by `deadline`). Returns how long it took
/// and each patient's document uniqueId.
pub async fn warm(
    client: &reqwest::Client,
    gateway: &str,
    patients: &[String],
    concurrency: usize,
    deadline: Duration,
) -> anyhow::Result<(Duration, HashMap<String, String>)> {
    let started = Instant::now();
    let patients = Arc::new(patients.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, gateway, patients, next) = (
            client.clone(),
            gateway.to_owned(),
            patients.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            let mut found = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(nhs) = patients.get(i) else {
                    return Ok::<_, anyhow::Error>(found);
                };
                let unique_id = warm_one(&client, &gateway, nhs, started + deadline).await?;
                found.push((nhs.clone(), unique_id));
            }
        });
    }
    let mut documents = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        documents.extend(done.context("warm task")??);
    }
    Ok((started.elapsed(), documents))
}

async fn warm_one(
    client: &reqwest::Client,
    gateway: &str,
    nhs: &str,
    until: Instant,
) -> anyhow::Result<String> {
    let found = soap::post(client, gateway, soap::ITI55_PATH, soap::iti55(nhs)).await?;
    anyhow::ensure!(
        soap::iti55_found(&found, nhs),
        "warm: ITI-55 found no patient"
    );
    loop {
        let answer = soap::post(client, gateway, soap::ITI38_PATH, soap::iti38(nhs)).await?;
        if let Some(unique_id) = soap::iti38_unique_id(&answer) {
            return Ok(unique_id.to_owned());
        }
        anyhow::ensure!(
            Instant::now() < until,
            "warm: a patient's document was not cached in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
