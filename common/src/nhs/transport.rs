//! One pooled HTTP client per upstream, with its timeout, body limit and retry policy.
//!
//! [`Upstream::attempt`] sends one request and turns any non-2xx answer into a typed
//! [`UpstreamError::Status`] (reading the OperationOutcome); [`Upstream::retrying`] repeats an
//! attempt with jittered exponential backoff (`backon`) while the error `is_retryable()`,
//! honouring `Retry-After` up to the configured cap.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::{Bytes, BytesMut};
use reqwest::header::RETRY_AFTER;

use super::config::{NhsConfig, RetryPolicy};
use super::{Service, UpstreamError, outcome};

/// A successful answer, body read in full.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Bytes,
}

/// The HTTP client for one service.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub service: Service,
    pub http: reqwest::Client,
    retry: RetryPolicy,
    max_body: usize,
}

// === impl Upstream ===

impl Upstream {
    /// Builds the pooled client. `mtls` adds the configured client identity and CA bundle (the
    /// SSP leg); the API platform legs use the platform's default trust.
    pub fn new(
        service: Service,
        cfg: &NhsConfig,
        timeout: Duration,
        max_body: usize,
        mtls: bool,
    ) -> Result<Self, UpstreamError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(cfg.timeouts.connect)
            .timeout(timeout)
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            // Never follow a redirect: it would re-send the Spine identity, the apikey and the
            // JWT to wherever the Location points (reqwest keeps custom headers across hosts).
            // A 3xx is an upstream error like any other non-2xx.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("xhuma/", env!("CARGO_PKG_VERSION")));
        if mtls {
            let tls = &cfg.tls;
            match (&tls.client_cert_path, &tls.client_key_path) {
                (Some(cert), Some(key)) => {
                    let mut pem = read(service, cert)?;
                    pem.extend_from_slice(b"\n");
                    pem.extend_from_slice(&read(service, key)?);
                    let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                        UpstreamError::config(service, format!("client certificate: {e}"))
                    })?;
                    builder = builder.identity(identity);
                }
                (None, None) => {}
                _ => {
                    return Err(UpstreamError::config(
                        service,
                        "client certificate and key must both be set",
                    ));
                }
            }
            if let Some(ca) = &tls.ca_path {
                let certs = reqwest::Certificate::from_pem_bundle(&read(service, ca)?)
                    .map_err(|e| UpstreamError::config(service, format!("CA bundle: {e}")))?;
                builder = builder.tls_certs_only(certs);
            }
        }
        let http = builder
            .build()
            .map_err(|e| UpstreamError::config(service, format!("HTTP client: {e}")))?;
        Ok(Self {
            service,
            http,
            retry: cfg.retry,
            max_body,
        })
    }

    /// Sends one request; a non-2xx status becomes `UpstreamError::Status`.
    pub async fn attempt(&self, req: reqwest::RequestBuilder) -> Result<Reply, UpstreamError> {
        let upstream = self.service.as_str();
        let started = std::time::Instant::now();
        let sent = req.send().await;
        metrics::histogram!("xhuma_upstream_duration_seconds", "upstream" => upstream)
            .record(started.elapsed().as_secs_f64());
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                metrics::counter!("xhuma_upstream_requests_total", "upstream" => upstream, "status" => "transport_error")
                    .increment(1);
                return Err(self.transport(e));
            }
        };
        let status = resp.status().as_u16();
        metrics::counter!("xhuma_upstream_requests_total", "upstream" => upstream, "status" => status_class(status))
            .increment(1);
        let headers = resp.headers().clone();
        let body = self.read_body(resp).await?;
        if (200..300).contains(&status) {
            return Ok(Reply { status, body });
        }
        let (code, diagnostics) = outcome::parse(&body);
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        metrics::counter!("xhuma_upstream_errors_total", "upstream" => self.service.as_str())
            .increment(1);
        Err(UpstreamError::Status {
            service: self.service,
            status,
            code,
            diagnostics,
            retry_after,
        })
    }

    /// Runs `attempt` until it succeeds, fails with a non-retryable error, or the retry budget
    /// is spent. The closure builds a fresh request each time (new JWT, same X-Request-ID).
    pub async fn retrying<T, F, Fut>(&self, attempt: F) -> Result<T, UpstreamError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let policy = self.retry;
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_retries);
        let service = self.service;
        attempt
            .retry(backoff)
            .when(UpstreamError::is_retryable)
            .adjust(move |e, next| {
                // `None` means the budget is spent: never turn that back into a retry.
                next.map(|d| {
                    e.retry_after()
                        .map(|ra| ra.min(policy.retry_after_cap))
                        .unwrap_or(d)
                })
            })
            .notify(move |e, delay| {
                tracing::debug!(upstream = service.as_str(), error = %e, ?delay, "Retrying upstream call.");
                metrics::counter!("xhuma_upstream_retries_total", "upstream" => service.as_str())
                    .increment(1);
            })
            .await
    }

    fn transport(&self, e: reqwest::Error) -> UpstreamError {
        UpstreamError::Transport {
            service: self.service,
            timeout: e.is_timeout(),
            // The URL can name a patient (PDS `Patient/{nhs}`): never in an error chain.
            source: e.without_url(),
        }
    }

    async fn read_body(&self, mut resp: reqwest::Response) -> Result<Bytes, UpstreamError> {
        if let Some(len) = resp.content_length()
            && len as usize > self.max_body
        {
            return Err(UpstreamError::invalid(
                self.service,
                "response body too large",
            ));
        }
        let mut buf = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(e))? {
            if buf.len() + chunk.len() > self.max_body {
                return Err(UpstreamError::invalid(
                    self.service,
                    "response body too large",
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

fn read(service: Service, path: &std::path::Path) -> Result<Vec<u8>, UpstreamError> {
    std::fs::read(path)
        .map_err(|e| UpstreamError::config(service, format!("reading {}: {e}", path.display())))
}

/// The metric label for an HTTP status: its class (`2xx`, `4xx`, …) keeps cardinality fixed.
fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}
