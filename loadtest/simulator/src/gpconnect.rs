//! GP Connect Access Record Structured providers, one per ODS code, under
//! `/gpc/{ODS}/STU3/1/gpconnect/structured`. Normally reached through the SSP (`ssp.rs`),
//! which forwards in-process; the direct route exists for tests of the provider alone.
//!
//! Checks in the provider's order: the operation and verb, `Ssp-InteractionID` and
//! `Ssp-TraceID`, the audit JWT (`jwt`), the `Parameters` body (`params`), then the patient:
//! a named error case (admin-set, or the scenario patient's own), unknown or registered
//! elsewhere (PATIENT_NOT_FOUND), else the record rendered from its template with the requested
//! areas only and `Bundle.id` = `Ssp-TraceID`.

mod jwt;
pub mod params;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream;
use xhuma_common::nhs::INTERACTION_GET_STRUCTURED;

use crate::data::GpcEntry;
use crate::data::template::Identity;
use crate::faults::{GpcCase, SimService};
use crate::outcome::injected;
use crate::outcome::{self, FHIR_JSON_UTF8};
use crate::state::SimState;

pub const OPERATION_PATH: &str = "Patient/$gpc.getstructuredrecord";

/// The provider's answer for a named case.
pub fn case_response(case: GpcCase, diagnostics: Option<&str>) -> Response {
    match case.provider() {
        Some((status, issue, code, display)) => {
            outcome::gpc(status, issue, code, display, diagnostics)
        }
        None => outcome::gpc(
            500,
            "exception",
            "INTERNAL_SERVER_ERROR",
            "Internal server error",
            diagnostics,
        ),
    }
}

/// Direct route: `/gpc/{ods}/STU3/1/gpconnect/structured/{*rest}`.
pub async fn direct(
    State(st): State<SimState>,
    Path((ods, rest)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&st, &ods, &rest, &method, &headers, body).await
}

/// Serves one request for practice `ods`; `rest` is the path after the service root.
pub async fn handle(
    st: &SimState,
    ods: &str,
    rest: &str,
    method: &Method,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(inj) = st.faults.before(SimService::Gpconnect).await {
        return injected(SimService::Gpconnect, inj);
    }
    let Some(practice) = st.store.practices.get(ods) else {
        return case_response(
            GpcCase::OrganisationNotFound,
            Some("No GP Connect provider at this ODS code"),
        );
    };
    if rest.trim_start_matches('/') != OPERATION_PATH {
        return case_response(
            GpcCase::NotImplemented,
            Some("Only $gpc.getstructuredrecord is implemented"),
        );
    }
    if method != Method::POST {
        return case_response(
            GpcCase::BadRequest,
            Some("$gpc.getstructuredrecord must be POSTed"),
        );
    }
    if headers
        .get("ssp-interactionid")
        .and_then(|v| v.to_str().ok())
        != Some(INTERACTION_GET_STRUCTURED)
    {
        return case_response(
            GpcCase::BadRequest,
            Some("Ssp-InteractionID does not match the operation"),
        );
    }
    let Some(trace) = headers
        .get("ssp-traceid")
        .and_then(|v| v.to_str().ok())
        .filter(|t| {
            !t.is_empty()
                && t.len() <= 64
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    else {
        return case_response(
            GpcCase::BadRequest,
            Some("Ssp-TraceID is missing or invalid"),
        );
    };
    if let Err((case, d)) = jwt::check(headers, &practice.address, now_secs()) {
        return case_response(case, Some(&d));
    }
    let req = match params::parse(&body) {
        Ok(r) => r,
        Err((case, d)) => return case_response(case, Some(&d)),
    };
    if let Some(case) = st.faults.gpc_case(Some(req.nhs))
        && case.provider().is_some()
    {
        return case_response(case, None);
    }
    let served = st.faults.gpc_served(req.nhs);
    let Some(patient) = st
        .store
        .get(&served)
        // A swapped record comes from wherever that patient is registered (it is a bug).
        .filter(|p| served != req.nhs || p.ods.as_deref() == Some(ods))
    else {
        return case_response(GpcCase::PatientNotFound, None);
    };
    let (source, identity) = match &patient.gpc {
        GpcEntry::Error(case) => return case_response(*case, None),
        GpcEntry::Record { source, identity } => (source, identity),
    };
    let template = match source.template(req.mask).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "Cannot build a bundle template.");
            return case_response(GpcCase::InternalServerError, None);
        }
    };
    let warning = (!req.unsupported.is_empty()).then(|| unsupported_outcome(&req.unsupported));
    let impostor;
    let identity = match st.faults.gpc_impostor(req.nhs) {
        // The requested NHS number with another person's birth date, gender and surname.
        true => {
            impostor = Identity {
                family: "IMPOSTOR".into(),
                birth_date: Some("1900-01-01".into()),
                gender: Some("other".into()),
                ..identity.clone()
            };
            &impostor
        }
        false => identity,
    };
    let chunks = template.render(identity, trace, warning.as_deref());
    let len: usize = chunks.iter().map(Bytes::len).sum();
    st.faults.add_gpc_bytes(len as u64);
    let mut resp = Response::new(Body::from_stream(stream::iter(
        chunks.into_iter().map(Ok::<_, std::convert::Infallible>),
    )));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(FHIR_JSON_UTF8),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

/// The OperationOutcome entry listing parameters the provider does not recognise (GP Connect
/// forward compatibility: a warning in a 200 Bundle, one issue per item).
fn unsupported_outcome(items: &[String]) -> String {
    let issues: Vec<serde_json::Value> = items
        .iter()
        .map(|name| {
            serde_json::json!({
                "severity": "warning",
                "code": "not-supported",
                "details": {
                    "coding": [{
                        "system": "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1",
                        "code": "NOT_IMPLEMENTED",
                        "display": "Not implemented"
                    }],
                    "text": format!("{name} is an unrecognised parameter")
                },
                "diagnostics": name
            })
        })
        .collect();
    serde_json::json!({"resource": {
        "resourceType": "OperationOutcome",
        "meta": {"profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-OperationOutcome-1"]},
        "issue": issues
    }})
    .to_string()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
