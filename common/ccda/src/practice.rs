//! The GP practice that holds the record, as the header (author, custodian) and the
//! "Important information" section name it: found from the bundle's Patient and its
//! Organizations ([`crate::index`]), no I/O.

use crate::fhir::{Organization, Resource};
use crate::index::{Index, Parsed};

/// The GP practice that holds the record.
pub struct Practice<'a> {
    pub ods: Option<&'a str>,
    pub org: Option<&'a Organization>,
}

/// The registered practice: generalPractitioner (Organization, or a
/// Practitioner's PractitionerRole), then managingOrganization, then any
/// Organization with an ODS code.
pub fn of(ix: &Index) -> Practice<'_> {
    let p = ix.patient();
    let mut org: Option<&Organization> = None;
    for gp in &p.general_practitioner {
        match ix.get(gp.target()) {
            Some(Resource::Organization(o)) => org = Some(o),
            Some(Resource::Practitioner(_)) => {
                let want = gp.target().unwrap_or_default();
                org = ix.all("PractitionerRole").find_map(|e| match &e.parsed {
                    Parsed::Ok(Resource::PractitionerRole(r))
                        if r.practitioner.as_ref().and_then(|r| r.target()) == Some(want) =>
                    {
                        match ix.get(r.organization.as_ref().and_then(|o| o.target())) {
                            Some(Resource::Organization(o)) => Some(&**o),
                            _ => None,
                        }
                    }
                    _ => None,
                });
            }
            _ => {}
        }
        if org.is_some() {
            break;
        }
    }
    if org.is_none()
        && let Some(Resource::Organization(o)) =
            ix.get(p.managing_organization.as_ref().and_then(|r| r.target()))
    {
        org = Some(o);
    }
    if org.is_none() {
        org = ix.all("Organization").find_map(|e| match &e.parsed {
            Parsed::Ok(Resource::Organization(o)) if o.ods_code().is_some() => Some(&**o),
            _ => None,
        });
    }
    Practice {
        ods: org.and_then(Organization::ods_code),
        org,
    }
}
