//! ITI-47 Patient Demographics Query (PDQv3): the same lookup as ITI-55 with the PDQ
//! Action, and without the XCPD custodian code.
//!
//! soap::envelope → [`discovery::parse`] → [`discovery::handle`] → [`discovery::render`].

use super::discovery;
use super::iti55::outcome_label;
use super::{Ctx, Iti, Reply};
use crate::error::GatewayError;
use crate::soap::envelope::Envelope;

pub async fn respond(env: &Envelope, cx: &Ctx<'_>) -> Result<Reply, GatewayError> {
    let query = discovery::parse(&env.payload)?;
    let outcome = discovery::handle(&query, cx).await?;
    Ok(Reply {
        action: Iti::Iti47.response_action(),
        payload: discovery::render(&query, &outcome, cx.config, false).into(),
        attachments: Vec::new(),
        outcome: outcome_label(&outcome),
    })
}
