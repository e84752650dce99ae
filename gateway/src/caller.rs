//! Who is calling: the requester identity every backend call carries.
//!
//! `app` calls [`resolve`] with the parsed envelope. The identity comes from the SAML
//! assertion in `wsse:Security`, verified by [`SamlVerifier`] (XML-DSig, issuer, audience,
//! validity, holder-of-key), or — only when `XHUMA_SAML_REQUIRED=false` and the request has
//! no assertion — from the configured default requester. The correlation id is the request's
//! `wsa:MessageID` (or a new UUID).

use time::OffsetDateTime;

use crate::backend::Caller;
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::soap::envelope::Envelope;
use crate::soap::saml::{SamlError, SamlVerifier};

/// Builds the [`Caller`] for a request.
pub fn resolve(
    env: &Envelope,
    verifier: &SamlVerifier,
    cfg: &GatewayConfig,
    iti: &'static str,
    now: OffsetDateTime,
) -> Result<Caller, GatewayError> {
    let requester = match verifier.verify(&env.raw, now) {
        Ok(Some(r)) => r,
        Ok(None) => cfg.default_requester.clone(),
        Err(e) => {
            tracing::warn!(error = %e, "SAML assertion refused");
            return Err(GatewayError::Security(
                security_reason(&e),
                e.wsse_fault_code(),
            ));
        }
    };
    let correlation_id = env
        .addressing
        .message_id
        .clone()
        .filter(|m| m.len() <= 256)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    Ok(Caller {
        requester,
        correlation_id,
        iti,
    })
}

/// The fixed sentence the caller reads.
fn security_reason(e: &SamlError) -> &'static str {
    match e {
        SamlError::Missing => "A SAML assertion is required in the WS-Security header.",
        SamlError::Expired | SamlError::NotYetValid | SamlError::StaleTimestamp => {
            "The SAML assertion or WS-Security timestamp is not within its validity period."
        }
        _ => "The SAML assertion was not accepted.",
    }
}
