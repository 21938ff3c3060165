/* api.h - what the HTTP route files share: who is asking (a bearer token,
 * or a console session cookie standing for one), JSON errors, the audit
 * trail. Routes: api.c (health, metrics, alerts, silences, contacts),
 * api_console.c (login sessions, the event stream, the console's files). */
#ifndef ANXIN_API_H
#define ANXIN_API_H

#include <stdbool.h>

#include "anxind.h"

#define API_SESSION_COOKIE "anxin_session"
/* Console requests that change something carry this header: a page of
 * another site cannot add it without our consent (CORS preflight), so a
 * session cookie alone never acts (CSRF). */
#define API_CONSOLE_HEADER "X-Anxin-Console"

struct api_who {
    const struct token *token;  /* valid until the token set is reloaded */
    bool console;               /* came with a session cookie */
    char actor[TOKEN_NAME_SIZE + 8];    /* "token:<name>", for the timeline and audit */
};

/* Who is asking, with at least role need; on refusal fills rep with 401 or
 * 403 and returns false. */
bool api_authorize(struct anxind *d, const struct httpd_request *req, enum token_role need,
                   struct httpd_reply *rep, struct api_who *who);

/* [http] auth_failures counts within this long. */
#define API_AUTH_WINDOW_MS 60000

/* A request about to be refused (a wrong token, a forged callback), counted
 * per client address (authguard.h). Returns true when the address is
 * throttled: rep is then a 429 with Retry-After, and the refusal is not to
 * be logged or audited; false: refuse it as usual. */
bool api_refusal_throttled(struct anxind *d, const struct httpd_request *req,
                           struct httpd_reply *rep);

/* The same for a login or bearer token that failed (unknown, expired,
 * revoked), also counted as such for /metrics. */
bool api_auth_failed(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep);

/* Runs one query whose callback will answer the request: *slot receives the
 * pending reply before the query is queued (params are copied). Returns 0;
 * or -1 when the request is answered already (503: the database is
 * unreachable; 500) and cb will not be called. */
int api_defer_query(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep,
                    struct httpd_pending **slot, const char *sql, int n,
                    const char *const *params, pgc_cb cb, void *arg);

void api_reply_error(struct httpd_reply *rep, int status, const char *error, const char *detail);

/* Appends to the audit trail (queued like every write; kept through a
 * database outage). detail_json may be NULL. */
void api_audit(struct anxind *d, const char *actor, const char *action, const char *target,
               const char *outcome, const char *detail_json);

/* api_tokens.c: /api/v1/tokens[/NAME] for admins. */
void api_tokens_route(struct anxind *d, const struct httpd_request *req,
                      struct httpd_reply *rep);

/* api_console.c */
bool api_console_route(struct anxind *d, const struct httpd_request *req,
                       struct httpd_reply *rep);
/* A NOTIFY anxin_event payload, passed on to the event streams. */
void api_on_event(struct anxind *d, const char *payload);
/* Starts and stops the event hub; ends a token's sessions and streams. */
int api_console_start(struct anxind *d);
void api_console_stop(struct anxind *d);
void api_forget_revoked(struct anxind *d);

#endif
