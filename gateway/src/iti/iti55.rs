//! ITI-55 Cross Gateway Patient Discovery (XCPD), the step Epic drives.
//!
//! soap::envelope → [`discovery::parse`] → [`discovery::handle`] (PDS via the backend, which
//! enqueues the prefetch on a match) → [`discovery::render`] with the XCPD custodian.

use super::discovery::{self, Outcome};
use super::{Ctx, Iti, Reply};
use crate::error::GatewayError;
use crate::soap::envelope::Envelope;

pub async fn respond(env: &Envelope, cx: &Ctx<'_>) -> Result<Reply, GatewayError> {
    let query = discovery::parse(&env.payload)?;
    let outcome = discovery::handle(&query, cx).await?;
    Ok(Reply {
        action: Iti::Iti55.response_action(),
        payload: discovery::render(&query, &outcome, cx.config, true).into(),
        attachments: Vec::new(),
        outcome: outcome_label(&outcome),
    })
}

/// Metric label of a discovery outcome.
pub fn outcome_label(o: &Outcome) -> &'static str {
    match o {
        Outcome::Match(_) => "ok",
        Outcome::NoMatch => "no_match",
        Outcome::QueryError(_) => "query_error",
        Outcome::Error(_) => "backend_error",
    }
}
