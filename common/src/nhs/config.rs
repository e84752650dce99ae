//! `XHUMA_NHS_*` settings: where the NHS services are, who we are to them, and how patient we
//! are with them.
//!
//! `XHUMA_NHS_ENV` (`sandbox`, `int`, `dep`, `prod`) picks the platform base URLs; each URL can
//! be overridden on its own, so any URL (an `nhs-sim` on loopback, say) works too.

use std::path::PathBuf;
use std::time::Duration;

use super::ClinicalArea;
use crate::cli::Setting;
use crate::config::{ConfigError, Env, Secret};

pub const XHUMA_NHS_ENV: &str = "XHUMA_NHS_ENV";
pub const DEFAULT_NHS_ENV: &str = "int";
pub const XHUMA_NHS_PDS_URL: &str = "XHUMA_NHS_PDS_URL";
pub const XHUMA_NHS_SDS_URL: &str = "XHUMA_NHS_SDS_URL";
pub const XHUMA_NHS_TOKEN_URL: &str = "XHUMA_NHS_TOKEN_URL";
pub const XHUMA_NHS_SSP_URL: &str = "XHUMA_NHS_SSP_URL";
pub const XHUMA_NHS_API_KEY: &str = "XHUMA_NHS_API_KEY";
pub const XHUMA_NHS_SIGNING_KEYS: &str = "XHUMA_NHS_SIGNING_KEYS";
pub const XHUMA_NHS_SIGNING_KEY_PATH: &str = "XHUMA_NHS_SIGNING_KEY_PATH";
pub const XHUMA_NHS_SIGNING_KID: &str = "XHUMA_NHS_SIGNING_KID";
pub const DEFAULT_SIGNING_KID: &str = "test-1";
pub const XHUMA_NHS_ASID: &str = "XHUMA_NHS_ASID";
pub const XHUMA_NHS_END_USER_ODS: &str = "XHUMA_NHS_END_USER_ODS";
pub const XHUMA_NHS_JWT_ISSUER: &str = "XHUMA_NHS_JWT_ISSUER";
pub const XHUMA_NHS_ORG_ODS: &str = "XHUMA_NHS_ORG_ODS";
pub const XHUMA_NHS_ORG_NAME: &str = "XHUMA_NHS_ORG_NAME";
pub const XHUMA_NHS_DEVICE_SYSTEM: &str = "XHUMA_NHS_DEVICE_SYSTEM";
pub const XHUMA_NHS_DEVICE_ID: &str = "XHUMA_NHS_DEVICE_ID";
pub const XHUMA_NHS_DEVICE_MODEL: &str = "XHUMA_NHS_DEVICE_MODEL";
pub const XHUMA_NHS_DEVICE_VERSION: &str = "XHUMA_NHS_DEVICE_VERSION";
pub const XHUMA_NHS_PRACTITIONER: &str = "XHUMA_NHS_PRACTITIONER";
pub const XHUMA_NHS_USER_ID_SYSTEM: &str = "XHUMA_NHS_USER_ID_SYSTEM";
pub const XHUMA_NHS_CONNECT_TIMEOUT_MS: &str = "XHUMA_NHS_CONNECT_TIMEOUT_MS";
pub const XHUMA_NHS_TOKEN_TIMEOUT_MS: &str = "XHUMA_NHS_TOKEN_TIMEOUT_MS";
pub const XHUMA_NHS_PDS_TIMEOUT_MS: &str = "XHUMA_NHS_PDS_TIMEOUT_MS";
pub const XHUMA_NHS_SDS_TIMEOUT_MS: &str = "XHUMA_NHS_SDS_TIMEOUT_MS";
pub const XHUMA_NHS_GPC_TIMEOUT_MS: &str = "XHUMA_NHS_GPC_TIMEOUT_MS";
pub const XHUMA_NHS_MAX_RETRIES: &str = "XHUMA_NHS_MAX_RETRIES";
pub const XHUMA_NHS_RETRY_MIN_DELAY_MS: &str = "XHUMA_NHS_RETRY_MIN_DELAY_MS";
pub const XHUMA_NHS_RETRY_MAX_DELAY_MS: &str = "XHUMA_NHS_RETRY_MAX_DELAY_MS";
pub const XHUMA_NHS_RETRY_AFTER_CAP_MS: &str = "XHUMA_NHS_RETRY_AFTER_CAP_MS";
pub const XHUMA_NHS_TOKEN_REFRESH_MARGIN_SECS: &str = "XHUMA_NHS_TOKEN_REFRESH_MARGIN_SECS";
pub const XHUMA_NHS_TLS_CERT_PATH: &str = "XHUMA_NHS_TLS_CERT_PATH";
pub const XHUMA_NHS_TLS_KEY_PATH: &str = "XHUMA_NHS_TLS_KEY_PATH";
pub const XHUMA_NHS_TLS_CA_PATH: &str = "XHUMA_NHS_TLS_CA_PATH";
pub const XHUMA_NHS_GPC_AREAS: &str = "XHUMA_NHS_GPC_AREAS";
pub const XHUMA_NHS_GPC_RESOLVED_ALLERGIES: &str = "XHUMA_NHS_GPC_RESOLVED_ALLERGIES";
pub const XHUMA_NHS_GPC_PRESCRIPTION_ISSUES: &str = "XHUMA_NHS_GPC_PRESCRIPTION_ISSUES";
pub const XHUMA_NHS_POOL_MAX_IDLE: &str = "XHUMA_NHS_POOL_MAX_IDLE";
pub const XHUMA_NHS_GPC_ALLOWED_HOSTS: &str = "XHUMA_NHS_GPC_ALLOWED_HOSTS";

/// The settings above as `--help` lists them ([`crate::cli`]).
pub const SETTINGS: &[Setting] = &[
    Setting::new(XHUMA_NHS_ENV, "int", "sandbox, int, dep or prod"),
    Setting::new(
        XHUMA_NHS_PDS_URL,
        "per XHUMA_NHS_ENV",
        "PDS FHIR base URL (overrides the environment's)",
    ),
    Setting::new(
        XHUMA_NHS_SDS_URL,
        "per XHUMA_NHS_ENV",
        "SDS FHIR base URL (overrides the environment's)",
    ),
    Setting::new(
        XHUMA_NHS_TOKEN_URL,
        "per XHUMA_NHS_ENV",
        "OAuth2 token endpoint (overrides the environment's)",
    ),
    Setting::new(
        XHUMA_NHS_SSP_URL,
        "INT/PROD SSP",
        "Spine Secure Proxy prefix (ends in /)",
    ),
    Setting::new(XHUMA_NHS_API_KEY, "", "API-platform application key"),
    Setting::new(
        XHUMA_NHS_SIGNING_KEYS,
        "",
        "kid=path,… private keys for the signed-JWT client assertion (several for rotation)",
    ),
    Setting::new(
        XHUMA_NHS_SIGNING_KEY_PATH,
        "",
        "One private key for the signed-JWT client assertion (instead of XHUMA_NHS_SIGNING_KEYS)",
    ),
    Setting::new(XHUMA_NHS_SIGNING_KID, "first key", "Which key signs"),
    Setting::new(XHUMA_NHS_ASID, "", "Our accredited ASID (Ssp-From)"),
    Setting::new(
        XHUMA_NHS_END_USER_ODS,
        "",
        "NHSD-End-User-Organisation-ODS on PDS calls",
    ),
    Setting::new(
        XHUMA_NHS_JWT_ISSUER,
        "Xhuma's own",
        "GP Connect JWT iss when the request carries no identity of its own",
    ),
    Setting::new(
        XHUMA_NHS_ORG_ODS,
        "Xhuma's own",
        "GP Connect JWT requesting organisation ODS code (no identity in the request)",
    ),
    Setting::new(
        XHUMA_NHS_ORG_NAME,
        "Xhuma's own",
        "GP Connect JWT requesting organisation name (no identity in the request)",
    ),
    Setting::new(
        XHUMA_NHS_DEVICE_SYSTEM,
        "Xhuma's own",
        "GP Connect JWT requesting device identifier system",
    ),
    Setting::new(
        XHUMA_NHS_DEVICE_ID,
        "Xhuma's own",
        "GP Connect JWT requesting device identifier",
    ),
    Setting::new(
        XHUMA_NHS_DEVICE_MODEL,
        "Xhuma's own",
        "GP Connect JWT requesting device model",
    ),
    Setting::new(
        XHUMA_NHS_DEVICE_VERSION,
        "Xhuma's own",
        "GP Connect JWT requesting device version",
    ),
    Setting::new(
        XHUMA_NHS_PRACTITIONER,
        "Xhuma's own",
        "GP Connect JWT requesting practitioner id (no identity in the request)",
    ),
    Setting::new(
        XHUMA_NHS_USER_ID_SYSTEM,
        "Xhuma's own",
        "GP Connect JWT practitioner identifier system",
    ),
    Setting::new(
        XHUMA_NHS_CONNECT_TIMEOUT_MS,
        "5000",
        "TCP/TLS connect timeout to NHS services",
    ),
    Setting::new(
        XHUMA_NHS_TOKEN_TIMEOUT_MS,
        "10000",
        "OAuth2 token request timeout",
    ),
    Setting::new(XHUMA_NHS_PDS_TIMEOUT_MS, "10000", "PDS request timeout"),
    Setting::new(XHUMA_NHS_SDS_TIMEOUT_MS, "10000", "SDS request timeout"),
    Setting::new(
        XHUMA_NHS_GPC_TIMEOUT_MS,
        "60000",
        "GP Connect request timeout",
    ),
    Setting::new(
        XHUMA_NHS_MAX_RETRIES,
        "3",
        "Retries of transient failures (connect errors, 5xx, 429)",
    ),
    Setting::new(
        XHUMA_NHS_RETRY_MIN_DELAY_MS,
        "200",
        "Shortest jittered retry delay",
    ),
    Setting::new(
        XHUMA_NHS_RETRY_MAX_DELAY_MS,
        "5000",
        "Longest jittered retry delay",
    ),
    Setting::new(
        XHUMA_NHS_RETRY_AFTER_CAP_MS,
        "30000",
        "Longest Retry-After honoured",
    ),
    Setting::new(
        XHUMA_NHS_TOKEN_REFRESH_MARGIN_SECS,
        "60",
        "Fetch a new OAuth token this long before expiry (one fetch in flight however many callers)",
    ),
    Setting::new(
        XHUMA_NHS_TLS_CERT_PATH,
        "",
        "MTLS client certificate (PEM) for the SSP",
    ),
    Setting::new(
        XHUMA_NHS_TLS_KEY_PATH,
        "",
        "MTLS client key (PEM) for the SSP",
    ),
    Setting::new(
        XHUMA_NHS_TLS_CA_PATH,
        "",
        "CA bundle (PEM) for NHS services",
    ),
    Setting::new(
        XHUMA_NHS_GPC_AREAS,
        "all",
        "Clinical areas requested from GP Connect (comma-separated)",
    ),
    Setting::new(
        XHUMA_NHS_GPC_RESOLVED_ALLERGIES,
        "true",
        "Request ended allergies from GP Connect",
    ),
    Setting::new(
        XHUMA_NHS_GPC_PRESCRIPTION_ISSUES,
        "true",
        "Request prescription issues from GP Connect",
    ),
    Setting::new(
        XHUMA_NHS_POOL_MAX_IDLE,
        "32",
        "Idle connections kept per upstream host",
    ),
    Setting::new(
        XHUMA_NHS_GPC_ALLOWED_HOSTS,
        "any",
        "Comma-separated host suffixes (e.g. .nhs.uk) a GP Connect endpoint address must be on",
    ),
];

/// The API key (client id) the simulator knows, and the ASID it accredits as a consumer.
pub const SIMULATOR_API_KEY: &str = "xhuma-dev-api-key";
pub const SIMULATOR_CONSUMER_ASID: &str = "200000002574";

/// One private key for the OAuth client assertion. Several may be configured for rotation: the
/// platform picks the public key by `kid` from our JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyConfig {
    pub kid: String,
    /// PEM file with an RSA private key (PKCS#1 or PKCS#8).
    pub pem_path: PathBuf,
}

/// Who we say we are in the GP Connect JWT when the caller has no identity of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpcIdentity {
    /// `XHUMA_NHS_JWT_ISSUER`: the consumer's Spine endpoint URL (`iss`).
    pub jwt_issuer: String,
    /// `XHUMA_NHS_ORG_ODS` / `XHUMA_NHS_ORG_NAME`: `requesting_organization` fallback.
    pub org_ods: String,
    pub org_name: String,
    /// `XHUMA_NHS_DEVICE_*`: `requesting_device`.
    pub device_system: String,
    pub device_id: String,
    pub device_model: String,
    pub device_version: String,
    /// `XHUMA_NHS_PRACTITIONER`: "Family, Given" used as `sub` when there is no requester.
    pub practitioner: String,
    /// `XHUMA_NHS_USER_ID_SYSTEM`: identifier system of the local user id in
    /// `requesting_practitioner.identifier`.
    pub user_id_system: String,
}

/// Per-hop timeouts (each attempt gets the whole budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub token: Duration,
    pub pds: Duration,
    pub sds: Duration,
    pub gpconnect: Duration,
}

/// Retries of transient failures (connect errors, timeouts, 5xx, 408, 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` we honour; a longer one is cut to this.
    pub retry_after_cap: Duration,
}

/// mTLS towards the SSP (GP Connect): client certificate, key and the CA bundle to trust.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    pub client_cert_path: Option<PathBuf>,
    pub client_key_path: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
}

/// Everything the NHS clients need.
#[derive(Debug, Clone)]
pub struct NhsConfig {
    /// `XHUMA_NHS_PDS_URL`: PDS FHIR R4 base, no trailing slash.
    pub pds_url: String,
    /// `XHUMA_NHS_SDS_URL`: SDS FHIR R4 base, no trailing slash.
    pub sds_url: String,
    /// `XHUMA_NHS_TOKEN_URL`: the OAuth token endpoint; also the client assertion's `aud`.
    pub token_url: String,
    /// `XHUMA_NHS_SSP_URL`: the SSP prefix, ending in `/`; the provider's absolute URL is
    /// appended to it. Empty means call providers directly.
    pub ssp_url: String,
    /// `XHUMA_NHS_API_KEY`: the API-platform application key (client id, `apikey` for SDS).
    pub api_key: Secret,
    /// `XHUMA_NHS_SIGNING_KEYS` (`kid=path,kid=path`) or `XHUMA_NHS_SIGNING_KEY_PATH`.
    pub signing_keys: Vec<SigningKeyConfig>,
    /// `XHUMA_NHS_SIGNING_KID`: which key signs (default: the first).
    pub active_kid: String,
    /// `XHUMA_NHS_ASID`: our accredited ASID (`Ssp-From`).
    pub consumer_asid: String,
    /// `XHUMA_NHS_END_USER_ODS`: `NHSD-End-User-Organisation-ODS` on PDS calls, when set.
    pub end_user_ods: Option<String>,
    pub gpc_identity: GpcIdentity,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    /// `XHUMA_NHS_TOKEN_REFRESH_MARGIN_SECS`: fetch a new token this long before expiry.
    pub token_refresh_margin: Duration,
    pub tls: TlsConfig,
    /// `XHUMA_NHS_GPC_AREAS`: clinical areas to request (default all).
    pub areas: Vec<ClinicalArea>,
    /// `XHUMA_NHS_GPC_RESOLVED_ALLERGIES` (default true).
    pub include_resolved_allergies: bool,
    /// `XHUMA_NHS_GPC_PRESCRIPTION_ISSUES` (default true).
    pub include_prescription_issues: bool,
    /// `XHUMA_NHS_POOL_MAX_IDLE`: idle connections kept per host.
    pub pool_max_idle_per_host: usize,
    /// `XHUMA_NHS_GPC_ALLOWED_HOSTS`: comma-separated host suffixes a GP Connect endpoint
    /// address (from SDS, the SDS cache or a job) must end with, e.g. `.nhs.uk`; empty = any
    /// host (the other address checks still apply).
    pub gpc_allowed_hosts: Vec<String>,
}

// === impl NhsConfig ===

impl NhsConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let platform = match env.string(XHUMA_NHS_ENV, DEFAULT_NHS_ENV).as_str() {
            "sandbox" => "https://sandbox.api.service.nhs.uk",
            "int" => "https://int.api.service.nhs.uk",
            "dep" => "https://dep.api.service.nhs.uk",
            "prod" => "https://api.service.nhs.uk",
            _ => {
                return Err(ConfigError {
                    var: XHUMA_NHS_ENV,
                    reason: "expected sandbox, int, dep or prod".into(),
                });
            }
        };
        let ssp_default = match env.string(XHUMA_NHS_ENV, DEFAULT_NHS_ENV).as_str() {
            "prod" => "https://proxy.spine2.ncrs.nhs.uk/",
            _ => "https://proxy.intspineservices.nhs.uk/",
        };
        let url = |var: &'static str, default: String| -> Result<String, ConfigError> {
            let v = env.string(var, &default);
            if !(v.starts_with("http://") || v.starts_with("https://")) {
                return Err(ConfigError {
                    var,
                    reason: "expected an http:// or https:// URL".into(),
                });
            }
            Ok(v)
        };
        let api_key = env.secret(XHUMA_NHS_API_KEY).ok_or(ConfigError {
            var: XHUMA_NHS_API_KEY,
            reason: "required: the API-platform application key".into(),
        })?;
        let signing_keys = signing_keys(env)?;
        let active_kid = match env.get(XHUMA_NHS_SIGNING_KID) {
            Some(kid) => {
                if !signing_keys.iter().any(|k| k.kid == kid) {
                    return Err(ConfigError {
                        var: XHUMA_NHS_SIGNING_KID,
                        reason: "no signing key with this kid is configured".into(),
                    });
                }
                kid
            }
            None => signing_keys
                .first()
                .map(|k| k.kid.clone())
                .unwrap_or_else(|| DEFAULT_SIGNING_KID.to_string()),
        };
        let areas = {
            let names = env.list(XHUMA_NHS_GPC_AREAS);
            if names.is_empty() {
                ClinicalArea::ALL.to_vec()
            } else {
                let mut areas = Vec::new();
                for n in names {
                    let a = n.parse::<ClinicalArea>().map_err(|reason| ConfigError {
                        var: XHUMA_NHS_GPC_AREAS,
                        reason,
                    })?;
                    if !areas.contains(&a) {
                        areas.push(a);
                    }
                }
                areas
            }
        };
        let mut ssp_url = env.string(XHUMA_NHS_SSP_URL, ssp_default);
        if !ssp_url.is_empty() && !ssp_url.ends_with('/') {
            ssp_url.push('/');
        }
        Ok(Self {
            pds_url: trim_slash(url(
                XHUMA_NHS_PDS_URL,
                format!("{platform}/personal-demographics/FHIR/R4"),
            )?),
            sds_url: trim_slash(url(
                XHUMA_NHS_SDS_URL,
                format!("{platform}/spine-directory/FHIR/R4"),
            )?),
            token_url: url(XHUMA_NHS_TOKEN_URL, format!("{platform}/oauth2/token"))?,
            ssp_url,
            api_key,
            signing_keys,
            active_kid,
            consumer_asid: env.get(XHUMA_NHS_ASID).ok_or(ConfigError {
                var: XHUMA_NHS_ASID,
                reason: "required: our accredited ASID (Ssp-From)".into(),
            })?,
            end_user_ods: env.get(XHUMA_NHS_END_USER_ODS),
            gpc_identity: GpcIdentity {
                jwt_issuer: env.string(XHUMA_NHS_JWT_ISSUER, "https://xhuma.local/"),
                org_ods: env.string(XHUMA_NHS_ORG_ODS, "RRV00"),
                org_name: env.string(XHUMA_NHS_ORG_NAME, "Xhuma"),
                device_system: env.string(XHUMA_NHS_DEVICE_SYSTEM, "https://xhuma.local/Id/device"),
                device_id: env.string(XHUMA_NHS_DEVICE_ID, "xhuma"),
                device_model: env.string(XHUMA_NHS_DEVICE_MODEL, "Xhuma"),
                device_version: env.string(XHUMA_NHS_DEVICE_VERSION, env!("CARGO_PKG_VERSION")),
                practitioner: env.string(XHUMA_NHS_PRACTITIONER, "SYSTEM, Xhuma"),
                user_id_system: env
                    .string(XHUMA_NHS_USER_ID_SYSTEM, "https://xhuma.local/Id/user-id"),
            },
            timeouts: Timeouts {
                connect: env.millis(XHUMA_NHS_CONNECT_TIMEOUT_MS, 5_000)?,
                token: env.millis(XHUMA_NHS_TOKEN_TIMEOUT_MS, 10_000)?,
                pds: env.millis(XHUMA_NHS_PDS_TIMEOUT_MS, 10_000)?,
                sds: env.millis(XHUMA_NHS_SDS_TIMEOUT_MS, 10_000)?,
                gpconnect: env.millis(XHUMA_NHS_GPC_TIMEOUT_MS, 60_000)?,
            },
            retry: RetryPolicy {
                max_retries: env.parse(XHUMA_NHS_MAX_RETRIES, 3)?,
                min_delay: env.millis(XHUMA_NHS_RETRY_MIN_DELAY_MS, 200)?,
                max_delay: env.millis(XHUMA_NHS_RETRY_MAX_DELAY_MS, 5_000)?,
                retry_after_cap: env.millis(XHUMA_NHS_RETRY_AFTER_CAP_MS, 30_000)?,
            },
            token_refresh_margin: env.secs(XHUMA_NHS_TOKEN_REFRESH_MARGIN_SECS, 60)?,
            tls: TlsConfig {
                client_cert_path: env.get(XHUMA_NHS_TLS_CERT_PATH).map(PathBuf::from),
                client_key_path: env.get(XHUMA_NHS_TLS_KEY_PATH).map(PathBuf::from),
                ca_path: env.get(XHUMA_NHS_TLS_CA_PATH).map(PathBuf::from),
            },
            areas,
            include_resolved_allergies: env.bool(XHUMA_NHS_GPC_RESOLVED_ALLERGIES, true)?,
            include_prescription_issues: env.bool(XHUMA_NHS_GPC_PRESCRIPTION_ISSUES, true)?,
            pool_max_idle_per_host: env.parse(XHUMA_NHS_POOL_MAX_IDLE, 32)?,
            gpc_allowed_hosts: env
                .list(XHUMA_NHS_GPC_ALLOWED_HOSTS)
                .into_iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        })
    }

    /// Everything pointed at an `nhs-sim` listening at `base_url` (e.g. `http://127.0.0.1:9100`),
    /// signing with the dev key `test-1` from `deploy/local/keys/` that the simulator trusts.
    /// Short timeouts and retry delays suit tests.
    pub fn for_simulator(base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        let keys_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/local/keys"));
        Self {
            pds_url: format!("{base}/personal-demographics/FHIR/R4"),
            sds_url: format!("{base}/spine-directory/FHIR/R4"),
            token_url: format!("{base}/oauth2/token"),
            ssp_url: format!("{base}/ssp/"),
            api_key: Secret::new(SIMULATOR_API_KEY),
            signing_keys: vec![
                SigningKeyConfig {
                    kid: "test-1".into(),
                    pem_path: keys_dir.join("test-1.pem"),
                },
                SigningKeyConfig {
                    kid: "test-2".into(),
                    pem_path: keys_dir.join("test-2.pem"),
                },
            ],
            active_kid: "test-1".into(),
            consumer_asid: SIMULATOR_CONSUMER_ASID.into(),
            end_user_ods: None,
            gpc_identity: GpcIdentity {
                jwt_issuer: "https://xhuma.local/".into(),
                org_ods: "RRV00".into(),
                org_name: "Xhuma".into(),
                device_system: "https://xhuma.local/Id/device".into(),
                device_id: "xhuma".into(),
                device_model: "Xhuma".into(),
                device_version: env!("CARGO_PKG_VERSION").into(),
                practitioner: "SYSTEM, Xhuma".into(),
                user_id_system: "https://xhuma.local/Id/user-id".into(),
            },
            timeouts: Timeouts {
                connect: Duration::from_secs(2),
                token: Duration::from_secs(5),
                pds: Duration::from_secs(5),
                sds: Duration::from_secs(5),
                gpconnect: Duration::from_secs(30),
            },
            retry: RetryPolicy {
                max_retries: 3,
                min_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(200),
                retry_after_cap: Duration::from_secs(2),
            },
            token_refresh_margin: Duration::from_secs(60),
            tls: TlsConfig::default(),
            areas: ClinicalArea::ALL.to_vec(),
            include_resolved_allergies: true,
            include_prescription_issues: true,
            pool_max_idle_per_host: 32,
            gpc_allowed_hosts: Vec::new(),
        }
    }
}

fn trim_slash(s: String) -> String {
    s.trim_end_matches('/').to_string()
}

/// `XHUMA_NHS_SIGNING_KEYS=kid=path,kid=path`, else `XHUMA_NHS_SIGNING_KEY_PATH` with
/// `XHUMA_NHS_SIGNING_KID` (default `test-1`).
fn signing_keys(env: &Env<'_>) -> Result<Vec<SigningKeyConfig>, ConfigError> {
    let list = env.list(XHUMA_NHS_SIGNING_KEYS);
    if !list.is_empty() {
        return list
            .iter()
            .map(|item| {
                let (kid, path) = item.split_once('=').ok_or(ConfigError {
                    var: XHUMA_NHS_SIGNING_KEYS,
                    reason: "expected kid=path items separated by commas".into(),
                })?;
                Ok(SigningKeyConfig {
                    kid: kid.trim().to_string(),
                    pem_path: PathBuf::from(path.trim()),
                })
            })
            .collect();
    }
    match env.get(XHUMA_NHS_SIGNING_KEY_PATH) {
        Some(path) => Ok(vec![SigningKeyConfig {
            kid: env.string(XHUMA_NHS_SIGNING_KID, DEFAULT_SIGNING_KID),
            pem_path: PathBuf::from(path),
        }]),
        None => Err(ConfigError {
            var: XHUMA_NHS_SIGNING_KEY_PATH,
            reason: "required (or XHUMA_NHS_SIGNING_KEYS): the client-assertion private key".into(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(map: HashMap<&'static str, &'static str>) -> Result<NhsConfig, ConfigError> {
        let lookup = move |k: &str| map.get(k).map(|v| v.to_string());
        NhsConfig::from_env(&Env::new(&lookup))
    }

    #[test]
    fn reads_environment() {
        let cfg = env_of(HashMap::from([
            (XHUMA_NHS_ENV, "dep"),
            (XHUMA_NHS_API_KEY, "k"),
            (XHUMA_NHS_ASID, "123"),
            (XHUMA_NHS_SIGNING_KEYS, "a=/x/a.pem, b=/x/b.pem"),
            (XHUMA_NHS_SIGNING_KID, "b"),
            (XHUMA_NHS_GPC_AREAS, "allergies,medication"),
            (XHUMA_NHS_PDS_URL, "http://127.0.0.1:1/pds/"),
        ]))
        .unwrap();
        assert_eq!(cfg.token_url, "https://dep.api.service.nhs.uk/oauth2/token");
        assert_eq!(cfg.pds_url, "http://127.0.0.1:1/pds");
        assert_eq!(cfg.active_kid, "b");
        assert_eq!(cfg.signing_keys.len(), 2);
        assert_eq!(
            cfg.areas,
            vec![ClinicalArea::Allergies, ClinicalArea::Medication]
        );
        assert!(cfg.ssp_url.ends_with('/'));
        assert_eq!(format!("{:?}", cfg.api_key), "[redacted]");
    }

    #[test]
    fn rejects_bad_values() {
        let base = [
            (XHUMA_NHS_API_KEY, "k"),
            (XHUMA_NHS_ASID, "1"),
            (XHUMA_NHS_SIGNING_KEY_PATH, "/k.pem"),
        ];
        let with = |k, v| {
            let mut m = HashMap::from(base);
            m.insert(k, v);
            env_of(m).unwrap_err().var
        };
        assert_eq!(with(XHUMA_NHS_ENV, "moon"), XHUMA_NHS_ENV);
        assert_eq!(with(XHUMA_NHS_GPC_AREAS, "teeth"), XHUMA_NHS_GPC_AREAS);
        let mut m = HashMap::from(base);
        m.insert(XHUMA_NHS_SIGNING_KEYS, "a=/a.pem");
        m.insert(XHUMA_NHS_SIGNING_KID, "nope");
        assert_eq!(env_of(m).unwrap_err().var, XHUMA_NHS_SIGNING_KID);
        assert_eq!(with(XHUMA_NHS_SDS_URL, "ftp://x"), XHUMA_NHS_SDS_URL);
        assert_eq!(
            env_of(HashMap::from([(XHUMA_NHS_ASID, "1")]))
                .unwrap_err()
                .var,
            XHUMA_NHS_API_KEY
        );
    }
}
