//! ATNA (DICOM audit message) rendering of events.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)

mod support;

use std::collections::HashMap;

use base64::Engine as _;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use xhuma_audit::atna::{AtnaSource, render};
use xhuma_common::audit::{AuditEvent, AuditKind, AuditOutcome};

type Element = (String, HashMap<String, String>);

/// Every element as (path, attributes), in document order; panics on malformed XML.
fn elements(xml: &str) -> Vec<Element> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut push = |stack: &[String], e: &BytesStart<'_>| {
        let name = e.name().0.to_string();
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    a.key.0.to_string(),
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned(),
                )
            })
            .collect();
        let mut path = stack.join("/");
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(&name);
        out.push((path, attrs));
        name
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let name = push(&stack, &e);
                stack.push(name);
            }
            Event::Empty(e) => {
                push(&stack, &e);
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty());
    out
}

fn find<'a>(els: &'a [Element], path: &str) -> Vec<&'a HashMap<String, String>> {
    els.iter()
        .filter(|(p, _)| p == path)
        .map(|(_, a)| a)
        .collect()
}

fn source() -> AtnaSource {
    AtnaSource {
        audit_source_id: "xhuma".into(),
        enterprise_site_id: Some("RX1".into()),
    }
}

#[test]
fn iti39_retrieve_renders_as_a_dicom_export() {
    let event = support::event(AuditKind::Iti39, AuditOutcome::Success, "urn:uuid:msg-1")
        .document("2.25.42")
        .trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
    let xml = render(&event, &source());
    assert!(xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><AuditMessage>"#));
    let els = elements(&xml);

    let ev = find(&els, "AuditMessage/EventIdentification")[0];
    assert_eq!(ev["EventActionCode"], "R");
    assert_eq!(ev["EventOutcomeIndicator"], "0");
    assert!(ev["EventDateTime"].ends_with('Z'));
    let id = find(&els, "AuditMessage/EventIdentification/EventID")[0];
    assert_eq!(id["csd-code"], "110106");
    assert_eq!(id["codeSystemName"], "DCM");
    let ty = find(&els, "AuditMessage/EventIdentification/EventTypeCode")[0];
    assert_eq!(ty["csd-code"], "ITI-39");
    assert_eq!(ty["codeSystemName"], "IHE Transactions");
    let pou = find(&els, "AuditMessage/EventIdentification/PurposeOfUse")[0];
    assert_eq!(pou["csd-code"], "TREATMENT");

    let participants = find(&els, "AuditMessage/ActiveParticipant");
    assert_eq!(participants.len(), 3);
    assert_eq!(participants[0]["UserID"], "CONE, Stephen");
    assert_eq!(participants[0]["UserIsRequestor"], "true");
    assert_eq!(
        participants[0]["UserName"],
        "CONE, Stephen<CONE, Stephen@CN=Epic, O=Example>"
    );
    assert_eq!(
        participants[1]["UserID"],
        "urn:oid:1.2.840.114350.1.13.525.3.7.3.688884.100"
    );
    assert_eq!(participants[2]["UserID"], "xhuma");
    assert_eq!(participants[2]["UserIsRequestor"], "false");
    let roles = find(&els, "AuditMessage/ActiveParticipant/RoleIDCode");
    assert_eq!(roles[0]["csd-code"], "224608005");
    assert_eq!(roles[1]["csd-code"], "110153");
    assert_eq!(roles[2]["csd-code"], "110152");

    let src = find(&els, "AuditMessage/AuditSourceIdentification")[0];
    assert_eq!(src["AuditSourceID"], "xhuma");
    assert_eq!(src["AuditEnterpriseSiteID"], "RX1");

    let objects = find(&els, "AuditMessage/ParticipantObjectIdentification");
    assert_eq!(objects.len(), 3);
    assert_eq!(
        objects[0]["ParticipantObjectID"],
        "9690937278^^^&2.16.840.1.113883.2.1.4.1&ISO"
    );
    assert_eq!(objects[0]["ParticipantObjectTypeCode"], "1");
    assert_eq!(objects[0]["ParticipantObjectTypeCodeRole"], "1");
    assert_eq!(objects[1]["ParticipantObjectID"], "2.25.42");
    assert_eq!(objects[1]["ParticipantObjectTypeCodeRole"], "3");
    assert_eq!(objects[2]["ParticipantObjectID"], "urn:uuid:msg-1");
    let details = find(
        &els,
        "AuditMessage/ParticipantObjectIdentification/ParticipantObjectDetail",
    );
    let decoded: HashMap<&str, String> = details
        .iter()
        .map(|d| {
            let value = base64::engine::general_purpose::STANDARD
                .decode(&d["value"])
                .unwrap();
            (d["type"].as_str(), String::from_utf8(value).unwrap())
        })
        .collect();
    assert_eq!(decoded["xhuma:audit-id"], event.id.to_string());
    assert_eq!(
        decoded["traceparent:trace-id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        decoded["ihe:homeCommunityID"],
        "urn:oid:1.2.840.114350.1.13.525.3.7.3.688884"
    );
}

#[test]
fn outbound_calls_and_failures_and_escaping() {
    let event = support::event(AuditKind::GpConnect, AuditOutcome::Failed, "c<&>\"'")
        .ssp_trace_id("ssp-1")
        .detail("upstream 503 <b>&</b>\nline two\u{1}");
    let els = elements(&render(&event, &source()));
    let ev = find(&els, "AuditMessage/EventIdentification")[0];
    assert_eq!(ev["EventActionCode"], "C");
    assert_eq!(ev["EventOutcomeIndicator"], "8");
    assert_eq!(
        find(&els, "AuditMessage/EventIdentification/EventID")[0]["csd-code"],
        "110107"
    );
    let xml = render(&event, &source());
    assert!(xml.contains(
        "<EventOutcomeDescription>failed: upstream 503 &lt;b&gt;&amp;&lt;/b&gt;&#10;line two\u{fffd}</EventOutcomeDescription>"
    ));
    let participants = find(&els, "AuditMessage/ActiveParticipant");
    assert_eq!(participants.len(), 4);
    assert_eq!(participants[3]["UserID"], "GP Connect");
    let objects = find(&els, "AuditMessage/ParticipantObjectIdentification");
    assert_eq!(objects.last().unwrap()["ParticipantObjectID"], "c<&>\"'");

    // A query that found nothing succeeded; a denied one is a minor failure.
    for (kind, outcome, indicator) in [
        (AuditKind::Iti55, AuditOutcome::NotFound, "0"),
        (AuditKind::Iti39, AuditOutcome::NotFound, "4"),
        (AuditKind::Iti38, AuditOutcome::Denied, "4"),
        (AuditKind::Iti47, AuditOutcome::Invalid, "4"),
        (AuditKind::PdsLookup, AuditOutcome::Success, "0"),
    ] {
        let e = AuditEvent::new(kind, outcome, "c");
        let els = elements(&render(&e, &source()));
        let ev = find(&els, "AuditMessage/EventIdentification")[0];
        assert_eq!(
            ev["EventOutcomeIndicator"], indicator,
            "{kind:?} {outcome:?}"
        );
        // No requester, no patient: only this system (and the service called) take part.
        assert!(find(&els, "AuditMessage/ParticipantObjectIdentification").len() == 1);
    }
}
