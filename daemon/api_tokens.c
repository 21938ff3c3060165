/* api_tokens.c - token management for admins over the API, the same as
 * `anxinctl token` (docs/api.md):
 *
 *   GET    /api/v1/tokens                       -> [{name, role, status, ...}]
 *   POST   /api/v1/tokens {"name","role","expires"} -> 201 {..., "token": "axn_..."}
 *   DELETE /api/v1/tokens/NAME                  -> 204 (revoked)
 *
 * A new token's text is in the answer to POST and nowhere else: only its
 * SHA-256 is stored, nothing logs it. Creating and revoking are audited in
 * the same statement as the change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "token_text.h"

enum { TOK_LIST, TOK_CREATE, TOK_REVOKE };

struct tok_call {
    struct anxind *d;
    struct httpd_pending *pending;
    int kind;
    char token[TOKEN_TEXT_LEN + 1];     /* TOK_CREATE: shown once in the answer */
};

static void on_result(void *arg, const PGresult *res)
{
    struct tok_call *c = arg;
    struct httpd_reply rep = {0};
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (c->kind == TOK_CREATE && state && strcmp(state, "23505") == 0) {
        api_reply_error(&rep, 409, "conflict", "a token of that name exists (a revoked token "
                                              "keeps its name: choose another)");
    } else if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error(&c->d->log, "api: token query failed: %s", pgc_error(res));
        api_reply_error(&rep, 500, "internal", "database error");
    } else if (c->kind == TOK_REVOKE) {
        if (PQntuples(res) == 0)
            api_reply_error(&rep, 404, "not_found", "no token of that name");
        else
            rep.status = 204;
    } else if (c->kind == TOK_LIST) {
        rep.body = strdup(PQgetvalue(res, 0, 0));
    } else {
        cJSON *o = cJSON_Parse(PQgetvalue(res, 0, 0));
        cJSON_AddStringToObject(o, "token", c->token);
        rep.status = 201;
        rep.body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    }
    explicit_bzero(c->token, sizeof c->token);
    httpd_complete(c->pending, &rep);
    free(c);
}

static void run(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep,
                struct tok_call *c, const char *sql, int n, const char *const *params)
{
    c->d = d;
    if (api_defer_query(d, req, rep, &c->pending, sql, n, params, on_result, c) != 0) {
        explicit_bzero(c->token, sizeof c->token);
        free(c);
    }
}

static struct tok_call *new_call(int kind, struct httpd_reply *rep)
{
    struct tok_call *c = calloc(1, sizeof *c);
    if (!c)
        api_reply_error(rep, 500, "internal", "out of memory");
    else
        c->kind = kind;
    return c;
}

#define TOKEN_JSON \
    "json_build_object('name', t.name, 'role', t.role," \
    " 'status', CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked'" \
    "   WHEN t.expires_at <= now() THEN 'expired' ELSE 'active' END," \
    " 'created', (extract(epoch FROM t.created_at) * 1000)::bigint," \
    " 'expires', (extract(epoch FROM t.expires_at) * 1000)::bigint," \
    " 'revoked', (extract(epoch FROM t.revoked_at) * 1000)::bigint)"

static void create(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep,
                   const struct api_who *who)
{
    cJSON *in = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(in, "role");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(in, "expires");
    int64_t ms = 0;
    const char *why = NULL;
    if (!cJSON_IsObject(in))
        why = "send {\"name\": \"...\", \"role\": \"operator\", \"expires\": \"90d\"}";
    else if (!cJSON_IsString(name) || !token_name_ok(name->valuestring))
        why = "name is 1 to 64 characters of UTF-8 without control characters";
    else if (!cJSON_IsString(role) || token_role_parse(role->valuestring) < 0)
        why = "role is one of viewer operator admin";
    else if (exp && !cJSON_IsNull(exp) &&
             (!cJSON_IsString(exp) || cfg_parse_duration(exp->valuestring, &ms) != 0 || ms <= 0))
        why = "expires is a duration like 30d, 12h or 90m, or null for never";
    if (why) {
        cJSON_Delete(in);
        api_reply_error(rep, 400, "bad_request", why);
        return;
    }
    uint8_t rnd[TOKEN_RANDOM_BYTES];
    char hash[TOKEN_BYTEA_LEN + 1];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        cJSON_Delete(in);
        api_reply_error(rep, 500, "internal", "no randomness for a token now");
        return;
    }
    struct tok_call *c = new_call(TOK_CREATE, rep);
    if (!c) {
        explicit_bzero(rnd, sizeof rnd);
        cJSON_Delete(in);
        return;
    }
    token_text_make(rnd, c->token, hash);
    explicit_bzero(rnd, sizeof rnd);
    char ms_s[24];
    snprintf(ms_s, sizeof ms_s, "%lld", (long long)ms);
    const char *params[5] = {name->valuestring, role->valuestring, hash, ms ? ms_s : NULL,
                             who->actor};
    run(d, req, rep, c,
        "WITH t AS (INSERT INTO api_tokens (name, role, token_sha256, expires_at)"
        " VALUES ($1, $2::api_role, $3::bytea, now() + $4::bigint * interval '1 millisecond')"
        " RETURNING *)"
        " SELECT " TOKEN_JSON "::text, anxin_audit($5, 'token.create', 'token:' || t.name, 'ok',"
        "   jsonb_build_object('role', t.role, 'channel', 'api')) FROM t",
        5, params);
    explicit_bzero(hash, sizeof hash);
    cJSON_Delete(in);
}

void api_tokens_route(struct anxind *d, const struct httpd_request *req,
                      struct httpd_reply *rep)
{
    const char *rest = req->path + strlen("/api/v1/tokens");
    struct api_who who;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
        if (!get && !post) {
            api_reply_error(rep, 405, "method_not_allowed", "use GET or POST");
            return;
        }
        if (!api_authorize(d, req, TOKEN_ADMIN, rep, &who))
            return;
        if (post) {
            create(d, req, rep, &who);
            return;
        }
        struct tok_call *c = new_call(TOK_LIST, rep);
        if (c)
            run(d, req, rep, c,
                "SELECT coalesce(json_agg(" TOKEN_JSON " ORDER BY t.name), '[]')::text"
                " FROM api_tokens t", 0, NULL);
        return;
    }
    const char *name = rest + 1;
    if (*rest != '/' || !token_name_ok(name)) {
        api_reply_error(rep, 404, "not_found", "no token of that name");
        return;
    }
    if (strcmp(req->method, "DELETE") != 0) {
        api_reply_error(rep, 405, "method_not_allowed", "use DELETE");
        return;
    }
    if (!api_authorize(d, req, TOKEN_ADMIN, rep, &who))
        return;
    struct tok_call *c = new_call(TOK_REVOKE, rep);
    if (!c)
        return;
    const char *params[2] = {name, who.actor};
    /* A second revoke keeps the first time: that is when access ended. */
    run(d, req, rep, c,
        "WITH t AS (UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())"
        " WHERE name = $1 RETURNING name, revoked_at = now() AS now)"
        " SELECT t.name, CASE WHEN t.now THEN anxin_audit($2, 'token.revoke',"
        "   'token:' || t.name, 'ok', jsonb_build_object('channel', 'api')) END FROM t",
        2, params);
}
