//! Whether a medication is current or past, decided from the statement and
//! its authorisation together.

use crate::dates;
use crate::fhir::{Extensions, MedicationRequest, MedicationStatement};

/// Where one medication belongs, and the words and codes that say why.
///
/// GP systems often leave `MedicationStatement.status` at `active` after the
/// authorisation (the `intent` plan MedicationRequest) was completed or
/// stopped, or after its end date passed; the original Xhuma listed those as
/// current medications (its bug #185). A medication is current only when the
/// statement is `active`, its plan (if any) is `active` or `on-hold`, and no
/// end date of the statement or the plan lies before the document's `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::sections) struct Status<'a> {
    pub(in crate::sections) past: bool,
    /// "Completed", "Stopped", "Ended", "Authorisation expired", …
    pub(in crate::sections) label: &'static str,
    /// The GP's reason for the status change (MedicationStatusReason-1).
    pub(in crate::sections) reason: Option<&'a str>,
    /// When it ended, when known (statement end, plan end, status change date).
    pub(in crate::sections) ended: Option<&'a str>,
    /// `statusCode` of the Medication Activity (ActStatus).
    pub(in crate::sections) act_status: &'static str,
}

pub(super) fn classify<'a>(
    ms: &'a MedicationStatement,
    plan: Option<&'a MedicationRequest>,
    now: time::OffsetDateTime,
) -> Status<'a> {
    let reason = plan.and_then(status_reason);
    let changed = plan.and_then(status_change_date);
    let statement_end = ms.effective_period.as_ref().and_then(|p| p.end.as_deref());
    let plan_end = plan
        .and_then(|p| p.dispense_request.as_ref())
        .and_then(|d| d.validity_period.as_ref())
        .and_then(|p| p.end.as_deref());
    let expiry = plan.and_then(|p| super::repeats(p).2);
    let ended = statement_end.or(plan_end).or(changed);
    let past = |label, act_status| Status {
        past: true,
        label,
        reason,
        ended,
        act_status,
    };
    match ms.status.as_deref() {
        Some("active") => {}
        Some("stopped") => return past("Stopped", "aborted"),
        Some("entered-in-error") => return past("Entered in error", "nullified"),
        Some("intended") => return past("Intended", "active"),
        Some("completed") | None => return past("Completed", "completed"),
        Some(_) => return past("Not current", "completed"),
    }
    match plan.and_then(|p| p.status.as_deref()) {
        Some("completed") => return past("Completed", "completed"),
        Some("stopped") => return past("Stopped", "aborted"),
        Some("cancelled") => return past("Cancelled", "aborted"),
        Some("entered-in-error") => return past("Entered in error", "nullified"),
        _ => {}
    }
    if dates::before(statement_end, now) || dates::before(plan_end, now) {
        return past("Ended", "completed");
    }
    if dates::before(expiry, now) {
        return Status {
            ended: ended.or(expiry),
            ..past("Authorisation expired", "completed")
        };
    }
    if let Some(plan) = plan
        && is_acute(plan)
        && let Some(days) = supply_days(plan)
        && let Some(issued) = last_issue_date(ms)
        && supply_ran_out(issued, days, now)
    {
        return Status {
            ended: ended.or(Some(issued)),
            ..past("Ended (acute supply issued and used)", "completed")
        };
    }
    Status {
        past: false,
        label: "Active",
        reason,
        ended: None,
        act_status: "active",
    }
}

/// `MedicationStatementLastIssueDate-1`: when the medication was last issued.
pub(in crate::sections) fn last_issue_date(ms: &MedicationStatement) -> Option<&str> {
    ms.ext("MedicationStatementLastIssueDate-1")
        .and_then(|e| e.value_date_time.as_deref().or(e.value_date.as_deref()))
}

fn is_acute(plan: &MedicationRequest) -> bool {
    plan.ext("PrescriptionType-1")
        .and_then(|e| e.value_codeable_concept.as_ref())
        .is_some_and(|c| c.coding.iter().any(|c| c.code.as_deref() == Some("acute")))
}

/// `dispenseRequest.expectedSupplyDuration` in whole days (UCUM `d`, `wk`).
fn supply_days(plan: &MedicationRequest) -> Option<i64> {
    let q = plan
        .dispense_request
        .as_ref()?
        .expected_supply_duration
        .as_ref()?;
    let v = q.value.as_ref()?.as_f64()?;
    let per = match q.code.as_deref().or(q.unit.as_deref())? {
        "d" | "day" | "days" => 1.0,
        "wk" | "week" | "weeks" => 7.0,
        _ => return None,
    };
    let days = v * per;
    (days.is_finite() && (0.0..=3660.0).contains(&days)).then_some(days.ceil() as i64)
}

/// True when `issued + days` is before the calendar day of `now` (a day-precision date only).
fn supply_ran_out(issued: &str, days: i64, now: time::OffsetDateTime) -> bool {
    let Some(ts) = dates::ts(Some(issued)).filter(|t| t.len() >= 8) else {
        return false;
    };
    let ymd = |a: usize, b: usize| ts[a..b].parse::<i32>().ok();
    let (Some(y), Some(m), Some(d)) = (ymd(0, 4), ymd(4, 6), ymd(6, 8)) else {
        return false;
    };
    let Ok(month) = time::Month::try_from(m as u8) else {
        return false;
    };
    let Ok(date) = time::Date::from_calendar_date(y, month, d as u8) else {
        return false;
    };
    date.checked_add(time::Duration::days(days))
        .is_some_and(|end| end < now.date())
}

fn status_reason(plan: &MedicationRequest) -> Option<&str> {
    plan.ext("MedicationStatusReason-1")
        .and_then(|e| e.ext("statusReason"))
        .and_then(|e| e.value_codeable_concept.as_ref())
        .and_then(|c| c.label())
}

fn status_change_date(plan: &MedicationRequest) -> Option<&str> {
    plan.ext("MedicationStatusReason-1")
        .and_then(|e| e.ext("statusChangeDate"))
        .and_then(|e| e.value_date_time.as_deref().or(e.value_date.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: time::OffsetDateTime = time::macros::datetime!(2026-11-22 07:00:00 UTC);

    fn ms(json: &str) -> MedicationStatement {
        serde_json::from_str(json).expect("statement")
    }

    fn plan(json: &str) -> MedicationRequest {
        serde_json::from_str(json).expect("plan")
    }

    const STOPPED_PLAN: &str = r#"{"status": "stopped", "intent": "plan",
        "extension": [{"url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-MedicationStatusReason-1",
            "extension": [{"url": "statusChangeDate", "valueDateTime": "2020-03-01"},
                          {"url": "statusReason", "valueCodeableConcept": {"text": "Prescribing Error"}}]}]}"#;

    #[test]
    fn active_statement_with_stopped_plan_is_past_with_its_reason() {
        let s = ms(r#"{"status": "active"}"#);
        let p = plan(STOPPED_PLAN);
        let st = classify(&s, Some(&p), NOW);
        assert!(st.past);
        assert_eq!(st.label, "Stopped");
        assert_eq!(st.reason, Some("Prescribing Error"));
        assert_eq!(st.ended, Some("2020-03-01"));
        assert_eq!(st.act_status, "aborted");
    }

    #[test]
    fn active_statement_with_completed_plan_is_past() {
        let s = ms(r#"{"status": "active"}"#);
        let p = plan(r#"{"status": "completed", "intent": "plan"}"#);
        let st = classify(&s, Some(&p), NOW);
        assert!(st.past);
        assert_eq!(st.label, "Completed");
    }

    #[test]
    fn ended_dates_make_an_active_pair_past() {
        let s = ms(
            r#"{"status": "active", "effectivePeriod": {"start": "2018-01-01", "end": "2018-06-01"}}"#,
        );
        let p = plan(r#"{"status": "active", "intent": "plan"}"#);
        assert_eq!(classify(&s, Some(&p), NOW).label, "Ended");

        let s = ms(r#"{"status": "active"}"#);
        let p = plan(
            r#"{"status": "active", "intent": "plan",
                "dispenseRequest": {"validityPeriod": {"start": "2018-01-01", "end": "2019-01-01"}}}"#,
        );
        let st = classify(&s, Some(&p), NOW);
        assert_eq!(
            (st.past, st.label, st.ended),
            (true, "Ended", Some("2019-01-01"))
        );

        let p = plan(
            r#"{"status": "active", "intent": "plan",
                "extension": [{"url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-MedicationRepeatInformation-1",
                    "extension": [{"url": "authorisationExpiryDate", "valueDateTime": "2024-05-01"}]}]}"#,
        );
        let st = classify(&s, Some(&p), NOW);
        assert_eq!(
            (st.past, st.label, st.ended),
            (true, "Authorisation expired", Some("2024-05-01"))
        );
    }

    #[test]
    fn an_acute_supply_that_ran_out_is_past() {
        let acute = |days: u32| {
            plan(&format!(
                r#"{{"status": "active", "intent": "plan",
                    "extension": [{{"url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-PrescriptionType-1",
                        "valueCodeableConcept": {{"coding": [{{"code": "acute"}}]}}}}],
                    "dispenseRequest": {{"expectedSupplyDuration": {{"value": {days}, "code": "d"}}}}}}"#
            ))
        };
        let issued = |date: &str| {
            ms(&format!(
                r#"{{"status": "active", "extension": [{{"url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-MedicationStatementLastIssueDate-1",
                    "valueDateTime": "{date}"}}]}}"#
            ))
        };
        let (s, p) = (issued("2024-03-01"), acute(28));
        let st = classify(&s, Some(&p), NOW);
        assert_eq!((st.past, st.ended), (true, Some("2024-03-01")));
        // still within its supply
        assert!(!classify(&issued("2026-11-10"), Some(&acute(28)), NOW).past);
        // no duration, or not acute: the last issue alone decides nothing
        let p = plan(r#"{"status": "active", "intent": "plan"}"#);
        assert!(!classify(&issued("2010-01-01"), Some(&p), NOW).past);
    }

    #[test]
    fn current_only_when_statement_and_plan_agree() {
        let s = ms(
            r#"{"status": "active", "effectivePeriod": {"start": "2026-01-01", "end": "2027-01-01"}}"#,
        );
        let p = plan(r#"{"status": "active", "intent": "plan"}"#);
        let st = classify(&s, Some(&p), NOW);
        assert!(!st.past);
        assert_eq!(st.act_status, "active");
        // no plan in the bundle: the statement decides
        assert!(!classify(&s, None, NOW).past);
        // a past statement stays past whatever the plan says
        let s = ms(r#"{"status": "completed"}"#);
        assert!(classify(&s, Some(&p), NOW).past);
    }
}
