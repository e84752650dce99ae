//! PDS FHIR R4: `GET /Patient/{id}` and `GET /Patient?…` (application-restricted).
//!
//! Checks, as PDS makes them: the bearer token (401 ACCESS_DENIED), `X-Request-ID` present
//! and a UUID (400 MISSING_VALUE / INVALID_VALUE), the NHS number (400 INVALID_RESOURCE_ID).
//! A read serves the patient's pre-serialised record with `ETag`, and mirrors
//! `X-Request-ID`/`X-Correlation-ID`; a superseded number serves the record it was merged
//! into. Search matches family + birth date (and given, gender, postcode when sent) and
//! answers a single match, `total: 0`, or TOO_MANY_MATCHES.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::{Value, json};
use xhuma_common::NhsNumber;

use crate::data::{PatientEntry, PdsEntry};
use crate::faults::SimService;
use crate::outcome::injected;
use crate::outcome::{self, FHIR_JSON};
use crate::state::SimState;

const SEARCH_PARAMS: &[&str] = &[
    "family",
    "given",
    "gender",
    "birthdate",
    "death-date",
    "address-postalcode",
    "address-postcode",
    "general-practitioner",
    "email",
    "phone",
    "_fuzzy-match",
    "_exact-match",
    "_history",
    "_max-results",
];

/// The checks every PDS call passes; `Err` is the answer.
async fn admit(st: &SimState, headers: &HeaderMap) -> Result<(), Response> {
    if let Some(inj) = st.faults.before(SimService::Pds).await {
        return Err(injected(SimService::Pds, inj));
    }
    if let Err(why) = st.oauth.check_bearer(headers) {
        return Err(outcome::pds(
            401,
            "forbidden",
            "ACCESS_DENIED",
            "Access Denied - Unauthorised",
            Some(why),
        ));
    }
    match headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        None => Err(outcome::pds(
            400,
            "required",
            "MISSING_VALUE",
            "Required value is missing",
            Some(
                "Invalid request with error - X-Request-ID header must be supplied to access this resource",
            ),
        )),
        Some(v) if uuid::Uuid::try_parse(v).is_err() || v.len() != 36 => Err(outcome::pds(
            400,
            "value",
            "INVALID_VALUE",
            "Provided value is invalid",
            Some(&format!("Invalid value - '{v}' in header 'X-Request-ID'")),
        )),
        Some(_) => Ok(()),
    }
}

fn mirror(resp: &mut Response, headers: &HeaderMap) {
    for h in ["x-request-id", "x-correlation-id"] {
        if let Some(v) = headers.get(h) {
            resp.headers_mut().insert(h, v.clone());
        }
    }
}

/// `GET /personal-demographics/FHIR/R4/Patient/{id}`.
pub async fn read(
    State(st): State<SimState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut resp = match admit(&st, &headers).await {
        Err(r) => r,
        Ok(()) => read_record(&st, &id),
    };
    mirror(&mut resp, &headers);
    resp
}

fn read_record(st: &SimState, id: &str) -> Response {
    let Ok(nhs) = NhsNumber::parse(id) else {
        return outcome::pds(
            400,
            "value",
            "INVALID_RESOURCE_ID",
            "Resource Id is invalid",
            None,
        );
    };
    let mut entry = st.store.get(&nhs);
    if let Some(e) = entry
        && let PdsEntry::Superseded(current) = e.pds
    {
        entry = st.store.get(&current);
    }
    match entry.map(|e| &e.pds) {
        Some(PdsEntry::Record { body, version }) => {
            let mut resp = outcome::json_response(200, FHIR_JSON, body.clone());
            if let Ok(v) = HeaderValue::from_str(&format!("W/\"{version}\"")) {
                resp.headers_mut().insert("etag", v);
            }
            resp
        }
        Some(PdsEntry::Invalidated) => outcome::pds(
            404,
            "processing",
            "INVALIDATED_RESOURCE",
            "Resource that has been marked as invalid was requested - invalid resources cannot be retrieved",
            None,
        ),
        _ => outcome::pds(
            404,
            "not-found",
            "RESOURCE_NOT_FOUND",
            "Resource not found",
            None,
        ),
    }
}

/// `GET /personal-demographics/FHIR/R4/Patient?…`.
pub async fn search(
    State(st): State<SimState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let mut resp = match admit(&st, &headers).await {
        Err(r) => r,
        Ok(()) => search_records(&st, q.as_deref().unwrap_or("")),
    };
    mirror(&mut resp, &headers);
    resp
}

fn search_records(st: &SimState, query: &str) -> Response {
    let params = parse_query(query);
    if params.is_empty() {
        return outcome::pds(
            400,
            "processing",
            "UNSUPPORTED_SERVICE",
            "Unsupported Service",
            None,
        );
    }
    if let Some((k, _)) = params
        .iter()
        .find(|(k, _)| !SEARCH_PARAMS.contains(&k.as_str()))
    {
        return outcome::pds(
            400,
            "invariant",
            "ADDITIONAL_PROPERTIES",
            "Additional properties should not be included",
            Some(&format!(
                "Invalid request with error - Additional properties are not allowed ('{k}' was unexpected)"
            )),
        );
    }
    let get = |k: &str| params.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
    let invalid_search = |d: &str| {
        outcome::pds(
            400,
            "value",
            "INVALID_SEARCH_DATA",
            "Search data is invalid",
            Some(d),
        )
    };
    if get("address-postalcode").is_some() && get("address-postcode").is_some() {
        return invalid_search(
            "Invalid search data provided - 'address-postcode' and 'address-postalcode' cannot both be provided",
        );
    }
    if let Some(m) = get("_max-results")
        && m != "1"
    {
        return outcome::pds(
            403,
            "forbidden",
            "INVALID_VALUE",
            "Provided value is invalid",
            Some("Invalid value - '_max-results' must be 1 for application-restricted access"),
        );
    }
    let fuzzy = get("_fuzzy-match") == Some("true");
    let family = get("family").map(str::to_lowercase);
    let birth = get("birthdate").map(|b| b.trim_start_matches("eq").to_string());
    if !fuzzy && (family.is_none() || birth.is_none()) {
        return invalid_search(
            "Not enough search parameters were provided to be able to make a search",
        );
    }
    let givens: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "given")
        .map(|(_, v)| v.to_lowercase())
        .collect();
    let gender = get("gender");
    let postcode = get("address-postalcode")
        .or(get("address-postcode"))
        .map(norm_postcode);
    let matches = |p: &PatientEntry| -> bool {
        if !matches!(p.pds, PdsEntry::Record { .. }) {
            return false;
        }
        let pf = p.person.family.as_deref().unwrap_or("").to_lowercase();
        family.as_deref().is_none_or(|f| wildcard(f, &pf))
            && birth
                .as_deref()
                .is_none_or(|b| p.person.birth_date.as_deref() == Some(b))
            && givens.iter().all(|g| {
                p.person
                    .given
                    .iter()
                    .any(|pg| wildcard(g, &pg.to_lowercase()))
            })
            && gender.is_none_or(|g| p.person.gender.as_deref() == Some(g))
            && postcode.as_deref().is_none_or(|pc| {
                p.person.postcode.as_deref().map(norm_postcode).as_deref() == Some(pc)
            })
    };
    let mut found: Vec<&Arc<PatientEntry>> = Vec::new();
    for nhs in &st.store.order {
        if let Some(p) = st.store.get(nhs).filter(|p| matches(p)) {
            found.push(p);
            if found.len() > 1 {
                let body = json!({"resourceType": "OperationOutcome", "issue": [{
                    "severity": "information", "code": "multiple-matches",
                    "details": {"coding": [{"system": "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode",
                        "version": "1", "code": "TOO_MANY_MATCHES", "display": "Too Many Matches"}]}}]});
                return outcome::json_response(200, FHIR_JSON, body.to_string());
            }
        }
    }
    let entries: Vec<Value> = found
        .iter()
        .filter_map(|p| match &p.pds {
            PdsEntry::Record { body, .. } => serde_json::from_slice::<Value>(body).ok(),
            _ => None,
        })
        .map(|r| json!({
            "fullUrl": format!("{}/personal-demographics/FHIR/R4/Patient/{}", st.base_url, r["id"].as_str().unwrap_or("")),
            "search": {"score": 1},
            "resource": r
        }))
        .collect();
    let body = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "total": entries.len(),
        "entry": entries
    });
    outcome::json_response(200, FHIR_JSON, body.to_string())
}

/// `*` after at least two characters matches any suffix.
fn wildcard(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) if prefix.len() >= 2 => value.starts_with(prefix),
        _ => pattern == value,
    }
}

fn norm_postcode(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

/// Query string → pairs, keeping repeats.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                crate::oauth::percent_decode(k),
                crate::oauth::percent_decode(v),
            )
        })
        .collect()
}
