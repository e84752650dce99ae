//! ATNA transport: RFC 5424 syslog messages over UDP (RFC 5426), TCP (RFC 6587 octet
//! counting), or TLS (RFC 5425, the transport IHE ATNA requires between nodes: the same octet
//! counting inside TLS 1.2+; the collector's certificate is verified against the system roots,
//! or the PEM bundle named by `SSL_CERT_FILE`).
//!
//! The consumer renders each newly stored event with [`crate::atna::render`] and hands the XML
//! here. Sending is best effort after the PostgreSQL commit: the database is the record, the
//! syslog copy feeds an Audit Record Repository.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Facility 10 (security/authorization) × 8 + severity 5 (notice), as IHE ITI-20 uses.
const PRI: u8 = 85;
/// The MSGID IHE ITI-20 sets for audit messages.
const MSGID: &str = "IHE+RFC-3881";
const APP_NAME: &str = "xhuma-audit";
/// The largest datagram payload; a longer message cannot go over UDP.
const MAX_UDP: usize = 65_507;
const IO_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

/// Where ATNA messages go: `udp://host:port`, `tcp://host:port` or `tls://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTarget {
    pub transport: Transport,
    /// `host:port`, resolved at each (re)connect.
    pub address: String,
}

/// Why a syslog message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    #[error("syslog I/O failed")]
    Io(#[from] std::io::Error),
    #[error("syslog send timed out")]
    Timeout,
    #[error("message of {0} bytes is too large for a UDP datagram")]
    TooLarge(usize),
    #[error("syslog TLS setup failed: {0}")]
    Tls(String),
}

/// A connected sender; reconnects (TCP) after an error.
pub struct Syslog {
    target: SyslogTarget,
    hostname: String,
    udp: Option<UdpSocket>,
    /// The TCP or TLS stream, once connected.
    tcp: Option<Box<dyn AsyncWrite + Unpin + Send>>,
}

// === impl SyslogTarget ===

impl FromStr for SyslogTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (transport, rest) = if let Some(rest) = s.strip_prefix("udp://") {
            (Transport::Udp, rest)
        } else if let Some(rest) = s.strip_prefix("tcp://") {
            (Transport::Tcp, rest)
        } else if let Some(rest) = s.strip_prefix("tls://") {
            (Transport::Tls, rest)
        } else {
            return Err("expected udp://host:port, tcp://host:port or tls://host:port".into());
        };
        let rest = rest.trim_end_matches('/');
        match rest.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(Self {
                transport,
                address: rest.to_string(),
            }),
            _ => Err("expected host:port after the scheme".into()),
        }
    }
}

impl fmt::Display for SyslogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        };
        write!(f, "{scheme}://{}", self.address)
    }
}

// === impl Syslog ===

impl Syslog {
    /// A sender for `target`; `hostname` goes into the HOSTNAME field. Connects lazily.
    pub fn new(target: SyslogTarget, hostname: impl Into<String>) -> Self {
        Self {
            target,
            hostname: hostname.into(),
            udp: None,
            tcp: None,
        }
    }

    pub fn target(&self) -> &SyslogTarget {
        &self.target
    }

    /// Sends one message (the ATNA XML) stamped `at`.
    pub async fn send(&mut self, at: OffsetDateTime, xml: &str) -> Result<(), SyslogError> {
        let line = frame(&self.hostname, at, xml);
        match tokio::time::timeout(IO_TIMEOUT, self.send_framed(&line)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                self.tcp = None;
                Err(error)
            }
            Err(_) => {
                self.tcp = None;
                Err(SyslogError::Timeout)
            }
        }
    }

    async fn send_framed(&mut self, line: &[u8]) -> Result<(), SyslogError> {
        match self.target.transport {
            Transport::Udp => {
                if line.len() > MAX_UDP {
                    return Err(SyslogError::TooLarge(line.len()));
                }
                if self.udp.is_none() {
                    let peer = tokio::net::lookup_host(&self.target.address)
                        .await?
                        .next()
                        .ok_or_else(|| std::io::Error::other("no address for the syslog host"))?;
                    let local = if peer.is_ipv4() {
                        "0.0.0.0:0"
                    } else {
                        "[::]:0"
                    };
                    let socket = UdpSocket::bind(local).await?;
                    socket.connect(peer).await?;
                    self.udp = Some(socket);
                }
                if let Some(socket) = &self.udp {
                    socket.send(line).await?;
                }
                Ok(())
            }
            Transport::Tcp | Transport::Tls => {
                if self.tcp.is_none() {
                    let stream = TcpStream::connect(&self.target.address).await?;
                    self.tcp = Some(match self.target.transport {
                        Transport::Tls => {
                            Box::new(tls_connect(&self.target.address, stream).await?)
                        }
                        _ => Box::new(stream),
                    });
                }
                if let Some(stream) = &mut self.tcp {
                    let mut framed = Vec::with_capacity(line.len() + 8);
                    framed.extend_from_slice(format!("{} ", line.len()).as_bytes());
                    framed.extend_from_slice(line);
                    stream.write_all(&framed).await?;
                }
                Ok(())
            }
        }
    }
}

/// The TLS client side of RFC 5425: server certificate verified for the target's host name.
async fn tls_connect(
    address: &str,
    stream: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SyslogError> {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| SyslogError::Tls(format!("{host:?} is not a host name")))?;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(SyslogError::Tls("no trusted root certificates".into()));
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    Ok(connector.connect(name, stream).await?)
}

/// One RFC 5424 message: `<85>1 TIMESTAMP HOSTNAME xhuma-audit PROCID IHE+RFC-3881 - BOM XML`.
pub fn frame(hostname: &str, at: OffsetDateTime, xml: &str) -> Vec<u8> {
    let timestamp = at
        .to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "-".into());
    let hostname = header_field(hostname);
    let mut out = format!(
        "<{PRI}>1 {timestamp} {hostname} {APP_NAME} {} {MSGID} - ",
        std::process::id()
    )
    .into_bytes();
    // MSG-UTF8: a byte order mark, then the UTF-8 text (RFC 5424 section 6.4).
    out.extend_from_slice("\u{feff}".as_bytes());
    out.extend_from_slice(xml.as_bytes());
    out
}

/// A header field: printable US-ASCII without spaces, at most 255 characters, or `-`.
fn header_field(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if cleaned.is_empty() {
        "-".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)
mod tests {
    use super::*;

    #[test]
    fn frames_rfc5424() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let line = frame("node 1", at, "<AuditMessage/>");
        let text = String::from_utf8(line).unwrap();
        let expected_head = format!(
            "<85>1 2023-11-14T22:13:20Z node1 xhuma-audit {} IHE+RFC-3881 - \u{feff}",
            std::process::id()
        );
        assert!(text.starts_with(&expected_head), "{text}");
        assert!(text.ends_with("<AuditMessage/>"));
    }

    #[test]
    fn parses_targets() {
        let t: SyslogTarget = "udp://localhost:514".parse().unwrap();
        assert_eq!(t.transport, Transport::Udp);
        assert_eq!(t.to_string(), "udp://localhost:514");
        assert!("udp://:514".parse::<SyslogTarget>().is_err());
        assert!("tcp://host:notaport".parse::<SyslogTarget>().is_err());
        let t: SyslogTarget = "tls://audit.example:6514".parse().unwrap();
        assert_eq!(t.transport, Transport::Tls);
    }
}
