//! Inbound protection: TLS with optional client-certificate verification (mTLS), and a
//! per-client rate limit, around the router `main.rs` serves.
//!
//! EHR ──per-client connection cap──▶ TLS (client cert checked against
//! `XHUMA_TLS_CLIENT_CA_PATH`)──▶ header-read timeout ──▶ rate limit (per peer IP) ──▶ SOAP
//! router (which reads the body under its own timeout before it takes a request permit).
//! Without `XHUMA_TLS_CERT_PATH` the gateway speaks plain HTTP, for a deployment that
//! terminates TLS in front of it. Behind such a proxy, `XHUMA_TRUSTED_PROXIES` names it: the
//! client is then the right-most `X-Forwarded-For` hop that is not a trusted proxy, for the
//! rate limit and the audit trail ([`ClientIp`]); a header from anyone else is ignored. (The
//! connection cap, decided before any header is read, still sees the proxy.)
//!
//! A connection that never finishes its headers is closed after the header-read timeout; one
//! client cannot hold more than its share of connections; neither holds a request permit.
//! HTTP/2 (cleartext with prior knowledge, as some load balancers speak to backends) is served
//! with bounded streams, header lists and reset floods, and pinged so dead peers are dropped.

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
use xhuma_common::cli::Setting;
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
pub const XHUMA_TRUSTED_PROXIES: &str = "XHUMA_TRUSTED_PROXIES";
pub const XHUMA_HTTP2_MAX_STREAMS: &str = "XHUMA_HTTP2_MAX_STREAMS";
pub const DEFAULT_HTTP2_MAX_STREAMS: u32 = 64;

/// The settings above as `--help` lists them ([`xhuma_common::cli`]).
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        XHUMA_TLS_CERT_PATH,
        "",
        "PEM certificate chain: serve HTTPS (with XHUMA_TLS_KEY_PATH)",
    ),
    Setting::new(
        XHUMA_TLS_KEY_PATH,
        "",
        "PEM private key of XHUMA_TLS_CERT_PATH",
    ),
    Setting::new(
        XHUMA_TLS_CLIENT_CA_PATH,
        "",
        "PEM CA certificates: require client certificates issued by them (mTLS)",
    ),
    Setting::new(
        XHUMA_RATE_LIMIT_PER_SEC,
        "0 (off)",
        "Sustained requests per second per client IP",
    ),
    Setting::new(
        XHUMA_RATE_LIMIT_BURST,
        "2 × rate",
        "Requests a client may send at once",
    ),
    Setting::new(
        XHUMA_HEADER_READ_TIMEOUT_MS,
        "10000",
        "A connection must deliver a request's headers within this long, or it is closed",
    ),
    Setting::new(
        XHUMA_MAX_CONNECTIONS_PER_CLIENT,
        "128",
        "Open connections one client IP may hold (0: no cap)",
    ),
    Setting::new(
        XHUMA_TRUSTED_PROXIES,
        "",
        "Comma-separated addresses or CIDR blocks of the proxies in front of the gateway",
    ),
    Setting::new(
        XHUMA_HTTP2_MAX_STREAMS,
        "64",
        "Concurrent streams per HTTP/2 connection",
    ),
];

/// Largest header block a request may send (HTTP/1 read buffer, HTTP/2 header list).
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// HTTP/2 streams a client may reset before the connection is closed (the "rapid reset"
/// flood), and errors it may provoke.
const HTTP2_MAX_RESETS: usize = 32;
/// An idle HTTP/2 connection is pinged this often, and dropped when the ping is not answered
/// within [`HTTP2_PING_TIMEOUT`].
const HTTP2_PING_EVERY: Duration = Duration::from_secs(30);
const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// `XHUMA_TRUSTED_PROXIES` (default none): comma-separated addresses or CIDR blocks of the
    /// proxies in front of the gateway whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// `XHUMA_HTTP2_MAX_STREAMS` (default 64): concurrent streams per HTTP/2 connection.
    pub http2_max_streams: u32,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("cannot read {what} from {path}")]
    Pem {
        /// The setting that names the file.
        var: &'static str,
        what: &'static str,
        path: PathBuf,
    },
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
            trusted_proxies: Arc::from([]),
            http2_max_streams: DEFAULT_HTTP2_MAX_STREAMS,
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
        let trusted_proxies =
            parse_proxies(&env.string(XHUMA_TRUSTED_PROXIES, "")).map_err(|bad| ConfigError {
                var: XHUMA_TRUSTED_PROXIES,
                reason: format!("{bad:?} is not an IP address or CIDR block"),
            })?;
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
            trusted_proxies,
            http2_max_streams: env
                .parse(XHUMA_HTTP2_MAX_STREAMS, DEFAULT_HTTP2_MAX_STREAMS)?
                .max(1),
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
                var: XHUMA_TLS_CERT_PATH,
                what: "the certificate chain",
                path: cert_path.clone(),
            })?;
        let key = PrivateKeyDer::from_pem_file(key_path).map_err(|_| InboundError::Pem {
            var: XHUMA_TLS_KEY_PATH,
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
                        var: XHUMA_TLS_CLIENT_CA_PATH,
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

/// `"10.0.0.0/8, 192.0.2.7"` → networks (a bare address is a /32 or /128); the first entry
/// that is neither is the error.
fn parse_proxies(list: &str) -> Result<Arc<[ipnet::IpNet]>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.parse::<ipnet::IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| e.to_string())
        })
        .collect()
}

/// The client a request is from: the TCP peer, or, when the peer is a trusted proxy, the
/// right-most `X-Forwarded-For` hop that is not one (hops are appended left to right, so only
/// the part our own proxies wrote can be believed). Set on every request by [`client_address`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Works out [`ClientIp`] from the peer and the forwarded-for chain.
pub fn client_ip(
    peer: IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // An unreadable hop ends the chain: what lies left of it cannot be attributed.
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// Adds [`ClientIp`] to every request (outermost, so the rate limit keys on it).
pub fn client_address(router: Router, cfg: &InboundConfig) -> Router {
    let trusted = cfg.trusted_proxies.clone();
    router.layer(axum::middleware::from_fn(
        move |mut req: axum::extract::Request, next: axum::middleware::Next| {
            let trusted = trusted.clone();
            async move {
                let peer = req
                    .extensions()
                    .get::<axum::extract::ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip());
                if let Some(peer) = peer {
                    let ip = client_ip(peer, req.headers(), &trusted);
                    req.extensions_mut().insert(ClientIp(ip));
                }
                next.run(req).await
            }
        },
    ))
}

/// The rate limit's key: [`ClientIp`] when set, else the TCP peer.
#[derive(Debug, Clone, Copy)]
struct ClientKey;

impl tower_governor::key_extractor::KeyExtractor for ClientKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<IpAddr, GovernorError> {
        match req.extensions().get::<ClientIp>() {
            Some(client) => Ok(client.0),
            None => PeerIpKeyExtractor.extract(req),
        }
    }
}

/// Adds the per-client rate limit when one is configured. Over the limit a client gets
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
        .key_extractor(ClientKey)
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
        .header_read_timeout(cfg.header_read_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    server
        .http_builder()
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(cfg.http2_max_streams)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_pending_accept_reset_streams(Some(HTTP2_MAX_RESETS))
        .max_local_error_reset_streams(Some(HTTP2_MAX_RESETS))
        .keep_alive_interval(Some(HTTP2_PING_EVERY))
        .keep_alive_timeout(HTTP2_PING_TIMEOUT);
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
