//! Trusted signer certificates (PEM files named in `XHUMA_SAML_TRUST_PEM`, read once at start-up),
//! the RSA public keys signatures are verified with, and the encoding of a holder-of-key
//! `RSAKeyValue` as a DER `SubjectPublicKeyInfo`.
//!
//! Trust is by pinning: an assertion verifies only with the public key of one of these
//! certificates, while it is inside its validity period. Chains to a CA are not built. A pinned
//! key is parsed once, at start-up (turning DER into a key is several times the cost of an RSA
//! verification); a holder-of-key key arrives with each message and is parsed for it.

use std::path::PathBuf;
use std::sync::Arc;

use aws_lc_rs::signature::{
    ParsedPublicKey, RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_2048_8192_SHA512, RsaParameters, UnparsedPublicKey,
};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

use super::SamlError;
use super::policy;

/// Most certificates accepted in the trust store (each failed verification tries them all).
pub(super) const MAX_TRUSTED_CERTS: usize = 32;

/// A pinned signer certificate.
#[derive(Debug, Clone)]
pub(super) struct TrustedCert {
    pub der: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key: Arc<PublicKey>,
}

/// An RSA public key (DER `SubjectPublicKeyInfo`), parsed once per signature algorithm when it
/// is pinned.
pub(super) struct PublicKey {
    spki: Vec<u8>,
    /// RSA-SHA1, RSA-SHA256, RSA-SHA512 (aws-lc-rs binds a parsed key to one algorithm).
    parsed: Option<[ParsedPublicKey; 3]>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("spki_bytes", &self.spki.len())
            .field("parsed", &self.parsed.is_some())
            .finish()
    }
}

const ALGORITHMS: [(&str, &RsaParameters); 3] = [
    (
        policy::RSA_SHA1,
        &RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
    ),
    (policy::RSA_SHA256, &RSA_PKCS1_2048_8192_SHA256),
    (policy::RSA_SHA512, &RSA_PKCS1_2048_8192_SHA512),
];

// === impl PublicKey ===

impl PublicKey {
    /// A key used for one message: parsed when it verifies.
    pub fn from_spki(spki: Vec<u8>) -> Self {
        Self { spki, parsed: None }
    }

    /// The public key of an X.509 certificate (the certificate itself is not checked).
    pub fn from_cert(der: &[u8]) -> Result<Self, String> {
        let cert =
            Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| format!("cannot re-encode the public key: {e}"))?;
        Ok(Self::from_spki(spki))
    }

    /// Parses the key for every algorithm now, for a key used again and again.
    fn pinned(mut self) -> Result<Self, String> {
        let parse = |params: &'static RsaParameters| {
            ParsedPublicKey::new(params, &self.spki)
                .map_err(|e| format!("not an RSA key of 2048 to 8192 bits: {e}"))
        };
        self.parsed = Some([
            parse(ALGORITHMS[0].1)?,
            parse(ALGORITHMS[1].1)?,
            parse(ALGORITHMS[2].1)?,
        ]);
        Ok(self)
    }

    /// `signature` is this key's PKCS #1 v1.5 signature with `method` (an XML-DSig
    /// SignatureMethod URI) over `message`.
    pub fn verifies(&self, method: &str, message: &[u8], signature: &[u8]) -> bool {
        let Some(i) = ALGORITHMS.iter().position(|(uri, _)| *uri == method) else {
            return false;
        };
        match &self.parsed {
            Some(parsed) => parsed[i].verify_sig(message, signature).is_ok(),
            None => UnparsedPublicKey::new(ALGORITHMS[i].1, &self.spki)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

// === impl TrustedCert ===

impl TrustedCert {
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let cert =
            Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let validity = &cert.tbs_certificate.validity;
        let at = |t: &x509_cert::time::Time| {
            let secs = t.to_unix_duration().as_secs();
            i64::try_from(secs)
                .ok()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .ok_or_else(|| "certificate date out of range".to_string())
        };
        let der = cert
            .to_der()
            .map_err(|e| format!("cannot re-encode certificate: {e}"))?;
        Ok(Self {
            key: Arc::new(PublicKey::from_cert(&der)?.pinned()?),
            der,
            not_before: at(&validity.not_before)?,
            not_after: at(&validity.not_after)?,
        })
    }

    pub fn valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// Loads every `CERTIFICATE` block of every file.
pub(super) fn load_trust(paths: &[PathBuf]) -> Result<Vec<TrustedCert>, SamlError> {
    let mut out = Vec::new();
    for path in paths {
        let err = |reason: String| SamlError::TrustStore {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let certs = load_pem(&pem).map_err(err)?;
        if certs.is_empty() {
            return Err(err("no CERTIFICATE block".into()));
        }
        out.extend(certs);
    }
    if out.len() > MAX_TRUSTED_CERTS {
        return Err(SamlError::TrustStore {
            path: paths
                .first()
                .map(|p: &PathBuf| p.display().to_string())
                .unwrap_or_default(),
            reason: format!("more than {MAX_TRUSTED_CERTS} certificates"),
        });
    }
    Ok(out)
}

fn load_pem(pem: &[u8]) -> Result<Vec<TrustedCert>, String> {
    Certificate::load_pem_chain(pem)
        .map_err(|e| format!("cannot read PEM certificates: {e}"))?
        .iter()
        .map(|c| {
            let der = c.to_der().map_err(|e| e.to_string())?;
            TrustedCert::from_der(&der)
        })
        .collect()
}

/// DER `SubjectPublicKeyInfo` for an RSA public key (big-endian modulus and exponent).
pub(super) fn rsa_spki_der(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    let mut rsa = der_integer(modulus);
    rsa.extend(der_integer(exponent));
    let rsa = der_tlv(0x30, &rsa);
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
    const ALG: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0u8]; // no unused bits
    bits.extend(rsa);
    let mut spki = ALG.to_vec();
    spki.extend(der_tlv(0x03, &bits));
    der_tlv(0x30, &spki)
}

fn der_integer(big_endian: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = match big_endian.iter().position(|b| *b != 0) {
        Some(i) => &big_endian[i..],
        None => &[0],
    };
    let mut v = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        v.push(0); // keep it positive
    }
    v.extend_from_slice(trimmed);
    der_tlv(0x02, &v)
}

fn der_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}
