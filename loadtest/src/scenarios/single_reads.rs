//! `iti38_reads` and `iti39_reads`: ITI-38 alone, or ITI-39 alone, for patients warmed before
//! the window (the same warm-up as `cached_reads`, which also noted each document's uniqueId).
//! One path per run, so the report's CPU per request is that path's own cost.
//!
//! With `--presign N` the first N requests are built (and, with `--signed`, signed) before the
//! window and handed out in order, so that the load generator's ~2 ms of RSA signing per
//! request stays off the two cores while the gateway is measured; when the pool runs dry the
//! rest are signed as they are sent, as without it.

use std::collections::VecDeque;
use std::sync::Mutex;

use goose::prelude::*;

use super::{Which, document_of, fail, next_patient, soap_call};
use crate::soap;

/// Requests built before the window: (patient, envelope), taken from the front.
static POOL: Mutex<VecDeque<(String, String)>> = Mutex::new(VecDeque::new());

/// Builds `count` requests of `which` before the window, over `patients` in turn, on every core.
/// Returns how many were built.
pub fn presign(which: Which, patients: &[String], count: usize) -> anyhow::Result<usize> {
    anyhow::ensure!(
        matches!(which, Which::Iti38Reads | Which::Iti39Reads),
        "--presign is for iti38_reads and iti39_reads"
    );
    anyhow::ensure!(!patients.is_empty(), "--presign: no patients");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let built: Vec<anyhow::Result<Vec<(String, String)>>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..count)
                        .step_by(threads)
                        .map(|i| {
                            let nhs = &patients[i % patients.len()];
                            Ok((nhs.clone(), build(which, nhs)?))
                        })
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a presign thread panicked")))
            })
            .collect()
    });
    let mut pool = POOL
        .lock()
        .map_err(|_| anyhow::anyhow!("presign pool poisoned"))?;
    for part in built {
        pool.extend(part?);
    }
    Ok(pool.len())
}

/// One request of `which` for `nhs` (signed when `--signed`).
fn build(which: Which, nhs: &str) -> anyhow::Result<String> {
    Ok(match which {
        Which::Iti39Reads => {
            let unique_id = document_of(nhs)
                .map_err(|_| anyhow::anyhow!("no warmed document for a presign patient"))?;
            soap::iti39(nhs, unique_id)
        }
        _ => soap::iti38(nhs),
    })
}

/// The next request: from the pool while it lasts, else built now.
fn next_request(which: Which) -> Result<String, Box<TransactionError>> {
    if let Some((_, body)) = POOL.lock().ok().and_then(|mut p| p.pop_front()) {
        return Ok(body);
    }
    let nhs = next_patient(which)?;
    build(which, &nhs).map_err(|e| Box::new(TransactionError::Custom(e.to_string())))
}

pub async fn iti38(user: &mut GooseUser) -> TransactionResult {
    let body = next_request(Which::Iti38Reads)?;
    let (mut m, answer) = soap_call(user, soap::ITI38_PATH, "ITI-38", body).await?;
    if soap::iti38_unique_id(&answer).is_none() {
        return Err(fail(user, "ITI-38: no document uniqueId", &mut m));
    }
    Ok(())
}

pub async fn iti39(user: &mut GooseUser) -> TransactionResult {
    let body = next_request(Which::Iti39Reads)?;
    let (mut m, answer) = soap_call(user, soap::ITI39_PATH, "ITI-39", body).await?;
    if !soap::iti39_has_ccda(&answer) {
        return Err(fail(user, "ITI-39: no C-CDA document", &mut m));
    }
    Ok(())
}
