//! Trust at the edge against the running stack (real RabbitMQ, Redis, PostgreSQL, nhs-sim,
//! workers; gateways requiring signed SAML): the Epic-shaped flow works, and each attack of
//! "Trust at the edge" is refused and lands in the audit trail as a security alert.
//!
//! Requests are `deploy/local/examples` signed at the real clock by the test IdP
//! (`loadtest/idp`) with the keys of `gateway/tests/data/saml` (RSA-SHA1 with holder-of-key,
//! as Epic sends).

mod support;

use support::saml::{signed, strict};
use support::{Stack, eventually, iti38, iti39, iti55, unique_id};
use xhuma_simulator::{SimService, Simulator};

/// Two patients the simulator knows, both registered with a practice.
const ALICE: &str = "9690937286";
const BOB: &str = "9690937278";

fn refused(status: u16, body: &str, what: &str) {
    assert_eq!(status, 400, "{what}: {body}");
    assert!(body.contains("env:Sender"), "{what}: {body}");
    assert!(!body.contains("ClinicalDocument"), "{what}: {body}");
}

/// The forged-identity attack: the genuine signed assertion hidden from one parser by a
/// namespace written with a character reference, a forged copy (other subject) beside it.
fn forged(envelope: &str) -> String {
    let start = envelope.find("<saml2:Assertion").expect("assertion");
    let end = envelope.find("</saml2:Assertion>").expect("end") + "</saml2:Assertion>".len();
    let genuine = &envelope[start..end];
    let id_start = genuine.find("ID=\"").expect("ID") + 4;
    let id = &genuine[id_start..id_start + genuine[id_start..].find('"').expect("quote")];
    let forged = genuine
        .replace(&format!("ID=\"{id}\""), "ID=\"_forged\"")
        .replace(&format!("URI=\"#{id}\""), "URI=\"#_forged\"")
        .replace("CONE, Stephen", "MALLORY, Eve");
    let hidden = genuine.replacen(
        "urn:oasis:names:tc:SAML:2.0:assertion",
        "urn:oasis:names:tc:SAML:2.0:&#97;ssertion",
        1,
    );
    format!("{}{hidden}{forged}{}", &envelope[..start], &envelope[end..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attacks_at_the_edge_are_refused_and_audited() {
    let stack = Stack::start(Simulator::builder(), strict()).await;
    let second = stack.another_gateway().await;
    let (schema, stop) = support::start_auditor(&stack).await;

    // 1. The Epic-shaped flow for Alice: ITI-55 → ITI-38 → ITI-39, each its own signed message.
    let (status, body) = stack
        .post("/SOAP/iti55", signed(&iti55(ALICE), ALICE))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("code=\"AA\""), "{body}");
    let (status, body) = stack
        .post("/SOAP/iti38", signed(&iti38(ALICE), ALICE))
        .await;
    assert_eq!(status, 200, "{body}");
    let uid = unique_id(&body).expect("Alice's document");
    let (status, body) = stack.post("/SOAP/iti39", signed(&iti39(&uid), ALICE)).await;
    assert_eq!(status, 200, "{body}");
    assert!(!support::documents(&body).is_empty(), "{body}");
    let after_flow = stack.sim.counters().await;

    // 2. Forged identity: refused before anything is looked up.
    let (status, body) = stack
        .post("/SOAP/iti38", forged(&signed(&iti38(ALICE), ALICE)))
        .await;
    refused(status, &body, "forged identity");
    assert!(!body.contains("MALLORY"));

    // 3. Cross-patient reads with a valid assertion for Alice.
    let (status, body) = stack.post("/SOAP/iti55", signed(&iti55(BOB), ALICE)).await;
    refused(status, &body, "ITI-55 for Bob");
    let (status, body) = stack.post("/SOAP/iti38", signed(&iti38(BOB), ALICE)).await;
    refused(status, &body, "ITI-38 for Bob");
    // …and Alice's document with an assertion naming Bob: the sealed metadata says Alice.
    let (status, body) = stack.post("/SOAP/iti39", signed(&iti39(&uid), BOB)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("XDSRegistryError"), "{body}");
    assert!(
        support::documents(&body).is_empty(),
        "Alice's C-CDA served to a Bob assertion"
    );
    let after_attacks = stack.sim.counters().await;
    for s in [SimService::Pds, SimService::Sds, SimService::Gpconnect] {
        assert_eq!(
            after_attacks.get(s),
            after_flow.get(s),
            "{s:?} was called for a refused request"
        );
    }

    // 4. Replay: the same signed message again, at this gateway and at another one.
    let message = signed(&iti38(ALICE), ALICE);
    let (status, _) = stack.post("/SOAP/iti38", message.clone()).await;
    assert_eq!(status, 200);
    for _ in 0..3 {
        let (status, body) = stack.post("/SOAP/iti38", message.clone()).await;
        refused(status, &body, "replay");
        assert!(body.contains("already been received"), "{body}");
    }
    let (status, body) = stack.post_to(&second, "/SOAP/iti38", message).await;
    refused(status, &body, "replay at a second gateway");

    // 5. The audit trail: one security alert per refusal, with peer, assertion and message.
    let (db, conn) = tokio_postgres::connect(support::AUDIT_DB, tokio_postgres::NoTls)
        .await
        .expect("postgres");
    tokio::spawn(conn);
    let query = format!(
        "SELECT detail, outcome, peer_address, assertion_id, message_id, user_id, nhs_number \
         FROM {schema}.audit_event WHERE kind = 'security_alert' ORDER BY event_time"
    );
    let rows = eventually(20, || async {
        let rows = db.query(&query, &[]).await.ok()?;
        (rows.len() >= 8).then_some(rows)
    })
    .await
    .expect("security alerts in PostgreSQL");
    let details: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    assert_eq!(
        details,
        vec![
            "iti38: saml_malformed",
            "iti55: patient_mismatch",
            "iti38: patient_mismatch",
            "iti39: patient_mismatch",
            "iti38: replay",
            "iti38: replay",
            "iti38: replay",
            "iti38: replay",
        ]
    );
    for r in &rows {
        let peer: Option<String> = r.get(2);
        assert_eq!(peer.as_deref(), Some("127.0.0.1"));
        let message_id: Option<String> = r.get(4);
        assert!(message_id.is_some_and(|m| m.starts_with("urn:uuid:")));
    }
    // Who tried, and which patient they tried to read.
    let mismatch = &rows[1];
    assert_eq!(
        mismatch.get::<_, Option<String>>(5).as_deref(),
        Some("CONE, Stephen")
    );
    assert_eq!(mismatch.get::<_, Option<String>>(6).as_deref(), Some(BOB));
    assert!(
        mismatch.get::<_, Option<String>>(3).is_some(),
        "assertion id"
    );
    // Served reads carry the same context.
    let served = db
        .query(
            &format!(
                "SELECT count(*) FROM {schema}.audit_event WHERE kind = 'iti39' \
                 AND outcome = 'success' AND assertion_id IS NOT NULL AND peer_address IS NOT NULL"
            ),
            &[],
        )
        .await
        .expect("query");
    assert_eq!(served[0].get::<_, i64>(0), 1);
    stop.cancel();
    stack.stop().await;
}
