//! SDS FHIR R4: `GET /Device` (ASID) and `GET /Endpoint` (service root) per ODS code and
//! interaction, with the `apikey` header. Every practice supports Access Record Structured;
//! answers are built once per practice and served as bytes. No match is `200`, `total: 0`.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use xhuma_common::nhs::INTERACTION_GET_STRUCTURED;

use crate::data::Practice;
use crate::faults::SimService;
use crate::outcome::{self, FHIR_JSON};
use crate::pds::parse_query;
use crate::server::{SimState, fault_response};

const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const INTERACTION_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhsServiceInteractionId";
const ASID_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhsSpineASID";
const PARTY_KEY_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhsMhsPartyKey";

/// Pre-serialised Device and Endpoint bundles per ODS code.
#[derive(Debug, Default)]
pub struct SdsIndex {
    device: HashMap<String, Bytes>,
    endpoint: HashMap<String, Bytes>,
    empty: Bytes,
}

impl SdsIndex {
    pub fn build<'a>(practices: impl Iterator<Item = &'a Practice>, base_url: &str) -> Self {
        let mut idx = Self {
            empty: bundle(base_url, "Device", None),
            ..Self::default()
        };
        for p in practices {
            let device = json!({
                "resourceType": "Device",
                "id": format!("{}-device", p.ods),
                "extension": [
                    {"url": "https://fhir.nhs.uk/StructureDefinition/Extension-SDS-ManufacturingOrganisation",
                     "valueReference": {"identifier": {"system": ODS_SYSTEM, "value": "YGM24"}}},
                    {"url": "https://fhir.nhs.uk/StructureDefinition/Extension-SDS-NhsServiceInteractionId",
                     "valueReference": {"identifier": {"system": INTERACTION_SYSTEM, "value": INTERACTION_GET_STRUCTURED}}}
                ],
                "identifier": [
                    {"system": ASID_SYSTEM, "value": p.asid},
                    {"system": PARTY_KEY_SYSTEM, "value": p.party_key}
                ],
                "owner": {"identifier": {"system": ODS_SYSTEM, "value": p.ods}, "display": p.name}
            });
            let endpoint = json!({
                "resourceType": "Endpoint",
                "id": format!("{}-endpoint", p.ods),
                "status": "active",
                "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-msg", "display": "HL7 FHIR Messaging"},
                "payloadType": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "code": "any", "display": "Any"}]}],
                "address": p.address,
                "managingOrganization": {"identifier": {"system": ODS_SYSTEM, "value": p.ods}},
                "identifier": [
                    {"system": "https://fhir.nhs.uk/Id/nhsMhsFQDN", "value": base_url.trim_start_matches("http://").trim_start_matches("https://")},
                    {"system": PARTY_KEY_SYSTEM, "value": p.party_key},
                    {"system": "https://fhir.nhs.uk/Id/nhsMhsCPAId", "value": format!("S{}", p.asid)},
                    {"system": "https://fhir.nhs.uk/Id/nhsMHSId", "value": format!("S{}", p.asid)}
                ],
                "extension": [{"url": "https://fhir.nhs.uk/StructureDefinition/Extension-SDS-NhsServiceInteractionId",
                    "valueReference": {"identifier": {"system": INTERACTION_SYSTEM, "value": INTERACTION_GET_STRUCTURED}}}]
            });
            idx.device
                .insert(p.ods.clone(), bundle(base_url, "Device", Some(device)));
            idx.endpoint
                .insert(p.ods.clone(), bundle(base_url, "Endpoint", Some(endpoint)));
        }
        idx
    }
}

fn bundle(base_url: &str, kind: &str, resource: Option<Value>) -> Bytes {
    let entries: Vec<Value> = resource
        .into_iter()
        .map(|r| json!({
            "fullUrl": format!("{base_url}/spine-directory/FHIR/R4/{kind}/{}", r["id"].as_str().unwrap_or("")),
            "resource": r,
            "search": {"mode": "match"}
        }))
        .collect();
    let b = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "searchset",
        "total": entries.len(),
        "link": [{"relation": "self", "url": format!("{base_url}/spine-directory/FHIR/R4/{kind}")}],
        "entry": entries
    });
    Bytes::from(b.to_string())
}

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
        return fault_response(SimService::Sds, inj);
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
