//! A SOAP 1.2 request envelope: header fields we act on and the single Body child.
//!
//! Bytes come from `app` (a plain `application/soap+xml` body, or the root part `mtom`
//! unpacked); the [`Envelope`] goes to `iti`, whose parsers read the Body payload, and to the
//! SAML verifier, which gets the raw bytes and the byte range of `wsse:Security`.

use std::ops::Range;

use bytes::Bytes;

use super::element::{self, Element, Limits, XmlError};
use super::wsa::{Addressing, WSA_NS};

pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

/// Why a request is not an envelope we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("SOAP 1.1 envelopes are not supported; use SOAP 1.2")]
    Soap11,
    #[error("the document is not a SOAP envelope")]
    NotAnEnvelope,
    #[error("the SOAP Body must contain exactly one element")]
    BodyShape,
    /// A header block marked `mustUnderstand` that we do not process ({ns}local).
    #[error("a mandatory header is not understood")]
    MustUnderstand { ns: String, local: String },
}

/// A parsed SOAP 1.2 request.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The envelope bytes as received (for the SAML verifier's canonicalisation).
    pub raw: Bytes,
    pub header: Option<Element>,
    /// The one child of `soap:Body`.
    pub payload: Element,
    pub addressing: Addressing,
    /// Byte range of the `wsse:Security` header in [`Envelope::raw`], if present.
    pub security: Option<Range<usize>>,
}

// === impl Envelope ===

impl Envelope {
    /// Parses and checks an envelope. `resolve_include` resolves MTOM `xop:Include` hrefs.
    pub fn parse(
        raw: Bytes,
        limits: Limits,
        resolve_include: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, EnvelopeError> {
        let size = raw.len();
        Self::parse_within(raw, size, limits, resolve_include)
    }

    /// [`Self::parse`] for the root part of an MTOM message of `message_bytes` (the budget of
    /// included parts is twice that).
    pub fn parse_within(
        raw: Bytes,
        message_bytes: usize,
        limits: Limits,
        resolve_include: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, EnvelopeError> {
        let root = element::parse_within(&raw, message_bytes, limits, resolve_include)?;
        if root.local == "Envelope" && &*root.ns == SOAP11_NS {
            return Err(EnvelopeError::Soap11);
        }
        if !root.is(SOAP12_NS, "Envelope") {
            return Err(EnvelopeError::NotAnEnvelope);
        }
        let mut header = None;
        let mut body = None;
        for child in root.children {
            match (&*child.ns, child.local.as_str()) {
                (SOAP12_NS, "Header") if header.is_none() && body.is_none() => header = Some(child),
                (SOAP12_NS, "Body") if body.is_none() => body = Some(child),
                _ => return Err(EnvelopeError::NotAnEnvelope),
            }
        }
        let mut body = body.ok_or(EnvelopeError::NotAnEnvelope)?;
        if body.children.len() != 1 || !body.text.trim().is_empty() {
            return Err(EnvelopeError::BodyShape);
        }
        let payload = body.children.remove(0);
        if let Some(h) = &header {
            check_must_understand(h)?;
        }
        let security = header
            .as_ref()
            .and_then(|h| h.child(WSSE_NS, "Security"))
            .map(|s| s.span.clone());
        let addressing = Addressing::from_header(header.as_ref());
        Ok(Self {
            raw,
            header,
            payload,
            addressing,
            security,
        })
    }

    /// The raw bytes of the `wsse:Security` header, if any.
    pub fn security_bytes(&self) -> Option<&[u8]> {
        self.security.as_ref().and_then(|r| self.raw.get(r.clone()))
    }
}

/// SOAP 1.2 §5.2.3: a header block targeted at us with `mustUnderstand="true"` that we do
/// not process is a `env:MustUnderstand` fault. We process WS-Addressing and WS-Security.
fn check_must_understand(header: &Element) -> Result<(), EnvelopeError> {
    for block in &header.children {
        let must = matches!(
            block.attr_ns(SOAP12_NS, "mustUnderstand").map(str::trim),
            Some("1" | "true")
        );
        let role = block.attr_ns(SOAP12_NS, "role").unwrap_or("");
        let ignored_role = role == "http://www.w3.org/2003/05/soap-envelope/role/none";
        let understood = [WSA_NS, WSSE_NS, WSU_NS].contains(&&*block.ns);
        if must && !ignored_role && !understood {
            return Err(EnvelopeError::MustUnderstand {
                ns: block.ns.to_string(),
                local: block.local.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
