//! The router: every service's routes on one listener, over the shared [`SimState`].

use axum::Router;
use axum::response::Response;
use axum::routing::{any, get, post};
use bytes::Bytes;

use crate::faults::SimService;
use crate::outcome::injected;
use crate::state::SimState;
use crate::{admin, gpconnect, pds, sds, ssp};

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
        return injected(SimService::Oauth, inj);
    }
    st.oauth.token(&body)
}
