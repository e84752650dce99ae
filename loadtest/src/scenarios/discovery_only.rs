//! `discovery_only`: ITI-55 alone, for patients no other scenario touched. Each discovery
//! reads PDS, takes the patient's lease and enqueues a prefetch job, so the workers run behind
//! this load; the run reports how long they take to drain it.

use goose::prelude::*;

use super::{Which, fail, next_patient, soap_call};
use crate::soap;

pub async fn run(user: &mut GooseUser) -> TransactionResult {
    let nhs = next_patient(Which::DiscoveryOnly)?;
    let (mut m, body) = soap_call(user, soap::ITI55_PATH, "ITI-55", soap::iti55(&nhs)).await?;
    if !soap::iti55_found(&body, &nhs) {
        return Err(fail(user, "ITI-55: patient not found (no AA)", &mut m));
    }
    Ok(())
}
