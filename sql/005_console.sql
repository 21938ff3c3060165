-- 005: what the console and the API need: an audit trail of every change
-- and every reveal of a full phone number, and a NOTIFY per timeline entry
-- so every anxind can stream alerts to its consoles (server-sent events).

-- The audit trail: who did what to what, whatever the channel. Actors are
-- 'token:<name>' (API and console), 'cli:<login>' (anxinctl),
-- 'contact:<id>' (a phone reply or key press), 'phone:<masked number>' (a
-- reply nobody may give), 'anxind:<node>'.
CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text NOT NULL,
    action   text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)*$'),
                 -- alert.ack alert.resolve silence.add silence.cancel
                 -- contact.reveal token.create token.revoke session.login
                 -- session.logout reload reply.refused ...
    target   text,                  -- 'alert:12', 'contact:5', 'token:desk-1'
    outcome  text NOT NULL DEFAULT 'ok',  -- 'ok' or why it was refused
    detail   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_target ON audit_log (target, at);

-- Returns the entry's id, so it can sit in the select list of the statement
-- that makes the change (one transaction for both).
CREATE FUNCTION anxin_audit(actor text, action text, target text, outcome text,
                            detail jsonb DEFAULT '{}') RETURNS bigint
    LANGUAGE sql AS $$
    INSERT INTO audit_log (actor, action, target, outcome, detail)
    VALUES (actor, action, target, coalesce(outcome, 'ok'), coalesce(detail, '{}'))
    RETURNING id
$$;

-- Every timeline entry is announced: the payload is small (NOTIFY takes at
-- most 8000 bytes); listeners fetch the rest.
CREATE FUNCTION anxin_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('anxin_event', json_build_object(
        'event', NEW.id, 'alert', NEW.alert_id, 'kind', NEW.kind,
        'at', (extract(epoch FROM NEW.at) * 1000)::bigint,
        'channel', NEW.channel)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER alert_events_notify AFTER INSERT ON alert_events
    FOR EACH ROW EXECUTE FUNCTION anxin_event_notify();
