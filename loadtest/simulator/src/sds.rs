//! SDS FHIR R4: `GET /Device` (ASID) and `GET /Endpoint` (service root) per ODS code and
//! interaction, with the `apikey` header. Every practice supports Access Record Structured;
//! answers are built once per practice ([`crate::data::directory`]) and served as bytes. No match is `200`, `total: 0`.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use xhuma_common::nhs::INTERACTION_GET_STRUCTURED;

use crate::data::directory::{INTERACTION_SYSTEM, ODS_SYSTEM, PARTY_KEY_SYSTEM};
use crate::faults::SimService;
use crate::outcome::injected;
use crate::outcome::{self, FHIR_JSON};
use crate::pds::parse_query;
use crate::state::SimState;

/// `GET /spine-directory/FHIR/R4/{Device|Endpoint}`.
pub async fn search(
    State(st): State<SimState>,
    Path(kind): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let cid = headers
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if let Some(inj) = st.faults.before(SimService::Sds).await {
        return injected(SimService::Sds, inj);
    }
    let key_ok = headers
        .get("apikey")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|k| st.api_keys.contains(k));
    if !key_ok {
        return outcome::sds(
            401,
            "forbidden",
            "ACCESS_DENIED",
            "Access denied",
            "Invalid or missing apikey header",
            &cid,
        );
    }
    if kind != "Device" && kind != "Endpoint" {
        return outcome::sds(
            404,
            "not-found",
            "NO_RECORD_FOUND",
            "No Record Found",
            "HTTP endpoint not found",
            &cid,
        );
    }
    let params = parse_query(q.as_deref().unwrap_or(""));
    let org = params
        .iter()
        .find(|(k, _)| k == "organization")
        .and_then(|(_, v)| v.strip_prefix(ODS_SYSTEM).and_then(|r| r.strip_prefix('|')))
        .filter(|v| !v.is_empty());
    let Some(ods) = org else {
        return outcome::sds(
            400,
            "required",
            "BAD_REQUEST",
            "Bad request",
            &format!(
                "Missing or invalid 'organization' query parameter. Should be 'organization={ODS_SYSTEM}|value'"
            ),
            &cid,
        );
    };
    let mut interaction = None;
    let mut party_key = None;
    for (_, v) in params.iter().filter(|(k, _)| k == "identifier") {
        if let Some(i) = v
            .strip_prefix(INTERACTION_SYSTEM)
            .and_then(|r| r.strip_prefix('|'))
        {
            interaction = Some(i);
        } else if let Some(p) = v
            .strip_prefix(PARTY_KEY_SYSTEM)
            .and_then(|r| r.strip_prefix('|'))
        {
            party_key = Some(p);
        } else {
            interaction = None;
            party_key = None;
            break;
        }
    }
    if interaction.is_none() && party_key.is_none() {
        return outcome::sds(
            400,
            "required",
            "BAD_REQUEST",
            "Bad request",
            &format!(
                "Missing or invalid 'identifier' query parameter. Should be one or both of: ['identifier={INTERACTION_SYSTEM}|value', 'identifier={PARTY_KEY_SYSTEM}|value']"
            ),
            &cid,
        );
    }
    let practice = st.store.practices.get(ods);
    let matched = practice.is_some_and(|p| {
        interaction.is_none_or(|i| i == INTERACTION_GET_STRUCTURED)
            && party_key.is_none_or(|k| k == p.party_key)
    });
    let body = if matched {
        let map = if kind == "Device" {
            &st.sds.device
        } else {
            &st.sds.endpoint
        };
        map.get(ods)
            .cloned()
            .unwrap_or_else(|| st.sds.empty.clone())
    } else {
        st.sds.empty.clone()
    };
    let mut resp = outcome::json_response(200, FHIR_JSON, body);
    if let Some(v) = headers.get("x-correlation-id") {
        resp.headers_mut().insert("x-correlation-id", v.clone());
    }
    resp
}
