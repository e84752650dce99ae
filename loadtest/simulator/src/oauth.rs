//! The API platform's token endpoint (`POST /oauth2/token`, signed-JWT client credentials) and
//! the bearer tokens it hands out.
//!
//! Checks follow the platform's proxy, in its order: grant type, assertion type, a parseable
//! JWT, `alg` = RS512, `exp` present/integer/not expired, `kid`, `typ`, `iss` = `sub` = a known
//! API key with a registered JWKS, `jti` present and never seen before, `exp` at most five
//! minutes ahead, a public key for `kid`, the signature, then `aud` = this token URL. Each
//! failure answers the platform's status and `error_description`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::outcome;

/// The dev public keys from `deploy/local/keys/` (test-1, test-2), trusted by default.
pub const DEV_PUBLIC_KEYS: [(&str, &str); 2] = [
    (
        "test-1",
        include_str!("../../../deploy/local/keys/test-1.pub.pem"),
    ),
    (
        "test-2",
        include_str!("../../../deploy/local/keys/test-2.pub.pem"),
    ),
];

/// The platform allows 310 s of remaining lifetime (five minutes plus slack).
const MAX_ASSERTION_AHEAD_SECS: i64 = 310;
/// Bound on remembered `jti`s and live tokens (expired ones are pruned first).
const MAX_REMEMBERED: usize = 200_000;

/// Registered applications, issued tokens and seen `jti`s.
pub struct OAuth {
    token_url: String,
    /// API key → (kid → key).
    apps: HashMap<String, Vec<(String, DecodingKey)>>,
    jwks: HashMap<String, Value>,
    tokens: Mutex<HashMap<String, Instant>>,
    jtis: Mutex<HashMap<String, i64>>,
    lifetime: Mutex<Duration>,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

type Reject = Box<Response>;

fn reject(status: u16, error: &str, description: &str) -> Reject {
    Box::new(outcome::oauth(status, error, description))
}

// === impl OAuth ===

impl OAuth {
    /// `apps`: API key → (kid, public key PEM).
    pub fn new(
        token_url: String,
        apps: &[(String, Vec<(String, String)>)],
        lifetime: Duration,
    ) -> Result<Self, String> {
        let mut keys = HashMap::new();
        let mut jwks = HashMap::new();
        for (api_key, pems) in apps {
            let mut set = Vec::new();
            let mut jwk_list = Vec::new();
            for (kid, pem) in pems {
                let key = DecodingKey::from_rsa_pem(pem.as_bytes())
                    .map_err(|e| format!("key {kid}: {e}"))?;
                let mut jwk =
                    jsonwebtoken::jwk::Jwk::from_decoding_key(&key, Some(Algorithm::RS512))
                        .map_err(|e| format!("key {kid}: {e}"))?;
                jwk.common.key_id = Some(kid.clone());
                jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
                jwk_list.push(jwk);
                set.push((kid.clone(), key));
            }
            let jwks_value =
                serde_json::to_value(JwkSet { keys: jwk_list }).map_err(|e| e.to_string())?;
            jwks.insert(api_key.clone(), jwks_value);
            keys.insert(api_key.clone(), set);
        }
        Ok(Self {
            token_url,
            apps: keys,
            jwks,
            tokens: Mutex::new(HashMap::new()),
            jtis: Mutex::new(HashMap::new()),
            lifetime: Mutex::new(lifetime),
        })
    }

    /// The JWKS trusted for each API key.
    pub fn jwks(&self) -> Value {
        json!(self.jwks)
    }

    pub fn set_lifetime(&self, d: Duration) {
        if let Ok(mut l) = self.lifetime.lock() {
            *l = d;
        }
    }

    /// Forgets every issued token (callers then get 401 until they fetch a new one).
    pub fn revoke_all(&self) {
        if let Ok(mut t) = self.tokens.lock() {
            t.clear();
        }
    }

    /// Whether `Authorization: Bearer <token>` names a live token; `Err` is the PDS wording.
    pub fn check_bearer(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let Some(token) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return Err("Missing access token");
        };
        let live = self
            .tokens
            .lock()
            .ok()
            .and_then(|t| t.get(token.trim()).copied())
            .is_some_and(|exp| Instant::now() < exp);
        if live {
            Ok(())
        } else {
            Err("Invalid Access Token")
        }
    }

    /// Handles the form body of `POST /oauth2/token`.
    pub fn token(&self, body: &[u8]) -> Response {
        match self.issue(body) {
            Ok(r) | Err(r) => *r,
        }
    }

    fn issue(&self, body: &[u8]) -> Result<Reject, Reject> {
        let form = parse_form(body);
        match form.get("grant_type").map(String::as_str) {
            None => return Err(reject(400, "invalid_request", "grant_type is missing")),
            Some("client_credentials") => {}
            Some(_) => {
                return Err(reject(
                    400,
                    "unsupported_grant_type",
                    "grant_type is invalid",
                ));
            }
        }
        if form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err(reject(
                400,
                "invalid_request",
                "Missing or invalid client_assertion_type - must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'",
            ));
        }
        let Some(jwt) = form.get("client_assertion").filter(|s| !s.is_empty()) else {
            return Err(reject(400, "invalid_request", "Missing client_assertion"));
        };
        let malformed = || reject(400, "invalid_request", "Malformed JWT in client_assertion");
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return Err(malformed());
        }
        let decode = |s: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok()
        };
        let (Some(header), Some(claims)) = (decode(parts[0]), decode(parts[1])) else {
            return Err(malformed());
        };
        match header.get("alg").and_then(Value::as_str) {
            None => {
                return Err(reject(
                    400,
                    "invalid_request",
                    "Missing 'alg' header in client_assertion JWT",
                ));
            }
            Some("RS512") => {}
            Some(_) => {
                return Err(reject(
                    400,
                    "invalid_request",
                    "Invalid 'alg' header in client_assertion JWT - unsupported JWT algorithm - must be 'RS512'",
                ));
            }
        }
        let now = now_secs();
        let exp = match claims.get("exp") {
            None => {
                return Err(reject(
                    400,
                    "invalid_request",
                    "Missing 'exp' claim in client_assertion JWT",
                ));
            }
            Some(v) => v.as_i64().ok_or_else(|| {
                reject(
                    400,
                    "invalid_request",
                    "Invalid 'exp' claim in client_assertion JWT - must be an integer",
                )
            })?,
        };
        if exp <= now {
            return Err(reject(
                400,
                "invalid_request",
                "Invalid 'exp' claim in client_assertion JWT - JWT has expired",
            ));
        }
        let Some(kid) = header.get("kid").and_then(Value::as_str) else {
            return Err(reject(
                400,
                "invalid_request",
                "Missing 'kid' header in client_assertion JWT",
            ));
        };
        if let Some(typ) = header.get("typ")
            && !typ.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT"))
        {
            return Err(reject(
                400,
                "invalid_request",
                "Invalid 'typ' header in client_assertion JWT - must be 'JWT'",
            ));
        }
        let iss = claims.get("iss").and_then(Value::as_str);
        let sub = claims.get("sub").and_then(Value::as_str);
        let Some(api_key) = iss.filter(|i| Some(*i) == sub) else {
            return Err(reject(
                400,
                "invalid_request",
                "Missing or non-matching 'iss'/'sub' claims in client_assertion JWT",
            ));
        };
        let Some(keys) = self.apps.get(api_key) else {
            return Err(reject(
                401,
                "invalid_request",
                "Invalid 'iss'/'sub' claims in client_assertion JWT",
            ));
        };
        if keys.is_empty() {
            return Err(reject(
                403,
                "public_key error",
                "You need to register a public key to use this authentication method - please contact support to configure",
            ));
        }
        let jti = match claims.get("jti") {
            None => return Err(reject(400, "invalid_request", "Missing 'jti' claim in client_assertion JWT")),
            Some(v) => v.as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
                reject(400, "invalid_request", "Invalid 'jti' claim in client_assertion JWT - must be a unique string value such as a GUID")
            })?,
        };
        if !self.remember_jti(jti, exp, now) {
            return Err(reject(
                400,
                "invalid_request",
                "Non-unique 'jti' claim in client_assertion JWT",
            ));
        }
        if exp > now + MAX_ASSERTION_AHEAD_SECS {
            return Err(reject(
                400,
                "invalid_request",
                "Invalid 'exp' claim in client_assertion JWT - more than 5 minutes in future",
            ));
        }
        let Some((_, key)) = keys.iter().find(|(k, _)| k == kid) else {
            return Err(reject(
                401,
                "invalid_request",
                "Invalid 'kid' header in client_assertion JWT - no matching public key",
            ));
        };
        let mut validation = Validation::new(Algorithm::RS512);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.leeway = 10;
        if jsonwebtoken::decode::<Value>(jwt, key, &validation).is_err() {
            return Err(reject(
                401,
                "public_key error",
                "JWT signature verification failed",
            ));
        }
        if claims.get("aud").and_then(Value::as_str) != Some(self.token_url.as_str()) {
            return Err(reject(
                401,
                "invalid_request",
                "Missing or invalid 'aud' claim in client_assertion JWT",
            ));
        }
        Ok(Box::new(self.grant()))
    }

    fn remember_jti(&self, jti: &str, exp: i64, now: i64) -> bool {
        let Ok(mut seen) = self.jtis.lock() else {
            return false;
        };
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, e| *e > now);
        }
        if seen.len() >= MAX_REMEMBERED {
            return false;
        }
        seen.insert(jti.to_string(), exp).is_none()
    }

    fn grant(&self) -> Response {
        let lifetime = self
            .lifetime
            .lock()
            .map(|l| *l)
            .unwrap_or(Duration::from_secs(599));
        let token = uuid::Uuid::new_v4().simple().to_string();
        if let Ok(mut t) = self.tokens.lock() {
            let now = Instant::now();
            if t.len() >= MAX_REMEMBERED {
                t.retain(|_, exp| *exp > now);
            }
            t.insert(token.clone(), now + lifetime);
        }
        let body = json!({
            "access_token": token,
            "expires_in": lifetime.as_secs().to_string(),
            "token_type": "Bearer",
            "issued_at": (now_secs() * 1000).to_string()
        });
        outcome::json_response(200, "application/json", body.to_string())
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `application/x-www-form-urlencoded` → map (last value wins).
pub fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` and `+` (as space).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
