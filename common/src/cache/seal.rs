//! At-rest protection of cached values: LZ4 compression, then AES-256-GCM when a key is
//! configured, so Redis persistence (RDB/AOF) never holds a readable GP record.
//!
//! `XHUMA_CACHE_KEY` is a master key, never used directly: HKDF-SHA-256 derives from it one
//! AES-256-GCM key for sealing, one HMAC key for the patient hash (`patient.key`), and a
//! 4-byte key id. Old master keys (`XHUMA_CACHE_OLD_KEYS`) still open what they sealed, so a
//! key can be rotated without a cold cache: writes use the new key, reads find the key by id,
//! and the old values expire with their documents.
//!
//! Layout of a sealed value: one format byte, then either the compressed bytes (`0x01`, no key
//! configured) or (`0x03`) the key id, a 12-byte nonce, and the ciphertext and tag of the
//! compressed bytes. The Redis key name is bound in as associated data, so a value copied to
//! another key does not open. (`0x02`, the format of versions that used the master key
//! itself, is no longer read: such values are misses and are fetched again.)

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

const PLAIN: u8 = 0x01;
const SEALED: u8 = 0x03;
const KEY_ID_LEN: usize = 4;
/// Domain separation: the same master key used by another system derives other keys.
const HKDF_SALT: &[u8] = b"xhuma-cache-v1";
/// Without a configured key the patient hash is only pseudonymous: anyone can recompute it.
const PUBLIC_PATIENT_KEY: &[u8] = b"xhuma-patient-key";

/// Why a cached value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cached value has an unknown format")]
    Format,
    #[error("cached value is encrypted but no key is configured")]
    NoKey,
    #[error("cached value was sealed with a key that is not configured (rotated out)")]
    UnknownKey,
    #[error("cached value failed authentication (wrong key or tampered)")]
    Auth,
    #[error("cached value does not decompress")]
    Decompress,
    #[error("cannot encrypt")]
    Encrypt,
    #[error("a cache key must be 64 hexadecimal characters")]
    BadKey,
}

/// The keys derived from one master key.
struct Keys {
    id: [u8; KEY_ID_LEN],
    aead: LessSafeKey,
    patient: hmac::Key,
}

/// Compresses and (optionally) encrypts values; hashes NHS numbers into patient keys.
pub struct Sealer {
    /// The write key first, then the old keys (read only).
    keys: Vec<Keys>,
    public_patient: hmac::Key,
    rng: SystemRandom,
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(master: &[u8], info: &[u8], out: &mut [u8]) -> Result<(), SealError> {
    Salt::new(HKDF_SHA256, HKDF_SALT)
        .extract(master)
        .expand(&[info], Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| SealError::BadKey)
}

/// `patient.key`: HMAC-SHA-256 of the NHS number, truncated to 128 bits, in hex.
fn patient_hash(key: &hmac::Key, nhs: &str) -> String {
    hex::encode(&hmac::sign(key, nhs.as_bytes()).as_ref()[..16])
}

// === impl Keys ===

impl Keys {
    fn from_hex(hex_key: &str) -> Result<Self, SealError> {
        let master = hex::decode(hex_key.trim()).map_err(|_| SealError::BadKey)?;
        if master.len() != 32 {
            return Err(SealError::BadKey);
        }
        let mut id = [0u8; KEY_ID_LEN];
        let mut aead = [0u8; 32];
        let mut patient = [0u8; 32];
        derive(&master, b"key-id", &mut id)?;
        derive(&master, b"seal", &mut aead)?;
        derive(&master, b"patient-key", &mut patient)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &aead).map_err(|_| SealError::BadKey)?;
        Ok(Self {
            id,
            aead: LessSafeKey::new(unbound),
            patient: hmac::Key::new(hmac::HMAC_SHA256, &patient),
        })
    }
}

// === impl Sealer ===

impl Sealer {
    /// `current` seals and hashes; `old` keys only open and hash for lookups. Each is 64 hex
    /// characters (validated by `RedisConfig`).
    pub fn new(current: Option<&str>, old: &[&str]) -> Result<Self, SealError> {
        let mut keys = Vec::new();
        if let Some(k) = current {
            keys.push(Keys::from_hex(k)?);
            for k in old {
                keys.push(Keys::from_hex(k)?);
            }
        }
        Ok(Self {
            keys,
            public_patient: hmac::Key::new(hmac::HMAC_SHA256, PUBLIC_PATIENT_KEY),
            rng: SystemRandom::new(),
        })
    }

    pub fn encrypts(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The patient hash under the write key, then under each old key (for lookups of values
    /// written before a rotation). One entry when no key is configured.
    pub fn patient_keys(&self, nhs: &str) -> Vec<String> {
        if self.keys.is_empty() {
            return vec![patient_hash(&self.public_patient, nhs)];
        }
        self.keys
            .iter()
            .map(|k| patient_hash(&k.patient, nhs))
            .collect()
    }

    /// The patient hash under the write key.
    pub fn patient_key(&self, nhs: &str) -> String {
        let key = self
            .keys
            .first()
            .map_or(&self.public_patient, |k| &k.patient);
        patient_hash(key, nhs)
    }

    pub fn seal(&self, aad: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let compressed = lz4_flex::compress_prepend_size(plain);
        let Some(key) = self.keys.first() else {
            let mut out = Vec::with_capacity(compressed.len() + 1);
            out.push(PLAIN);
            out.extend_from_slice(&compressed);
            return Ok(out);
        };
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Encrypt)?;
        let mut buf = compressed;
        key.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Encrypt)?;
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + buf.len());
        out.push(SEALED);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&format, rest) = sealed.split_first().ok_or(SealError::Format)?;
        let compressed = match format {
            // With a key configured, only sealed values are accepted: a plain one could have
            // been written by anyone with access to Redis.
            PLAIN if self.encrypts() => return Err(SealError::Format),
            PLAIN => rest.to_vec(),
            SEALED => {
                if !self.encrypts() {
                    return Err(SealError::NoKey);
                }
                if rest.len() < KEY_ID_LEN + NONCE_LEN {
                    return Err(SealError::Format);
                }
                let (id, rest) = rest.split_at(KEY_ID_LEN);
                let key = self
                    .keys
                    .iter()
                    .find(|k| k.id == id)
                    .ok_or(SealError::UnknownKey)?;
                let (nonce, ct) = rest.split_at(NONCE_LEN);
                let nonce =
                    Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Format)?;
                let mut buf = ct.to_vec();
                let plain = key
                    .aead
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
    const NEW: &str = "f0e0d0c0b0a090807060504030201000f1e1d1c1b1a191817161514131211101";

    #[test]
    fn round_trips_plain_and_sealed() {
        let doc = b"<ClinicalDocument>hello hello hello hello</ClinicalDocument>".repeat(50);
        let plain = Sealer::new(None, &[]).unwrap();
        let v = plain.seal("k", &doc).unwrap();
        assert!(v.len() < doc.len());
        assert_eq!(plain.open("k", &v).unwrap(), doc);

        let sealed = Sealer::new(Some(KEY), &[]).unwrap();
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

    #[test]
    fn the_master_key_is_never_the_aead_or_hmac_key() {
        let sealer = Sealer::new(Some(KEY), &[]).unwrap();
        let v = sealer.seal("k", b"x").unwrap();
        // Sealed directly under the master key, the value must not open.
        let raw =
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &hex::decode(KEY).unwrap()).unwrap());
        let nonce = Nonce::try_assume_unique_for_key(&v[5..17]).unwrap();
        let mut ct = v[17..].to_vec();
        assert!(raw.open_in_place(nonce, Aad::from(b"k"), &mut ct).is_err());
        // And the patient hash is not HMAC under the master key.
        let direct = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, KEY.as_bytes()),
            b"9690937286",
        );
        assert_ne!(
            sealer.patient_key("9690937286"),
            hex::encode(&direct.as_ref()[..16])
        );
    }

    #[test]
    fn rotation_reads_old_values_and_writes_new_ones() {
        let before = Sealer::new(Some(KEY), &[]).unwrap();
        let old_value = before.seal("k", b"written before the rotation").unwrap();
        let after = Sealer::new(Some(NEW), &[KEY]).unwrap();
        assert_eq!(
            after.open("k", &old_value).unwrap(),
            b"written before the rotation"
        );
        let new_value = after.seal("k", b"new").unwrap();
        assert!(matches!(
            before.open("k", &new_value),
            Err(SealError::UnknownKey)
        ));
        let retired = Sealer::new(Some(NEW), &[]).unwrap();
        assert!(matches!(
            retired.open("k", &old_value),
            Err(SealError::UnknownKey)
        ));
        // Lookups find a patient's entries under both hashes, the new one first.
        let keys = after.patient_keys("9690937286");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], after.patient_key("9690937286"));
        assert_eq!(keys[1], before.patient_key("9690937286"));
    }
}
