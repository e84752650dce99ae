//! A worker killed mid-job (SIGKILL, no goodbye) loses nothing: its unacked message goes back to
//! the queue and another worker finishes the job.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Options, Stack, eventually, iti38, iti55, unique_id};
use xhuma_simulator::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_worker_job_is_finished_by_another() {
    let sim = Simulator::builder().gpconnect_latency(Duration::from_secs(3));
    let opts = Options {
        no_workers: true,
        ..Default::default()
    };
    let mut stack = Stack::start(sim, opts).await;
    let mut doomed = Command::new(env!("CARGO_BIN_EXE_xhuma-worker"))
        .envs(stack.worker_process_env())
        .env("XHUMA_LOG_FORMAT", "text")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start xhuma-worker");

    let nhs = "9690937286";
    let (status, body) = stack.post("/SOAP/iti55", iti55(nhs)).await;
    assert_eq!(status, 200, "{body}");
    // The doomed worker is inside the GP Connect call (the simulator counts on arrival).
    let started = eventually(20, || async {
        (stack.sim.counters().await.gpconnect == 1).then_some(())
    })
    .await;
    assert!(started.is_some(), "the first worker picked the job up");
    doomed.kill().expect("SIGKILL");
    let _ = doomed.wait();

    stack.add_worker().await;
    let (status, body) = stack.post("/SOAP/iti38", iti38(nhs)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        unique_id(&body).is_some(),
        "the surviving worker finished the job: {body}"
    );
    assert_eq!(
        stack.sim.counters().await.gpconnect,
        2,
        "fetched again after redelivery"
    );
    stack.stop().await;
}
