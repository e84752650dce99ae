//! `XHUMA_*` settings of the gateway binary.
//!
//! Built once in `main.rs` from the process environment (tests pass a map to
//! [`GatewayConfig::from_lookup`]); `app::AppState` keeps it for the handlers. Every field's
//! `///` doc is the user documentation mirrored in the README's configuration table.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use xhuma_common::config::{AmqpConfig, ConfigError, Env, RedisConfig, process_env};
use xhuma_common::identity::Requester;

use crate::inbound::{InboundConfig, InboundError, XHUMA_TLS_CERT_PATH};
use crate::records::PipelineConfig;
use crate::soap::element::Limits;
use crate::soap::saml::{SamlConfig, SamlVerifier, XHUMA_SAML_TRUST_PEM};
use xhuma_common::cli::{Cli, Group, Setting};

pub const XHUMA_LISTEN_ADDR: &str = "XHUMA_LISTEN_ADDR";
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:8000";
pub const XHUMA_HOME_COMMUNITY_ID: &str = "XHUMA_HOME_COMMUNITY_ID";
pub const DEFAULT_HOME_COMMUNITY_ID: &str = "2.16.840.1.113883.2.1.3.34.9001";
pub const XHUMA_REPOSITORY_UNIQUE_ID: &str = "XHUMA_REPOSITORY_UNIQUE_ID";
pub const DEFAULT_REPOSITORY_UNIQUE_ID: &str = "2.16.840.1.113883.2.1.3.34.69.420";
pub const XHUMA_MTOM_RESPONSE: &str = "XHUMA_MTOM_RESPONSE";
pub const XHUMA_MAX_BODY_BYTES: &str = "XHUMA_MAX_BODY_BYTES";
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
pub const XHUMA_MAX_XML_DEPTH: &str = "XHUMA_MAX_XML_DEPTH";
pub const DEFAULT_MAX_XML_DEPTH: usize = 64;
pub const XHUMA_REQUEST_TIMEOUT_MS: &str = "XHUMA_REQUEST_TIMEOUT_MS";
pub const XHUMA_BODY_READ_TIMEOUT_MS: &str = "XHUMA_BODY_READ_TIMEOUT_MS";
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 15_000;
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 55_000;
pub const XHUMA_MAX_CONCURRENT_REQUESTS: &str = "XHUMA_MAX_CONCURRENT_REQUESTS";
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 256;
pub const XHUMA_SHUTDOWN_GRACE_MS: &str = "XHUMA_SHUTDOWN_GRACE_MS";
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 30_000;
pub const XHUMA_XML_WORKERS: &str = "XHUMA_XML_WORKERS";
pub const XHUMA_XML_MEMORY_BYTES: &str = "XHUMA_XML_MEMORY_BYTES";
pub const DEFAULT_XML_MEMORY_BYTES: usize = 32 * 1024 * 1024;
pub const XHUMA_REQUEST_MEMORY_BYTES: &str = "XHUMA_REQUEST_MEMORY_BYTES";
pub const DEFAULT_REQUEST_MEMORY_BYTES: usize = 96 * 1024 * 1024;
pub const XHUMA_MAX_DOCUMENT_REQUESTS: &str = "XHUMA_MAX_DOCUMENT_REQUESTS";
pub const DEFAULT_MAX_DOCUMENT_REQUESTS: usize = 20;
pub const XHUMA_DEFAULT_REQUESTER_SUBJECT: &str = "XHUMA_DEFAULT_REQUESTER_SUBJECT";
pub const XHUMA_DEFAULT_REQUESTER_ORGANIZATION: &str = "XHUMA_DEFAULT_REQUESTER_ORGANIZATION";
pub const XHUMA_DEFAULT_REQUESTER_ORGANIZATION_ID: &str = "XHUMA_DEFAULT_REQUESTER_ORGANIZATION_ID";
pub const XHUMA_DEFAULT_REQUESTER_ODS: &str = "XHUMA_DEFAULT_REQUESTER_ODS";
pub const DEFAULT_REQUESTER_SUBJECT: &str = "Xhuma gateway";
pub const XHUMA_XCPD_DEMOGRAPHIC_CHECK: &str = "XHUMA_XCPD_DEMOGRAPHIC_CHECK";
pub const XHUMA_PUBLIC_URL: &str = "XHUMA_PUBLIC_URL";

/// The settings above as `--help` lists them ([`xhuma_common::cli`]).
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        XHUMA_LISTEN_ADDR,
        "127.0.0.1:8000",
        "Address the SOAP endpoints, /health/* and /metrics listen on",
    ),
    Setting::new(
        XHUMA_HOME_COMMUNITY_ID,
        "2.16.840.1.113883.2.1.3.34.9001",
        "Our XCA home community OID (bare)",
    ),
    Setting::new(
        XHUMA_REPOSITORY_UNIQUE_ID,
        "2.16.840.1.113883.2.1.3.34.69.420",
        "RepositoryUniqueId advertised in ITI-38 and checked in ITI-39",
    ),
    Setting::new(
        XHUMA_MTOM_RESPONSE,
        "auto",
        "auto (MTOM iff the request was), inline or always",
    ),
    Setting::new(XHUMA_MAX_BODY_BYTES, "4194304", "Largest request body"),
    Setting::new(
        XHUMA_MAX_XML_DEPTH,
        "64",
        "Deepest element nesting accepted",
    ),
    Setting::new(
        XHUMA_REQUEST_TIMEOUT_MS,
        "55000",
        "Per-request deadline (inside Epic's 60 s)",
    ),
    Setting::new(
        XHUMA_BODY_READ_TIMEOUT_MS,
        "15000",
        "The whole request body must arrive within this long (read before a request permit is taken), else 408",
    ),
    Setting::new(
        XHUMA_MAX_CONCURRENT_REQUESTS,
        "256",
        "SOAP requests served at once",
    ),
    Setting::new(
        XHUMA_SHUTDOWN_GRACE_MS,
        "30000",
        "How long work in flight may run after SIGTERM",
    ),
    Setting::new(
        XHUMA_XML_WORKERS,
        "the CPUs",
        "Request bodies parsed and SAML assertions checked at once (blocking pool)",
    ),
    Setting::new(
        XHUMA_XML_MEMORY_BYTES,
        "33554432",
        "What the SAML checks in progress may hold in all",
    ),
    Setting::new(
        XHUMA_REQUEST_MEMORY_BYTES,
        "100663296",
        "What the SOAP requests being served may hold in all",
    ),
    Setting::new(
        XHUMA_MAX_DOCUMENT_REQUESTS,
        "20",
        "Most DocumentRequests in one ITI-39 (Epic sends up to 10)",
    ),
    Setting::new(
        XHUMA_DEFAULT_REQUESTER_SUBJECT,
        "Xhuma gateway",
        "Requester subject when no assertion is present and XHUMA_SAML_REQUIRED=false",
    ),
    Setting::new(
        XHUMA_DEFAULT_REQUESTER_ORGANIZATION,
        "Xhuma gateway",
        "Requester organisation when no assertion is present",
    ),
    Setting::new(
        XHUMA_DEFAULT_REQUESTER_ORGANIZATION_ID,
        "",
        "Requester organisation id when no assertion is present",
    ),
    Setting::new(
        XHUMA_DEFAULT_REQUESTER_ODS,
        "",
        "Requester ODS code when no assertion is present",
    ),
    Setting::new(
        XHUMA_XCPD_DEMOGRAPHIC_CHECK,
        "false",
        "ITI-55/47 answer \"no match\" unless the query's birth date, gender and family name (those present) agree with PDS",
    ),
    Setting::new(
        XHUMA_PUBLIC_URL,
        "from Host",
        "Base URL the WSDLs (?wsdl) advertise",
    ),
];

/// `xhuma-gateway --help`: every setting the gateway reads, by concern.
pub const CLI: Cli = Cli {
    name: "xhuma-gateway",
    version: env!("CARGO_PKG_VERSION"),
    about: "The IHE gateway: ITI-55/47 patient discovery, ITI-38/39 from the cache of C-CDA \
            documents the workers build",
    groups: &[
        Group {
            heading: "Gateway",
            settings: SETTINGS,
        },
        Group {
            heading: "Inbound connections",
            settings: crate::inbound::SETTINGS,
        },
        Group {
            heading: "SAML",
            settings: crate::soap::saml::SETTINGS,
        },
        Group {
            heading: "Records pipeline",
            settings: crate::records::SETTINGS,
        },
        Group {
            heading: "RabbitMQ",
            settings: xhuma_common::config::AMQP_SETTINGS,
        },
        Group {
            heading: "Redis and the document cache",
            settings: xhuma_common::config::REDIS_SETTINGS,
        },
        Group {
            heading: "NHS services",
            settings: xhuma_common::nhs::config::SETTINGS,
        },
        Group {
            heading: "Logs and traces",
            settings: xhuma_common::telemetry::SETTINGS,
        },
    ],
    subcommands: &[],
};

/// How ITI responses are packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtomPolicy {
    /// MTOM/XOP answer iff the request was MTOM (IHE: the response format follows the request).
    Auto,
    /// Always a plain SOAP envelope with inline base64 documents (what the original sent;
    /// Epic accepts it).
    Inline,
    /// Always MTOM/XOP, even to a plain request (for partners that require XOP documents).
    Always,
}

impl FromStr for MtomPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "inline" => Ok(Self::Inline),
            "always" => Ok(Self::Always),
            _ => Err("expected auto, inline or always".into()),
        }
    }
}

/// Everything the gateway binary is configured with.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `XHUMA_LISTEN_ADDR`: address the HTTP server binds (default `127.0.0.1:8000`).
    pub listen: SocketAddr,
    /// `XHUMA_HOME_COMMUNITY_ID`: our XCA home community OID (bare, without `urn:oid:`).
    pub home_community_id: String,
    /// `XHUMA_REPOSITORY_UNIQUE_ID`: the repositoryUniqueId advertised in ITI-38 and checked
    /// in ITI-39.
    pub repository_unique_id: String,
    /// `XHUMA_MTOM_RESPONSE`: `auto` (default), `inline` or `always`.
    pub mtom_response: MtomPolicy,
    /// `XHUMA_MAX_BODY_BYTES`: largest request body accepted (default 4 MiB); larger → 413
    /// with a SOAP fault.
    pub max_body_bytes: usize,
    /// `XHUMA_MAX_XML_DEPTH`: deepest element nesting accepted in a request (default 64).
    pub max_xml_depth: usize,
    /// `XHUMA_REQUEST_TIMEOUT_MS`: per-request deadline (default 55 000, inside Epic's 60 s);
    /// past it the caller gets a SOAP fault.
    pub request_timeout: Duration,
    /// `XHUMA_BODY_READ_TIMEOUT_MS` (default 15 000): the whole request body must arrive within
    /// this long (4 MiB at ~300 KB/s), read before a request permit is taken; otherwise 408.
    pub body_read_timeout: Duration,
    /// `XHUMA_MAX_CONCURRENT_REQUESTS`: SOAP requests served at once (default 256); beyond it
    /// the caller gets 503 with a SOAP fault instead of an unbounded queue.
    pub max_concurrent_requests: usize,
    /// `XHUMA_SHUTDOWN_GRACE_MS` (default 30 000): after SIGTERM, how long requests in flight
    /// may take to finish before the listener closes (Kubernetes'
    /// `terminationGracePeriodSeconds` should be longer).
    pub shutdown_grace: Duration,
    /// `XHUMA_XML_WORKERS` (default: the number of CPUs): request bodies parsed and SAML
    /// assertions checked at once, on the blocking pool rather than the async runtime's
    /// threads; more wait their turn (within the request deadline).
    pub xml_workers: usize,
    /// `XHUMA_XML_MEMORY_BYTES` (default 32 MiB): what the signed-XML trees of the SAML checks in
    /// progress may hold in all, counted before each parse from the envelope's size and node
    /// count. Must fit the largest body `XHUMA_MAX_BODY_BYTES` allows.
    pub xml_memory_bytes: usize,
    /// `XHUMA_REQUEST_MEMORY_BYTES` (default 96 MiB): what the requests being served may hold
    /// in all — each reserves its body and the most its parsed envelope may cost (17 × the
    /// body + 64 KiB) before parsing, and waits for room; an ordinary request reserves ~200 KiB.
    /// Must fit the largest body.
    pub request_memory_bytes: usize,
    /// `XHUMA_MAX_DOCUMENT_REQUESTS`: most DocumentRequests in one ITI-39 (default 20; Epic
    /// sends up to 10).
    pub max_document_requests: usize,
    /// `XHUMA_DEFAULT_REQUESTER_SUBJECT`, `…_ORGANIZATION`, `…_ORGANIZATION_ID`, `…_ODS`:
    /// the identity used when a request has no SAML assertion and `XHUMA_SAML_REQUIRED=false`.
    pub default_requester: Requester,
    /// `XHUMA_XCPD_DEMOGRAPHIC_CHECK`: when true, ITI-55/47 answer "no match" unless the
    /// query's birth date, gender and family name (those present) agree with PDS.
    pub demographic_check: bool,
    /// `XHUMA_PUBLIC_URL`: base URL the WSDLs advertise (default: taken from the Host header).
    pub public_url: Option<String>,
    pub amqp: AmqpConfig,
    pub redis: RedisConfig,
    pub pipeline: PipelineConfig,
    /// `XHUMA_SAML_*`: trust, audience and policy of the SAML verifier (`soap::saml`).
    pub saml: SamlConfig,
    /// `XHUMA_TLS_*`, rate limits and connection caps (`inbound`).
    pub inbound: InboundConfig,
}

// === impl GatewayConfig ===

impl GatewayConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&process_env)
    }

    /// What can only be checked by reading the files the settings name: the TLS certificate and
    /// key (returned, ready to serve with) and the SAML trust store. Run before the service
    /// starts, so a bad file exits 64 naming its variable, like a bad value.
    pub fn preflight(&self) -> Result<Option<Arc<rustls::ServerConfig>>, ConfigError> {
        SamlVerifier::new(&self.saml).map_err(|error| ConfigError {
            var: XHUMA_SAML_TRUST_PEM,
            reason: error.to_string(),
        })?;
        self.inbound.server_config().map_err(|error| ConfigError {
            var: match error {
                InboundError::Pem { var, .. } => var,
                InboundError::Tls(_) => XHUMA_TLS_CERT_PATH,
            },
            reason: error.to_string(),
        })
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let oid = |var: &'static str, default: &str| -> Result<String, ConfigError> {
            let v = env.string(var, default);
            let v = v.trim();
            let v = v.strip_prefix("urn:oid:").unwrap_or(v).to_string();
            if v.is_empty()
                || !v
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(ConfigError {
                    var,
                    reason: "expected an OID such as 2.16.840.1.113883.2.1.3.34.9001".into(),
                });
            }
            Ok(v)
        };
        let max_body_bytes = env.parse(XHUMA_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES)?;
        if max_body_bytes < 1024 {
            return Err(ConfigError {
                var: XHUMA_MAX_BODY_BYTES,
                reason: "must be at least 1024".into(),
            });
        }
        let max_xml_depth = env.parse(XHUMA_MAX_XML_DEPTH, DEFAULT_MAX_XML_DEPTH)?;
        if !(8..=1024).contains(&max_xml_depth) {
            return Err(ConfigError {
                var: XHUMA_MAX_XML_DEPTH,
                reason: "must be between 8 and 1024".into(),
            });
        }
        // A budget that cannot hold one request of the largest allowed body would refuse it.
        let budget = |var: &'static str, default: usize, largest: usize| {
            let bytes = env.parse(var, default)?;
            if bytes < largest {
                return Err(ConfigError {
                    var,
                    reason: format!(
                        "must be at least {largest} for a request of XHUMA_MAX_BODY_BYTES \
                         ({max_body_bytes})"
                    ),
                });
            }
            Ok(bytes)
        };
        let xml_memory_bytes = budget(
            XHUMA_XML_MEMORY_BYTES,
            DEFAULT_XML_MEMORY_BYTES,
            SamlVerifier::max_tree_bytes(max_body_bytes),
        )?;
        let request_memory_bytes = budget(
            XHUMA_REQUEST_MEMORY_BYTES,
            DEFAULT_REQUEST_MEMORY_BYTES,
            request_reservation(max_body_bytes),
        )?;
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let default_requester = Requester {
            subject_id: env.string(XHUMA_DEFAULT_REQUESTER_SUBJECT, DEFAULT_REQUESTER_SUBJECT),
            organization: env.string(XHUMA_DEFAULT_REQUESTER_ORGANIZATION, ""),
            organization_id: env.string(XHUMA_DEFAULT_REQUESTER_ORGANIZATION_ID, ""),
            ods_code: env.get(XHUMA_DEFAULT_REQUESTER_ODS),
            ..Requester::default()
        };
        Ok(Self {
            listen: env.parse(
                XHUMA_LISTEN_ADDR,
                DEFAULT_LISTEN_ADDR.parse().map_err(|_| ConfigError {
                    var: XHUMA_LISTEN_ADDR,
                    reason: "bad default".into(),
                })?,
            )?,
            home_community_id: oid(XHUMA_HOME_COMMUNITY_ID, DEFAULT_HOME_COMMUNITY_ID)?,
            repository_unique_id: oid(XHUMA_REPOSITORY_UNIQUE_ID, DEFAULT_REPOSITORY_UNIQUE_ID)?,
            mtom_response: env.parse(XHUMA_MTOM_RESPONSE, MtomPolicy::Auto)?,
            max_body_bytes,
            max_xml_depth,
            request_timeout: env.millis(XHUMA_REQUEST_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS)?,
            body_read_timeout: env
                .millis(XHUMA_BODY_READ_TIMEOUT_MS, DEFAULT_BODY_READ_TIMEOUT_MS)?,
            max_concurrent_requests: env
                .parse(
                    XHUMA_MAX_CONCURRENT_REQUESTS,
                    DEFAULT_MAX_CONCURRENT_REQUESTS,
                )?
                .max(1),
            shutdown_grace: env.millis(XHUMA_SHUTDOWN_GRACE_MS, DEFAULT_SHUTDOWN_GRACE_MS)?,
            xml_workers: env.parse(XHUMA_XML_WORKERS, cpus)?.max(1),
            xml_memory_bytes,
            request_memory_bytes,
            max_document_requests: env
                .parse(XHUMA_MAX_DOCUMENT_REQUESTS, DEFAULT_MAX_DOCUMENT_REQUESTS)?
                .max(1),
            default_requester,
            demographic_check: env.bool(XHUMA_XCPD_DEMOGRAPHIC_CHECK, false)?,
            public_url: env
                .get(XHUMA_PUBLIC_URL)
                .map(|u| u.trim_end_matches('/').to_string()),
            amqp: AmqpConfig::from_env(&env)?,
            redis: RedisConfig::from_env(&env)?,
            pipeline: PipelineConfig::from_env(&env)?,
            saml: SamlConfig::from_env(&env)?,
            inbound: InboundConfig::from_env(&env)?,
        })
    }

    /// What a request of `body_bytes` reserves from `XHUMA_REQUEST_MEMORY_BYTES`.
    pub fn request_reservation(&self, body_bytes: usize) -> usize {
        request_reservation(body_bytes)
    }

    /// `urn:oid:` + the home community id, as XCA messages carry it.
    pub fn home_community_urn(&self) -> String {
        format!("urn:oid:{}", self.home_community_id)
    }

    /// Limits for the XML parser.
    pub fn xml_limits(&self) -> Limits {
        Limits {
            max_depth: self.max_xml_depth,
            ..Limits::default()
        }
    }
}

/// The body itself and the most the envelope parsed from it may cost.
fn request_reservation(body_bytes: usize) -> usize {
    body_bytes.saturating_add(crate::soap::element::tree_bound(body_bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Variables the pipeline's NHS settings require (not under test here).
    const REQUIRED: &[(&str, &str)] = &[
        ("XHUMA_NHS_API_KEY", "test-key"),
        ("XHUMA_NHS_ASID", "200000000001"),
        ("XHUMA_NHS_SIGNING_KEY_PATH", "/nonexistent/test-key.pem"),
        ("XHUMA_SAML_AUDIENCE", "https://xhuma.test/SOAP"),
    ];

    fn cfg(pairs: &[(&str, &str)]) -> Result<GatewayConfig, ConfigError> {
        let map: HashMap<String, String> = REQUIRED
            .iter()
            .chain(pairs)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        GatewayConfig::from_lookup(&move |k| map.get(k).cloned())
    }

    #[test]
    fn help_lists_every_variable_the_config_reads() {
        let read = xhuma_common::cli::variables_read(REQUIRED, |lookup| {
            GatewayConfig::from_lookup(lookup).unwrap();
        });
        assert!(read.len() > 60, "{read:?}");
        assert_eq!(CLI.undeclared(&read), Vec::<String>::new());
        CLI.command().debug_assert();
    }

    #[test]
    fn a_tls_or_trust_file_that_cannot_be_read_is_a_config_error_naming_its_variable() {
        let c = cfg(&[
            ("XHUMA_TLS_CERT_PATH", "/nonexistent/cert.pem"),
            ("XHUMA_TLS_KEY_PATH", "/nonexistent/key.pem"),
        ])
        .unwrap();
        assert_eq!(c.preflight().unwrap_err().var, "XHUMA_TLS_CERT_PATH");
        let c = cfg(&[("XHUMA_SAML_TRUST_PEM", "/nonexistent/idp.pem")]).unwrap();
        assert_eq!(c.preflight().unwrap_err().var, "XHUMA_SAML_TRUST_PEM");
        assert!(cfg(&[]).unwrap().preflight().unwrap().is_none());
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN_ADDR);
        assert_eq!(
            c.home_community_urn(),
            "urn:oid:2.16.840.1.113883.2.1.3.34.9001"
        );
        assert_eq!(c.repository_unique_id, DEFAULT_REPOSITORY_UNIQUE_ID);
        assert_eq!(c.mtom_response, MtomPolicy::Auto);
        assert!(c.saml.required);
        // Without an audience, required SAML does not start.
        let map: HashMap<String, String> = REQUIRED[..3]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let err = GatewayConfig::from_lookup(&move |k| map.get(k).cloned()).unwrap_err();
        assert_eq!(err.var, "XHUMA_SAML_AUDIENCE");
    }

    #[test]
    fn errors_name_the_variable() {
        for (var, value) in [
            (XHUMA_HOME_COMMUNITY_ID, "not an oid"),
            (XHUMA_MTOM_RESPONSE, "sometimes"),
            (XHUMA_MAX_BODY_BYTES, "12"),
            (XHUMA_LISTEN_ADDR, "nowhere"),
            (XHUMA_XCPD_DEMOGRAPHIC_CHECK, "perhaps"),
            // Less than one 4 MiB envelope's signed-XML trees.
            (XHUMA_XML_MEMORY_BYTES, "8388608"),
            (XHUMA_REQUEST_MEMORY_BYTES, "33554432"),
            (XHUMA_SHUTDOWN_GRACE_MS, "soon"),
        ] {
            assert_eq!(cfg(&[(var, value)]).unwrap_err().var, var);
        }
        let c = cfg(&[(XHUMA_HOME_COMMUNITY_ID, "urn:oid:1.2.3")]).unwrap();
        assert_eq!(c.home_community_id, "1.2.3");
    }
}
