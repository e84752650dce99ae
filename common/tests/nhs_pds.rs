//! PDS: every outcome of a read (found, superseded, restricted, deceased, not found,
//! invalidated), the header and id checks, search errors, and retry behaviour.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;
use xhuma_common::nhs::SpineCode;
use xhuma_common::patient::PdsOutcome;
use xhuma_simulator::{Latency, ServiceFaults, SimService, scenarios};

#[tokio::test]
async fn read_outcomes_follow_the_record() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    let read = |n: &str| {
        let c = c.clone();
        let n = nhs(n);
        async move { c.pds.read_patient(n, "corr").await.unwrap() }
    };
    for s in scenarios::RESTRICTED {
        assert_eq!(read(s).await, PdsOutcome::Restricted);
    }
    assert_eq!(
        read("9000000025").await,
        PdsOutcome::Restricted,
        "sandbox restricted patient"
    );
    let PdsOutcome::Deceased { date } = read(scenarios::DECEASED).await else {
        panic!()
    };
    assert_eq!(date.as_deref(), Some("1993-02-17T00:00:00+00:00"));
    let PdsOutcome::Superseded { requested, current } = read(scenarios::SUPERSEDED).await else {
        panic!()
    };
    assert_eq!(requested.to_string(), scenarios::SUPERSEDED);
    assert_eq!(Some(current.nhs_number), scenarios::superseded_by());
    assert_eq!(current.gp_ods.as_deref(), Some("B82617"));
    assert_eq!(read(scenarios::NOT_ON_PDS).await, PdsOutcome::NotFound);
    assert_eq!(read("9999999999").await, PdsOutcome::NotFound);
    let invalidated = scenarios::invalidated().unwrap().to_string();
    assert_eq!(read(&invalidated).await, PdsOutcome::NotFound);
    let unregistered = scenarios::unregistered().unwrap().to_string();
    let PdsOutcome::Found(d) = read(&unregistered).await else {
        panic!()
    };
    assert_eq!(d.gp_ods, None);
    let PdsOutcome::Found(d) = read(scenarios::NO_CONSENT).await else {
        panic!()
    };
    assert_eq!(d.gp_ods.as_deref(), Some("B82617"));
}

async fn raw_read(
    sim: &xhuma_simulator::SimHandle,
    id: &str,
    request_id: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let cfg = config(sim);
    let c = clients(&cfg);
    let token = c.tokens.token().await.unwrap();
    let mut req = http()
        .get(format!("{}/Patient/{id}", cfg.pds_url))
        .bearer_auth(&*token)
        .header("X-Correlation-ID", "corr-7");
    if let Some(r) = request_id {
        req = req.header("X-Request-ID", r);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.json().await.unwrap(), headers)
}

fn code(v: &Value) -> &str {
    v["issue"][0]["details"]["coding"][0]["code"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test]
async fn headers_and_ids_are_checked_like_pds() {
    let sim = sim().await;
    let rid = uuid::Uuid::new_v4().to_string();
    let (s, v, h) = raw_read(&sim, "9690937286", Some(&rid)).await;
    assert_eq!(s, 200);
    assert_eq!(v["id"], "9690937286");
    assert_eq!(h["x-request-id"], rid.as_str(), "X-Request-ID mirrored");
    assert_eq!(h["x-correlation-id"], "corr-7");
    assert_eq!(h["etag"], "W/\"1\"");
    let (s, v, _) = raw_read(&sim, "9690937286", None).await;
    assert_eq!((s, code(&v)), (400, "MISSING_VALUE"));
    let (s, v, _) = raw_read(&sim, "9690937286", Some("not-a-uuid")).await;
    assert_eq!((s, code(&v)), (400, "INVALID_VALUE"));
    let (s, v, _) = raw_read(&sim, "9000000000", Some(&rid)).await;
    assert_eq!((s, code(&v)), (400, "INVALID_RESOURCE_ID"));
    let (s, v, _) = raw_read(&sim, "9999999999", Some(&rid)).await;
    assert_eq!((s, code(&v)), (404, "RESOURCE_NOT_FOUND"));
    let inv = scenarios::invalidated().unwrap().to_string();
    let (s, v, _) = raw_read(&sim, &inv, Some(&rid)).await;
    assert_eq!((s, code(&v)), (404, "INVALIDATED_RESOURCE"));
}

#[tokio::test]
async fn search_errors_follow_the_spec_table() {
    let sim = sim().await;
    let cfg = config(&sim);
    let token = clients(&cfg).tokens.token().await.unwrap();
    let search = |q: &'static str| {
        let url = format!("{}/Patient?{q}", cfg.pds_url);
        let token = token.clone();
        async move {
            let r = http()
                .get(url)
                .bearer_auth(&*token)
                .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = search("").await;
    assert_eq!((s, code(&v)), (400, "UNSUPPORTED_SERVICE"));
    let (s, v) = search("family=SKELLY&colour=blue").await;
    assert_eq!((s, code(&v)), (400, "ADDITIONAL_PROPERTIES"));
    let (s, v) = search("family=SKELLY").await;
    assert_eq!((s, code(&v)), (400, "INVALID_SEARCH_DATA"));
    let (s, v) = search("family=SKELLY&birthdate=eq1925-04-21&_max-results=5").await;
    assert_eq!((s, code(&v)), (403, "INVALID_VALUE"));
    let (s, v) = search("family=SKE*&birthdate=eq1925-04-21").await;
    assert_eq!((s, code(&v)), (200, "TOO_MANY_MATCHES"));
    let (s, v) = search("family=HESLBY&given=Samuel&birthdate=eq1936-03-17&address-postalcode=TS18%203BL&address-postcode=x").await;
    assert_eq!((s, code(&v)), (400, "INVALID_SEARCH_DATA"));
}

#[tokio::test]
async fn retries_503_and_429_but_not_400() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    let n = nhs("9690937286");
    sim.fail_next(SimService::Pds, 2, 503, None);
    assert!(matches!(
        c.pds.read_patient(n, "corr").await.unwrap(),
        PdsOutcome::Found(_)
    ));
    assert_eq!(sim.counters().await.pds, 3, "two 503s then success");

    sim.reset();
    sim.fail_next(SimService::Pds, 1, 429, Some(1));
    assert!(matches!(
        c.pds.read_patient(n, "corr").await.unwrap(),
        PdsOutcome::Found(_)
    ));
    assert_eq!(
        sim.counters().await.pds,
        2,
        "429 with Retry-After, then success"
    );

    sim.reset();
    sim.fail_next(SimService::Pds, 1, 400, None);
    let e = c.pds.read_patient(n, "corr").await.unwrap_err();
    assert_eq!((e.service(), e.status()), ("pds", Some(400)));
    assert_eq!(sim.counters().await.pds, 1, "no retry on 400");

    sim.reset();
    sim.fail_next(SimService::Pds, 10, 503, None);
    let e = c.pds.read_patient(n, "corr").await.unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(e.status(), Some(503));
    assert_eq!(sim.counters().await.pds, 4, "first attempt + 3 retries");

    sim.reset();
    sim.fail_next(SimService::Pds, 10, 429, Some(1));
    let e = c.pds.read_patient(n, "corr").await.unwrap_err();
    assert_eq!(e.code(), Some(&SpineCode::TooManyRequests));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
}

#[tokio::test]
async fn a_slow_pds_times_out_per_hop() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.timeouts.pds = Duration::from_millis(200);
    cfg.retry.max_retries = 1;
    let c = clients(&cfg);
    c.tokens.token().await.unwrap();
    sim.set_faults(
        SimService::Pds,
        ServiceFaults {
            latency: Latency::Fixed { ms: 2_000 },
            ..Default::default()
        },
    );
    let e = c
        .pds
        .read_patient(nhs("9690937286"), "corr")
        .await
        .unwrap_err();
    assert!(e.is_timeout() && e.is_retryable(), "{e}");
    assert_eq!(sim.counters().await.pds, 2);
}
