//! The SOAP 1.2 layer: bytes on the wire ↔ envelopes the ITI handlers read and write.
//!
//! Request: `app` → [`mtom::unpack`] (multipart only) → [`envelope::Envelope::parse`] (built on
//! [`element`], namespace-aware, DTD-free, bounded) → WS-A checks ([`wsa`]) → SAML
//! ([`saml`], XML-DSig verified) → `crate::iti`.
//!
//! Response: the ITI renderer's payload → [`reply_envelope`] (Action, MessageID, RelatesTo)
//! → plain `application/soap+xml`, or [`mtom::package`] when the request was MTOM, as a
//! [`payload::Payload`] of pieces (no copy of a document on the way). Failures
//! become a [`fault::Fault`] (chosen in `crate::error`).

pub mod element;
pub mod envelope;
pub mod fault;
pub mod markup;
pub mod mtom;
pub mod payload;
pub mod saml;
pub mod wsa;

use envelope::SOAP12_NS;
use markup::Markup;
use payload::Payload;
use wsa::WSA_NS;

/// Content-Type of a plain SOAP 1.2 message.
pub const SOAP_CONTENT_TYPE: &str = "application/soap+xml; charset=utf-8";

/// Wraps a rendered payload in a SOAP 1.2 envelope with the WS-Addressing reply headers (the
/// payload's pieces are kept, not copied).
pub fn reply_envelope(
    action: &str,
    message_id: &str,
    relates_to: &str,
    mut payload: Payload,
) -> Payload {
    let mut m = Markup::new();
    m.raw(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    m.open(
        "env:Envelope",
        &[("xmlns:env", SOAP12_NS), ("xmlns:wsa", WSA_NS)],
    );
    m.open("env:Header", &[]);
    m.leaf("wsa:Action", &[("env:mustUnderstand", "true")], action);
    m.leaf("wsa:MessageID", &[], message_id);
    m.leaf("wsa:RelatesTo", &[], relates_to);
    m.close("env:Header");
    m.open("env:Body", &[]);
    payload.prepend(m.take());
    m.close("env:Body");
    m.close("env:Envelope");
    payload.push(m.finish());
    payload
}

/// A fresh `urn:uuid:` message id.
pub fn new_message_id() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}
