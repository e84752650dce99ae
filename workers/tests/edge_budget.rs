//! Bounded under attack, against the running stack (real RabbitMQ, Redis, nhs-sim, workers; a
//! gateway requiring signed SAML as production does):
//! - an envelope of comments, PIs or empty elements (each a libxml2 node, ~200 bytes) is
//!   refused before libxml2 builds a tree (by the SAML pre-pass, or by the envelope's own tree
//!   budget), with nothing looked up (docs/reliability.md, hostile finding 1);
//! - while in-limit but heavy requests are parsed, other callers' requests are still served:
//!   parsing and signature checks run on the blocking pool, not on the runtime threads that
//!   answer everyone else and talk to Redis (hostile finding 3).

mod support;

use support::saml::{signed, strict};
use support::{Stack, iti55};
use xhuma_simulator::{SimService, Simulator};

const ALICE: &str = "9690937286";

/// `envelope` with `filler` in a header block of its own (outside everything signed).
fn with_header_block(envelope: &str, filler: &str) -> String {
    envelope.replacen(
        "<s:Header>",
        &format!("<s:Header><h:x xmlns:h=\"urn:example:filler\">{filler}</h:x>"),
        1,
    )
}

/// A valid signed ITI-55 of ~2 MB: 20,000 livingSubjectIds with an invalid number before the
/// real one (what `loadtest/hostile`'s `concurrency/*` cases send).
fn heavy_iti55() -> String {
    let bad = r#"<livingSubjectId><value root="2.16.840.1.113883.2.1.4.1" extension="1234567890"/></livingSubjectId>"#
        .repeat(20_000);
    signed(&iti55(ALICE), ALICE).replacen(
        "<livingSubjectId>",
        &format!("{bad}<livingSubjectId>"),
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_bombs_are_refused_and_heavy_requests_starve_no_one() {
    let stack = Stack::start(Simulator::builder(), strict()).await;
    let before = stack.sim.counters().await;

    // 1. Node bombs of just under 4 MiB, in otherwise valid signed requests.
    for (what, filler) in [
        ("comments", "<!---->a".repeat(500_000)),
        ("PIs", "<?x?>".repeat(800_000)),
        ("empty elements", "<h:w/>".repeat(99_000)),
    ] {
        let bomb = with_header_block(&signed(&iti55(ALICE), ALICE), &filler);
        assert!(bomb.len() < 4 * 1024 * 1024, "{what}: {}", bomb.len());
        let (status, body) = stack.post("/SOAP/iti55", bomb).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains("env:Sender"), "{what}: {body}");
        // Comments and PIs reach the SAML pre-pass; 99,000 elements already exceed what the
        // envelope's own tree may cost (16 × the body).
        let why = if what == "empty elements" {
            "size limits"
        } else {
            "InvalidSecurity"
        };
        assert!(body.contains(why), "{what}: {body}");
    }
    let after = stack.sim.counters().await;
    assert_eq!(
        after.get(SimService::Pds),
        before.get(SimService::Pds),
        "PDS was asked about a refused request"
    );

    // 2. Four heavy requests at once, and six ordinary ones while they are parsed.
    let heavy: Vec<_> = (0..4)
        .map(|_| {
            let (http, url, body) = (stack.http.clone(), stack.gateway.clone(), heavy_iti55());
            tokio::spawn(async move {
                let r = http
                    .post(format!("{url}/SOAP/iti55"))
                    .header("content-type", "application/soap+xml; charset=utf-8")
                    .body(body)
                    .send()
                    .await
                    .expect("heavy request answered");
                r.status().as_u16()
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for k in 0..6 {
        let (status, body) = stack
            .post("/SOAP/iti55", signed(&iti55(ALICE), ALICE))
            .await;
        assert_eq!(
            status, 200,
            "ordinary request {k} beside heavy ones: {body}"
        );
        assert!(body.contains("code=\"AA\""), "{body}");
    }
    for h in heavy {
        let status = h.await.expect("heavy task");
        assert!(status < 500, "a heavy request got {status}");
    }
    stack.stop().await;
}
