//! Keys already loaded into libxmlsec1, kept per thread so a check does not parse its key again.

use std::cell::RefCell;

use xmlsec::{XmlSecKey, XmlSecKeyFormat};

use super::dsig::KeyMaterial;
use super::keys::MAX_TRUSTED_CERTS;

/// Room per thread beyond the largest trust store, for holder-of-key keys (each calling gateway
/// uses one; an identity provider that mints a key per assertion only makes us load again).
const MAX_HOLDER_KEYS: usize = 16;
/// Most keys one thread keeps loaded, pinned and holder-of-key alike (one LRU).
const MAX_KEYS: usize = MAX_TRUSTED_CERTS + MAX_HOLDER_KEYS;

/// The libxmlsec1 keys this thread has loaded, by the DER they were loaded from.
///
/// Loading was the most expensive step of a check: OpenSSL 3's decoders take about 150 µs to
/// turn a certificate into a key, more than canonicalising and verifying a whole assertion
/// (docs/performance.md, "SAML verification cost"), and a fresh RSA key also recomputes its
/// Montgomery constants on first use. An `XmlSecKey` is a raw libxmlsec1 pointer, neither
/// `Send` nor `Sync`, so each blocking-pool thread keeps its own keys.
///
/// Only the verifier puts keys in, and only two kinds: a pinned certificate from the trust
/// store, or the holder-of-key key named by an assertion whose signature has already verified
/// with one. A client cannot choose what is kept. The least recently used key goes when the
/// cache is full.
///
/// A key is lent to one signature context at a time: [`take`] removes it, [`give_back`] returns
/// it once the verification is done. libxmlsec1 takes its own reference to the OpenSSL key for
/// the signature transform and does not change the key itself, so a key that verified one
/// message verifies the next exactly as a freshly loaded one would.
#[derive(Default)]
struct KeyCache {
    entries: Vec<Entry>,
    /// Counts uses, to find the least recently used entry.
    clock: u64,
}

struct Entry {
    material: KeyMaterial,
    key: XmlSecKey,
    last_used: u64,
}

thread_local! {
    static CACHE: RefCell<KeyCache> = RefCell::new(KeyCache::default());
}

/// The key for `material`: this thread's loaded one, or a new one. `None` when libxmlsec1
/// cannot load it (nothing is cached then).
pub(super) fn take(material: &KeyMaterial) -> Option<XmlSecKey> {
    let cached = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let i = c.entries.iter().position(|e| &e.material == material)?;
        Some(c.entries.swap_remove(i).key)
    });
    cached.or_else(|| load(material))
}

/// Keeps `key`, loaded from `material`, for the next check on this thread.
pub(super) fn give_back(material: &KeyMaterial, key: XmlSecKey) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.clock += 1;
        let last_used = c.clock;
        if c.entries.len() >= MAX_KEYS
            && let Some(oldest) = (0..c.entries.len()).min_by_key(|i| c.entries[*i].last_used)
        {
            c.entries.swap_remove(oldest);
        }
        c.entries.push(Entry {
            material: material.clone(),
            key,
            last_used,
        });
    });
}

fn load(material: &KeyMaterial) -> Option<XmlSecKey> {
    let (bytes, format) = match material {
        KeyMaterial::CertDer(der) => (der.as_slice(), XmlSecKeyFormat::CertDer),
        KeyMaterial::PublicDer(der) => (der.as_slice(), XmlSecKeyFormat::Der),
    };
    XmlSecKey::from_memory(bytes, format, None).ok()
}
