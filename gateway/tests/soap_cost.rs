//! Cost of the SOAP layer alone (fake backend, no network): run with
//! `cargo test -p xhuma-gateway --release --test soap_cost -- --ignored --nocapture`.
//! Prints numbers for `docs/gateway-soap.md`; asserts nothing about time.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Instant;

use support::*;

#[tokio::test]
#[ignore = "measurement, not a test: prints per-request cost"]
async fn per_request_cost() {
    let (app, _) = standard_app();
    let mtom_ct = "multipart/related; type=\"application/xop+xml\"; boundary=\"MIMEBoundary_abc\"; start=\"<0.root@example>\"";
    let cases: [(&str, &str, &str, String); 3] = [
        (
            "iti55",
            "/SOAP/iti55",
            SOAP_CT,
            synthetic("iti55_request.xml"),
        ),
        (
            "iti38",
            "/SOAP/iti38",
            SOAP_CT,
            synthetic("iti38_request.xml"),
        ),
        (
            "iti39 mtom",
            "/SOAP/iti39",
            mtom_ct,
            synthetic("iti39_request_mtom.txt"),
        ),
    ];
    for (name, path, ct, body) in cases {
        let n = 2000;
        for _ in 0..100 {
            post(&app, path, ct, body.clone()).await;
        }
        let t = Instant::now();
        for _ in 0..n {
            let r = post(&app, path, ct, body.clone()).await;
            assert_eq!(r.status, 200);
        }
        let per = t.elapsed() / n;
        println!("{name}: {per:?} per request over {n} sequential requests");
    }
}
