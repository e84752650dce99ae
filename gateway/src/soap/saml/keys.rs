//! Trusted signer certificates (PEM files named in `XHUMA_SAML_TRUST_PEM`, read once at start-up)
//! and the encoding of a holder-of-key `RSAKeyValue` as a DER `SubjectPublicKeyInfo`, the form
//! libxmlsec1 loads.
//!
//! Trust is by pinning: an assertion verifies only with the public key of one of these
//! certificates, while it is inside its validity period. Chains to a CA are not built.

use std::path::PathBuf;

use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

use super::SamlError;

/// Most certificates accepted in the trust store (each failed verification tries them all).
pub(super) const MAX_TRUSTED_CERTS: usize = 32;

/// A pinned signer certificate.
#[derive(Debug, Clone)]
pub(super) struct TrustedCert {
    pub der: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
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
        Ok(Self {
            der: cert
                .to_der()
                .map_err(|e| format!("cannot re-encode certificate: {e}"))?,
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
