//! XSPA / NHIN attributes of a verified assertion → [`Requester`], the identity that goes into
//! the GP Connect JWT and the audit trail (see `xhuma_common::identity`).
//!
//! | SAML `Attribute/@Name` | field |
//! |---|---|
//! | `urn:oasis:names:tc:xspa:1.0:subject:subject-id` | `subject_id` (falls back to `Subject/NameID`) |
//! | `urn:oasis:names:tc:xspa:1.0:subject:organization` | `organization` |
//! | `urn:oasis:names:tc:xspa:1.0:subject:organization-id` | `organization_id` |
//! | `urn:nhin:names:saml:homeCommunityId` | `home_community_id` |
//! | `urn:oasis:names:tc:xacml:2.0:subject:role` | `role` (inner HL7 `Role` CE) |
//! | `urn:oasis:names:tc:xspa:1.0:subject:purposeofuse` | `purpose_of_use` (inner `PurposeForUse` CE) |
//! | `urn:oasis:names:tc:xacml:2.0:resource:resource-id` | [`super::VerifiedAssertion::resource_id`] |

use xhuma_common::NhsNumber;
use xhuma_common::identity::{Coded, Requester};

use super::SamlError;
use super::assertion::{Assertion, AttributeValue};

pub const SUBJECT_ID: &str = "urn:oasis:names:tc:xspa:1.0:subject:subject-id";
pub const ORGANIZATION: &str = "urn:oasis:names:tc:xspa:1.0:subject:organization";
pub const ORGANIZATION_ID: &str = "urn:oasis:names:tc:xspa:1.0:subject:organization-id";
pub const HOME_COMMUNITY_ID: &str = "urn:nhin:names:saml:homeCommunityId";
pub const ROLE: &str = "urn:oasis:names:tc:xacml:2.0:subject:role";
pub const PURPOSE_OF_USE: &str = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse";
pub const RESOURCE_ID: &str = "urn:oasis:names:tc:xacml:2.0:resource:resource-id";

/// The NHS number OID: the assigning authority a `resource-id` must name.
const NHS_OID: &str = "2.16.840.1.113883.2.1.4.1";

/// The NHS number a `resource-id` CX names (`9690937278^^^&2.16.840.1.113883.2.1.4.1&ISO`):
/// the ID component must be a valid NHS number and the assigning authority the NHS number
/// OID. Anything else (a local MRN, a bare number) names no NHS patient.
pub(super) fn patient(cx: &str) -> Option<NhsNumber> {
    let mut components = cx.trim().split('^');
    let id = components.next()?;
    let authority = components.nth(2)?;
    let mut parts = authority.split('&');
    let (_namespace, oid, kind) = (parts.next()?, parts.next()?, parts.next()?);
    if oid != NHS_OID || !kind.eq_ignore_ascii_case("ISO") {
        return None;
    }
    NhsNumber::parse(id).ok()
}

/// Longest attribute value we carry on (they end up in JWTs and audit rows).
const MAX_VALUE_CHARS: usize = 512;

/// Builds the requester and the `resource-id` (the patient the caller says it asks about).
pub(super) fn requester(a: &Assertion) -> Result<(Requester, Option<String>), SamlError> {
    let subject_id = text(a, SUBJECT_ID)
        .or_else(|| a.name_id.clone().filter(|n| !n.is_empty()))
        .ok_or(SamlError::Malformed("assertion names no subject"))?;
    let requester = Requester {
        subject_id,
        organization: text(a, ORGANIZATION).unwrap_or_default(),
        organization_id: text(a, ORGANIZATION_ID).unwrap_or_default(),
        home_community_id: text(a, HOME_COMMUNITY_ID),
        role: coded(a, ROLE),
        purpose_of_use: coded(a, PURPOSE_OF_USE),
        issuer: Some(bounded(&a.issuer)),
        ods_code: None,
        reason_for_request: None,
    };
    Ok((requester, text(a, RESOURCE_ID)))
}

fn first_value<'a>(a: &'a Assertion, name: &str) -> Option<&'a AttributeValue> {
    a.attributes
        .iter()
        .filter(|attr| attr.name == name)
        .flat_map(|attr| attr.values.iter())
        .next()
}

fn text(a: &Assertion, name: &str) -> Option<String> {
    first_value(a, name)
        .map(|v| bounded(&v.text))
        .filter(|t| !t.is_empty())
}

/// The inner HL7 CE element; a bare text value is taken as the code alone.
fn coded(a: &Assertion, name: &str) -> Option<Coded> {
    let v = first_value(a, name)?;
    match &v.coded {
        Some(c) if !c.code.is_empty() => Some(Coded {
            code: bounded(&c.code),
            code_system: c.code_system.as_deref().map(bounded),
            code_system_name: c.code_system_name.as_deref().map(bounded),
            display_name: c.display_name.as_deref().map(bounded),
        }),
        _ if !v.text.is_empty() => Some(Coded {
            code: bounded(&v.text),
            ..Coded::default()
        }),
        _ => None,
    }
}

fn bounded(s: &str) -> String {
    s.trim().chars().take(MAX_VALUE_CHARS).collect()
}
