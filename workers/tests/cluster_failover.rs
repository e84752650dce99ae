//! A RabbitMQ cluster losing the node that leads the job queue, mid-run: a local 3-node cluster
//! (`deploy/local/rabbit-cluster`, its own ports, names and data directory; stopped by this
//! test, by pid), the gateway and two workers given all three URLs, quorum queues. Sixty
//! patients are discovered (each discovery enqueues a prefetch job); a third of the way in, the
//! leader of the GP Connect queue is stopped. Every job must still finish: 0 lost, 0
//! dead-lettered, each patient with exactly one document that ITI-38 advertises the same way
//! twice (no duplicate visible), and the clients reconnected to the surviving nodes.
//! The figures (jobs, upstream calls, time to recover) are printed for the closing note.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Options, Stack, iti38, iti55, unique_id};
use xhuma_common::NhsNumber;
use xhuma_simulator::Simulator;

const PATIENTS: usize = 60;

/// The cluster this test started; stopped when dropped, also when the test fails.
struct Cluster {
    script: PathBuf,
    dir: String,
}

impl Cluster {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.script)
            .args(args)
            .env("XHUMA_RABBIT_CLUSTER_DIR", &self.dir)
            .output()
            .expect("run deploy/local/rabbit-cluster");
        assert!(
            out.status.success(),
            "rabbit-cluster {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn start() -> Cluster {
        let cluster = Cluster {
            script: support::repo_root().join("deploy/local/rabbit-cluster"),
            dir: "/tmp/xhuma-rabbit-cluster-test".into(),
        };
        cluster.run(&["start"]);
        cluster
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .arg("stop")
            .env("XHUMA_RABBIT_CLUSTER_DIR", &self.dir)
            .status();
    }
}

/// Messages waiting on `queue`, asked of any live node.
async fn depth(urls: &str, prefix: &str, queue: &str) -> Option<u32> {
    let cfg = support::amqp_config(urls, prefix);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_job_queue_leader_loses_no_job() {
    // RUST_LOG=warn shows the reconnects when this test needs looking into.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cluster = Cluster::start();
    let urls = cluster.run(&["urls"]);
    let sim = Simulator::builder()
        .synthetic(PATIENTS)
        .gpconnect_latency(Duration::from_millis(300));
    let options = Options {
        workers: 2,
        env: vec![("XHUMA_AMQP_URL", urls.clone())],
        ..Options::default()
    };
    let stack = Stack::start(sim, options).await;
    let patients: Vec<String> = stack
        .sim
        .patients()
        .into_iter()
        .filter(|p| p.scenario == "synthetic")
        .map(|p| p.nhs_number)
        .collect();
    assert_eq!(patients.len(), PATIENTS);

    // Discoveries in waves of ten; the leader goes after the second wave.
    let mut stopped_at = None;
    let mut leader = String::new();
    for (wave, chunk) in patients.chunks(10).enumerate() {
        if wave == 2 {
            leader = cluster.run(&["leader", &format!("{}.gpconnect", stack.prefix)]);
            cluster.run(&["stop-node", &leader]);
            stopped_at = Some(Instant::now());
        }
        let found = futures_util::future::join_all(
            chunk
                .iter()
                .map(|nhs| stack.post("/SOAP/iti55", iti55(nhs))),
        )
        .await;
        for (status, body) in found {
            assert_eq!(status, 200, "{body}");
        }
    }
    let stopped_at = stopped_at.expect("the leader was stopped");

    // Every patient's document arrives (an EHR retries a Busy/NotAvailable answer).
    let cache = stack.records.cache();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut first_after_stop = None;
    let mut done = std::collections::HashSet::new();
    while done.len() < PATIENTS && Instant::now() < deadline {
        for nhs in &patients {
            if done.contains(nhs) {
                continue;
            }
            let n = NhsNumber::parse(nhs).expect("nhs");
            if cache.document_for(n).await.ok().flatten().is_some() {
                done.insert(nhs.clone());
                first_after_stop.get_or_insert_with(|| stopped_at.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_done = stopped_at.elapsed();
    assert_eq!(done.len(), PATIENTS, "jobs lost: {}", PATIENTS - done.len());

    // Exactly one document per patient, advertised the same way twice.
    for nhs in &patients {
        let (_, first) = stack.post("/SOAP/iti38", iti38(nhs)).await;
        let (_, second) = stack.post("/SOAP/iti38", iti38(nhs)).await;
        let uid = unique_id(&first).expect("a document");
        assert_eq!(first.matches("<rim:ExtrinsicObject").count(), 1, "{first}");
        assert_eq!(unique_id(&second).as_deref(), Some(uid.as_str()));
    }
    let dead = depth(&urls, &stack.prefix, &format!("{}.dead", stack.prefix)).await;
    assert_eq!(dead, Some(0), "dead-lettered jobs");
    let calls = stack.sim.counters().await.gpconnect;
    eprintln!(
        "cluster failover: stopped node {leader} (leader of the GP Connect queue); jobs sent \
         {PATIENTS}, finished {}, dead-lettered 0, lost 0; GP Connect calls {calls} ({} \
         repeated by redelivery); first document after the stop {:.1} s, all done {:.1} s \
         after it",
        done.len(),
        calls.saturating_sub(PATIENTS as u64),
        first_after_stop.unwrap_or_default().as_secs_f64(),
        all_done.as_secs_f64(),
    );
    stack.stop().await;
    drop(cluster);
}
