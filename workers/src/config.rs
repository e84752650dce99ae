//! `xhuma-worker` configuration, from `XHUMA_*` environment variables.

use std::net::SocketAddr;
use std::time::Duration;

use xhuma_common::cli::{Cli, Group, Setting};
use xhuma_common::config::{AmqpConfig, ConfigError, Env, RedisConfig};
use xhuma_common::nhs::NhsConfig;
use xhuma_common::queue::Stage;

pub const XHUMA_WORKER_STAGES: &str = "XHUMA_WORKER_STAGES";
pub const XHUMA_WORKER_PREFETCH: &str = "XHUMA_WORKER_PREFETCH";
pub const DEFAULT_WORKER_PREFETCH: u16 = 8;
pub const XHUMA_JOB_MAX_ATTEMPTS: &str = "XHUMA_JOB_MAX_ATTEMPTS";
pub const DEFAULT_JOB_MAX_ATTEMPTS: u32 = 4;
pub const XHUMA_LEASE_TTL_MS: &str = "XHUMA_LEASE_TTL_MS";
pub const DEFAULT_LEASE_TTL_MS: u64 = 60_000;
pub const XHUMA_SDS_CACHE_TTL_SECS: &str = "XHUMA_SDS_CACHE_TTL_SECS";
pub const DEFAULT_SDS_CACHE_TTL_SECS: u64 = 12 * 3600;
pub const XHUMA_FAILURE_TTL_SECS: &str = "XHUMA_FAILURE_TTL_SECS";
pub const DEFAULT_FAILURE_TTL_SECS: u64 = 30;
pub const XHUMA_WORKER_LISTEN: &str = "XHUMA_WORKER_LISTEN";
pub const DEFAULT_WORKER_LISTEN: &str = "127.0.0.1:9200";
pub const XHUMA_GPC_DEMOGRAPHIC_CHECK: &str = "XHUMA_GPC_DEMOGRAPHIC_CHECK";
pub const XHUMA_SHUTDOWN_GRACE_MS: &str = "XHUMA_SHUTDOWN_GRACE_MS";
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 30_000;

/// The settings above as `--help` lists them ([`xhuma_common::cli`]).
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        XHUMA_WORKER_STAGES,
        "both",
        "sds, gpconnect or both: which pipeline stages this process consumes",
    )
    .alias("stages"),
    Setting::new(
        XHUMA_WORKER_PREFETCH,
        "8",
        "Jobs in flight per stage (AMQP prefetch)",
    ),
    Setting::new(
        XHUMA_JOB_MAX_ATTEMPTS,
        "4",
        "Tries for transient failures (retry tiers 1 s, 5 s, 30 s) before dead-lettering",
    ),
    Setting::new(
        XHUMA_LEASE_TTL_MS,
        "60000",
        "Single-flight lease per patient",
    ),
    Setting::new(
        XHUMA_SDS_CACHE_TTL_SECS,
        "43200",
        "How long an ODS code's GP Connect endpoint (SDS) is cached",
    ),
    Setting::new(
        XHUMA_FAILURE_TTL_SECS,
        "30",
        "How long a permanent failure is remembered for waiting requests",
    ),
    Setting::new(
        XHUMA_WORKER_LISTEN,
        "127.0.0.1:9200",
        "/health/* and /metrics of the worker",
    ),
    Setting::new(
        XHUMA_GPC_DEMOGRAPHIC_CHECK,
        "true",
        "GP Connect's demographic cross-check (GEN-07)",
    ),
    Setting::new(
        XHUMA_SHUTDOWN_GRACE_MS,
        "30000",
        "How long work in flight may run after SIGTERM",
    ),
];

/// `xhuma-worker --help`: every setting a worker reads, by concern.
pub const CLI: Cli = Cli {
    name: "xhuma-worker",
    version: env!("CARGO_PKG_VERSION"),
    about: "A pipeline worker: SDS lookup and GP Connect fetch, FHIR to C-CDA conversion, the \
            sealed document cached in Redis",
    groups: &[
        Group {
            heading: "Worker",
            settings: SETTINGS,
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

/// Everything `xhuma-worker` reads from its environment.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub amqp: AmqpConfig,
    pub redis: RedisConfig,
    pub nhs: NhsConfig,
    /// `XHUMA_WORKER_STAGES`: `sds`, `gpconnect` or both (default), comma-separated.
    pub stages: Vec<Stage>,
    /// `XHUMA_WORKER_PREFETCH`: jobs in flight per stage (AMQP prefetch). Each GP Connect job
    /// holds a bundle and a document in memory (a few MB at most), so this bounds memory too.
    pub prefetch: u16,
    /// `XHUMA_JOB_MAX_ATTEMPTS`: tries for transient failures before a job is dead-lettered.
    pub max_attempts: u32,
    /// `XHUMA_LEASE_TTL_MS`: the single-flight lease. The worker renews it every third of this
    /// while the job runs and over each retry delay; it only lapses when nobody works the job.
    pub lease_ttl: Duration,
    /// `XHUMA_SDS_CACHE_TTL_SECS`: how long an ODS code's GP Connect endpoint is cached.
    pub sds_ttl: Duration,
    /// `XHUMA_FAILURE_TTL_SECS`: how long a permanent failure is remembered for waiters.
    pub failure_ttl: Duration,
    /// `XHUMA_WORKER_LISTEN`: health and metrics HTTP address.
    pub listen: SocketAddr,
    /// `XHUMA_SHUTDOWN_GRACE_MS`: how long in-flight jobs may run after SIGTERM.
    pub grace: Duration,
    /// `XHUMA_GPC_DEMOGRAPHIC_CHECK` (default true): the GP Connect stage reads PDS beside each
    /// GP Connect call and refuses a record whose birth date, gender or family name disagree
    /// (GP Connect GEN-07, [`crate::jobs::crosscheck`]).
    pub demographic_check: bool,
}

impl WorkerConfig {
    /// The stages named by `XHUMA_WORKER_STAGES` (both when unset).
    fn stages_from(env: &Env<'_>) -> Result<Vec<Stage>, ConfigError> {
        let names = env.list(XHUMA_WORKER_STAGES);
        if names.is_empty() {
            return Ok(Stage::ALL.to_vec());
        }
        let mut stages = Vec::new();
        for name in names {
            let stage = Stage::parse(&name).ok_or_else(|| ConfigError {
                var: XHUMA_WORKER_STAGES,
                reason: "expected sds and/or gpconnect".into(),
            })?;
            if !stages.contains(&stage) {
                stages.push(stage);
            }
        }
        Ok(stages)
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&xhuma_common::config::process_env)
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let stages = Self::stages_from(&env)?;
        let prefetch: u16 = env.parse(XHUMA_WORKER_PREFETCH, DEFAULT_WORKER_PREFETCH)?;
        if prefetch == 0 {
            return Err(ConfigError {
                var: XHUMA_WORKER_PREFETCH,
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            amqp: AmqpConfig::from_env(&env)?,
            redis: RedisConfig::from_env(&env)?,
            nhs: NhsConfig::from_env(&env)?,
            stages,
            prefetch,
            max_attempts: env
                .parse(XHUMA_JOB_MAX_ATTEMPTS, DEFAULT_JOB_MAX_ATTEMPTS)?
                .max(1),
            lease_ttl: env.millis(XHUMA_LEASE_TTL_MS, DEFAULT_LEASE_TTL_MS)?,
            sds_ttl: env.secs(XHUMA_SDS_CACHE_TTL_SECS, DEFAULT_SDS_CACHE_TTL_SECS)?,
            failure_ttl: env.secs(XHUMA_FAILURE_TTL_SECS, DEFAULT_FAILURE_TTL_SECS)?,
            listen: env.parse(
                XHUMA_WORKER_LISTEN,
                DEFAULT_WORKER_LISTEN.parse().map_err(|_| ConfigError {
                    var: XHUMA_WORKER_LISTEN,
                    reason: "bad default".into(),
                })?,
            )?,
            grace: env.millis(XHUMA_SHUTDOWN_GRACE_MS, DEFAULT_SHUTDOWN_GRACE_MS)?,
            demographic_check: env.bool(XHUMA_GPC_DEMOGRAPHIC_CHECK, true)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_variable_the_config_reads() {
        let required = [
            ("XHUMA_NHS_API_KEY", "test-key"),
            ("XHUMA_NHS_ASID", "200000000001"),
            ("XHUMA_NHS_SIGNING_KEY_PATH", "/nonexistent/test-key.pem"),
        ];
        let read = xhuma_common::cli::variables_read(&required, |lookup| {
            WorkerConfig::from_lookup(lookup).unwrap();
        });
        assert!(read.len() > 40, "{read:?}");
        assert_eq!(CLI.undeclared(&read), Vec::<String>::new());
        CLI.command().debug_assert();
    }

    #[test]
    fn stages_flag_is_the_setting_alias() {
        let settings = CLI
            .try_parse_from(["xhuma-worker", "--stages", "sds"])
            .unwrap();
        assert_eq!(
            settings.lookup()(XHUMA_WORKER_STAGES).as_deref(),
            Some("sds")
        );
    }
}
