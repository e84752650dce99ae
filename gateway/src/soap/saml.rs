//! SAML 2.0 assertions in the WS-Security header: verified, then turned into the [`Requester`].
//!
//! envelope bytes → [`scan`] (quick-xml pre-pass: DTDs, entities, duplicate IDs, depth, node
//! count and namespace names with references refused; every assertion's ID noted; where the
//! header is) → [`dsig`] (the header built into a [`tree`]; the same assertions as the
//! pre-pass, at most one, in the header) → [`assertion`] (typed view) → [`policy`] (signature
//! shape, algorithms) → the enveloped signature of that very element verified
//! ([`c14n`] + digest + RSA with a pinned key from [`keys`]) → issuer, audience and validity
//! windows → holder-of-key proof over `wsu:Timestamp` → [`xspa`] → `Requester` for GP Connect
//! and the audit trail.
//!
//! One XML truth: claims are read only from the tree element whose canonical form the verified
//! signature covers, and the envelope is refused when the pre-pass and the tree could see
//! different assertions (CVE-2025-25291/25292 class: ruby-saml's REXML/Nokogiri disagreement).
//! Signature wrapping: the element we read is the single `saml2:Assertion` in the envelope,
//! directly under `/Envelope/Header/Security`; its signature must be its own direct child with
//! one reference to `#<its ID>`, and IDs are unique across the envelope; a header signature
//! may name only the `wsu:Timestamp` or `soap:Body`.

mod assertion;
mod c14n;
mod config;
mod dsig;
mod keys;
mod policy;
mod scan;
mod tree;
mod xspa;

use time::OffsetDateTime;
use xhuma_common::NhsNumber;
use xhuma_common::identity::Requester;

pub use config::*;

use assertion::{Assertion, HolderKey, SecurityParts, SignatureInfo, Timestamp};
use dsig::SignedDocument;
use keys::{PublicKey, TrustedCert};

/// Namespaces we match on.
mod ns {
    pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
    pub const WSSE: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    pub const WSU: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    pub const SAML2: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
    pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
    pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
}

const HOLDER_OF_KEY: &str = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key";

/// Why an assertion was refused. `Display` is safe to send to the caller: it never contains
/// message content.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum SamlError {
    #[error("no SAML assertion in the WS-Security header")]
    Missing,
    #[error("the SAML assertion is not signed")]
    Unsigned,
    #[error("the SAML assertion signature does not verify")]
    BadSignature,
    #[error("the SAML assertion is not signed by a trusted certificate")]
    UntrustedCertificate,
    #[error("signature or digest algorithm not accepted")]
    UnsupportedAlgorithm,
    #[error("the SAML assertion has expired")]
    Expired,
    #[error("the SAML assertion is not yet valid")]
    NotYetValid,
    #[error("the SAML assertion is not intended for this service")]
    WrongAudience,
    #[error("the SAML assertion issuer is not trusted")]
    UntrustedIssuer,
    #[error("holder-of-key proof missing or invalid")]
    HolderOfKey,
    #[error("the WS-Security timestamp is not current")]
    StaleTimestamp,
    #[error("malformed WS-Security header: {0}")]
    Malformed(&'static str),
    #[error("the SAML assertion has no NotOnOrAfter or is valid for longer than allowed")]
    Lifetime,
    #[error("the SAML assertion names no patient (resource-id with an NHS number)")]
    NoPatient,
    #[error("the SAML assertion's purpose of use is not accepted")]
    PurposeRefused,
    /// Start-up only: a trust file could not be used.
    #[error("SAML trust certificate {path}: {reason}")]
    TrustStore { path: String, reason: String },
    /// Start-up only: the verifier cannot be set up (library initialisation, settings).
    #[error("SAML verifier set-up: {0}")]
    Setup(&'static str),
}

/// The quick-xml pre-pass alone, for the fuzz targets in `fuzz/` (not an API): on success, how
/// many `wsse:Security` headers, the assertion IDs, and how many `wsu:Id`s the envelope has.
#[doc(hidden)]
pub fn scan_for_fuzzing(envelope: &[u8]) -> Result<(usize, Vec<String>, usize), SamlError> {
    scan::scan(envelope).map(|s| (s.security_headers, s.assertion_ids, s.wsu_ids))
}

/// An envelope the pre-pass accepted, between [`SamlVerifier::scan`] and
/// [`SamlVerifier::verify_scanned`].
#[derive(Debug)]
pub struct Scanned {
    scan: scan::Scan,
    tree_bytes: usize,
}

impl Scanned {
    /// An upper bound on what the trees of the check will allocate (0 when the envelope has
    /// no `wsse:Security` header, so nothing is built).
    pub fn tree_bytes(&self) -> usize {
        self.tree_bytes
    }
}

/// A verified assertion: the requester plus what the audit may want besides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub requester: Requester,
    /// XACML `resource-id`: the patient the caller says it is asking about (an HL7 CX string).
    pub resource_id: Option<String>,
    /// The NHS number `resource-id` names: the one patient this request may be served for.
    pub patient: Option<NhsNumber>,
    pub assertion_id: String,
    /// False only when `allow_unsigned` let an unsigned assertion through.
    pub signed: bool,
    /// A header signature made with the holder-of-key key covered the current `wsu:Timestamp`.
    pub holder_of_key: bool,
    pub not_on_or_after: Option<OffsetDateTime>,
    /// When this message stops being acceptable: the earlier of the assertion's NotOnOrAfter and
    /// the Timestamp's Expires (how long a replay guard must remember it).
    pub expires_at: OffsetDateTime,
    /// The holder-of-key signature value over the Timestamp, when there is one (unique per
    /// message: a second use is a replay).
    pub timestamp_signature: Option<String>,
}

/// Checks assertions against the configured trust. Built once at start-up; cheap to share.
#[derive(Debug, Clone)]
pub struct SamlVerifier {
    cfg: SamlConfig,
    trust: Vec<TrustedCert>,
    skew: time::Duration,
}

// === impl SamlError ===

impl SamlError {
    /// The WS-Security 1.1 fault subcode (local part, namespace `wsse`) for this error.
    pub fn wsse_fault_code(&self) -> &'static str {
        match self {
            Self::Missing | Self::Malformed(_) | Self::TrustStore { .. } | Self::Setup(_) => {
                "InvalidSecurity"
            }
            Self::Unsigned | Self::Lifetime => "InvalidSecurityToken",
            Self::BadSignature => "FailedCheck",
            Self::UnsupportedAlgorithm => "UnsupportedAlgorithm",
            Self::Expired | Self::NotYetValid | Self::StaleTimestamp => "MessageExpired",
            Self::UntrustedCertificate
            | Self::WrongAudience
            | Self::UntrustedIssuer
            | Self::HolderOfKey
            | Self::NoPatient
            | Self::PurposeRefused => "FailedAuthentication",
        }
    }
}

impl SamlError {
    /// A short label for metrics and the security-alert audit detail.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Missing => "saml_missing",
            Self::Unsigned => "saml_unsigned",
            Self::BadSignature => "saml_bad_signature",
            Self::UntrustedCertificate => "saml_untrusted_certificate",
            Self::UnsupportedAlgorithm => "saml_unsupported_algorithm",
            Self::Expired => "saml_expired",
            Self::NotYetValid => "saml_not_yet_valid",
            Self::WrongAudience => "saml_wrong_audience",
            Self::UntrustedIssuer => "saml_untrusted_issuer",
            Self::HolderOfKey => "saml_holder_of_key",
            Self::StaleTimestamp => "saml_stale_timestamp",
            Self::Malformed(_) => "saml_malformed",
            Self::Lifetime => "saml_lifetime",
            Self::NoPatient => "saml_no_patient",
            Self::PurposeRefused => "saml_purpose_refused",
            Self::TrustStore { .. } | Self::Setup(_) => "saml_setup",
        }
    }
}

// === impl SamlVerifier ===

impl SamlVerifier {
    /// Loads the trusted certificates named in `cfg`.
    pub fn new(cfg: &SamlConfig) -> Result<Self, SamlError> {
        let trust = keys::load_trust(&cfg.trust_pems)?;
        if trust.is_empty() && !cfg.allow_unsigned {
            tracing::warn!(
                "No SAML trust certificates configured: every assertion will be refused"
            );
        }
        let skew = time::Duration::try_from(cfg.clock_skew)
            .map_err(|_| SamlError::Setup("clock skew out of range"))?;
        Ok(Self {
            cfg: cfg.clone(),
            trust,
            skew,
        })
    }

    pub fn config(&self) -> &SamlConfig {
        &self.cfg
    }

    /// `envelope` = the whole SOAP envelope bytes as received (signatures reference ids inside
    /// it). `Ok(None)` when no assertion is present and configuration allows that.
    pub fn verify(
        &self,
        envelope: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Requester>, SamlError> {
        Ok(self.verify_assertion(envelope, now)?.map(|v| v.requester))
    }

    /// As [`Self::verify`], with the details the audit may record.
    #[tracing::instrument(skip_all)]
    pub fn verify_assertion(
        &self,
        envelope: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<VerifiedAssertion>, SamlError> {
        let scanned = Self::scan(envelope)?;
        self.verify_scanned(envelope, scanned, now)
    }

    /// The pre-pass alone: what must be refused before any tree is built, and the size of
    /// the trees the check will build ([`Scanned::tree_bytes`]), so the caller can wait for
    /// room in a memory budget before [`Self::verify_scanned`].
    pub fn scan(envelope: &[u8]) -> Result<Scanned, SamlError> {
        let scan = scan::scan(envelope)?;
        let tree_bytes = if scan.security_headers == 0 {
            0
        } else {
            scan.tree_bytes(envelope.len())
        };
        Ok(Scanned { scan, tree_bytes })
    }

    /// The most the check of an `envelope_len`-byte envelope can allocate for its trees.
    pub fn max_tree_bytes(envelope_len: usize) -> usize {
        scan::Scan {
            nodes: scan::MAX_NODES,
            ..scan::Scan::default()
        }
        .tree_bytes(envelope_len)
    }

    /// The rest of [`Self::verify_assertion`], for an envelope [`Self::scan`] accepted.
    pub fn verify_scanned(
        &self,
        envelope: &[u8],
        scanned: Scanned,
        now: OffsetDateTime,
    ) -> Result<Option<VerifiedAssertion>, SamlError> {
        let scan = scanned.scan;
        if scan.security_headers == 0 {
            if !scan.assertion_ids.is_empty() {
                return Err(SamlError::Malformed(
                    "SAML assertion outside the WS-Security header",
                ));
            }
            return self.absent();
        }
        // One XML truth from here on: every claim below is read from this tree, the same
        // elements whose canonical form the signatures cover.
        let doc = SignedDocument::parse(envelope, &scan)?.ok_or(SamlError::Malformed(
            "the envelope reads differently to two parsers",
        ))?;
        let parts = assertion::security_parts(&doc.security)?;
        if let Some(ts) = &parts.timestamp {
            self.check_timestamp(ts, now)?;
        }
        let Some(element) = parts.assertion else {
            return self.absent();
        };
        let a = assertion::assertion(element)?;

        let signed = match &a.signature {
            Some(sig) => {
                policy::assertion_signature(sig, &a.id, self.cfg.allow_sha1)?;
                true
            }
            None if self.cfg.allow_unsigned => false,
            None => return Err(SamlError::Unsigned),
        };
        let mut holder_of_key = None;
        if let (true, Some(sig)) = (signed, &a.signature) {
            self.check_signature(&doc, element, sig, now)?;
            holder_of_key = self.check_holder_of_key(&doc, &parts, &a)?;
        }
        self.check_claims(&a, now)?;
        if self.cfg.require_holder_of_key && holder_of_key.is_none() {
            return Err(SamlError::HolderOfKey);
        }
        // An unsigned assertion (dev rigs only) proves nothing about its lifetime either.
        let expires_at = if signed {
            self.check_lifetime(&a, parts.timestamp.as_ref())?
        } else {
            a.not_on_or_after.unwrap_or(now)
        };
        let (requester, resource_id) = xspa::requester(&a)?;
        let purpose = requester.purpose_of_use.as_ref().map(|p| p.code.as_str());
        if !purpose.is_some_and(|p| self.cfg.purpose_allowed(p)) {
            return Err(SamlError::PurposeRefused);
        }
        let patient = resource_id.as_deref().and_then(xspa::patient);
        if self.cfg.require_resource_id && patient.is_none() {
            return Err(SamlError::NoPatient);
        }
        Ok(Some(VerifiedAssertion {
            requester,
            resource_id,
            patient,
            assertion_id: a.id,
            signed,
            holder_of_key: holder_of_key.is_some(),
            not_on_or_after: a.not_on_or_after,
            expires_at,
            timestamp_signature: holder_of_key,
        }))
    }

    fn absent(&self) -> Result<Option<VerifiedAssertion>, SamlError> {
        if self.cfg.required {
            Err(SamlError::Missing)
        } else {
            Ok(None)
        }
    }

    /// The enveloped signature verifies with a pinned certificate that is valid now.
    fn check_signature(
        &self,
        doc: &SignedDocument<'_>,
        assertion: &tree::Element<'_>,
        sig: &SignatureInfo,
        now: OffsetDateTime,
    ) -> Result<(), SamlError> {
        let named = sig
            .cert
            .as_ref()
            .map(|der| self.trust.iter().find(|c| &c.der == der));
        let candidates: Vec<&TrustedCert> = match named {
            Some(Some(c)) if c.valid_at(now) => vec![c],
            Some(Some(_)) => return Err(SamlError::UntrustedCertificate),
            // No certificate, or one we do not pin: try every pinned key (the signer may send
            // a reissued certificate for the same key).
            _ => self.trust.iter().filter(|c| c.valid_at(now)).collect(),
        };
        if candidates.is_empty() {
            return Err(SamlError::UntrustedCertificate);
        }
        for c in candidates {
            if doc.verify_assertion(assertion, sig, &c.key)? {
                return Ok(());
            }
        }
        match named {
            Some(Some(_)) => Err(SamlError::BadSignature),
            Some(None) => Err(SamlError::UntrustedCertificate),
            None => Err(SamlError::BadSignature),
        }
    }

    /// Issuer, audience, Conditions and SubjectConfirmation windows.
    fn check_claims(&self, a: &Assertion, now: OffsetDateTime) -> Result<(), SamlError> {
        if !self.cfg.trusted_issuers.is_empty() && !self.cfg.trusted_issuers.contains(&a.issuer) {
            return Err(SamlError::UntrustedIssuer);
        }
        if let Some(audience) = &self.cfg.audience {
            let ok = !a.audiences.is_empty() && a.audiences.iter().all(|r| r.contains(audience));
            if !ok {
                return Err(SamlError::WrongAudience);
            }
        }
        policy::window(a.not_before, a.not_on_or_after, now, self.skew)?;
        // At least one subject confirmation must be usable now, when any is given.
        let mut first_err = None;
        for c in &a.confirmations {
            match policy::window(c.not_before, c.not_on_or_after, now, self.skew) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// NotOnOrAfter is required and the validity no longer than the configured maximum.
    /// Returns when the message expires (the earlier of NotOnOrAfter and Timestamp/Expires).
    fn check_lifetime(
        &self,
        a: &Assertion,
        ts: Option<&Timestamp>,
    ) -> Result<OffsetDateTime, SamlError> {
        let until = a.not_on_or_after.ok_or(SamlError::Lifetime)?;
        let from = a
            .not_before
            .or(a.issue_instant)
            .ok_or(SamlError::Lifetime)?;
        let max = time::Duration::try_from(self.cfg.max_lifetime).unwrap_or(time::Duration::MAX);
        if until - from > max {
            return Err(SamlError::Lifetime);
        }
        Ok(ts.and_then(|t| t.expires).map_or(until, |e| e.min(until)))
    }

    /// `Created <= now` and `now < Expires`, with skew.
    fn check_timestamp(&self, ts: &Timestamp, now: OffsetDateTime) -> Result<(), SamlError> {
        policy::window(ts.created, ts.expires, now, self.skew)
            .map_err(|_| SamlError::StaleTimestamp)
    }

    /// Every `ds:Signature` directly in `wsse:Security` must verify with the holder-of-key key of
    /// the (verified) assertion. The signature value of the one that covers the `wsu:Timestamp`,
    /// when one does.
    fn check_holder_of_key(
        &self,
        doc: &SignedDocument<'_>,
        parts: &SecurityParts<'_>,
        a: &Assertion,
    ) -> Result<Option<String>, SamlError> {
        if parts.signatures.is_empty() {
            return Ok(None);
        }
        let key = a
            .confirmations
            .iter()
            .filter(|c| c.method == HOLDER_OF_KEY)
            .find_map(|c| c.key.clone())
            .ok_or(SamlError::HolderOfKey)?;
        let key = match key {
            HolderKey::CertDer(der) => {
                PublicKey::from_cert(&der).map_err(|_| SamlError::HolderOfKey)?
            }
            HolderKey::Rsa { modulus, exponent } => {
                PublicKey::from_spki(keys::rsa_spki_der(&modulus, &exponent))
            }
        };
        let ts_id = parts.timestamp.as_ref().and_then(|t| t.id.clone());
        let allowed: Vec<&str> = ts_id
            .iter()
            .map(String::as_str)
            .chain(doc.body_wsu_id())
            .collect();
        let mut covers_timestamp = None;
        for (index, element) in parts.signatures.iter().enumerate() {
            let sig = assertion::signature(element)?;
            if sig.token_ref.as_deref().is_some_and(|r| r != a.id) {
                return Err(SamlError::HolderOfKey);
            }
            let ids = policy::header_signature(&sig, &allowed, self.cfg.allow_sha1)?;
            if !doc.verify_header_signature(index, &sig, &key)? {
                return Err(SamlError::HolderOfKey);
            }
            if ts_id.as_ref().is_some_and(|t| ids.contains(t)) {
                covers_timestamp.get_or_insert(sig.value);
            }
        }
        Ok(covers_timestamp)
    }
}

/// The signature check alone, for the test that compares it with libxmlsec1 (not an API):
/// whether the assertion's enveloped signature verifies with the certificate `pinned` (DER),
/// and each signature directly in `wsse:Security` with the certificate `holder`. No policy,
/// claim or time check.
#[doc(hidden)]
pub fn signature_verdicts(
    envelope: &[u8],
    pinned: &[u8],
    holder: &[u8],
) -> Result<(bool, Vec<bool>), SamlError> {
    let scan = scan::scan(envelope)?;
    let doc = SignedDocument::parse(envelope, &scan)?.ok_or(SamlError::Missing)?;
    let parts = assertion::security_parts(&doc.security)?;
    let key = |der: &[u8]| PublicKey::from_cert(der).map_err(|_| SamlError::Setup("bad key"));
    let (pinned, holder) = (key(pinned)?, key(holder)?);
    let assertion_ok = match parts
        .assertion
        .and_then(|a| a.child(ns::DS, "Signature").map(|s| (a, s)))
    {
        Some((a, s)) => doc.verify_assertion(a, &assertion::signature(s)?, &pinned)?,
        None => false,
    };
    let mut header = Vec::new();
    for (i, s) in parts.signatures.iter().enumerate() {
        let sig = assertion::signature(s)?;
        header.push(
            doc.verify_header_signature(i, &sig, &holder)
                .unwrap_or(false),
        );
    }
    Ok((assertion_ok, header))
}
