//! A test identity provider for the EHR side of Xhuma.
//!
//! [`sign_request`] takes a SOAP 1.2 request (any of ours: `deploy/local/examples`, the load
//! test's templates, the e2e tests'), puts a fresh `wsse:Security` header into it — a SAML 2.0
//! assertion with Epic's XSPA attributes and an optional holder-of-key `wsu:Timestamp` — and
//! signs it with libxmlsec1: RSA-SHA256 (or RSA-SHA1, as Epic signs), enveloped signature,
//! exclusive canonicalisation, the signer's certificate in `KeyInfo`. Each call makes a new
//! `wsa:MessageID`, assertion ID and Timestamp, so requests signed in a loop are never replays.
//!
//! The keys it uses are test keys (`deploy/local/keys/demo-*`, `gateway/tests/data/saml`):
//! an EHR's real IdP signs in production, this never does.

use std::sync::OnceLock;

use libxml::parser::Parser;
use libxml::tree::{Document, Node, SaveOptions};
use libxml::xpath::Context;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use xhuma_xml::escape as esc;
use xmlsec::{XmlSecDocumentExt, XmlSecKey, XmlSecKeyFormat, XmlSecSignatureContext};

const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
const WSA: &str = "http://www.w3.org/2005/08/addressing";
const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const SAML2: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The NHS number OID, the assigning authority of a `resource-id` CX.
pub const NHS_OID: &str = "2.16.840.1.113883.2.1.4.1";

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    #[error("key or certificate: {0}")]
    Key(String),
    #[error("the request is not a SOAP 1.2 envelope with a Header: {0}")]
    Envelope(&'static str),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A coded value (HL7 CE) as Epic sends Role and PurposeForUse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub code: String,
    pub system: String,
    pub system_name: String,
    pub display: String,
}

/// What the assertion says.
#[derive(Debug, Clone)]
pub struct Claims {
    pub issuer: String,
    pub subject_id: String,
    pub organization: String,
    pub organization_id: String,
    pub home_community_id: String,
    pub role: Code,
    pub purpose_of_use: Code,
    /// The patient the request is about, as an HL7 CX (`NHS^^^&OID&ISO`); `None` leaves the
    /// attribute out.
    pub resource_id: Option<String>,
    pub audience: Option<String>,
    /// How long the assertion (and the Timestamp) stay valid from `now`.
    pub lifetime: Duration,
}

/// Who signs: the IdP key and certificate (PEM), and optionally the requesting gateway's
/// holder-of-key key and certificate, which sign the `wsu:Timestamp`.
pub struct Signer {
    idp_key: Vec<u8>,
    idp_cert: Vec<u8>,
    hok: Option<(Vec<u8>, Vec<u8>)>,
    /// RSA-SHA1 with SHA-1 digests (Epic), instead of RSA-SHA256.
    pub sha1: bool,
}

// === impl Code ===

impl Code {
    fn new(code: &str, system: &str, system_name: &str, display: &str) -> Self {
        Self {
            code: code.into(),
            system: system.into(),
            system_name: system_name.into(),
            display: display.into(),
        }
    }
}

// === impl Claims ===

impl Claims {
    /// An Epic-shaped clinician asking, for direct care, about patient `nhs`.
    pub fn epic_like(nhs: &str, audience: Option<&str>) -> Self {
        Self {
            issuer: "CN=demo-idp.ehr.invalid, O=Xhuma Demo, C=GB".into(),
            subject_id: "CONE, Stephen".into(),
            organization: "Example Hospital NHS Trust".into(),
            organization_id: "urn:oid:1.2.840.114350.1.13.525.3.7.3.688884.100".into(),
            home_community_id: "urn:oid:1.2.840.114350.1.13.525.3.7.3.688884.100".into(),
            role: Code::new(
                "224608005",
                "2.16.840.1.113883.6.96",
                "SNOMED_CT",
                "Administrative healthcare staff",
            ),
            purpose_of_use: Code::new(
                "TREATMENT",
                "2.16.840.1.113883.3.18.7.1",
                "nhin-purpose",
                "Treatment",
            ),
            resource_id: Some(cx(nhs)),
            audience: audience.map(str::to_string),
            lifetime: Duration::minutes(5),
        }
    }
}

/// `nhs` as the CX a resource-id carries.
pub fn cx(nhs: &str) -> String {
    format!("{nhs}^^^&{NHS_OID}&ISO")
}

// === impl Signer ===

impl Signer {
    /// `idp_key`: PEM private key; `idp_cert`: its PEM certificate (what the gateway pins).
    pub fn new(idp_key: Vec<u8>, idp_cert: Vec<u8>) -> Self {
        Self {
            idp_key,
            idp_cert,
            hok: None,
            sha1: false,
        }
    }

    /// Reads the PEM files.
    pub fn from_files(key: &str, cert: &str) -> Result<Self, IdpError> {
        Ok(Self::new(read(key)?, read(cert)?))
    }

    /// Adds the holder-of-key pair (PEM key, PEM certificate).
    pub fn with_holder_of_key(mut self, key: Vec<u8>, cert: Vec<u8>) -> Self {
        self.hok = Some((key, cert));
        self
    }

    fn algorithms(&self) -> (&'static str, &'static str) {
        if self.sha1 {
            (
                "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                "http://www.w3.org/2000/09/xmldsig#sha1",
            )
        } else {
            (
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "http://www.w3.org/2001/04/xmlenc#sha256",
            )
        }
    }
}

fn read(path: &str) -> Result<Vec<u8>, IdpError> {
    std::fs::read(path).map_err(|e| IdpError::Key(format!("{path}: {e}")))
}

/// Signs `envelope` (a SOAP 1.2 request) for `now`: returns the request with a new
/// `wsa:MessageID` and a signed `wsse:Security` header (any existing one is replaced).
pub fn sign_request(
    envelope: &str,
    claims: &Claims,
    signer: &Signer,
    now: OffsetDateTime,
) -> Result<String, IdpError> {
    init();
    let assertion_id = format!("_{}", uuid::Uuid::new_v4().simple());
    let ts_id = format!("TS-{}", uuid::Uuid::new_v4().simple());
    let header = security_header(claims, signer, now, &assertion_id, &ts_id)?;
    let with_header = insert_security(envelope, &header)?;
    let with_id = fresh_message_id(&with_header);

    let doc = Parser::default()
        .parse_string(with_id.as_bytes())
        .map_err(|_| IdpError::Envelope("not well-formed XML"))?;
    doc.specify_idattr("//saml2:Assertion", "ID", Some(&[("saml2", SAML2)]))
        .map_err(|e| IdpError::Sign(format!("assertion ID: {e:?}")))?;
    if signer.hok.is_some() {
        doc.specify_idattr("//wsu:Timestamp", "Id", Some(&[("wsu", WSU)]))
            .map_err(|e| IdpError::Sign(format!("timestamp Id: {e:?}")))?;
    }
    let idp = key(&signer.idp_key, &signer.idp_cert)?;
    sign_at(&doc, "//saml2:Assertion/ds:Signature", idp)?;
    if let Some((k, c)) = &signer.hok {
        sign_at(&doc, "//wsse:Security/ds:Signature", key(k, c)?)?;
    }
    Ok(doc.to_string_with_options(SaveOptions {
        format: false,
        ..SaveOptions::default()
    }))
}

fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = Parser::default().parse_string(b"<init/>");
        drop(XmlSecSignatureContext::new());
    });
}

fn key(pem: &[u8], cert: &[u8]) -> Result<XmlSecKey, IdpError> {
    let key = XmlSecKey::from_memory(pem, XmlSecKeyFormat::Pem, None)
        .map_err(|e| IdpError::Key(format!("private key: {e:?}")))?;
    key.load_cert_from_memory(cert, XmlSecKeyFormat::CertPem)
        .map_err(|e| IdpError::Key(format!("certificate: {e:?}")))?;
    Ok(key)
}

fn sign_at(doc: &Document, xpath: &str, key: XmlSecKey) -> Result<(), IdpError> {
    let node = find(doc, xpath)?;
    let mut ctx = XmlSecSignatureContext::new();
    ctx.insert_key(key);
    ctx.sign_node(&node)
        .map_err(|e| IdpError::Sign(format!("{xpath}: {e:?}")))
}

fn find(doc: &Document, xpath: &str) -> Result<Node, IdpError> {
    let mut ctx = Context::new(doc).map_err(|_| IdpError::Sign("xpath".into()))?;
    for (p, h) in [("saml2", SAML2), ("ds", DS), ("wsse", WSSE), ("wsu", WSU)] {
        ctx.register_namespace(p, h)
            .map_err(|_| IdpError::Sign("xpath".into()))?;
    }
    ctx.findnodes(xpath, None)
        .ok()
        .and_then(|n| n.into_iter().next())
        .ok_or(IdpError::Sign(format!("{xpath} not found")))
}

/// The signature template libxmlsec1 fills in: one reference, the given transforms.
fn signature_template(uri: &str, transforms: &[&str], signer: &Signer, key_info: &str) -> String {
    let (method, digest) = signer.algorithms();
    let transforms: String = transforms
        .iter()
        .map(|t| format!("<ds:Transform Algorithm=\"{t}\"/>"))
        .collect();
    format!(
        "<ds:Signature xmlns:ds=\"{DS}\"><ds:SignedInfo>\
         <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
         <ds:SignatureMethod Algorithm=\"{method}\"/>\
         <ds:Reference URI=\"#{uri}\"><ds:Transforms>{transforms}</ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{digest}\"/><ds:DigestValue/></ds:Reference>\
         </ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo>{key_info}</ds:KeyInfo></ds:Signature>"
    )
}

fn security_header(
    c: &Claims,
    signer: &Signer,
    now: OffsetDateTime,
    assertion_id: &str,
    ts_id: &str,
) -> Result<String, IdpError> {
    let t = |d: OffsetDateTime| d.format(&Rfc3339).unwrap_or_default();
    let (not_before, expires) = (now - Duration::seconds(30), now + c.lifetime);
    let enveloped = [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    ];
    let assertion_sig = signature_template(
        assertion_id,
        &enveloped,
        signer,
        "<ds:X509Data><ds:X509Certificate/></ds:X509Data>",
    );
    let (method, key_info) = match &signer.hok {
        Some((_, cert)) => (
            "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key",
            format!(
                "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
                pem_base64(cert)?
            ),
        ),
        None => ("urn:oasis:names:tc:SAML:2.0:cm:bearer", String::new()),
    };
    let attr = |name: &str, value: &str| {
        format!(
            "<saml2:Attribute Name=\"{name}\"><saml2:AttributeValue xsi:type=\"xs:string\">{}</saml2:AttributeValue></saml2:Attribute>",
            esc(value)
        )
    };
    let coded = |name: &str, element: &str, v: &Code| {
        format!(
            "<saml2:Attribute Name=\"{name}\"><saml2:AttributeValue><{element} xmlns=\"urn:hl7-org:v3\" xsi:type=\"CE\" code=\"{}\" codeSystem=\"{}\" codeSystemName=\"{}\" displayName=\"{}\"/></saml2:AttributeValue></saml2:Attribute>",
            esc(&v.code),
            esc(&v.system),
            esc(&v.system_name),
            esc(&v.display)
        )
    };
    let mut attributes = [
        attr(
            "urn:oasis:names:tc:xspa:1.0:subject:subject-id",
            &c.subject_id,
        ),
        attr(
            "urn:oasis:names:tc:xspa:1.0:subject:organization",
            &c.organization,
        ),
        attr(
            "urn:oasis:names:tc:xspa:1.0:subject:organization-id",
            &c.organization_id,
        ),
        attr("urn:nhin:names:saml:homeCommunityId", &c.home_community_id),
        coded("urn:oasis:names:tc:xacml:2.0:subject:role", "Role", &c.role),
        coded(
            "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
            "PurposeForUse",
            &c.purpose_of_use,
        ),
    ]
    .concat();
    if let Some(r) = &c.resource_id {
        attributes.push_str(&attr(
            "urn:oasis:names:tc:xacml:2.0:resource:resource-id",
            r,
        ));
    }
    let audience = c
        .audience
        .as_deref()
        .map(|a| {
            format!(
                "<saml2:AudienceRestriction><saml2:Audience>{}</saml2:Audience></saml2:AudienceRestriction>",
                esc(a)
            )
        })
        .unwrap_or_default();
    let assertion = format!(
        "<saml2:Assertion xmlns:saml2=\"{SAML2}\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ID=\"{assertion_id}\" IssueInstant=\"{now}\" Version=\"2.0\">\
         <saml2:Issuer Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName\">{issuer}</saml2:Issuer>{assertion_sig}\
         <saml2:Subject><saml2:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName\">{subject}</saml2:NameID>\
         <saml2:SubjectConfirmation Method=\"{method}\"><saml2:SubjectConfirmationData xmlns:ds=\"{DS}\">{key_info}</saml2:SubjectConfirmationData></saml2:SubjectConfirmation></saml2:Subject>\
         <saml2:Conditions NotBefore=\"{nb}\" NotOnOrAfter=\"{na}\">{audience}</saml2:Conditions>\
         <saml2:AuthnStatement AuthnInstant=\"{nb}\"><saml2:AuthnContext><saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:X509</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>\
         <saml2:AttributeStatement>{attributes}</saml2:AttributeStatement></saml2:Assertion>",
        now = t(now),
        issuer = esc(&c.issuer),
        subject = esc(&c.subject_id),
        nb = t(not_before),
        na = t(expires),
    );
    let (timestamp, hok_sig) = match signer.hok {
        Some(_) => (
            format!(
                "<wsu:Timestamp wsu:Id=\"{ts_id}\"><wsu:Created>{}</wsu:Created><wsu:Expires>{}</wsu:Expires></wsu:Timestamp>",
                t(now),
                t(expires)
            ),
            signature_template(
                ts_id,
                &["http://www.w3.org/2001/10/xml-exc-c14n#"],
                signer,
                &format!(
                    "<wsse:SecurityTokenReference><wsse:KeyIdentifier ValueType=\"http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID\">{assertion_id}</wsse:KeyIdentifier></wsse:SecurityTokenReference>"
                ),
            ),
        ),
        None => (String::new(), String::new()),
    };
    Ok(format!(
        "<wsse:Security xmlns:wsse=\"{WSSE}\" xmlns:wsu=\"{WSU}\">{timestamp}{assertion}{hok_sig}</wsse:Security>"
    ))
}

/// Puts `header` first in the envelope's `Header`, replacing a `wsse:Security` already there.
fn insert_security(envelope: &str, header: &str) -> Result<String, IdpError> {
    if !envelope.contains(SOAP12) {
        return Err(IdpError::Envelope("no SOAP 1.2 namespace"));
    }
    let mut env = envelope.to_string();
    if let (Some(s), Some(e)) = (env.find("<wsse:Security"), env.find("</wsse:Security>")) {
        env.replace_range(s..e + "</wsse:Security>".len(), "");
    }
    let open = header_open_tag(&env).ok_or(IdpError::Envelope("no Header element"))?;
    let (start, end) = open;
    if env[start..end].ends_with("/>") {
        let name = &env[start + 1..end - 2];
        let name = name.split_whitespace().next().unwrap_or("Header");
        let replacement = format!("{}>{header}</{name}>", &env[start..end - 2]);
        env.replace_range(start..end, &replacement);
    } else {
        env.insert_str(end, header);
    }
    Ok(env)
}

/// The byte range of the `<…:Header …>` start tag.
fn header_open_tag(env: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = env[from..].find('<') {
        let start = from + i;
        let end = start + env[start..].find('>')? + 1;
        let name = env[start + 1..end - 1]
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        if name == "Header" || name.ends_with(":Header") {
            return Some((start, end));
        }
        from = end;
    }
    None
}

/// Replaces the text of `wsa:MessageID` (any prefix bound to WS-Addressing) with a new UUID.
fn fresh_message_id(env: &str) -> String {
    let Some(prefix) = prefix_of(env, WSA) else {
        return env.to_string();
    };
    let open = format!("<{prefix}MessageID>");
    let close = format!("</{prefix}MessageID>");
    match (env.find(&open), env.find(&close)) {
        (Some(s), Some(e)) if s < e => format!(
            "{}{open}urn:uuid:{}{}",
            &env[..s],
            uuid::Uuid::new_v4(),
            &env[e..]
        ),
        _ => env.to_string(),
    }
}

/// `"p:"` for the first `xmlns:p="ns"` declaration, `""` for a default one.
fn prefix_of(env: &str, ns: &str) -> Option<String> {
    let decl = env.find(&format!("=\"{ns}\""))?;
    let before = &env[..decl];
    let attr_start = before.rfind(char::is_whitespace)? + 1;
    let attr = &before[attr_start..];
    match attr.strip_prefix("xmlns") {
        Some("") => Some(String::new()),
        Some(p) => p.strip_prefix(':').map(|p| format!("{p}:")),
        None => None,
    }
}

fn pem_base64(pem: &[u8]) -> Result<String, IdpError> {
    let text =
        std::str::from_utf8(pem).map_err(|_| IdpError::Key("certificate is not PEM".into()))?;
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    if body.is_empty() {
        return Err(IdpError::Key("no CERTIFICATE block".into()));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_found_with_any_prefix_or_self_closing() {
        let env = format!("<e:Envelope xmlns:e=\"{SOAP12}\"><e:Header/><e:Body/></e:Envelope>");
        let out = insert_security(&env, "<X/>").expect("inserted");
        assert!(out.contains("<e:Header><X/></e:Header>"), "{out}");
        let env = format!(
            "<soap:Envelope xmlns:soap=\"{SOAP12}\"><soap:Header><a/></soap:Header></soap:Envelope>"
        );
        let out = insert_security(&env, "<X/>").expect("inserted");
        assert!(out.contains("<soap:Header><X/><a/>"), "{out}");
    }

    #[test]
    fn message_id_is_new_each_time() {
        let env = format!(
            "<s:Envelope xmlns:s=\"{SOAP12}\" xmlns:wsa=\"{WSA}\"><s:Header><wsa:MessageID>urn:uuid:1</wsa:MessageID></s:Header></s:Envelope>"
        );
        let a = fresh_message_id(&env);
        let b = fresh_message_id(&env);
        assert_ne!(a, b);
        assert!(!a.contains("urn:uuid:1<"));
    }
}
