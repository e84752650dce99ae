//! The Redis cache against a real Redis: documents sealed at rest, single-flight leases,
//! failures, and completion signals reaching a waiter.

use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use xhuma_common::NhsNumber;
use xhuma_common::cache::completion::Completions;
use xhuma_common::cache::{Cache, Lease, LeaseOutcome, Owner, Renewal, Stored, Target};
use xhuma_common::config::{RedisConfig, Secret};
use xhuma_common::document::DocumentMeta;
use xhuma_common::job::{FailureKind, JobFailure, unique_id_for};

const KEY: &str = "8f0c1e7a5b3d2c4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";

fn config(encrypted: bool) -> RedisConfig {
    RedisConfig {
        url: Secret::new(
            std::env::var("XHUMA_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into()),
        ),
        sentinel: None,
        prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
        pool_size: 4,
        encryption_key: encrypted.then(|| Secret::new(KEY)),
        old_keys: vec![],
        document_ttl: Duration::from_secs(60),
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

/// A writer that holds no lease (the tests that only exercise storage).
fn anyone() -> Owner {
    Owner {
        job_id: uuid::Uuid::now_v7(),
        fence: 0,
    }
}

fn lease() -> Lease {
    Lease {
        job_id: uuid::Uuid::now_v7(),
        unique_id: unique_id_for(uuid::Uuid::new_v4()),
        since: OffsetDateTime::now_utc(),
    }
}

async fn acquire(cache: &Cache, lease: &Lease, ttl: Duration) -> Option<Owner> {
    match cache.try_lease(nhs(), lease, ttl).await.expect("lease") {
        LeaseOutcome::Acquired { fence } => Some(Owner {
            job_id: lease.job_id,
            fence,
        }),
        LeaseOutcome::Held(_) => None,
    }
}

fn nhs() -> NhsNumber {
    NhsNumber::parse("9690937286").expect("valid")
}

#[tokio::test]
async fn documents_are_sealed_at_rest_and_read_back() {
    let cfg = config(true);
    let cache = Cache::new(&cfg).expect("pool");
    let mut m = meta(nhs());
    m.patient_name = Some("SKELLY, Horace".into());
    m.practice_name = Some("Hillside Surgery".into());
    let doc = b"<ClinicalDocument xmlns=\"urn:hl7-org:v3\">Horace SKELLY</ClinicalDocument>";
    cache
        .store_document(&m, doc, anyone())
        .await
        .expect("store");

    let (read_meta, read_doc) = cache
        .document(&m.unique_id)
        .await
        .expect("read")
        .expect("hit");
    assert_eq!(read_meta, m);
    assert_eq!(read_doc, doc);
    assert_eq!(
        cache.document_for(nhs()).await.expect("read"),
        Some(m.clone())
    );

    // Nothing readable in Redis itself: neither the name nor the NHS number in any key.
    let client = redis::Client::open(cfg.url.expose()).expect("client");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", cfg.prefix))
        .query_async(&mut c)
        .await
        .expect("keys");
    assert!(!keys.is_empty());
    for key in &keys {
        assert!(!key.contains("9690937286"), "NHS number in key {key}");
        let raw: Vec<u8> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut c)
            .await
            .expect("get");
        assert!(
            !raw.windows(6).any(|w| w == b"SKELLY"),
            "plain text in {key}"
        );
        // The metadata too: no NHS number, name or practice in any value.
        assert!(
            !raw.windows(10).any(|w| w == b"9690937286"),
            "NHS number in the value of {key}"
        );
        assert!(
            !raw.windows(8).any(|w| w == b"Hillside"),
            "practice in the value of {key}"
        );
    }
}

#[tokio::test]
async fn a_pointer_to_another_patients_document_is_not_followed() {
    let cfg = config(true);
    let cache = Cache::new(&cfg).expect("pool");
    let alice = nhs();
    let bob = NhsNumber::parse("9690937278").expect("valid");
    let bobs = meta(bob);
    cache
        .store_document(&bobs, b"<b/>", anyone())
        .await
        .expect("store");
    // Someone (or a bug) points Alice's current-document pointer at Bob's document.
    let client = redis::Client::open(cfg.url.expose()).expect("client");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let pointer = format!("{}:pt:{}:doc", cfg.prefix, cache.patient_key(alice));
    let _: () = redis::cmd("SET")
        .arg(&pointer)
        .arg(&bobs.unique_id)
        .query_async(&mut c)
        .await
        .expect("set");
    assert_eq!(
        cache.document_for(alice).await.expect("read"),
        None,
        "Bob's document served as Alice's"
    );
    // Metadata written in the clear (by hand, or by an old version) is not trusted either.
    let meta_key = format!("{}:doc:{}:meta", cfg.prefix, bobs.unique_id);
    let _: () = redis::cmd("SET")
        .arg(&meta_key)
        .arg(serde_json::to_vec(&meta(alice)).expect("json"))
        .query_async(&mut c)
        .await
        .expect("set");
    assert_eq!(cache.document_for(alice).await.expect("read"), None);
    assert!(
        cache
            .document(&bobs.unique_id)
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn one_lease_per_patient() {
    let cache = Cache::new(&config(false)).expect("pool");
    let mut owners = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..50 {
        let cache = cache.clone();
        handles.push(tokio::spawn(async move {
            let lease = lease();
            acquire(&cache, &lease, Duration::from_secs(30)).await
        }));
    }
    for h in handles {
        if let Some(owner) = h.await.expect("join") {
            owners.push(owner);
        }
    }
    assert_eq!(owners.len(), 1, "exactly one of 50 takes the lease");
    let owner = owners[0];
    let lease = cache.lease(nhs()).await.expect("read").expect("held");
    assert_eq!(lease.job_id, owner.job_id, "the lease names its job");
    let pk = cache
        .pending_patient(&lease.unique_id)
        .await
        .expect("pending");
    assert_eq!(
        pk,
        Some(cache.patient_key(nhs())),
        "pending written with it"
    );

    // Another job's result does not release it; the owner's does.
    let mut other = meta(nhs());
    assert_eq!(
        cache
            .store_document(&other, b"<o/>", anyone())
            .await
            .expect("store"),
        Stored::Current
    );
    assert!(cache.lease(nhs()).await.expect("read").is_some());
    assert!(
        !cache
            .release_lease(nhs(), uuid::Uuid::now_v7())
            .await
            .expect("release")
    );
    assert!(cache.lease(nhs()).await.expect("read").is_some());
    other.unique_id = lease.unique_id.clone();
    assert_eq!(
        cache
            .store_document(&other, b"<x/>", owner)
            .await
            .expect("store"),
        Stored::Current
    );
    assert_eq!(cache.lease(nhs()).await.expect("read"), None);
}

#[tokio::test]
async fn a_job_that_outlived_its_lease_never_overwrites_the_newer_document() {
    let cache = Cache::new(&config(true)).expect("pool");
    let short = Duration::from_millis(300);
    let a = lease();
    let owner_a = acquire(&cache, &a, short).await.expect("A takes it");
    // While A holds it, renewals keep it past its TTL and nobody else gets it.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            cache
                .renew_lease(nhs(), a.job_id, short)
                .await
                .expect("renew"),
            Renewal::Renewed
        );
    }
    assert!(acquire(&cache, &lease(), short).await.is_none());

    // A stalls (no renewals): its lease lapses and B starts, with a later token.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b = lease();
    let owner_b = acquire(&cache, &b, Duration::from_secs(30))
        .await
        .expect("B takes it");
    assert!(owner_b.fence > owner_a.fence, "tokens only grow");
    assert_eq!(
        cache
            .renew_lease(nhs(), a.job_id, short)
            .await
            .expect("renew"),
        Renewal::Lost
    );

    // B finishes first; A's late result is kept under its own id but never made current,
    // and A's late failure is not recorded either.
    let mut doc_b = meta(nhs());
    doc_b.unique_id = b.unique_id.clone();
    let mut doc_a = meta(nhs());
    doc_a.unique_id = a.unique_id.clone();
    assert_eq!(
        cache
            .store_document(&doc_b, b"<b/>", owner_b)
            .await
            .expect("store"),
        Stored::Current
    );
    assert_eq!(
        cache
            .store_document(&doc_a, b"<a/>", owner_a)
            .await
            .expect("store"),
        Stored::Superseded
    );
    let current = cache.document_for(nhs()).await.expect("read").expect("hit");
    assert_eq!(current.unique_id, b.unique_id);
    assert!(cache.document(&a.unique_id).await.expect("read").is_some());
    let failure = JobFailure {
        kind: FailureKind::UpstreamUnavailable,
        reason: "late".into(),
    };
    assert!(
        !cache
            .store_failure(nhs(), &failure, Duration::from_secs(10), owner_a)
            .await
            .expect("store")
    );
    assert_eq!(cache.failure(nhs()).await.expect("read"), None);
}

#[tokio::test]
async fn failure_wakes_a_waiter() {
    let cfg = config(false);
    let cache = Cache::new(&cfg).expect("pool");
    let shutdown = CancellationToken::new();
    let completions = Completions::spawn(
        Target::single(cfg.url.expose()),
        cache.done_channel(),
        shutdown.clone(),
    );
    let pk = cache.patient_key(nhs());
    let mut rx = completions.watch(&pk);
    // The subscription wakes everyone once when it comes up; wait for that first.
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .expect("subscribed")
        .expect("open");

    let failure = JobFailure {
        kind: FailureKind::AccessDenied,
        reason: "declined".into(),
    };
    cache
        .store_failure(nhs(), &failure, Duration::from_secs(10), anyone())
        .await
        .expect("store");
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .expect("woken by the worker's publish")
        .expect("open");
    assert_eq!(cache.failure(nhs()).await.expect("read"), Some(failure));
    shutdown.cancel();
}

#[tokio::test]
async fn a_rotated_key_still_reads_what_the_old_one_wrote() {
    const NEW: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
    let before_cfg = config(true);
    let before = Cache::new(&before_cfg).expect("pool");
    let old_doc = meta(nhs());
    before
        .store_document(&old_doc, b"<old/>", anyone())
        .await
        .expect("store");

    let mut after_cfg = before_cfg.clone();
    after_cfg.encryption_key = Some(Secret::new(NEW));
    after_cfg.old_keys = vec![Secret::new(KEY)];
    let after = Cache::new(&after_cfg).expect("pool");
    assert_ne!(after.patient_key(nhs()), before.patient_key(nhs()));
    let found = after.document_for(nhs()).await.expect("read");
    assert_eq!(
        found.as_ref(),
        Some(&old_doc),
        "found under the old key's hash"
    );
    let (_, body) = after
        .document(&old_doc.unique_id)
        .await
        .expect("read")
        .expect("opens with the old key");
    assert_eq!(body, b"<old/>");

    // New writes use the new key only: a process still on the old key cannot open them.
    let new_doc = meta(nhs());
    after
        .store_document(&new_doc, b"<new/>", anyone())
        .await
        .expect("store");
    assert_eq!(
        after
            .document_for(nhs())
            .await
            .expect("read")
            .map(|m| m.unique_id),
        Some(new_doc.unique_id.clone())
    );
    assert!(
        before
            .document(&new_doc.unique_id)
            .await
            .expect("read")
            .is_none()
    );
}
