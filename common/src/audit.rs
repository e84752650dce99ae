//! Audit events: who read which patient's record, how, and with what outcome.
//!
//! The gateway (every ITI-55/47/38/39 transaction) and the workers (every PDS lookup and
//! GP Connect call) build an [`AuditEvent`] and hand it to an [`AuditSink`], which publishes
//! it, with whatever other events are waiting, as one persistent message with a confirm to
//! the durable `P.audit` queue. The audit consumer (`xhuma-audit`,
//! `workers/audit`) writes it to PostgreSQL and, when configured, sends it as an IHE ATNA
//! message over syslog.
//!
//! Unlike logs, the audit trail is a deliberate record: it carries the NHS number (needed to
//! answer "who read this patient's record") beside the pseudonymous `patient_key`, and the
//! requester from the verified SAML assertion. `detail` must stay short and safe: an error
//! kind, never an upstream body or a name.
//!
//! ```ignore
//! audit.emit(
//!     AuditEvent::new(AuditKind::Iti38, AuditOutcome::Success, &message_id)
//!         .requester(&requester)
//!         .patient(nhs, cache.patient_key(nhs))
//!         .document(&doc.unique_id),
//! );
//! ```

mod sink;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub use sink::{AuditSink, DEFAULT_CAPACITY, MAX_BATCH};

/// AMQP header on an audit message: how many events its JSON array holds.
pub const HEADER_AUDIT_EVENTS: &str = "x-xhuma-audit-events";

/// The events of one `P.audit` message: a JSON array of them (what [`AuditSink`] publishes),
/// or a single event (what earlier versions published, still read during an upgrade).
pub fn decode_message(body: &[u8]) -> Result<Vec<AuditEvent>, serde_json::Error> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        serde_json::from_slice(body)
    } else {
        serde_json::from_slice(body).map(|event| vec![event])
    }
}

use crate::NhsNumber;
use crate::identity::Requester;

/// The longest `detail` kept; longer text is cut (on a character boundary) when set through
/// [`AuditEvent::detail`].
pub const MAX_DETAIL_CHARS: usize = 512;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// ITI-55 Cross-Gateway Patient Discovery (gateway).
    Iti55,
    /// ITI-47 Patient Demographics Query HL7v3 (gateway).
    Iti47,
    /// ITI-38 Cross-Gateway Query (gateway).
    Iti38,
    /// ITI-39 Cross-Gateway Retrieve (gateway).
    Iti39,
    /// A GP Connect Access Record Structured call (worker).
    GpConnect,
    /// A PDS lookup (gateway or worker).
    PdsLookup,
    /// A request refused at the edge (bad or replayed SAML, a patient the assertion does not
    /// name, a purpose of use not allowed): an ATNA Security Alert.
    SecurityAlert,
}

/// How it ended. Detail goes in [`AuditEvent::detail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// The data asked for was returned.
    Success,
    /// Nothing matched (no patient, no document).
    NotFound,
    /// Refused: access not permitted (restricted record, consent, authorisation).
    Denied,
    /// The request itself was invalid (malformed message, bad NHS number).
    Invalid,
    /// A failure on our side or upstream.
    Failed,
}

/// One audited action. Serialised as JSON on the `P.audit` queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unique id of this event; the store's primary key, so a redelivered event is written once.
    pub id: Uuid,
    /// When the action ended.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub kind: AuditKind,
    pub outcome: AuditOutcome,
    /// Who asked (from the verified SAML assertion, or the configured system identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<Requester>,
    /// The patient, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nhs_number: Option<NhsNumber>,
    /// The pseudonymous patient key (`Cache::patient_key`), the one logs carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_key: Option<String>,
    /// The request's correlation id (the SOAP `wsa:MessageID` or the job's correlation id).
    pub correlation_id: String,
    /// `Ssp-TraceID` of the GP Connect call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssp_trace_id: Option<String>,
    /// The OpenTelemetry trace id, when a trace is being recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The C-CDA document's `uniqueId` (ITI-38 entries, ITI-39 retrieves, conversions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_unique_id: Option<String>,
    /// Which process recorded it: `gateway@host`, `worker@host`. Filled by the sink when empty.
    #[serde(default)]
    pub source: String,
    /// A short, safe detail: an error kind or a status, never an upstream body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Where an inbound request came from and which credentials it carried (gateway events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestContext>,
}

/// The network and credential facts of one inbound SOAP request, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RequestContext {
    /// The TCP peer (IP address) the request came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_address: Option<String>,
    /// The subject of the TLS client certificate, under mTLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_subject: Option<String>,
    /// The SAML assertion's `ID` (its issuer and purpose of use are in the requester).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion_id: Option<String>,
    /// The request's `wsa:MessageID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

// === impl AuditKind ===

impl AuditKind {
    pub const ALL: [AuditKind; 7] = [
        AuditKind::Iti55,
        AuditKind::Iti47,
        AuditKind::Iti38,
        AuditKind::Iti39,
        AuditKind::GpConnect,
        AuditKind::PdsLookup,
        AuditKind::SecurityAlert,
    ];

    /// The stored and serialised name (`iti55`, `gp_connect`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Iti55 => "iti55",
            AuditKind::Iti47 => "iti47",
            AuditKind::Iti38 => "iti38",
            AuditKind::Iti39 => "iti39",
            AuditKind::GpConnect => "gp_connect",
            AuditKind::PdsLookup => "pds_lookup",
            AuditKind::SecurityAlert => "security_alert",
        }
    }
}

// === impl AuditOutcome ===

impl AuditOutcome {
    pub const ALL: [AuditOutcome; 5] = [
        AuditOutcome::Success,
        AuditOutcome::NotFound,
        AuditOutcome::Denied,
        AuditOutcome::Invalid,
        AuditOutcome::Failed,
    ];

    /// The stored and serialised name (`success`, `not_found`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::NotFound => "not_found",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Invalid => "invalid",
            AuditOutcome::Failed => "failed",
        }
    }
}

// === impl AuditEvent ===

impl AuditEvent {
    /// A new event with a fresh time-ordered id, stamped now; the rest is set with the builder
    /// methods below.
    pub fn new(kind: AuditKind, outcome: AuditOutcome, correlation_id: impl Into<String>) -> Self {
        Self {
            id: Uuid::now_v7(),
            at: OffsetDateTime::now_utc(),
            kind,
            outcome,
            requester: None,
            nhs_number: None,
            patient_key: None,
            correlation_id: correlation_id.into(),
            ssp_trace_id: None,
            trace_id: None,
            document_unique_id: None,
            source: String::new(),
            detail: None,
            request: None,
        }
    }

    /// Where the request came from and which credentials it carried.
    pub fn request(mut self, request: &RequestContext) -> Self {
        self.request = Some(request.clone());
        self
    }

    pub fn requester(mut self, requester: &Requester) -> Self {
        self.requester = Some(requester.clone());
        self
    }

    /// The patient and their pseudonymous key.
    pub fn patient(mut self, nhs_number: NhsNumber, patient_key: impl Into<String>) -> Self {
        self.nhs_number = Some(nhs_number);
        self.patient_key = Some(patient_key.into());
        self
    }

    pub fn ssp_trace_id(mut self, ssp_trace_id: impl Into<String>) -> Self {
        self.ssp_trace_id = Some(ssp_trace_id.into());
        self
    }

    pub fn trace_id(mut self, trace_id: impl Into<String>) -> Self {
        self.trace_id = Some(trace_id.into());
        self
    }

    pub fn document(mut self, document_unique_id: impl Into<String>) -> Self {
        self.document_unique_id = Some(document_unique_id.into());
        self
    }

    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// A short, safe detail (an error kind, an HTTP status), cut to [`MAX_DETAIL_CHARS`].
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        let mut detail: String = detail.into();
        if let Some((cut, _)) = detail.char_indices().nth(MAX_DETAIL_CHARS) {
            detail.truncate(cut);
        }
        self.detail = Some(detail);
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_names() {
        let nhs = NhsNumber::parse("9690937278").unwrap();
        let event = AuditEvent::new(AuditKind::GpConnect, AuditOutcome::NotFound, "corr-1")
            .patient(nhs, "pk")
            .ssp_trace_id("ssp")
            .request(&RequestContext {
                peer_address: Some("127.0.0.1".into()),
                assertion_id: Some("_a1".into()),
                ..RequestContext::default()
            })
            .detail("x".repeat(2 * MAX_DETAIL_CHARS));
        assert_eq!(
            event.detail.as_deref().map(str::len),
            Some(MAX_DETAIL_CHARS)
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "gp_connect");
        assert_eq!(json["outcome"], "not_found");
        assert_eq!(json["nhs_number"], "9690937278");
        let back: AuditEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        for kind in AuditKind::ALL {
            let s = serde_json::to_value(kind).unwrap();
            assert_eq!(s, kind.as_str());
        }
        for outcome in AuditOutcome::ALL {
            let s = serde_json::to_value(outcome).unwrap();
            assert_eq!(s, outcome.as_str());
        }
    }
}
