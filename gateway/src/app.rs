//! The HTTP edge: routes, layers, and the one SOAP handler behind them.
//!
//! `POST /SOAP/iti55|iti47|iti38|iti39` (the paths Epic calls) and `POST /SOAP` / `/xca`
//! (dispatch on `wsa:Action`); `GET …?wsdl` serves `gateway/wsdl/*.wsdl`. A request goes:
//! body (bounded) → [`mtom::unpack`] when multipart → [`Envelope::parse`] (both on the
//! blocking pool, [`Offload`]) → WS-A checks →
//! [`caller::admit`] (SAML, replay guard) → [`iti::dispatch`] under the request deadline → reply envelope
//! (MTOM when the request was MTOM and the policy allows) or a SOAP Fault from
//! [`GatewayError::fault`]. `main.rs` adds `/health/*` and `/metrics` with
//! `router(state).merge(ops_routes)`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use tracing::{Span, field};

use crate::backend::Backend;
use crate::caller;
use crate::config::{GatewayConfig, MtomPolicy};
use crate::error::GatewayError;
use crate::iti::{self, Ctx, Iti};
use crate::offload::Offload;
use crate::soap::envelope::Envelope;
use crate::soap::fault::Fault;
use crate::soap::saml::{SamlError, SamlVerifier};
use crate::soap::{SOAP_CONTENT_TYPE, mtom, new_message_id, reply_envelope};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: GatewayConfig,
    backend: Arc<dyn Backend>,
    verifier: Arc<SamlVerifier>,
    /// The blocking-pool slots and the memory budget of the SAML checks' trees.
    offload: Offload,
    /// Where "now" comes from for SAML validity windows (tests pin it).
    clock: fn() -> OffsetDateTime,
    /// One permit per SOAP request in flight (load shedding beyond it).
    permits: Arc<Semaphore>,
}

/// Why the state could not be built (unusable SAML trust material).
#[derive(Debug, thiserror::Error)]
#[error("SAML verifier: {0}")]
pub struct StateError(#[from] pub SamlError);

// === impl AppState ===

impl AppState {
    /// Builds the state; the SAML verifier is built from `config.saml` (trust PEMs loaded now).
    pub fn new(config: GatewayConfig, backend: Arc<dyn Backend>) -> Result<Self, StateError> {
        let verifier = Arc::new(SamlVerifier::new(&config.saml)?);
        let permits = Arc::new(Semaphore::new(config.max_concurrent_requests));
        let offload = Offload::new(
            config.xml_workers,
            config.xml_memory_bytes,
            config.request_memory_bytes,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                backend,
                verifier,
                offload,
                clock: OffsetDateTime::now_utc,
                permits,
            }),
        })
    }

    /// Uses `clock` instead of the system clock for SAML validity checks (tests with signed
    /// fixtures made for a fixed instant).
    pub fn with_clock(self, clock: fn() -> OffsetDateTime) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: self.inner.config.clone(),
                backend: self.inner.backend.clone(),
                verifier: self.inner.verifier.clone(),
                offload: self.inner.offload.clone(),
                clock,
                permits: self.inner.permits.clone(),
            }),
        }
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    /// How many SOAP requests are in flight, for readiness.
    pub fn load(&self) -> Load {
        Load {
            permits: self.inner.permits.clone(),
            capacity: self.inner.config.max_concurrent_requests,
        }
    }
}

/// The request permits as readiness sees them.
#[derive(Clone)]
pub struct Load {
    permits: Arc<Semaphore>,
    capacity: usize,
}

impl Load {
    pub fn in_flight(&self) -> usize {
        self.capacity
            .saturating_sub(self.permits.available_permits())
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// The SOAP routes with their layers.
pub fn router(state: AppState) -> Router {
    let route = |iti: Option<Iti>| {
        post(move |s: State<AppState>, req: axum::extract::Request| soap(s, iti, req)).get(
            move |s: State<AppState>, q: Query<Vec<(String, String)>>, h: HeaderMap| {
                wsdl(s, iti, q, h)
            },
        )
    };
    let mut r = Router::new()
        .route("/SOAP", route(None))
        .route("/xca", route(None));
    for iti in Iti::ALL {
        r = r.route(&format!("/SOAP/{}", iti.as_str()), route(Some(iti)));
    }
    // Innermost first: a panic becomes a fault, every response (faults too) gets the security
    // headers, and the trace span (outermost) covers all of it.
    r.with_state(state)
        .layer(CatchPanicLayer::custom(|_| {
            fault_response(&GatewayError::Internal.fault(), None)
        }))
        .layer(axum::middleware::map_response(security_headers))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &http::Request<Body>| {
                tracing::info_span!(
                    "soap",
                    http.path = %req.uri().path(),
                    iti = field::Empty,
                    wsa.action = field::Empty,
                    wsa.message_id = field::Empty,
                    outcome = field::Empty,
                    request_id = %uuid::Uuid::new_v4(),
                )
            }),
        )
}

async fn soap(
    State(state): State<AppState>,
    path: Option<Iti>,
    req: axum::extract::Request,
) -> Response {
    // The TCP peer and TLS client (absent when the router is driven without a listener).
    let peer = caller::Peer {
        ip: req
            .extensions()
            .get::<crate::inbound::ClientIp>()
            .map(|c| c.0)
            .or_else(|| {
                req.extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip())
            }),
        tls_client: req
            .extensions()
            .get::<crate::inbound::TlsClient>()
            .and_then(|t| t.0.clone()),
    };
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let started = Instant::now();
    let cfg = state.config();
    let mut label = path.map(Iti::as_str).unwrap_or("unknown");
    let mut relates_to = None;
    // The body is read first, under its own deadline and without a request permit: a client
    // that trickles (or never sends) its body holds a connection, never a permit.
    let body = tokio::time::timeout(cfg.body_read_timeout, read_body(body, cfg.max_body_bytes))
        .await
        .unwrap_or(Err(GatewayError::BodyTimeout));
    // Load shedding: no permit, no work (and no unbounded queue).
    let result = match body {
        Err(e) => Err(e),
        Ok(bytes) => match state.inner.permits.clone().try_acquire_owned() {
            Ok(_permit) => tokio::time::timeout(
                cfg.request_timeout,
                process(
                    &state,
                    path,
                    &headers,
                    bytes,
                    peer,
                    &mut label,
                    &mut relates_to,
                ),
            )
            .await
            .unwrap_or(Err(GatewayError::Timeout)),
            Err(_) => Err(GatewayError::Overloaded),
        },
    };
    let (response, outcome) = match result {
        Ok((response, outcome)) => (response, outcome),
        Err(e) => {
            tracing::warn!(error = %xhuma_common::chain::Chain(&e), error_type = e.kind(), "SOAP request refused");
            (fault_response(&e.fault(), relates_to.as_deref()), e.kind())
        }
    };
    Span::current().record("outcome", outcome);
    metrics::counter!("xhuma_soap_requests_total", "iti" => label, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("xhuma_soap_request_duration_seconds", "iti" => label)
        .record(started.elapsed().as_secs_f64());
    response
}

async fn process(
    state: &AppState,
    path: Option<Iti>,
    headers: &HeaderMap,
    bytes: Bytes,
    peer: caller::Peer,
    label: &mut &'static str,
    relates_to: &mut Option<String>,
) -> Result<(Response, &'static str), GatewayError> {
    let cfg = state.config();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_mtom = mtom::is_multipart(content_type);
    let media = mtom::media_type(content_type).to_ascii_lowercase();
    if !is_mtom
        && !matches!(
            media.as_str(),
            "" | "application/soap+xml" | "text/xml" | "application/xml"
        )
    {
        return Err(GatewayError::MediaType);
    }
    // Held until the answer is built: the body and its parsed envelope, within the budget
    // (waiting for room is bounded by the request deadline).
    let _reserved = state
        .inner
        .offload
        .reserve(cfg.request_reservation(bytes.len()))
        .await
        .map_err(|_| GatewayError::BodyTooLarge)?;
    let limits = cfg.xml_limits();
    let content_type = content_type.to_string();
    let now = (state.inner.clock)();
    let (verifier, offload) = (state.inner.verifier.clone(), state.inner.offload.clone());
    // One hop to the blocking pool for the parse and, for an ordinary request, the whole SAML
    // check: each hop costs a thread wake-up and a hand-back, as much as an unsigned check.
    let (env, saml) = state
        .inner
        .offload
        .run(
            0,
            move || -> Result<(Envelope, caller::SamlCheck), GatewayError> {
                let env = if is_mtom {
                    let parts = mtom::unpack(&content_type, &bytes)?;
                    Envelope::parse_within(parts.root.clone(), bytes.len(), limits, &|href| {
                        parts.resolve(href)
                    })?
                } else {
                    Envelope::parse(bytes, limits, &|_| None)?
                };
                let saml = caller::precheck(&verifier, &offload, &env.raw, now);
                Ok((env, saml))
            },
        )
        .await
        .map_err(|_| GatewayError::Internal)??;
    let span = Span::current();
    if let Some(a) = &env.addressing.action {
        span.record("wsa.action", a.as_str());
    }
    if let Some(m) = &env.addressing.message_id {
        span.record("wsa.message_id", m.as_str());
        *relates_to = Some(m.clone());
    }
    env.addressing
        .check_anonymous()
        .map_err(|_| GatewayError::NotAnonymous)?;
    let iti = Iti::select(path, env.addressing.action.as_deref())?;
    *label = iti.as_str();
    span.record("iti", iti.as_str());
    let caller = caller::admit(
        &env,
        saml,
        &state.inner.verifier,
        &state.inner.offload,
        cfg,
        state.inner.backend.as_ref(),
        iti.as_str(),
        now,
        peer,
    )
    .await?;
    let mtom_reply = match cfg.mtom_response {
        MtomPolicy::Auto => is_mtom,
        MtomPolicy::Inline => false,
        MtomPolicy::Always => true,
    };
    let cx = Ctx {
        config: cfg,
        backend: state.inner.backend.as_ref(),
        caller: &caller,
        mtom: mtom_reply,
    };
    let reply = iti::dispatch(iti, &env, &cx).await?;
    let xml = reply_envelope(
        reply.action,
        &new_message_id(),
        env.addressing.relates_to(),
        reply.payload,
    );
    let response = if mtom_reply {
        let (ct, body) = mtom::package(xml, &reply.attachments);
        with_content_type(StatusCode::OK, &ct, body.into_body())
    } else {
        with_content_type(StatusCode::OK, SOAP_CONTENT_TYPE, xml.into_body())
    };
    Ok((response, reply.outcome))
}

/// Reads the whole body, at most `max` bytes.
async fn read_body(body: Body, max: usize) -> Result<Bytes, GatewayError> {
    axum::body::to_bytes(body, max).await.map_err(|e| {
        // axum wraps http-body-util's `LengthLimitError`; find it by its message.
        let mut cause: Option<&dyn std::error::Error> = Some(&e);
        let mut too_large = false;
        while let Some(c) = cause {
            too_large |= c.to_string().contains("length limit exceeded");
            cause = c.source();
        }
        if too_large {
            GatewayError::BodyTooLarge
        } else {
            GatewayError::BodyUnreadable
        }
    })
}

async fn wsdl(
    State(state): State<AppState>,
    path: Option<Iti>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if !q.iter().any(|(k, _)| k.eq_ignore_ascii_case("wsdl")) {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "POST a SOAP 1.2 message, or GET ?wsdl",
        )
            .into_response();
    }
    let template = match path {
        Some(Iti::Iti55) => include_str!("../wsdl/iti55.wsdl"),
        Some(Iti::Iti47) => include_str!("../wsdl/iti47.wsdl"),
        Some(Iti::Iti38) => include_str!("../wsdl/iti38.wsdl"),
        Some(Iti::Iti39) => include_str!("../wsdl/iti39.wsdl"),
        None => include_str!("../wsdl/gateway.wsdl"),
    };
    let endpoint = match path {
        Some(i) => format!("/SOAP/{}", i.as_str()),
        None => "/SOAP".to_string(),
    };
    let base = match &state.config().public_url {
        Some(u) => u.clone(),
        None => {
            // The Host header is caller-controlled: accept only host[:port] characters.
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| {
                    !h.is_empty()
                        && h.len() <= 255
                        && h.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
                })
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    let address = crate::soap::markup::escape(&format!("{base}{endpoint}")).into_owned();
    let body = template.replace("{{ADDRESS}}", &address);
    with_content_type(StatusCode::OK, "text/xml; charset=utf-8", Body::from(body))
}

/// A SOAP Fault response.
pub fn fault_response(f: &Fault, relates_to: Option<&str>) -> Response {
    let xml = f.to_xml(&new_message_id(), relates_to);
    with_content_type(f.status, SOAP_CONTENT_TYPE, Body::from(xml))
}

fn with_content_type(status: StatusCode, ct: &str, body: Body) -> Response {
    let mut r = (status, body).into_response();
    if let Ok(v) = HeaderValue::from_str(ct) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}
