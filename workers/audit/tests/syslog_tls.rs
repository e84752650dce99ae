//! ATNA over TLS (RFC 5425): the audit consumer's syslog sender against a TLS collector this
//! test runs on a spare loopback port; the collector's certificate is verified against the test
//! CA named by `SSL_CERT_FILE` (the trust store is process-wide, so the test re-runs itself in a
//! child process that has it), and the message arrives octet-counted inside TLS.

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::tls::{rerun_with_trust, runtime};
use tokio::io::AsyncReadExt;
use xhuma_audit::syslog::{Syslog, SyslogTarget};

fn tls_data(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../common/tests/data/tls"
    ))
    .join(name)
}

/// The collector's TLS side: the server certificate the Redis TLS test uses.
fn collector_tls() -> tokio_rustls::TlsAcceptor {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(tls_data("redis-server.pem"))
            .expect("cert")
            .collect::<Result<_, _>>()
            .expect("cert");
    let key = PrivateKeyDer::from_pem_file(tls_data("redis-server.key")).expect("key");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[test]
fn atna_messages_go_over_verified_tls() {
    let ca = tls_data("redis-ca.pem");
    if rerun_with_trust(&ca, "atna_messages_go_over_verified_tls") {
        return;
    }
    runtime().block_on(async {
        let acceptor = collector_tls();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let collector = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut tls = acceptor.accept(tcp).await.expect("TLS handshake");
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // "LEN SP MSG": read until the whole counted message is in.
            loop {
                let n = tls.read(&mut buf).await.expect("read");
                got.extend_from_slice(&buf[..n]);
                if let Some(sp) = got.iter().position(|b| *b == b' ') {
                    let len: usize = std::str::from_utf8(&got[..sp])
                        .expect("ascii")
                        .parse()
                        .expect("octet count");
                    if got.len() >= sp + 1 + len {
                        return String::from_utf8_lossy(&got[sp + 1..sp + 1 + len]).into_owned();
                    }
                }
                assert!(n > 0, "closed before the message was complete");
            }
        });
        let target: SyslogTarget = format!("tls://localhost:{port}").parse().expect("target");
        let mut syslog = Syslog::new(target, "xhuma-test");
        syslog
            .send(time::OffsetDateTime::now_utc(), "<AuditMessage/>")
            .await
            .expect("sent over TLS");
        let message = collector.await.expect("collector");
        assert!(message.starts_with("<85>1 "), "{message}");
        assert!(message.ends_with("<AuditMessage/>"), "{message}");
    });
}

#[test]
fn an_untrusted_collector_gets_nothing() {
    let ca = tls_data("ca.crt");
    if rerun_with_trust(&ca, "an_untrusted_collector_gets_nothing") {
        return;
    }
    runtime().block_on(async {
        // The collector's certificate is from the Redis test CA; this process trusts another.
        let acceptor = collector_tls();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            if let Ok((tcp, _)) = listener.accept().await {
                let _ = acceptor.accept(tcp).await;
            }
        });
        let target: SyslogTarget = format!("tls://localhost:{port}").parse().expect("target");
        let mut syslog = Syslog::new(target, "xhuma-test");
        let sent = syslog
            .send(time::OffsetDateTime::now_utc(), "<AuditMessage/>")
            .await;
        assert!(
            sent.is_err(),
            "sent to a collector whose certificate is not trusted"
        );
    });
}
