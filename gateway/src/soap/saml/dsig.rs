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
use xmlsec::{XmlSecDocumentExt, XmlSecSignatureContext};

use super::SamlError;
use super::key_cache;
use super::ns;
use super::scan::Scan;
use super::tree::Element;

const SECURITY_XPATH: &str = "/soap:Envelope/soap:Header/wsse:Security";
const ASSERTION_XPATH: &str = "/soap:Envelope/soap:Header/wsse:Security/saml2:Assertion";
const ANY_ASSERTION_XPATH: &str = "//saml2:Assertion";
const BODY_XPATH: &str = "/soap:Envelope/soap:Body";

const PREFIXES: [(&str, &str); 5] = [
    ("soap", ns::SOAP12),
    ("wsse", ns::WSSE),
    ("wsu", ns::WSU),
    ("saml2", ns::SAML2),
    ("ds", ns::DS),
];

/// Public key material we hand to libxmlsec1.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The `wsse:Security` header as libxml2 parsed it: the owned copy the claims are read from,
/// and handles on the very signature nodes that copy was made of.
pub(super) struct SecurityHeader {
    pub tree: Element,
    /// The `ds:Signature` directly under the (single) assertion, when there is one.
    assertion_signature: Option<Node>,
    /// The `ds:Signature` elements directly under `wsse:Security`, in document order (the same
    /// order as in `tree`).
    header_signatures: Vec<Node>,
    /// `wsu:Id` of `soap:Body`, when it has one.
    pub body_wsu_id: Option<String>,
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
            // Short text nodes stored in the node itself: fewer allocations. Nothing changes
            // the tree after the parse (registering IDs only marks attributes).
            compact: true,
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

    /// The `wsse:Security` header, after proving that libxml2 and the quick-xml pre-pass saw
    /// the same SAML assertions: the same number anywhere in the envelope, with the same IDs, at
    /// most one, and that one directly in the header. `None` when there is no header.
    pub fn security(&self, scan: &Scan) -> Result<Option<SecurityHeader>, SamlError> {
        // One XPath context for the whole check (each one re-registers the prefixes).
        let ctx = Context::new(&self.doc).map_err(|_| SamlError::Malformed("xpath"))?;
        for (prefix, href) in PREFIXES {
            ctx.register_namespace(prefix, href)
                .map_err(|_| SamlError::Malformed("xpath"))?;
        }
        let find = |xpath: &str| {
            ctx.evaluate(xpath)
                .map_err(|_| SamlError::Malformed("xpath"))
        };
        // Read-only handles (no wrapper registered per node) where only an attribute is read.
        let anywhere = find(ANY_ASSERTION_XPATH)?.get_readonly_nodes_as_vec();
        let ids: Vec<String> = anywhere
            .iter()
            .map(|n| n.get_attribute_no_ns("ID").unwrap_or_default())
            .collect();
        if ids != scan.assertion_ids {
            return Err(SamlError::Malformed(
                "the envelope reads differently to two parsers",
            ));
        }
        if anywhere.len() > 1 {
            return Err(SamlError::Malformed("more than one SAML assertion"));
        }
        let headers = find(SECURITY_XPATH)?.get_nodes_as_vec();
        if headers.len() != scan.security_headers {
            return Err(SamlError::Malformed(
                "the envelope reads differently to two parsers",
            ));
        }
        let outside = SamlError::Malformed("SAML assertion outside the WS-Security header");
        let Some(security) = headers.into_iter().next() else {
            return if anywhere.is_empty() {
                Ok(None)
            } else {
                Err(outside)
            };
        };
        let tree = Element::from_libxml(&security)?;
        let mut in_header = 0;
        let mut assertion_signature = None;
        let mut header_signatures = Vec::new();
        for child in security.get_child_elements() {
            match element_name(&child) {
                Some((ns::SAML2, "Assertion")) => {
                    in_header += 1;
                    assertion_signature = child
                        .get_child_elements()
                        .into_iter()
                        .find(|c| element_name(c) == Some((ns::DS, "Signature")));
                }
                Some((ns::DS, "Signature")) => header_signatures.push(child),
                _ => {}
            }
        }
        if in_header != anywhere.len() {
            return Err(outside);
        }
        let body_wsu_id = find(BODY_XPATH)?
            .get_readonly_nodes_as_vec()
            .first()
            .and_then(|b| b.get_attribute_ns("Id", ns::WSU));
        Ok(Some(SecurityHeader {
            tree,
            assertion_signature,
            header_signatures,
            body_wsu_id,
        }))
    }
}

// === impl SecurityHeader ===

impl SecurityHeader {
    /// Verifies the assertion's enveloped signature (the node the claims were copied from)
    /// with `key`.
    pub fn verify_assertion(&self, key: &KeyMaterial) -> Result<bool, SamlError> {
        let node = self
            .assertion_signature
            .as_ref()
            .ok_or(SamlError::Malformed("signature not found"))?;
        verify_node(node, key)
    }

    /// Verifies the `index`-th `ds:Signature` directly under `wsse:Security` with `key`.
    pub fn verify_header_signature(
        &self,
        index: usize,
        key: &KeyMaterial,
    ) -> Result<bool, SamlError> {
        let node = self
            .header_signatures
            .get(index)
            .ok_or(SamlError::Malformed("signature not found"))?;
        verify_node(node, key)
    }
}

/// (namespace, local name) of an element, for the namespaces we match on.
fn element_name(node: &Node) -> Option<(&'static str, &'static str)> {
    let href = node.get_namespace()?.get_href();
    let ns = [ns::SAML2, ns::DS].into_iter().find(|n| *n == href)?;
    let name = node.get_name();
    ["Assertion", "Signature"]
        .into_iter()
        .find(|l| *l == name)
        .map(|l| (ns, l))
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
    // never let that unwind into a request handler. A key lent to a context that panicked goes
    // with it and is loaded again next time.
    catch_unwind(AssertUnwindSafe(|| {
        let Some(loaded) = key_cache::take(key) else {
            return Ok(false);
        };
        let mut ctx = XmlSecSignatureContext::new();
        ctx.insert_key(loaded);
        // An error (digest mismatch is a status, not an error) means the signature could not
        // be processed: treat it as not verified.
        let verified = ctx.verify_node(node).unwrap_or(false);
        if let Some(loaded) = ctx.release_key() {
            key_cache::give_back(key, loaded);
        }
        Ok(verified)
    }))
    .unwrap_or(Err(SamlError::BadSignature))
}
