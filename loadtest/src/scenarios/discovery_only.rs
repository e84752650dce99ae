//! `discovery_only`: ITI-55 alone, for patients no other scenario touched. Each discovery
//! reads PDS, takes the patient's lease and enqueues a prefetch job, so the workers run behind
//! this load; the run reports how long they take to drain it.

use goose::prelude::*;

use super::{Rows, Which, discover, next_patient};

pub async fn run(user: &mut GooseUser) -> TransactionResult {
    let nhs = next_patient(Which::DiscoveryOnly)?;
    discover(user, Rows::PLAIN, &nhs).await
}
