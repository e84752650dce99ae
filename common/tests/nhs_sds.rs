//! SDS: no endpoint is `None`, bad queries and a missing `apikey` are typed errors, 5xx is
//! retried.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use support::*;
use xhuma_simulator::{SimService, scenarios};

#[tokio::test]
async fn unknown_practices_have_no_endpoint() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    assert_eq!(
        c.sds.gp_connect_endpoint("ZZ999", "corr").await.unwrap(),
        None
    );
    assert_eq!(
        c.sds
            .gp_connect_endpoint(scenarios::NO_ENDPOINT_ODS, "corr")
            .await
            .unwrap(),
        None
    );
    let a82038 = c
        .sds
        .gp_connect_endpoint("A82038", "corr")
        .await
        .unwrap()
        .unwrap();
    assert!(
        a82038
            .address
            .ends_with("/gpc/A82038/STU3/1/gpconnect/structured")
    );
}

#[tokio::test]
async fn bad_queries_and_keys_get_sds_outcomes() {
    let sim = sim().await;
    let base = format!("{}/spine-directory/FHIR/R4", sim.base_url());
    let get = |path: String, key: Option<&'static str>| async move {
        let mut req = http().get(path).header("X-Correlation-Id", "c-1");
        if let Some(k) = key {
            req = req.header("apikey", k);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let key = Some("xhuma-dev-api-key");
    let code = |v: &Value| {
        v["issue"][0]["details"]["coding"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let (s, v) = get(
        format!("{base}/Device?identifier=https://fhir.nhs.uk/Id/nhsServiceInteractionId|x"),
        key,
    )
    .await;
    assert_eq!((s, code(&v).as_str()), (400, "BAD_REQUEST"));
    assert!(
        v["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("'organization'")
    );
    let (s, v) = get(
        format!("{base}/Endpoint?organization=https://fhir.nhs.uk/Id/ods-organization-code|B82617"),
        key,
    )
    .await;
    assert_eq!((s, code(&v).as_str()), (400, "BAD_REQUEST"));
    assert_eq!(v["id"], "c-1", "OperationOutcome.id is the correlation id");
    let (s, _) = get(
        format!("{base}/Device?organization=https://fhir.nhs.uk/Id/ods-organization-code|B82617"),
        None,
    )
    .await;
    assert_eq!(s, 401);
    let (s, v) = get(format!("{base}/Location"), key).await;
    assert_eq!((s, code(&v).as_str()), (404, "NO_RECORD_FOUND"));
}

#[tokio::test]
async fn wrong_api_key_is_not_retried_and_5xx_is() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.api_key = xhuma_common::config::Secret::new("wrong");
    let e = clients(&cfg)
        .sds
        .gp_connect_endpoint("B82617", "corr")
        .await
        .unwrap_err();
    assert_eq!(
        (e.service(), e.status(), e.spine_code()),
        ("sds", Some(401), Some("ACCESS_DENIED"))
    );
    assert_eq!(sim.counters().await.sds, 1);

    sim.reset();
    let c = clients(&config(&sim));
    sim.fail_next(SimService::Sds, 2, 504, None);
    assert!(
        c.sds
            .gp_connect_endpoint("B82617", "corr")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        sim.counters().await.sds,
        4,
        "two 504s, then Device and Endpoint"
    );
}
