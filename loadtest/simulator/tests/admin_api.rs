//! The `/_admin/` API and `--synthetic`: faults and counters steered over HTTP, generated
//! patients served end to end.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use xhuma_common::NhsNumber;
use xhuma_simulator::{Counters, Simulator};

async fn get(url: String) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn send(method: reqwest::Method, url: String, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .request(method, url)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn faults_and_counters_over_http() {
    let sim = Simulator::builder().spawn().await.unwrap();
    let admin = format!("{}/_admin", sim.base_url());
    let sds = format!(
        "{}/spine-directory/FHIR/R4/Device?organization=https://fhir.nhs.uk/Id/ods-organization-code|B82617&identifier=https://fhir.nhs.uk/Id/nhsServiceInteractionId|urn:nhs:names:services:gpconnect:fhir:operation:gpc.getstructuredrecord-1",
        sim.base_url()
    );
    let call_sds = || async {
        reqwest::Client::new()
            .get(&sds)
            .header("apikey", "xhuma-dev-api-key")
            .send()
            .await
            .unwrap()
    };

    let (s, _) = send(
        reqwest::Method::POST,
        format!("{admin}/faults/sds/fail-next"),
        json!({"count": 2, "status": 429, "retry_after_secs": 3}),
    )
    .await;
    assert_eq!(s, 200);
    let r = call_sds().await;
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(call_sds().await.status().as_u16(), 429);
    assert_eq!(
        call_sds().await.status().as_u16(),
        200,
        "only the next two fail"
    );

    let (s, _) = send(reqwest::Method::PUT, format!("{admin}/faults/sds"), json!({"error_rate": 1.0, "error_status": 502, "latency": {"kind": "uniform", "min_ms": 1, "max_ms": 5}})).await;
    assert_eq!(s, 200);
    let r = call_sds().await;
    assert_eq!(r.status().as_u16(), 502);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["issue"][0]["diagnostics"],
        "Invalid LDAP response received"
    );
    let (_, faults) = get(format!("{admin}/faults")).await;
    assert_eq!(faults["sds"]["error_status"], 502);

    let (_, counters) = get(format!("{admin}/counters")).await;
    let counters: Counters = serde_json::from_value(counters).unwrap();
    assert_eq!(counters.sds, 4);
    assert_eq!(counters, sim.counters().await);

    let (s, _) = send(reqwest::Method::POST, format!("{admin}/reset"), json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(call_sds().await.status().as_u16(), 200);
    assert_eq!(sim.counters().await.sds, 1);

    let (s, _) = send(
        reqwest::Method::PUT,
        format!("{admin}/faults/teapot"),
        json!({}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, v) = send(
        reqwest::Method::PUT,
        format!("{admin}/gpconnect/cases/9690937286"),
        json!({"case": "no-patient-consent"}),
    )
    .await;
    assert_eq!((s, v["case"].as_str()), (200, Some("NO_PATIENT_CONSENT")));
    let (s, _) = send(
        reqwest::Method::PUT,
        format!("{admin}/gpconnect/cases/global"),
        json!({"case": "BOGUS"}),
    )
    .await;
    assert_eq!(s, 400);
    let (_, jwks) = get(format!("{admin}/jwks")).await;
    assert_eq!(jwks["xhuma-dev-api-key"]["keys"][0]["kid"], "test-1");
    let (_, practices) = get(format!("{admin}/practices")).await;
    assert!(
        practices
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["ods"] == "B82617" && p["asid"] == "918999198738")
    );
}

#[tokio::test]
async fn synthetic_patients_are_valid_distinct_and_served() {
    let sim = Simulator::builder().synthetic(500).spawn().await.unwrap();
    let patients = sim.patients();
    let synthetic: Vec<_> = patients
        .iter()
        .filter(|p| p.scenario == "synthetic")
        .collect();
    assert_eq!(synthetic.len(), 500);
    let mut seen = std::collections::HashSet::new();
    for p in &patients {
        assert!(NhsNumber::parse(&p.nhs_number).is_ok());
        assert!(seen.insert(&p.nhs_number));
    }
    let (_, listed) = get(format!("{}/_admin/patients", sim.base_url())).await;
    assert_eq!(listed.as_array().unwrap().len(), patients.len());

    // A synthetic patient's PDS record and GP Connect bundle carry its own identity.
    let p = synthetic[17];
    let cfg = xhuma_common::nhs::NhsConfig::for_simulator(&sim.base_url());
    let c = xhuma_common::nhs::NhsClients::new(&cfg).unwrap();
    let n = NhsNumber::parse(&p.nhs_number).unwrap();
    let xhuma_common::patient::PdsOutcome::Found(d) = c.pds.read_patient(n, "c").await.unwrap()
    else {
        panic!()
    };
    let family = d.family.clone().unwrap();
    assert_eq!(p.name.split(',').next(), Some(family.as_str()));
    let ep = c
        .sds
        .gp_connect_endpoint(d.gp_ods.as_deref().unwrap(), "c")
        .await
        .unwrap()
        .unwrap();
    let bytes = c
        .gpconnect
        .get_structured_record(n, &ep, &Default::default(), "trace-17")
        .await
        .unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.contains(&p.nhs_number) && text.contains(&family));
}
