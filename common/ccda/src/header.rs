//! The CDA header: document identity, the patient (recordTarget), the author
//! device acting for the GP practice, the custodian (the GP practice) and the
//! service event. Opens `component/structuredBody` for the sections.
//!
//! Data comes from the bundle's Patient and the registered practice
//! Organization (found via `generalPractitioner`, `managingOrganization`, or
//! the first Organization with an ODS code).

use crate::codes::{self, NHS_NUMBER, ODS};
use crate::fhir::{Extensions, HumanName, Patient, Resource};
use crate::index::{Index, Parsed};
use crate::practice::{self, Practice};
use crate::xml::Xml;

mod demographics;
use crate::{Context, Report, dates};
pub use demographics::{address, gender, person_name, telecoms};

pub fn write(ix: &Index, x: &mut Xml, cx: &Context, report: &mut Report) {
    let p = ix.patient();
    let practice = practice::of(ix);
    let nhs = p.nhs_number();
    let name = HumanName::best(&p.name);
    describe_record(p, &practice, report);
    let now = dates::ts_of(cx.now);
    document_identity(ix, x, cx, &now, report);
    record_target(x, p, nhs, name, &practice);
    author(x, cx, &now, &practice);
    // custodian: the GP practice
    x.open("custodian", &[]);
    x.open("assignedCustodian", &[]);
    x.open("representedCustodianOrganization", &[]);
    organization_body(x, &practice, 1);
    x.close();
    x.close();
    x.close();
    service_event(x, p, &now);
    x.open("component", &[]);
    x.open("structuredBody", &[]);
}

/// What the report says about whose record this is (PHI-free callers read only the counts; the
/// worker's demographic cross-check reads [`crate::RecordDemographics`]).
fn describe_record(p: &Patient, practice: &Practice<'_>, report: &mut Report) {
    let nhs = p.nhs_number();
    report.nhs_number = nhs.map(str::to_string);
    report.patient_name = HumanName::best(&p.name).map(HumanName::display);
    report.practice_ods = practice.ods.map(str::to_string);
    report.practice_name = practice.org.and_then(|o| o.name.clone());
    let current = || {
        p.name
            .iter()
            .filter(|n| !matches!(n.use_.as_deref(), Some("old" | "maiden")))
    };
    report.demographics = crate::RecordDemographics {
        families: current()
            .filter_map(HumanName::family_name)
            .map(str::to_string)
            .collect(),
        text_names: current()
            .filter(|n| n.family_name().is_none())
            .filter_map(|n| n.text.as_deref().map(str::trim))
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        birth_date: p.birth_date.clone(),
        gender: p.gender.clone(),
    };
    if nhs.is_none() {
        report
            .warnings
            .push("Patient: no NHS number identifier".into());
    }
}

/// `ClinicalDocument` opened, with its type, templates, id, code, title, time,
/// confidentiality, language and set/version.
fn document_identity(ix: &Index, x: &mut Xml, cx: &Context, now: &str, report: &mut Report) {
    let doc_id = cx
        .document_id
        .hyphenated()
        .encode_upper(&mut uuid::Uuid::encode_buffer())
        .to_string();
    x.open(
        "ClinicalDocument",
        &[
            ("xmlns", "urn:hl7-org:v3"),
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
            ("xmlns:sdtc", "urn:hl7-org:sdtc"),
        ],
    );
    x.empty("realmCode", &[("code", "GB")]);
    x.empty(
        "typeId",
        &[
            ("root", "2.16.840.1.113883.1.3"),
            ("extension", "POCD_HD000040"),
        ],
    );
    crate::cda::template(x, "2.16.840.1.113883.10.20.22.1.1", "2015-08-01");
    crate::cda::template(x, "2.16.840.1.113883.10.20.22.1.2", "2015-08-01");
    x.empty("id", &[("root", &doc_id)]);
    codes::fixed(
        x,
        "code",
        "34133-9",
        codes::LOINC,
        "LOINC",
        "Summarization of Episode Note",
    );
    x.leaf("title", &[], "GP Connect: Access Record Structured");
    x.empty("effectiveTime", &[("value", now)]);
    let (code, display) = confidentiality(ix);
    report.confidentiality = code.to_string();
    x.empty(
        "confidentialityCode",
        &[
            ("code", code),
            ("codeSystem", "2.16.840.1.113883.5.25"),
            ("displayName", display),
        ],
    );
    x.empty("languageCode", &[("code", "en-GB")]);
    x.empty("setId", &[("root", &doc_id)]);
    x.empty("versionNumber", &[("value", "1")]);
}

/// `recordTarget`: the patient (NHS number, home address, telecoms, name, gender, birth time)
/// and their registered practice.
fn record_target(
    x: &mut Xml,
    p: &Patient,
    nhs: Option<&str>,
    name: Option<&HumanName>,
    practice: &Practice<'_>,
) {
    x.open("recordTarget", &[]);
    x.open("patientRole", &[]);
    match nhs {
        Some(n) => x.empty("id", &[("root", NHS_NUMBER), ("extension", n)]),
        None => x.empty("id", &[("nullFlavor", "UNK")]),
    }
    address(
        x,
        p.address
            .iter()
            .find(|a| a.use_.as_deref() == Some("home"))
            .or(p.address.first()),
        "HP",
    );
    telecoms(x, &p.telecom, usize::MAX);
    x.open("patient", &[]);
    person_name(x, name);
    gender(x, p.gender.as_deref());
    match dates::ts(p.birth_date.as_deref()) {
        Some(b) => x.empty("birthTime", &[("value", &b)]),
        None => x.empty("birthTime", &[("nullFlavor", "UNK")]),
    }
    x.empty("raceCode", &[("nullFlavor", "UNK")]);
    x.empty("ethnicGroupCode", &[("nullFlavor", "UNK")]);
    x.close();
    if practice.org.is_some() || practice.ods.is_some() {
        x.open("providerOrganization", &[]);
        organization_body(x, practice, usize::MAX);
        x.close();
    }
    x.close();
    x.close();
}

/// `author`: this software, acting for the GP practice.
fn author(x: &mut Xml, cx: &Context, now: &str, practice: &Practice<'_>) {
    x.open("author", &[]);
    x.empty("time", &[("value", now)]);
    x.open("assignedAuthor", &[]);
    let device_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"xhuma-ccda-device");
    x.empty(
        "id",
        &[(
            "root",
            device_id
                .hyphenated()
                .encode_upper(&mut uuid::Uuid::encode_buffer()),
        )],
    );
    address(x, practice.org.and_then(|o| o.address.first()), "WP");
    telecoms(
        x,
        practice.org.map(|o| o.telecom.as_slice()).unwrap_or(&[]),
        usize::MAX,
    );
    x.open("assignedAuthoringDevice", &[]);
    x.leaf("manufacturerModelName", &[], &cx.software_name);
    x.leaf(
        "softwareName",
        &[],
        &format!("{} {}", cx.software_name, cx.software_version),
    );
    x.close();
    x.open("representedOrganization", &[]);
    organization_body(x, practice, usize::MAX);
    x.close();
    x.close();
    x.close();
}

/// `documentationOf/serviceEvent`: the whole GP record, from birth to now.
fn service_event(x: &mut Xml, p: &Patient, now: &str) {
    x.open("documentationOf", &[]);
    x.open("serviceEvent", &[("classCode", "PCPR")]);
    x.open("effectiveTime", &[]);
    match dates::ts(p.birth_date.as_deref()) {
        Some(b) => x.empty("low", &[("value", &b)]),
        None => x.empty("low", &[("nullFlavor", "UNK")]),
    }
    x.empty("high", &[("value", now)]);
    x.close();
    x.close();
    x.close();
}

/// The document's `confidentialityCode` (HL7 BasicConfidentialityKind) from
/// GP Connect's flags: `V` when any resource is labelled very restricted;
/// `R` when any is labelled restricted or `NOPAT` (no disclosure to the
/// patient without the clinician's authorisation), or a List says
/// confidential items were withheld (`confidential-items`), since the
/// document then describes a record with sensitive content; else `N`.
pub fn confidentiality(ix: &Index) -> (&'static str, &'static str) {
    let labelled = |code: &str| {
        ix.entries
            .iter()
            .any(|e| e.security.iter().any(|c| c == code))
    };
    if labelled("V") {
        return ("V", "very restricted");
    }
    let withheld = ix.entries.iter().any(|e| match &e.parsed {
        Parsed::Ok(Resource::List(l)) => l
            .exts("ListWarningCode-1")
            .any(|w| w.value_code.as_deref() == Some("confidential-items")),
        _ => false,
    });
    if labelled("R") || labelled("NOPAT") || withheld {
        ("R", "restricted")
    } else {
        ("N", "normal")
    }
}

/// id, name, telecom, addr of an organization (US Realm requires all four).
/// `custodian` allows exactly one telecom; the others any number.
fn organization_body(x: &mut Xml, pr: &Practice<'_>, max_telecom: usize) {
    match pr.ods {
        Some(ods) => x.empty("id", &[("root", ODS), ("extension", ods)]),
        None => x.empty("id", &[("nullFlavor", "UNK")]),
    }
    x.leaf(
        "name",
        &[],
        pr.org
            .and_then(|o| o.name.as_deref())
            .unwrap_or("Unknown GP practice"),
    );
    telecoms(
        x,
        pr.org.map(|o| o.telecom.as_slice()).unwrap_or(&[]),
        max_telecom,
    );
    address(x, pr.org.and_then(|o| o.address.first()), "WP");
}
