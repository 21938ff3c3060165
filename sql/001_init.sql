-- 001_init.sql - the first anxin schema: registry, alerts, timeline,
-- notifications, escalation timers, API tokens.
--
-- Applied by `anxinctl migrate` inside one transaction; the row in
-- schema_migrations is written by anxinctl, not here.

-- The registry (摸底排查 results) -------------------------------------------

CREATE TYPE contact_role AS ENUM (
    'family', 'neighbor', 'grid_worker', 'doctor', 'community', 'volunteer', 'call_center');

CREATE TYPE risk_level AS ENUM ('low', 'medium', 'high');

CREATE TABLE elders (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    birth_year  integer CHECK (birth_year BETWEEN 1880 AND 2100),
    categories  text[] NOT NULL DEFAULT '{}' CHECK (categories <@ ARRAY[
                    'living_alone', 'empty_nest', 'left_behind', 'disabled',
                    'severely_disabled', 'family_planning_special']::text[]),
    consent     boolean NOT NULL,           -- without consent the elder is not monitored
    address     text,
    township    text,
    village     text,
    grid        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX elders_township_village ON elders (township, village);

CREATE TABLE care_plans (
    elder_id          text PRIMARY KEY REFERENCES elders (id) ON DELETE CASCADE,
    visit_every_days  integer CHECK (visit_every_days BETWEEN 1 AND 366),
    risk              risk_level NOT NULL DEFAULT 'medium',
    chain             text CHECK (chain ~ '^[a-z][a-z0-9_]{0,31}$'),
    params            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
    id          bigserial PRIMARY KEY,
    elder_id    text NOT NULL REFERENCES elders (id) ON DELETE CASCADE,
    position    integer NOT NULL,           -- order in the imported list
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    phone       text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),   -- E.164
    role        contact_role NOT NULL,
    priority    integer NOT NULL CHECK (priority BETWEEN 1 AND 9),
    channels    text[] NOT NULL DEFAULT '{sms}'
                CHECK (channels <@ ARRAY['sms', 'voice']::text[] AND cardinality(channels) > 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (elder_id, position)
);
CREATE INDEX contacts_phone ON contacts (phone);    -- SMS replies are matched by number

CREATE TABLE devices (
    id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    elder_id     text NOT NULL REFERENCES elders (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,31}$'),
    heartbeat_s  integer NOT NULL DEFAULT 300 CHECK (heartbeat_s BETWEEN 1 AND 604800),
    last_seen    timestamptz,               -- written in batches by anxind
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_elder ON devices (elder_id);

-- A running anxind keeps the registry in memory; these triggers tell it which
-- elder changed (LISTEN anxin_registry), whatever wrote the change.
CREATE FUNCTION anxin_registry_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_id text;
    new_id text;
BEGIN
    -- PL/pgSQL resolves a record field only when its statement runs, so each
    -- branch may name the column its own table has.
    IF TG_TABLE_NAME = 'elders' THEN
        IF TG_OP <> 'INSERT' THEN old_id := OLD.id; END IF;
        IF TG_OP <> 'DELETE' THEN new_id := NEW.id; END IF;
    ELSE
        IF TG_OP <> 'INSERT' THEN old_id := OLD.elder_id; END IF;
        IF TG_OP <> 'DELETE' THEN new_id := NEW.elder_id; END IF;
    END IF;
    IF old_id IS NOT NULL THEN
        PERFORM pg_notify('anxin_registry', old_id);
    END IF;
    IF new_id IS NOT NULL AND new_id IS DISTINCT FROM old_id THEN
        PERFORM pg_notify('anxin_registry', new_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER elders_notify AFTER INSERT OR UPDATE OR DELETE ON elders
    FOR EACH ROW EXECUTE FUNCTION anxin_registry_notify();
CREATE TRIGGER care_plans_notify AFTER INSERT OR UPDATE OR DELETE ON care_plans
    FOR EACH ROW EXECUTE FUNCTION anxin_registry_notify();
CREATE TRIGGER contacts_notify AFTER INSERT OR UPDATE OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION anxin_registry_notify();
-- last_seen updates are anxind's own writes and change nothing it caches.
CREATE TRIGGER devices_notify AFTER INSERT OR DELETE OR UPDATE OF id, elder_id, kind, heartbeat_s
    ON devices FOR EACH ROW EXECUTE FUNCTION anxin_registry_notify();

-- Alerts and their timeline ------------------------------------------------

CREATE TYPE alert_state AS ENUM ('open', 'acknowledged', 'resolved', 'cleared', 'expired');
CREATE TYPE severity AS ENUM ('low', 'medium', 'high', 'critical');
CREATE TYPE alert_outcome AS ENUM (
    'false_alarm', 'assisted_on_site', 'sent_to_hospital', 'emergency_services',
    'device_fault', 'other');

-- Alert ids are handed out by anxind in blocks (nextval with INCREMENT BY
-- 1000), so it can open an alert while the database is unreachable.
CREATE SEQUENCE alert_ids INCREMENT BY 1000 MINVALUE 1 START WITH 1;
CREATE SEQUENCE notification_ids INCREMENT BY 1000 MINVALUE 1 START WITH 1;

CREATE TABLE alerts (
    id             bigint PRIMARY KEY,
    elder_id       text NOT NULL REFERENCES elders (id),
    device_id      text,                    -- the device whose message opened it
    rule           text NOT NULL,
    severity       severity NOT NULL,
    chain          text NOT NULL,
    state          alert_state NOT NULL DEFAULT 'open',
    ack_code       text NOT NULL CHECK (ack_code ~ '^[0-9]{4,6}$'),
    event_ts       timestamptz NOT NULL,    -- device ts of the opening message, or its receive time
    opened_at      timestamptz NOT NULL,    -- when anxind opened it
    last_fired_at  timestamptz NOT NULL,
    fire_count     integer NOT NULL DEFAULT 1,
    acked_at       timestamptz,
    acked_by       text,
    resolved_at    timestamptz,
    outcome        alert_outcome,
    note           text,
    source_node    text NOT NULL,           -- anxind instance and journal record that
    source_seq     bigint NOT NULL,         -- opened it: makes journal replay idempotent
    UNIQUE (source_node, source_seq),
    CHECK (state <> 'resolved' OR (outcome IS NOT NULL AND resolved_at IS NOT NULL))
);
-- Dedup: at most one live alert per elder and rule.
CREATE UNIQUE INDEX alerts_live_per_elder_rule ON alerts (elder_id, rule)
    WHERE state IN ('open', 'acknowledged');
CREATE INDEX alerts_state_opened ON alerts (state, opened_at DESC);
CREATE INDEX alerts_elder ON alerts (elder_id, opened_at DESC);

CREATE TABLE alert_events (
    id           bigserial PRIMARY KEY,
    alert_id     bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    kind         text NOT NULL CHECK (kind ~ '^[a-z_]{1,32}$'),
                 -- opened repeat notify sent failed delivered acked resolved cleared ...
    actor        text NOT NULL,             -- 'anxind:<node>', 'contact:<id>', 'token:<name>', 'cli:<user>'
    channel      text,                      -- sms voice api console cli ...
    detail       jsonb NOT NULL DEFAULT '{}',
    source_node  text,
    source_seq   bigint                     -- journal record behind it, for idempotent replay
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, at, id);
CREATE UNIQUE INDEX alert_events_source ON alert_events (alert_id, source_node, source_seq)
    WHERE source_seq IS NOT NULL;

-- Notifications: one row per message to one person on one channel; one
-- attempt row per try at a provider.
CREATE TYPE notification_status AS ENUM (
    'queued', 'sending', 'sent', 'delivered', 'failed', 'cancelled');

CREATE TABLE notifications (
    id            bigint PRIMARY KEY,       -- also the idempotency key given to providers
    alert_id      bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    contact_id    bigint REFERENCES contacts (id) ON DELETE SET NULL,
    contact_name  text NOT NULL,
    role          contact_role,
    to_number     text NOT NULL,
    channel       text NOT NULL CHECK (channel IN ('sms', 'voice')),
    body          text NOT NULL,
    status        notification_status NOT NULL DEFAULT 'queued',
    provider      text,                     -- provider that took it
    provider_ref  text,                     -- the provider's message id
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL,
    sent_at       timestamptz,
    delivered_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_alert ON notifications (alert_id, created_at);
CREATE INDEX notifications_pending ON notifications (created_at)
    WHERE status IN ('queued', 'sending');

CREATE TABLE notification_attempts (
    notification_id  bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    provider         text NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed')),
    http_status      integer,
    provider_ref     text,
    error            text,
    PRIMARY KEY (notification_id, attempt)
);

-- Escalation timers: every pending step is a row; a daemon claims due rows.
CREATE TABLE escalation_timers (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    step        integer NOT NULL CHECK (step >= 0),
    due_at      timestamptz NOT NULL,
    claimed_by  text,
    claimed_at  timestamptz,
    done_at     timestamptz,
    UNIQUE (alert_id, step)
);
CREATE INDEX escalation_timers_due ON escalation_timers (due_at) WHERE done_at IS NULL;

-- API tokens: only a SHA-256 of the token is stored.
CREATE TYPE api_role AS ENUM ('viewer', 'operator', 'admin');

CREATE TABLE api_tokens (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    role          api_role NOT NULL,
    token_sha256  bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

-- Writes by anxind ----------------------------------------------------------
-- anxind queues its writes and sends them again after a lost connection, so
-- every function here is idempotent: a second call with the same document
-- changes nothing.

CREATE FUNCTION anxin_ms(bigint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT to_timestamp($1 / 1000.0) $$;

-- Opens an alert with its timeline entry and first notifications. Returns
-- false if it was already stored (journal replay) or another live alert for
-- the same elder and rule exists.
CREATE FUNCTION anxin_alert_open(doc jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
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
    VALUES (aid, anxin_ms((doc->>'opened')::bigint), 'opened', actor, 'mqtt',
            jsonb_build_object('rule', doc->>'rule', 'severity', doc->>'severity',
                               'device', doc->>'device', 'event', doc->>'event'),
            doc->>'node', (doc->>'seq')::bigint);
    -- A contact replaced by an import meanwhile keeps its name on the row.
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

-- Counts one more firing of the rule on a live alert.
CREATE FUNCTION anxin_alert_repeat(doc jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    aid bigint := (doc->>'id')::bigint;
    at_ts timestamptz := anxin_ms((doc->>'at')::bigint);
BEGIN
    INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail, source_node, source_seq)
    VALUES (aid, at_ts, 'repeat', 'anxind:' || (doc->>'node'), 'mqtt',
            jsonb_build_object('device', doc->>'device', 'event', doc->>'event',
                               'count', (doc->>'count')::int),
            doc->>'node', (doc->>'seq')::bigint)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE alerts SET fire_count = fire_count + 1, last_fired_at = greatest(last_fired_at, at_ts)
     WHERE id = aid;
    RETURN true;
END $$;

-- Records one attempt to send a notification and the status it leaves.
CREATE FUNCTION anxin_notification_attempt(doc jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
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
    IF outcome IN ('sent', 'failed') THEN
        INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail)
        SELECT n.alert_id, fin, outcome, 'provider:' || (doc->>'provider'), n.channel,
               jsonb_strip_nulls(jsonb_build_object(
                   'notification', nid, 'attempt', (doc->>'attempt')::int,
                   'contact', n.contact_name, 'http_status', (doc->>'http_status')::int,
                   'ref', doc->>'ref', 'error', doc->>'error'))
          FROM notifications n WHERE n.id = nid;
    END IF;
    RETURN true;
END $$;
