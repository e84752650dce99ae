//! `xhuma-audit` configuration, from `XHUMA_*` environment variables.

use std::net::SocketAddr;
use std::time::Duration;

use xhuma_common::config::{AmqpConfig, ConfigError, Env, Secret};

use crate::migrate::Mode;
use crate::syslog::SyslogTarget;
use xhuma_common::cli::{Cli, Group, Setting};

pub const XHUMA_AUDIT_DATABASE_URL: &str = "XHUMA_AUDIT_DATABASE_URL";
pub const DEFAULT_AUDIT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const XHUMA_AUDIT_DATABASE_SCHEMA: &str = "XHUMA_AUDIT_DATABASE_SCHEMA";
pub const DEFAULT_AUDIT_DATABASE_SCHEMA: &str = "xhuma_audit";
pub const XHUMA_AUDIT_MIGRATE: &str = "XHUMA_AUDIT_MIGRATE";
pub const XHUMA_AUDIT_LISTEN: &str = "XHUMA_AUDIT_LISTEN";
pub const DEFAULT_AUDIT_LISTEN: &str = "127.0.0.1:9300";
pub const XHUMA_AUDIT_SYSLOG: &str = "XHUMA_AUDIT_SYSLOG";
pub const XHUMA_AUDIT_BATCH_SIZE: &str = "XHUMA_AUDIT_BATCH_SIZE";
pub const DEFAULT_AUDIT_BATCH_SIZE: u16 = 200;
pub const XHUMA_AUDIT_BATCH_WAIT_MS: &str = "XHUMA_AUDIT_BATCH_WAIT_MS";
pub const DEFAULT_AUDIT_BATCH_WAIT_MS: u64 = 200;
pub const XHUMA_AUDIT_SOURCE_ID: &str = "XHUMA_AUDIT_SOURCE_ID";
pub const DEFAULT_AUDIT_SOURCE_ID: &str = "xhuma";
pub const XHUMA_AUDIT_ENTERPRISE_SITE_ID: &str = "XHUMA_AUDIT_ENTERPRISE_SITE_ID";
pub const XHUMA_SHUTDOWN_GRACE_MS: &str = "XHUMA_SHUTDOWN_GRACE_MS";
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 10_000;

/// The settings above as `--help` lists them ([`xhuma_common::cli`]).
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        XHUMA_AUDIT_DATABASE_URL,
        "postgres://postgres@127.0.0.1:5432/test",
        "PostgreSQL for the audit trail",
    ),
    Setting::new(
        XHUMA_AUDIT_DATABASE_SCHEMA,
        "xhuma_audit",
        "Schema of audit_event and schema_migrations",
    ),
    Setting::new(XHUMA_AUDIT_MIGRATE, "true", "Apply migrations at start"),
    Setting::new(
        XHUMA_AUDIT_LISTEN,
        "127.0.0.1:9300",
        "/health/* and /metrics of the audit consumer",
    ),
    Setting::new(
        XHUMA_AUDIT_SYSLOG,
        "",
        "Also send ATNA records to udp://host:port, tcp://host:port or tls://host:port",
    ),
    Setting::new(
        XHUMA_AUDIT_BATCH_SIZE,
        "200",
        "Audit messages written per PostgreSQL transaction",
    ),
    Setting::new(
        XHUMA_AUDIT_BATCH_WAIT_MS,
        "200",
        "Longest wait to fill a batch",
    ),
    Setting::new(
        XHUMA_AUDIT_SOURCE_ID,
        "xhuma",
        "ATNA AuditSourceIdentification id",
    ),
    Setting::new(
        XHUMA_AUDIT_ENTERPRISE_SITE_ID,
        "",
        "ATNA AuditEnterpriseSiteID",
    ),
    Setting::new(
        XHUMA_SHUTDOWN_GRACE_MS,
        "10000",
        "How long work in flight may run after SIGTERM",
    ),
];

/// `xhuma-audit --help`: every setting the audit consumer reads.
pub const CLI: Cli = Cli {
    name: "xhuma-audit",
    version: env!("CARGO_PKG_VERSION"),
    about: "The audit consumer: audit events from RabbitMQ into PostgreSQL (and ATNA syslog)",
    groups: &[
        Group {
            heading: "Audit consumer",
            settings: SETTINGS,
        },
        Group {
            heading: "RabbitMQ",
            settings: xhuma_common::config::AMQP_SETTINGS,
        },
        Group {
            heading: "Logs and traces",
            settings: xhuma_common::telemetry::SETTINGS,
        },
    ],
    subcommands: &[(
        "migrate",
        "Only apply the database migrations and exit (run as the schema owner)",
    )],
};
/// Everything `xhuma-audit` reads from its environment.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// `XHUMA_AMQP_URL`, `XHUMA_QUEUE_PREFIX`, `XHUMA_QUEUE_TYPE`: the broker and the
    /// `P.audit` / `P.dead` queue names (shared with gateway and workers).
    pub amqp: AmqpConfig,
    /// `XHUMA_AUDIT_DATABASE_URL`: PostgreSQL connection string (default
    /// `postgres://postgres@127.0.0.1:5432/test`). Redacted in Debug.
    pub database_url: Secret,
    /// `XHUMA_AUDIT_DATABASE_SCHEMA`: the schema holding `audit_event` and
    /// `schema_migrations` (created when missing; default `xhuma_audit`). Lowercase letters,
    /// digits and `_` only. Tests use one each.
    pub schema: String,
    /// `XHUMA_AUDIT_MIGRATE`: `true` (default) applies pending migrations at start; `false`
    /// only checks they are applied, for a role limited to `INSERT, SELECT` (run
    /// `xhuma-audit migrate` as the schema owner before deploying).
    pub migrate: Mode,
    /// `XHUMA_AUDIT_LISTEN`: health and metrics HTTP address (default `127.0.0.1:9300`).
    pub listen: SocketAddr,
    /// `XHUMA_AUDIT_SYSLOG`: when set, every stored event is also sent as an IHE ATNA (DICOM
    /// audit message) over syslog (RFC 5424): `udp://host:port` or `tcp://host:port`.
    pub syslog: Option<SyslogTarget>,
    /// `XHUMA_AUDIT_BATCH_SIZE`: messages whose events are written per INSERT (and the AMQP
    /// prefetch; default 200). A message holds one to 64 events (the publishers batch what
    /// queues up under load). Larger batches mean fewer round trips and more events
    /// redelivered after a crash.
    pub batch_size: u16,
    /// `XHUMA_AUDIT_BATCH_WAIT_MS`: how long a partial batch waits for more events (default
    /// 200 ms): the longest an event sits unwritten when traffic is light.
    pub batch_wait: Duration,
    /// `XHUMA_AUDIT_SOURCE_ID`: ATNA `AuditSourceID` (default `xhuma`).
    pub source_id: String,
    /// `XHUMA_AUDIT_ENTERPRISE_SITE_ID`: ATNA `AuditEnterpriseSiteID` (e.g. the trust's ODS
    /// code); optional.
    pub enterprise_site_id: Option<String>,
    /// `XHUMA_SHUTDOWN_GRACE_MS`: how long the batch in hand may take to be written after
    /// SIGTERM (default 10 s); unwritten events stay on the queue.
    pub grace: Duration,
}

// === impl AuditConfig ===

impl AuditConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&xhuma_common::config::process_env)
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let schema = env.string(XHUMA_AUDIT_DATABASE_SCHEMA, DEFAULT_AUDIT_DATABASE_SCHEMA);
        if !is_identifier(&schema) {
            return Err(ConfigError {
                var: XHUMA_AUDIT_DATABASE_SCHEMA,
                reason: "expected lowercase letters, digits and _ (at most 63), not starting \
                         with a digit"
                    .into(),
            });
        }
        let batch_size: u16 = env.parse(XHUMA_AUDIT_BATCH_SIZE, DEFAULT_AUDIT_BATCH_SIZE)?;
        if batch_size == 0 {
            return Err(ConfigError {
                var: XHUMA_AUDIT_BATCH_SIZE,
                reason: "must be at least 1".into(),
            });
        }
        let default_listen: SocketAddr = DEFAULT_AUDIT_LISTEN.parse().map_err(|_| ConfigError {
            var: XHUMA_AUDIT_LISTEN,
            reason: "bad built-in default".into(),
        })?;
        Ok(Self {
            amqp: AmqpConfig::from_env(&env)?,
            database_url: Secret::new(
                env.string(XHUMA_AUDIT_DATABASE_URL, DEFAULT_AUDIT_DATABASE_URL),
            ),
            schema,
            migrate: if env.bool(XHUMA_AUDIT_MIGRATE, true)? {
                Mode::Apply
            } else {
                Mode::Verify
            },
            listen: env.parse(XHUMA_AUDIT_LISTEN, default_listen)?,
            syslog: env.opt(XHUMA_AUDIT_SYSLOG)?,
            batch_size,
            batch_wait: env.millis(XHUMA_AUDIT_BATCH_WAIT_MS, DEFAULT_AUDIT_BATCH_WAIT_MS)?,
            source_id: env.string(XHUMA_AUDIT_SOURCE_ID, DEFAULT_AUDIT_SOURCE_ID),
            enterprise_site_id: env.get(XHUMA_AUDIT_ENTERPRISE_SITE_ID),
            grace: env.millis(XHUMA_SHUTDOWN_GRACE_MS, DEFAULT_SHUTDOWN_GRACE_MS)?,
        })
    }
}

/// A schema name we can put into SQL unquoted.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && s.len() <= 63
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::syslog::Transport;

    #[test]
    fn help_lists_every_variable_the_config_reads() {
        let read = xhuma_common::cli::variables_read(&[], |lookup| {
            AuditConfig::from_lookup(lookup).unwrap();
        });
        assert!(read.len() > 10, "{read:?}");
        assert_eq!(CLI.undeclared(&read), Vec::<String>::new());
        CLI.command().debug_assert();
    }

    fn config(pairs: &[(&str, &str)]) -> Result<AuditConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AuditConfig::from_lookup(&|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url.expose(), DEFAULT_AUDIT_DATABASE_URL);
        assert_eq!(format!("{:?}", c.database_url), "[redacted]");
        assert_eq!(c.schema, "xhuma_audit");
        assert_eq!(c.listen.port(), 9300);
        assert!(c.syslog.is_none());
        assert_eq!(c.batch_size, 200);
    }

    #[test]
    fn syslog_and_errors() {
        let c = config(&[(XHUMA_AUDIT_SYSLOG, "tcp://127.0.0.1:6514")]).unwrap();
        let target = c.syslog.unwrap();
        assert_eq!(target.transport, Transport::Tcp);
        assert_eq!(target.address, "127.0.0.1:6514");
        for (var, value) in [
            (XHUMA_AUDIT_SYSLOG, "http://x:1"),
            (XHUMA_AUDIT_SYSLOG, "udp://nohost"),
            (XHUMA_AUDIT_DATABASE_SCHEMA, "Bad-Name"),
            (XHUMA_AUDIT_DATABASE_SCHEMA, "x; drop table y"),
            (XHUMA_AUDIT_BATCH_SIZE, "0"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
    }
}
