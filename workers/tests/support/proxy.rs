//! A TCP proxy a test can cut, stall and restore, to take RabbitMQ or Redis "down" for one
//! component without stopping the real service that other tests share. Cut drops connections
//! (the peer sees a reset); stall keeps them open and swallows every byte, both ways (a
//! half-open connection or a black-holed network: nothing is refused, nothing answers).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    down: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let down = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (d, st, c) = (down.clone(), stalled.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let st = st.clone();
                let task = tokio::spawn(async move {
                    let (in_read, in_write) = inbound.into_split();
                    if st.load(Ordering::SeqCst) {
                        // Accepted, never answered.
                        let _keep = in_write;
                        swallow(in_read).await;
                        return;
                    }
                    if let Ok(outbound) = TcpStream::connect(upstream).await {
                        let (out_read, out_write) = outbound.into_split();
                        tokio::select! {
                            _ = pump(in_read, out_write, st.clone()) => {}
                            _ = pump(out_read, in_write, st) => {}
                        }
                    }
                });
                c.lock().await.push(task);
            }
        });
        Proxy {
            addr,
            down,
            stalled,
            conns,
            accept,
        }
    }

    /// Keeps every connection open but delivers nothing, either way, until [`Proxy::unstall`].
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// Drops the stalled connections (their byte streams are broken) and forwards again.
    pub async fn unstall(&self) {
        self.stalled.store(false, Ordering::SeqCst);
        for task in self.conns.lock().await.drain(..) {
            task.abort();
        }
    }

    /// Drops every open connection and refuses new ones.
    pub async fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for task in self.conns.lock().await.drain(..) {
            task.abort();
        }
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, stalled: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stalled.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn swallow(mut from: OwnedReadHalf) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
