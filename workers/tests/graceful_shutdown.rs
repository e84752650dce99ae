//! SIGTERM during a job: the worker stops taking new jobs, finishes the one in flight within
//! the grace period, acks it, and exits 0; nothing is lost or done twice.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Options, Stack, eventually, iti55};
use xhuma_common::NhsNumber;
use xhuma_simulator::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_the_job_in_flight() {
    let sim = Simulator::builder().gpconnect_latency(Duration::from_millis(1500));
    let opts = Options {
        no_workers: true,
        ..Default::default()
    };
    let stack = Stack::start(sim, opts).await;
    let mut worker = Command::new(env!("CARGO_BIN_EXE_xhuma-worker"))
        .envs(stack.worker_process_env())
        .env("XHUMA_SHUTDOWN_GRACE_MS", "10000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start xhuma-worker");

    let nhs = "9690937286";
    let (status, _) = stack.post("/SOAP/iti55", iti55(nhs)).await;
    assert_eq!(status, 200);
    let in_flight = eventually(20, || async {
        (stack.sim.counters().await.gpconnect == 1).then_some(())
    })
    .await;
    assert!(in_flight.is_some(), "worker took the job");
    let killed = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let exit = tokio::task::spawn_blocking(move || worker.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(exit.success(), "clean exit: {exit:?}");

    let number = NhsNumber::parse(nhs).expect("valid");
    let cached = stack
        .records
        .cache()
        .document_for(number)
        .await
        .expect("redis");
    assert!(
        cached.is_some(),
        "the in-flight job was finished before exit"
    );
    assert_eq!(stack.sim.counters().await.gpconnect, 1, "not fetched twice");
    stack.stop().await;
}
