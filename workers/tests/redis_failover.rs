//! Redis losing its primary mid-run: a local Sentinel group (`deploy/local/redis-sentinel`: one
//! primary, two replicas, three sentinels, on this test's own ports and directory; stopped by
//! this test, by pid), the gateway and two workers given the sentinels, real RabbitMQ. A third
//! of the patients are discovered, the primary is SIGKILLed, the next third are discovered
//! during the failover and the last third after it. Every patient must end up with a document
//! that is its own (the NHS number in the C-CDA's recordTarget), served through ITI-38 and
//! ITI-39 (an EHR retries what failed meanwhile); a discovery after the failover must be served
//! by the ITI-38 that follows it (the completion subscription moved); the queues drain with
//! nothing dead-lettered; and single-flight still holds (five simultaneous discoveries of a new
//! patient, one GP Connect call). The figures are printed for the closing note.

mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Options, Stack, documents, iti38, iti39, iti55, unique_id};
use xhuma_simulator::Simulator;

/// Patients of the run, and one kept back for the single-flight check.
const PATIENTS: usize = 24;
/// This test's ports (data 6411-6413, sentinels 26411-26413) and directory.
const PORT: &str = "6411";
const DIR: &str = "/tmp/xhuma-redis-sentinel-workers";

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
            script: support::repo_root().join("deploy/local/redis-sentinel"),
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

/// Messages waiting on one of this stack's queues (the machine's broker).
async fn depth(prefix: &str, queue: &str) -> Option<u32> {
    let cfg = support::amqp_config("amqp://guest:guest@127.0.0.1:5672/%2f", prefix);
    let amqp = xhuma_common::queue::Amqp::connect(&cfg, "test-inspect")
        .await
        .ok()?;
    let ch = amqp.channel().await.ok()?;
    let q = ch
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .ok()?;
    amqp.close().await;
    Some(q.message_count())
}

/// ITI-38 then ITI-39 for `nhs`: the C-CDA served, if the gateway has one now.
async fn served(stack: &Stack, nhs: &str) -> Option<String> {
    let (status, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    if status != 200 {
        return None;
    }
    let uid = unique_id(&body)?;
    let (status, body) = stack.post("/SOAP/iti39", iti39(&uid)).await;
    if status != 200 {
        return None;
    }
    let doc = documents(&body).into_iter().next()?;
    Some(String::from_utf8_lossy(&doc).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_redis_primary_loses_no_patient() {
    // RUST_LOG=warn shows the reconnects when this test needs looking into.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let group = Group::start();
    let sentinels = group.run(&["urls"]);
    let sim = Simulator::builder()
        .synthetic(PATIENTS + 1)
        .gpconnect_latency(Duration::from_millis(300));
    let options = Options {
        workers: 2,
        env: vec![
            ("XHUMA_REDIS_SENTINELS", sentinels),
            // Only its scheme, credentials and database are used in Sentinel mode.
            ("XHUMA_REDIS_URL", "redis://sentinel-named-primary/0".into()),
            // A patient whose job the failover lost answers Busy after this, and is discovered
            // again (as an EHR retries) sooner than after the default wait.
            ("XHUMA_JOB_WAIT_TIMEOUT_MS", "8000".into()),
        ],
        ..Options::default()
    };
    let stack = Stack::start(sim, options).await;
    let mut patients: Vec<String> = stack
        .sim
        .patients()
        .into_iter()
        .filter(|p| p.scenario == "synthetic")
        .map(|p| p.nhs_number)
        .collect();
    assert_eq!(patients.len(), PATIENTS + 1);
    let kept_back = patients.pop().expect("one kept back");
    let cache = stack.records.cache().clone();

    let mut discoveries = 0u64;
    let mut failed_requests = 0u64;
    let third = PATIENTS / 3;

    // Before: discovered and served.
    for (status, _) in futures_util::future::join_all(
        patients[..third]
            .iter()
            .map(|n| stack.post("/SOAP/iti55", iti55(n))),
    )
    .await
    {
        discoveries += 1;
        assert_eq!(status, 200);
    }
    for nhs in &patients[..third] {
        assert!(served(&stack, nhs).await.is_some(), "{nhs} before the kill");
    }

    // The kill, with discoveries arriving while the sentinels fail over.
    let killed = group.run(&["kill-primary"]);
    let killed_at = Instant::now();
    let probe = {
        let cache = cache.clone();
        tokio::spawn(async move {
            // The first write the cache manages after the kill (bounded by the test's limit).
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if cache
                    .put_cached("probe", "failover", &1u8, Duration::from_secs(60))
                    .await
                    .is_ok()
                {
                    return Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        })
    };
    for (status, _) in futures_util::future::join_all(
        patients[third..2 * third]
            .iter()
            .map(|n| stack.post("/SOAP/iti55", iti55(n))),
    )
    .await
    {
        discoveries += 1;
        if status != 200 {
            failed_requests += 1;
        }
    }
    let first_write = probe
        .await
        .expect("probe")
        .expect("a write succeeded after the failover");
    let to_first_write = first_write - killed_at;
    let new_primary = group.run(&["primary"]);

    // After: a new discovery is served by the ITI-38 right behind it (which waits on the
    // completion subscription, now on the new primary).
    for (status, _) in futures_util::future::join_all(
        patients[2 * third..]
            .iter()
            .map(|n| stack.post("/SOAP/iti55", iti55(n))),
    )
    .await
    {
        discoveries += 1;
        assert_eq!(status, 200, "a discovery after the failover");
    }
    let after =
        futures_util::future::join_all(patients[2 * third..].iter().map(|n| served(&stack, n)))
            .await;
    for (nhs, doc) in patients[2 * third..].iter().zip(&after) {
        let doc = doc
            .as_deref()
            .unwrap_or_else(|| panic!("{nhs}: ITI-38 after the failover"));
        assert!(
            doc.contains(&format!("extension=\"{nhs}\"")),
            "{nhs}'s own record"
        );
    }

    // Every patient gets its own document; what was lost in the failover is discovered again,
    // as an EHR retries.
    let mut done: HashSet<String> = HashSet::new();
    let mut rediscovered = 0u64;
    let deadline = Instant::now() + Duration::from_secs(90);
    while done.len() < PATIENTS && Instant::now() < deadline {
        for nhs in &patients {
            if done.contains(nhs) {
                continue;
            }
            match served(&stack, nhs).await {
                Some(doc) => {
                    assert!(
                        doc.contains(&format!("extension=\"{nhs}\"")),
                        "{nhs} was served another patient's record"
                    );
                    done.insert(nhs.clone());
                }
                None => {
                    let (status, _) = stack.post("/SOAP/iti55", iti55(nhs)).await;
                    discoveries += 1;
                    rediscovered += 1;
                    if status != 200 {
                        failed_requests += 1;
                    }
                }
            }
        }
    }
    let all_done = killed_at.elapsed();
    assert_eq!(
        done.len(),
        PATIENTS,
        "patients never served: {}",
        PATIENTS - done.len()
    );

    // Single-flight after the failover: five discoveries at once, one GP Connect call.
    let before = stack.sim.counters().await.gpconnect;
    for (status, body) in
        futures_util::future::join_all((0..5).map(|_| stack.post("/SOAP/iti55", iti55(&kept_back))))
            .await
    {
        assert_eq!(status, 200, "{body}");
    }
    let doc = served(&stack, &kept_back)
        .await
        .expect("the kept-back patient");
    assert!(doc.contains(&format!("extension=\"{kept_back}\"")));
    let single_flight = stack.sim.counters().await.gpconnect - before;
    assert_eq!(single_flight, 1, "one GP Connect call for five discoveries");

    // Nothing left in the queues, nothing dead-lettered.
    let prefix = stack.prefix.clone();
    let drained = support::eventually(30, || async {
        let sds = depth(&prefix, &format!("{prefix}.sds")).await?;
        let gpc = depth(&prefix, &format!("{prefix}.gpconnect")).await?;
        (sds == 0 && gpc == 0).then_some(())
    })
    .await;
    assert!(drained.is_some(), "job queues drained");
    let dead = depth(&prefix, &format!("{prefix}.dead")).await;
    assert_eq!(dead, Some(0), "dead-lettered jobs");
    let calls = stack.sim.counters().await.gpconnect;
    eprintln!(
        "redis failover: SIGKILLed node {killed}, new primary {new_primary}; first write {:.1} s \
         after the kill; discoveries sent {discoveries} ({rediscovered} repeated by the client, \
         {failed_requests} failed during the failover); patients {PATIENTS}, served {}, \
         dead-lettered 0, lost 0; GP Connect calls {calls}; all served {:.1} s after the kill; \
         single-flight after the failover: {single_flight} call for 5 discoveries",
        to_first_write.as_secs_f64(),
        done.len(),
        all_done.as_secs_f64(),
    );
    stack.stop().await;
    drop(group);
}
