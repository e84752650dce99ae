//! The cryptographic check, delegated to libxmlsec1 (through the `xmlsec` bindings) over a
//! libxml2 parse of the same envelope bytes.
//!
//! Signatures are verified where they sit, so exclusive canonicalisation sees exactly what the
//! signer saw. Before this runs, [`super::policy`] has pinned each signature's shape: one
//! same-document reference to a known ID, only enveloped-signature / exc-c14n transforms, known
//! algorithms. The key is always set by us (a pinned certificate, or the holder-of-key key from
//! the verified assertion); `ds:KeyInfo` in the message is never used to find a key.

use std::panic::{AssertUnwindSafe, catch_unwind};

use libxml::parser::{Parser, ParserOptions};
use libxml::tree::{Document, Node};
use libxml::xpath::Context;
use xmlsec::{XmlSecDocumentExt, XmlSecKey, XmlSecKeyFormat, XmlSecSignatureContext};

use super::SamlError;
use super::ns;

const ASSERTION_XPATH: &str = "/soap:Envelope/soap:Header/wsse:Security/saml2:Assertion";
const ASSERTION_SIG_XPATH: &str =
    "/soap:Envelope/soap:Header/wsse:Security/saml2:Assertion/ds:Signature";
const HEADER_SIG_XPATH: &str = "/soap:Envelope/soap:Header/wsse:Security/ds:Signature";

const PREFIXES: [(&str, &str); 5] = [
    ("soap", ns::SOAP12),
    ("wsse", ns::WSSE),
    ("wsu", ns::WSU),
    ("saml2", ns::SAML2),
    ("ds", ns::DS),
];

/// Public key material we hand to libxmlsec1.
#[derive(Debug, Clone)]
pub(super) enum KeyMaterial {
    /// An X.509 certificate (DER); its public key is used, the certificate itself is not checked.
    CertDer(Vec<u8>),
    /// A DER `SubjectPublicKeyInfo`.
    PublicDer(Vec<u8>),
}

/// The envelope parsed by libxml2, with the IDs that references may point at registered.
pub(super) struct SignedDocument {
    doc: Document,
}

// === impl SignedDocument ===

impl SignedDocument {
    /// Parses strictly: no recovery, no network, no entity substitution (DTDs were already
    /// refused by the scan).
    pub fn parse(envelope: &[u8]) -> Result<Self, SamlError> {
        let options = ParserOptions {
            recover: false,
            no_def_dtd: true,
            no_error: true,
            no_warning: true,
            no_net: true,
            // The scan refused any other declared encoding; never let libxml2 decode differently.
            encoding: Some("UTF-8"),
            ..ParserOptions::default()
        };
        let doc = Parser::default()
            .parse_string_with_options(envelope, options)
            .map_err(|_| SamlError::Malformed("not well-formed XML"))?;
        Ok(Self { doc })
    }

    /// Registers the assertion's `ID` and, when asked, every `wsu:Id` as XML IDs, so that
    /// `URI="#..."` references resolve to those elements and nothing else.
    pub fn register_ids(&self, assertion: bool, wsu_ids: bool) -> Result<(), SamlError> {
        if assertion {
            self.doc
                .specify_idattr(ASSERTION_XPATH, "ID", Some(&PREFIXES))
                .map_err(|_| SamlError::Malformed("cannot register assertion ID"))?;
        }
        if wsu_ids {
            self.doc
                .specify_idattr("//*[@wsu:Id]", "Id", Some(&PREFIXES))
                .map_err(|_| SamlError::Malformed("cannot register wsu:Id"))?;
        }
        Ok(())
    }

    /// Verifies the assertion's enveloped signature with `key`.
    pub fn verify_assertion(&self, key: &KeyMaterial) -> Result<bool, SamlError> {
        let node = self.nth(ASSERTION_SIG_XPATH, 0)?;
        verify_node(&node, key)
    }

    /// Verifies the `index`-th `ds:Signature` directly under `wsse:Security` with `key`.
    pub fn verify_header_signature(
        &self,
        index: usize,
        key: &KeyMaterial,
    ) -> Result<bool, SamlError> {
        let node = self.nth(HEADER_SIG_XPATH, index)?;
        verify_node(&node, key)
    }

    fn nth(&self, xpath: &str, index: usize) -> Result<Node, SamlError> {
        let mut ctx = Context::new(&self.doc).map_err(|_| SamlError::Malformed("xpath"))?;
        for (prefix, href) in PREFIXES {
            ctx.register_namespace(prefix, href)
                .map_err(|_| SamlError::Malformed("xpath"))?;
        }
        ctx.findnodes(xpath, None)
            .map_err(|_| SamlError::Malformed("xpath"))?
            .into_iter()
            .nth(index)
            .ok_or(SamlError::Malformed("signature not found"))
    }
}

/// Initialises libxml2 and libxmlsec1 (their global state) once, from the thread that builds the
/// verifier at start-up, so request threads never race on first use.
pub(super) fn warm_up() -> Result<(), SamlError> {
    SignedDocument::parse(b"<warm-up/>")?;
    catch_unwind(|| drop(XmlSecSignatureContext::new()))
        .map_err(|_| SamlError::Setup("cannot initialise libxmlsec1"))
}

fn verify_node(node: &Node, key: &KeyMaterial) -> Result<bool, SamlError> {
    // The bindings panic on a few "cannot happen" states (allocation failure, unknown status);
    // never let that unwind into a request handler.
    catch_unwind(AssertUnwindSafe(|| {
        let (bytes, format) = match key {
            KeyMaterial::CertDer(der) => (der.as_slice(), XmlSecKeyFormat::CertDer),
            KeyMaterial::PublicDer(der) => (der.as_slice(), XmlSecKeyFormat::Der),
        };
        let Ok(key) = XmlSecKey::from_memory(bytes, format, None) else {
            return Ok(false);
        };
        let mut ctx = XmlSecSignatureContext::new();
        ctx.insert_key(key);
        // An error (digest mismatch is a status, not an error) means the signature could not
        // be processed: treat it as not verified.
        Ok(ctx.verify_node(node).unwrap_or(false))
    }))
    .unwrap_or(Err(SamlError::BadSignature))
}
