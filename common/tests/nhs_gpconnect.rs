//! GP Connect through the SSP: every provider error row (by scenario patient or named case),
//! every SSP check, the JWT and Parameters checks, areas not requested not returned, and
//! retry on 5xx but not 4xx.
#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use support::*;
use xhuma_common::nhs::{
    ClinicalArea, INTERACTION_GET_STRUCTURED, ProviderEndpoint, build_jwt, build_parameters,
};
use xhuma_simulator::{GpcCase, SimService, scenarios};

#[tokio::test]
async fn scenario_patients_give_each_provider_error() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    let ep = demo_endpoint(&c).await;
    let mut expected: Vec<(String, u16, &str)> = vec![
        (scenarios::NO_CONSENT.into(), 403, "NO_PATIENT_CONSENT"),
        (scenarios::DECEASED.into(), 404, "PATIENT_NOT_FOUND"),
        (scenarios::RESTRICTED[0].into(), 404, "PATIENT_NOT_FOUND"),
        (
            scenarios::INACTIVE_REGISTRATION.into(),
            404,
            "PATIENT_NOT_FOUND",
        ),
        (
            scenarios::NOT_ON_PDS.into(),
            400,
            "INVALID_PATIENT_DEMOGRAPHICS",
        ),
        ("9999999999".into(), 404, "PATIENT_NOT_FOUND"),
        // Registered at A82038, not B82617.
        ("9465698490".into(), 404, "PATIENT_NOT_FOUND"),
    ];
    for (case, n) in scenarios::error_case_numbers() {
        let (status, _, code, _) = case.provider().unwrap();
        expected.push((n.to_string(), status, code));
    }
    for (n, status, code) in expected {
        let e = c
            .gpconnect
            .get_structured_record(nhs(&n), &ep, &requester(), &trace())
            .await
            .unwrap_err();
        assert_eq!(
            (e.service(), e.status(), e.spine_code()),
            ("gpconnect", Some(status), Some(code)),
            "patient {n}"
        );
    }
}

#[tokio::test]
async fn named_cases_can_be_set_per_patient_and_globally() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    let ep = demo_endpoint(&c).await;
    let n = nhs("9690937286");
    sim.set_gpconnect_case(Some(n), Some(GpcCase::NoRelationship));
    let e = c
        .gpconnect
        .get_structured_record(n, &ep, &requester(), &trace())
        .await
        .unwrap_err();
    assert_eq!(e.spine_code(), Some("NO_RELATIONSHIP"));
    sim.set_gpconnect_case(Some(n), None);
    sim.set_gpconnect_case(None, Some(GpcCase::AccessDenied));
    let e = c
        .gpconnect
        .get_structured_record(n, &ep, &requester(), &trace())
        .await
        .unwrap_err();
    assert_eq!(
        e.spine_code(),
        Some("ACCESS DENIED"),
        "spelt with a space, as the spec does"
    );
    sim.set_gpconnect_case(None, None);
    assert!(
        c.gpconnect
            .get_structured_record(n, &ep, &requester(), &trace())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn ssp_checks_asids_target_and_interaction() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    let ep = demo_endpoint(&c).await;
    let n = nhs("9690937286");
    let fetch = |cfg: xhuma_common::nhs::NhsConfig, ep: ProviderEndpoint| async move {
        clients(&cfg)
            .gpconnect
            .get_structured_record(n, &ep, &requester(), &trace())
            .await
            .unwrap_err()
    };
    let mut cfg = config(&sim);
    cfg.consumer_asid = "100000000001".into();
    let e = fetch(cfg, ep.clone()).await;
    assert_eq!(
        (e.status(), e.spine_code()),
        (
            Some(403),
            Some("ASID_CHECK_FAILED_MESSAGESENDER_100000000001")
        )
    );
    let wrong_to = ProviderEndpoint {
        asid: "999".into(),
        ..ep.clone()
    };
    let e = fetch(config(&sim), wrong_to).await;
    assert_eq!(
        (e.status(), e.spine_code()),
        (
            Some(403),
            Some("PARTYKEY_INTERACTION_CHECK_FAILED_MESSAGERECEIVER_999")
        )
    );
    // The SSP compares the target with the SDS registration exactly: a host alias breaks it.
    let alias = ProviderEndpoint {
        address: ep.address.replace("127.0.0.1", "localhost"),
        ..ep.clone()
    };
    let e = fetch(config(&sim), alias).await;
    assert_eq!(e.status(), Some(400));
    assert!(e.spine_code().unwrap().starts_with("ENDPOINT_"), "{e:?}");
    assert!(e.spine_code().unwrap().contains("_VARIES_FROM_TARGETURL_"));
    for (case, status, prefix) in [
        (
            GpcCase::SspFotCheckFailed,
            403,
            "FOT_CHECK_FAILED_MESSAGESENDER_",
        ),
        (
            GpcCase::SspBadGateway,
            502,
            "ERROR_COMMUNICATING_TO_ENDPOINT_URL_",
        ),
    ] {
        sim.set_gpconnect_case(Some(n), Some(case));
        let e = fetch(config(&sim), ep.clone()).await;
        assert_eq!(e.status(), Some(status));
        assert!(e.spine_code().unwrap().starts_with(prefix));
    }
}

/// Sends a hand-made request through the SSP.
async fn raw(
    sim: &xhuma_simulator::SimHandle,
    ep: &ProviderEndpoint,
    jwt: &str,
    body: String,
    content_type: &str,
    interaction: &str,
) -> (u16, Value) {
    let url = format!(
        "{}/ssp/{}/Patient/$gpc.getstructuredrecord",
        sim.base_url(),
        ep.address
    );
    let r = http()
        .post(url)
        .bearer_auth(jwt)
        .header("Content-Type", content_type)
        .header("Ssp-TraceID", trace())
        .header("Ssp-From", "200000002574")
        .header("Ssp-To", &ep.asid)
        .header("Ssp-InteractionID", interaction)
        .body(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap())
}

fn code(v: &Value) -> String {
    let c = &v["issue"][0]["details"]["coding"][0];
    if c["system"] == "http://fhir.nhs.net/ValueSet/gpconnect-schedule-response-code-1-0" {
        c["display"].as_str().unwrap_or("").to_string()
    } else {
        c["code"].as_str().unwrap_or("").to_string()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn tamper(jwt: &str, f: impl Fn(&mut Value)) -> String {
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    f(&mut claims);
    format!(
        "{}.{}.",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[tokio::test]
async fn provider_checks_jwt_headers_and_parameters() {
    let sim = sim().await;
    let cfg = config(&sim);
    let c = clients(&cfg);
    let ep = demo_endpoint(&c).await;
    let jwt = build_jwt(&cfg, &requester(), &ep.address, now());
    let body = build_parameters(nhs("9690937286"), &cfg).to_string();
    let fj = "application/fhir+json;charset=utf-8";
    assert_eq!(
        raw(
            &sim,
            &ep,
            &jwt,
            body.clone(),
            fj,
            INTERACTION_GET_STRUCTURED
        )
        .await
        .0,
        200
    );

    let jwt_rows = [
        (
            tamper(&jwt, |c| {
                c.as_object_mut().unwrap().remove("requesting_device");
            }),
            400,
            "BAD_REQUEST",
        ),
        (
            tamper(&jwt, |c| c["exp"] = json!(c["iat"].as_u64().unwrap() + 301)),
            400,
            "BAD_REQUEST",
        ),
        (
            tamper(&jwt, |c| {
                c["iat"] = json!(now() - 700);
                c["exp"] = json!(now() - 400);
            }),
            400,
            "BAD_REQUEST",
        ),
        (
            tamper(&jwt, |c| c["aud"] = json!("https://elsewhere/")),
            400,
            "BAD_REQUEST",
        ),
        (
            tamper(&jwt, |c| {
                c["requesting_device"]["resourceType"] = json!("Patient")
            }),
            422,
            "INVALID_RESOURCE",
        ),
        ("not.a-jwt".to_string(), 400, "BAD_REQUEST"),
    ];
    for (bad_jwt, status, c) in jwt_rows {
        let (s, v) = raw(
            &sim,
            &ep,
            &bad_jwt,
            body.clone(),
            fj,
            INTERACTION_GET_STRUCTURED,
        )
        .await;
        assert_eq!((s, code(&v)), (status, c.to_string()));
    }
    let p = |params: Value| json!({"resourceType": "Parameters", "parameter": params}).to_string();
    let id = |v: &str, sys: &str| json!({"name": "patientNHSNumber", "valueIdentifier": {"system": sys, "value": v}});
    let nhs_sys = "https://fhir.nhs.uk/Id/nhs-number";
    let body_rows = [
        ("{".to_string(), 422, "INVALID_RESOURCE"),
        (
            p(json!([id("1234567890", nhs_sys), {"name": "includeProblems"}])),
            400,
            "INVALID_NHS_NUMBER",
        ),
        (
            p(json!([id("9690937286", "urn:other"), {"name": "includeProblems"}])),
            400,
            "INVALID_IDENTIFIER_SYSTEM",
        ),
        (
            p(json!([{"name": "includeProblems"}])),
            422,
            "INVALID_PARAMETER",
        ),
        (
            p(json!([id("9690937286", nhs_sys), {"name": "includeAllergies"}])),
            422,
            "INVALID_PARAMETER",
        ),
        (
            p(
                json!([id("9690937286", nhs_sys), {"name": "includeProblems", "part": [{"name": "filterStatus", "valueCode": "maybe"}]}]),
            ),
            422,
            "INVALID_PARAMETER",
        ),
        (
            p(
                json!([id("9690937286", nhs_sys), {"name": "includeConsultations", "part": [
            {"name": "consultationSearchPeriod", "valuePeriod": {"start": "2017-01-01"}},
            {"name": "includeNumberOfMostRecent", "valuePositiveInt": 3}]}]),
            ),
            422,
            "INVALID_RESOURCE",
        ),
    ];
    for (b, status, c) in body_rows {
        let (s, v) = raw(&sim, &ep, &jwt, b.clone(), fj, INTERACTION_GET_STRUCTURED).await;
        assert_eq!((s, code(&v)), (status, c.to_string()), "{b}");
    }
    let (s, v) = raw(
        &sim,
        &ep,
        &jwt,
        body.clone(),
        "text/plain",
        INTERACTION_GET_STRUCTURED,
    )
    .await;
    assert_eq!((s, code(&v)), (415, "Unsupported_Media_Type".to_string()));
    let (s, v) = raw(
        &sim,
        &ep,
        &jwt,
        body.clone(),
        fj,
        "urn:nhs:names:services:gpconnect:fhir:operation:gpc.migratestructuredrecord-1",
    )
    .await;
    assert_eq!(s, 403);
    assert!(code(&v).starts_with("PARTYKEY_INTERACTION_CHECK_FAILED"));
    let r = http()
        .put(format!(
            "{}/ssp/{}/Patient/$gpc.getstructuredrecord",
            sim.base_url(),
            ep.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
}

fn resource_types(bundle: &[u8]) -> Vec<String> {
    let b: Value = serde_json::from_slice(bundle).unwrap();
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap().to_string())
        .collect()
}

fn list_codes(bundle: &[u8]) -> Vec<String> {
    let b: Value = serde_json::from_slice(bundle).unwrap();
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "List")
        .filter_map(|e| {
            e["resource"]["code"]["coding"][0]["code"]
                .as_str()
                .map(String::from)
        })
        .collect()
}

#[tokio::test]
async fn areas_not_requested_are_not_returned() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    let ep = demo_endpoint(&clients(&cfg)).await;
    let n = nhs("9690937286");
    let full = clients(&cfg)
        .gpconnect
        .get_structured_record(n, &ep, &requester(), &trace())
        .await
        .unwrap();
    cfg.areas = vec![ClinicalArea::Allergies];
    let allergies = clients(&cfg)
        .gpconnect
        .get_structured_record(n, &ep, &requester(), &trace())
        .await
        .unwrap();
    cfg.include_resolved_allergies = false;
    let active_only = clients(&cfg)
        .gpconnect
        .get_structured_record(n, &ep, &requester(), &trace())
        .await
        .unwrap();

    assert!(
        resource_types(&full)
            .iter()
            .any(|t| t == "MedicationStatement")
    );
    assert!(list_codes(&full).contains(&"933361000000108".to_string()));
    let types = resource_types(&allergies);
    assert!(types.iter().any(|t| t == "AllergyIntolerance"));
    assert!(
        types.iter().any(|t| t == "Patient"),
        "administrative resources stay"
    );
    assert!(
        !types
            .iter()
            .any(|t| t == "MedicationStatement" || t == "Immunization" || t == "Encounter"),
        "{types:?}"
    );
    assert_eq!(
        list_codes(&allergies),
        ["886921000000105", "1103671000000101"]
    );
    assert_eq!(list_codes(&active_only), ["886921000000105"]);
    assert!(allergies.len() < full.len() / 4);
}

#[tokio::test]
async fn retries_5xx_but_not_4xx() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    let ep = demo_endpoint(&c).await;
    let n = nhs("9690937286");
    sim.fail_next(SimService::Gpconnect, 2, 503, None);
    assert!(
        c.gpconnect
            .get_structured_record(n, &ep, &requester(), &trace())
            .await
            .is_ok()
    );
    assert_eq!(sim.counters().await.gpconnect, 3);

    sim.reset();
    sim.fail_next(SimService::Gpconnect, 1, 400, None);
    let e = c
        .gpconnect
        .get_structured_record(n, &ep, &requester(), &trace())
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert_eq!(sim.counters().await.gpconnect, 1, "no retry on 400");

    sim.reset();
    let nc = nhs(scenarios::NO_CONSENT);
    let e = c
        .gpconnect
        .get_structured_record(nc, &ep, &requester(), &trace())
        .await
        .unwrap_err();
    assert!(!e.is_retryable());
    assert_eq!(sim.counters().await.ssp, 1);

    sim.reset();
    sim.fail_next(SimService::Ssp, 1, 502, None);
    assert!(
        c.gpconnect
            .get_structured_record(n, &ep, &requester(), &trace())
            .await
            .is_ok()
    );
    assert_eq!(sim.counters().await.ssp, 2, "an SSP 502 is transient");
}

#[tokio::test]
async fn unrecognised_parameters_are_a_warning_inside_the_bundle() {
    let sim = sim().await;
    let cfg = config(&sim);
    let ep = demo_endpoint(&clients(&cfg)).await;
    let jwt = build_jwt(&cfg, &requester(), &ep.address, now());
    let body = json!({"resourceType": "Parameters", "parameter": [
        {"name": "patientNHSNumber", "valueIdentifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9690937286"}},
        {"name": "includeAllergies", "part": [
            {"name": "includeResolvedAllergies", "valueBoolean": true},
            {"name": "includeSneezes", "valueBoolean": true}]},
        {"name": "includeTeeth"}
    ]});
    let (s, v) = raw(
        &sim,
        &ep,
        &jwt,
        body.to_string(),
        "application/fhir+json",
        INTERACTION_GET_STRUCTURED,
    )
    .await;
    assert_eq!(s, 200);
    let oo = v["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "OperationOutcome")
        .expect("a warning OperationOutcome");
    let diags: Vec<_> = oo["resource"]["issue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["diagnostics"].as_str().unwrap())
        .collect();
    assert_eq!(diags, ["includeAllergies.includeSneezes", "includeTeeth"]);
    assert_eq!(oo["resource"]["issue"][0]["severity"], "warning");
    assert_eq!(
        oo["resource"]["issue"][0]["details"]["coding"][0]["code"],
        "NOT_IMPLEMENTED"
    );
}

#[tokio::test]
async fn prescription_issues_are_left_out_when_not_requested() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    let ep = demo_endpoint(&clients(&cfg)).await;
    let n = nhs("9690937286");
    let intents = |bytes: &[u8]| -> Vec<String> {
        let b: Value = serde_json::from_slice(bytes).unwrap();
        b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["resource"]["resourceType"] == "MedicationRequest")
            .map(|e| e["resource"]["intent"].as_str().unwrap_or("").to_string())
            .collect()
    };
    cfg.areas = vec![ClinicalArea::Medication];
    let with = clients(&cfg)
        .gpconnect
        .get_structured_record(n, &ep, &requester(), &trace())
        .await
        .unwrap();
    cfg.include_prescription_issues = false;
    let without = clients(&cfg)
        .gpconnect
        .get_structured_record(n, &ep, &requester(), &trace())
        .await
        .unwrap();
    assert!(intents(&with).iter().any(|i| i == "order"));
    assert!(intents(&without).iter().all(|i| i == "plan"));
    assert!(!intents(&without).is_empty());
}
