//! The audit store over TLS: with `sslmode=require` it connects to the machine's PostgreSQL
//! over TLS (seen from the server side in `pg_stat_ssl`) after verifying the server's
//! certificate (Debian's snakeoil certificate, trusted through `SSL_CERT_FILE` for this test,
//! its host name read from the certificate and the address given as `hostaddr`), and refuses a
//! server whose certificate it cannot verify. The trust store is process-wide, so each test
//! re-runs itself in a child process that has it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::tls::{rerun_with_trust, runtime};
use xhuma_audit::migrate::Mode;
use xhuma_audit::store::Store;

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// The DNS name the server certificate was made for (its first subjectAltName, else its CN).
fn certificate_host() -> String {
    let out = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
            SNAKEOIL,
        ])
        .output()
        .expect("openssl must be installed (it is with ca-certificates)");
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some(dns) = text.split("DNS:").nth(1) {
        return dns
            .split([',', '\n'])
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
    }
    text.split("CN = ")
        .nth(1)
        .and_then(|cn| cn.lines().next())
        .map(|cn| cn.trim().to_string())
        .expect("a host name in the PostgreSQL server certificate")
}

fn tls_url(application: &str) -> String {
    format!(
        "postgres://postgres@{}:5432/test?hostaddr=127.0.0.1&sslmode=require&application_name={application}",
        certificate_host()
    )
}

#[test]
fn the_store_connects_over_verified_tls() {
    if rerun_with_trust(Path::new(SNAKEOIL), "the_store_connects_over_verified_tls") {
        return;
    }
    runtime().block_on(async {
        let application = format!("xhuma-tls-{}", uuid::Uuid::new_v4().simple());
        let schema = format!("audit_tls_{}", uuid::Uuid::new_v4().simple());
        let store = Store::open(&tls_url(&application), &schema, Mode::Apply)
            .await
            .expect("opened over TLS");
        store.ping().await.expect("ping");
        // From the server's side: this application's connection is encrypted.
        let (db, conn) = tokio_postgres::connect(
            "postgres://postgres@127.0.0.1:5432/test",
            tokio_postgres::NoTls,
        )
        .await
        .expect("plain connection for the check");
        tokio::spawn(conn);
        let row = db
            .query_one(
                "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = $1",
                &[&application],
            )
            .await
            .expect("query");
        let encrypted: Option<bool> = row.get(0);
        assert_eq!(
            encrypted,
            Some(true),
            "the audit store's connection uses TLS"
        );
        db.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await
            .expect("cleanup");
    });
}

#[test]
fn a_server_whose_certificate_is_not_trusted_is_refused() {
    let other_ca = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../common/tests/data/tls/redis-ca.pem"
    ));
    if rerun_with_trust(
        &other_ca,
        "a_server_whose_certificate_is_not_trusted_is_refused",
    ) {
        return;
    }
    runtime().block_on(async {
        let schema = format!("audit_tls_{}", uuid::Uuid::new_v4().simple());
        let opened = Store::open(&tls_url("xhuma-tls-untrusted"), &schema, Mode::Apply).await;
        assert!(opened.is_err(), "connected to a server it could not verify");
    });
}
