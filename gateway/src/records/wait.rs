//! Bounded waits on prefetch jobs: register for the patient's completion signal, check the
//! cache, then sleep until the signal, the deadline or shutdown, and check again. A wait also
//! re-checks every [`RECHECK`] without a signal: the backstop for a completion published while
//! the subscription was dead and nobody had noticed yet (it is PINGed, see `completion.rs`).

use tokio::time::Instant;
use xhuma_common::NhsNumber;
use xhuma_common::cache::completion::RECHECK;
use xhuma_common::chain::Chain;
use xhuma_common::job::uuid_of_unique_id;

use super::{Records, record_wait, unavailable};
use crate::backend::{BackendError, Caller, Documents, Retrieved};

impl Records {
    /// Waits until the patient's document or failure lands, or the deadline passes.
    pub(super) async fn wait_for_patient(
        &self,
        nhs: NhsNumber,
        caller: &Caller,
        deadline: Instant,
        on_demand: bool,
    ) -> Result<Documents, BackendError> {
        let cache = &self.inner.cache;
        let pk = cache.patient_key(nhs);
        // Register before checking, re-check after every signal: no lost wake-ups.
        let mut signal = self.inner.completions.watch(&pk);
        let mut started = false;
        // The publish of the job this request started, until the broker confirms it.
        let mut published = None;
        let mut waited = false;
        let wait_started = std::time::Instant::now();
        loop {
            if let Some(meta) = cache.document_for(nhs).await.map_err(unavailable)? {
                record_wait(wait_started, if waited { "completed" } else { "hit" });
                return Ok(Documents::Ready(meta));
            }
            if let Some(failure) = cache.failure(nhs).await.map_err(unavailable)? {
                record_wait(wait_started, "failed");
                return Ok(Documents::Failed(failure));
            }
            match cache.lease(nhs).await.map_err(unavailable)? {
                Some(lease) if on_demand => {
                    record_wait(wait_started, "on_demand");
                    let entry_uuid = uuid_of_unique_id(&lease.unique_id)
                        .map(|u| format!("urn:uuid:{u}"))
                        .unwrap_or_else(|| format!("urn:uuid:{}", uuid::Uuid::new_v4()));
                    return Ok(Documents::Pending {
                        unique_id: lease.unique_id,
                        entry_uuid,
                    });
                }
                Some(_) => {}
                None if !started => {
                    started = true;
                    published = self.ensure_prefetch(nhs, caller, None).await?;
                    continue;
                }
                None => {}
            }
            waited = true;
            tokio::select! {
                changed = signal.changed() => {
                    if changed.is_err() {
                        // The sender was pruned; take a fresh receiver and re-check.
                        signal = self.inner.completions.watch(&pk);
                    }
                }
                confirmed = async {
                    match published.as_mut() {
                        Some(receiver) => receiver.await,
                        None => std::future::pending().await,
                    }
                } => {
                    published = None;
                    match confirmed {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => {
                            record_wait(wait_started, "unpublished");
                            return Err(BackendError::Unavailable(Chain(&error).to_string()));
                        }
                        Err(_) => {
                            record_wait(wait_started, "unpublished");
                            return Err(BackendError::Unavailable("the prefetch publish was dropped".into()));
                        }
                    }
                }
                _ = tokio::time::sleep(RECHECK) => {}
                _ = tokio::time::sleep_until(deadline) => {
                    record_wait(wait_started, "deadline");
                    return Err(BackendError::Busy);
                }
                _ = self.inner.shutdown.cancelled() => return Err(BackendError::ShuttingDown),
            }
        }
    }

    /// Retrieves one uniqueId, waiting when it was advertised On-Demand and is still in flight.
    pub(super) async fn retrieve_one(
        &self,
        unique_id: &str,
        deadline: Instant,
    ) -> Result<Retrieved, BackendError> {
        let cache = &self.inner.cache;
        if let Some((meta, doc)) = cache.document(unique_id).await.map_err(unavailable)? {
            return Ok(Retrieved::Found {
                meta,
                document: doc.into(),
            });
        }
        let Some(pk) = cache
            .pending_patient(unique_id)
            .await
            .map_err(unavailable)?
        else {
            return Ok(Retrieved::Unknown);
        };
        let mut signal = self.inner.completions.watch(&pk);
        loop {
            let state = cache.state_by_key(&pk).await.map_err(unavailable)?;
            if let Some((meta, doc)) = cache.document(unique_id).await.map_err(unavailable)? {
                return Ok(Retrieved::Found {
                    meta,
                    document: doc.into(),
                });
            }
            if let Some(failure) = state.failure {
                return Ok(Retrieved::Failed(failure));
            }
            if state.lease.is_none() {
                // Neither in flight nor produced under this id (expired or replaced).
                return Ok(Retrieved::Unknown);
            }
            tokio::select! {
                changed = signal.changed() => {
                    if changed.is_err() {
                        signal = self.inner.completions.watch(&pk);
                    }
                }
                _ = tokio::time::sleep(RECHECK) => {}
                _ = tokio::time::sleep_until(deadline) => return Err(BackendError::Busy),
                _ = self.inner.shutdown.cancelled() => return Err(BackendError::ShuttingDown),
            }
        }
    }
}
