//! Inbound protection: TLS with optional client-certificate verification (mTLS), and a
//! per-client rate limit, around the router `main.rs` serves.
//!
//! EHR ──per-client connection cap──▶ TLS (client cert checked against
//! `XHUMA_TLS_CLIENT_CA_PATH`)──▶ header-read timeout ──▶ rate limit (per peer IP) ──▶ SOAP
//! router (which reads the body under its own timeout before it takes a request permit).
//! Without `XHUMA_TLS_CERT_PATH` the gateway speaks plain HTTP, for a deployment that
//! terminates TLS in front of it (then the cap and the rate limit see the proxy's IP).
//!
//! A connection that never finishes its headers is closed after the header-read timeout; one
//! client cannot hold more than its share of connections; neither holds a request permit.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_util::sync::CancellationToken;
use tower_governor::GovernorError;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::PeerIpKeyExtractor;
use xhuma_common::config::{ConfigError, Env};

pub const XHUMA_TLS_CERT_PATH: &str = "XHUMA_TLS_CERT_PATH";
pub const XHUMA_TLS_KEY_PATH: &str = "XHUMA_TLS_KEY_PATH";
pub const XHUMA_TLS_CLIENT_CA_PATH: &str = "XHUMA_TLS_CLIENT_CA_PATH";
pub const XHUMA_RATE_LIMIT_PER_SEC: &str = "XHUMA_RATE_LIMIT_PER_SEC";
pub const XHUMA_RATE_LIMIT_BURST: &str = "XHUMA_RATE_LIMIT_BURST";
pub const XHUMA_HEADER_READ_TIMEOUT_MS: &str = "XHUMA_HEADER_READ_TIMEOUT_MS";
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
pub const XHUMA_MAX_CONNECTIONS_PER_CLIENT: &str = "XHUMA_MAX_CONNECTIONS_PER_CLIENT";
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 128;

/// How the gateway accepts connections.
#[derive(Debug, Clone)]
pub struct InboundConfig {
    /// `XHUMA_TLS_CERT_PATH` + `XHUMA_TLS_KEY_PATH`: PEM certificate chain and private key;
    /// when set the gateway serves HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `XHUMA_TLS_CLIENT_CA_PATH`: PEM CA certificates; when set, every client must present a
    /// certificate issued by one of them (mTLS). Needs TLS.
    pub client_ca: Option<PathBuf>,
    /// `XHUMA_RATE_LIMIT_PER_SEC`: sustained requests per second allowed per client IP
    /// (default 0: no limit).
    pub rate_per_sec: u32,
    /// `XHUMA_RATE_LIMIT_BURST`: requests a client may send at once before the rate applies
    /// (default 2 × the rate).
    pub burst: u32,
    /// `XHUMA_HEADER_READ_TIMEOUT_MS` (default 10000): a connection must deliver a request's
    /// headers within this long, or it is closed.
    pub header_read_timeout: Duration,
    /// `XHUMA_MAX_CONNECTIONS_PER_CLIENT` (default 128; 0 = no cap): open connections one
    /// client IP may hold; beyond it new connections are closed at once.
    pub max_connections_per_client: usize,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("cannot read {what} from {path}")]
    Pem { what: &'static str, path: PathBuf },
    #[error("TLS configuration rejected: {0}")]
    Tls(String),
}

// === impl InboundConfig ===

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            tls: None,
            client_ca: None,
            rate_per_sec: 0,
            burst: 1,
            header_read_timeout: Duration::from_millis(DEFAULT_HEADER_READ_TIMEOUT_MS),
            max_connections_per_client: DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
        }
    }
}

impl InboundConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let cert = env.get(XHUMA_TLS_CERT_PATH).map(PathBuf::from);
        let key = env.get(XHUMA_TLS_KEY_PATH).map(PathBuf::from);
        let tls = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError {
                    var: XHUMA_TLS_KEY_PATH,
                    reason: "required with XHUMA_TLS_CERT_PATH".into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError {
                    var: XHUMA_TLS_CERT_PATH,
                    reason: "required with XHUMA_TLS_KEY_PATH".into(),
                });
            }
        };
        let client_ca = env.get(XHUMA_TLS_CLIENT_CA_PATH).map(PathBuf::from);
        if client_ca.is_some() && tls.is_none() {
            return Err(ConfigError {
                var: XHUMA_TLS_CLIENT_CA_PATH,
                reason:
                    "client certificates need TLS: set XHUMA_TLS_CERT_PATH and XHUMA_TLS_KEY_PATH"
                        .into(),
            });
        }
        let rate_per_sec: u32 = env.parse(XHUMA_RATE_LIMIT_PER_SEC, 0)?;
        let burst: u32 = env.parse(XHUMA_RATE_LIMIT_BURST, rate_per_sec.saturating_mul(2))?;
        Ok(Self {
            tls,
            client_ca,
            rate_per_sec,
            burst: burst.max(1),
            header_read_timeout: env
                .millis(XHUMA_HEADER_READ_TIMEOUT_MS, DEFAULT_HEADER_READ_TIMEOUT_MS)?,
            max_connections_per_client: env.parse(
                XHUMA_MAX_CONNECTIONS_PER_CLIENT,
                DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            )?,
        })
    }

    /// The rustls server configuration, when TLS is on. Loads everything now, so a bad file
    /// stops the process before it binds.
    pub fn server_config(&self) -> Result<Option<Arc<ServerConfig>>, InboundError> {
        let Some((cert_path, key_path)) = &self.tls else {
            return Ok(None);
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|_| InboundError::Pem {
                what: "the certificate chain",
                path: cert_path.clone(),
            })?;
        let key = PrivateKeyDer::from_pem_file(key_path).map_err(|_| InboundError::Pem {
            what: "the private key",
            path: key_path.clone(),
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| InboundError::Tls(e.to_string()))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca_path) => {
                let mut roots = RootCertStore::empty();
                let cas = CertificateDer::pem_file_iter(ca_path)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|_| InboundError::Pem {
                        what: "the client CA certificates",
                        path: ca_path.clone(),
                    })?;
                for ca in cas {
                    roots
                        .add(ca)
                        .map_err(|e| InboundError::Tls(e.to_string()))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| InboundError::Tls(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| InboundError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Arc::new(config)))
    }
}

/// Adds the per-client-IP rate limit when one is configured. Over the limit a client gets
/// `429` with `Retry-After` and a SOAP 1.2 fault body.
pub fn rate_limited(router: Router, cfg: &InboundConfig) -> Router {
    if cfg.rate_per_sec == 0 {
        return router;
    }
    // `per_millisecond` is the replenish interval (one token every n ms), not a rate.
    let interval_ms = (1000 / u64::from(cfg.rate_per_sec)).max(1);
    let Some(governor) = GovernorConfigBuilder::default()
        .per_millisecond(interval_ms)
        .burst_size(cfg.burst)
        .key_extractor(PeerIpKeyExtractor)
        .finish()
    else {
        tracing::warn!("Rate limit settings rejected; serving without a rate limit");
        return router;
    };
    let limiter = governor.limiter().clone();
    tokio::spawn(async move {
        // Forget idle clients so the table stays bounded.
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            limiter.retain_recent();
        }
    });
    router.layer(GovernorLayer::new(governor).error_handler(too_many_requests))
}

fn too_many_requests(error: GovernorError) -> Response<Body> {
    let retry_after = match &error {
        GovernorError::TooManyRequests { wait_time, .. } => (*wait_time).max(1),
        _ => 1,
    };
    let fault = crate::soap::fault::Fault::receiver("Too many requests; retry later.");
    let mut response = crate::app::fault_response(&fault, None);
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The subject (RFC 4514) of the client certificate the connection presented under mTLS; on
/// every request of that connection, for the audit trail (`None` without one).
#[derive(Debug, Clone, Default)]
pub struct TlsClient(pub Option<String>);

/// The rustls acceptor, plus [`TlsClient`] on the connection's service once the handshake is
/// done (the certificate was already verified against the client CA by rustls).
#[derive(Clone)]
struct ClientCertAcceptor(axum_server::tls_rustls::RustlsAcceptor);

impl<I, S> axum_server::accept::Accept<I, S> for ClientCertAcceptor
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream =
        <axum_server::tls_rustls::RustlsAcceptor as axum_server::accept::Accept<I, S>>::Stream;
    type Service = axum::middleware::AddExtension<S, TlsClient>;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = std::io::Result<(Self::Stream, Self::Service)>> + Send>,
    >;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let handshake = self.0.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = handshake.await?;
            let subject = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|der| {
                    use x509_cert::der::Decode;
                    x509_cert::Certificate::from_der(der).ok()
                })
                .map(|c| c.tbs_certificate.subject.to_string());
            Ok((
                stream,
                tower::Layer::layer(&axum::Extension(TlsClient(subject)), service),
            ))
        })
    }
}

/// Open connections per client IP.
type OpenConnections = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One connection's place in its client's count, given back when the connection's service
/// (and every request of it) is gone.
#[derive(Debug)]
struct ConnectionSlot {
    ip: IpAddr,
    open: OpenConnections,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Caps the connections one client IP holds open, in front of any acceptor (plain or TLS, so
/// a client cannot hold TLS handshakes open either).
#[derive(Clone)]
struct PerClientCap<A> {
    inner: A,
    open: OpenConnections,
    max: usize,
}

impl<A, S> axum_server::accept::Accept<tokio::net::TcpStream, S> for PerClientCap<A>
where
    A: axum_server::accept::Accept<
            tokio::net::TcpStream,
            axum::middleware::AddExtension<S, Arc<Option<ConnectionSlot>>>,
        >,
    A::Future: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = std::io::Result<(Self::Stream, Self::Service)>> + Send>,
    >;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        let slot = match stream.peer_addr() {
            Ok(peer) if self.max > 0 => {
                let ip = peer.ip();
                let mut open = self
                    .open
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let n = open.entry(ip).or_insert(0);
                if *n >= self.max {
                    drop(open);
                    metrics::counter!("xhuma_connections_refused_total", "reason" => "per_client_cap")
                        .increment(1);
                    return Box::pin(async {
                        Err(std::io::Error::other(
                            "too many connections from this client",
                        ))
                    });
                }
                *n += 1;
                Some(ConnectionSlot {
                    ip,
                    open: self.open.clone(),
                })
            }
            _ => None,
        };
        let service = tower::Layer::layer(&axum::Extension(Arc::new(slot)), service);
        Box::pin(self.inner.accept(stream, service))
    }
}

/// Serves `app` on `listener` (plain or TLS per `tls`) until `shutdown`, then lets in-flight
/// requests finish for up to `grace`. `cfg` gives the header-read timeout and the per-client
/// connection cap.
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<Arc<ServerConfig>>,
    cfg: &InboundConfig,
    shutdown: CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        h.graceful_shutdown(Some(grace));
    });
    listener.set_nonblocking(true)?;
    let mut server = axum_server::from_tcp(listener)?;
    // Without a timer hyper never enforces its header-read timeout.
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout);
    let open = OpenConnections::default();
    let max = cfg.max_connections_per_client;
    match tls {
        Some(config) => {
            let rustls = axum_server::tls_rustls::RustlsConfig::from_config(config);
            let inner = ClientCertAcceptor(axum_server::tls_rustls::RustlsAcceptor::new(rustls));
            server
                .acceptor(PerClientCap { inner, open, max })
                .handle(handle)
                .serve(service)
                .await
        }
        None => {
            let inner = axum_server::accept::DefaultAcceptor::new();
            server
                .acceptor(PerClientCap { inner, open, max })
                .handle(handle)
                .serve(service)
                .await
        }
    }
}
