//! Who is asking for a record.
//!
//! The gateway builds a [`Requester`] from the verified SAML assertion (XSPA attributes); when
//! there is none, from configuration. It travels in the prefetch job to the worker, which puts it
//! into the GP Connect JWT (`requesting_practitioner`, `requesting_organization`), and into every
//! audit event.

use serde::{Deserialize, Serialize};

/// A coded value as it arrives in SAML (`Role`, `PurposeForUse`): HL7 CE fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Coded {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_system_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// The person and organisation on whose behalf a record is requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Requester {
    /// XSPA `subject-id`, e.g. `CONE, Stephen` (Epic sends "Family, Given").
    pub subject_id: String,
    /// XSPA `organization` (display name).
    #[serde(default)]
    pub organization: String,
    /// XSPA `organization-id`, e.g. `urn:oid:1.2.840.114350.1.13.525.3.7.3.688884.100`.
    #[serde(default)]
    pub organization_id: String,
    /// `urn:nhin:names:saml:homeCommunityId` of the requesting community.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_community_id: Option<String>,
    /// XACML `subject:role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Coded>,
    /// XSPA `purposeofuse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose_of_use: Option<Coded>,
    /// SAML `Issuer` of the assertion this identity came from (`None` when from configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The ODS code of the requesting organisation, when known (used for `Ssp-From` tenancy
    /// and `NHSD-End-User-Organisation-ODS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ods_code: Option<String>,
    /// The GP Connect JWT `reason_for_request` the gateway's purpose-of-use policy mapped the
    /// XSPA purpose to (`directcare`); `None` (configured identities, older jobs) means
    /// `directcare`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_for_request: Option<String>,
}

/// The only `reason_for_request` GP Connect Access Record Structured accepts.
pub const DIRECT_CARE: &str = "directcare";

// === impl Requester ===

impl Requester {
    /// The GP Connect JWT `reason_for_request`.
    pub fn reason_for_request(&self) -> &str {
        self.reason_for_request.as_deref().unwrap_or(DIRECT_CARE)
    }

    /// Splits `subject_id` of the form "Family, Given" into (family, given). A subject without a
    /// comma is all family name.
    pub fn name_parts(&self) -> (String, Option<String>) {
        match self.subject_id.split_once(',') {
            Some((family, given)) => {
                let given = given.trim();
                (
                    family.trim().to_string(),
                    (!given.is_empty()).then(|| given.to_string()),
                )
            }
            None => (self.subject_id.trim().to_string(), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_epic_subject() {
        let r = Requester {
            subject_id: "CONE, Stephen".into(),
            ..Default::default()
        };
        assert_eq!(r.name_parts(), ("CONE".into(), Some("Stephen".into())));
        let r = Requester {
            subject_id: "system".into(),
            ..Default::default()
        };
        assert_eq!(r.name_parts(), ("system".into(), None));
    }
}
