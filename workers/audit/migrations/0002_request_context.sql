-- Where each inbound request came from and which credentials it carried (gateway events), and
-- the security alerts (kind = 'security_alert': refused SAML, replays, a patient the assertion
-- does not name). "Every refusal from this address / with this assertion" is a query away.
ALTER TABLE audit_event
    ADD COLUMN peer_address       text,
    ADD COLUMN tls_client_subject text,
    ADD COLUMN assertion_id       text,
    ADD COLUMN message_id         text;

CREATE INDEX audit_event_alert_idx ON audit_event (event_time DESC)
    WHERE kind = 'security_alert';
CREATE INDEX audit_event_assertion_idx ON audit_event (assertion_id)
    WHERE assertion_id IS NOT NULL;
