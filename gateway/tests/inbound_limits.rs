//! Inbound limits that need a real listener: the client behind a trusted proxy (rate limit keyed
//! on the forwarded-for client, never on a header from an untrusted peer) and HTTP/2's bounds as
//! the server advertises them.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use xhuma_common::config::Env;
use xhuma_gateway::inbound::{self, ClientIp, InboundConfig};

fn config(vars: &[(&str, &str)]) -> InboundConfig {
    let lookup = |k: &str| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    };
    InboundConfig::from_env(&Env::new(&lookup)).expect("config")
}

/// Serves a route that answers with the client address the gateway settled on.
async fn start(cfg: &InboundConfig) -> (std::net::SocketAddr, CancellationToken) {
    let app = Router::new().route(
        "/SOAP",
        get(|client: Option<axum::Extension<ClientIp>>| async move {
            client.map(|c| c.0.0.to_string()).unwrap_or_default()
        }),
    );
    let app = inbound::client_address(inbound::rate_limited(app, cfg), cfg);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let token = CancellationToken::new();
    let (t, owned) = (token.clone(), cfg.clone());
    tokio::spawn(async move {
        inbound::serve(listener, app, None, &owned, t, Duration::from_secs(1)).await
    });
    (addr, token)
}

async fn get_as(http: &reqwest::Client, addr: std::net::SocketAddr, xff: &str) -> (u16, String) {
    let r = http
        .get(format!("http://{addr}/SOAP"))
        .header("x-forwarded-for", xff)
        .send()
        .await
        .expect("response");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_rate_limit_keys_on_the_forwarded_client() {
    let cfg = config(&[
        ("XHUMA_RATE_LIMIT_PER_SEC", "1"),
        ("XHUMA_RATE_LIMIT_BURST", "1"),
        ("XHUMA_TRUSTED_PROXIES", "127.0.0.1/32, 10.1.0.0/16"),
    ]);
    let (addr, stop) = start(&cfg).await;
    let http = reqwest::Client::new();
    // Two clients behind the same proxy (and a second proxy hop of ours) each get their burst.
    let a = get_as(&http, addr, "198.51.100.1, 10.1.2.3").await;
    let b = get_as(&http, addr, "198.51.100.2").await;
    assert_eq!(a, (200, "198.51.100.1".to_string()));
    assert_eq!(b, (200, "198.51.100.2".to_string()));
    // The same client again is over its limit, whatever it claims left of our proxies' hops.
    let again = get_as(&http, addr, "203.0.113.9, 198.51.100.1").await;
    assert_eq!(again.0, 429, "{again:?}");
    stop.cancel();
}

#[tokio::test]
async fn a_forwarded_for_header_from_an_untrusted_peer_is_ignored() {
    let cfg = config(&[
        ("XHUMA_RATE_LIMIT_PER_SEC", "1"),
        ("XHUMA_RATE_LIMIT_BURST", "1"),
    ]);
    let (addr, stop) = start(&cfg).await;
    let http = reqwest::Client::new();
    let first = get_as(&http, addr, "198.51.100.1").await;
    assert_eq!(
        first,
        (200, "127.0.0.1".to_string()),
        "the peer, not the header"
    );
    // A new claimed address does not buy a new bucket.
    let second = get_as(&http, addr, "198.51.100.2").await;
    assert_eq!(second.0, 429, "{second:?}");
    stop.cancel();
}

#[tokio::test]
async fn http2_is_served_with_bounded_streams() {
    let cfg = config(&[("XHUMA_HTTP2_MAX_STREAMS", "16")]);
    let (addr, stop) = start(&cfg).await;
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.expect("ready");
    let request = http::Request::get(format!("http://{addr}/SOAP"))
        .body(())
        .expect("request");
    let (response, _) = client.send_request(request, true).expect("send");
    let response = response.await.expect("response");
    assert_eq!(response.status(), 200);
    // By now the server's SETTINGS have been applied.
    assert_eq!(client.current_max_send_streams(), 16);
    stop.cancel();
}
