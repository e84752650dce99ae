//! Who is calling, and may they: the [`Caller`] every backend call carries.
//!
//! `app` calls [`admit`] with the parsed envelope. The identity comes from the SAML assertion
//! in `wsse:Security`, verified by [`SamlVerifier`] (XML-DSig, issuer, audience, validity,
//! lifetime, holder-of-key, purpose of use, the patient it names), or — only in a dev/sandbox
//! set-up where `XHUMA_SAML_REQUIRED=false` and the request has no assertion — from the
//! configured default requester. A signed message is then admitted once: its `wsa:MessageID`
//! and holder-of-key Timestamp signature are remembered (Redis `SET NX`, shared by every
//! gateway) until the message expires, and a second arrival is a replay. Every refusal is a
//! WS-Security fault and a security-alert audit event.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use xhuma_common::audit::RequestContext;
use xhuma_common::identity::DIRECT_CARE;

use crate::backend::{Backend, Caller, Refusal, SecurityAlert};
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::offload::{Offload, OffloadError};
use crate::soap::envelope::Envelope;
use crate::soap::saml::{SamlError, SamlVerifier, Scanned, VerifiedAssertion};

/// Where a request came from, as the connection says.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The client's address: the TCP peer, or the client a trusted proxy forwarded for.
    pub ip: Option<IpAddr>,
    /// The subject of the verified TLS client certificate, under mTLS.
    pub tls_client: Option<String>,
}

/// Longest `wsa:MessageID` kept as the correlation id.
const MAX_MESSAGE_ID: usize = 256;

/// The correlation id: the caller's `wsa:MessageID` when it is visible ASCII (a URI is), else a
/// fresh UUID. It travels as an HTTP header (`X-Correlation-ID`) to PDS, SDS and GP Connect,
/// where a control character would make the call fail before it is sent.
fn correlation_from(message_id: Option<&str>) -> String {
    match message_id {
        Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_graphic()) => m.to_string(),
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

/// The SAML check as far as `app` took it on the blocking pool, next to the envelope parse.
#[derive(Debug)]
pub enum SamlCheck {
    /// Done: the trees it built fitted the memory budget at once (an ordinary request).
    Done(Box<Result<Option<VerifiedAssertion>, SamlError>>),
    /// Scanned only: its trees must wait for room in the budget.
    Scanned(Scanned),
}

/// The SAML check, run where the envelope was just parsed (already on the blocking pool, so
/// an ordinary request needs no second hop): the pre-pass, then — when the memory budget has
/// room for its trees right now — the signatures and claims.
pub fn precheck(
    verifier: &SamlVerifier,
    offload: &Offload,
    envelope: &[u8],
    now: OffsetDateTime,
) -> SamlCheck {
    match SamlVerifier::scan(envelope) {
        Err(e) => SamlCheck::Done(Box::new(Err(e))),
        Ok(scanned) => match offload.try_memory(scanned.tree_bytes()) {
            Some(_room) => {
                SamlCheck::Done(Box::new(verifier.verify_scanned(envelope, scanned, now)))
            }
            None => SamlCheck::Scanned(scanned),
        },
    }
}

/// Verifies the request's credentials and builds its [`Caller`].
#[allow(clippy::too_many_arguments)]
pub async fn admit(
    env: &Envelope,
    check: SamlCheck,
    verifier: &Arc<SamlVerifier>,
    offload: &Offload,
    cfg: &GatewayConfig,
    backend: &dyn Backend,
    iti: &'static str,
    now: OffsetDateTime,
    peer: Peer,
) -> Result<Caller, GatewayError> {
    let message_id = env
        .addressing
        .message_id
        .clone()
        .filter(|m| m.len() <= MAX_MESSAGE_ID);
    let mut context = RequestContext {
        peer_address: peer.ip.map(|p| p.to_string()),
        tls_client_subject: peer.tls_client,
        message_id: message_id.clone(),
        ..RequestContext::default()
    };
    let refuse = |context: &RequestContext, refusal, caller: Option<&Caller>| {
        metrics::counter!("xhuma_security_refusals_total", "reason" => refusal_label(refusal))
            .increment(1);
        backend.security_alert(SecurityAlert {
            iti,
            refusal,
            caller,
            context,
            patient: None,
            document: None,
        });
    };
    let verified = match finish(check, verifier, offload, env.raw.clone(), now).await? {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "SAML assertion refused");
            refuse(&context, Refusal::Credentials(e.label()), None);
            return Err(GatewayError::Security(
                security_reason(&e),
                e.wsse_fault_code(),
            ));
        }
    };
    let correlation_id = correlation_from(message_id.as_deref());
    let Some(v) = verified else {
        return Ok(Caller {
            requester: cfg.default_requester.clone(),
            correlation_id,
            iti,
            patient: None,
            context,
        });
    };
    context.assertion_id = Some(v.assertion_id.clone());
    let mut requester = v.requester.clone();
    // Every accepted purpose of use is direct care, the one reason GP Connect allows.
    requester.reason_for_request = Some(DIRECT_CARE.to_string());
    let caller = Caller {
        requester,
        correlation_id,
        iti,
        patient: v.patient,
        context,
    };
    if v.signed {
        match first_arrival(&v, message_id.as_deref(), verifier, backend, now).await {
            Ok(()) => {}
            Err(Admission::Replay) => {
                tracing::warn!("Replayed message refused");
                refuse(&caller.context, Refusal::Replay, Some(&caller));
                return Err(GatewayError::Security(
                    "This message has already been received; a message may be sent only once.",
                    "FailedAuthentication",
                ));
            }
            Err(Admission::NoMessageId) => {
                refuse(
                    &caller.context,
                    Refusal::Credentials("wsa_message_id_missing"),
                    Some(&caller),
                );
                return Err(GatewayError::Security(
                    "A signed request must carry a wsa:MessageID.",
                    "InvalidSecurity",
                ));
            }
            Err(Admission::Unavailable) => return Err(GatewayError::ReplayGuardUnavailable),
        }
    }
    Ok(caller)
}

/// Checks the patient a transaction is about against the one the assertion names. A refusal
/// is audited as a security alert.
pub fn authorise_patient(
    caller: &Caller,
    backend: &dyn Backend,
    nhs: xhuma_common::NhsNumber,
) -> Result<(), GatewayError> {
    match caller.patient {
        Some(named) if named != nhs => {
            tracing::warn!("Request for a patient the assertion does not name refused");
            patient_mismatch(caller, backend, nhs, None);
            Err(GatewayError::PatientNotAuthorised)
        }
        _ => Ok(()),
    }
}

/// ITI-39: a document of patient `asked` was requested under an assertion naming another
/// patient. Audited as a security alert (the backend answers the request with a RegistryError).
pub fn deny_document(
    caller: &Caller,
    backend: &dyn Backend,
    asked: xhuma_common::NhsNumber,
    document: &str,
) {
    tracing::warn!("Retrieve of another patient's document refused");
    patient_mismatch(caller, backend, asked, Some(document));
}

/// Counts and audits a request for a patient the assertion does not name.
fn patient_mismatch(
    caller: &Caller,
    backend: &dyn Backend,
    asked: xhuma_common::NhsNumber,
    document: Option<&str>,
) {
    metrics::counter!(
        "xhuma_security_refusals_total",
        "reason" => refusal_label(Refusal::PatientMismatch)
    )
    .increment(1);
    backend.security_alert(SecurityAlert {
        iti: caller.iti,
        refusal: Refusal::PatientMismatch,
        caller: Some(caller),
        context: &caller.context,
        patient: Some(asked),
        document,
    });
}

/// The rest of the SAML check, on the blocking pool once the budget has room for the trees it
/// will build — the header tree and the signatures. The outer error is ours (the work
/// panicked), the inner one the caller's.
async fn finish(
    check: SamlCheck,
    verifier: &Arc<SamlVerifier>,
    offload: &Offload,
    raw: Bytes,
    now: OffsetDateTime,
) -> Result<Result<Option<VerifiedAssertion>, SamlError>, GatewayError> {
    let scanned = match check {
        SamlCheck::Done(result) => return Ok(*result),
        SamlCheck::Scanned(scanned) => scanned,
    };
    let verifier = verifier.clone();
    match offload
        .run(scanned.tree_bytes(), move || {
            verifier.verify_scanned(&raw, scanned, now)
        })
        .await
    {
        Ok(verified) => Ok(verified),
        // Configuration makes the budget fit the largest body, so this is a bug, not the
        // caller's fault.
        Err(e) => Err(offload_error(e)),
    }
}

fn offload_error(e: OffloadError) -> GatewayError {
    tracing::error!(error = %e, "SAML check could not run");
    GatewayError::Internal
}

enum Admission {
    Replay,
    NoMessageId,
    Unavailable,
}

/// The message's MessageID (per issuer) and holder-of-key Timestamp signature must never have
/// been seen; both are remembered until the message expires (plus the clock skew, the longest
/// a copy could still be accepted).
async fn first_arrival(
    v: &VerifiedAssertion,
    message_id: Option<&str>,
    verifier: &SamlVerifier,
    backend: &dyn Backend,
    now: OffsetDateTime,
) -> Result<(), Admission> {
    let message_id = message_id.ok_or(Admission::NoMessageId)?;
    let skew = verifier.config().clock_skew;
    let cap = verifier.config().max_lifetime + skew;
    let remaining = Duration::try_from(v.expires_at - now).unwrap_or_default();
    let ttl = (remaining + skew).clamp(Duration::from_secs(1), cap);
    let issuer = v.requester.issuer.as_deref().unwrap_or_default();
    let mut keys = vec![replay_key("mid", &[issuer, message_id])];
    if let Some(sig) = &v.timestamp_signature {
        keys.push(replay_key("ts", &[sig]));
    }
    for key in &keys {
        match backend.first_use(key, ttl).await {
            Ok(true) => {}
            Ok(false) => return Err(Admission::Replay),
            Err(error) => {
                tracing::warn!(%error, "Replay guard unavailable");
                return Err(Admission::Unavailable);
            }
        }
    }
    Ok(())
}

/// A fixed-length key: a hash of the parts (MessageIDs are caller-chosen text).
fn replay_key(kind: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{kind}:{hex}")
}

/// The label of a refusal: the metric's `reason` and the security alert's audit detail.
pub fn refusal_label(r: Refusal) -> &'static str {
    match r {
        Refusal::Credentials(label) => label,
        Refusal::Replay => "replay",
        Refusal::PatientMismatch => "patient_mismatch",
    }
}

/// The fixed sentence the caller reads.
fn security_reason(e: &SamlError) -> &'static str {
    match e {
        SamlError::Missing => "A SAML assertion is required in the WS-Security header.",
        SamlError::Expired | SamlError::NotYetValid | SamlError::StaleTimestamp => {
            "The SAML assertion or WS-Security timestamp is not within its validity period."
        }
        SamlError::Lifetime => {
            "The SAML assertion must carry NotOnOrAfter and be valid for no longer than this service allows."
        }
        SamlError::NoPatient => {
            "The SAML assertion must name the patient (resource-id with an NHS number)."
        }
        SamlError::PurposeRefused => "The SAML assertion's purpose of use is not accepted.",
        _ => "The SAML assertion was not accepted.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keys_are_fixed_length_and_unambiguous() {
        let a = replay_key("mid", &["ab", "c"]);
        let b = replay_key("mid", &["a", "bc"]);
        assert_ne!(a, b);
        assert_eq!(a.len(), "mid:".len() + 64);
    }

    #[test]
    fn a_message_id_with_control_characters_is_not_a_correlation_id() {
        assert_eq!(correlation_from(Some("urn:uuid:1234")), "urn:uuid:1234");
        for bad in ["urn:uuid:1\r\nX-Evil: 1", "a\u{7f}b", "with space", ""] {
            let c = correlation_from(Some(bad));
            assert_ne!(c, bad);
            assert!(uuid::Uuid::parse_str(&c).is_ok(), "{c}");
        }
    }
}
