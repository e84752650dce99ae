//! The GP Connect audit JWT as a provider checks it (unsigned; claims and their shapes).

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::faults::GpcCase;

/// A consumer clock this far behind is rejected (the demonstrator's leeway).
const LEEWAY_SECS: i64 = 600;

/// `Ok` or the case (BAD_REQUEST / INVALID_RESOURCE) and why.
pub fn check(headers: &HeaderMap, aud: &str, now: i64) -> Result<(), (GpcCase, String)> {
    let bad = |d: &str| (GpcCase::BadRequest, d.to_string());
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| bad("Missing Authorization bearer token"))?;
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(bad("JWT is not three base64url parts"));
    }
    let decode = |s: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()?).ok()
    };
    let header = decode(parts[0]).ok_or_else(|| bad("JWT header is not base64url JSON"))?;
    let claims = decode(parts[1]).ok_or_else(|| bad("JWT payload is not base64url JSON"))?;
    if header.get("alg").and_then(Value::as_str) != Some("none") || !parts[2].is_empty() {
        return Err(bad("JWT must be unsigned (alg none, empty signature)"));
    }
    for c in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "reason_for_request",
        "requested_scope",
        "requesting_device",
        "requesting_organization",
        "requesting_practitioner",
    ] {
        if claims.get(c).is_none_or(Value::is_null) {
            return Err(bad(&format!("JWT claim {c} is missing")));
        }
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return Err(bad("JWT iat and exp must be integers"));
    };
    if exp - iat != 300 {
        return Err(bad("JWT exp must be iat + 300"));
    }
    if now - iat >= LEEWAY_SECS {
        return Err(bad("JWT has expired"));
    }
    if !matches!(
        claims["reason_for_request"].as_str(),
        Some("directcare" | "migration")
    ) {
        return Err(bad("JWT reason_for_request must be directcare"));
    }
    if !claims["requested_scope"]
        .as_str()
        .is_some_and(|s| s.starts_with("patient/*.read"))
    {
        return Err(bad("JWT requested_scope must be patient/*.read"));
    }
    if claims["aud"].as_str() != Some(aud) {
        return Err(bad("JWT aud must be the provider's service root"));
    }
    for (claim, rt) in [
        ("requesting_device", "Device"),
        ("requesting_organization", "Organization"),
        ("requesting_practitioner", "Practitioner"),
    ] {
        if claims[claim].get("resourceType").and_then(Value::as_str) != Some(rt) {
            return Err((
                GpcCase::InvalidResource,
                format!("JWT {claim} must be a {rt}"),
            ));
        }
    }
    let org_ods = claims["requesting_organization"]["identifier"]
        .as_array()
        .is_some_and(|ids| {
            ids.iter().any(|i| {
                i["system"].as_str() == Some("https://fhir.nhs.uk/Id/ods-organization-code")
            })
        });
    if !org_ods {
        return Err((
            GpcCase::InvalidResource,
            "JWT requesting_organization needs an ODS code".into(),
        ));
    }
    if claims["requesting_practitioner"]["id"].as_str() != claims["sub"].as_str() {
        return Err(bad("JWT sub must equal requesting_practitioner.id"));
    }
    Ok(())
}
