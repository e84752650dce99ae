//! The shared state, the router (`fn router(state) -> Router`), and how injected faults are
//! answered in each service's own error shape.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Router;
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::{any, get, post};
use bytes::Bytes;

use crate::data::Store;
use crate::faults::{Faults, Injected, SimService};
use crate::oauth::OAuth;
use crate::sds::SdsIndex;
use crate::{admin, gpconnect, outcome, pds, sds, ssp};

/// Everything the handlers share.
#[derive(Debug)]
pub struct Inner {
    pub store: Store,
    pub sds: SdsIndex,
    pub faults: Faults,
    pub oauth: OAuth,
    /// Where this simulator is reachable (service roots in SDS point under it).
    pub base_url: String,
    /// API keys SDS accepts (`apikey` header).
    pub api_keys: HashSet<String>,
    /// ASIDs the SSP accredits as consumers (`Ssp-From`).
    pub consumer_asids: HashSet<String>,
}

pub type SimState = Arc<Inner>;

/// All routes on one listener.
pub fn router(state: SimState) -> Router {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/personal-demographics/FHIR/R4/Patient", get(pds::search))
        .route(
            "/personal-demographics/FHIR/R4/Patient/{id}",
            get(pds::read),
        )
        .route("/spine-directory/FHIR/R4/{kind}", get(sds::search))
        .route("/ssp/{*target}", any(ssp::proxy))
        .route(
            "/gpc/{ods}/STU3/1/gpconnect/structured/{*rest}",
            any(gpconnect::direct),
        )
        .nest("/_admin", admin::router())
        .with_state(state)
}

async fn token(axum::extract::State(st): axum::extract::State<SimState>, body: Bytes) -> Response {
    if let Some(inj) = st.faults.before(SimService::Oauth).await {
        return fault_response(SimService::Oauth, inj);
    }
    st.oauth.token(&body)
}

/// An injected failure, shaped as `service` would send it.
pub fn fault_response(service: SimService, inj: Injected) -> Response {
    let (status, retry_after) = match inj {
        Injected::Status {
            status,
            retry_after_secs,
        } => (status, retry_after_secs),
        Injected::Timeout => (504, None),
    };
    let mut resp = match (service, status) {
        (SimService::Oauth, 429) => outcome::oauth(429, "rate_limit_exceeded", "Too many requests"),
        (SimService::Oauth, s) => outcome::oauth(s, "server_error", "Injected failure"),
        (SimService::Pds, 429) => outcome::pds(
            429,
            "throttled",
            "TOO_MANY_REQUESTS",
            "Too Many Requests",
            Some("You have exceeded your application's rate limit"),
        ),
        (SimService::Pds, 408) => outcome::pds(
            408,
            "timeout",
            "UNABLE_TO_CALL_SERVICE",
            "Unable to call service",
            None,
        ),
        (SimService::Pds, s) => outcome::pds(
            s,
            "exception",
            "SERVICE_UNAVAILABLE",
            "Service unavailable",
            None,
        ),
        (SimService::Sds, 502) => outcome::sds(
            502,
            "exception",
            "INTERNAL_SERVER_ERROR",
            "Internal server error",
            "Invalid LDAP response received",
            "",
        ),
        (SimService::Sds, 504) => outcome::sds(
            504,
            "exception",
            "INTERNAL_SERVER_ERROR",
            "Internal server error",
            "LDAP request timed out",
            "",
        ),
        (SimService::Sds, s) => outcome::sds(
            s,
            "exception",
            "INTERNAL_SERVER_ERROR",
            "Internal server error",
            "Injected failure",
            "",
        ),
        (SimService::Ssp, s) => outcome::ssp(s, "transient", "ERROR_COMMUNICATING_TO_ENDPOINT_URL"),
        (SimService::Gpconnect, 429) => outcome::gpc(
            429,
            "throttled",
            "TOO_MANY_REQUESTS",
            "Too many requests",
            None,
        ),
        (SimService::Gpconnect, s) => outcome::gpc(
            s,
            "exception",
            "INTERNAL_SERVER_ERROR",
            "Internal server error",
            Some("Injected failure"),
        ),
    };
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    resp
}
