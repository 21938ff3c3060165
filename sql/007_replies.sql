-- 007_replies.sql - acknowledging from the phone: an SMS reply (Kannel's
-- get-url, Aliyun's SmsUp push, Tencent's reply callback, Twilio's
-- incoming message) is told apart by what it can do, so the person gets the
-- right answer; a phone's acknowledgement (a reply, a key press) goes into
-- the audit trail (005) like the console's and anxinctl's, and so does every
-- reply that acknowledges nothing, so an operator sees it even where the
-- provider cannot carry our answer back (Aliyun, Tencent).

-- A reply is matched by the number it came from and the code it carries:
-- without these, every reply would read the whole history of notifications.
CREATE INDEX notifications_to_number ON notifications (to_number, alert_id);
CREATE INDEX alerts_live_ack_code ON alerts (ack_code) WHERE state IN ('open', 'acknowledged');

-- An acknowledgement from a phone, with its audit entry as every
-- acknowledgement has one (the API and anxinctl write theirs around
-- anxin_alert_ack; a phone's is written here): action alert.ack on
-- alert:<id>, outcome anxin_alert_ack's answer ('ok', 'already_acknowledged',
-- 'not_open:resolved', ...), detail {channel} and what the caller adds.
CREATE FUNCTION anxin_phone_ack(aid bigint, actor text, channel text, note text,
                                detail jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    res text;
BEGIN
    res := anxin_alert_ack(jsonb_build_object('id', aid, 'actor', actor, 'channel', channel,
                                              'note', note));
    PERFORM anxin_audit(actor, 'alert.ack', 'alert:' || aid, res,
                        jsonb_build_object('channel', channel) || coalesce(detail, '{}'));
    RETURN res;
END $$;

-- One SMS reply. doc: {"from": the sender, E.164; "masked": the same
-- masked by the daemon (138****0011), the only form written here; "code":
-- the code in the text, absent or "" when it had none; "provider": the
-- provider's name; "via": its type; "answered": whether our answer reaches
-- the phone}. Returns
--   {"outcome": "acked",   "alert", "elder"}   acknowledged now, or by this
--                                              same person before (a second
--                                              reply, a push sent twice)
--   {"outcome": "taken",   "alert", "elder", "by_name", "by_phone" | "by_staff"}
--   {"outcome": "closed",  "alert", "elder", "state"}   resolved, cleared, expired
--   {"outcome": "refused", "alert"}   a live alert has the code, this number
--                                     was never sent it
--   {"outcome": "unknown"}            no alert with that code for this number
--   {"outcome": "no_code"}
-- by_phone is a full number: the daemon masks it before it goes out.
-- Audited: a reply with the code of an alert sent to this number is an
-- acknowledgement by contact:<id> (anxin_phone_ack: alert.ack, whatever came
-- of it); the others are reply.refused, reply.unknown, reply.no_code by
-- 'phone:<masked>'. The timeline has the acknowledgement itself (actor
-- contact:<id>, channel sms, note "<name> 短信回复确认").
CREATE FUNCTION anxin_phone_reply(doc jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    sender text := doc->>'from';
    code text := nullif(doc->>'code', '');
    stranger text := 'phone:' || coalesce(nullif(doc->>'masked', ''), '****');
    detail jsonb := jsonb_strip_nulls(jsonb_build_object(
        'provider', doc->>'provider', 'via', doc->>'via',
        'answered', (doc->>'answered')::boolean));
    n record;
    a alerts%ROWTYPE;
    actor text;
    elder_name text;
    taker contacts%ROWTYPE;
    live_id bigint;
BEGIN
    IF code IS NULL THEN
        PERFORM anxin_audit(stranger, 'reply.no_code', NULL, 'no_code', detail);
        RETURN jsonb_build_object('outcome', 'no_code');
    END IF;
    -- The alert with this code that this number was sent, a live one first:
    -- codes are unique among live alerts, old ones come round again.
    SELECT nt.alert_id, nt.contact_id, nt.contact_name INTO n
      FROM notifications nt JOIN alerts al ON al.id = nt.alert_id
     WHERE nt.to_number = sender AND al.ack_code = code
     ORDER BY al.state IN ('open', 'acknowledged') DESC, al.opened_at DESC
     LIMIT 1;
    IF NOT FOUND THEN
        -- Someone who was not told of a live alert tries its code: refused,
        -- and answered like any unknown code, so the answer tells him nothing.
        SELECT id INTO live_id FROM alerts
         WHERE ack_code = code AND state IN ('open', 'acknowledged')
         ORDER BY opened_at DESC LIMIT 1;
        IF FOUND THEN
            PERFORM anxin_audit(stranger, 'reply.refused', 'alert:' || live_id, 'not_notified',
                                detail);
            RETURN jsonb_build_object('outcome', 'refused', 'alert', live_id);
        END IF;
        PERFORM anxin_audit(stranger, 'reply.unknown', NULL, 'no_alert', detail);
        RETURN jsonb_build_object('outcome', 'unknown');
    END IF;

    actor := CASE WHEN n.contact_id IS NOT NULL THEN 'contact:' || n.contact_id ELSE stranger END;
    SELECT e.name INTO elder_name FROM alerts al JOIN elders e ON e.id = al.elder_id
     WHERE al.id = n.alert_id;
    -- Changes nothing unless the alert is open, and says why.
    IF anxin_phone_ack(n.alert_id, actor, 'sms', n.contact_name || ' 短信回复确认',
                       detail) = 'ok' THEN
        RETURN jsonb_build_object('outcome', 'acked', 'alert', n.alert_id, 'elder', elder_name);
    END IF;
    SELECT * INTO a FROM alerts WHERE id = n.alert_id;
    IF a.state = 'acknowledged' THEN
        IF a.acked_by = actor THEN
            RETURN jsonb_build_object('outcome', 'acked', 'alert', a.id, 'elder', elder_name);
        END IF;
        IF a.acked_by ~ '^contact:[0-9]+$' THEN
            SELECT * INTO taker FROM contacts WHERE id = substr(a.acked_by, 9)::bigint;
        END IF;
        RETURN jsonb_strip_nulls(jsonb_build_object(
            'outcome', 'taken', 'alert', a.id, 'elder', elder_name,
            'by_name', taker.name, 'by_phone', taker.phone,
            -- token:, cli:, console: someone at the desk
            'by_staff', CASE WHEN a.acked_by !~ '^(contact|phone|provider):' THEN true END));
    END IF;
    RETURN jsonb_build_object('outcome', 'closed', 'alert', a.id, 'elder', elder_name,
                              'state', a.state);
END $$;

-- Replaced by anxin_phone_reply, which every reply hook calls.
DROP FUNCTION anxin_reply_ack(jsonb);

-- As in 004, but a key press of 1 acknowledges through anxin_phone_ack, so
-- that it is audited like every other acknowledgement.
CREATE OR REPLACE FUNCTION anxin_delivery_report(doc jsonb) RETURNS text LANGUAGE plpgsql AS $$
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
            res := anxin_phone_ack(
                n.alert_id,
                CASE WHEN n.contact_id IS NOT NULL THEN 'contact:' || n.contact_id
                     ELSE 'provider:' || prov END,
                'voice', n.contact_name || ' 按1确认', jsonb_build_object('provider', prov));
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
