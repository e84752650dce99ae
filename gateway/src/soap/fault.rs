//! SOAP 1.2 Faults.
//!
//! `crate::error` decides which [`Fault`] a failure becomes; this module only writes it. The
//! reason is always one of our fixed, safe sentences: no request content, no internal error
//! text. HTTP status follows the SOAP 1.2 HTTP binding (Sender → 400, Receiver → 500), with
//! 413 for oversized bodies and 503 while shutting down.

use http::StatusCode;

use super::envelope::SOAP12_NS;
use super::markup::{Markup, escape};
use super::wsa::WSA_NS;

pub const FAULT_ACTION: &str = "http://www.w3.org/2005/08/addressing/soap/fault";

/// The top-level SOAP 1.2 fault codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    VersionMismatch,
    MustUnderstand,
    Sender,
    Receiver,
}

/// A SOAP 1.2 Fault ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: FaultCode,
    /// Optional subcode as (namespace, local name), e.g. WS-A's `ActionNotSupported`.
    pub subcode: Option<(&'static str, &'static str)>,
    /// A fixed, safe English sentence.
    pub reason: &'static str,
    pub status: StatusCode,
}

// === impl Fault ===

impl Fault {
    pub fn sender(reason: &'static str) -> Self {
        Self {
            code: FaultCode::Sender,
            subcode: None,
            reason,
            status: StatusCode::BAD_REQUEST,
        }
    }

    pub fn receiver(reason: &'static str) -> Self {
        Self {
            code: FaultCode::Receiver,
            subcode: None,
            reason,
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn with_subcode(mut self, ns: &'static str, local: &'static str) -> Self {
        self.subcode = Some((ns, local));
        self
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The fault envelope. `relates_to` is the request's MessageID when it could be read.
    pub fn to_xml(&self, message_id: &str, relates_to: Option<&str>) -> String {
        let code = match self.code {
            FaultCode::VersionMismatch => "env:VersionMismatch",
            FaultCode::MustUnderstand => "env:MustUnderstand",
            FaultCode::Sender => "env:Sender",
            FaultCode::Receiver => "env:Receiver",
        };
        let mut m = Markup::new();
        m.raw(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        m.open(
            "env:Envelope",
            &[("xmlns:env", SOAP12_NS), ("xmlns:wsa", WSA_NS)],
        );
        m.open("env:Header", &[]);
        if self.code == FaultCode::VersionMismatch {
            m.open("env:Upgrade", &[]);
            m.empty(
                "env:SupportedEnvelope",
                &[("qname", "ns1:Envelope"), ("xmlns:ns1", SOAP12_NS)],
            );
            m.close("env:Upgrade");
        }
        m.leaf("wsa:Action", &[], FAULT_ACTION);
        m.leaf("wsa:MessageID", &[], message_id);
        if let Some(r) = relates_to {
            m.leaf("wsa:RelatesTo", &[], r);
        }
        m.close("env:Header");
        m.open("env:Body", &[]);
        m.open("env:Fault", &[]);
        m.open("env:Code", &[]);
        m.leaf("env:Value", &[], code);
        if let Some((ns, local)) = self.subcode {
            let mut sub = Markup::new();
            sub.raw(&format!(
                "<env:Subcode><env:Value xmlns:sc=\"{}\">sc:{}</env:Value></env:Subcode>",
                escape(ns),
                escape(local)
            ));
            m.raw(&sub.finish());
        }
        m.close("env:Code");
        m.open("env:Reason", &[]);
        m.leaf("env:Text", &[("xml:lang", "en")], self.reason);
        m.close("env:Reason");
        m.close("env:Fault");
        m.close("env:Body");
        m.close("env:Envelope");
        m.finish()
    }
}
