//! The cryptographic check: XML-DSig references and `SignedInfo` signatures over the one tree
//! the claims are read from.
//!
//! envelope bytes + what [`super::scan`] found → [`SignedDocument::parse`] (the
//! `wsse:Security` [`Element`] tree, and `soap:Body` when a signature names it) → for each
//! signature: every reference's digest over the exclusive canonical form ([`super::c14n`]) of
//! the element it names, then the RSA signature over the canonical `SignedInfo`
//! (aws-lc-rs). Before this runs, [`super::policy`] has pinned each signature's shape: one
//! same-document reference to a known ID, only enveloped-signature then exc-c14n (assertion)
//! or exc-c14n alone (header), known algorithms. The key is always chosen by us (a pinned
//! certificate, or the holder-of-key key of the verified assertion); `ds:KeyInfo` in the
//! message is never used to find a key.
//!
//! This replaced libxml2 + libxmlsec1, which canonicalised the whole document four times per
//! Epic request (docs/performance.md, "SAML verification cost"); libxmlsec1 stays in the tests
//! as the oracle every signature must agree with (`tests/saml_dsig_oracle.rs`).

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::SamlError;
use super::assertion::{ReferenceInfo, SignatureInfo};
use super::c14n;
use super::keys::PublicKey;
use super::ns;
use super::policy;
use super::scan::Scan;
use super::tree::{Binding, Element};

/// Most elements of a `soap:Body` a header signature may cover (the envelope's own node limit
/// applies too).
const MAX_BODY_ELEMENTS: usize = 20_000;
/// What a canonical form starts with room for (an Epic assertion is about 7 KB).
const C14N_CAPACITY: usize = 8 * 1024;

/// The signed parts of one envelope: the `wsse:Security` tree, read from the bytes the
/// pre-pass located.
pub(super) struct SignedDocument<'a> {
    envelope: &'a [u8],
    scan: &'a Scan,
    /// Bindings in scope at `wsse:Security`'s parent (the envelope's, then the header's).
    header_scope: Vec<Binding<'a>>,
    pub security: Element<'a>,
}

// === impl SignedDocument ===

impl<'a> SignedDocument<'a> {
    /// Builds the `wsse:Security` tree. `None` when the envelope has no header.
    pub fn parse(envelope: &'a [u8], scan: &'a Scan) -> Result<Option<Self>, SamlError> {
        let Some(range) = scan.security_range.clone() else {
            return Ok(None);
        };
        let bytes = envelope
            .get(range)
            .ok_or(SamlError::Malformed("not well-formed XML"))?;
        let header_scope: Vec<Binding<'a>> = scan
            .envelope_ns
            .iter()
            .chain(&scan.header_ns)
            .map(borrowed)
            .collect();
        if header_scope
            .iter()
            .any(|(_, uri)| !uri.is_empty() && !super::tree::is_absolute(uri))
        {
            return Err(SamlError::Malformed(
                "relative namespace name in signed XML",
            ));
        }
        let security = Element::parse(bytes, &header_scope, super::tree::MAX_ELEMENTS)?;
        if !security.is(ns::WSSE, "Security") {
            return Err(SamlError::Malformed(
                "the envelope reads differently to two parsers",
            ));
        }
        // The pre-pass saw every assertion in the envelope; each must be this header's direct
        // child (and there may be one), or the claims could come from one and the check
        // from another.
        let in_header: Vec<&str> = security
            .children_named(ns::SAML2, "Assertion")
            .map(|a| a.attr("ID").unwrap_or_default())
            .collect();
        if scan.assertion_ids.len() > 1 {
            return Err(SamlError::Malformed("more than one SAML assertion"));
        }
        if in_header != scan.assertion_ids {
            return Err(SamlError::Malformed(
                "SAML assertion outside the WS-Security header",
            ));
        }
        Ok(Some(Self {
            envelope,
            scan,
            header_scope,
            security,
        }))
    }

    /// `wsu:Id` of `soap:Body`, when it has one.
    pub fn body_wsu_id(&self) -> Option<&str> {
        self.scan.body_wsu_id.as_deref()
    }

    /// The assertion's enveloped signature verifies with `key`: its reference digests the
    /// assertion without the signature, and `SignedInfo` is signed by `key`.
    pub fn verify_assertion(
        &self,
        assertion: &Element<'a>,
        sig: &SignatureInfo,
        key: &PublicKey,
    ) -> Result<bool, SamlError> {
        let signature = assertion
            .child(ns::DS, "Signature")
            .ok_or(SamlError::Malformed("signature not found"))?;
        let [reference] = sig.references.as_slice() else {
            return Ok(false);
        };
        let outside = self.scope_with(&[&self.security]);
        if !digest_matches(assertion, &outside, reference, Some(signature)) {
            return Ok(false);
        }
        let scope = self.scope_with(&[&self.security, assertion, signature]);
        Ok(signed_info_verifies(signature, &scope, sig, key))
    }

    /// The `index`-th `ds:Signature` directly under `wsse:Security` verifies with `key`: each
    /// reference (`#id` of the `wsu:Timestamp` or of `soap:Body`, as the policy allowed)
    /// digests its element, and `SignedInfo` is signed by `key`.
    pub fn verify_header_signature(
        &self,
        index: usize,
        sig: &SignatureInfo,
        key: &PublicKey,
    ) -> Result<bool, SamlError> {
        let signature = self
            .security
            .children_named(ns::DS, "Signature")
            .nth(index)
            .ok_or(SamlError::Malformed("signature not found"))?;
        let mut body: Option<Element<'a>> = None;
        for reference in &sig.references {
            let id = reference
                .uri
                .as_deref()
                .and_then(|u| u.strip_prefix('#'))
                .ok_or(SamlError::HolderOfKey)?;
            let stamp = self
                .security
                .children_named(ns::WSU, "Timestamp")
                .find(|t| t.attr_ns(ns::WSU, "Id") == Some(id));
            let ok = match stamp {
                Some(t) => digest_matches(t, &self.scope_with(&[&self.security]), reference, None),
                None if self.body_wsu_id() == Some(id) => {
                    if body.is_none() {
                        body = Some(self.body()?);
                    }
                    match &body {
                        Some(b) => digest_matches(b, &self.envelope_scope(), reference, None),
                        None => false,
                    }
                }
                None => return Err(SamlError::HolderOfKey),
            };
            if !ok {
                return Ok(false);
            }
        }
        let scope = self.scope_with(&[&self.security, signature]);
        Ok(signed_info_verifies(signature, &scope, sig, key))
    }

    /// The bindings in scope inside the last of `path` (elements from `wsse:Security` down).
    fn scope_with(&self, path: &[&Element<'a>]) -> Vec<Binding<'a>> {
        let mut scope = self.header_scope.clone();
        for e in path {
            scope.extend(e.ns_decls.iter().cloned());
        }
        scope
    }

    /// `soap:Body` as a tree (only when a signature names it).
    /// The bindings on `soap:Envelope` (in scope at `soap:Body`).
    fn envelope_scope(&self) -> Vec<Binding<'a>> {
        self.scan.envelope_ns.iter().map(borrowed).collect()
    }

    fn body(&self) -> Result<Element<'a>, SamlError> {
        let range = self.scan.body_range.clone().ok_or(SamlError::HolderOfKey)?;
        let bytes = self
            .envelope
            .get(range)
            .ok_or(SamlError::Malformed("not well-formed XML"))?;
        Element::parse(bytes, &self.envelope_scope(), MAX_BODY_ELEMENTS)
    }
}

/// A binding the pre-pass recorded, borrowed for the tree.
fn borrowed((prefix, uri): &(String, String)) -> Binding<'_> {
    (prefix.as_str().into(), uri.as_str().into())
}

/// The reference's DigestValue is the digest of `target`'s canonical form (without `omit`).
fn digest_matches(
    target: &Element<'_>,
    scope: &[Binding<'_>],
    reference: &ReferenceInfo,
    omit: Option<&Element<'_>>,
) -> bool {
    let algorithm = match reference.digest.as_str() {
        policy::SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        policy::SHA256 => &digest::SHA256,
        policy::SHA512 => &digest::SHA512,
        _ => return false,
    };
    let Ok(expected) = STANDARD.decode(&reference.digest_value) else {
        return false;
    };
    let mut octets = Vec::with_capacity(C14N_CAPACITY);
    c14n::exclusive(
        target,
        scope,
        &reference.inclusive_prefixes,
        omit,
        &mut octets,
    );
    digest::digest(algorithm, &octets).as_ref() == expected.as_slice()
}

/// `SignatureValue` is `key`'s signature over the canonical `SignedInfo`.
fn signed_info_verifies(
    signature: &Element<'_>,
    scope: &[Binding<'_>],
    sig: &SignatureInfo,
    key: &PublicKey,
) -> bool {
    let Some(signed_info) = signature.child(ns::DS, "SignedInfo") else {
        return false;
    };
    let Ok(value) = STANDARD.decode(&sig.value) else {
        return false;
    };
    let mut octets = Vec::with_capacity(C14N_CAPACITY);
    c14n::exclusive(signed_info, scope, &sig.c14n_prefixes, None, &mut octets);
    key.verifies(&sig.method, &octets, &value)
}
