//! `XHUMA_SAML_*` settings (the README's configuration table mirrors the field docs).
//!
//! [`SamlConfig::from_env`] refuses combinations that would open the edge: unsigned assertions
//! or no SAML at all outside a sandbox or an explicit dev flag, a trust store without
//! `XHUMA_SAML_REQUIRED=true`, required SAML without an audience.

use std::path::PathBuf;
use std::time::Duration;

use xhuma_common::cli::Setting;
use xhuma_common::config::{ConfigError, Env};
use xhuma_common::nhs::config::XHUMA_NHS_ENV;

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
pub const DEFAULT_SAML_ALLOW_SHA1: bool = false;
pub const XHUMA_SAML_REQUIRE_HOLDER_OF_KEY: &str = "XHUMA_SAML_REQUIRE_HOLDER_OF_KEY";
pub const DEFAULT_SAML_REQUIRE_HOLDER_OF_KEY: bool = false;
pub const XHUMA_SAML_MAX_LIFETIME_SECS: &str = "XHUMA_SAML_MAX_LIFETIME_SECS";
pub const DEFAULT_SAML_MAX_LIFETIME_SECS: u64 = 3600;
pub const XHUMA_SAML_REQUIRE_RESOURCE_ID: &str = "XHUMA_SAML_REQUIRE_RESOURCE_ID";
pub const DEFAULT_SAML_REQUIRE_RESOURCE_ID: bool = true;
pub const XHUMA_SAML_PURPOSES_OF_USE: &str = "XHUMA_SAML_PURPOSES_OF_USE";
/// Direct care in the two vocabularies EHRs send: NHIN purpose (`TREATMENT`, `EMERGENCY`, what
/// Epic sends) and HL7 v3 PurposeOfUse as used by IHE XUA (`TREAT`, `ETREAT`).
pub const DEFAULT_SAML_PURPOSES_OF_USE: &str = "TREATMENT,EMERGENCY,TREAT,ETREAT";
pub const XHUMA_SAML_DEV_MODE: &str = "XHUMA_SAML_DEV_MODE";

/// The settings above as `--help` lists them ([`xhuma_common::cli`]).
pub const SETTINGS: &[Setting] = &[
    Setting::new(XHUMA_SAML_TRUST_PEM, "", "Comma-separated PEM certificates"),
    Setting::new(
        XHUMA_SAML_AUDIENCE,
        "",
        "Every AudienceRestriction must name it",
    ),
    Setting::new(
        XHUMA_SAML_ALLOW_UNSIGNED,
        "false",
        "Accept an unsigned assertion",
    ),
    Setting::new(
        XHUMA_SAML_REQUIRED,
        "true",
        "Refuse a request without an assertion",
    ),
    Setting::new(
        XHUMA_SAML_TRUSTED_ISSUERS,
        "any",
        "Exact Issuer values separated by |",
    ),
    Setting::new(
        XHUMA_SAML_CLOCK_SKEW_SECS,
        "120",
        "Tolerance on every validity window",
    ),
    Setting::new(XHUMA_SAML_ALLOW_SHA1, "false", "Accept RSA-SHA1 / SHA-1"),
    Setting::new(
        XHUMA_SAML_REQUIRE_HOLDER_OF_KEY,
        "false",
        "Require a holder-of-key signature over the wsu:Timestamp",
    ),
    Setting::new(
        XHUMA_SAML_MAX_LIFETIME_SECS,
        "3600",
        "A signed assertion must carry NotOnOrAfter, at most this long after its NotBefore/IssueInstant",
    ),
    Setting::new(
        XHUMA_SAML_REQUIRE_RESOURCE_ID,
        "true",
        "The assertion must name the patient (XACML resource-id, an NHS-number CX)",
    ),
    Setting::new(
        XHUMA_SAML_PURPOSES_OF_USE,
        "TREATMENT,EMERGENCY,TREAT,ETREAT",
        "Accepted XSPA purpose-of-use codes (case-insensitive)",
    ),
    Setting::new(
        XHUMA_SAML_DEV_MODE,
        "false",
        "Allow XHUMA_SAML_REQUIRED=false / XHUMA_SAML_ALLOW_UNSIGNED=true outside the sandbox",
    ),
];

/// How inbound SAML assertions are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlConfig {
    /// `XHUMA_SAML_TRUST_PEM`: comma-separated PEM files; an assertion must be signed by the key
    /// of one of these certificates (pinned, used while inside their validity period).
    /// Configuring any implies `XHUMA_SAML_REQUIRED=true` and no unsigned assertions.
    pub trust_pems: Vec<PathBuf>,
    /// `XHUMA_SAML_AUDIENCE`: every `AudienceRestriction` must name this value. Required
    /// whenever SAML is required.
    pub audience: Option<String>,
    /// `XHUMA_SAML_ALLOW_UNSIGNED` (default false): accept an assertion without a signature.
    /// Its other checks (issuer, audience, validity) still apply. Refused at start-up unless
    /// `XHUMA_NHS_ENV=sandbox` or `XHUMA_SAML_DEV_MODE=true`.
    pub allow_unsigned: bool,
    /// `XHUMA_SAML_REQUIRED` (default true): a request without an assertion is refused. `false`
    /// (the configured default requester answers for everyone) is refused at start-up unless
    /// `XHUMA_NHS_ENV=sandbox` or `XHUMA_SAML_DEV_MODE=true`.
    pub required: bool,
    /// `XHUMA_SAML_TRUSTED_ISSUERS`: exact `Issuer` values separated by `|` (issuers are often
    /// X.500 names full of commas); empty = any issuer whose signature verifies.
    pub trusted_issuers: Vec<String>,
    /// `XHUMA_SAML_CLOCK_SKEW_SECS` (default 120): tolerance on every validity window.
    pub clock_skew: Duration,
    /// `XHUMA_SAML_ALLOW_SHA1` (default false): accept RSA-SHA1 signatures and SHA-1 digests.
    /// Epic still signs with RSA-SHA1: turn it on for Epic (the local run and compose do).
    pub allow_sha1: bool,
    /// `XHUMA_SAML_REQUIRE_HOLDER_OF_KEY` (default false): refuse a request unless a header
    /// signature made with the assertion's holder-of-key key covers the `wsu:Timestamp`.
    pub require_holder_of_key: bool,
    /// `XHUMA_SAML_MAX_LIFETIME_SECS` (default 3600): an assertion must carry
    /// `Conditions/@NotOnOrAfter`, at most this long after its `NotBefore` (or `IssueInstant`).
    pub max_lifetime: Duration,
    /// `XHUMA_SAML_REQUIRE_RESOURCE_ID` (default true): an assertion must name the patient
    /// (XACML `resource-id`, an NHS number CX); requests are served for that patient only.
    pub require_resource_id: bool,
    /// `XHUMA_SAML_PURPOSES_OF_USE` (default `TREATMENT,EMERGENCY,TREAT,ETREAT`): the XSPA
    /// purpose-of-use codes accepted (compared case-insensitively); each is sent to GP Connect
    /// as `reason_for_request=directcare`, the only reason Access Record Structured allows.
    pub purposes_of_use: Vec<String>,
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
            max_lifetime: Duration::from_secs(DEFAULT_SAML_MAX_LIFETIME_SECS),
            require_resource_id: DEFAULT_SAML_REQUIRE_RESOURCE_ID,
            purposes_of_use: split_codes(DEFAULT_SAML_PURPOSES_OF_USE),
        }
    }
}

impl SamlConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let cfg = Self {
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
            max_lifetime: env.secs(XHUMA_SAML_MAX_LIFETIME_SECS, DEFAULT_SAML_MAX_LIFETIME_SECS)?,
            require_resource_id: env.bool(
                XHUMA_SAML_REQUIRE_RESOURCE_ID,
                DEFAULT_SAML_REQUIRE_RESOURCE_ID,
            )?,
            purposes_of_use: split_codes(
                &env.string(XHUMA_SAML_PURPOSES_OF_USE, DEFAULT_SAML_PURPOSES_OF_USE),
            ),
        };
        let relaxed_allowed = env.bool(XHUMA_SAML_DEV_MODE, false)?
            || env.get(XHUMA_NHS_ENV).as_deref() == Some("sandbox");
        cfg.check(relaxed_allowed)?;
        Ok(cfg)
    }

    /// The start-up rules. `relaxed_allowed`: a sandbox or an explicit dev flag.
    fn check(&self, relaxed_allowed: bool) -> Result<(), ConfigError> {
        let refuse = |var, reason: &str| {
            Err(ConfigError {
                var,
                reason: reason.into(),
            })
        };
        if !self.trust_pems.is_empty() && !self.required {
            return refuse(
                XHUMA_SAML_REQUIRED,
                "a trust store (XHUMA_SAML_TRUST_PEM) implies XHUMA_SAML_REQUIRED=true",
            );
        }
        if !self.trust_pems.is_empty() && self.allow_unsigned {
            return refuse(
                XHUMA_SAML_ALLOW_UNSIGNED,
                "unsigned assertions cannot be allowed when a trust store is configured",
            );
        }
        if (self.allow_unsigned || !self.required) && !relaxed_allowed {
            let var = if self.allow_unsigned {
                XHUMA_SAML_ALLOW_UNSIGNED
            } else {
                XHUMA_SAML_REQUIRED
            };
            return refuse(
                var,
                "unsigned or absent SAML is only for XHUMA_NHS_ENV=sandbox or XHUMA_SAML_DEV_MODE=true",
            );
        }
        if self.required && self.audience.is_none() {
            return refuse(
                XHUMA_SAML_AUDIENCE,
                "required when XHUMA_SAML_REQUIRED=true (the gateway's own endpoint URL)",
            );
        }
        if self.purposes_of_use.is_empty() {
            return refuse(XHUMA_SAML_PURPOSES_OF_USE, "at least one code is needed");
        }
        Ok(())
    }

    /// Whether an XSPA purpose-of-use code is accepted.
    pub fn purpose_allowed(&self, code: &str) -> bool {
        self.purposes_of_use
            .iter()
            .any(|p| p.eq_ignore_ascii_case(code.trim()))
    }
}

fn split_codes(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}
