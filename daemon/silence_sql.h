/* silence_sql.h - which silences count, in one place for every reader
 * (anxind's escalation, the API, anxinctl): not cancelled, and either a
 * one-off that has not ended or a recurring one whose last day has not
 * passed. For WHERE clauses on the silences table. */
#ifndef ANXIN_SILENCE_SQL_H
#define ANXIN_SILENCE_SQL_H

#define SILENCE_IN_FORCE_OR_TO_COME \
    "cancelled_at IS NULL AND (recur IS NULL AND ends_at > now()" \
    " OR recur IS NOT NULL AND (until_at IS NULL OR until_at > now()))"

#endif
