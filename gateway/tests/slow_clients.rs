//! Connection hygiene over real TCP (issue "Bounded under attack"): 300 connections that send
//! a few bytes of a body and stall do not take the request permits from legitimate clients;
//! connections that never finish their headers are closed; one client cannot hold more than
//! its cap of connections.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use xhuma_gateway::inbound::{self, InboundConfig};
use xhuma_gateway::{AppState, router};

async fn start(inbound_cfg: InboundConfig, extra: &[(&str, &str)]) -> (String, CancellationToken) {
    let backend = Arc::new(FakeBackend::standard());
    let state = AppState::new(config(extra), backend).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        inbound::serve(
            listener,
            router(state),
            None,
            &inbound_cfg,
            t,
            Duration::from_secs(1),
        )
        .await
    });
    (addr, token)
}

/// Headers complete, body promised, 108 bytes of it sent, then nothing.
async fn stalled_body(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = "POST /SOAP/iti55 HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\nContent-Length: 100000\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[b' '; 108]).await.unwrap();
    s
}

async fn legitimate_iti55(addr: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("http://{addr}/SOAP/iti55"))
        .header("content-type", "application/soap+xml")
        .body(synthetic("iti55_request.xml"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// True when the server closes `s` within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {} // a 408 or 400 answer, then the close
            }
        }
    };
    tokio::time::timeout(within, read).await.unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legitimate_requests_are_served_while_300_slow_connections_are_open() {
    let cfg = InboundConfig {
        max_connections_per_client: 0, // every client here is 127.0.0.1
        ..InboundConfig::default()
    };
    let (addr, stop) = start(cfg, &[("XHUMA_BODY_READ_TIMEOUT_MS", "3000")]).await;
    let mut slow = Vec::new();
    for _ in 0..300 {
        slow.push(stalled_body(&addr).await);
    }
    // 300 > the 256 request permits: before, every one of these got 503.
    for _ in 0..5 {
        assert_eq!(legitimate_iti55(&addr).await, 200);
    }
    // The stalled bodies run out of time: 408 and closed.
    let mut first = slow.remove(0);
    assert!(closed_within(&mut first, Duration::from_secs(6)).await);
    stop.cancel();
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let cfg = InboundConfig {
        header_read_timeout: Duration::from_millis(500),
        ..InboundConfig::default()
    };
    let (addr, stop) = start(cfg, &[]).await;
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /SOAP/iti55 HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        .await
        .unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(5)).await);
    stop.cancel();
}

#[tokio::test]
async fn one_client_cannot_hold_more_than_its_cap() {
    let cfg = InboundConfig {
        max_connections_per_client: 4,
        ..InboundConfig::default()
    };
    let (addr, stop) = start(cfg, &[]).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(stalled_body(&addr).await);
    }
    let mut fifth = TcpStream::connect(&addr).await.unwrap();
    assert!(
        closed_within(&mut fifth, Duration::from_secs(2)).await,
        "the fifth connection was kept"
    );
    // Closing one frees a place.
    drop(held.pop());
    let ok = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if legitimate_iti55(&addr).await == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(ok.is_ok(), "no place freed");
    stop.cancel();
}
