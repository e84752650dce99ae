//! ITI-38 (XCA query): the synthetic Epic request, the official IHE example, both patient-id
//! forms, return types, entry types, GetDocuments and the RegistryError codes.
#![allow(clippy::unwrap_used)]

mod support;

use support::*;
use xhuma_common::job::{FailureKind, JobFailure};
use xhuma_gateway::backend::Documents;

const PATH: &str = "/SOAP/iti38";

fn check(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    validate("iti38-response", &r.body, false);
    r.text()
}

#[tokio::test]
async fn epic_find_documents_returns_a_full_stable_entry() {
    let (app, backend) = standard_app();
    let body = check(&post_soap(&app, PATH, synthetic("iti38_request.xml")).await);
    assert!(
        body.contains("status=\"urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success\""),
        "{body}"
    );
    assert!(
        body.contains(
            "<wsa:RelatesTo>urn:uuid:aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee</wsa:RelatesTo>"
        )
    );
    for needle in [
        "home=\"urn:oid:2.16.840.1.113883.2.1.3.34.9001\"",
        "objectType=\"urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1\"",
        "status=\"urn:oasis:names:tc:ebxml-regrep:StatusType:Approved\"",
        "<rim:Slot name=\"creationTime\">",
        "<rim:Slot name=\"hash\"><rim:ValueList><rim:Value>da39a3ee5e6b4b0d3255bfef95601890afd80709</rim:Value>",
        "<rim:Slot name=\"size\">",
        "<rim:Slot name=\"repositoryUniqueId\"><rim:ValueList><rim:Value>2.16.840.1.113883.2.1.3.34.69.420</rim:Value>",
        "9690937278^^^&amp;2.16.840.1.113883.2.1.4.1&amp;ISO",
        "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",
        "Test Surgery^^^^^&amp;2.16.840.1.113883.2.1.4.3&amp;ISO^^^^E82665",
        "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
        "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
        "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
        "nodeRepresentation=\"urn:hl7-org:sdwg:ccda-structuredBody:2.1\"",
        "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
        "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
        "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
        "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
        "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
        "<rim:Value>PID-5|SAMUAL^Lucien</rim:Value>",
    ] {
        assert!(body.contains(needle), "missing {needle} in {body}");
    }
    assert_eq!(backend.calls(), vec!["documents 9690937278"]);
}

#[tokio::test]
async fn the_saml_identity_reaches_the_backend() {
    // The synthetic request's assertion is unsigned; the test config allows that explicitly.
    let (app, _) = standard_app();
    let r = post_soap(&app, "/SOAP/iti55", synthetic("iti38_request.xml")).await;
    // Posted to the ITI-55 path with the ITI-38 action: refused.
    assert_eq!(r.status, 400);
    let (app, backend) = app_with(FakeBackend::standard(), &[]);
    let r = post_soap(
        &app,
        "/SOAP/iti55",
        synthetic("iti55_request.xml").replace(
            "</s:Header>",
            &format!(
                "{}</s:Header>",
                security_header(&synthetic("iti38_request.xml"))
            ),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        backend.calls(),
        vec![
            "discover 9690937278 as CONE, Stephen",
            "prefetch 9690937278"
        ]
    );
}

fn security_header(xml: &str) -> String {
    let start = xml.find("<wsse:Security").unwrap();
    let end = xml.find("</wsse:Security>").unwrap() + "</wsse:Security>".len();
    xml[start..end].to_string()
}

#[tokio::test]
async fn unsigned_assertion_is_refused_unless_allowed() {
    let (app, backend) = app_with(
        FakeBackend::standard(),
        &[("XHUMA_SAML_ALLOW_UNSIGNED", "false")],
    );
    let r = post_soap(&app, PATH, synthetic("iti38_request.xml")).await;
    let body = r.text();
    assert_eq!(r.status, 400, "{body}");
    assert!(body.contains("<env:Value>env:Sender</env:Value>"));
    assert!(body.contains("InvalidSecurityToken"), "{body}");
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn object_ref_and_the_99_patient_id_form() {
    let (app, _) = standard_app();
    let req = synthetic("iti38_request.xml")
        .replace("returnType=\"LeafClass\"", "returnType=\"ObjectRef\"")
        .replace(
            "&amp;2.16.840.1.113883.2.1.4.1&amp;ISO'",
            "&amp;2.16.840.1.113883.2.1.4.1.99&amp;ISO'",
        );
    let body = check(&post_soap(&app, PATH, req).await);
    assert!(body.contains("<rim:ObjectRef id=\"urn:uuid:"), "{body}");
    assert!(!body.contains("ExtrinsicObject"));
}

#[tokio::test]
async fn pending_prefetch_is_an_on_demand_entry() {
    let mut b = FakeBackend::standard();
    b.documents.insert(
        nhs(LUCIEN),
        Documents::Pending {
            unique_id: "2.25.1234".into(),
            entry_uuid: "urn:uuid:00000000-0000-0000-0000-0000000004d2".into(),
        },
    );
    let (app, _) = app_with(b, &[]);
    let body = check(&post_soap(&app, PATH, synthetic("iti38_request.xml")).await);
    assert!(
        body.contains("objectType=\"urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248\""),
        "{body}"
    );
    assert!(body.contains(">2.25.1234<") || body.contains("value=\"2.25.1234\""));
    assert!(!body.contains("name=\"hash\""));
    assert!(!body.contains("name=\"size\""));
    // Stable-only queries do not see an entry that does not exist yet.
    let stable_only = synthetic("iti38_request.xml").replace(
        "</rim:AdhocQuery>",
        "<rim:Slot name=\"$XDSDocumentEntryType\"><rim:ValueList><rim:Value>('urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1')</rim:Value></rim:ValueList></rim:Slot></rim:AdhocQuery>",
    );
    let body = check(&post_soap(&app, PATH, stable_only).await);
    assert!(!body.contains("ExtrinsicObject"));
}

#[tokio::test]
async fn warnings_are_success_with_a_warning_list() {
    let mut b = FakeBackend::standard();
    if let Some(Documents::Ready(meta)) = b.documents.get_mut(&nhs(LUCIEN)) {
        meta.warnings.push("data-in-transit".into());
    }
    let (app, _) = app_with(b, &[]);
    let body = check(&post_soap(&app, PATH, synthetic("iti38_request.xml")).await);
    assert!(
        body.contains("status=\"urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success\""),
        "a complete answer with warnings is Success (ITI TF-3 4.2.4.2): {body}"
    );
    assert!(body.contains("<rs:RegistryErrorList highestSeverity=\"urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning\">"));
    assert!(
        body.contains("severity=\"urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning\"")
    );
    assert!(body.contains("ExtrinsicObject"));
}

async fn error_code_for(b: FakeBackend) -> String {
    let (app, _) = app_with(b, &[]);
    let body = check(&post_soap(&app, PATH, synthetic("iti38_request.xml")).await);
    assert!(body.contains("ResponseStatusType:Failure"), "{body}");
    assert!(body.contains("<rs:RegistryError "), "{body}");
    assert!(body.contains("location=\"urn:oid:2.16.840.1.113883.2.1.3.34.9001\""));
    body.split("errorCode=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn specific_registry_error_codes() {
    let failed = |kind| {
        let mut b = FakeBackend::standard();
        b.documents.insert(
            nhs(LUCIEN),
            Documents::Failed(JobFailure {
                kind,
                reason: "GP Connect said 500 at https://internal".into(),
            }),
        );
        b
    };
    assert_eq!(
        error_code_for(failed(FailureKind::PatientNotFound)).await,
        "XDSUnknownPatientId"
    );
    assert_eq!(
        error_code_for(failed(FailureKind::UpstreamUnavailable)).await,
        "XDSRegistryNotAvailable"
    );
    assert_eq!(
        error_code_for(failed(FailureKind::AccessDenied)).await,
        "XDSRegistryError"
    );
    let mut busy = FakeBackend::standard();
    busy.fail = Some(Fail::Busy);
    assert_eq!(error_code_for(busy).await, "XDSRegistryBusy");
    let mut down = FakeBackend::standard();
    down.fail = Some(Fail::Unavailable);
    let (app, _) = app_with(down, &[]);
    let body = check(&post_soap(&app, PATH, synthetic("iti38_request.xml")).await);
    assert!(body.contains("XDSRegistryNotAvailable"));
    assert!(!body.contains("10.0.0.7") && !body.contains("internal"));
    // Another patient (the assertion names the same one: it may ask).
    let unknown = synthetic("iti38_request.xml").replace("9690937278^", "9434765919^");
    let (app, _) = standard_app();
    let body = check(&post_soap(&app, PATH, unknown).await);
    assert!(body.contains("XDSUnknownPatientId"), "{body}");
}

#[tokio::test]
async fn official_ihe_query_example() {
    // The official XCA envelope with the official ITI-18 FindDocuments body (what the shared
    // validators do: the XCA example itself carries an empty placeholder payload).
    let envelope = fixture("schemas/examples/ihe/XCA/XCACrossGatewayQueryRequest.xml");
    let iti18 = fixture("schemas/examples/ihe/XDS.b/RegistryStoredQueryRequest_SOAP.xml");
    let start = iti18.find("<query:AdhocQueryRequest").unwrap();
    let end =
        iti18.find("</query:AdhocQueryRequest>").unwrap() + "</query:AdhocQueryRequest>".len();
    let composed = envelope.replace(
        "<query:AdhocQueryRequest xmlns:query=\"urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0\"/>",
        &iti18[start..end],
    );
    validate("iti38-request", composed.as_bytes(), false);
    let (app, backend) = standard_app();
    let body = check(&post_soap(&app, PATH, composed.clone()).await);
    // Its patient is not an NHS number.
    assert!(body.contains("XDSUnknownPatientId"), "{body}");
    assert!(backend.calls().is_empty());
    // With our patient, the 2004 creation-time window excludes a document made now.
    let ours = composed.replace(
        "st3498702^^^&amp;1.3.6.1.4.1.21367.2005.3.7&amp;ISO",
        "9690937278^^^&amp;2.16.840.1.113883.2.1.4.1&amp;ISO",
    );
    let body = check(&post_soap(&app, PATH, ours).await);
    assert!(body.contains("ResponseStatusType:Success"), "{body}");
    assert!(!body.contains("ExtrinsicObject"));
    // The placeholder example itself is answered with a fault, not a crash.
    let r = post_soap(&app, PATH, envelope).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn creation_window_including_now_matches() {
    let now = time::OffsetDateTime::now_utc();
    let ts = |t: time::OffsetDateTime| {
        format!(
            "{:04}{:02}{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        )
    };
    let slots = format!(
        "<rim:Slot name=\"$XDSDocumentEntryCreationTimeFrom\"><rim:ValueList><rim:Value>{}</rim:Value></rim:ValueList></rim:Slot><rim:Slot name=\"$XDSDocumentEntryCreationTimeTo\"><rim:ValueList><rim:Value>{}</rim:Value></rim:ValueList></rim:Slot></rim:AdhocQuery>",
        ts(now - time::Duration::minutes(5)),
        ts(now + time::Duration::minutes(5)),
    );
    let (app, _) = standard_app();
    let body = check(
        &post_soap(
            &app,
            PATH,
            synthetic("iti38_request.xml").replace("</rim:AdhocQuery>", &slots),
        )
        .await,
    );
    assert!(body.contains("ExtrinsicObject"), "{body}");
}

#[tokio::test]
async fn get_documents_by_unique_id_and_entry_uuid() {
    let uid = xhuma_common::job::unique_id_for(uuid::Uuid::from_u128(42));
    let (app, _) = standard_app();
    for (slot, value) in [
        ("$XDSDocumentEntryUniqueId", uid.clone()),
        (
            "$XDSDocumentEntryEntryUUID",
            format!("urn:uuid:{}", uuid::Uuid::from_u128(42)),
        ),
    ] {
        let req = synthetic("iti38_request.xml")
            .replace(
                "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",
                "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4",
            )
            .replace("$XDSDocumentEntryPatientId", slot)
            .replace(
                "'9690937278^^^&amp;2.16.840.1.113883.2.1.4.1&amp;ISO'",
                &format!("('{value}')"),
            );
        let body = check(&post_soap(&app, PATH, req).await);
        assert!(body.contains(&uid), "{slot}: {body}");
        assert!(body.contains("ResponseStatusType:Success"));
    }
    let no_home = synthetic("iti38_request.xml")
        .replace(
            "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",
            "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4",
        )
        .replace(" home=\"urn:oid:2.16.840.1.113883.2.1.3.34.9001\"", "");
    let body = check(&post_soap(&app, PATH, no_home).await);
    assert!(body.contains("XDSMissingHomeCommunityId"), "{body}");
}

#[tokio::test]
async fn unknown_community_and_stored_query() {
    let (app, backend) = standard_app();
    let other = synthetic("iti38_request.xml")
        .replace("urn:oid:2.16.840.1.113883.2.1.3.34.9001", "urn:oid:1.2.3");
    assert!(check(&post_soap(&app, PATH, other).await).contains("XDSUnknownCommunity"));
    let unknown = synthetic("iti38_request.xml").replace(
        "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",
        "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3",
    );
    assert!(check(&post_soap(&app, PATH, unknown).await).contains("XDSUnknownStoredQuery"));
    assert!(backend.calls().is_empty());
}
