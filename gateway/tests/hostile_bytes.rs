//! Truncated and corrupted versions of every synthetic request: each gets a SOAP answer (a
//! business response or a Sender fault), never a panic or a Receiver fault.
#![allow(clippy::unwrap_used)]

mod support;

use support::*;

/// A small deterministic generator, so a failure names a reproducible case.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

async fn assert_handled(app: &axum::Router, path: &str, ct: &str, body: Vec<u8>, case: &str) {
    let r = post(app, path, ct, body).await;
    let status = r.status.as_u16();
    assert!(
        matches!(status, 200 | 400 | 413 | 415),
        "{case}: status {status}: {}",
        r.text()
    );
    assert!(
        r.content_type().starts_with("application/soap+xml")
            || r.content_type().starts_with("multipart/related"),
        "{case}: {}",
        r.content_type()
    );
}

#[tokio::test]
async fn truncations_and_mutations_never_panic() {
    let (app, _) = standard_app();
    let mtom_ct = "multipart/related; type=\"application/xop+xml\"; boundary=\"MIMEBoundary_abc\"; start=\"<0.root@example>\"";
    let cases = [
        ("/SOAP/iti55", SOAP_CT, synthetic("iti55_request.xml")),
        ("/SOAP/iti38", SOAP_CT, synthetic("iti38_request.xml")),
        ("/SOAP/iti39", mtom_ct, synthetic("iti39_request_mtom.txt")),
    ];
    let mut rng = Lcg(0x5eed);
    for (path, ct, original) in cases {
        let bytes = original.into_bytes();
        for cut in (0..bytes.len()).step_by(11) {
            let case = format!("{path} truncated at {cut}");
            assert_handled(&app, path, ct, bytes[..cut].to_vec(), &case).await;
        }
        for i in 0..300 {
            let mut b = bytes.clone();
            let flips = 1 + rng.next() % 4;
            for _ in 0..flips {
                let at = (rng.next() as usize) % b.len();
                b[at] = match rng.next() % 4 {
                    0 => b'<',
                    1 => b'&',
                    2 => (rng.next() % 256) as u8,
                    _ => b'"',
                };
            }
            let case = format!("{path} mutation {i}");
            assert_handled(&app, path, ct, b, &case).await;
        }
    }
}
