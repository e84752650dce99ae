//! Patient discovery shared by ITI-55 (XCPD) and ITI-47 (PDQv3): PRPA_IN201305UV02 in,
//! PRPA_IN201306UV02 out.
//!
//! `parse` takes the NHS number from `livingSubjectId` (any number of ids and values, either
//! OID the ITI-55 answer advertises), and the demographics → `handle` asks the
//! [`crate::backend::Backend`] (a PDS read by NHS number; without one, a PDS single-match
//! search by family name and birth date, with given names, gender and postcode when sent, as
//! Epic's XCPD often carries demographics only; on a match the backend enqueues the prefetch)
//! → `render` writes the HL7 answer. Not found, restricted, deceased and (for a search) more
//! than one match all answer AA/NF with no subject, so a restricted record cannot be told
//! apart from an unknown one and a search never guesses.

use time::OffsetDateTime;
use xhuma_common::NhsNumber;
use xhuma_common::nhs::{PdsSearch, PdsSearchOutcome};
use xhuma_common::patient::{Demographics, Gender, PdsOutcome};

use super::Ctx;
use crate::error::{GatewayError, discovery_error};
use crate::soap::element::Element;

mod render;
pub use render::render;

pub const HL7_NS: &str = "urn:hl7-org:v3";
/// The NHS number OID.
pub const NHS_OID: &str = "2.16.840.1.113883.2.1.4.1";
/// The second patient id the original advertised so that Epic has two ids to link.
pub const NHS_OID_99: &str = "2.16.840.1.113883.2.1.4.1.99";
/// ODS organisation code OID.
pub const ODS_OID: &str = "2.16.840.1.113883.2.1.4.3";

/// An HL7 II (root and optional extension).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ii {
    pub root: String,
    pub extension: Option<String>,
}

/// Why no NHS number could be taken from the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdProblem {
    /// No `livingSubjectId/value` with an NHS number OID.
    Missing,
    /// Values with an NHS number OID, none of them a valid NHS number.
    Invalid,
}

/// What a PRPA_IN201305UV02 asks.
#[derive(Debug, Clone)]
pub struct Query {
    /// The HL7 message id (acknowledged in `targetMessage`).
    pub message_id: Option<Ii>,
    pub sender_device: Option<Ii>,
    pub processing_code: String,
    pub query_id: Option<Ii>,
    /// Echoed verbatim in the response.
    pub query_by_parameter: Option<Element>,
    pub nhs: Result<NhsNumber, IdProblem>,
    /// `YYYYMMDD…` from `livingSubjectBirthTime`.
    pub birth_time: Option<String>,
    /// `M`, `F`, … from `livingSubjectAdministrativeGender`.
    pub gender: Option<String>,
    pub family: Option<String>,
    /// `livingSubjectName/value/given`, in order.
    pub given: Vec<String>,
    /// `patientAddress/value/postalCode`.
    pub postcode: Option<String>,
}

/// The answer before rendering.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// AA / OK with one subject.
    Match(Box<Demographics>),
    /// AA / NF, no subject (not found, restricted, deceased, demographics disagree).
    NoMatch,
    /// AE / QE: the query lacks a usable NHS number and the demographics to search by.
    QueryError(&'static str),
    /// AE / AE: a service we depend on failed.
    Error(&'static str),
}

/// Reads the query from the Body payload.
pub fn parse(payload: &Element) -> Result<Query, GatewayError> {
    if !payload.is(HL7_NS, "PRPA_IN201305UV02") {
        return Err(GatewayError::Payload(
            "The SOAP Body must hold a PRPA_IN201305UV02 message.",
        ));
    }
    let ii = |e: &Element| Ii {
        root: e.attr("root").unwrap_or_default().to_string(),
        extension: e.attr("extension").map(str::to_string),
    };
    let qbp = payload.path(HL7_NS, &["controlActProcess", "queryByParameter"]);
    let params = qbp.and_then(|q| q.child(HL7_NS, "parameterList"));
    let mut saw_nhs_value = false;
    let mut nhs = None;
    if let Some(params) = params {
        for id in params.children_named(HL7_NS, "livingSubjectId") {
            for v in id.children_named(HL7_NS, "value") {
                let root = v.attr("root").map(str::trim).unwrap_or("");
                if root != NHS_OID && root != NHS_OID_99 {
                    continue;
                }
                saw_nhs_value = true;
                let ext = v.attr("extension").map(str::trim).unwrap_or("");
                if nhs.is_none()
                    && let Ok(n) = NhsNumber::parse(ext)
                {
                    nhs = Some(n);
                }
            }
        }
    }
    let nhs = match (nhs, saw_nhs_value) {
        (Some(n), _) => Ok(n),
        (None, true) => Err(IdProblem::Invalid),
        (None, false) => Err(IdProblem::Missing),
    };
    let param_value = |name: &str| {
        params
            .and_then(|p| p.child(HL7_NS, name))
            .and_then(|p| p.child(HL7_NS, "value"))
    };
    Ok(Query {
        message_id: payload.child(HL7_NS, "id").map(ii),
        sender_device: payload.path(HL7_NS, &["sender", "device", "id"]).map(ii),
        processing_code: payload
            .child(HL7_NS, "processingCode")
            .and_then(|p| p.attr("code"))
            .filter(|c| matches!(*c, "P" | "T" | "D"))
            .unwrap_or("P")
            .to_string(),
        query_id: qbp.and_then(|q| q.child(HL7_NS, "queryId")).map(ii),
        query_by_parameter: qbp.cloned(),
        nhs,
        birth_time: param_value("livingSubjectBirthTime")
            .and_then(|v| v.attr("value"))
            .map(str::to_string),
        gender: param_value("livingSubjectAdministrativeGender")
            .and_then(|v| v.attr("code"))
            .map(str::to_string),
        family: param_value("livingSubjectName")
            .and_then(|v| v.child(HL7_NS, "family"))
            .map(|f| f.text_trimmed().to_string())
            .filter(|f| !f.is_empty()),
        given: param_value("livingSubjectName")
            .map(|v| {
                v.children_named(HL7_NS, "given")
                    .map(|g| g.text_trimmed().to_string())
                    .filter(|g| !g.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        postcode: param_value("patientAddress")
            .and_then(|v| v.child(HL7_NS, "postalCode"))
            .map(|p| p.text_trimmed().to_string())
            .filter(|p| !p.is_empty()),
    })
}

/// The PDS search a demographics-only query asks for: family name and a full birth date at
/// least (what PDS requires of a non-fuzzy search), with given names, gender and postcode when
/// sent. `None` when the query does not carry enough.
pub fn pds_search(q: &Query) -> Option<PdsSearch> {
    let family = q.family.clone()?;
    let digits: String = q
        .birth_time
        .as_deref()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if digits.len() < 8 {
        return None;
    }
    let birth_date = format!("{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..8]);
    let gender = match q.gender.as_deref() {
        Some("M") => Some(Gender::Male),
        Some("F") => Some(Gender::Female),
        _ => None,
    };
    Some(PdsSearch {
        family: Some(family),
        given: q.given.clone(),
        gender,
        birth_date: Some(birth_date),
        postcode: q.postcode.clone(),
        fuzzy: false,
    })
}

/// Looks the patient up and decides the answer.
pub async fn handle(query: &Query, cx: &Ctx<'_>) -> Result<Outcome, GatewayError> {
    let outcome = match query.nhs {
        Ok(nhs) => {
            crate::caller::authorise_patient(cx.caller, cx.backend, nhs)?;
            cx.backend.discover(nhs, cx.caller).await
        }
        Err(IdProblem::Missing) => {
            let Some(search) = pds_search(query) else {
                return Ok(Outcome::QueryError(
                    "The query must carry an NHS number in livingSubjectId, or a family name \
                     and a full birth date.",
                ));
            };
            match cx.backend.search(&search, cx.caller).await {
                Ok(PdsSearchOutcome::Match(found)) => Ok(*found),
                Ok(PdsSearchOutcome::NoMatch | PdsSearchOutcome::TooManyMatches) => {
                    return Ok(Outcome::NoMatch);
                }
                Err(e) => Err(e),
            }
        }
        Err(IdProblem::Invalid) => {
            return Ok(Outcome::QueryError(
                "The NHS number in livingSubjectId is not valid.",
            ));
        }
    };
    let found = match outcome {
        Ok(PdsOutcome::Found(d)) => d,
        Ok(PdsOutcome::Superseded { current, .. }) => *current,
        Ok(PdsOutcome::Restricted | PdsOutcome::Deceased { .. } | PdsOutcome::NotFound) => {
            return Ok(Outcome::NoMatch);
        }
        Err(e) => return Ok(Outcome::Error(discovery_error(&e)?)),
    };
    // Found by demographics: the assertion may still name only one patient. Someone else is
    // a security alert and, to the caller, no match (a refusal would confirm that the
    // demographics they hold belong to a patient).
    if query.nhs.is_err()
        && crate::caller::authorise_patient(cx.caller, cx.backend, found.nhs_number).is_err()
    {
        return Ok(Outcome::NoMatch);
    }
    if cx.config.demographic_check && !demographics_agree(query, &found) {
        return Ok(Outcome::NoMatch);
    }
    // The record is fetched in the background; a failed enqueue does not fail the discovery
    // (ITI-38 starts the job itself when nothing is cached or in flight).
    if let Err(error) = cx.backend.prefetch(&found, cx.caller).await {
        tracing::warn!(%error, "Cannot start the prefetch after discovery");
    }
    Ok(Outcome::Match(Box::new(found)))
}

/// The optional cross-check: every demographic the query gives must agree with PDS.
fn demographics_agree(q: &Query, d: &Demographics) -> bool {
    if let Some(bt) = &q.birth_time {
        let pds: String = d
            .birth_date
            .as_deref()
            .unwrap_or("")
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let want: String = bt.chars().take(8).collect();
        if pds.is_empty() || !(pds.starts_with(&want) || want.starts_with(&pds)) {
            return false;
        }
    }
    if let Some(g) = &q.gender {
        let ok = match (g.as_str(), d.gender) {
            ("M", Gender::Male) | ("F", Gender::Female) => true,
            ("M" | "F", _) => false,
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    if let Some(f) = &q.family {
        match &d.family {
            Some(pf) if pf.trim().eq_ignore_ascii_case(f.trim()) => {}
            _ => return false,
        }
    }
    true
}

/// HL7 TS for "now" in UTC: `YYYYMMDDHHMMSS`.
pub fn hl7_now() -> String {
    hl7_ts(OffsetDateTime::now_utc())
}

/// HL7 TS (`YYYYMMDDHHMMSS`, UTC).
pub fn hl7_ts(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
