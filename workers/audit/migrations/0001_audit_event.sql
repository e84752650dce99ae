-- The audit trail: one row per audited action (ITI-55/47/38/39 at the gateway, PDS lookups and
-- GP Connect calls in the workers). Rows are only ever inserted; a trigger refuses UPDATE and
-- DELETE so the record cannot be edited through the application role by mistake. Retention is
-- an operator's job (disable the trigger as the table owner, delete, re-enable).
CREATE TABLE audit_event (
    id                  uuid        PRIMARY KEY,
    seq                 bigint      GENERATED ALWAYS AS IDENTITY,
    event_time          timestamptz NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    kind                text        NOT NULL,
    outcome             text        NOT NULL,
    -- The patient: NHS number (to answer "who read this record") and the pseudonymous key logs use.
    nhs_number          text,
    patient_key         text,
    -- The requester, from the verified SAML assertion (XSPA attributes).
    user_id             text,
    user_org            text,
    user_org_id         text,
    user_ods_code       text,
    user_role_code      text,
    user_role_name      text,
    purpose_of_use_code text,
    purpose_of_use_name text,
    home_community_id   text,
    saml_issuer         text,
    -- Correlation.
    correlation_id      text        NOT NULL,
    ssp_trace_id        text,
    trace_id            text,
    document_unique_id  text,
    source              text        NOT NULL,
    detail              text
);

-- "Who accessed patient X (between dates)?"
CREATE INDEX audit_event_patient_idx ON audit_event (nhs_number, event_time DESC)
    WHERE nhs_number IS NOT NULL;
CREATE INDEX audit_event_patient_key_idx ON audit_event (patient_key, event_time DESC)
    WHERE patient_key IS NOT NULL;
-- "What did user Y (of organisation Z) access?"
CREATE INDEX audit_event_user_idx ON audit_event (user_id, user_org_id, event_time DESC)
    WHERE user_id IS NOT NULL;
-- Time-range scans and retention.
CREATE INDEX audit_event_time_idx ON audit_event USING brin (event_time);
-- Following one request or one GP Connect call across services.
CREATE INDEX audit_event_correlation_idx ON audit_event (correlation_id);
CREATE INDEX audit_event_ssp_trace_idx ON audit_event (ssp_trace_id)
    WHERE ssp_trace_id IS NOT NULL;

CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only';
END
$$;

CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();
