//! Discovery by demographics against the running stack (nhs-sim's PDS search, real RabbitMQ,
//! Redis, workers; signed SAML required): Epic's XCPD often carries no NHS number, only the
//! patient's name, birth date, gender and address.

mod support;

use support::saml::{signed, strict};
use support::{Stack, iti38, iti55, unique_id};
use xhuma_simulator::{SimService, Simulator};

/// In nhs-sim (from its GP Connect bundle): Miss Louise Annie JOB, born 2010-05-02, gender
/// "other" — the only patient with that name and birth date.
const LOUISE: &str = "9692136744";
const OTHER: &str = "9690937278";

/// `request` without the element that starts with `open` (and ends with `close`).
fn without(request: &str, open: &str, close: &str) -> String {
    let start = request.find(open).expect("element");
    let end = request[start..].find(close).expect("element end") + start + close.len();
    format!("{}{}", &request[..start], &request[end..])
}

/// The example ITI-55 for Louise with its livingSubjectId (and gender) taken out:
/// demographics only.
fn by_demographics() -> String {
    let full = iti55(LOUISE)
        .replace(
            "<given>Horace</given><family>SKELLY</family>",
            "<given>Louise</given><family>JOB</family>",
        )
        .replace("19250421", "20100502");
    let full = without(
        &full,
        "<livingSubjectAdministrativeGender>",
        "</livingSubjectAdministrativeGender>",
    );
    without(&full, "<livingSubjectId>", "</livingSubjectId>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_demographics_only_query_finds_the_patient_and_the_record_follows() {
    let stack = Stack::start(Simulator::builder(), strict()).await;
    let query = by_demographics();
    assert!(!query.contains(LOUISE), "the query carries no NHS number");

    let before = stack.sim.counters().await;
    let (status, body) = stack.post("/SOAP/iti55", signed(&query, LOUISE)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"<typeCode code="AA"/>"#), "{body}");
    assert!(body.contains(r#"<queryResponseCode code="OK"/>"#), "{body}");
    assert!(body.contains(&format!("extension=\"{LOUISE}\"")), "{body}");
    let after = stack.sim.counters().await;
    assert!(after.get(SimService::Pds) > before.get(SimService::Pds));

    // The prefetch started by the match makes the record available to ITI-38.
    let (status, body) = stack
        .post("/SOAP/iti38", signed(&iti38(LOUISE), LOUISE))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(unique_id(&body).is_some(), "{body}");

    // The same demographics under an assertion for another patient: no match (a refusal
    // would confirm whose demographics they are).
    let (status, body) = stack.post("/SOAP/iti55", signed(&query, OTHER)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"<queryResponseCode code="NF"/>"#), "{body}");
    assert!(!body.contains("<subject "), "{body}");

    // Horace Skelly, born 1925-04-21, is in PDS several times (the demonstrator's test
    // patient): more than one match, so no match rather than a guess.
    let skelly = without(&iti55(LOUISE), "<livingSubjectId>", "</livingSubjectId>");
    let (_, body) = stack.post("/SOAP/iti55", signed(&skelly, LOUISE)).await;
    assert!(body.contains(r#"<queryResponseCode code="NF"/>"#), "{body}");

    // Demographics PDS does not know: no match.
    let wrong = query.replace("20100502", "20100503");
    let (_, body) = stack.post("/SOAP/iti55", signed(&wrong, LOUISE)).await;
    assert!(body.contains(r#"<queryResponseCode code="NF"/>"#), "{body}");
    stack.stop().await;
}
