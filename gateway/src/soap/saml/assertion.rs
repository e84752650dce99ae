//! Typed view of the `wsse:Security` header copied by [`super::scan`]: the SAML 2.0 assertion,
//! the XML-DSig signatures (their shape, not their cryptography) and the `wsu:Timestamp`.
//!
//! Nothing here is trusted yet: [`super::SamlVerifier`] reads these values only after the
//! signature over exactly this assertion element has verified.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xhuma_common::identity::Coded;

use super::SamlError;
use super::ns;
use super::tree::Element;

/// The parts of `wsse:Security` the verifier looks at.
#[derive(Debug)]
pub(super) struct SecurityParts<'a> {
    pub assertion: Option<&'a Element<'a>>,
    /// `ds:Signature` elements directly under `wsse:Security` (holder-of-key proofs), in order.
    pub signatures: Vec<&'a Element<'a>>,
    pub timestamp: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub(super) struct Timestamp {
    pub id: Option<String>,
    pub created: Option<OffsetDateTime>,
    pub expires: Option<OffsetDateTime>,
}

/// A SAML 2.0 assertion, as read from the XML.
#[derive(Debug, Clone)]
pub(super) struct Assertion {
    pub id: String,
    pub issue_instant: Option<OffsetDateTime>,
    pub issuer: String,
    pub name_id: Option<String>,
    pub signature: Option<SignatureInfo>,
    pub not_before: Option<OffsetDateTime>,
    pub not_on_or_after: Option<OffsetDateTime>,
    /// One list of audiences per `AudienceRestriction` (each restriction must be satisfied).
    pub audiences: Vec<Vec<String>>,
    pub confirmations: Vec<Confirmation>,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone)]
pub(super) struct Confirmation {
    pub method: String,
    pub not_before: Option<OffsetDateTime>,
    pub not_on_or_after: Option<OffsetDateTime>,
    /// The holder's key from `SubjectConfirmationData/ds:KeyInfo`.
    pub key: Option<HolderKey>,
}

/// Key material named in a `ds:KeyInfo`: a certificate (preferred) or a bare RSA key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HolderKey {
    CertDer(Vec<u8>),
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
}

#[derive(Debug, Clone)]
pub(super) struct Attribute {
    pub name: String,
    pub values: Vec<AttributeValue>,
}

#[derive(Debug, Clone)]
pub(super) struct AttributeValue {
    pub text: String,
    /// The first child element's HL7 CE attributes (`Role`, `PurposeForUse`, `PurposeOfUse`).
    pub coded: Option<Coded>,
}

/// The shape of one `ds:Signature`.
#[derive(Debug, Clone)]
pub(super) struct SignatureInfo {
    pub c14n: String,
    /// `CanonicalizationMethod/InclusiveNamespaces/@PrefixList` (`#default` as "").
    pub c14n_prefixes: Vec<String>,
    pub method: String,
    pub references: Vec<ReferenceInfo>,
    /// Elements other than SignedInfo, SignatureValue and KeyInfo (e.g. `ds:Object`).
    pub unexpected_children: bool,
    /// `KeyInfo/X509Data/X509Certificate` (DER).
    pub cert: Option<Vec<u8>>,
    /// `KeyInfo/wsse:SecurityTokenReference` target (KeyIdentifier text or Reference URI).
    pub token_ref: Option<String>,
    /// `SignatureValue`, whitespace removed (a replay key: unique per signed message).
    pub value: String,
}

#[derive(Debug, Clone)]
pub(super) struct ReferenceInfo {
    pub uri: Option<String>,
    pub transforms: Vec<String>,
    /// The exc-c14n transform's `InclusiveNamespaces/@PrefixList` (`#default` as "").
    pub inclusive_prefixes: Vec<String>,
    pub digest: String,
    /// `DigestValue`, whitespace removed (base64).
    pub digest_value: String,
}

/// Splits the Security header into the parts we use.
pub(super) fn security_parts<'a>(sec: &'a Element<'a>) -> Result<SecurityParts<'a>, SamlError> {
    let mut assertions = sec.children_named(ns::SAML2, "Assertion");
    let assertion = assertions.next();
    if assertions.next().is_some() {
        return Err(SamlError::Malformed("more than one SAML assertion"));
    }
    let mut stamps = sec.children_named(ns::WSU, "Timestamp");
    let timestamp = stamps.next().map(timestamp).transpose()?;
    if stamps.next().is_some() {
        return Err(SamlError::Malformed("more than one wsu:Timestamp"));
    }
    Ok(SecurityParts {
        assertion,
        signatures: sec.children_named(ns::DS, "Signature").collect(),
        timestamp,
    })
}

fn timestamp(e: &Element<'_>) -> Result<Timestamp, SamlError> {
    Ok(Timestamp {
        id: e.attr_ns(ns::WSU, "Id").map(str::to_string),
        created: e
            .child(ns::WSU, "Created")
            .map(|c| instant(&c.text()))
            .transpose()?,
        expires: e
            .child(ns::WSU, "Expires")
            .map(|c| instant(&c.text()))
            .transpose()?,
    })
}

/// Reads an assertion element.
pub(super) fn assertion(e: &Element<'_>) -> Result<Assertion, SamlError> {
    if e.attr("Version") != Some("2.0") {
        return Err(SamlError::Malformed("assertion Version is not 2.0"));
    }
    let id = e
        .attr("ID")
        .filter(|id| !id.is_empty())
        .ok_or(SamlError::Malformed("assertion has no ID"))?
        .to_string();
    let issuer = e
        .child(ns::SAML2, "Issuer")
        .map(|i| i.text().trim().to_string())
        .filter(|i| !i.is_empty())
        .ok_or(SamlError::Malformed("assertion has no Issuer"))?;
    // Exactly one enveloped signature, directly under the assertion; none anywhere deeper.
    let mut sigs = e.children_named(ns::DS, "Signature");
    let signature = sigs.next().map(signature).transpose()?;
    if sigs.next().is_some() {
        return Err(SamlError::Malformed("more than one assertion signature"));
    }
    let nested = e
        .elements()
        .filter(|c| !c.is(ns::DS, "Signature"))
        .flat_map(|c| c.descendants())
        .any(|d| d.is(ns::DS, "Signature"));
    if nested {
        return Err(SamlError::Malformed(
            "nested signature inside the assertion",
        ));
    }

    let subject = e.child(ns::SAML2, "Subject");
    let name_id = subject
        .and_then(|s| s.child(ns::SAML2, "NameID"))
        .map(|n| n.text().trim().to_string());
    let mut confirmations = Vec::new();
    for sc in subject
        .into_iter()
        .flat_map(|s| s.children_named(ns::SAML2, "SubjectConfirmation"))
    {
        let data = sc.child(ns::SAML2, "SubjectConfirmationData");
        confirmations.push(Confirmation {
            method: sc.attr("Method").unwrap_or_default().to_string(),
            not_before: data
                .and_then(|d| d.attr("NotBefore"))
                .map(instant)
                .transpose()?,
            not_on_or_after: data
                .and_then(|d| d.attr("NotOnOrAfter"))
                .map(instant)
                .transpose()?,
            key: data
                .and_then(|d| d.child(ns::DS, "KeyInfo"))
                .map(holder_key)
                .transpose()?
                .flatten(),
        });
    }

    let mut conditions = e.children_named(ns::SAML2, "Conditions");
    let cond = conditions.next();
    if conditions.next().is_some() {
        return Err(SamlError::Malformed("more than one Conditions"));
    }
    let audiences = cond
        .into_iter()
        .flat_map(|c| c.children_named(ns::SAML2, "AudienceRestriction"))
        .map(|r| {
            r.children_named(ns::SAML2, "Audience")
                .map(|a| a.text().trim().to_string())
                .collect()
        })
        .collect();

    let mut attributes = Vec::new();
    for stmt in e.children_named(ns::SAML2, "AttributeStatement") {
        for a in stmt.children_named(ns::SAML2, "Attribute") {
            attributes.push(Attribute {
                name: a.attr("Name").unwrap_or_default().to_string(),
                values: a
                    .children_named(ns::SAML2, "AttributeValue")
                    .map(|v| AttributeValue {
                        text: v.text().trim().to_string(),
                        coded: v.elements().next().map(coded),
                    })
                    .collect(),
            });
        }
    }

    Ok(Assertion {
        id,
        issue_instant: e.attr("IssueInstant").map(instant).transpose()?,
        issuer,
        name_id,
        signature,
        not_before: cond
            .and_then(|c| c.attr("NotBefore"))
            .map(instant)
            .transpose()?,
        not_on_or_after: cond
            .and_then(|c| c.attr("NotOnOrAfter"))
            .map(instant)
            .transpose()?,
        audiences,
        confirmations,
        attributes,
    })
}

/// Reads the shape of a `ds:Signature`.
pub(super) fn signature(sig: &Element<'_>) -> Result<SignatureInfo, SamlError> {
    let si = sig
        .child(ns::DS, "SignedInfo")
        .ok_or(SamlError::Malformed("signature has no SignedInfo"))?;
    let alg = |e: Option<&Element<'_>>| {
        e.and_then(|e| e.attr("Algorithm"))
            .unwrap_or_default()
            .to_string()
    };
    let references = si
        .children_named(ns::DS, "Reference")
        .map(|r| {
            let transforms: Vec<&Element<'_>> = r
                .child(ns::DS, "Transforms")
                .into_iter()
                .flat_map(|t| t.children_named(ns::DS, "Transform"))
                .collect();
            ReferenceInfo {
                uri: r.attr("URI").map(str::to_string),
                transforms: transforms
                    .iter()
                    .map(|t| t.attr("Algorithm").unwrap_or_default().to_string())
                    .collect(),
                inclusive_prefixes: transforms.iter().flat_map(|t| prefix_list(t)).collect(),
                digest: alg(r.child(ns::DS, "DigestMethod")),
                digest_value: r
                    .child(ns::DS, "DigestValue")
                    .map(|v| without_whitespace(&v.text()))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let key_info = sig.child(ns::DS, "KeyInfo");
    let cert = key_info
        .and_then(|k| k.child(ns::DS, "X509Data"))
        .and_then(|x| x.child(ns::DS, "X509Certificate"))
        .map(|c| b64(&c.text()))
        .transpose()?;
    let token_ref = key_info
        .and_then(|k| k.child(ns::WSSE, "SecurityTokenReference"))
        .and_then(|s| {
            s.child(ns::WSSE, "KeyIdentifier")
                .map(|k| k.text().trim().to_string())
                .or_else(|| {
                    s.child(ns::WSSE, "Reference")
                        .and_then(|r| r.attr("URI"))
                        .map(|u| u.trim_start_matches('#').to_string())
                })
        });
    Ok(SignatureInfo {
        c14n: alg(si.child(ns::DS, "CanonicalizationMethod")),
        c14n_prefixes: si
            .child(ns::DS, "CanonicalizationMethod")
            .map(prefix_list)
            .unwrap_or_default(),
        method: alg(si.child(ns::DS, "SignatureMethod")),
        references,
        unexpected_children: sig.elements().any(|c| {
            !(c.ns == ns::DS
                && matches!(c.name.as_ref(), "SignedInfo" | "SignatureValue" | "KeyInfo"))
        }),
        cert,
        token_ref,
        value: sig
            .child(ns::DS, "SignatureValue")
            .map(|v| without_whitespace(&v.text()))
            .unwrap_or_default(),
    })
}

/// The `InclusiveNamespaces PrefixList` inside a transform or canonicalisation method.
fn prefix_list(method: &Element<'_>) -> Vec<String> {
    method
        .children_named(EXC_C14N_NS, "InclusiveNamespaces")
        .filter_map(|i| i.attr("PrefixList"))
        .flat_map(str::split_whitespace)
        .map(|p| if p == "#default" { "" } else { p }.to_string())
        .collect()
}

/// The namespace of `InclusiveNamespaces` (the algorithm URI itself).
const EXC_C14N_NS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

fn holder_key(ki: &Element<'_>) -> Result<Option<HolderKey>, SamlError> {
    if let Some(cert) = ki
        .child(ns::DS, "X509Data")
        .and_then(|x| x.child(ns::DS, "X509Certificate"))
    {
        return Ok(Some(HolderKey::CertDer(b64(&cert.text())?)));
    }
    if let Some(rsa) = ki
        .child(ns::DS, "KeyValue")
        .and_then(|k| k.child(ns::DS, "RSAKeyValue"))
    {
        let part = |name| {
            rsa.child(ns::DS, name)
                .map(|e| b64(&e.text()))
                .transpose()?
                .ok_or(SamlError::Malformed("incomplete RSAKeyValue"))
        };
        return Ok(Some(HolderKey::Rsa {
            modulus: part("Modulus")?,
            exponent: part("Exponent")?,
        }));
    }
    Ok(None)
}

fn coded(e: &Element<'_>) -> Coded {
    let get = |n: &str| e.attr(n).map(str::to_string);
    Coded {
        code: get("code").unwrap_or_default(),
        code_system: get("codeSystem"),
        code_system_name: get("codeSystemName"),
        display_name: get("displayName"),
    }
}

/// `s` with every (Unicode) whitespace run removed, as `split_whitespace` sees them; copied a
/// run at a time rather than a character at a time (a signature value is ~350 bytes).
fn without_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    s.split_whitespace().for_each(|part| out.push_str(part));
    out
}

/// Base64 with any XML whitespace inside (PEM-style line breaks are common).
fn b64(s: &str) -> Result<Vec<u8>, SamlError> {
    // ASCII whitespace is single bytes, so filtering bytes removes exactly the characters a
    // filter over chars would.
    let compact: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|_| SamlError::Malformed("bad base64"))
}

/// An `xs:dateTime` with a zone (SAML requires UTC).
pub(super) fn instant(s: &str) -> Result<OffsetDateTime, SamlError> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|_| SamlError::Malformed("bad dateTime"))
}
