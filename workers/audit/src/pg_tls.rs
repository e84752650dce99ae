//! TLS to PostgreSQL for the audit store: `sslmode=require` in `XHUMA_AUDIT_DATABASE_URL`
//! makes the store connect over TLS (rustls) and verify the server's certificate for the URL's
//! host against the system roots, or the PEM bundle named by `SSL_CERT_FILE` (a private CA;
//! `SSL_CERT_DIR`, when set, is read as well).
//! Stricter than libpq's `require`, which encrypts without verifying: an audit trail must not
//! be handed to whoever answers on the database's address. Without `sslmode=require` the
//! connection is plain (`prefer` is treated as `disable`, so TLS is never silently unverified).
//!
//! tokio-postgres brings its own TLS traits; this is the small adapter from tokio-rustls to
//! them (no channel binding: authentication is by password or trust over the verified channel).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

/// Makes a verifying TLS connector per connection (the host name comes from the URL).
#[derive(Clone)]
pub struct RustlsConnect {
    config: Arc<rustls::ClientConfig>,
}

/// The connector for one host.
pub struct RustlsConnector {
    config: Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
}

/// A TLS stream tokio-postgres can use.
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PgTlsError {
    #[error("no trusted root certificates (system store or SSL_CERT_FILE)")]
    NoRoots,
    #[error("{0:?} is not a host name TLS can verify")]
    Name(String),
}

// === impl RustlsConnect ===

impl RustlsConnect {
    /// Trusts the system roots, or `SSL_CERT_FILE` when set.
    pub fn from_native_roots() -> Result<Self, PgTlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(PgTlsError::NoRoots);
        }
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
        })
    }
}

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnector;
    type Error = PgTlsError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnector, PgTlsError> {
        let name = rustls::pki_types::ServerName::try_from(domain.to_string())
            .map_err(|_| PgTlsError::Name(domain.to_string()))?;
        Ok(RustlsConnector {
            config: self.config.clone(),
            name,
        })
    }
}

impl<S> TlsConnect<S> for RustlsConnector
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move { Ok(RustlsStream(connector.connect(self.name, stream).await?)) })
    }
}

// === impl RustlsStream ===

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
