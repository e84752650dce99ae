//! The cache in Sentinel mode against a real group (`deploy/local/redis-sentinel`: one primary,
//! two replicas, three sentinels on this test's own ports and directory, stopped by pid): it
//! finds the primary through the sentinels, a write sent to a replica fails (plain commands and
//! the Lua scripts alike) instead of being applied there, and after a manual failover
//! (`SENTINEL FAILOVER`, the old primary demoted but alive) writes reach the new primary, the
//! pool is not left holding connections that fail, and completions arrive again.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use xhuma_common::NhsNumber;
use xhuma_common::cache::completion::Completions;
use xhuma_common::cache::{Cache, CacheError, Lease, Owner};
use xhuma_common::config::{RedisConfig, Secret, SentinelConfig};
use xhuma_common::document::DocumentMeta;
use xhuma_common::job::unique_id_for;

/// This test's ports (data 6401-6403, sentinels 26401-26403) and directory; the worker
/// failover test uses others, so both run at once.
const PORT: &str = "6401";
const DIR: &str = "/tmp/xhuma-redis-sentinel-common";

/// The group this test started; stopped when dropped, also when the test fails.
struct Group {
    script: PathBuf,
}

impl Group {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.script)
            .args(args)
            .env("XHUMA_REDIS_SENTINEL_DIR", DIR)
            .env("XHUMA_REDIS_SENTINEL_PORT", PORT)
            .output()
            .expect("run deploy/local/redis-sentinel");
        assert!(
            out.status.success(),
            "redis-sentinel {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn start() -> Group {
        let group = Group {
            script: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../deploy/local/redis-sentinel"
            )),
        };
        group.run(&["start"]);
        group
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .arg("stop")
            .env("XHUMA_REDIS_SENTINEL_DIR", DIR)
            .env("XHUMA_REDIS_SENTINEL_PORT", PORT)
            .status();
    }
}

fn config(url: &str, sentinels: Option<&str>, prefix: &str) -> RedisConfig {
    RedisConfig {
        url: Secret::new(url),
        sentinel: sentinels.map(|s| SentinelConfig {
            sentinels: s.split(',').map(Secret::new).collect(),
            master_name: "xhuma".into(),
        }),
        prefix: prefix.into(),
        pool_size: 4,
        encryption_key: Some(Secret::new("ab".repeat(32))),
        old_keys: vec![],
        document_ttl: Duration::from_secs(300),
    }
}

/// A valid NHS number (mod-11 check digit) from a 9-digit stem.
fn nhs(stem: u64) -> NhsNumber {
    let mut stem = stem;
    loop {
        let digits: Vec<u64> = format!("{stem:09}")
            .bytes()
            .map(|b| u64::from(b - b'0'))
            .collect();
        let sum: u64 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| d * (10 - i as u64))
            .sum();
        let check = (11 - sum % 11) % 11;
        if check != 10 {
            return NhsNumber::parse(&format!("{stem:09}{check}")).expect("valid");
        }
        stem += 1;
    }
}

fn meta(nhs: NhsNumber) -> DocumentMeta {
    DocumentMeta {
        unique_id: unique_id_for(uuid::Uuid::new_v4()),
        entry_uuid: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        nhs_number: nhs,
        created: OffsetDateTime::now_utc(),
        sha1: "00".repeat(20),
        size: 10,
        patient_name: None,
        practice_ods: "B82617".into(),
        practice_name: None,
        warnings: vec![],
        ssp_trace_id: None,
    }
}

fn anyone() -> Owner {
    Owner {
        job_id: uuid::Uuid::now_v7(),
        fence: 0,
    }
}

/// An error's kind, and its cause's (what the figures print).
fn error_text(error: &CacheError) -> String {
    match error {
        CacheError::Redis(e) => format!("redis {}", e.code().unwrap_or("(no code)")),
        CacheError::Pool(e) => format!("pool {e}"),
        other => format!("{other}"),
    }
}

fn is_readonly(error: &CacheError) -> bool {
    matches!(error, CacheError::Redis(e)
        if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_follow_a_failover_and_never_land_on_a_replica() {
    let group = Group::start();
    let sentinels = group.run(&["urls"]);
    let prefix = format!("sentinel-{}", uuid::Uuid::new_v4().simple());
    // The host in the URL is not used in Sentinel mode, only its scheme, credentials and db.
    let cfg = config("redis://unused.invalid/0", Some(&sentinels), &prefix);
    let cache = Cache::new(&cfg).expect("pool");
    let shutdown = CancellationToken::new();
    let completions = Completions::spawn(
        cache.target().clone(),
        cache.done_channel(),
        shutdown.clone(),
    );

    let first = meta(nhs(100_000_001));
    cache
        .store_document(&first, b"<ClinicalDocument/>", anyone())
        .await
        .expect("store through the sentinels");
    assert_eq!(
        cache
            .document_for(first.nhs_number)
            .await
            .expect("read")
            .map(|m| m.unique_id),
        Some(first.unique_id.clone())
    );

    // A replica refuses writes, the scripts' included: an error, never a silent write.
    let primary = group.run(&["primary"]);
    let replica = ["6401", "6402", "6403"]
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .find(|a| *a != primary)
        .expect("a replica");
    let on_replica =
        Cache::new(&config(&format!("redis://{replica}/0"), None, &prefix)).expect("pool");
    let refused = on_replica
        .store_document(&meta(nhs(100_000_002)), b"<x/>", anyone())
        .await
        .expect_err("a replica must refuse the store script");
    assert!(is_readonly(&refused), "{refused:?}");
    let lease = Lease {
        job_id: uuid::Uuid::now_v7(),
        unique_id: unique_id_for(uuid::Uuid::new_v4()),
        since: OffsetDateTime::now_utc(),
    };
    let refused = on_replica
        .try_lease(nhs(100_000_002), &lease, Duration::from_secs(30))
        .await
        .expect_err("a replica must refuse the lease script");
    assert!(is_readonly(&refused), "{refused:?}");
    let refused = on_replica
        .first_use("replay-guard", Duration::from_secs(30))
        .await
        .expect_err("a replica must refuse SET");
    assert!(is_readonly(&refused), "{refused:?}");

    // A completion waiter, registered while subscribed on the old primary.
    let waiting = nhs(100_000_003);
    let mut waiter = completions.watch(&cache.patient_key(waiting));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !completions.is_subscribed() {
        assert!(Instant::now() < deadline, "never subscribed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Graceful failover: the old primary stays up, demoted to a replica.
    let sentinel_port = sentinels
        .split(',')
        .next()
        .and_then(|s| s.rsplit_once(':'))
        .map(|(_, p)| p.to_string())
        .expect("a sentinel");
    let out = Command::new("redis-cli")
        .args(["-p", &sentinel_port, "SENTINEL", "FAILOVER", "xhuma"])
        .output()
        .expect("redis-cli");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let started = Instant::now();

    // Once the sentinels name the new primary (and have announced it: the pool drops its
    // connections to the old one then), writes until one succeeds. A write acknowledged in
    // the second or two before that announcement can be acknowledged by the old primary and
    // lost: Sentinel's asynchronous replication (docs/operations.md).
    let deadline = Instant::now() + Duration::from_secs(30);
    while group.run(&["primary"]) == primary {
        assert!(
            Instant::now() < deadline,
            "the sentinels never named a new primary"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let named = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = meta(nhs(100_000_004));
    let mut errors = 0;
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "no write succeeded after the failover"
        );
        match cache
            .store_document(&second, b"<ClinicalDocument/>", anyone())
            .await
        {
            Ok(_) => break,
            Err(e) => {
                errors += 1;
                seen.insert(error_text(&e));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = started.elapsed();
    let new_primary = group.run(&["primary"]);
    assert_ne!(new_primary, primary);

    // The pool does not stay poisoned: a connection still on the old primary fails once and
    // leaves the pool, so at most the pool's size of operations fail before eight in a row
    // (twice the pool, so every pooled connection is used) all work.
    let (mut in_a_row, mut stale) = (0, 0);
    for i in 0..40 {
        match cache
            .put_cached("probe", &i.to_string(), &i, Duration::from_secs(60))
            .await
        {
            Ok(()) => in_a_row += 1,
            Err(e) => {
                stale += 1;
                in_a_row = 0;
                seen.insert(error_text(&e));
            }
        }
        if in_a_row == 8 {
            break;
        }
    }
    assert_eq!(in_a_row, 8, "the pool keeps failing after the failover");
    assert!(
        stale <= cfg.pool_size,
        "{stale} stale connections in a pool of {}",
        cfg.pool_size
    );
    // What was acknowledged is on the new primary.
    let direct =
        Cache::new(&config(&format!("redis://{new_primary}/0"), None, &prefix)).expect("pool");
    assert!(
        direct
            .document_for(second.nhs_number)
            .await
            .expect("read")
            .is_some()
    );
    // The old primary, now a replica, refuses writes too.
    let old = Cache::new(&config(&format!("redis://{primary}/0"), None, &prefix)).expect("pool");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match old.first_use("demoted", Duration::from_secs(30)).await {
            Err(e) if is_readonly(&e) => break,
            _ if Instant::now() > deadline => panic!("the old primary still takes writes"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }

    // Completions come through again (the subscriber found the new primary). The reconnect
    // itself wakes every waiter once; the signal that counts is the one after that.
    let third = meta(waiting);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !completions.is_subscribed() {
        assert!(Instant::now() < deadline, "never subscribed again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    waiter.borrow_and_update();
    let signalled = async {
        loop {
            cache
                .store_document(&third, b"<ClinicalDocument/>", anyone())
                .await
                .expect("store");
            if tokio::time::timeout(Duration::from_secs(2), waiter.changed())
                .await
                .is_ok()
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), signalled)
        .await
        .expect("a completion after the failover");
    assert!(completions.is_subscribed());
    eprintln!(
        "sentinel manual failover: {primary} -> {new_primary}; named by the sentinels {:.1} s, \
         first write on the new primary {:.1} s after SENTINEL FAILOVER, {errors} failed writes meanwhile, {stale} on stale \
         pooled connections afterwards ({seen:?})",
        named.as_secs_f64(),
        recovered.as_secs_f64()
    );
    shutdown.cancel();
    drop(group);
}
