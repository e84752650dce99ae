//! `ehr_flow`: what an EHR does for a patient it has never asked about: ITI-55 (discovery
//! starts the prefetch), ITI-38 (waits on the job if it is still in flight), ITI-39.

use goose::prelude::*;

use super::{Rows, Which, discover, next_patient, read_record};

pub async fn run(user: &mut GooseUser) -> TransactionResult {
    let nhs = next_patient(Which::EhrFlow)?;
    flow(user, Rows::PLAIN, &nhs).await
}

/// One patient's discovery, query and retrieve (also `mixed`'s `ehr_flow` user type).
pub async fn flow(user: &mut GooseUser, rows: Rows, nhs: &str) -> TransactionResult {
    discover(user, rows, nhs).await?;
    read_record(user, rows, nhs).await
}
