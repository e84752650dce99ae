//! `XHUMA_SAML_*` settings (the README's configuration table mirrors the field docs).

use std::path::PathBuf;
use std::time::Duration;

use xhuma_common::config::{ConfigError, Env};

pub const XHUMA_SAML_TRUST_PEM: &str = "XHUMA_SAML_TRUST_PEM";
pub const XHUMA_SAML_AUDIENCE: &str = "XHUMA_SAML_AUDIENCE";
pub const XHUMA_SAML_ALLOW_UNSIGNED: &str = "XHUMA_SAML_ALLOW_UNSIGNED";
pub const DEFAULT_SAML_ALLOW_UNSIGNED: bool = false;
pub const XHUMA_SAML_REQUIRED: &str = "XHUMA_SAML_REQUIRED";
pub const DEFAULT_SAML_REQUIRED: bool = true;
pub const XHUMA_SAML_TRUSTED_ISSUERS: &str = "XHUMA_SAML_TRUSTED_ISSUERS";
pub const XHUMA_SAML_CLOCK_SKEW_SECS: &str = "XHUMA_SAML_CLOCK_SKEW_SECS";
pub const DEFAULT_SAML_CLOCK_SKEW_SECS: u64 = 120;
pub const XHUMA_SAML_ALLOW_SHA1: &str = "XHUMA_SAML_ALLOW_SHA1";
pub const DEFAULT_SAML_ALLOW_SHA1: bool = true;
pub const XHUMA_SAML_REQUIRE_HOLDER_OF_KEY: &str = "XHUMA_SAML_REQUIRE_HOLDER_OF_KEY";
pub const DEFAULT_SAML_REQUIRE_HOLDER_OF_KEY: bool = false;

/// How inbound SAML assertions are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlConfig {
    /// `XHUMA_SAML_TRUST_PEM`: comma-separated PEM files; an assertion must be signed by the key
    /// of one of these certificates (pinned, used while inside their validity period).
    pub trust_pems: Vec<PathBuf>,
    /// `XHUMA_SAML_AUDIENCE`: when set, every `AudienceRestriction` must name this value.
    pub audience: Option<String>,
    /// `XHUMA_SAML_ALLOW_UNSIGNED` (default false): accept an assertion without a signature.
    /// Its other checks (issuer, audience, validity) still apply. For test rigs only.
    pub allow_unsigned: bool,
    /// `XHUMA_SAML_REQUIRED` (default true): a request without an assertion is refused.
    pub required: bool,
    /// `XHUMA_SAML_TRUSTED_ISSUERS`: exact `Issuer` values separated by `|` (issuers are often
    /// X.500 names full of commas); empty = any issuer whose signature verifies.
    pub trusted_issuers: Vec<String>,
    /// `XHUMA_SAML_CLOCK_SKEW_SECS` (default 120): tolerance on every validity window.
    pub clock_skew: Duration,
    /// `XHUMA_SAML_ALLOW_SHA1` (default true, Epic still signs with RSA-SHA1): accept SHA-1
    /// signature and digest methods.
    pub allow_sha1: bool,
    /// `XHUMA_SAML_REQUIRE_HOLDER_OF_KEY` (default false): refuse a request unless a header
    /// signature made with the assertion's holder-of-key key covers the `wsu:Timestamp`.
    pub require_holder_of_key: bool,
}

// === impl SamlConfig ===

impl Default for SamlConfig {
    fn default() -> Self {
        Self {
            trust_pems: Vec::new(),
            audience: None,
            allow_unsigned: DEFAULT_SAML_ALLOW_UNSIGNED,
            required: DEFAULT_SAML_REQUIRED,
            trusted_issuers: Vec::new(),
            clock_skew: Duration::from_secs(DEFAULT_SAML_CLOCK_SKEW_SECS),
            allow_sha1: DEFAULT_SAML_ALLOW_SHA1,
            require_holder_of_key: DEFAULT_SAML_REQUIRE_HOLDER_OF_KEY,
        }
    }
}

impl SamlConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            trust_pems: env
                .list(XHUMA_SAML_TRUST_PEM)
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            audience: env.get(XHUMA_SAML_AUDIENCE).map(|a| a.trim().to_string()),
            allow_unsigned: env.bool(XHUMA_SAML_ALLOW_UNSIGNED, DEFAULT_SAML_ALLOW_UNSIGNED)?,
            required: env.bool(XHUMA_SAML_REQUIRED, DEFAULT_SAML_REQUIRED)?,
            trusted_issuers: env
                .get(XHUMA_SAML_TRUSTED_ISSUERS)
                .map(|v| {
                    v.split('|')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            clock_skew: env.secs(XHUMA_SAML_CLOCK_SKEW_SECS, DEFAULT_SAML_CLOCK_SKEW_SECS)?,
            allow_sha1: env.bool(XHUMA_SAML_ALLOW_SHA1, DEFAULT_SAML_ALLOW_SHA1)?,
            require_holder_of_key: env.bool(
                XHUMA_SAML_REQUIRE_HOLDER_OF_KEY,
                DEFAULT_SAML_REQUIRE_HOLDER_OF_KEY,
            )?,
        })
    }
}
