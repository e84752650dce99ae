//! The four IHE transactions, routed by `wsa:Action`.
//!
//! `app` hands over a checked [`Envelope`] and the [`Caller`]; [`dispatch`] picks the
//! transaction and each module runs `parse` (payload → typed request) → `handle` (calls the
//! [`Backend`]) → `render` (typed response → payload XML). The result is a [`Reply`] that
//! `app` wraps in an envelope (or MTOM package).

pub mod discovery;
pub mod iti38;
pub mod iti39;
pub mod iti47;
pub mod iti55;
pub mod registry;

use crate::backend::{Backend, Caller};
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::soap::envelope::Envelope;
use crate::soap::mtom::Attachment;
use crate::soap::payload::Payload;

/// One of the transactions this gateway responds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iti {
    /// XCPD Cross Gateway Patient Discovery (what Epic uses).
    Iti55,
    /// PDQv3 Patient Demographics Query.
    Iti47,
    /// XCA Cross Gateway Query.
    Iti38,
    /// XCA Cross Gateway Retrieve.
    Iti39,
}

/// What a transaction answers: the response Action, the Body payload, and binary parts for
/// an MTOM response (ITI-39 documents).
#[derive(Debug, Clone)]
pub struct Reply {
    pub action: &'static str,
    pub payload: Payload,
    /// When non-empty, the payload refers to these with `xop:Include`.
    pub attachments: Vec<Attachment>,
    /// Low-cardinality outcome for metrics (`ok`, `no_match`, `registry_error`, …).
    pub outcome: &'static str,
}

/// What every handler gets besides the envelope.
pub struct Ctx<'a> {
    pub config: &'a GatewayConfig,
    pub backend: &'a dyn Backend,
    pub caller: &'a Caller,
    /// True when documents should travel as MTOM attachments (ITI-39).
    pub mtom: bool,
}

// === impl Iti ===

impl Iti {
    pub const ALL: [Iti; 4] = [Iti::Iti55, Iti::Iti47, Iti::Iti38, Iti::Iti39];

    /// The request `wsa:Action`.
    pub fn request_action(self) -> &'static str {
        match self {
            Iti::Iti55 => "urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery",
            Iti::Iti47 => "urn:hl7-org:v3:PRPA_IN201305UV02",
            Iti::Iti38 => "urn:ihe:iti:2007:CrossGatewayQuery",
            Iti::Iti39 => "urn:ihe:iti:2007:CrossGatewayRetrieve",
        }
    }

    /// The response `wsa:Action`.
    pub fn response_action(self) -> &'static str {
        match self {
            Iti::Iti55 => "urn:hl7-org:v3:PRPA_IN201306UV02:CrossGatewayPatientDiscovery",
            Iti::Iti47 => "urn:hl7-org:v3:PRPA_IN201306UV02",
            Iti::Iti38 => "urn:ihe:iti:2007:CrossGatewayQueryResponse",
            Iti::Iti39 => "urn:ihe:iti:2007:CrossGatewayRetrieveResponse",
        }
    }

    /// The transaction a request Action names.
    pub fn from_action(action: &str) -> Option<Iti> {
        let action = action.trim();
        Self::ALL.into_iter().find(|i| i.request_action() == action)
    }

    /// Metric / span label.
    pub fn as_str(self) -> &'static str {
        match self {
            Iti::Iti55 => "iti55",
            Iti::Iti47 => "iti47",
            Iti::Iti38 => "iti38",
            Iti::Iti39 => "iti39",
        }
    }

    /// Picks the transaction for a request. On an ITI-specific path (Epic's `/SOAP/iti55`…)
    /// a missing Action means that path's transaction; a different Action is refused. On the
    /// generic endpoint the Action decides.
    pub fn select(path: Option<Iti>, action: Option<&str>) -> Result<Iti, GatewayError> {
        match (path, action) {
            (Some(p), None) => Ok(p),
            (Some(p), Some(a)) if Iti::from_action(a) == Some(p) => Ok(p),
            (Some(_), Some(_)) => Err(GatewayError::ActionNotSupported),
            (None, Some(a)) => Iti::from_action(a).ok_or(GatewayError::ActionNotSupported),
            (None, None) => Err(GatewayError::ActionMissing),
        }
    }
}

/// Runs one transaction.
pub async fn dispatch(iti: Iti, env: &Envelope, cx: &Ctx<'_>) -> Result<Reply, GatewayError> {
    match iti {
        Iti::Iti55 => iti55::respond(env, cx).await,
        Iti::Iti47 => iti47::respond(env, cx).await,
        Iti::Iti38 => iti38::respond(env, cx).await,
        Iti::Iti39 => iti39::respond(env, cx).await,
    }
}
