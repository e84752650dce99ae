//! PRPA_IN201306UV02 writer (element order follows the NE2008 schemas).

use xhuma_common::patient::{Demographics, Gender};

use super::{HL7_NS, Ii, NHS_OID, NHS_OID_99, ODS_OID, Outcome, Query, hl7_now};
use crate::config::GatewayConfig;
use crate::soap::markup::{self, Markup};

const INTERACTION_OID: &str = "2.16.840.1.113883.1.6";
const TRIGGER_EVENT_OID: &str = "2.16.840.1.113883.1.18";
const HDL_CODE_SYSTEM: &str = "1.3.6.1.4.1.19376.1.2.27.2";
const ACK_DETAIL_OID: &str = "2.16.840.1.113883.5.1100";

/// Writes the response payload. `xcpd` adds the XCPD custodian code (ITI-55).
pub fn render(q: &Query, outcome: &Outcome, cfg: &GatewayConfig, xcpd: bool) -> String {
    let mut m = Markup::new();
    m.open(
        "PRPA_IN201306UV02",
        &[
            ("xmlns", HL7_NS),
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
            ("ITSVersion", "XML_1.0"),
        ],
    );
    m.empty("id", &[("root", &uuid::Uuid::new_v4().to_string())]);
    m.empty("creationTime", &[("value", &hl7_now())]);
    m.empty(
        "interactionId",
        &[
            ("root", INTERACTION_OID),
            ("extension", "PRPA_IN201306UV02"),
        ],
    );
    m.empty("processingCode", &[("code", &q.processing_code)]);
    m.empty("processingModeCode", &[("code", "T")]);
    m.empty("acceptAckCode", &[("code", "NE")]);
    m.open("receiver", &[("typeCode", "RCV")]);
    m.open(
        "device",
        &[("classCode", "DEV"), ("determinerCode", "INSTANCE")],
    );
    match &q.sender_device {
        Some(ii) if !ii.root.is_empty() => ii_el(&mut m, "id", ii),
        _ => {
            m.empty("id", &[("nullFlavor", "UNK")]);
        }
    }
    m.close("device");
    m.close("receiver");
    m.open("sender", &[("typeCode", "SND")]);
    m.open(
        "device",
        &[("classCode", "DEV"), ("determinerCode", "INSTANCE")],
    );
    m.empty("id", &[("root", &cfg.home_community_id)]);
    m.close("device");
    m.close("sender");

    let (ack, response_code, status, detail) = match outcome {
        Outcome::Match(_) => ("AA", "OK", "deliveredResponse", None),
        Outcome::NoMatch => ("AA", "NF", "deliveredResponse", None),
        Outcome::QueryError(t) => ("AE", "QE", "aborted", Some((*t, None))),
        Outcome::Error(t) => ("AE", "AE", "aborted", Some((*t, Some("INTERR")))),
    };
    m.open("acknowledgement", &[]);
    m.empty("typeCode", &[("code", ack)]);
    m.open("targetMessage", &[]);
    match &q.message_id {
        Some(ii) if !ii.root.is_empty() => ii_el(&mut m, "id", ii),
        _ => {
            m.empty("id", &[("nullFlavor", "UNK")]);
        }
    }
    m.close("targetMessage");
    if let Some((text, code)) = detail {
        m.open("acknowledgementDetail", &[("typeCode", "E")]);
        if let Some(code) = code {
            m.empty("code", &[("code", code), ("codeSystem", ACK_DETAIL_OID)]);
        }
        m.leaf("text", &[], text);
        m.close("acknowledgementDetail");
    }
    m.close("acknowledgement");

    m.open(
        "controlActProcess",
        &[("classCode", "CACT"), ("moodCode", "EVN")],
    );
    m.empty(
        "code",
        &[
            ("code", "PRPA_TE201306UV02"),
            ("codeSystem", TRIGGER_EVENT_OID),
        ],
    );
    if let Outcome::Match(d) = outcome {
        subject(&mut m, d, cfg, xcpd);
    }
    m.open("queryAck", &[]);
    match &q.query_id {
        Some(ii) if !ii.root.is_empty() => ii_el(&mut m, "queryId", ii),
        _ => {}
    }
    m.empty("statusCode", &[("code", status)]);
    m.empty("queryResponseCode", &[("code", response_code)]);
    let n = if matches!(outcome, Outcome::Match(_)) {
        "1"
    } else {
        "0"
    };
    m.empty("resultTotalQuantity", &[("value", n)]);
    m.empty("resultCurrentQuantity", &[("value", n)]);
    m.empty("resultRemainingQuantity", &[("value", "0")]);
    m.close("queryAck");
    if let Some(qbp) = &q.query_by_parameter {
        m.raw(&markup::serialize(qbp, HL7_NS));
    }
    m.close("controlActProcess");
    m.close("PRPA_IN201306UV02");
    m.finish()
}

fn ii_el(m: &mut Markup, name: &str, ii: &Ii) {
    match &ii.extension {
        Some(ext) => m.empty(name, &[("root", &ii.root), ("extension", ext)]),
        None => m.empty(name, &[("root", &ii.root)]),
    };
}

fn subject(m: &mut Markup, d: &Demographics, cfg: &GatewayConfig, xcpd: bool) {
    let nhs = d.nhs_number.to_string();
    m.open(
        "subject",
        &[("typeCode", "SUBJ"), ("contextConductionInd", "false")],
    );
    m.open(
        "registrationEvent",
        &[("classCode", "REG"), ("moodCode", "EVN")],
    );
    m.empty("statusCode", &[("code", "active")]);
    m.open("subject1", &[("typeCode", "SBJ")]);
    m.open("patient", &[("classCode", "PAT")]);
    m.empty("id", &[("root", NHS_OID), ("extension", &nhs)]);
    m.empty("id", &[("root", NHS_OID_99), ("extension", &nhs)]);
    m.empty("statusCode", &[("code", "active")]);
    m.open(
        "patientPerson",
        &[("classCode", "PSN"), ("determinerCode", "INSTANCE")],
    );
    if d.given.is_empty() && d.family.is_none() {
        m.empty("name", &[("nullFlavor", "UNK")]);
    } else {
        m.open("name", &[]);
        for p in &d.prefix {
            m.leaf("prefix", &[], p);
        }
        for g in &d.given {
            m.leaf("given", &[], g);
        }
        if let Some(f) = &d.family {
            m.leaf("family", &[], f);
        }
        m.close("name");
    }
    let gender = match d.gender {
        Gender::Male => "M",
        Gender::Female => "F",
        Gender::Other | Gender::Unknown => "UN",
    };
    m.empty(
        "administrativeGenderCode",
        &[("code", gender), ("codeSystem", "2.16.840.1.113883.5.1")],
    );
    if let Some(b) = &d.birth_date {
        let digits: String = b.chars().filter(char::is_ascii_digit).collect();
        if !digits.is_empty() {
            m.empty("birthTime", &[("value", &digits)]);
        }
    }
    if let Some(a) = &d.address {
        m.open("addr", &[]);
        for l in &a.lines {
            m.leaf("streetAddressLine", &[], l);
        }
        if let Some(pc) = &a.postal_code {
            m.leaf("postalCode", &[], pc);
        }
        m.close("addr");
    }
    m.close("patientPerson");
    if let Some(ods) = &d.gp_ods {
        m.open(
            "providerOrganization",
            &[("classCode", "ORG"), ("determinerCode", "INSTANCE")],
        );
        m.empty("id", &[("root", ODS_OID), ("extension", ods)]);
        m.open("contactParty", &[("classCode", "CON")]);
        m.close("contactParty");
        m.close("providerOrganization");
    }
    // An exact NHS-number match: the IHE PDQ match observation at 100 %.
    m.open("subjectOf1", &[("typeCode", "SBJ")]);
    m.open(
        "queryMatchObservation",
        &[("classCode", "COND"), ("moodCode", "EVN")],
    );
    m.empty("code", &[("code", "IHE_PDQ")]);
    m.empty("value", &[("xsi:type", "INT"), ("value", "100")]);
    m.close("queryMatchObservation");
    m.close("subjectOf1");
    m.close("patient");
    m.close("subject1");
    m.open("custodian", &[("typeCode", "CST")]);
    m.open("assignedEntity", &[("classCode", "ASSIGNED")]);
    m.empty("id", &[("root", &cfg.home_community_id)]);
    if xcpd {
        m.empty(
            "code",
            &[
                ("code", "NotHealthDataLocator"),
                ("codeSystem", HDL_CODE_SYSTEM),
            ],
        );
    }
    m.close("assignedEntity");
    m.close("custodian");
    m.close("registrationEvent");
    m.close("subject");
}
