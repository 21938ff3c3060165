-- 004_delivery.sql - what happened after a provider took a notification:
-- delivery reports and call results (Kannel dlr-url, Aliyun SmsReport and
-- VoiceReport, Tencent callbacks, Twilio status callbacks), recorded once
-- each on the alert's timeline; an unanswered call brings the next step of
-- the chain forward; a key press on a call acknowledges.

ALTER TYPE notification_status ADD VALUE IF NOT EXISTS 'undelivered';
ALTER TYPE notification_status ADD VALUE IF NOT EXISTS 'answered';
ALTER TYPE notification_status ADD VALUE IF NOT EXISTS 'not_answered';

-- One row per final report of a notification: providers send reports more
-- than once, and the timeline must show each outcome once.
CREATE TABLE notification_reports (
    notification_id  bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    status           text NOT NULL
        CHECK (status IN ('delivered', 'undelivered', 'answered', 'not_answered', 'key')),
    provider         text NOT NULL,
    provider_ref     text,
    detail           text,
    reported_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notification_id, status)
);

-- Reports that come without our id are matched by the provider's message id.
CREATE INDEX notifications_provider_ref ON notifications (provider, provider_ref)
    WHERE provider_ref IS NOT NULL;

-- A late 'sent' attempt never overwrites what a report already said.
CREATE OR REPLACE FUNCTION anxin_notification_attempt(doc jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    nid bigint := (doc->>'notification')::bigint;
    outcome text := doc->>'outcome';
    fin timestamptz := anxin_ms((doc->>'finished')::bigint);
BEGIN
    INSERT INTO notification_attempts (notification_id, attempt, provider, started_at,
                                       finished_at, outcome, http_status, provider_ref, error)
    VALUES (nid, (doc->>'attempt')::int, doc->>'provider', anxin_ms((doc->>'started')::bigint),
            fin, outcome, (doc->>'http_status')::int, doc->>'ref', doc->>'error')
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE notifications
       SET attempts = greatest(attempts, (doc->>'attempt')::int),
           status = CASE
                        WHEN status::text IN ('delivered', 'cancelled', 'undelivered',
                                              'answered', 'not_answered') THEN status::text
                        WHEN outcome = 'sent' THEN 'sent'
                        WHEN outcome = 'failed' THEN 'failed'
                        ELSE 'sending'
                    END::notification_status,
           provider = doc->>'provider',
           provider_ref = coalesce(doc->>'ref', provider_ref),
           last_error = CASE WHEN outcome = 'sent' THEN NULL ELSE doc->>'error' END,
           sent_at = CASE WHEN outcome = 'sent' THEN fin ELSE sent_at END,
           updated_at = now()
     WHERE id = nid;
    IF outcome IN ('sent', 'failed') OR doc ? 'capped' THEN
        INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
        SELECT n.alert_id, fin, CASE WHEN doc ? 'capped' THEN 'capped' ELSE outcome END,
               'provider:' || (doc->>'provider'), n.channel,
               jsonb_strip_nulls(jsonb_build_object(
                   'notification', nid, 'attempt', (doc->>'attempt')::int,
                   'contact', n.contact_name, 'http_status', (doc->>'http_status')::int,
                   'ref', doc->>'ref', 'error', doc->>'error'))
          FROM notifications n WHERE n.id = nid;
    END IF;
    RETURN true;
END $$;

-- One report: {"provider", "notification" (our id, when the report carries
-- it) or "ref" (the provider's message id), "status" (delivered,
-- undelivered, answered, not_answered, pending), "detail", "at" (ms),
-- "digits" (keys pressed on a call), "node"}. Returns
--   'ok'         recorded
--   'duplicate'  this outcome was already recorded (nothing changes)
--   'pending'    an intermediate state: nothing to record
--   'acked'      a key press of 1 acknowledged the alert
--   'unknown'    no such notification (or not sent by this provider)
CREATE FUNCTION anxin_delivery_report(doc jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    prov text := doc->>'provider';
    st text := doc->>'status';
    at_ts timestamptz := coalesce(anxin_ms(nullif(doc->>'at', '0')::bigint), now());
    n notifications%ROWTYPE;
    a alerts%ROWTYPE;
    res text;
BEGIN
    IF doc ? 'notification' AND (doc->>'notification')::bigint > 0 THEN
        SELECT * INTO n FROM notifications WHERE id = (doc->>'notification')::bigint;
    ELSE
        SELECT * INTO n FROM notifications
         WHERE provider = prov AND provider_ref = doc->>'ref'
         ORDER BY created_at DESC LIMIT 1;
    END IF;
    IF NOT FOUND THEN
        RETURN 'unknown';
    END IF;
    SELECT * INTO a FROM alerts WHERE id = n.alert_id;

    -- A key press: 1 acknowledges ("确认请按1"); anything else is recorded.
    IF coalesce(doc->>'digits', '') <> '' THEN
        INSERT INTO notification_reports (notification_id, status, provider, provider_ref,
                                          detail, reported_at)
        VALUES (n.id, 'key', prov, doc->>'ref', doc->>'digits', at_ts)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RETURN 'duplicate';
        END IF;
        IF left(doc->>'digits', 1) = '1' THEN
            res := anxin_alert_ack(jsonb_build_object(
                'id', n.alert_id, 'actor',
                CASE WHEN n.contact_id IS NOT NULL THEN 'contact:' || n.contact_id
                     ELSE 'provider:' || prov END,
                'channel', 'voice', 'note', n.contact_name || ' 按1确认'));
            RETURN CASE WHEN res = 'ok' THEN 'acked' ELSE 'ok' END;
        END IF;
        INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
        VALUES (n.alert_id, at_ts, 'key', 'provider:' || prov, n.channel,
                jsonb_build_object('notification', n.id, 'contact', n.contact_name,
                                   'digits', doc->>'digits'));
        RETURN 'ok';
    END IF;

    IF st NOT IN ('delivered', 'undelivered', 'answered', 'not_answered') THEN
        RETURN 'pending';
    END IF;
    INSERT INTO notification_reports (notification_id, status, provider, provider_ref, detail,
                                      reported_at)
    VALUES (n.id, st, prov, coalesce(doc->>'ref', n.provider_ref), doc->>'detail', at_ts)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'duplicate';
    END IF;
    UPDATE notifications
       SET status = CASE WHEN status = 'cancelled' THEN status
                         ELSE st::notification_status END,
           delivered_at = CASE WHEN st IN ('delivered', 'answered') THEN at_ts
                               ELSE delivered_at END,
           updated_at = now()
     WHERE id = n.id;
    INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
    VALUES (n.alert_id, at_ts, st, 'provider:' || prov, n.channel,
            jsonb_strip_nulls(jsonb_build_object('notification', n.id,
                                                 'contact', n.contact_name,
                                                 'ref', coalesce(doc->>'ref', n.provider_ref),
                                                 'detail', doc->>'detail')));
    -- A call nobody answered reached nobody: the chain's next step is due
    -- now, unless someone of this alert did pick up (they are dealing with
    -- it, and have the acknowledgement window).
    IF st = 'not_answered' AND a.state = 'open' AND NOT EXISTS (
            SELECT 1 FROM notifications o
             WHERE o.alert_id = n.alert_id AND o.status = 'answered') THEN
        UPDATE escalation_timers SET due_at = least(due_at, now())
         WHERE alert_id = n.alert_id AND kind = 'step' AND done_at IS NULL
           AND NOT cancelled AND due_at > now();
        IF FOUND THEN
            INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
            VALUES (n.alert_id, now(), 'not_reached', 'provider:' || prov, n.channel,
                    jsonb_build_object('notification', n.id, 'contact', n.contact_name,
                                       'next_step', 'now'));
        END IF;
    END IF;
    RETURN 'ok';
END $$;

-- An SMS reply ("1234", "确认1234"): the contact who got the alert's SMS
-- takes it. {"from": E.164 sender, "code": the 4 digits, "provider"}.
-- Returns anxin_alert_ack's answer ('ok', 'already_acknowledged', ...) or
-- 'no_alert' when no live alert with that code notified that number.
CREATE FUNCTION anxin_reply_ack(doc jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n record;
BEGIN
    SELECT nt.alert_id, nt.contact_id, nt.contact_name INTO n
      FROM notifications nt JOIN alerts a ON a.id = nt.alert_id
     WHERE nt.to_number = doc->>'from' AND a.ack_code = doc->>'code'
       AND a.state IN ('open', 'acknowledged')
     ORDER BY a.opened_at DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN 'no_alert';
    END IF;
    RETURN anxin_alert_ack(jsonb_build_object(
        'id', n.alert_id,
        'actor', CASE WHEN n.contact_id IS NOT NULL THEN 'contact:' || n.contact_id
                      ELSE 'provider:' || (doc->>'provider') END,
        'channel', 'sms', 'note', n.contact_name || ' 短信回复确认'));
END $$;
