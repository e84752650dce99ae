//! What SDS answers for each practice of the data set: its Device (ASID, party key) and its
//! Endpoint (the GP Connect service root under this simulator), built once as FHIR R4
//! searchset bundles and served as bytes by [`crate::sds`].

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{Value, json};
use xhuma_common::nhs::INTERACTION_GET_STRUCTURED;

use super::Practice;

pub(crate) const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub(crate) const INTERACTION_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhsServiceInteractionId";
const ASID_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhsSpineASID";
pub(crate) const PARTY_KEY_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhsMhsPartyKey";

/// Pre-serialised Device and Endpoint bundles per ODS code.
#[derive(Debug, Default)]
pub struct SdsIndex {
    pub(crate) device: HashMap<String, Bytes>,
    pub(crate) endpoint: HashMap<String, Bytes>,
    /// The `total: 0` answer.
    pub(crate) empty: Bytes,
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
