-- 007_replies.sql - acknowledging from the phone: an SMS reply (Kannel's
-- get-url, Aliyun's SmsUp push, Tencent's reply callback, Twilio's
-- incoming message) is told apart by what it can do, so the person gets the
-- right answer; a reply that acknowledges nothing goes into the audit trail
-- (audit_log, 005), so an operator sees it even where the provider cannot
-- carry our answer back (Aliyun, Tencent).

-- A reply is matched by the number it came from and the code it carries:
-- without these, every reply would read the whole history of notifications.
CREATE INDEX notifications_to_number ON notifications (to_number, alert_id);
CREATE INDEX alerts_live_ack_code ON alerts (ack_code) WHERE state IN ('open', 'acknowledged');

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
-- Everything but "acked" is audited: action reply.<outcome>, the actor
-- 'contact:<id>' when the number was notified for the alert, else
-- 'phone:<masked>'. An acknowledgement is on the alert's timeline instead
-- (anxin_alert_ack: actor contact:<id>, channel sms, note "<name> 短信回复确认").
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
    -- anxin_alert_ack changes nothing unless the alert is open, and says why.
    IF anxin_alert_ack(jsonb_build_object(
            'id', n.alert_id, 'actor', actor, 'channel', 'sms',
            'note', n.contact_name || ' 短信回复确认')) = 'ok' THEN
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
        PERFORM anxin_audit(actor, 'reply.taken', 'alert:' || a.id, 'already_acknowledged',
                            detail || jsonb_build_object('acked_by', a.acked_by));
        RETURN jsonb_strip_nulls(jsonb_build_object(
            'outcome', 'taken', 'alert', a.id, 'elder', elder_name,
            'by_name', taker.name, 'by_phone', taker.phone,
            -- token:, cli:, console: someone at the desk
            'by_staff', CASE WHEN a.acked_by !~ '^(contact|phone|provider):' THEN true END));
    END IF;
    PERFORM anxin_audit(actor, 'reply.closed', 'alert:' || a.id, 'not_open:' || a.state, detail);
    RETURN jsonb_build_object('outcome', 'closed', 'alert', a.id, 'elder', elder_name,
                              'state', a.state);
END $$;

-- Replaced by anxin_phone_reply, which every reply hook calls.
DROP FUNCTION anxin_reply_ack(jsonb);
