-- 006_kpi.sql - response-time figures for the county office and for the
-- telecare audit (TEC: 97.5% of alarms answered within 60 s, 99% within
-- 180 s): per month (local time) and township, how fast the first
-- notification went out, how fast someone took the alert, how fast it was
-- resolved, and the share taken within 60 s and 180 s.
--
-- What counts (docs/reports.md says the same in plain words):
--   * An alert belongs to the month and period in which it was opened
--     (alerts.opened_at); every time is measured from opened_at.
--   * Silenced alerts paged nobody: not in "alerts", nor in any figure;
--     they are counted apart ("silenced").
--   * An alert grouped with an earlier one of the same elder (group_id) is
--     the same incident, paged by the first one's chain: it is not counted
--     again.
--   * Acknowledged: the first acknowledgement (a later one after an ack
--     timeout overwrites alerts.acked_at, the timeline keeps the first).
--     Resolving an alert nobody acknowledged acknowledges it at that moment.
--   * The share within N seconds is of the alerts that needed someone to
--     answer for N seconds: one never acknowledged (expired, or still open
--     and older than N seconds) counts as missed; one cleared by its rule
--     before N seconds had passed needed no answer that long and is left
--     out; one still open and younger than N seconds is not decided yet and
--     is left out.
--   * Resolution: only alerts a person resolved (state 'resolved');
--     cleared and expired alerts also have a resolved_at but nobody
--     resolved them.
--   * Medians and 95th percentiles are percentile_disc: the time of a real
--     alert, the smallest one that at least half (95%) of them did not
--     exceed. They are over the alerts that have that time: never
--     acknowledged alerts have no time to acknowledgement (the shares count
--     them).

-- Reports and anxind's /metrics read one period of alerts at a time.
CREATE INDEX alerts_opened ON alerts (opened_at);

-- One row per (month, township) and one total row per month (township NULL,
-- total true), ordered by month, townships first by name, then the total.
-- Elders without a township are grouped under ''. Months and their bounds
-- are in local time at utc_offset_s seconds east of UTC (China: 28800).
-- Alerts opened in [from_ts, to_ts). Shares are NULL when no alert counts.
CREATE FUNCTION anxin_response_report(from_ts timestamptz, to_ts timestamptz,
                                      utc_offset_s integer DEFAULT 28800)
RETURNS TABLE (month text, township text, total boolean, alerts bigint, silenced bigint,
               notify_p50_s double precision, notify_p95_s double precision,
               ack_p50_s double precision, ack_p95_s double precision,
               resolve_p50_s double precision, resolve_p95_s double precision,
               ack_needed_60 bigint, ack_within_60 bigint, ack_share_60 double precision,
               ack_needed_180 bigint, ack_within_180 bigint, ack_share_180 double precision)
LANGUAGE sql STABLE AS $$
    WITH timed AS (
        SELECT to_char(al.opened_at AT TIME ZONE 'UTC' + utc_offset_s * interval '1 second',
                       'YYYY-MM') AS mon,
               coalesce(btrim(e.township), '') AS town,
               al.state = 'silenced' AS held,
               extract(epoch FROM (SELECT min(n.sent_at) FROM notifications n
                                    WHERE n.alert_id = al.id) - al.opened_at)::float8 AS notify_s,
               extract(epoch FROM least(al.acked_at,
                                        (SELECT min(ev.at) FROM alert_events ev
                                          WHERE ev.alert_id = al.id AND ev.kind = 'acked'))
                                  - al.opened_at)::float8 AS ack_s,
               CASE WHEN al.state = 'resolved'
                    THEN extract(epoch FROM al.resolved_at - al.opened_at)::float8 END
                   AS resolve_s,
               -- How long an alert nobody took went on asking for an answer:
               -- until its rule cleared it, or until now while still open;
               -- NULL for ever (expired).
               CASE al.state
                    WHEN 'cleared' THEN extract(epoch FROM al.resolved_at - al.opened_at)::float8
                    WHEN 'open' THEN extract(epoch FROM now() - al.opened_at)::float8 END
                   AS asked_s
          FROM alerts al JOIN elders e ON e.id = al.elder_id
         WHERE al.opened_at >= from_ts AND al.opened_at < to_ts AND al.group_id IS NULL
    ), counted AS (
        SELECT t.*,
               NOT held AND (ack_s IS NOT NULL OR asked_s IS NULL OR asked_s > 60) AS needed_60,
               NOT held AND (ack_s IS NOT NULL OR asked_s IS NULL OR asked_s > 180) AS needed_180
          FROM timed t
    ), grouped AS (
        SELECT mon, CASE WHEN grouping(town) = 1 THEN NULL ELSE town END AS town,
               grouping(town) = 1 AS is_total,
               count(*) FILTER (WHERE NOT held) AS n_alerts,
               count(*) FILTER (WHERE held) AS n_held,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY notify_s) FILTER (WHERE NOT held)
                   AS notify_50,
               percentile_disc(0.95) WITHIN GROUP (ORDER BY notify_s) FILTER (WHERE NOT held)
                   AS notify_95,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY ack_s) FILTER (WHERE NOT held)
                   AS ack_50,
               percentile_disc(0.95) WITHIN GROUP (ORDER BY ack_s) FILTER (WHERE NOT held)
                   AS ack_95,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY resolve_s) FILTER (WHERE NOT held)
                   AS resolve_50,
               percentile_disc(0.95) WITHIN GROUP (ORDER BY resolve_s) FILTER (WHERE NOT held)
                   AS resolve_95,
               count(*) FILTER (WHERE needed_60) AS n60,
               count(*) FILTER (WHERE needed_60 AND ack_s <= 60) AS in60,
               count(*) FILTER (WHERE needed_180) AS n180,
               count(*) FILTER (WHERE needed_180 AND ack_s <= 180) AS in180
          FROM counted
         GROUP BY GROUPING SETS ((mon, town), (mon))
    )
    SELECT g.mon, g.town, g.is_total, g.n_alerts, g.n_held,
           g.notify_50, g.notify_95, g.ack_50, g.ack_95, g.resolve_50, g.resolve_95,
           g.n60, g.in60, g.in60::float8 / nullif(g.n60, 0),
           g.n180, g.in180, g.in180::float8 / nullif(g.n180, 0)
      FROM grouped g
     ORDER BY g.mon, g.is_total, g.town
$$;
