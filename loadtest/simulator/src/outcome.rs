//! Error bodies, shaped exactly as each real service shapes them.
//!
//! PDS (FHIR R4 Spine codes), GP Connect (STU3 Spine codes, GPConnect-OperationOutcome-1
//! profile), SDS (STU3 value set, `id` = correlation id), the SSP (code = HTTP status, the token
//! in `display` and `diagnostics`) and the API platform's OAuth `{error, error_description}`.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

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
