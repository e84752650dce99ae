//! Error bodies of the NHS services → (code, diagnostics).
//!
//! Three shapes arrive: FHIR OperationOutcomes (PDS R4, SDS, GP Connect STU3, and the SSP whose
//! `details.coding.code` is the HTTP status and whose `display` carries the real token), and the
//! API platform's OAuth `{"error", "error_description"}`.

use serde::Deserialize;

use super::SpineCode;

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    issue: Vec<Issue>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct Issue {
    details: Option<Details>,
    diagnostics: Option<String>,
}

#[derive(Deserialize)]
struct Details {
    #[serde(default)]
    coding: Vec<Coding>,
}

#[derive(Deserialize)]
struct Coding {
    system: Option<String>,
    code: Option<String>,
    display: Option<String>,
}

const SSP_SYSTEM: &str = "http://fhir.nhs.net/ValueSet/gpconnect-schedule-response-code-1-0";

/// Reads the first issue's code (or the OAuth `error`) and the diagnostics text.
pub(crate) fn parse(body: &[u8]) -> (Option<SpineCode>, Option<String>) {
    let Ok(body) = serde_json::from_slice::<Body>(body) else {
        return (None, None);
    };
    if let Some(error) = body.error {
        return (Some(SpineCode::parse(&error)), body.error_description);
    }
    let Some(issue) = body.issue.into_iter().next() else {
        return (None, None);
    };
    let coding = issue.details.and_then(|d| d.coding.into_iter().next());
    let code = coding.and_then(|c| {
        if c.system.as_deref() == Some(SSP_SYSTEM) {
            c.display.or(c.code)
        } else {
            c.code
        }
    });
    (code.as_deref().map(SpineCode::parse), issue.diagnostics)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let gpc = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","details":{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1","code":"PATIENT_NOT_FOUND"}]}}]}"#;
        assert_eq!(parse(gpc).0, Some(SpineCode::PatientNotFound));
        let ssp = br#"{"issue":[{"details":{"coding":[{"code":"403","display":"ASID_CHECK_FAILED_MESSAGESENDER_1","system":"http://fhir.nhs.net/ValueSet/gpconnect-schedule-response-code-1-0"}]},"diagnostics":"d"}]}"#;
        assert_eq!(
            parse(ssp),
            (
                Some(SpineCode::Other("ASID_CHECK_FAILED_MESSAGESENDER_1".into())),
                Some("d".into())
            )
        );
        let oauth =
            br#"{"error":"invalid_request","error_description":"Missing client_assertion"}"#;
        assert_eq!(
            parse(oauth).0,
            Some(SpineCode::Other("invalid_request".into()))
        );
        assert_eq!(parse(b"<html>"), (None, None));
    }
}
