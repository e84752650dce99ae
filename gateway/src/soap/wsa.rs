//! WS-Addressing 1.0 headers of a request, and what we answer with.
//!
//! Read from the SOAP header by `envelope`; `app` checks [`Addressing::check_anonymous`] before
//! any work is done, and the reply envelope carries `Action`, a fresh `MessageID` and
//! `RelatesTo` = the request's `MessageID`. Xhuma answers synchronously only: a `ReplyTo` or
//! `FaultTo` naming any address but the anonymous one is refused and never called.

use super::element::Element;

pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
pub const ANONYMOUS: &str = "http://www.w3.org/2005/08/addressing/anonymous";
pub const NONE: &str = "http://www.w3.org/2005/08/addressing/none";
/// WS-A's value for a relationship to a message whose id is unknown.
pub const UNSPECIFIED: &str = "http://www.w3.org/2005/08/addressing/unspecified";

/// The WS-A message addressing properties of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addressing {
    pub action: Option<String>,
    pub message_id: Option<String>,
    pub to: Option<String>,
    pub reply_to: Option<String>,
    pub fault_to: Option<String>,
}

/// A `ReplyTo`/`FaultTo` we will not honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("only anonymous (synchronous) replies are supported")]
pub struct NotAnonymous;

// === impl Addressing ===

impl Addressing {
    /// Reads the WS-A headers among the children of `soap:Header`.
    pub fn from_header(header: Option<&Element>) -> Self {
        let Some(header) = header else {
            return Self::default();
        };
        let text = |local: &str| {
            header
                .child(WSA_NS, local)
                .map(|e| e.text_trimmed().to_string())
                .filter(|s| !s.is_empty())
        };
        let address = |local: &str| {
            header.child(WSA_NS, local).map(|e| {
                e.child(WSA_NS, "Address")
                    .map(|a| a.text_trimmed().to_string())
                    .unwrap_or_default()
            })
        };
        Self {
            action: text("Action"),
            message_id: text("MessageID"),
            to: text("To"),
            reply_to: address("ReplyTo"),
            fault_to: address("FaultTo"),
        }
    }

    /// Refuses a `ReplyTo` or `FaultTo` that is neither absent, anonymous nor `none`.
    pub fn check_anonymous(&self) -> Result<(), NotAnonymous> {
        for addr in [&self.reply_to, &self.fault_to].into_iter().flatten() {
            if addr != ANONYMOUS && addr != NONE {
                return Err(NotAnonymous);
            }
        }
        Ok(())
    }

    /// What the reply's `RelatesTo` carries.
    pub fn relates_to(&self) -> &str {
        self.message_id.as_deref().unwrap_or(UNSPECIFIED)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn header(inner: &str) -> Element {
        let xml = format!(r#"<h xmlns:a="{WSA_NS}">{inner}</h>"#);
        super::super::element::parse(xml.as_bytes(), Default::default(), &|_| None).unwrap()
    }

    #[test]
    fn reads_fields_and_refuses_callbacks() {
        let h = header(
            "<a:Action> urn:x </a:Action><a:MessageID>m1</a:MessageID>\
             <a:ReplyTo><a:Address>http://evil.example/</a:Address></a:ReplyTo>",
        );
        let a = Addressing::from_header(Some(&h));
        assert_eq!(a.action.as_deref(), Some("urn:x"));
        assert_eq!(a.relates_to(), "m1");
        assert_eq!(a.check_anonymous(), Err(NotAnonymous));
        let h = header(&format!(
            "<a:ReplyTo><a:Address>{ANONYMOUS}</a:Address></a:ReplyTo>"
        ));
        let a = Addressing::from_header(Some(&h));
        assert!(a.check_anonymous().is_ok());
        assert_eq!(a.relates_to(), UNSPECIFIED);
    }
}
