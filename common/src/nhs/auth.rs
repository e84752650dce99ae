//! API-platform application-restricted auth: a signed-JWT client assertion (RS512, `kid`
//! header) exchanged at the token endpoint for a bearer token, which is cached.
//!
//! [`TokenSource::token`] serves the cached token until `token_refresh_margin` before it
//! expires. When it must refresh, one caller fetches while the others wait on the same gate and
//! then read the new token: however many requests arrive, one token request is in flight.
//! A 401 from PDS calls [`TokenSource::invalidate`] with the token that failed, so a revoked
//! token is replaced once, not once per caller.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use super::config::{NhsConfig, SigningKeyConfig};
use super::transport::Upstream;
use super::{Service, UpstreamError};

const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The platform refuses assertions that expire more than five minutes ahead.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(290);

/// Claims of the client assertion (no `iat`: the platform does not require one).
#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(deserialize_with = "string_or_number")]
    expires_in: u64,
}

#[derive(Clone)]
struct CachedToken {
    value: Arc<str>,
    refresh_at: Instant,
}

struct Inner {
    cfg: Arc<NhsConfig>,
    upstream: Upstream,
    keys: Vec<(String, EncodingKey)>,
    active: usize,
    cache: RwLock<Option<CachedToken>>,
    refresh_gate: Mutex<()>,
    /// When the last fetch failed, and how (shared with callers that waited for it).
    last_failure: std::sync::Mutex<Option<(Instant, UpstreamError)>>,
}

/// The cached bearer token for the API platform (PDS). Cheap to clone.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

// === impl TokenSource ===

impl TokenSource {
    pub(crate) fn new(cfg: Arc<NhsConfig>) -> Result<Self, UpstreamError> {
        let keys = load_keys(&cfg.signing_keys)?;
        let active = keys
            .iter()
            .position(|(kid, _)| *kid == cfg.active_kid)
            .ok_or_else(|| {
                UpstreamError::config(Service::Oauth, "no signing key has the active kid")
            })?;
        let upstream = Upstream::new(Service::Oauth, &cfg, cfg.timeouts.token, 64 * 1024, false)?;
        Ok(Self {
            inner: Arc::new(Inner {
                cfg,
                upstream,
                keys,
                active,
                cache: RwLock::new(None),
                refresh_gate: Mutex::new(()),
                last_failure: std::sync::Mutex::new(None),
            }),
        })
    }

    /// A bearer token valid for at least the refresh margin (fetching one if needed).
    #[tracing::instrument(skip_all, name = "upstream", fields(upstream = "oauth"))]
    pub async fn token(&self) -> Result<Arc<str>, UpstreamError> {
        if let Some(t) = self.fresh().await {
            return Ok(t);
        }
        let waited_from = Instant::now();
        let _gate = self.inner.refresh_gate.lock().await;
        // Whoever held the gate before us may have refreshed already, or just failed.
        if let Some(t) = self.fresh().await {
            return Ok(t);
        }
        if let Some(e) = self.failed_since(waited_from) {
            return Err(e);
        }
        let (value, expires_in) = match self.fetch().await {
            Ok(v) => v,
            Err(e) => {
                if let Ok(mut last) = self.inner.last_failure.lock() {
                    *last = Some((Instant::now(), shared(&e)));
                }
                return Err(e);
            }
        };
        let lifetime = Duration::from_secs(expires_in);
        let margin = self.inner.cfg.token_refresh_margin.min(lifetime / 2);
        let token = CachedToken {
            value: Arc::from(value),
            refresh_at: Instant::now() + lifetime - margin,
        };
        *self.inner.cache.write().await = Some(token.clone());
        Ok(token.value)
    }

    /// Drops the cached token if it is still `stale` (the one a service just refused).
    pub async fn invalidate(&self, stale: &str) {
        let mut cache = self.inner.cache.write().await;
        if cache.as_ref().is_some_and(|t| &*t.value == stale) {
            *cache = None;
        }
    }

    /// A fresh signed client assertion (exposed for tests and diagnostics).
    pub fn client_assertion(&self) -> Result<String, UpstreamError> {
        let cfg = &self.inner.cfg;
        let (kid, key) = &self.inner.keys[self.inner.active];
        let mut header = Header::new(Algorithm::RS512);
        header.typ = Some("JWT".into());
        header.kid = Some(kid.clone());
        let exp = now_secs() + ASSERTION_LIFETIME.as_secs();
        let claims = AssertionClaims {
            iss: cfg.api_key.expose(),
            sub: cfg.api_key.expose(),
            aud: &cfg.token_url,
            jti: uuid::Uuid::new_v4().to_string(),
            exp,
        };
        jsonwebtoken::encode(&header, &claims, key)
            .map_err(|e| UpstreamError::config(Service::Oauth, format!("signing: {e}")))
    }

    /// The public keys as a JWKS document, for the URL registered with the platform.
    pub fn jwks(&self) -> Result<String, UpstreamError> {
        jwks_json(&self.inner.cfg.signing_keys)
    }

    /// The failure of a fetch that ended after `since` (while we waited for the gate).
    fn failed_since(&self, since: Instant) -> Option<UpstreamError> {
        let last = self.inner.last_failure.lock().ok()?;
        let (at, e) = last.as_ref()?;
        (*at >= since).then(|| shared(e))
    }

    async fn fresh(&self) -> Option<Arc<str>> {
        let cache = self.inner.cache.read().await;
        cache
            .as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.value.clone())
    }

    async fn fetch(&self) -> Result<(String, u64), UpstreamError> {
        let up = &self.inner.upstream;
        let reply = up
            .retrying(|| async {
                let assertion = self.client_assertion()?;
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", CLIENT_ASSERTION_TYPE),
                    ("client_assertion", assertion.as_str()),
                ];
                up.attempt(up.http.post(&self.inner.cfg.token_url).form(&form))
                    .await
            })
            .await?;
        let resp: TokenResponse = serde_json::from_slice(&reply.body)
            .map_err(|e| UpstreamError::invalid(Service::Oauth, format!("token response: {e}")))?;
        tracing::debug!(expires_in = resp.expires_in, "Fetched an access token.");
        Ok((resp.access_token, resp.expires_in))
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("active_kid", &self.inner.cfg.active_kid)
            .finish_non_exhaustive()
    }
}

/// Builds the JWKS (`{"keys":[{kty, n, e, alg: RS512, kid, use: sig}]}`) of the configured keys.
pub fn jwks_json(keys: &[SigningKeyConfig]) -> Result<String, UpstreamError> {
    let mut set = JwkSet { keys: Vec::new() };
    for (kid, key) in load_keys(keys)? {
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS512)
            .map_err(|e| UpstreamError::config(Service::Oauth, format!("JWK of {kid}: {e}")))?;
        jwk.common.key_id = Some(kid);
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS512);
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        set.keys.push(jwk);
    }
    serde_json::to_string(&set)
        .map_err(|e| UpstreamError::config(Service::Oauth, format!("JWKS: {e}")))
}

fn load_keys(keys: &[SigningKeyConfig]) -> Result<Vec<(String, EncodingKey)>, UpstreamError> {
    if keys.is_empty() {
        return Err(UpstreamError::config(
            Service::Oauth,
            "no signing key configured",
        ));
    }
    keys.iter()
        .map(|k| {
            let pem = std::fs::read(&k.pem_path).map_err(|e| {
                UpstreamError::config(
                    Service::Oauth,
                    format!("reading {}: {e}", k.pem_path.display()),
                )
            })?;
            let bad = |e: jsonwebtoken::errors::Error| {
                UpstreamError::config(Service::Oauth, format!("key {}: {e}", k.kid))
            };
            let key = EncodingKey::from_rsa_pem(&pem).map_err(bad)?;
            // A certificate or public key parses too; only a private key can sign.
            jsonwebtoken::encode(&Header::new(Algorithm::RS512), &serde_json::json!({}), &key)
                .map_err(bad)?;
            Ok((k.kid.clone(), key))
        })
        .collect()
}

/// A copy of a token-fetch failure for the callers that waited on it.
fn shared(e: &UpstreamError) -> UpstreamError {
    UpstreamError::SharedFailure {
        service: Service::Oauth,
        status: e.status(),
        code: e.code().cloned(),
        retryable: e.is_retryable(),
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `expires_in` arrives as a string ("599") from the platform, as a number elsewhere.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(u64),
    }
    match Either::deserialize(d)? {
        Either::N(n) => Ok(n),
        Either::S(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}
