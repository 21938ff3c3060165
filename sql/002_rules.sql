-- 002_rules.sql - the rule engine: alerts that clear by themselves, and the
-- explanation of why a rule fired on the timeline.

-- The opening entry now carries why the rule fired: the values and the
-- window that made it fire ("sum(water.flow_l) over 12h = 3.5 < 10 L").
CREATE OR REPLACE FUNCTION anxin_alert_open(doc jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    aid bigint := (doc->>'id')::bigint;
    actor text := 'anxind:' || (doc->>'node');
BEGIN
    INSERT INTO alerts (id, elder_id, device_id, rule, severity, chain, state, ack_code,
                        event_ts, opened_at, last_fired_at, fire_count, source_node, source_seq)
    VALUES (aid, doc->>'elder', doc->>'device', doc->>'rule', (doc->>'severity')::severity,
            doc->>'chain', 'open', doc->>'ack_code', anxin_ms((doc->>'event_ts')::bigint),
            anxin_ms((doc->>'opened')::bigint), anxin_ms((doc->>'opened')::bigint), 1,
            doc->>'node', (doc->>'seq')::bigint)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail, source_node, source_seq)
    VALUES (aid, anxin_ms((doc->>'opened')::bigint), 'opened', actor,
            coalesce(doc->>'source', 'mqtt'),
            jsonb_strip_nulls(jsonb_build_object(
                'rule', doc->>'rule', 'severity', doc->>'severity', 'device', doc->>'device',
                'event', doc->>'event', 'why', doc->>'why', 'value', doc->'value')),
            doc->>'node', (doc->>'seq')::bigint);
    INSERT INTO notifications (id, alert_id, contact_id, contact_name, role, to_number, channel,
                               body, status, created_at)
    SELECT n.id, aid, (SELECT c.id FROM contacts c WHERE c.id = n.contact_id), n.contact_name,
           n.role::contact_role, n.to_number, n.channel, n.body, 'queued', anxin_ms(n.created)
      FROM jsonb_to_recordset(doc->'notifications')
           AS n(id bigint, contact_id bigint, contact_name text, role text, to_number text,
                channel text, body text, created bigint)
    ON CONFLICT (id) DO NOTHING;
    INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
    SELECT aid, anxin_ms(n.created), 'notify', actor, n.channel,
           jsonb_build_object('notification', n.id, 'contact', n.contact_name, 'role', n.role,
                              'to', n.masked)
      FROM jsonb_to_recordset(doc->'notifications')
           AS n(id bigint, contact_name text, role text, channel text, masked text, created bigint);
    RETURN true;
END $$;

-- The rule's condition went away: an open alert becomes 'cleared' (an
-- acknowledged one stays with the person handling it). Idempotent.
CREATE FUNCTION anxin_alert_clear(doc jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    aid bigint := (doc->>'id')::bigint;
    at_ts timestamptz := anxin_ms((doc->>'at')::bigint);
BEGIN
    UPDATE alerts SET state = 'cleared', resolved_at = at_ts
     WHERE id = aid AND state = 'open';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail, source_node, source_seq)
    VALUES (aid, at_ts, 'cleared', 'anxind:' || (doc->>'node'), 'rule',
            jsonb_strip_nulls(jsonb_build_object('device', doc->>'device', 'why', doc->>'why',
                                                 'value', doc->'value')),
            doc->>'node', (doc->>'seq')::bigint)
    ON CONFLICT DO NOTHING;
    RETURN true;
END $$;
