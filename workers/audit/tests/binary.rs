//! The `xhuma-audit` binary: starts, answers health and metrics, stores events, stops cleanly on
//! SIGTERM; bad configuration exits 64.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use lapin::types::FieldTable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use xhuma_common::audit::{AuditKind, AuditOutcome};
use xhuma_common::config::AmqpConfig;
use xhuma_common::queue::Amqp;

async fn get(addr: &str, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_health_stores_and_stops_on_sigterm() {
    let (prefix, schema) = support::unique("bin");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xhuma-audit"))
        .env("XHUMA_AMQP_URL", support::amqp_url())
        .env("XHUMA_QUEUE_PREFIX", &prefix)
        .env("XHUMA_QUEUE_TYPE", "classic")
        .env("XHUMA_AUDIT_DATABASE_URL", support::database_url())
        .env("XHUMA_AUDIT_DATABASE_SCHEMA", &schema)
        .env("XHUMA_AUDIT_LISTEN", "127.0.0.1:0")
        .env("XHUMA_AUDIT_BATCH_WAIT_MS", "20")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line.contains("Ops endpoint listening") {
                let json: serde_json::Value = serde_json::from_str(&line).unwrap();
                let _ = addr_tx.send(json["addr"].as_str().unwrap().to_string());
            }
            lines.push(line);
        }
        lines
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(30)).unwrap();

    assert!(get(&addr, "/health/live").await.starts_with("HTTP/1.1 200"));
    let ready = get(&addr, "/health/ready").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(
        ready.contains(r#"{"rabbitmq":"up","postgres":"up"}"#),
        "{ready}"
    );

    let config = AmqpConfig::from_env(&xhuma_common::config::Env::new(&|k: &str| match k {
        "XHUMA_AMQP_URL" => Some(support::amqp_url()),
        "XHUMA_QUEUE_PREFIX" => Some(prefix.clone()),
        "XHUMA_QUEUE_TYPE" => Some("classic".into()),
        _ => None,
    }))
    .unwrap();
    let amqp = Amqp::connect(&config, "audit-test").await.unwrap();
    let event = support::event(AuditKind::Iti55, AuditOutcome::Success, "corr-bin");
    amqp.publish_json(
        "",
        &amqp.names().audit(),
        &event,
        FieldTable::default(),
        "m",
    )
    .await
    .unwrap();
    let db = support::db_client().await;
    let mut stored = 0i64;
    for _ in 0..300 {
        stored = db
            .query_one(&format!("SELECT count(*) FROM {schema}.audit_event"), &[])
            .await
            .map(|r| r.get(0))
            .unwrap_or(0);
        if stored == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored, 1);
    let metrics = get(&addr, "/metrics").await;
    assert!(
        metrics.contains(r#"xhuma_audit_consumed_total{outcome="stored"} 1"#),
        "{metrics}"
    );

    let pid = child.id().to_string();
    let term = format!("kill -TERM {pid}");
    assert!(
        Command::new("sh")
            .args(["-c", &term])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    let lines = reader.join().unwrap();
    assert!(lines.iter().any(|l| l.contains("Audit consumer stopped")));
    // The NHS number never reaches the logs.
    assert!(!lines.iter().any(|l| l.contains("9690937278")));

    support::delete_topology(&amqp).await;
    amqp.close().await;
    let _ = db
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await;
}

#[test]
fn bad_configuration_exits_64() {
    let status = Command::new(env!("CARGO_BIN_EXE_xhuma-audit"))
        .env(
            "XHUMA_AUDIT_DATABASE_SCHEMA",
            "Robert'); DROP TABLE students;--",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(64));
}
