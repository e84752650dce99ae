//! The completion subscription notices when it is dead: through a proxy that stalls (the
//! connection stays open, nothing is delivered, as with a half-open TCP connection) it stops
//! reporting itself subscribed within a keepalive and a PING timeout, reconnects when the path
//! returns, and wakes its waiters on the next completion.

mod support;

use std::time::Duration;

use support::proxy::Proxy;
use support::{Options, Stack, eventually};
use tokio_util::sync::CancellationToken;
use xhuma_common::NhsNumber;
use xhuma_common::cache::completion::{Completions, KEEPALIVE, PING_TIMEOUT};
use xhuma_common::cache::{Owner, Target};
use xhuma_common::job::{FailureKind, JobFailure};
use xhuma_simulator::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_subscription_is_noticed_and_replaced() {
    let stack = Stack::start(
        Simulator::builder(),
        Options {
            no_workers: true,
            ..Default::default()
        },
    )
    .await;
    let cache = stack.records.cache().clone();
    let redis = Proxy::start("127.0.0.1:6379".parse().expect("addr")).await;
    let shutdown = CancellationToken::new();
    let completions = Completions::spawn(
        Target::single(format!("redis://{}/0", redis.addr)),
        cache.done_channel(),
        shutdown.clone(),
    );
    let up = eventually(10, || async { completions.is_subscribed().then_some(()) }).await;
    assert!(up.is_some(), "subscribed");

    redis.stall();
    let noticed = (KEEPALIVE + PING_TIMEOUT).as_secs() + 5;
    let down = eventually(noticed, || async {
        (!completions.is_subscribed()).then_some(())
    })
    .await;
    assert!(
        down.is_some(),
        "a subscription that delivers nothing is noticed"
    );

    redis.unstall().await;
    let back = eventually(15, || async { completions.is_subscribed().then_some(()) }).await;
    assert!(back.is_some(), "resubscribed by itself");

    // And it delivers again: a worker's completion wakes a waiter of that patient.
    let nhs = NhsNumber::parse("9690937286").expect("valid");
    let mut waiter = completions.watch(&cache.patient_key(nhs));
    waiter.borrow_and_update();
    let failure = JobFailure {
        kind: FailureKind::AccessDenied,
        reason: "declined".into(),
    };
    let owner = Owner {
        job_id: uuid::Uuid::now_v7(),
        fence: 0,
    };
    cache
        .store_failure(nhs, &failure, Duration::from_secs(5), owner)
        .await
        .expect("store");
    tokio::time::timeout(Duration::from_secs(5), waiter.changed())
        .await
        .expect("woken through the new subscription")
        .expect("open");
    shutdown.cancel();
    stack.stop().await;
}
