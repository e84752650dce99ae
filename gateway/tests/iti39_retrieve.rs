//! ITI-39 (XCA retrieve): Epic's MTOM request, MTOM vs inline answers, multi-document
//! requests, the official IHE example, and the per-document RegistryErrors.
#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine as _;
use support::*;

const PATH: &str = "/SOAP/iti39";
const MTOM_CT: &str = "multipart/related; type=\"application/xop+xml\"; boundary=\"MIMEBoundary_abc\"; start=\"<0.root@example>\"; start-info=\"application/soap+xml\"";

fn retrieve_request(ids: &[&str], home: &str, repo: &str) -> String {
    let mut reqs = String::new();
    for id in ids {
        reqs.push_str(&format!(
            "<xdsb:DocumentRequest><xdsb:HomeCommunityId>{home}</xdsb:HomeCommunityId><xdsb:RepositoryUniqueId>{repo}</xdsb:RepositoryUniqueId><xdsb:DocumentUniqueId>{id}</xdsb:DocumentUniqueId></xdsb:DocumentRequest>"
        ));
    }
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action s:mustUnderstand="1">urn:ihe:iti:2007:CrossGatewayRetrieve</a:Action><a:MessageID>urn:uuid:0fbfdced-6c01-4d09-a110-2201afedaa02</a:MessageID></s:Header><s:Body><xdsb:RetrieveDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">{reqs}</xdsb:RetrieveDocumentSetRequest></s:Body></s:Envelope>"#
    )
}

const HOME: &str = "urn:oid:2.16.840.1.113883.2.1.3.34.9001";
const REPO: &str = "2.16.840.1.113883.2.1.3.34.69.420";

#[tokio::test]
async fn epic_mtom_request_gets_an_mtom_answer_with_xop() {
    let (app, _) = standard_app();
    let r = post(&app, PATH, MTOM_CT, synthetic("iti39_request_mtom.txt")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.content_type().starts_with("multipart/related"),
        "{}",
        r.content_type()
    );
    assert!(
        r.content_type()
            .contains("start-info=\"application/soap+xml\"")
    );
    validate("iti39-response", &r.raw_with_headers(), true);
    let text = r.text();
    assert!(text.contains("<xop:Include"), "{text}");
    assert!(
        text.contains(
            "<wsa:RelatesTo>urn:uuid:99999999-8888-7777-6666-555555555555</wsa:RelatesTo>"
        )
    );
    assert!(
        text.contains(std::str::from_utf8(CCDA).unwrap()),
        "the document travels as a binary part"
    );
    // The SOAP part comes first (zeep reads the first part as the root).
    let first_part = text.split("\r\n\r\n").nth(1).unwrap();
    assert!(first_part.starts_with("<?xml"), "{first_part}");
}

#[tokio::test]
async fn inline_policy_and_plain_requests_get_base64() {
    let (app, _) = app_with(
        FakeBackend::standard(),
        &[("XHUMA_MTOM_RESPONSE", "inline")],
    );
    let r = post(&app, PATH, MTOM_CT, synthetic("iti39_request_mtom.txt")).await;
    assert!(r.content_type().starts_with("application/soap+xml"));
    validate("iti39-response", &r.body, false);
    let b64 = base64::engine::general_purpose::STANDARD.encode(CCDA);
    assert!(
        r.text()
            .contains(&format!("<xdsb:Document>{b64}</xdsb:Document>"))
    );

    let (app, _) = standard_app();
    let r = post_soap(&app, PATH, retrieve_request(&[FIXTURE_DOC_ID], HOME, REPO)).await;
    assert!(r.content_type().starts_with("application/soap+xml"));
    validate("iti39-response", &r.body, false);
    assert!(r.text().contains(&b64));
    assert!(r.text().contains("ResponseStatusType:Success"));
}

#[tokio::test]
async fn ten_documents_in_one_request_with_one_unknown() {
    let mut ids = vec![FIXTURE_DOC_ID; 9];
    ids.push("2.25.999");
    let (app, backend) = standard_app();
    let r = post_soap(&app, PATH, retrieve_request(&ids, HOME, REPO)).await;
    validate("iti39-response", &r.body, false);
    let text = r.text();
    assert_eq!(text.matches("<xdsb:DocumentResponse>").count(), 9);
    assert!(
        text.contains("urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"),
        "{text}"
    );
    assert!(text.contains("errorCode=\"XDSDocumentUniqueIdError\""));
    assert!(text.contains("location=\"urn:oid:2.16.840.1.113883.2.1.3.34.9001\""));
    assert_eq!(
        backend.calls(),
        vec!["retrieve 10"],
        "one backend call for all documents"
    );
}

#[tokio::test]
async fn home_and_repository_are_checked() {
    let (app, backend) = standard_app();
    let r = post_soap(
        &app,
        PATH,
        retrieve_request(&[FIXTURE_DOC_ID], "urn:oid:1.2.3", REPO),
    )
    .await;
    validate("iti39-response", &r.body, false);
    assert!(r.text().contains("XDSUnknownCommunity"));
    assert!(r.text().contains("ResponseStatusType:Failure"));
    let r = post_soap(
        &app,
        PATH,
        retrieve_request(&[FIXTURE_DOC_ID], HOME, "1.2.3"),
    )
    .await;
    assert!(r.text().contains("XDSUnknownRepositoryId"));
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn official_ihe_retrieve_examples() {
    let xca = fixture("schemas/examples/ihe/XCA/XCACrossGatewayRetrieveRequest.xml");
    let (app, _) = standard_app();
    let r = post_soap(&app, PATH, xca.clone()).await;
    validate("iti39-response", &r.body, false);
    // Another community's ids: refused per document, not with a fault.
    assert!(r.text().contains("XDSUnknownCommunity"));
    // The same request for our community and repository.
    let ours = xca
        .replace("urn:oid:1.2.3.4", HOME)
        .replace("1.3.6.1.4...1000", REPO)
        .replace("1.3.6.1.4...2000", REPO)
        .replace("1.3.6.1.4...2300", FIXTURE_DOC_ID);
    let r = post_soap(&app, PATH, ours).await;
    validate("iti39-response", &r.body, false);
    assert!(r.text().contains("PartialSuccess"));
    assert_eq!(r.text().matches("<xdsb:DocumentResponse>").count(), 1);
    // The XDS.b (ITI-43) example has no HomeCommunityId: XCA requires it.
    let xds = with_action(
        &fixture("schemas/examples/ihe/XDS.b/RetrieveDocumentSetRequest_SOAP.xml"),
        "urn:ihe:iti:2007:CrossGatewayRetrieve",
    );
    let r = post_soap(&app, PATH, xds).await;
    validate("iti39-response", &r.body, false);
    assert!(r.text().contains("XDSMissingHomeCommunityId"));
}

#[tokio::test]
async fn backend_failures_per_document() {
    let mut b = FakeBackend::standard();
    b.fail = Some(Fail::Busy);
    let (app, _) = app_with(b, &[]);
    let r = post_soap(&app, PATH, retrieve_request(&[FIXTURE_DOC_ID], HOME, REPO)).await;
    validate("iti39-response", &r.body, false);
    assert!(r.text().contains("XDSRepositoryBusy"));
    let mut b = FakeBackend::standard();
    b.fail = Some(Fail::ShuttingDown);
    let (app, _) = app_with(b, &[]);
    let r = post_soap(&app, PATH, retrieve_request(&[FIXTURE_DOC_ID], HOME, REPO)).await;
    assert_eq!(r.status, 503);
    assert!(r.text().contains("env:Receiver"));
}

#[tokio::test]
async fn too_many_or_no_document_requests_is_a_fault() {
    let (app, _) = standard_app();
    let ids = vec![FIXTURE_DOC_ID; 21];
    let r = post_soap(&app, PATH, retrieve_request(&ids, HOME, REPO)).await;
    assert_eq!(r.status, 400);
    let r = post_soap(&app, PATH, retrieve_request(&[], HOME, REPO)).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("env:Sender"));
}
