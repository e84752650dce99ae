//! `XHUMA_*` settings shared by the binaries.
//!
//! Each binary has one `Config` built from these pieces (vector's shared `AmqpConfig`). Values
//! come through a lookup function so tests pass a `HashMap` instead of mutating the process
//! environment: `Config::from_lookup(|k| map.get(k).cloned())`. Every variable is documented in
//! the README's configuration table.

use crate::cli::Setting;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub const XHUMA_AMQP_URL: &str = "XHUMA_AMQP_URL";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const XHUMA_QUEUE_PREFIX: &str = "XHUMA_QUEUE_PREFIX";
pub const DEFAULT_QUEUE_PREFIX: &str = "xhuma";
pub const XHUMA_QUEUE_TYPE: &str = "XHUMA_QUEUE_TYPE";
pub const XHUMA_REDIS_URL: &str = "XHUMA_REDIS_URL";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";
pub const XHUMA_REDIS_PREFIX: &str = "XHUMA_REDIS_PREFIX";
pub const DEFAULT_REDIS_PREFIX: &str = "xhuma";
pub const XHUMA_REDIS_SENTINELS: &str = "XHUMA_REDIS_SENTINELS";
pub const XHUMA_REDIS_MASTER_NAME: &str = "XHUMA_REDIS_MASTER_NAME";
pub const DEFAULT_REDIS_MASTER_NAME: &str = "xhuma";
pub const XHUMA_REDIS_POOL_SIZE: &str = "XHUMA_REDIS_POOL_SIZE";
pub const DEFAULT_REDIS_POOL_SIZE: usize = 16;
pub const XHUMA_CACHE_KEY: &str = "XHUMA_CACHE_KEY";
pub const XHUMA_CACHE_OLD_KEYS: &str = "XHUMA_CACHE_OLD_KEYS";
pub const XHUMA_DOCUMENT_TTL_SECS: &str = "XHUMA_DOCUMENT_TTL_SECS";
pub const DEFAULT_DOCUMENT_TTL_SECS: u64 = 4 * 3600;

/// The RabbitMQ settings as `--help` lists them ([`crate::cli`]).
pub const AMQP_SETTINGS: &[Setting] = &[
    Setting::new(
        XHUMA_AMQP_URL,
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        "RabbitMQ URL, or the URLs of a cluster's nodes separated by commas",
    ),
    Setting::new(
        XHUMA_QUEUE_PREFIX,
        "xhuma",
        "Prefix of every exchange and queue (xhuma.sds, xhuma.gpconnect, xhuma.dead, xhuma.audit, retry tiers)",
    ),
    Setting::new(
        XHUMA_QUEUE_TYPE,
        "quorum",
        "quorum (replicated across a RabbitMQ cluster, at-least-once dead-lettering) or classic (dead-letters at-most-once)",
    ),
];

/// The Redis and document-cache settings as `--help` lists them.
pub const REDIS_SETTINGS: &[Setting] = &[
    Setting::new(
        XHUMA_REDIS_URL,
        "redis://127.0.0.1:6379/0",
        "Redis URL; rediss:// for TLS (verified against the system roots or SSL_CERT_FILE)",
    ),
    Setting::new(
        XHUMA_REDIS_SENTINELS,
        "",
        "Sentinel mode: the sentinels, comma-separated host:port (or redis:// / rediss:// URLs); XHUMA_REDIS_URL then gives only the scheme, credentials and database",
    ),
    Setting::new(
        XHUMA_REDIS_MASTER_NAME,
        "xhuma",
        "The name the sentinels monitor the primary under (Sentinel mode only)",
    ),
    Setting::new(
        XHUMA_REDIS_PREFIX,
        "xhuma",
        "Prefix of every Redis key and of the P:done completion channel",
    ),
    Setting::new(
        XHUMA_REDIS_POOL_SIZE,
        "16",
        "Pooled Redis connections per process",
    ),
    Setting::new(
        XHUMA_CACHE_KEY,
        "",
        "64 hex characters: master key of the cache encryption (AES-256-GCM) and of patient keys (HMAC)",
    ),
    Setting::new(
        XHUMA_CACHE_OLD_KEYS,
        "",
        "Earlier XHUMA_CACHE_KEY values, comma-separated",
    ),
    Setting::new(
        XHUMA_DOCUMENT_TTL_SECS,
        "14400",
        "How long a converted document stays cached (4 h)",
    ),
];

/// A configuration error names the variable and says what is wrong with its value (never the
/// value itself: it may be a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

/// A secret: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

// === impl Secret ===

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Reads variables through a lookup function (the real environment, or a map in tests).
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

// === impl Env ===

impl<'a> Env<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The raw value, with empty strings treated as unset.
    pub fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var).filter(|v| !v.trim().is_empty())
    }

    pub fn string(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or_else(|| default.to_string())
    }

    pub fn secret(&self, var: &str) -> Option<Secret> {
        self.get(var).map(Secret::new)
    }

    /// Parses a value with `FromStr`, falling back to `default` when unset.
    pub fn parse<T: FromStr>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError {
                var,
                reason: format!("cannot parse: {e}"),
            }),
        }
    }

    pub fn opt<T: FromStr>(&self, var: &'static str) -> Result<Option<T>, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.get(var) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|e: T::Err| ConfigError {
                var,
                reason: format!("cannot parse: {e}"),
            }),
        }
    }

    pub fn bool(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError {
                    var,
                    reason: "expected true or false".into(),
                }),
            },
        }
    }

    pub fn millis(&self, var: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
        self.parse(var, default_ms).map(Duration::from_millis)
    }

    pub fn secs(&self, var: &'static str, default_s: u64) -> Result<Duration, ConfigError> {
        self.parse(var, default_s).map(Duration::from_secs)
    }

    /// A comma-separated list; empty items are dropped.
    pub fn list(&self, var: &str) -> Vec<String> {
        self.get(var)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Reads the process environment.
pub fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

/// Quorum queues replicate across a RabbitMQ cluster; classic queues suit a single node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    Quorum,
    Classic,
}

impl FromStr for QueueType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "quorum" => Ok(Self::Quorum),
            "classic" => Ok(Self::Classic),
            _ => Err("expected quorum or classic".into()),
        }
    }
}

/// RabbitMQ connection and topology naming.
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// `XHUMA_AMQP_URL`: the broker URL, or the URLs of a cluster's nodes separated by commas
    /// (credentials inside are redacted in Debug).
    pub url: Secret,
    /// `XHUMA_QUEUE_PREFIX`: prefix of every exchange and queue name (tests use their own).
    pub prefix: String,
    /// `XHUMA_QUEUE_TYPE`: `quorum` (default) or `classic`.
    pub queue_type: QueueType,
}

impl AmqpConfig {
    /// The brokers of `XHUMA_AMQP_URL`, a comma-separated list (the nodes of one cluster),
    /// tried in order when connecting.
    pub fn urls(&self) -> Vec<&str> {
        self.url
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect()
    }

    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            url: Secret::new(env.string(XHUMA_AMQP_URL, DEFAULT_AMQP_URL)),
            prefix: env.string(XHUMA_QUEUE_PREFIX, DEFAULT_QUEUE_PREFIX),
            queue_type: env.parse(XHUMA_QUEUE_TYPE, QueueType::Quorum)?,
        })
    }
}

/// A `redis://` or `rediss://` URL that parses (not a Unix socket: Sentinel names TCP nodes).
fn is_tcp_redis_url(url: &str) -> bool {
    (url.starts_with("redis://") || url.starts_with("rediss://"))
        && redis::IntoConnectionInfo::into_connection_info(url).is_ok()
}

/// Where the sentinels of a Redis Sentinel group are, and which group is ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelConfig {
    /// `XHUMA_REDIS_SENTINELS`: `host:port` of each sentinel (reached with the scheme and
    /// credentials of `XHUMA_REDIS_URL`), or a full `redis://` / `rediss://` URL used as written.
    pub sentinels: Vec<Secret>,
    /// `XHUMA_REDIS_MASTER_NAME`: the name the sentinels monitor the primary under.
    pub master_name: String,
}

impl SentinelConfig {
    /// `None` when `XHUMA_REDIS_SENTINELS` is unset (a single Redis at `XHUMA_REDIS_URL`).
    pub fn from_env(env: &Env<'_>) -> Result<Option<Self>, ConfigError> {
        let sentinels = env.list(XHUMA_REDIS_SENTINELS);
        if sentinels.is_empty() {
            return Ok(None);
        }
        let bad = |reason: &str| ConfigError {
            var: XHUMA_REDIS_SENTINELS,
            reason: reason.into(),
        };
        for s in &sentinels {
            if s.contains("://") {
                if !is_tcp_redis_url(s) {
                    return Err(bad("expected host:port or redis:// / rediss:// URLs"));
                }
                continue;
            }
            match s.rsplit_once(':') {
                Some((host, port))
                    if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
                _ => return Err(bad("expected comma-separated host:port entries")),
            }
        }
        let master_name = env.string(XHUMA_REDIS_MASTER_NAME, DEFAULT_REDIS_MASTER_NAME);
        if master_name.chars().any(char::is_whitespace) {
            return Err(ConfigError {
                var: XHUMA_REDIS_MASTER_NAME,
                reason: "a Sentinel master name has no spaces".into(),
            });
        }
        Ok(Some(Self {
            sentinels: sentinels.into_iter().map(Secret::new).collect(),
            master_name,
        }))
    }
}

/// Redis connection, key prefix, TTLs and at-rest protection of cached documents.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `XHUMA_REDIS_URL`: the Redis to use, or, with `sentinel`, the scheme (TLS or not),
    /// credentials and database used on whichever node is primary (its host is not used).
    pub url: Secret,
    /// `XHUMA_REDIS_SENTINELS` and `XHUMA_REDIS_MASTER_NAME`: find the primary through these
    /// sentinels (`None`: `url` is the Redis).
    pub sentinel: Option<SentinelConfig>,
    /// `XHUMA_REDIS_PREFIX`: prefix of every key (tests use their own).
    pub prefix: String,
    /// `XHUMA_REDIS_POOL_SIZE`: connections in the pool used for documents.
    pub pool_size: usize,
    /// `XHUMA_CACHE_KEY`: 64 hex chars, the master key the sealing and patient-hash keys are
    /// derived from (HKDF). When set, cached documents and metadata are encrypted at rest.
    pub encryption_key: Option<Secret>,
    /// `XHUMA_CACHE_OLD_KEYS`: earlier master keys, comma-separated, that still open (never
    /// seal) what they sealed, until it expires: key rotation without a cold cache.
    pub old_keys: Vec<Secret>,
    /// `XHUMA_DOCUMENT_TTL_SECS`: how long a converted document stays cached (default 4 h).
    pub document_ttl: Duration,
}

impl RedisConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let is_key = |k: &str| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit());
        let encryption_key = env.secret(XHUMA_CACHE_KEY);
        if let Some(k) = &encryption_key
            && !is_key(k.expose())
        {
            return Err(ConfigError {
                var: XHUMA_CACHE_KEY,
                reason: "expected 64 hexadecimal characters (a 256-bit key)".into(),
            });
        }
        let old_keys: Vec<Secret> = env
            .secret(XHUMA_CACHE_OLD_KEYS)
            .map(|list| {
                list.expose()
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(Secret::new)
                    .collect()
            })
            .unwrap_or_default();
        if old_keys.iter().any(|k| !is_key(k.expose())) {
            return Err(ConfigError {
                var: XHUMA_CACHE_OLD_KEYS,
                reason: "expected comma-separated keys of 64 hexadecimal characters".into(),
            });
        }
        if !old_keys.is_empty() && encryption_key.is_none() {
            return Err(ConfigError {
                var: XHUMA_CACHE_OLD_KEYS,
                reason: "old keys need XHUMA_CACHE_KEY (the key new values are sealed with)".into(),
            });
        }
        let url = env.string(XHUMA_REDIS_URL, DEFAULT_REDIS_URL);
        let sentinel = SentinelConfig::from_env(env)?;
        if sentinel.is_some() && !is_tcp_redis_url(&url) {
            return Err(ConfigError {
                var: XHUMA_REDIS_URL,
                reason: "expected a redis:// or rediss:// URL (its credentials and database \
                         are used on the primary the sentinels name)"
                    .into(),
            });
        }
        Ok(Self {
            url: Secret::new(url),
            sentinel,
            prefix: env.string(XHUMA_REDIS_PREFIX, DEFAULT_REDIS_PREFIX),
            pool_size: env.parse(XHUMA_REDIS_POOL_SIZE, DEFAULT_REDIS_POOL_SIZE)?,
            encryption_key,
            old_keys,
            document_ttl: env.secs(XHUMA_DOCUMENT_TTL_SECS, DEFAULT_DOCUMENT_TTL_SECS)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn defaults_and_errors() {
        let map: HashMap<&str, &str> = HashMap::from([(XHUMA_QUEUE_TYPE, "bogus")]);
        let lookup = |k: &str| map.get(k).map(|v| v.to_string());
        let env = Env::new(&lookup);
        let err = AmqpConfig::from_env(&env).unwrap_err();
        assert_eq!(err.var, XHUMA_QUEUE_TYPE);
        let redis = RedisConfig::from_env(&env).unwrap();
        assert_eq!(redis.document_ttl, Duration::from_secs(4 * 3600));
        assert_eq!(format!("{:?}", redis.url), "[redacted]");
        assert_eq!(redis.sentinel, None);
    }

    fn redis_with(vars: &[(&str, &str)]) -> Result<RedisConfig, ConfigError> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        let lookup = |k: &str| map.get(k).map(|v| v.to_string());
        RedisConfig::from_env(&Env::new(&lookup))
    }

    #[test]
    fn sentinels_are_validated() {
        let ok = redis_with(&[(
            XHUMA_REDIS_SENTINELS,
            "10.0.0.1:26379, sentinel-2:26379,rediss://:pw@sentinel-3:26380",
        )])
        .unwrap();
        let sentinel = ok.sentinel.expect("sentinel mode");
        assert_eq!(sentinel.sentinels.len(), 3);
        assert_eq!(sentinel.master_name, DEFAULT_REDIS_MASTER_NAME);
        assert_eq!(format!("{:?}", sentinel.sentinels[2]), "[redacted]");
        for bad in [
            "sentinel-1",
            "sentinel-1:0",
            ":26379",
            "http://sentinel:26379",
            "a:b",
        ] {
            let err = redis_with(&[(XHUMA_REDIS_SENTINELS, bad)]).unwrap_err();
            assert_eq!(err.var, XHUMA_REDIS_SENTINELS, "{bad}");
        }
        let err = redis_with(&[
            (XHUMA_REDIS_SENTINELS, "s:26379"),
            (XHUMA_REDIS_MASTER_NAME, "my master"),
        ])
        .unwrap_err();
        assert_eq!(err.var, XHUMA_REDIS_MASTER_NAME);
        let err = redis_with(&[
            (XHUMA_REDIS_SENTINELS, "s:26379"),
            (XHUMA_REDIS_URL, "memcached://x"),
        ])
        .unwrap_err();
        assert_eq!(err.var, XHUMA_REDIS_URL);
    }
}
