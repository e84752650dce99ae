//! At-rest protection of cached documents: LZ4 compression, then AES-256-GCM when a key is
//! configured, so Redis persistence (RDB/AOF) never holds a readable GP record.
//!
//! Layout of a sealed value: one format byte, then either the compressed bytes (`0x01`) or a
//! 12-byte nonce followed by the ciphertext and tag of the compressed bytes (`0x02`). The Redis
//! key name is bound in as associated data, so a value copied to another key does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

const PLAIN: u8 = 0x01;
const SEALED: u8 = 0x02;

/// Why a cached value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cached value has an unknown format")]
    Format,
    #[error("cached value is encrypted but no key is configured")]
    NoKey,
    #[error("cached value failed authentication (wrong key or tampered)")]
    Auth,
    #[error("cached value does not decompress")]
    Decompress,
    #[error("cannot encrypt")]
    Encrypt,
}

/// Compresses and (optionally) encrypts values.
pub struct Sealer {
    key: Option<LessSafeKey>,
    rng: SystemRandom,
}

// === impl Sealer ===

impl Sealer {
    /// `key_hex` is 64 hex characters (validated by `RedisConfig`).
    pub fn new(key_hex: Option<&str>) -> Result<Self, SealError> {
        let key = match key_hex {
            None => None,
            Some(hex_key) => {
                let bytes = hex::decode(hex_key).map_err(|_| SealError::Format)?;
                let unbound =
                    UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SealError::Format)?;
                Some(LessSafeKey::new(unbound))
            }
        };
        Ok(Self {
            key,
            rng: SystemRandom::new(),
        })
    }

    pub fn encrypts(&self) -> bool {
        self.key.is_some()
    }

    pub fn seal(&self, aad: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let compressed = lz4_flex::compress_prepend_size(plain);
        match &self.key {
            None => {
                let mut out = Vec::with_capacity(compressed.len() + 1);
                out.push(PLAIN);
                out.extend_from_slice(&compressed);
                Ok(out)
            }
            Some(key) => {
                let mut nonce = [0u8; NONCE_LEN];
                self.rng.fill(&mut nonce).map_err(|_| SealError::Encrypt)?;
                let mut buf = compressed;
                key.seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad.as_bytes()),
                    &mut buf,
                )
                .map_err(|_| SealError::Encrypt)?;
                let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
                out.push(SEALED);
                out.extend_from_slice(&nonce);
                out.extend_from_slice(&buf);
                Ok(out)
            }
        }
    }

    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&format, rest) = sealed.split_first().ok_or(SealError::Format)?;
        let compressed = match format {
            // With a key configured, only sealed values are accepted: a plain one could have
            // been written by anyone with access to Redis.
            PLAIN if self.key.is_some() => return Err(SealError::Format),
            PLAIN => rest.to_vec(),
            SEALED => {
                let key = self.key.as_ref().ok_or(SealError::NoKey)?;
                if rest.len() < NONCE_LEN {
                    return Err(SealError::Format);
                }
                let (nonce, ct) = rest.split_at(NONCE_LEN);
                let nonce =
                    Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Format)?;
                let mut buf = ct.to_vec();
                let plain = key
                    .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
                    .map_err(|_| SealError::Auth)?;
                plain.to_vec()
            }
            _ => return Err(SealError::Format),
        };
        lz4_flex::decompress_size_prepended(&compressed).map_err(|_| SealError::Decompress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn round_trips_plain_and_sealed() {
        let doc = b"<ClinicalDocument>hello hello hello hello</ClinicalDocument>".repeat(50);
        let plain = Sealer::new(None).unwrap();
        let v = plain.seal("k", &doc).unwrap();
        assert!(v.len() < doc.len());
        assert_eq!(plain.open("k", &v).unwrap(), doc);

        let sealed = Sealer::new(Some(KEY)).unwrap();
        let v = sealed.seal("k", &doc).unwrap();
        assert!(!v.windows(17).any(|w| w == b"ClinicalDocument>"));
        assert_eq!(sealed.open("k", &v).unwrap(), doc);
        assert!(matches!(sealed.open("other", &v), Err(SealError::Auth)));
        assert!(matches!(plain.open("k", &v), Err(SealError::NoKey)));
        let mut tampered = v.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(sealed.open("k", &tampered), Err(SealError::Auth)));
    }
}
