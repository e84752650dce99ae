//! One small request cannot make the gateway build a large tree (issue "Bounded under
//! attack"): the two bombs that drove it past 2 GiB are refused with a SOAP fault, before any
//! backend call. Their memory cost is measured by `loadtest/bombs` (docs/reliability.md).
#![allow(clippy::unwrap_used)]

mod support;

use support::*;

const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";

/// 1 MiB attachment referenced by 1,700 `xop:Include`s in a 1.04 MiB MTOM request.
fn include_bomb() -> (String, Vec<u8>) {
    let part = vec![b'A'; 1024 * 1024];
    let includes: String = (0..1700)
        .map(|_| r#"<xop:Include href="cid:big@x"/>"#)
        .collect();
    let root = format!(
        r#"<s:Envelope xmlns:s="{SOAP12}"><s:Header><a:Action xmlns:a="http://www.w3.org/2005/08/addressing">urn:ihe:iti:2007:CrossGatewayRetrieve</a:Action></s:Header><s:Body><x:R xmlns:x="urn:ihe:iti:xds-b:2007"><x:D xmlns:xop="http://www.w3.org/2004/08/xop/include">{includes}</x:D></x:R></s:Body></s:Envelope>"#
    );
    let mut body = Vec::new();
    body.extend_from_slice(b"--B\r\nContent-Type: application/xop+xml; type=\"application/soap+xml\"\r\nContent-ID: <root@x>\r\n\r\n");
    body.extend_from_slice(root.as_bytes());
    body.extend_from_slice(
        b"\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-ID: <big@x>\r\n\r\n",
    );
    body.extend_from_slice(&part);
    body.extend_from_slice(b"\r\n--B--\r\n");
    let ct = r#"multipart/related; boundary=B; type="application/xop+xml"; start="<root@x>"; start-info="application/soap+xml""#;
    (ct.to_string(), body)
}

/// A 1 MiB namespace URI used by 2,100 elements (1.01 MiB in all).
fn namespace_bomb() -> String {
    let uri = format!("urn:{}", "u".repeat(1024 * 1024));
    let elements: String = (0..2100).map(|_| "<b:e/>").collect();
    format!(
        r#"<s:Envelope xmlns:s="{SOAP12}"><s:Body><b:x xmlns:b="{uri}">{elements}</b:x></s:Body></s:Envelope>"#
    )
}

#[tokio::test]
async fn include_bomb_is_refused() {
    let (app, backend) = standard_app();
    let (ct, body) = include_bomb();
    assert!(body.len() < 1_120_000, "{}", body.len());
    let r = post(&app, "/SOAP/iti39", &ct, body).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("included once"), "{}", r.text());
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn namespace_bomb_is_refused() {
    let (app, backend) = standard_app();
    let body = namespace_bomb();
    assert!(body.len() < 1_100_000);
    let r = post_soap(&app, "/SOAP/iti38", body).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("size limits"), "{}", r.text());
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn a_part_included_once_still_works() {
    // The legitimate shape: one Include per part, within the message size.
    let (ct, body) = include_bomb();
    let one = String::from_utf8_lossy(&body).replacen(
        &r#"<xop:Include href="cid:big@x"/>"#.repeat(1700),
        r#"<xop:Include href="cid:big@x"/>"#,
        1,
    );
    let (app, _) = standard_app();
    let r = post(&app, "/SOAP/iti39", &ct, one.into_bytes()).await;
    // Not a budget fault (the payload itself is not a valid retrieve request).
    assert!(!r.text().contains("included once"), "{}", r.text());
}
