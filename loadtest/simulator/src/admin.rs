//! `/_admin/`: counters, faults, named GP Connect cases, tokens, and the loaded data, for load
//! and chaos tests to read and steer at run time. Documented in the crate README.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use xhuma_common::NhsNumber;

use crate::faults::{FailNext, GpcCase, ServiceFaults, SimService};
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/counters", get(counters))
        .route("/reset", post(reset))
        .route("/faults", get(all_faults))
        .route("/faults/{service}", put(set_faults).get(get_faults))
        .route("/faults/{service}/fail-next", post(fail_next))
        .route(
            "/gpconnect/cases/{target}",
            put(set_case).delete(clear_case),
        )
        .route("/tokens/revoke", post(revoke))
        .route("/tokens/lifetime", put(lifetime))
        .route("/patients", get(patients))
        .route("/practices", get(practices))
        .route("/jwks", get(jwks))
}

fn bad(msg: String) -> Response {
    (
        axum::http::StatusCode::BAD_REQUEST,
        Json(json!({"error": msg})),
    )
        .into_response()
}

async fn counters(State(st): State<SimState>) -> Response {
    Json(st.faults.counters()).into_response()
}

async fn reset(State(st): State<SimState>) -> Response {
    st.faults.reset();
    Json(json!({"reset": true})).into_response()
}

async fn all_faults(State(st): State<SimState>) -> Response {
    let map: serde_json::Map<String, serde_json::Value> = SimService::ALL
        .iter()
        .map(|s| {
            (
                s.as_str().to_string(),
                serde_json::to_value(st.faults.get(*s)).unwrap_or_default(),
            )
        })
        .collect();
    Json(map).into_response()
}

async fn get_faults(State(st): State<SimState>, Path(service): Path<String>) -> Response {
    match service.parse::<SimService>() {
        Ok(s) => Json(st.faults.get(s)).into_response(),
        Err(e) => bad(e),
    }
}

async fn set_faults(
    State(st): State<SimState>,
    Path(service): Path<String>,
    Json(f): Json<ServiceFaults>,
) -> Response {
    match service.parse::<SimService>() {
        Ok(s) => {
            st.faults.set(s, f.clone());
            Json(f).into_response()
        }
        Err(e) => bad(e),
    }
}

async fn fail_next(
    State(st): State<SimState>,
    Path(service): Path<String>,
    Json(f): Json<FailNext>,
) -> Response {
    match service.parse::<SimService>() {
        Ok(s) => {
            st.faults.set_fail_next(s, Some(f));
            Json(f).into_response()
        }
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct CaseBody {
    case: Option<String>,
}

/// `target` is `global` or an NHS number.
async fn set_case(
    State(st): State<SimState>,
    Path(target): Path<String>,
    Json(b): Json<CaseBody>,
) -> Response {
    let case = match b.case.as_deref().map(str::parse::<GpcCase>).transpose() {
        Ok(c) => c,
        Err(e) => return bad(e),
    };
    apply_case(&st, &target, case)
}

async fn clear_case(State(st): State<SimState>, Path(target): Path<String>) -> Response {
    apply_case(&st, &target, None)
}

fn apply_case(st: &SimState, target: &str, case: Option<GpcCase>) -> Response {
    if target == "global" {
        st.faults.set_gpc_global(case);
    } else {
        match NhsNumber::parse(target) {
            Ok(n) => st.faults.set_gpc_patient(n, case),
            Err(e) => return bad(e.to_string()),
        }
    }
    Json(json!({"target": target, "case": case.map(GpcCase::name)})).into_response()
}

async fn revoke(State(st): State<SimState>) -> Response {
    st.oauth.revoke_all();
    Json(json!({"revoked": true})).into_response()
}

#[derive(Deserialize)]
struct Lifetime {
    secs: u64,
}

async fn lifetime(State(st): State<SimState>, Json(l): Json<Lifetime>) -> Response {
    st.oauth.set_lifetime(Duration::from_secs(l.secs));
    Json(json!({"secs": l.secs})).into_response()
}

async fn patients(State(st): State<SimState>) -> Response {
    Json(st.store.list()).into_response()
}

async fn practices(State(st): State<SimState>) -> Response {
    Json(st.store.practices.values().collect::<Vec<_>>()).into_response()
}

async fn jwks(State(st): State<SimState>) -> Response {
    Json(st.oauth.jwks()).into_response()
}
