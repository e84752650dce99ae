//! An [`AuditEvent`] as an IHE ATNA audit message (DICOM PS3.15 Annex A.5 schema, the
//! successor of RFC 3881, as IHE ITI-20 sends it).
//!
//! The consumer renders each event it stored and hands the XML to [`crate::syslog`]. The
//! mapping follows the IHE ITI TF-2 audit descriptions for a Responding Gateway (ITI-38/39/55)
//! and PDQ supplier (ITI-47); PDS lookups and GP Connect calls, which are not IHE transactions,
//! use local codes in the `urn:xhuma:audit` system.
//!
//! ```text
//! AuditMessage
//!   EventIdentification   action, time, outcome, EventID, EventTypeCode, outcome text, PurposeOfUse
//!   ActiveParticipant     the human requester (SAML subject, role), UserIsRequestor
//!   ActiveParticipant     the requesting organisation / community (Source)
//!   ActiveParticipant     this system (Destination; Source for outbound NHS calls)
//!   ActiveParticipant     the NHS service called (outbound only; Destination)
//!   AuditSourceIdentification
//!   ParticipantObjectIdentification  patient (NHS number as CX), document, request (ids)
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::fmt::Write as _;

use time::format_description::well_known::Rfc3339;
use xhuma_common::audit::{AuditEvent, AuditKind, AuditOutcome};
use xhuma_common::identity::Coded;
// The workspace's one escaper: markup characters as entities, tab/LF/CR as character
// references, characters XML 1.0 cannot carry as U+FFFD.
use xhuma_xml::escape;

/// The OID of NHS numbers (assigning authority in the patient's CX).
pub const NHS_NUMBER_OID: &str = "2.16.840.1.113883.2.1.4.1";
const LOCAL_SYSTEM: &str = "urn:xhuma:audit";

/// Who writes the audit (ATNA `AuditSourceIdentification`).
#[derive(Debug, Clone)]
pub struct AtnaSource {
    /// `AuditSourceID`, e.g. `xhuma`.
    pub audit_source_id: String,
    /// `AuditEnterpriseSiteID`, e.g. the trust's ODS code.
    pub enterprise_site_id: Option<String>,
}

/// A coded value written as `csd-code`, `codeSystemName`, `originalText`.
struct Code<'a> {
    code: &'a str,
    system: &'a str,
    text: &'a str,
}

// === impl Code ===

impl<'a> Code<'a> {
    const fn new(code: &'a str, system: &'a str, text: &'a str) -> Self {
        Self { code, system, text }
    }

    fn from_coded(c: &'a Coded) -> Self {
        let system = c
            .code_system_name
            .as_deref()
            .or(c.code_system.as_deref())
            .unwrap_or("");
        Self {
            code: &c.code,
            system,
            text: c.display_name.as_deref().unwrap_or(&c.code),
        }
    }

    fn write(&self, out: &mut String, element: &str) {
        let _ = write!(
            out,
            r#"<{element} csd-code="{}" codeSystemName="{}" originalText="{}"/>"#,
            escape(self.code),
            escape(self.system),
            escape(self.text)
        );
    }
}

const QUERY: Code<'static> = Code::new("110112", "DCM", "Query");
const EXPORT: Code<'static> = Code::new("110106", "DCM", "Export");
const IMPORT: Code<'static> = Code::new("110107", "DCM", "Import");
const SECURITY_ALERT: Code<'static> = Code::new("110113", "DCM", "Security Alert");
const NODE_AUTHENTICATION: Code<'static> = Code::new("110126", "DCM", "Node Authentication");
const SOURCE_ROLE: Code<'static> = Code::new("110153", "DCM", "Source Role ID");
const DESTINATION_ROLE: Code<'static> = Code::new("110152", "DCM", "Destination Role ID");
const PATIENT_NUMBER: Code<'static> = Code::new("2", "RFC-3881", "Patient Number");
const REPORT_NUMBER: Code<'static> = Code::new("9", "RFC-3881", "Report Number");

/// The event and its type per kind: (EventID, EventActionCode, EventTypeCode, is a query).
fn describe(kind: AuditKind) -> (Code<'static>, &'static str, Code<'static>, bool) {
    let ihe = |code, text| Code::new(code, "IHE Transactions", text);
    match kind {
        AuditKind::Iti55 => (
            QUERY,
            "E",
            ihe("ITI-55", "Cross Gateway Patient Discovery"),
            true,
        ),
        AuditKind::Iti47 => (
            QUERY,
            "E",
            ihe("ITI-47", "Patient Demographics Query"),
            true,
        ),
        AuditKind::Iti38 => (QUERY, "E", ihe("ITI-38", "Cross Gateway Query"), true),
        AuditKind::Iti39 => (EXPORT, "R", ihe("ITI-39", "Cross Gateway Retrieve"), false),
        AuditKind::PdsLookup => (
            QUERY,
            "E",
            Code::new("pds-lookup", LOCAL_SYSTEM, "PDS FHIR Patient read"),
            true,
        ),
        AuditKind::GpConnect => (
            IMPORT,
            "C",
            Code::new(
                "gp-connect",
                LOCAL_SYSTEM,
                "GP Connect Access Record Structured",
            ),
            false,
        ),
        // A refused request: the credentials (SAML, holder-of-key, replay) or the authorisation
        // they carry (patient, purpose) did not hold.
        AuditKind::SecurityAlert => (SECURITY_ALERT, "E", NODE_AUTHENTICATION, false),
    }
}

/// DICOM EventOutcomeIndicator: 0 success, 4 minor failure, 8 serious failure. A query that
/// matched nothing still succeeded; a retrieve of nothing did not.
fn outcome_indicator(kind: AuditKind, outcome: AuditOutcome) -> u8 {
    match outcome {
        AuditOutcome::Success => 0,
        AuditOutcome::NotFound if describe(kind).3 => 0,
        AuditOutcome::NotFound | AuditOutcome::Denied | AuditOutcome::Invalid => 4,
        AuditOutcome::Failed => 8,
    }
}

fn is_outbound(kind: AuditKind) -> bool {
    matches!(kind, AuditKind::GpConnect | AuditKind::PdsLookup)
}

/// Renders the ATNA `AuditMessage` XML of one event.
pub fn render(event: &AuditEvent, source: &AtnaSource) -> String {
    let (event_id, action, event_type, is_query) = describe(event.kind);
    let mut out = String::with_capacity(2048);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push_str("<AuditMessage>");

    let when = event.at.format(&Rfc3339).unwrap_or_default();
    let _ = write!(
        out,
        r#"<EventIdentification EventActionCode="{action}" EventDateTime="{}" EventOutcomeIndicator="{}">"#,
        escape(&when),
        outcome_indicator(event.kind, event.outcome)
    );
    event_id.write(&mut out, "EventID");
    event_type.write(&mut out, "EventTypeCode");
    let description = match &event.detail {
        Some(detail) => format!("{}: {detail}", event.outcome.as_str()),
        None => event.outcome.as_str().to_string(),
    };
    let _ = write!(
        out,
        "<EventOutcomeDescription>{}</EventOutcomeDescription>",
        escape(&description)
    );
    if let Some(purpose) = event
        .requester
        .as_ref()
        .and_then(|r| r.purpose_of_use.as_ref())
    {
        Code::from_coded(purpose).write(&mut out, "PurposeOfUse");
    }
    out.push_str("</EventIdentification>");

    let outbound = is_outbound(event.kind);
    if let Some(requester) = &event.requester {
        // The person on whose behalf the record was read.
        let _ = write!(
            out,
            r#"<ActiveParticipant UserID="{}" UserName="{}" UserIsRequestor="true">"#,
            escape(&requester.subject_id),
            escape(&user_name(
                &requester.subject_id,
                requester.issuer.as_deref()
            )),
        );
        if let Some(role) = &requester.role {
            Code::from_coded(role).write(&mut out, "RoleIDCode");
        }
        out.push_str("</ActiveParticipant>");
        // The requesting organisation and community (where the request came from).
        let org_id = if requester.organization_id.is_empty() {
            requester.home_community_id.as_deref().unwrap_or("")
        } else {
            &requester.organization_id
        };
        if !org_id.is_empty() || !requester.organization.is_empty() {
            let _ = write!(
                out,
                r#"<ActiveParticipant UserID="{}" UserName="{}" UserIsRequestor="true">"#,
                escape(org_id),
                escape(&requester.organization),
            );
            if !outbound {
                SOURCE_ROLE.write(&mut out, "RoleIDCode");
            }
            out.push_str("</ActiveParticipant>");
        }
    }
    // The calling node, as the network saw it (the credentials it presented are in the detail
    // and the store's columns).
    if let Some(peer) = event
        .request
        .as_ref()
        .and_then(|r| r.peer_address.as_deref())
    {
        let _ = write!(
            out,
            r#"<ActiveParticipant UserID="{}" UserIsRequestor="true" NetworkAccessPointID="{}" NetworkAccessPointTypeCode="2">"#,
            escape(peer),
            escape(peer),
        );
        SOURCE_ROLE.write(&mut out, "RoleIDCode");
        out.push_str("</ActiveParticipant>");
    }
    // This system: the responding gateway, or the client of an NHS service.
    let _ = write!(
        out,
        r#"<ActiveParticipant UserID="{}" AlternativeUserID="{}" UserIsRequestor="false">"#,
        escape(&source.audit_source_id),
        escape(&event.source),
    );
    if outbound {
        SOURCE_ROLE.write(&mut out, "RoleIDCode");
    } else {
        DESTINATION_ROLE.write(&mut out, "RoleIDCode");
    }
    out.push_str("</ActiveParticipant>");
    if outbound {
        let service = match event.kind {
            AuditKind::PdsLookup => "PDS",
            _ => "GP Connect",
        };
        let _ = write!(
            out,
            r#"<ActiveParticipant UserID="{service}" UserIsRequestor="false">"#
        );
        DESTINATION_ROLE.write(&mut out, "RoleIDCode");
        out.push_str("</ActiveParticipant>");
    }

    let _ = write!(
        out,
        r#"<AuditSourceIdentification AuditSourceID="{}""#,
        escape(&source.audit_source_id)
    );
    if let Some(site) = &source.enterprise_site_id {
        let _ = write!(out, r#" AuditEnterpriseSiteID="{}""#, escape(site));
    }
    out.push('>');
    Code::new("4", "DCM", "Application Server Process").write(&mut out, "AuditSourceTypeCode");
    out.push_str("</AuditSourceIdentification>");

    if let Some(nhs) = &event.nhs_number {
        let _ = write!(
            out,
            r#"<ParticipantObjectIdentification ParticipantObjectID="{}" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1">"#,
            escape(&format!("{nhs}^^^&{NHS_NUMBER_OID}&ISO"))
        );
        PATIENT_NUMBER.write(&mut out, "ParticipantObjectIDTypeCode");
        out.push_str("</ParticipantObjectIdentification>");
    }
    if let Some(doc) = &event.document_unique_id {
        let _ = write!(
            out,
            r#"<ParticipantObjectIdentification ParticipantObjectID="{}" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3">"#,
            escape(doc)
        );
        REPORT_NUMBER.write(&mut out, "ParticipantObjectIDTypeCode");
        if let Some(hcid) = event
            .requester
            .as_ref()
            .and_then(|r| r.home_community_id.as_deref())
        {
            detail(&mut out, "ihe:homeCommunityID", hcid);
        }
        out.push_str("</ParticipantObjectIdentification>");
    }
    // The request itself: its correlation ids, so the ARR can join it to our store and to
    // NHS-side traces. Role 24 (Query) for queries, 20 (Job) otherwise.
    let role = if is_query { 24 } else { 20 };
    let _ = write!(
        out,
        r#"<ParticipantObjectIdentification ParticipantObjectID="{}" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="{role}">"#,
        escape(&event.correlation_id)
    );
    event_type.write(&mut out, "ParticipantObjectIDTypeCode");
    detail(&mut out, "xhuma:audit-id", &event.id.to_string());
    if let Some(ssp) = &event.ssp_trace_id {
        detail(&mut out, "Ssp-TraceID", ssp);
    }
    if let Some(trace) = &event.trace_id {
        detail(&mut out, "traceparent:trace-id", trace);
    }
    out.push_str("</ParticipantObjectIdentification>");

    out.push_str("</AuditMessage>");
    out
}

/// XUA style `alias<user@issuer>`, or the subject alone without an issuer.
fn user_name(subject: &str, issuer: Option<&str>) -> String {
    match issuer {
        Some(issuer) => format!("{subject}<{subject}@{issuer}>"),
        None => subject.to_string(),
    }
}

fn detail(out: &mut String, kind: &str, value: &str) {
    let _ = write!(
        out,
        r#"<ParticipantObjectDetail type="{}" value="{}"/>"#,
        escape(kind),
        B64.encode(value.as_bytes())
    );
}
