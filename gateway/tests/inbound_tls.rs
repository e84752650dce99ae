//! Inbound protection: with `XHUMA_TLS_CLIENT_CA_PATH` set, only clients presenting a
//! certificate from that CA get an answer (mTLS); the per-client rate limit answers 429 with a
//! SOAP fault and `Retry-After` once a client's burst is spent. Certificates are made with the
//! openssl CLI for each run.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use xhuma_common::config::Env;
use xhuma_gateway::inbound::{self, InboundConfig};

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl")
        .status
        .success();
    assert!(ok, "openssl {args:?}");
}

/// CA, server cert for 127.0.0.1, a client cert from the CA, and a self-signed rogue client.
fn make_pki(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=xhuma-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
        ),
        (
            "client",
            "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n",
        ),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).expect("ext");
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN=xhuma-test-{name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "rogue.key",
            "-out",
            "rogue.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rogue",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ],
    );
}

fn client(dir: &Path, identity: Option<&str>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).expect("ca"))
        .expect("ca pem");
    let mut b = reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(5));
    if let Some(name) = identity {
        let mut pem = std::fs::read(dir.join(format!("{name}.pem"))).expect("cert");
        pem.extend(std::fs::read(dir.join(format!("{name}.key"))).expect("key"));
        b = b.identity(reqwest::Identity::from_pem(&pem).expect("identity"));
    }
    b.build().expect("client")
}

async fn start(cfg: &InboundConfig) -> (String, CancellationToken) {
    // Answers with the client certificate's subject the connection carried (or "ok").
    let app = inbound::rate_limited(
        Router::new().route(
            "/SOAP",
            get(
                |client: Option<axum::Extension<inbound::TlsClient>>| async move {
                    client
                        .and_then(|c| c.0.0)
                        .unwrap_or_else(|| "ok".to_string())
                },
            ),
        ),
        cfg,
    );
    let tls = cfg.server_config().expect("tls material");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let token = CancellationToken::new();
    let t = token.clone();
    let owned = cfg.clone();
    tokio::spawn(async move {
        inbound::serve(listener, app, tls, &owned, t, Duration::from_secs(1)).await
    });
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    (format!("{scheme}://{addr}/SOAP"), token)
}

#[tokio::test]
async fn mtls_admits_only_certificates_from_the_client_ca() {
    let dir = tempdir();
    make_pki(&dir);
    let paths = |f: &str| dir.join(f).display().to_string();
    let vars = [
        ("XHUMA_TLS_CERT_PATH", paths("server.pem")),
        ("XHUMA_TLS_KEY_PATH", paths("server.key")),
        ("XHUMA_TLS_CLIENT_CA_PATH", paths("ca.pem")),
    ];
    let lookup = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let cfg = InboundConfig::from_env(&Env::new(&lookup)).expect("config");
    let (url, stop) = start(&cfg).await;

    let ok = client(&dir, Some("client"))
        .get(&url)
        .send()
        .await
        .expect("trusted client");
    assert_eq!(ok.status(), 200);
    // The verified client certificate's subject reaches the handler (and so the audit trail).
    let subject = ok.text().await.expect("body");
    assert!(subject.contains("CN="), "{subject}");
    assert!(
        client(&dir, None).get(&url).send().await.is_err(),
        "no certificate refused"
    );
    assert!(
        client(&dir, Some("rogue")).get(&url).send().await.is_err(),
        "untrusted certificate refused"
    );
    stop.cancel();
}

#[tokio::test]
async fn rate_limit_answers_429_with_a_soap_fault() {
    let vars = [
        ("XHUMA_RATE_LIMIT_PER_SEC", "1".to_string()),
        ("XHUMA_RATE_LIMIT_BURST", "3".to_string()),
    ];
    let lookup = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let cfg = InboundConfig::from_env(&Env::new(&lookup)).expect("config");
    let (url, stop) = start(&cfg).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = http.get(&url).send().await.expect("response");
        statuses.push((
            r.status().as_u16(),
            r.headers().get("retry-after").is_some(),
            r.text().await.unwrap_or_default(),
        ));
    }
    assert!(
        statuses[..3].iter().all(|(s, _, _)| *s == 200),
        "burst allowed: {statuses:?}"
    );
    let (status, retry_after, body) = &statuses[4];
    assert_eq!(*status, 429);
    assert!(retry_after, "Retry-After set");
    assert!(
        body.contains("Fault") && body.contains("Too many requests"),
        "{body}"
    );
    stop.cancel();
}

#[test]
fn client_ca_without_tls_is_a_config_error() {
    let lookup = |k: &str| (k == "XHUMA_TLS_CLIENT_CA_PATH").then(|| "/tmp/ca.pem".to_string());
    let err = InboundConfig::from_env(&Env::new(&lookup)).expect_err("refused");
    assert_eq!(err.var, "XHUMA_TLS_CLIENT_CA_PATH");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xhuma-inbound-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    dir
}
