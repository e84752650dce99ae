//! Error bodies, shaped exactly as each real service shapes them.
//!
//! PDS (FHIR R4 Spine codes), GP Connect (STU3 Spine codes, GPConnect-OperationOutcome-1
//! profile), SDS (STU3 value set, `id` = correlation id), the SSP (code = HTTP status, the token
//! in `display` and `diagnostics`) and the API platform's OAuth `{error, error_description}`.
//! [`injected`] answers a fault the injector chose in the shape of the service it hit.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::faults::{Injected, SimService};

pub const FHIR_JSON: &str = "application/fhir+json";
pub const FHIR_JSON_UTF8: &str = "application/fhir+json;charset=utf-8";

/// A JSON response with the given status and content type.
pub fn json_response(status: u16, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn to_response(status: u16, v: &Value) -> Response {
    json_response(status, FHIR_JSON, v.to_string())
}

/// PDS: `https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode`.
pub fn pds(
    status: u16,
    issue: &str,
    code: &str,
    display: &str,
    diagnostics: Option<&str>,
) -> Response {
    let severity = if code == "RESOURCE_NOT_FOUND" {
        "information"
    } else {
        "error"
    };
    let mut i = json!({
        "severity": severity,
        "code": issue,
        "details": {"coding": [{
            "system": "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode",
            "version": "1",
            "code": code,
            "display": display
        }]}
    });
    if let Some(d) = diagnostics {
        i["diagnostics"] = json!(d);
    }
    to_response(
        status,
        &json!({"resourceType": "OperationOutcome", "issue": [i]}),
    )
}

/// GP Connect provider: `https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1`.
pub fn gpc(
    status: u16,
    issue: &str,
    code: &str,
    display: &str,
    diagnostics: Option<&str>,
) -> Response {
    let mut i = json!({
        "severity": "error",
        "code": issue,
        "details": {"coding": [{
            "system": "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1",
            "code": code,
            "display": display
        }]}
    });
    if let Some(d) = diagnostics {
        i["diagnostics"] = json!(d);
    }
    let body = json!({
        "resourceType": "OperationOutcome",
        "meta": {"profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-OperationOutcome-1"]},
        "issue": [i]
    });
    json_response(status, FHIR_JSON_UTF8, body.to_string())
}

/// SDS: `https://fhir.nhs.uk/STU3/ValueSet/Spine-ErrorOrWarningCode-1`, `id` = correlation id.
pub fn sds(
    status: u16,
    issue: &str,
    code: &str,
    display: &str,
    diagnostics: &str,
    id: &str,
) -> Response {
    let body = json!({
        "resourceType": "OperationOutcome",
        "id": id,
        "meta": {"profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/Spine-OperationOutcome-1"]},
        "issue": [{
            "severity": "error",
            "code": issue,
            "details": {"coding": [{
                "system": "https://fhir.nhs.uk/STU3/ValueSet/Spine-ErrorOrWarningCode-1",
                "code": code,
                "display": display
            }]},
            "diagnostics": diagnostics
        }]
    });
    to_response(status, &body)
}

/// SSP: the HTTP status as the code, the token as display and diagnostics.
pub fn ssp(status: u16, issue: &str, token: &str) -> Response {
    let body = json!({
        "resourceType": "OperationOutcome",
        "id": uuid::Uuid::new_v4().to_string(),
        "issue": [{
            "code": issue,
            "severity": "error",
            "details": {"coding": [{
                "code": status.to_string(),
                "display": token,
                "system": "http://fhir.nhs.net/ValueSet/gpconnect-schedule-response-code-1-0"
            }]},
            "diagnostics": token
        }]
    });
    to_response(status, &body)
}

/// API-platform OAuth error.
pub fn oauth(status: u16, error: &str, description: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": description,
        "message_id": format!("rrt-{}", uuid::Uuid::new_v4().simple())
    });
    json_response(status, "application/json", body.to_string())
}

/// An injected failure, shaped as `service` would send it.
pub fn injected(service: SimService, inj: Injected) -> Response {
    let (status, retry_after) = match inj {
        Injected::Status {
            status,
            retry_after_secs,
        } => (status, retry_after_secs),
        Injected::Timeout => (504, None),
    };
    let mut resp = match (service, status) {
        (SimService::Oauth, 429) => oauth(429, "rate_limit_exceeded", "Too many requests"),
        (SimService::Oauth, s) => oauth(s, "server_error", "Injected failure"),
        (SimService::Pds, 429) => pds(
            429,
            "throttled",
            "TOO_MANY_REQUESTS",
            "Too Many Requests",
            Some("You have exceeded your application's rate limit"),
        ),
        (SimService::Pds, 408) => pds(
            408,
            "timeout",
            "UNABLE_TO_CALL_SERVICE",
            "Unable to call service",
            None,
        ),
        (SimService::Pds, s) => pds(
            s,
            "exception",
            "SERVICE_UNAVAILABLE",
            "Service unavailable",
            None,
        ),
        (SimService::Sds, 502) => sds(
            502,
            "exception",
            "INTERNAL_SERVER_ERROR",
            "Internal server error",
            "Invalid LDAP response received",
            "",
        ),
        (SimService::Sds, 504) => sds(
            504,
            "exception",
            "INTERNAL_SERVER_ERROR",
            "Internal server error",
            "LDAP request timed out",
            "",
        ),
        (SimService::Sds, s) => sds(
            s,
            "exception",
            "INTERNAL_SERVER_ERROR",
            "Internal server error",
            "Injected failure",
            "",
        ),
        (SimService::Ssp, s) => ssp(s, "transient", "ERROR_COMMUNICATING_TO_ENDPOINT_URL"),
        (SimService::Gpconnect, 429) => gpc(
            429,
            "throttled",
            "TOO_MANY_REQUESTS",
            "Too many requests",
            None,
        ),
        (SimService::Gpconnect, s) => gpc(
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
