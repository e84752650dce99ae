//! Every client against an in-process nhs-sim over real HTTP: token → PDS → SDS → GP Connect.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use support::*;
use xhuma_common::nhs::{PdsSearch, PdsSearchOutcome};
use xhuma_common::patient::PdsOutcome;
use xhuma_simulator::SimService;

#[tokio::test]
async fn pds_read_finds_the_demonstrator_patient() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    let out = c
        .pds
        .read_patient(nhs("9690937286"), "corr-1")
        .await
        .unwrap();
    let PdsOutcome::Found(d) = out else {
        panic!("expected Found, got {out:?}")
    };
    assert_eq!(d.family.as_deref(), Some("SKELLY"));
    assert_eq!(d.given, ["Horace"]);
    assert_eq!(d.gp_ods.as_deref(), Some("B82617"));
    assert_eq!(d.version_id.as_deref(), Some("1"));
    assert_eq!(sim.counters().await.oauth, 1);
}

#[tokio::test]
async fn sds_resolves_asid_and_service_root() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    let ep = demo_endpoint(&c).await;
    assert_eq!(ep.ods, "B82617");
    assert_eq!(ep.asid, "918999198738");
    assert_eq!(
        ep.address,
        format!("{}/gpc/B82617/STU3/1/gpconnect/structured", sim.base_url())
    );
    assert_eq!(sim.counters().await.sds, 2, "Device then Endpoint");
}

#[tokio::test]
async fn full_chain_fetches_the_structured_record_through_the_ssp() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    let n = nhs("9690937286");
    let PdsOutcome::Found(d) = c.pds.read_patient(n, "corr").await.unwrap() else {
        panic!()
    };
    let ep = c
        .sds
        .gp_connect_endpoint(d.gp_ods.as_deref().unwrap(), "corr")
        .await
        .unwrap()
        .unwrap();
    let trace_id = trace();
    let bytes = c
        .gpconnect
        .get_structured_record(n, &ep, &requester(), &trace_id)
        .await
        .unwrap();
    let b: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(b["resourceType"], "Bundle");
    assert_eq!(b["id"], trace_id.as_str(), "Bundle.id is the Ssp-TraceID");
    let patient = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .unwrap();
    let id = patient["resource"]["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["system"] == "https://fhir.nhs.uk/Id/nhs-number")
        .unwrap();
    assert_eq!(id["value"], "9690937286");
    let counters = sim.counters().await;
    assert_eq!((counters.ssp, counters.gpconnect), (1, 1));
    assert_eq!(counters.gpconnect_bytes, bytes.len() as u64);
}

#[tokio::test]
async fn emis_record_is_served_under_its_mapped_valid_number() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    // The EMIS UAT bundles carry the invalid 1234567890; the simulator keys them by file name.
    let n = nhs("9465698490");
    let PdsOutcome::Found(d) = c.pds.read_patient(n, "corr").await.unwrap() else {
        panic!()
    };
    assert_eq!(d.family.as_deref(), Some("Daniels"));
    let ep = c
        .sds
        .gp_connect_endpoint(d.gp_ods.as_deref().unwrap(), "corr")
        .await
        .unwrap()
        .unwrap();
    let bytes = c
        .gpconnect
        .get_structured_record(n, &ep, &requester(), &trace())
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains("9465698490"));
    assert!(
        !text.contains("1234567890"),
        "the anonymised number is rewritten"
    );
}

#[tokio::test]
async fn every_listed_patient_has_a_valid_distinct_number() {
    let sim = sim().await;
    let patients = sim.patients();
    let mut seen = std::collections::HashSet::new();
    for p in &patients {
        assert!(
            xhuma_common::NhsNumber::parse(&p.nhs_number).is_ok(),
            "{}",
            p.nhs_number
        );
        assert!(
            seen.insert(p.nhs_number.clone()),
            "duplicate {}",
            p.nhs_number
        );
    }
    let bundles = patients
        .iter()
        .filter(|p| p.fixture.contains("bundles/"))
        .count();
    assert!(
        bundles >= 50,
        "every fixture bundle is a patient ({bundles})"
    );
}

#[tokio::test]
async fn pds_search_finds_a_single_match() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    let q = PdsSearch {
        family: Some("SAMUAL".into()),
        birth_date: Some("1938-12-11".into()),
        ..Default::default()
    };
    let PdsSearchOutcome::Match(o) = c.pds.search(&q, "corr").await.unwrap() else {
        panic!("expected a match")
    };
    let PdsOutcome::Found(d) = *o else {
        panic!("expected Found")
    };
    assert_eq!(d.nhs_number.to_string(), "9690937278");
    let none = PdsSearch {
        family: Some("NOBODY".into()),
        birth_date: Some("1900-01-01".into()),
        ..Default::default()
    };
    assert_eq!(
        c.pds.search(&none, "corr").await.unwrap(),
        PdsSearchOutcome::NoMatch
    );
    let many = PdsSearch {
        family: Some("SKELLY".into()),
        birth_date: Some("1925-04-21".into()),
        ..Default::default()
    };
    assert_eq!(
        c.pds.search(&many, "corr").await.unwrap(),
        PdsSearchOutcome::TooManyMatches
    );
    assert_eq!(sim.counters().await.get(SimService::Pds), 3);
}

#[tokio::test]
async fn jwks_serves_every_configured_key() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    let jwks: Value = serde_json::from_str(&c.tokens.jwks().unwrap()).unwrap();
    let kids: Vec<_> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kids, ["test-1", "test-2"]);
    assert_eq!(jwks["keys"][0]["alg"], "RS512");
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
}
