-- 003_escalation.sql - escalation that keeps going until someone takes the
-- alert: durable step timers claimed by one anxind at a time,
-- acknowledgement and resolution, ack timeouts, silences.

ALTER TYPE alert_state ADD VALUE IF NOT EXISTS 'silenced';

ALTER TABLE alerts
    ADD COLUMN step_reached integer NOT NULL DEFAULT -1,    -- the last chain firing run
    ADD COLUMN silenced_by bigint,                           -- the silence that held it back
    ADD COLUMN group_id bigint REFERENCES alerts (id),       -- the elder's alert it was grouped with
    ADD COLUMN ack_timeout_ms bigint;                        -- the chain's, when it opened

-- One row per pending firing of a chain (kind 'step', step = firing number)
-- or per ack timeout (kind 'ack_timeout'). Done rows stay as the record.
ALTER TABLE escalation_timers
    ADD COLUMN kind text NOT NULL DEFAULT 'step'
        CHECK (kind IN ('step', 'ack_timeout', 'expire')),
    ADD COLUMN cancelled boolean NOT NULL DEFAULT false;
ALTER TABLE escalation_timers DROP CONSTRAINT escalation_timers_alert_id_step_key;
ALTER TABLE escalation_timers ADD CONSTRAINT escalation_timers_once UNIQUE (alert_id, kind, step);

-- Silences and maintenance windows: an elder in hospital, a device being
-- repaired, a village during works, a rule being tuned. Alerts they hold back
-- are still recorded (state 'silenced'), never paged.
CREATE TABLE silences (
    id          bigserial PRIMARY KEY,
    scope       text NOT NULL CHECK (scope IN ('elder', 'device', 'village', 'rule')),
    target      text NOT NULL CHECK (length(target) BETWEEN 1 AND 100),
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    recur       text CHECK (recur IN ('daily', 'weekly')),   -- NULL: once
    until_at    timestamptz,                                 -- recurring: last day; NULL = until cancelled
    cancelled_at timestamptz,
    CHECK (ends_at > starts_at),
    CHECK (recur IS NULL OR ends_at - starts_at < CASE recur WHEN 'daily' THEN interval '1 day'
                                                             ELSE interval '7 days' END)
);
CREATE INDEX silences_active ON silences (ends_at) WHERE cancelled_at IS NULL;

CREATE FUNCTION anxin_silences_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('anxin_silences', '');
    RETURN NULL;
END $$;
CREATE TRIGGER silences_notify AFTER INSERT OR UPDATE OR DELETE ON silences
    FOR EACH STATEMENT EXECUTE FUNCTION anxin_silences_notify();

-- Opening an alert now also records the chain's first pending timer, how far
-- the chain got at once (the steps at 0s), and a silence or group.
CREATE OR REPLACE FUNCTION anxin_alert_open(doc jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    aid bigint := (doc->>'id')::bigint;
    actor text := 'anxind:' || (doc->>'node');
    opened timestamptz := anxin_ms((doc->>'opened')::bigint);
BEGIN
    INSERT INTO alerts (id, elder_id, device_id, rule, severity, chain, state, ack_code,
                        event_ts, opened_at, last_fired_at, fire_count, source_node, source_seq,
                        step_reached, silenced_by, group_id, ack_timeout_ms)
    VALUES (aid, doc->>'elder', doc->>'device', doc->>'rule', (doc->>'severity')::severity,
            doc->>'chain', coalesce(doc->>'state', 'open')::alert_state, doc->>'ack_code',
            anxin_ms((doc->>'event_ts')::bigint), opened, opened, 1,
            doc->>'node', (doc->>'seq')::bigint, coalesce((doc->>'step_reached')::int, -1),
            (doc->>'silenced_by')::bigint,
            (SELECT g.id FROM alerts g WHERE g.id = (doc->>'group_id')::bigint),
            (doc->>'ack_timeout_ms')::bigint)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail, source_node, source_seq)
    VALUES (aid, opened, 'opened', actor, coalesce(doc->>'source', 'mqtt'),
            jsonb_strip_nulls(jsonb_build_object(
                'rule', doc->>'rule', 'severity', doc->>'severity', 'device', doc->>'device',
                'event', doc->>'event', 'why', doc->>'why', 'value', doc->'value',
                'chain', doc->>'chain', 'group', (doc->>'group_id')::bigint)),
            doc->>'node', (doc->>'seq')::bigint);
    IF doc ? 'group_id' THEN
        INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
        VALUES (aid, opened, 'grouped', actor, 'rule',
                jsonb_build_object('with', (doc->>'group_id')::bigint));
        INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
        SELECT (doc->>'group_id')::bigint, opened, 'joined', actor, 'rule',
               jsonb_build_object('alert', aid, 'rule', doc->>'rule', 'device', doc->>'device')
         WHERE EXISTS (SELECT 1 FROM alerts WHERE id = (doc->>'group_id')::bigint);
    END IF;
    IF doc ? 'silenced_by' THEN
        INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
        VALUES (aid, opened, 'silenced', actor, 'rule',
                jsonb_build_object('silence', (doc->>'silenced_by')::bigint,
                                   'reason', doc->>'silence_reason'));
    END IF;
    PERFORM anxin_add_notifications(aid, actor, doc->'notifications');
    IF doc ? 'next' THEN
        INSERT INTO escalation_timers (alert_id, kind, step, due_at)
        VALUES (aid, 'step', (doc->'next'->>'step')::int,
                anxin_ms((doc->'next'->>'due')::bigint))
        ON CONFLICT DO NOTHING;
    END IF;
    IF doc ? 'expire' THEN
        INSERT INTO escalation_timers (alert_id, kind, step, due_at)
        VALUES (aid, 'expire', 0, anxin_ms((doc->>'expire')::bigint))
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN true;
END $$;

-- Notifications of one firing, queued (the outbox) with their timeline
-- entries; console targets are timeline entries only.
CREATE FUNCTION anxin_add_notifications(aid bigint, actor text, notes jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF notes IS NULL OR jsonb_typeof(notes) <> 'array' THEN
        RETURN;
    END IF;
    INSERT INTO notifications (id, alert_id, contact_id, contact_name, role, to_number, channel,
                               body, status, created_at)
    SELECT n.id, aid, (SELECT c.id FROM contacts c WHERE c.id = n.contact_id), n.contact_name,
           n.role::contact_role, n.to_number, n.channel, n.body, 'queued', anxin_ms(n.created)
      FROM jsonb_to_recordset(notes)
           AS n(id bigint, contact_id bigint, contact_name text, role text, to_number text,
                channel text, body text, created bigint)
     WHERE n.channel IN ('sms', 'voice')
    ON CONFLICT (id) DO NOTHING;
    INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
    SELECT aid, anxin_ms(n.created), 'notify', actor, n.channel,
           jsonb_strip_nulls(jsonb_build_object('notification', n.id, 'contact', n.contact_name,
                                                'role', n.role, 'to', n.masked, 'step', n.step))
      FROM jsonb_to_recordset(notes)
           AS n(id bigint, contact_name text, role text, channel text, masked text,
                created bigint, step int);
END $$;

-- Claims up to lim due timers for node: a claim lasts 60 s, so a timer whose
-- anxind died mid-way is taken again, and SKIP LOCKED keeps two anxind from
-- taking the same one.
CREATE FUNCTION anxin_claim_timers(node text, now_ms bigint, lim int)
RETURNS TABLE (timer_id bigint, alert_id bigint, kind text, step int, due_ms bigint,
               state text, elder_id text, device_id text, rule text, chain text,
               severity text, ack_code text, event_ms bigint, opened_ms bigint,
               acked_by text, step_reached int)
LANGUAGE plpgsql AS $$
DECLARE
    now_ts timestamptz := anxin_ms(now_ms);
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT t.id FROM escalation_timers t
         WHERE t.done_at IS NULL AND t.due_at <= now_ts
           AND (t.claimed_by IS NULL OR t.claimed_at < now_ts - interval '60 seconds')
         ORDER BY t.due_at
         LIMIT lim
         FOR UPDATE SKIP LOCKED),
    claimed AS (
        UPDATE escalation_timers t SET claimed_by = node, claimed_at = now_ts
          FROM due WHERE t.id = due.id
        RETURNING t.id, t.alert_id, t.kind, t.step, t.due_at)
    SELECT c.id, c.alert_id, c.kind, c.step, (extract(epoch FROM c.due_at) * 1000)::bigint,
           a.state::text, a.elder_id, coalesce(a.device_id, ''), a.rule, a.chain,
           a.severity::text, a.ack_code, (extract(epoch FROM a.event_ts) * 1000)::bigint,
           (extract(epoch FROM a.opened_at) * 1000)::bigint, a.acked_by, a.step_reached
      FROM claimed c JOIN alerts a ON a.id = c.alert_id;
END $$;

-- A claimed timer has run: its notifications are queued, the next firing
-- scheduled. Idempotent; nothing happens if the timer was already done
-- (cancelled by an acknowledgement meanwhile), which the result says.
CREATE FUNCTION anxin_timer_done(doc jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    tid bigint := (doc->>'timer')::bigint;
    aid bigint;
    actor text := 'anxind:' || (doc->>'node');
    now_ts timestamptz := anxin_ms((doc->>'now')::bigint);
BEGIN
    UPDATE escalation_timers SET done_at = now_ts
     WHERE id = tid AND done_at IS NULL AND claimed_by = doc->>'node'
    RETURNING alert_id INTO aid;
    IF aid IS NULL THEN
        RETURN false;
    END IF;
    IF doc ? 'expire' THEN
        -- Its chain ran out long ago and nobody took it: expired, recorded.
        UPDATE alerts SET state = 'expired', resolved_at = now_ts
         WHERE id = aid AND state = 'open';
        IF FOUND THEN
            INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
            VALUES (aid, now_ts, 'expired', actor, 'timer',
                    jsonb_build_object('after_ms', (doc->>'after_ms')::bigint));
            PERFORM pg_notify('anxin_alert', json_build_object('id', aid,
                                                               'state', 'expired')::text);
        END IF;
        RETURN true;
    END IF;
    IF doc ? 'reopen' THEN
        -- An ack timeout: the acknowledged alert is paged again.
        UPDATE alerts SET state = 'open' WHERE id = aid AND state = 'acknowledged';
        INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
        VALUES (aid, now_ts, 'ack_timeout', actor, 'timer',
                jsonb_build_object('acked_by', doc->>'acked_by',
                                   'after_ms', (doc->>'after_ms')::bigint));
    END IF;
    UPDATE alerts SET step_reached = greatest(step_reached, (doc->>'step_reached')::int)
     WHERE id = aid AND doc ? 'step_reached';
    INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
    SELECT aid, now_ts, 'escalate', actor, 'timer',
           jsonb_strip_nulls(jsonb_build_object('step', (doc->>'step')::int,
                                                'target', doc->>'target',
                                                'late_ms', (doc->>'late_ms')::bigint))
     WHERE doc ? 'target';
    PERFORM anxin_add_notifications(aid, actor, doc->'notifications');
    IF doc ? 'next' THEN
        INSERT INTO escalation_timers (alert_id, kind, step, due_at)
        VALUES (aid, 'step', (doc->'next'->>'step')::int,
                anxin_ms((doc->'next'->>'due')::bigint))
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN true;
END $$;

-- The one acknowledgement path of every channel (CLI, API, console, SMS
-- reply, key press). Stops all paging at once: pending timers and queued
-- notifications are cancelled in the same transaction, and anxind is told
-- (NOTIFY anxin_alert) to drop what it is sending. Returns 'ok' or why not.
CREATE FUNCTION anxin_alert_ack(doc jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    aid bigint := (doc->>'id')::bigint;
    now_ts timestamptz := coalesce(anxin_ms((doc->>'now')::bigint), now());
    st alert_state;
    ch text;
    timeout_ms bigint;
BEGIN
    SELECT state, chain, coalesce((doc->>'ack_timeout_ms')::bigint, ack_timeout_ms, 1800000)
      INTO st, ch, timeout_ms FROM alerts WHERE id = aid FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    ELSIF st = 'acknowledged' THEN
        RETURN 'already_acknowledged';
    ELSIF st <> 'open' THEN
        RETURN 'not_open:' || st;
    END IF;
    UPDATE alerts SET state = 'acknowledged', acked_at = now_ts, acked_by = doc->>'actor'
     WHERE id = aid;
    UPDATE escalation_timers SET done_at = now_ts, cancelled = true
     WHERE alert_id = aid AND done_at IS NULL;
    UPDATE notifications SET status = 'cancelled', updated_at = now()
     WHERE alert_id = aid AND status IN ('queued', 'sending');
    INSERT INTO escalation_timers (alert_id, kind, step, due_at)
    VALUES (aid, 'ack_timeout',
            (SELECT count(*) FROM escalation_timers WHERE alert_id = aid AND kind = 'ack_timeout'),
            now_ts + timeout_ms * interval '1 millisecond');
    INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
    VALUES (aid, now_ts, 'acked', doc->>'actor', doc->>'channel',
            jsonb_strip_nulls(jsonb_build_object('note', doc->>'note',
                                                 'ack_timeout_ms', timeout_ms)));
    PERFORM pg_notify('anxin_alert', json_build_object('id', aid, 'state', 'acknowledged')::text);
    -- Alerts grouped with this one are the same incident: taken with it.
    PERFORM anxin_alert_ack(jsonb_set(doc, '{id}', to_jsonb(m.id)))
       FROM alerts m WHERE m.group_id = aid AND m.state = 'open';
    RETURN 'ok';
END $$;

-- Resolving records how it ended (the handling record); it needs an outcome
-- and a note. From open or acknowledged.
CREATE FUNCTION anxin_alert_resolve(doc jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    aid bigint := (doc->>'id')::bigint;
    now_ts timestamptz := coalesce(anxin_ms((doc->>'now')::bigint), now());
    st alert_state;
BEGIN
    IF coalesce(doc->>'outcome', '') NOT IN ('false_alarm', 'assisted_on_site',
            'sent_to_hospital', 'emergency_services', 'device_fault', 'other') THEN
        RETURN 'bad_outcome';
    END IF;
    IF length(btrim(coalesce(doc->>'note', ''))) = 0 THEN
        RETURN 'note_required';
    END IF;
    SELECT state INTO st FROM alerts WHERE id = aid FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    ELSIF st NOT IN ('open', 'acknowledged') THEN
        RETURN 'not_open:' || st;
    END IF;
    UPDATE alerts SET state = 'resolved', resolved_at = now_ts,
                      outcome = (doc->>'outcome')::alert_outcome, note = doc->>'note',
                      acked_at = coalesce(acked_at, now_ts),
                      acked_by = coalesce(acked_by, doc->>'actor')
     WHERE id = aid;
    UPDATE escalation_timers SET done_at = now_ts, cancelled = true
     WHERE alert_id = aid AND done_at IS NULL;
    UPDATE notifications SET status = 'cancelled', updated_at = now()
     WHERE alert_id = aid AND status IN ('queued', 'sending');
    INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
    VALUES (aid, now_ts, 'resolved', doc->>'actor', doc->>'channel',
            jsonb_build_object('outcome', doc->>'outcome', 'note', doc->>'note'));
    PERFORM pg_notify('anxin_alert', json_build_object('id', aid, 'state', 'resolved')::text);
    PERFORM anxin_alert_resolve(jsonb_set(doc, '{id}', to_jsonb(m.id)))
       FROM alerts m WHERE m.group_id = aid AND m.state IN ('open', 'acknowledged');
    RETURN 'ok';
END $$;

-- The condition went away: an open alert becomes 'cleared' and its paging
-- stops (an acknowledged one stays with the person handling it).
CREATE OR REPLACE FUNCTION anxin_alert_clear(doc jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    aid bigint := (doc->>'id')::bigint;
    at_ts timestamptz := anxin_ms((doc->>'at')::bigint);
BEGIN
    UPDATE alerts SET state = 'cleared', resolved_at = at_ts
     WHERE id = aid AND state = 'open';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE escalation_timers SET done_at = at_ts, cancelled = true
     WHERE alert_id = aid AND done_at IS NULL;
    UPDATE notifications SET status = 'cancelled', updated_at = now()
     WHERE alert_id = aid AND status IN ('queued', 'sending');
    INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail, source_node, source_seq)
    VALUES (aid, at_ts, 'cleared', 'anxind:' || (doc->>'node'), 'rule',
            jsonb_strip_nulls(jsonb_build_object('device', doc->>'device', 'why', doc->>'why',
                                                 'value', doc->'value')),
            doc->>'node', (doc->>'seq')::bigint)
    ON CONFLICT DO NOTHING;
    PERFORM pg_notify('anxin_alert', json_build_object('id', aid, 'state', 'cleared')::text);
    RETURN true;
END $$;

-- API tokens change rarely; anxind keeps them in memory and reloads on this.
CREATE FUNCTION anxin_tokens_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('anxin_tokens', '');
    RETURN NULL;
END $$;
CREATE TRIGGER api_tokens_notify AFTER INSERT OR UPDATE OR DELETE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION anxin_tokens_notify();

-- Attempt records now also say when a per-number limit held a notification
-- back (and a voice call went out as an SMS instead): the timeline shows it.
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
                        WHEN status IN ('delivered', 'cancelled') THEN status
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
