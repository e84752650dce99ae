//! `balance`: a loopback TCP front that deals connections round-robin to several gateways, so
//! one load test can drive N gateway processes through one address (issue 13).
//!
//! Connections accepted on `--listen` → the next `--backend` in turn (the one after it when a
//! backend refuses or does not answer within the connect timeout) → bytes copied both ways until
//! either side closes. It balances connections, not requests: an HTTP keep-alive connection
//! stays on the gateway it was dealt, as behind a Kubernetes Service or any layer-4 balancer,
//! and goose gives every user its own connection, so 32 users spread 16/16 over two gateways.
//!
//! Bounded: at most `--max-connections` at once (a permit is taken before each accept, so the
//! rest wait in the kernel's backlog), a connect timeout per backend, a doubling pause after a
//! failed accept. On SIGTERM or Ctrl-C it stops accepting, prints how many connections each
//! backend got, and exits; connections still open are closed with it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// What one front does.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub backends: Vec<SocketAddr>,
    pub max_connections: usize,
    pub connect_timeout: Duration,
}

/// The backends and the counters shared by every connection task.
struct Pool {
    backends: Vec<SocketAddr>,
    next: AtomicUsize,
    /// Connections dealt to each backend.
    dealt: Vec<AtomicU64>,
    connect_timeout: Duration,
}

// === impl Pool ===

impl Pool {
    /// Connects to the next backend in turn, trying each at most once.
    async fn connect(&self) -> anyhow::Result<(usize, TcpStream)> {
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last_error = None;
        for k in 0..self.backends.len() {
            let i = (first + k) % self.backends.len();
            let addr = self.backends[i];
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => return Ok((i, stream)),
                Ok(Err(e)) => last_error = Some(anyhow::Error::new(e).context(addr)),
                Err(_) => last_error = Some(anyhow::anyhow!("{addr}: connect timed out")),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no backends")))
    }
}

/// Serves until `shutdown` resolves. Fails only when the listener cannot be bound.
pub async fn run(
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    anyhow::ensure!(!settings.backends.is_empty(), "balance: no --backend given");
    for addr in std::iter::once(&settings.listen).chain(&settings.backends) {
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "balance: {addr}: only loopback addresses are allowed"
        );
    }
    anyhow::ensure!(
        settings.max_connections > 0,
        "balance: --max-connections must be above 0"
    );
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let pool = Arc::new(Pool {
        dealt: settings
            .backends
            .iter()
            .map(|_| AtomicU64::new(0))
            .collect(),
        backends: settings.backends.clone(),
        next: AtomicUsize::new(0),
        connect_timeout: settings.connect_timeout,
    });
    let permits = Arc::new(Semaphore::new(settings.max_connections));
    eprintln!(
        "loadtest: balance: {} → {} (round-robin, at most {} connections)",
        settings.listen,
        list(&settings.backends),
        settings.max_connections
    );
    tokio::select! {
        () = accept_loop(&listener, &pool, &permits) => {}
        () = shutdown => {}
    }
    let dealt: Vec<String> = pool
        .backends
        .iter()
        .zip(&pool.dealt)
        .map(|(addr, n)| format!("{addr} {}", n.load(Ordering::Relaxed)))
        .collect();
    eprintln!("loadtest: balance: connections dealt: {}", dealt.join(", "));
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C (at once if the handlers cannot be installed).
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn accept_loop(listener: &TcpListener, pool: &Arc<Pool>, permits: &Arc<Semaphore>) {
    let mut pause = Duration::from_millis(10);
    loop {
        // The permit first: at the limit, new clients wait in the backlog, not in memory.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return; // the semaphore is never closed
        };
        let client = match listener.accept().await {
            Ok((client, _)) => {
                pause = Duration::from_millis(10);
                client
            }
            Err(e) => {
                // Out of file descriptors, typically: wait for connections to close.
                eprintln!("loadtest: balance: accept failed: {e}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let pool = pool.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = relay(&pool, client).await {
                eprintln!("loadtest: balance: {e:#}");
            }
        });
    }
}

/// One client connection, copied to and from its backend until either side closes.
async fn relay(pool: &Pool, mut client: TcpStream) -> anyhow::Result<()> {
    let (i, mut backend) = pool.connect().await?;
    pool.dealt[i].fetch_add(1, Ordering::Relaxed);
    // Small SOAP requests and answers: without this, Nagle holds back the last segment.
    client.set_nodelay(true).context("client TCP_NODELAY")?;
    backend.set_nodelay(true).context("backend TCP_NODELAY")?;
    match tokio::io::copy_bidirectional(&mut client, &mut backend).await {
        Ok(_) => Ok(()),
        // A peer that resets its end (goose closing its users at the end) is a normal end.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("relay to {}", pool.backends[i]))),
    }
}

fn list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(SocketAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A backend that answers each connection with its own name, then closes.
    async fn named_backend(name: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.write_all(name).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn deals_connections_round_robin_and_skips_a_dead_backend() {
        let a = named_backend(b"a").await;
        let b = named_backend(b"b").await;
        // A port nothing listens on: bound, then released.
        let dead = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let front = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let settings = Settings {
            listen: front,
            backends: vec![a, dead, b],
            max_connections: 4,
            connect_timeout: Duration::from_secs(2),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(run(settings, async {
            let _ = stopped.await;
        }));
        let mut seen = Vec::new();
        for _ in 0..6 {
            let mut s = loop {
                match TcpStream::connect(front).await {
                    Ok(s) => break s,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            };
            let mut answer = Vec::new();
            s.read_to_end(&mut answer).await.unwrap();
            seen.push(String::from_utf8(answer).unwrap());
        }
        // a, dead → b, b, a, dead → b, b
        assert_eq!(seen, ["a", "b", "b", "a", "b", "b"]);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
