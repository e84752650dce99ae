//! Stored events also go out as ATNA messages over syslog (UDP and TCP listeners on port 0).
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod support;

use std::time::Duration;

use lapin::types::FieldTable;
use support::Harness;
use tokio::io::AsyncReadExt;
use xhuma_common::audit::{AuditKind, AuditOutcome};

fn check_message(text: &str, correlation: &str) {
    assert!(text.starts_with("<85>1 "), "{text}");
    assert!(text.contains(" xhuma-audit "), "{text}");
    assert!(text.contains(" IHE+RFC-3881 - \u{feff}<?xml"), "{text}");
    assert!(text.ends_with("</AuditMessage>"), "{text}");
    assert!(
        text.contains(
            r#"ParticipantObjectID="9690937278^^^&amp;2.16.840.1.113883.2.1.4.1&amp;ISO""#
        ),
        "{text}"
    );
    assert!(text.contains(&format!(r#"ParticipantObjectID="{correlation}""#)));
    assert!(text.contains(r#"AuditSourceID="xhuma-test""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_events_are_sent_to_syslog_over_udp() {
    let listener = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let h = Harness::start_with(
        "udp",
        &[
            ("XHUMA_AUDIT_SYSLOG", format!("udp://{addr}")),
            ("XHUMA_AUDIT_SOURCE_ID", "xhuma-test".into()),
        ],
    )
    .await;
    let amqp = &h.auditor.amqp;
    let event = support::event(AuditKind::Iti38, AuditOutcome::Success, "corr-udp");
    amqp.publish_json(
        "",
        &amqp.names().audit(),
        &event,
        FieldTable::default(),
        "m1",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 65_536];
    let n = tokio::time::timeout(Duration::from_secs(15), listener.recv(&mut buf))
        .await
        .expect("an ATNA datagram")
        .unwrap();
    check_message(std::str::from_utf8(&buf[..n]).unwrap(), "corr-udp");
    // A duplicate is not stored again, so it is not sent again.
    amqp.publish_json(
        "",
        &amqp.names().audit(),
        &event,
        FieldTable::default(),
        "m1",
    )
    .await
    .unwrap();
    let marker = support::event(AuditKind::Iti39, AuditOutcome::Success, "corr-next");
    amqp.publish_json(
        "",
        &amqp.names().audit(),
        &marker,
        FieldTable::default(),
        "m2",
    )
    .await
    .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(15), listener.recv(&mut buf))
        .await
        .expect("the next ATNA datagram")
        .unwrap();
    check_message(std::str::from_utf8(&buf[..n]).unwrap(), "corr-next");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_events_are_sent_to_syslog_over_tcp_with_octet_counting() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let h = Harness::start_with(
        "tcp",
        &[
            ("XHUMA_AUDIT_SYSLOG", format!("tcp://{addr}")),
            ("XHUMA_AUDIT_SOURCE_ID", "xhuma-test".into()),
        ],
    )
    .await;
    let amqp = &h.auditor.amqp;
    for i in 0..2 {
        let event = support::event(
            AuditKind::Iti55,
            AuditOutcome::Success,
            &format!("corr-tcp-{i}"),
        );
        amqp.publish_json(
            "",
            &amqp.names().audit(),
            &event,
            FieldTable::default(),
            "m",
        )
        .await
        .unwrap();
    }
    let (mut stream, _) = tokio::time::timeout(Duration::from_secs(15), listener.accept())
        .await
        .expect("a syslog connection")
        .unwrap();
    let mut received = Vec::new();
    let mut buf = Vec::new();
    while received.len() < 2 {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut chunk))
            .await
            .expect("syslog bytes")
            .unwrap();
        assert!(n > 0, "connection closed early");
        buf.extend_from_slice(&chunk[..n]);
        // Frames are "LEN SP MSG".
        while let Some(space) = buf.iter().position(|b| *b == b' ') {
            let len: usize = std::str::from_utf8(&buf[..space]).unwrap().parse().unwrap();
            if buf.len() < space + 1 + len {
                break;
            }
            let msg = String::from_utf8(buf[space + 1..space + 1 + len].to_vec()).unwrap();
            buf.drain(..space + 1 + len);
            received.push(msg);
        }
    }
    let mut correlations: Vec<&str> = vec!["corr-tcp-0", "corr-tcp-1"];
    for msg in &received {
        let i = correlations
            .iter()
            .position(|c| msg.contains(&format!("\"{c}\"")))
            .unwrap();
        check_message(msg, correlations.remove(i));
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_syslog_server_does_not_stop_storage() {
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let h = Harness::start_with("down", &[("XHUMA_AUDIT_SYSLOG", format!("tcp://{closed}"))]).await;
    let amqp = &h.auditor.amqp;
    for i in 0..30 {
        let event = support::event(
            AuditKind::Iti38,
            AuditOutcome::Success,
            &format!("corr-down-{i}"),
        );
        amqp.publish_json(
            "",
            &amqp.names().audit(),
            &event,
            FieldTable::default(),
            "m",
        )
        .await
        .unwrap();
    }
    assert_eq!(
        h.wait_rows("correlation_id LIKE 'corr-down-%'", 30).await,
        30
    );
    h.finish().await;
}
