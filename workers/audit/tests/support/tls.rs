//! Helpers for the TLS tests: the trust store rustls reads (`SSL_CERT_FILE`) is process-wide,
//! so a test re-runs itself in a child process that has the bundle it needs.

use std::path::Path;
use std::process::Command;

/// Runs test `name` again in a child process whose `SSL_CERT_FILE` is `ca`; `true` in the
/// parent (which then returns), `false` in the child (which runs the test body).
pub fn rerun_with_trust(ca: &Path, name: &str) -> bool {
    if std::env::var_os("SSL_CERT_FILE").as_deref() == Some(ca.as_os_str()) {
        return false;
    }
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", name])
        .env("SSL_CERT_FILE", ca)
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
    true
}

/// The runtime a TLS test body runs on (created after the trust store is settled).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
