//! Redis over TLS (`rediss://`), against a `redis-server --tls-port` this test starts on a spare
//! port of its own (and stops, by pid): documents stored and read back, and the completion
//! subscription delivering, through the encrypted connection. The server's certificate is
//! verified against the test CA named by `SSL_CERT_FILE`, as an operator with a private CA
//! would configure it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use xhuma_common::NhsNumber;
use xhuma_common::cache::completion::Completions;
use xhuma_common::cache::{Cache, Owner, Target};
use xhuma_common::config::{RedisConfig, Secret};
use xhuma_common::document::DocumentMeta;
use xhuma_common::job::unique_id_for;

fn data(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls")).join(name)
}

/// The TLS-only Redis this test started; killed when dropped.
struct TlsRedis {
    child: Child,
    port: u16,
}

impl TlsRedis {
    fn start() -> TlsRedis {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("spare port");
            probe.local_addr().expect("addr").port()
        };
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--tls-port", &port.to_string()])
            .arg("--tls-cert-file")
            .arg(data("redis-server.pem"))
            .arg("--tls-key-file")
            .arg(data("redis-server.key"))
            .arg("--tls-ca-cert-file")
            .arg(data("redis-ca.pem"))
            .args(["--tls-auth-clients", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (deploy/local/test installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return TlsRedis { child, port };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server --tls-port did not start");
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn documents_and_completions_over_rediss() {
    // The trust store is process-wide (read from the environment by rustls-native-certs): the
    // test runs itself again in a child process that has it.
    let ca = data("redis-ca.pem");
    if std::env::var_os("SSL_CERT_FILE").as_deref() != Some(ca.as_os_str()) {
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "documents_and_completions_over_rediss"])
            .env("SSL_CERT_FILE", &ca)
            // Only that bundle: a certificate directory would add the system store.
            .env_remove("SSL_CERT_DIR")
            .output()
            .expect("run the test with SSL_CERT_FILE");
        let out = String::from_utf8_lossy(&child.stdout);
        assert!(
            child.status.success() && out.contains("1 passed"),
            "the TLS test failed in its child process:\n{out}\n{}",
            String::from_utf8_lossy(&child.stderr)
        );
        return;
    }
    let server = TlsRedis::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let url = format!("rediss://localhost:{}/0", server.port);
        let config = RedisConfig {
            url: Secret::new(url.clone()),
            sentinel: None,
            prefix: format!("tls-{}", uuid::Uuid::new_v4().simple()),
            pool_size: 2,
            encryption_key: Some(Secret::new("ab".repeat(32))),
            old_keys: vec![],
            document_ttl: Duration::from_secs(60),
        };
        let cache = Cache::new(&config).expect("pool");
        cache.ping().await.expect("PING over TLS");

        let shutdown = CancellationToken::new();
        let completions =
            Completions::spawn(Target::single(url), cache.done_channel(), shutdown.clone());
        let nhs = NhsNumber::parse("9690937286").expect("valid");
        let mut waiter = completions.watch(&cache.patient_key(nhs));
        tokio::time::timeout(Duration::from_secs(5), waiter.changed())
            .await
            .expect("subscribed over TLS")
            .expect("open");

        let meta = DocumentMeta {
            unique_id: unique_id_for(uuid::Uuid::new_v4()),
            entry_uuid: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            nhs_number: nhs,
            created: OffsetDateTime::now_utc(),
            sha1: "00".repeat(20),
            size: 7,
            patient_name: None,
            practice_ods: "B82617".into(),
            practice_name: None,
            warnings: vec![],
            ssp_trace_id: None,
        };
        let owner = Owner {
            job_id: uuid::Uuid::now_v7(),
            fence: 0,
        };
        cache
            .store_document(&meta, b"<doc/>", owner)
            .await
            .expect("store over TLS");
        tokio::time::timeout(Duration::from_secs(5), waiter.changed())
            .await
            .expect("completion delivered over TLS")
            .expect("open");
        let (read, body) = cache
            .document(&meta.unique_id)
            .await
            .expect("read")
            .expect("hit");
        assert_eq!(read, meta);
        assert_eq!(body, b"<doc/>");
        shutdown.cancel();
    });
}
