//! The audit trail of ITI transactions: one [`AuditEvent`] per transaction (per document for
//! ITI-39), with the requester from the verified SAML assertion.

use xhuma_common::NhsNumber;
use xhuma_common::audit::{AuditEvent, AuditKind, AuditOutcome};
use xhuma_common::job::FailureKind;

use super::Records;
use crate::backend::{BackendError, Caller, Refusal, SecurityAlert};

impl Records {
    /// Records one ITI transaction in the audit trail.
    pub(super) fn audit_event(
        &self,
        caller: &Caller,
        outcome: AuditOutcome,
        nhs: Option<NhsNumber>,
        document: Option<&str>,
        detail: Option<&str>,
    ) {
        let event = self.iti_event(caller, outcome, nhs, document, detail);
        self.inner.audit.emit(event);
    }

    /// Records the release of an ITI-39 document and waits for RabbitMQ to confirm it
    /// (bounded by `XHUMA_AUDIT_CONFIRM_TIMEOUT_MS`). Unconfirmed, the document is held back
    /// (`Unavailable`) unless `XHUMA_AUDIT_FAIL_OPEN` says otherwise: no read without its record.
    pub(super) async fn audit_release(
        &self,
        caller: &Caller,
        nhs: NhsNumber,
        document: &str,
    ) -> Result<(), BackendError> {
        let event = self.iti_event(
            caller,
            AuditOutcome::Success,
            Some(nhs),
            Some(document),
            None,
        );
        let confirmed = self
            .inner
            .audit
            .emit_confirmed(event, self.inner.config.audit_confirm_timeout)
            .await;
        if confirmed {
            return Ok(());
        }
        metrics::counter!("xhuma_audit_unconfirmed_total").increment(1);
        if self.inner.config.audit_fail_open {
            tracing::error!("Audit event not confirmed; document released (XHUMA_AUDIT_FAIL_OPEN)");
            return Ok(());
        }
        tracing::error!("Document held back: its audit event was not confirmed");
        Err(BackendError::Unavailable(
            "the audit trail is unavailable".into(),
        ))
    }

    fn iti_event(
        &self,
        caller: &Caller,
        outcome: AuditOutcome,
        nhs: Option<NhsNumber>,
        document: Option<&str>,
        detail: Option<&str>,
    ) -> AuditEvent {
        let kind = match caller.iti {
            "iti55" => AuditKind::Iti55,
            "iti47" => AuditKind::Iti47,
            "iti39" => AuditKind::Iti39,
            _ => AuditKind::Iti38,
        };
        let mut event = AuditEvent::new(kind, outcome, caller.correlation_id.clone())
            .requester(&caller.requester)
            .request(&caller.context);
        if let Some(n) = nhs {
            event = event.patient(n, self.inner.cache.patient_key(n));
        }
        if let Some(d) = document {
            event = event.document(d);
        }
        if let Some(d) = detail {
            event = event.detail(d);
        }
        event
    }

    /// Records a refused request as a security alert: who (when known), from where, with which
    /// assertion and message, asking for which patient or document, and why.
    pub(super) fn audit_alert(&self, alert: SecurityAlert<'_>) {
        let outcome = match alert.refusal {
            Refusal::Credentials("saml_malformed") => AuditOutcome::Invalid,
            _ => AuditOutcome::Denied,
        };
        let correlation = alert
            .caller
            .map(|c| c.correlation_id.clone())
            .or_else(|| alert.context.message_id.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut event = AuditEvent::new(AuditKind::SecurityAlert, outcome, correlation)
            .request(alert.context)
            .detail(format!(
                "{}: {}",
                alert.iti,
                crate::caller::refusal_label(alert.refusal)
            ));
        if let Some(c) = alert.caller {
            event = event.requester(&c.requester);
        }
        if let Some(n) = alert.patient {
            event = event.patient(n, self.inner.cache.patient_key(n));
        }
        if let Some(d) = alert.document {
            event = event.document(d);
        }
        self.inner.audit.emit(event);
    }
}

pub(super) fn failure_outcome(kind: FailureKind) -> AuditOutcome {
    match kind {
        FailureKind::PatientNotFound | FailureKind::NoEndpoint => AuditOutcome::NotFound,
        FailureKind::AccessDenied => AuditOutcome::Denied,
        _ => AuditOutcome::Failed,
    }
}

pub(super) fn error_detail(e: &BackendError) -> &'static str {
    match e {
        BackendError::Unavailable(_) => "unavailable",
        BackendError::Busy => "deadline passed",
        BackendError::ShuttingDown => "shutting down",
    }
}
