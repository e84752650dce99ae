//! Scenario patients: the spec's reference test patients (nhs-apis.md §5.6) and one patient per
//! GP Connect error row, so the gateway and worker tests can trigger each case by number.

use std::collections::HashSet;
use std::sync::Arc;

use xhuma_common::NhsNumber;

use super::pds_record::Person;
use super::{BundleSource, DEMO_ODS, GpcEntry, PatientEntry, PdsEntry, identity_of};
use crate::faults::GpcCase;

/// A practice that PDS names but SDS does not know (no GP Connect endpoint).
pub const NO_ENDPOINT_ODS: &str = "Y99999";

/// Restricted (S-flag) patients: PDS hides address and GP; GP Connect says PATIENT_NOT_FOUND.
pub const RESTRICTED: [&str; 2] = ["9690938533", "9690938541"];
/// Superseded: PDS returns the record of [`superseded_by()`] instead.
pub const SUPERSEDED: &str = "9690938622";
pub const NOT_ON_PDS: &str = "9476718943";
pub const NO_CONSENT: &str = "9690938576";
pub const DECEASED: &str = "9690938681";
pub const INACTIVE_REGISTRATION: &str = "9690938142";

/// The GP Connect error rows, each with its own patient (numbers from stem 960000001 up).
pub const ERROR_CASES: [GpcCase; 12] = [
    GpcCase::PatientNotFound,
    GpcCase::NoRelationship,
    GpcCase::InvalidPatientDemographics,
    GpcCase::InvalidResource,
    GpcCase::InvalidParameter,
    GpcCase::BadRequest,
    GpcCase::InternalServerError,
    GpcCase::AccessDenied,
    GpcCase::NoOrganisationConsent,
    GpcCase::NoRecordFound,
    GpcCase::NotImplemented,
    GpcCase::NoPatientConsent,
];

fn n(s: &str) -> Option<NhsNumber> {
    NhsNumber::parse(s).ok()
}

/// Valid numbers from `stem` upwards, skipping invalid stems.
fn numbers_from(stem: u32, count: usize) -> Vec<NhsNumber> {
    (stem..)
        .filter_map(NhsNumber::from_stem)
        .take(count)
        .collect()
}

/// The number PDS returns for [`SUPERSEDED`].
pub fn superseded_by() -> Option<NhsNumber> {
    numbers_from(969_093_863, 1).into_iter().next()
}

/// An invalidated record (`404 INVALIDATED_RESOURCE`).
pub fn invalidated() -> Option<NhsNumber> {
    numbers_from(969_093_870, 1).into_iter().next()
}

/// Registered at a practice with no GP Connect endpoint in SDS.
pub fn no_endpoint() -> Option<NhsNumber> {
    numbers_from(969_093_880, 1).into_iter().next()
}

/// On PDS with no registered practice.
pub fn unregistered() -> Option<NhsNumber> {
    numbers_from(969_093_890, 1).into_iter().next()
}

/// The number of each error case's patient.
pub fn error_case_numbers() -> Vec<(GpcCase, NhsNumber)> {
    ERROR_CASES
        .into_iter()
        .zip(numbers_from(960_000_001, ERROR_CASES.len()))
        .collect()
}

/// Numbers the fixtures must not take.
pub fn reserved() -> HashSet<NhsNumber> {
    let mut s: HashSet<NhsNumber> = RESTRICTED
        .iter()
        .chain(&[
            SUPERSEDED,
            NOT_ON_PDS,
            NO_CONSENT,
            DECEASED,
            INACTIVE_REGISTRATION,
        ])
        .filter_map(|s| n(s))
        .collect();
    s.extend(
        [
            superseded_by(),
            invalidated(),
            no_endpoint(),
            unregistered(),
        ]
        .into_iter()
        .flatten(),
    );
    s.extend(error_case_numbers().into_iter().map(|(_, n)| n));
    s
}

fn person(family: &str, given: &str, gender: &str, birth: &str, ods: Option<&str>) -> Person {
    Person {
        family: Some(family.into()),
        given: vec![given.into()],
        gender: Some(gender.into()),
        birth_date: Some(birth.into()),
        address_lines: vec!["1 Test Street".into(), "Leeds".into()],
        postcode: Some("LS1 1AA".into()),
        ods: ods.map(String::from),
        ..Person::default()
    }
}

fn entry(
    nhs: NhsNumber,
    person: Person,
    scenario: &str,
    pds: Option<PdsEntry>,
    gpc: GpcEntry,
) -> PatientEntry {
    let pds = pds.unwrap_or_else(|| PdsEntry::Record {
        body: person.render(nhs, 1),
        version: 1,
    });
    PatientEntry {
        nhs,
        ods: person.ods.clone().or_else(|| Some(DEMO_ODS.into())),
        person,
        fixture: "scenario".into(),
        scenario: scenario.into(),
        pds,
        gpc,
    }
}

/// All scenario patients; `demo` is the bundle cloned where a scenario needs a real record.
pub fn patients(demo: &Arc<BundleSource>, taken: &mut HashSet<NhsNumber>) -> Vec<PatientEntry> {
    let demo_ods = Some(DEMO_ODS);
    let mut out = Vec::new();
    let record = |nhs: NhsNumber, p: &Person| GpcEntry::Record {
        source: demo.clone(),
        identity: identity_of(nhs, p),
    };
    for (s, (f, g, sex)) in RESTRICTED
        .iter()
        .zip([("CLAY", "Anita", "female"), ("REEVES", "Tania", "female")])
    {
        if let Some(nhs) = n(s) {
            let mut p = person(f, g, sex, "1950-01-01", demo_ods);
            p.restricted = true;
            out.push(entry(
                nhs,
                p,
                "restricted (S-flag): PDS hides address and GP",
                None,
                GpcEntry::Error(GpcCase::PatientNotFound),
            ));
        }
    }
    if let (Some(old), Some(new)) = (n(SUPERSEDED), superseded_by()) {
        let p = person("HORN", "Alexi", "male", "1960-02-02", demo_ods);
        out.push(entry(
            new,
            p.clone(),
            "current record of a superseded number",
            None,
            record(new, &p),
        ));
        out.push(entry(
            old,
            p,
            &format!("superseded: PDS returns {new}"),
            Some(PdsEntry::Superseded(new)),
            GpcEntry::Error(GpcCase::PatientNotFound),
        ));
    }
    if let Some(nhs) = n(NOT_ON_PDS) {
        let p = person("HOPLEY", "Georgina", "female", "1970-03-03", demo_ods);
        out.push(entry(
            nhs,
            p,
            "not on PDS (404); GP Connect: INVALID_PATIENT_DEMOGRAPHICS",
            Some(PdsEntry::Absent),
            GpcEntry::Error(GpcCase::InvalidPatientDemographics),
        ));
    }
    if let Some(nhs) = n(NO_CONSENT) {
        let p = person("McCAIN", "Dora", "female", "1940-04-04", demo_ods);
        out.push(entry(
            nhs,
            p,
            "dissented to sharing: NO_PATIENT_CONSENT",
            None,
            GpcEntry::Error(GpcCase::NoPatientConsent),
        ));
    }
    if let Some(nhs) = n(DECEASED) {
        let mut p = person("ROONEY", "James", "male", "1920-05-05", demo_ods);
        p.deceased = Some("1993-02-17T00:00:00+00:00".into());
        out.push(entry(
            nhs,
            p,
            "deceased 1993-02-17",
            None,
            GpcEntry::Error(GpcCase::PatientNotFound),
        ));
    }
    if let Some(nhs) = n(INACTIVE_REGISTRATION) {
        let p = person("BUCK", "Eve", "female", "1980-06-06", demo_ods);
        out.push(entry(
            nhs,
            p,
            "registration not active: PATIENT_NOT_FOUND",
            None,
            GpcEntry::Error(GpcCase::PatientNotFound),
        ));
    }
    if let Some(nhs) = invalidated() {
        let p = person("INVALIDATED", "Ivan", "male", "1990-07-07", demo_ods);
        out.push(entry(
            nhs,
            p,
            "invalidated record: 404 INVALIDATED_RESOURCE",
            Some(PdsEntry::Invalidated),
            GpcEntry::Error(GpcCase::PatientNotFound),
        ));
    }
    if let Some(nhs) = no_endpoint() {
        let p = person(
            "NOENDPOINT",
            "Nora",
            "female",
            "1985-08-08",
            Some(NO_ENDPOINT_ODS),
        );
        out.push(entry(
            nhs,
            p.clone(),
            "practice without a GP Connect endpoint in SDS",
            None,
            record(nhs, &p),
        ));
    }
    if let Some(nhs) = unregistered() {
        let p = person("UNREGISTERED", "Uma", "female", "1995-09-09", None);
        let mut e = entry(
            nhs,
            p,
            "not registered with a GP (no generalPractitioner)",
            None,
            GpcEntry::Error(GpcCase::PatientNotFound),
        );
        e.ods = None;
        out.push(e);
    }
    for (case, nhs) in error_case_numbers() {
        let p = person("GPCERROR", case.name(), "unknown", "2000-01-01", demo_ods);
        out.push(entry(
            nhs,
            p,
            &format!("GP Connect error {}", case.name()),
            None,
            GpcEntry::Error(case),
        ));
    }
    for e in &out {
        taken.insert(e.nhs);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fixed_numbers_are_valid_and_distinct() {
        for s in RESTRICTED.iter().chain(&[
            SUPERSEDED,
            NOT_ON_PDS,
            NO_CONSENT,
            DECEASED,
            INACTIVE_REGISTRATION,
        ]) {
            assert!(n(s).is_some(), "{s} fails Modulus 11");
        }
        assert_eq!(reserved().len(), 2 + 5 + 4 + ERROR_CASES.len());
    }
}
