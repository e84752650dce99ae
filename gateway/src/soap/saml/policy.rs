//! What a signature may look like before [`super::dsig`] checks it, and the validity-window
//! checks.
//!
//! Pinning the shape closes the classic XML-DSig holes: a reference to something other than the
//! element we read (signature wrapping), remote or XPath/XSLT references and transforms,
//! `ds:Object`/`Manifest` tricks, and algorithm downgrades.

use time::{Duration, OffsetDateTime};

use super::SamlError;
use super::assertion::SignatureInfo;

pub(super) const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub(super) const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub(super) const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub(super) const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub(super) const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
pub(super) const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
pub(super) const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub(super) const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";

/// Checks an assertion's enveloped signature: one reference, to `#<assertion ID>`, transforms
/// enveloped-signature then exc-c14n, nothing else (what every SAML signer writes; without
/// exc-c14n the digest would be over inclusive Canonical XML, which we do not implement).
pub(super) fn assertion_signature(
    sig: &SignatureInfo,
    assertion_id: &str,
    allow_sha1: bool,
) -> Result<(), SamlError> {
    algorithms(sig, allow_sha1)?;
    let [reference] = sig.references.as_slice() else {
        return Err(SamlError::BadSignature);
    };
    let expected = format!("#{assertion_id}");
    if reference.uri.as_deref() != Some(expected.as_str()) {
        return Err(SamlError::BadSignature);
    }
    if reference.transforms != [ENVELOPED, EXC_C14N] {
        return Err(SamlError::BadSignature);
    }
    Ok(())
}

/// Checks a header (holder-of-key) signature: every reference is `#id` with an id in
/// `allowed_ids`, one transform, exc-c14n. Returns the referenced ids.
pub(super) fn header_signature(
    sig: &SignatureInfo,
    allowed_ids: &[&str],
    allow_sha1: bool,
) -> Result<Vec<String>, SamlError> {
    algorithms(sig, allow_sha1)?;
    if sig.references.is_empty() {
        return Err(SamlError::HolderOfKey);
    }
    let mut ids = Vec::new();
    for r in &sig.references {
        let id = r
            .uri
            .as_deref()
            .and_then(|u| u.strip_prefix('#'))
            .filter(|id| allowed_ids.contains(id))
            .ok_or(SamlError::HolderOfKey)?;
        if r.transforms != [EXC_C14N] {
            return Err(SamlError::HolderOfKey);
        }
        ids.push(id.to_string());
    }
    Ok(ids)
}

fn algorithms(sig: &SignatureInfo, allow_sha1: bool) -> Result<(), SamlError> {
    if sig.unexpected_children {
        return Err(SamlError::BadSignature);
    }
    if sig.c14n != EXC_C14N {
        return Err(SamlError::UnsupportedAlgorithm);
    }
    let method_ok = match sig.method.as_str() {
        RSA_SHA256 | RSA_SHA512 => true,
        RSA_SHA1 => allow_sha1,
        _ => false,
    };
    let digests_ok = sig.references.iter().all(|r| match r.digest.as_str() {
        SHA256 | SHA512 => true,
        SHA1 => allow_sha1,
        _ => false,
    });
    if method_ok && digests_ok {
        Ok(())
    } else {
        Err(SamlError::UnsupportedAlgorithm)
    }
}

/// `NotBefore <= now < NotOnOrAfter`, each widened by `skew`.
pub(super) fn window(
    not_before: Option<OffsetDateTime>,
    not_on_or_after: Option<OffsetDateTime>,
    now: OffsetDateTime,
    skew: Duration,
) -> Result<(), SamlError> {
    if let Some(nb) = not_before
        && now + skew < nb
    {
        return Err(SamlError::NotYetValid);
    }
    if let Some(na) = not_on_or_after
        && now - skew >= na
    {
        return Err(SamlError::Expired);
    }
    Ok(())
}
