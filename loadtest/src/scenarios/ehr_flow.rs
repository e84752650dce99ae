//! `ehr_flow`: what an EHR does for a patient it has never asked about: ITI-55 (discovery
//! starts the prefetch), ITI-38 (waits on the job if it is still in flight), ITI-39.

use goose::prelude::*;

use super::{Which, fail, next_patient, read_record, soap_call};
use crate::soap;

pub async fn run(user: &mut GooseUser) -> TransactionResult {
    let nhs = next_patient(Which::EhrFlow)?;
    let (mut m, body) = soap_call(user, soap::ITI55_PATH, "ITI-55", soap::iti55(&nhs)).await?;
    if !soap::iti55_found(&body, &nhs) {
        return Err(fail(user, "ITI-55: patient not found (no AA)", &mut m));
    }
    read_record(user, &nhs).await
}
