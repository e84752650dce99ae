//! NHS clients never follow a redirect: a PDS (or SDS, or SSP) answer of `302 Location: X`
//! must not send the apikey, the bearer token or the request to X.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::any;
use support::*;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_redirect_is_an_error_and_is_not_followed() {
    let sim = sim().await;
    // Where a hostile or misconfigured upstream would send us, counting who arrives.
    let stolen = Arc::new(AtomicUsize::new(0));
    let s = stolen.clone();
    let thief = serve(Router::new().fallback(any(move |h: HeaderMap| {
        let s = s.clone();
        async move {
            if h.contains_key("apikey") || h.contains_key(header::AUTHORIZATION) {
                s.fetch_add(100, Ordering::SeqCst);
            }
            s.fetch_add(1, Ordering::SeqCst);
            "{}"
        }
    })))
    .await;
    let target = format!("{thief}/personal-demographics/FHIR/R4/Patient/9690937286");
    let redirector = serve(Router::new().fallback(any(move || {
        let target = target.clone();
        async move { (StatusCode::FOUND, [(header::LOCATION, target)]).into_response() }
    })))
    .await;
    let mut cfg = config(&sim);
    cfg.pds_url = format!("{redirector}/personal-demographics/FHIR/R4");
    let c = clients(&cfg);
    let read = c.pds.read_patient(nhs("9690937286"), "corr").await;
    assert!(read.is_err(), "a 302 is not a PDS answer: {read:?}");
    assert_eq!(
        stolen.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}
