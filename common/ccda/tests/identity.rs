//! Whose record is it: the document's patient is the one the Lists are about
//! (their `subject`), it must be the requested patient when the caller says
//! who that is, and a patient is always shown with a name.

mod support;

use serde_json::{Value, json};
use xhuma_ccda::{ConvertError, convert};

const NHS: &str = "https://fhir.nhs.uk/Id/nhs-number";

fn patient(id: &str, nhs: &str, name: Value) -> Value {
    json!({"resource": {"resourceType": "Patient", "id": id,
        "identifier": [{"system": NHS, "value": nhs}], "name": name,
        "gender": "female", "birthDate": "1970-01-01"}})
}

fn list(subject: Option<&str>) -> Value {
    let mut l = json!({"resource": {"resourceType": "List", "title": "Problems",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "717711000000103"}]},
        "entry": []}});
    if let Some(s) = subject {
        l["resource"]["subject"] = json!({"reference": s});
    }
    l
}

fn bundle(entries: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"resourceType": "Bundle", "entry": entries})).expect("json")
}

fn official(family: &str) -> Value {
    json!([{"use": "official", "family": family, "given": ["Ann"]}])
}

fn record_target(xml: &[u8]) -> String {
    let s = String::from_utf8_lossy(xml);
    let start = s.find("<recordTarget>").expect("recordTarget");
    let end = s.find("</recordTarget>").expect("recordTarget end");
    s[start..end].to_string()
}

#[test]
fn the_lists_subject_is_the_patient_when_there_are_two() {
    let (_, bytes) = support::variants()
        .into_iter()
        .find(|(n, _)| n == "variant-two-patients")
        .expect("variant");
    let c = convert(&bytes, &support::context()).expect("converts");
    // EMIS UAT bundles carry the anonymised number 1234567890
    assert_eq!(c.report.nhs_number.as_deref(), Some("1234567890"));
    let rt = record_target(&c.xml);
    assert!(rt.contains(r#"extension="1234567890""#), "{rt}");
    assert!(rt.contains("<family>Meyers</family>"), "{rt}");
    assert!(!rt.contains("Other"), "{rt}");

    // the same, built by hand, in either order
    for order in [0, 1] {
        let mut es = vec![
            patient("a", "9000000009", official("Wrong")),
            patient("b", "9000000017", official("Right")),
        ];
        if order == 1 {
            es.reverse();
        }
        es.push(list(Some("Patient/b")));
        let c = convert(&bundle(es), &support::context()).expect("converts");
        assert_eq!(c.report.nhs_number.as_deref(), Some("9000000017"));
    }
}

#[test]
fn unclear_or_wrong_patients_are_refused() {
    let cx = support::context();
    let two = || {
        vec![
            patient("a", "9000000009", official("A")),
            patient("b", "9000000017", official("B")),
        ]
    };
    // two Patients, nothing to choose by
    assert_eq!(
        convert(&bundle(two()), &cx).err(),
        Some(ConvertError::AmbiguousPatient { patients: 2 })
    );
    // ... but the requested NHS number chooses
    let c = convert(&bundle(two()), &cx.clone().for_patient("9000000017")).expect("converts");
    assert_eq!(c.report.nhs_number.as_deref(), Some("9000000017"));
    assert_eq!(
        convert(&bundle(two()), &cx.clone().for_patient("9000000025")).err(),
        Some(ConvertError::PatientMismatch)
    );
    // Lists about different patients
    let mut es = two();
    es.push(list(Some("Patient/a")));
    es.push(list(Some("Patient/b")));
    assert_eq!(
        convert(&bundle(es), &cx).err(),
        Some(ConvertError::ConflictingSubjects)
    );
    // Lists about a patient who is not in the bundle
    let mut es = two();
    es.push(list(Some("Patient/c")));
    assert_eq!(
        convert(&bundle(es), &cx).err(),
        Some(ConvertError::SubjectNotInBundle)
    );
    // the Lists' subject is not the requested patient
    let mut es = two();
    es.push(list(Some("Patient/a")));
    assert_eq!(
        convert(&bundle(es), &cx.clone().for_patient("9000000017")).err(),
        Some(ConvertError::PatientMismatch)
    );
}

#[test]
fn a_fixture_for_another_nhs_number_is_a_typed_error_not_a_document() {
    let bytes = support::fixture("gpconnect/bundles/demonstrator/9690937287-skelly-normal.json");
    let cx = support::context();
    assert!(convert(&bytes, &cx.clone().for_patient("9690937287")).is_ok());
    assert!(convert(&bytes, &cx.clone().for_patient(" 9690937287 ")).is_ok());
    let e = convert(&bytes, &cx.clone().for_patient("9690937294")).err();
    assert_eq!(e, Some(ConvertError::PatientMismatch));
    // the message names neither number
    assert!(!e.expect("error").to_string().contains("969093"));
}

#[test]
fn every_patient_is_shown_with_a_name() {
    let cx = support::context();
    let cases: &[(&str, Value, &str)] = &[
        (
            "text only",
            json!([{"use": "usual", "text": "Mrs Jane Example-Smith"}]),
            "<name><prefix>Mrs</prefix><given>Jane</given><family>Example-Smith</family></name>",
        ),
        (
            "text, family first",
            json!([{"text": "EXAMPLE, Jane"}]),
            "<name><given>Jane</given><family>EXAMPLE</family></name>",
        ),
        (
            "usual, not official",
            json!([{"use": "usual", "family": "Usual", "given": ["Una"]}]),
            "<name><given>Una</given><family>Usual</family></name>",
        ),
        (
            "official preferred over usual",
            json!([{"use": "usual", "family": "Usual", "given": ["Una"]},
                   {"use": "official", "family": "Legal", "given": ["Lee"]}]),
            r#"<name use="L"><given>Lee</given><family>Legal</family></name>"#,
        ),
        (
            "current name preferred over an old one, empty names skipped",
            json!([{"use": "official"}, {"use": "old", "family": "Before"},
                   {"use": "nickname", "family": "Now", "given": ["Nic"]}]),
            "<name><given>Nic</given><family>Now</family></name>",
        ),
        (
            "only an old name",
            json!([{"use": "old", "family": "Before", "given": ["Bea"]}]),
            "<name><given>Bea</given><family>Before</family></name>",
        ),
    ];
    for (what, name, want) in cases {
        let b = bundle(vec![patient("p", "9000000009", name.clone())]);
        let c = convert(&b, &cx).unwrap_or_else(|e| panic!("{what}: {e}"));
        let rt: String = record_target(&c.xml).lines().map(str::trim).collect();
        assert!(rt.contains(want), "{what}: {rt}");
    }
    let (_, bytes) = support::variants()
        .into_iter()
        .find(|(n, _)| n == "variant-text-name")
        .expect("variant");
    let c = convert(&bytes, &cx).expect("converts");
    let rt = record_target(&c.xml);
    assert!(rt.contains("<family>DOUGILL</family>"), "{rt}");
    assert!(rt.contains("<given>Cedar</given>"), "{rt}");
    assert_eq!(
        c.report.patient_name.as_deref(),
        Some("Ms Cedar Ursella DOUGILL")
    );
}
