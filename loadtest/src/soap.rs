//! The three SOAP 1.2 requests an EHR sends (ITI-55, ITI-38, ITI-39) and the checks on their
//! answers.
//!
//! Requests are built from the same shapes as `deploy/local/examples/` with the NHS number,
//! message id and document uniqueId filled in. By default they carry an unsigned SAML assertion
//! (the local stack then needs `XHUMA_SAML_ALLOW_UNSIGNED=true`); after [`sign_with`]
//! (`--signed DIR`) every request is signed as it is built, the way Epic signs (RSA-SHA1, a
//! holder-of-key `wsu:Timestamp`, the patient as resource-id, a fresh MessageID), by the test
//! IdP (`loadtest/idp`) with the keys in DIR — what production's gateway settings require.
//! Answers are checked by string search, cheap enough not to make the load generator the
//! bottleneck on a shared machine.

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use base64::Engine;
use time::OffsetDateTime;
use xhuma_test_idp::{Claims, Signer, sign_request};

/// The content type every request is sent with.
pub const CONTENT_TYPE: &str = "application/soap+xml; charset=utf-8";
/// Gateway paths.
pub const ITI55_PATH: &str = "/SOAP/iti55";
pub const ITI38_PATH: &str = "/SOAP/iti38";
pub const ITI39_PATH: &str = "/SOAP/iti39";

/// The gateway's default home community and repository (`XHUMA_HOME_COMMUNITY_ID`,
/// `XHUMA_REPOSITORY_UNIQUE_ID`).
const HOME_COMMUNITY: &str = "2.16.840.1.113883.2.1.3.34.9001";
const REPOSITORY: &str = "2.16.840.1.113883.2.1.3.34.69.420";

const SECURITY: &str = r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="_xhuma-loadtest" IssueInstant="2026-01-01T00:00:00Z" Version="2.0">
<saml2:Issuer>CN=xhuma-loadtest</saml2:Issuer>
<saml2:AttributeStatement>
<saml2:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:subject-id"><saml2:AttributeValue>LOADTEST, Clinician</saml2:AttributeValue></saml2:Attribute>
<saml2:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:organization"><saml2:AttributeValue>Example Hospital</saml2:AttributeValue></saml2:Attribute>
<saml2:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:organization-id"><saml2:AttributeValue>urn:oid:2.16.840.1.113883.2.1.3.34.9999</saml2:AttributeValue></saml2:Attribute>
<saml2:Attribute Name="urn:nhin:names:saml:homeCommunityId"><saml2:AttributeValue>urn:oid:2.16.840.1.113883.2.1.3.34.9999</saml2:AttributeValue></saml2:Attribute>
<saml2:Attribute Name="urn:oasis:names:tc:xacml:2.0:subject:role"><saml2:AttributeValue><Role xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CE" code="309343006" codeSystem="2.16.840.1.113883.6.96" codeSystemName="SNOMED_CT" displayName="Physician"/></saml2:AttributeValue></saml2:Attribute>
<saml2:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"><saml2:AttributeValue><PurposeForUse xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CE" code="TREATMENT" codeSystem="2.16.840.1.113883.3.18.7.1" codeSystemName="nhin-purpose" displayName="Treatment"/></saml2:AttributeValue></saml2:Attribute>
</saml2:AttributeStatement>
</saml2:Assertion>
</wsse:Security>"#;

/// `--mtom`: ITI-39 requests go as MTOM (see [`packaged`]).
static MTOM: AtomicBool = AtomicBool::new(false);
const MTOM_BOUNDARY: &str = "MIMEBoundary_xhuma_loadtest";
const MTOM_ROOT: &str = "root.message@xhuma-loadtest";

/// From now on, [`packaged`] wraps envelopes in MTOM.
pub fn set_mtom(on: bool) {
    MTOM.store(on, Ordering::Relaxed);
}

/// The Content-Type and body an envelope is sent with: plain SOAP 1.2, or (after
/// `set_mtom(true)`) a one-part `multipart/related` with the envelope as its
/// `application/xop+xml` root, as an MTOM client such as Epic sends ITI-39.
pub fn packaged(envelope: String) -> (String, String) {
    if !MTOM.load(Ordering::Relaxed) {
        return (CONTENT_TYPE.to_owned(), envelope);
    }
    let content_type = format!(
        r#"multipart/related; boundary="{MTOM_BOUNDARY}"; type="application/xop+xml"; start="<{MTOM_ROOT}>"; start-info="application/soap+xml""#
    );
    let body = format!(
        "--{MTOM_BOUNDARY}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-Transfer-Encoding: 8bit\r\nContent-ID: <{MTOM_ROOT}>\r\n\r\n{envelope}\r\n--{MTOM_BOUNDARY}--\r\n"
    );
    (content_type, body)
}

/// The signer and audience of `--signed`, set once before any request is built.
struct Signing {
    signer: Signer,
    audience: String,
}

static SIGNING: OnceLock<Signing> = OnceLock::new();

/// Signs every request from now on with the keys in `keys` (the `deploy/local/keys` layout:
/// `demo-idp.key/.crt` for the assertion, `demo-hok.key/.crt` for the holder-of-key Timestamp)
/// for a gateway whose audience is `audience`. One request is signed now, so a bad key fails
/// here rather than as failed requests.
pub fn sign_with(keys: &Path, audience: &str) -> anyhow::Result<()> {
    let read = |name: &str| {
        let path = keys.join(name);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    };
    let mut signer = Signer::new(read("demo-idp.key")?, read("demo-idp.crt")?)
        .with_holder_of_key(read("demo-hok.key")?, read("demo-hok.crt")?);
    signer.sha1 = true;
    let signing = Signing {
        signer,
        audience: audience.to_string(),
    };
    sign(
        &signing,
        &envelope_unsigned("urn:ihe:iti:2007:CrossGatewayQuery", ""),
        "9690937286",
    )
    .context("signing a test request")?;
    SIGNING
        .set(signing)
        .map_err(|_| anyhow::anyhow!("signing is already configured"))
}

fn sign(signing: &Signing, envelope: &str, nhs: &str) -> anyhow::Result<String> {
    let claims = Claims::epic_like(nhs, Some(&signing.audience));
    sign_request(
        envelope,
        &claims,
        &signing.signer,
        OffsetDateTime::now_utc(),
    )
    .context("signing the request")
}

/// The request for patient `nhs`, signed when [`sign_with`] was called. A request that cannot
/// be signed (it was checked at start-up) goes unsigned, to be refused and counted as failed.
fn envelope(action: &str, body: &str, nhs: &str) -> String {
    let unsigned = envelope_unsigned(action, body);
    match SIGNING.get() {
        Some(signing) => sign(signing, &unsigned, nhs).unwrap_or(unsigned),
        None => unsigned,
    }
}

fn envelope_unsigned(action: &str, body: &str) -> String {
    let message_id = uuid::Uuid::new_v4();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">
<s:Header>
<a:Action s:mustUnderstand="1">{action}</a:Action>
<a:MessageID>urn:uuid:{message_id}</a:MessageID>
<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>
{SECURITY}
</s:Header>
<s:Body>
{body}
</s:Body>
</s:Envelope>"#
    )
}

/// ITI-55 Cross-Gateway Patient Discovery by NHS number alone (no demographics, so it matches
/// whatever `XHUMA_XCPD_DEMOGRAPHIC_CHECK` says).
pub fn iti55(nhs: &str) -> String {
    let body = format!(
        r#"<PRPA_IN201305UV02 xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">
<id root="2.16.840.1.113883.2.1.3.34.9999" extension="LOADTEST-55"/>
<creationTime value="20260101120000"/>
<interactionId root="2.16.840.1.113883.1.6" extension="PRPA_IN201305UV02"/>
<processingCode code="P"/><processingModeCode code="T"/><acceptAckCode code="AL"/>
<receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE"><id root="{HOME_COMMUNITY}"/></device></receiver>
<sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE"><id root="2.16.840.1.113883.2.1.3.34.9999"/></device></sender>
<controlActProcess classCode="CACT" moodCode="EVN">
<code code="PRPA_TE201305UV02" codeSystem="2.16.840.1.113883.1.6"/>
<queryByParameter>
<queryId root="2.16.840.1.113883.2.1.3.34.9999" extension="LOADTEST-QUERY"/>
<statusCode code="new"/><responseModalityCode code="R"/><responsePriorityCode code="I"/>
<parameterList>
<livingSubjectId><value root="2.16.840.1.113883.2.1.4.1" extension="{nhs}"/><semanticsText>LivingSubject.id</semanticsText></livingSubjectId>
</parameterList>
</queryByParameter>
</controlActProcess>
</PRPA_IN201305UV02>"#
    );
    envelope(
        "urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery",
        &body,
        nhs,
    )
}

/// ITI-38 FindDocuments for one patient.
pub fn iti38(nhs: &str) -> String {
    let body = format!(
        r#"<query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
<query:ResponseOption returnType="LeafClass" returnComposedObjects="true"/>
<rim:AdhocQuery id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d" home="urn:oid:{HOME_COMMUNITY}">
<rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>'{nhs}^^^&amp;2.16.840.1.113883.2.1.4.1&amp;ISO'</rim:Value></rim:ValueList></rim:Slot>
<rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList><rim:Value>('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')</rim:Value></rim:ValueList></rim:Slot>
</rim:AdhocQuery>
</query:AdhocQueryRequest>"#
    );
    envelope("urn:ihe:iti:2007:CrossGatewayQuery", &body, nhs)
}

/// ITI-39 RetrieveDocumentSet for one document of patient `nhs`.
pub fn iti39(nhs: &str, unique_id: &str) -> String {
    let body = format!(
        r#"<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">
<xdsb:DocumentRequest>
<xdsb:HomeCommunityId>urn:oid:{HOME_COMMUNITY}</xdsb:HomeCommunityId>
<xdsb:RepositoryUniqueId>{REPOSITORY}</xdsb:RepositoryUniqueId>
<xdsb:DocumentUniqueId>{unique_id}</xdsb:DocumentUniqueId>
</xdsb:DocumentRequest>
</xdsb:RetrieveDocumentSetRequest>"#
    );
    envelope("urn:ihe:iti:2007:CrossGatewayRetrieve", &body, nhs)
}

/// ITI-55 found the patient: acknowledgement AA and the patient's id in a subject.
pub fn iti55_found(body: &str, nhs: &str) -> bool {
    body.contains(r#"<typeCode code="AA""#)
        && body.contains("<subject")
        && body.contains(&format!(r#"extension="{nhs}""#))
}

/// The first document uniqueId (`2.25.…`) an ITI-38 answer advertises.
pub fn iti38_unique_id(body: &str) -> Option<&str> {
    let start = body.find(r#"value="2.25."#)? + r#"value=""#.len();
    let len = body[start..].find('"')?;
    Some(&body[start..start + len])
}

/// ITI-39 returned a C-CDA: inline, as a document that decodes to one (only the first few
/// hundred characters are decoded), or as an MTOM attachment the envelope refers to.
pub fn iti39_has_ccda(body: &str) -> bool {
    if body.contains("xop:Include") || body.contains(":Include href=\"cid:") {
        return body.contains("<ClinicalDocument");
    }
    let Some(open) = body.find("Document>") else {
        return false;
    };
    let rest = body[open + "Document>".len()..].trim_start();
    let end = rest.find('<').unwrap_or(rest.len());
    let b64: String = rest[..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(1200)
        .collect();
    let b64 = &b64[..b64.len() - b64.len() % 4];
    match base64::engine::general_purpose::STANDARD.decode(b64) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).contains("ClinicalDocument"),
        Err(_) => false,
    }
}

/// One SOAP POST outside goose (warm-up and the prefetch probe); the body of any answer.
pub async fn post(
    client: &reqwest::Client,
    gateway: &str,
    path: &str,
    body: String,
) -> anyhow::Result<String> {
    let url = format!("{}{path}", gateway.trim_end_matches('/'));
    client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?
        .text()
        .await
        .with_context(|| format!("reading the answer of POST {url}"))
}
