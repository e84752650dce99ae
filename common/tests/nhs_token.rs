//! API-platform auth: the token endpoint's error table, token caching, single-flight refresh
//! under 100 concurrent callers, expiry and revocation, key rotation by `kid`.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::*;
use xhuma_common::config::Secret;
use xhuma_common::nhs::NhsClients;
use xhuma_common::patient::PdsOutcome;
use xhuma_simulator::Simulator;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn key(kid: &str) -> EncodingKey {
    let path = format!(
        "{}/../deploy/local/keys/{kid}.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    EncodingKey::from_rsa_pem(&std::fs::read(path).unwrap()).unwrap()
}

fn signed(kid: &str, signing_key: &str, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS512);
    h.kid = Some(kid.into());
    h.typ = Some("JWT".into());
    jsonwebtoken::encode(&h, claims, &key(signing_key)).unwrap()
}

/// A JWT with any header (the signature is junk: these rows fail before it is checked).
fn crafted(header: &Value, claims: &Value) -> String {
    let e = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2lnbmF0dXJl", e(header), e(claims))
}

fn claims(aud: &str) -> Value {
    json!({"iss": "xhuma-dev-api-key", "sub": "xhuma-dev-api-key", "aud": aud,
           "jti": uuid::Uuid::new_v4().to_string(), "exp": now() + 120})
}

async fn post(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = http().post(url).form(form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn assertion(url: &str, jwt: &str) -> (u16, Value) {
    post(
        url,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", jwt),
        ],
    )
    .await
}

#[tokio::test]
async fn token_endpoint_answers_every_error_row() {
    let sim = sim().await;
    let url = format!("{}/oauth2/token", sim.base_url());
    let hdr = json!({"alg": "RS512", "typ": "JWT", "kid": "test-1"});
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(&url);
        f(&mut c);
        c
    };
    let mut rows: Vec<(String, u16, &str, &str)> = vec![
        (
            crafted(&json!({"typ": "JWT", "kid": "test-1"}), &claims(&url)),
            400,
            "invalid_request",
            "Missing 'alg' header",
        ),
        (
            crafted(
                &json!({"alg": "HS256", "typ": "JWT", "kid": "test-1"}),
                &claims(&url),
            ),
            400,
            "invalid_request",
            "unsupported JWT algorithm",
        ),
        (
            crafted(
                &hdr,
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
            400,
            "invalid_request",
            "Missing 'exp' claim",
        ),
        (
            crafted(&hdr, &with(&|c| c["exp"] = json!("soon"))),
            400,
            "invalid_request",
            "must be an integer",
        ),
        (
            crafted(&hdr, &with(&|c| c["exp"] = json!(now() - 5))),
            400,
            "invalid_request",
            "JWT has expired",
        ),
        (
            crafted(&json!({"alg": "RS512", "typ": "JWT"}), &claims(&url)),
            400,
            "invalid_request",
            "Missing 'kid' header",
        ),
        (
            crafted(
                &json!({"alg": "RS512", "typ": "JOSE", "kid": "test-1"}),
                &claims(&url),
            ),
            400,
            "invalid_request",
            "Invalid 'typ' header",
        ),
        (
            crafted(&hdr, &with(&|c| c["sub"] = json!("someone-else"))),
            400,
            "invalid_request",
            "Missing or non-matching 'iss'/'sub'",
        ),
        (
            crafted(
                &hdr,
                &with(&|c| {
                    c["iss"] = json!("unknown-app");
                    c["sub"] = json!("unknown-app");
                }),
            ),
            401,
            "invalid_request",
            "Invalid 'iss'/'sub'",
        ),
        (
            crafted(
                &hdr,
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
            ),
            400,
            "invalid_request",
            "Missing 'jti' claim",
        ),
        (
            crafted(&hdr, &with(&|c| c["jti"] = json!(42))),
            400,
            "invalid_request",
            "Invalid 'jti' claim",
        ),
        (
            crafted(&hdr, &with(&|c| c["exp"] = json!(now() + 600))),
            400,
            "invalid_request",
            "more than 5 minutes in future",
        ),
        (
            crafted(
                &json!({"alg": "RS512", "typ": "JWT", "kid": "test-9"}),
                &claims(&url),
            ),
            401,
            "invalid_request",
            "no matching public key",
        ),
        (
            signed("test-1", "test-2", &claims(&url)),
            401,
            "public_key error",
            "JWT signature verification failed",
        ),
        (
            signed(
                "test-1",
                "test-1",
                &claims("https://int.api.service.nhs.uk/oauth2/token"),
            ),
            401,
            "invalid_request",
            "'aud' claim",
        ),
        ("not-a-jwt".into(), 400, "invalid_request", "Malformed JWT"),
    ];
    // jti replay: the same assertion twice.
    let once = signed("test-1", "test-1", &claims(&url));
    assert_eq!(assertion(&url, &once).await.0, 200);
    rows.push((once, 400, "invalid_request", "Non-unique 'jti' claim"));
    for (jwt, status, error, description) in rows {
        let (s, body) = assertion(&url, &jwt).await;
        assert_eq!(
            (s, body["error"].as_str().unwrap()),
            (status, error),
            "{description}: {body}"
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(description),
            "{description}: {body}"
        );
    }
    type Form<'a> = Vec<(&'a str, &'a str)>;
    let form_rows: Vec<(Form, u16, &str, &str)> = vec![
        (vec![], 400, "invalid_request", "grant_type is missing"),
        (
            vec![("grant_type", "password")],
            400,
            "unsupported_grant_type",
            "grant_type is invalid",
        ),
        (
            vec![("grant_type", "client_credentials")],
            400,
            "invalid_request",
            "client_assertion_type",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_assertion_type", ASSERTION_TYPE),
            ],
            400,
            "invalid_request",
            "Missing client_assertion",
        ),
    ];
    for (form, status, error, description) in form_rows {
        let (s, body) = post(&url, &form).await;
        assert_eq!(
            (s, body["error"].as_str().unwrap()),
            (status, error),
            "{description}"
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(description)
        );
    }
}

#[tokio::test]
async fn a_good_assertion_gets_a_platform_shaped_token() {
    let sim = sim().await;
    let url = format!("{}/oauth2/token", sim.base_url());
    let (s, body) = assertion(&url, &signed("test-2", "test-2", &claims(&url))).await;
    assert_eq!(s, 200);
    assert_eq!(
        body["expires_in"], "599",
        "expires_in is a string, as the platform sends it"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["issued_at"].is_string());
}

#[tokio::test]
async fn one_token_request_for_100_concurrent_callers() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.pds.read_patient(nhs("9690937286"), "corr").await })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap().unwrap(), PdsOutcome::Found(_)));
    }
    let counters = sim.counters().await;
    assert_eq!(
        counters.oauth, 1,
        "single flight: exactly one token request"
    );
    assert_eq!(counters.pds, 100);
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_once_under_concurrency() {
    let sim = start(Simulator::builder().token_lifetime(Duration::from_secs(2))).await;
    let c = clients(&config(&sim));
    c.pds.read_patient(nhs("9690937286"), "corr").await.unwrap();
    assert_eq!(sim.counters().await.oauth, 1);
    // With a 2 s lifetime the client refreshes 1 s before expiry.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The next token lasts long enough that a slow machine cannot need a third one.
    sim.set_token_lifetime(Duration::from_secs(599));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.pds.read_patient(nhs("9690937286"), "corr").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(sim.counters().await.oauth, 2, "one refresh for 100 callers");
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once_after_401() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    c.pds.read_patient(nhs("9690937286"), "corr").await.unwrap();
    sim.revoke_tokens();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.pds.read_patient(nhs("9690937286"), "corr").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(sim.counters().await.oauth, 2);
}

#[tokio::test]
async fn the_second_key_signs_after_rotation() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.active_kid = "test-2".into();
    let c = clients(&cfg);
    assert!(matches!(
        c.pds.read_patient(nhs("9690937286"), "corr").await.unwrap(),
        PdsOutcome::Found(_)
    ));
}

#[tokio::test]
async fn an_unknown_api_key_is_an_oauth_error_without_retries() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.api_key = Secret::new("not-registered");
    let c = NhsClients::new(&cfg).unwrap();
    let e = c
        .pds
        .read_patient(nhs("9690937286"), "corr")
        .await
        .unwrap_err();
    assert_eq!(e.service(), "oauth");
    assert_eq!(e.status(), Some(401));
    assert!(!e.is_retryable());
    assert_eq!(sim.counters().await.oauth, 1);
    assert_eq!(sim.counters().await.pds, 0);
}

#[tokio::test]
async fn pds_refuses_missing_and_unknown_tokens() {
    let sim = sim().await;
    let url = format!(
        "{}/personal-demographics/FHIR/R4/Patient/9690937286",
        sim.base_url()
    );
    for auth in [None, Some("Bearer nope")] {
        let mut req = http()
            .get(&url)
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string());
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["issue"][0]["details"]["coding"][0]["code"],
            "ACCESS_DENIED"
        );
    }
}

#[tokio::test]
async fn a_failing_token_fetch_is_shared_not_repeated_by_every_waiter() {
    let sim = sim().await;
    let c = clients(&config(&sim));
    sim.fail_next(xhuma_simulator::SimService::Oauth, 1_000, 400, None);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.pds.read_patient(nhs("9690937286"), "corr").await })
        })
        .collect();
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert_eq!((e.service(), e.status()), ("oauth", Some(400)));
        assert!(!e.is_retryable());
    }
    assert_eq!(sim.counters().await.oauth, 1, "waiters share the failure");
    assert_eq!(sim.counters().await.pds, 0);
}
