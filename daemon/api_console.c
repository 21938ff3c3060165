/* api_console.c - what the web console needs besides the alert API:
 * logging in (a bearer token exchanged for a session cookie held in memory),
 * the live event stream (/api/v1/stream, server-sent events) and the
 * console's own files under /console/.
 *
 *   POST   /api/v1/session  {"token": "..."}  -> 200 {"name","role",...} + cookie
 *   GET    /api/v1/session                    -> 200 {"name","role",...} or 401
 *   DELETE /api/v1/session                    -> 204, cookie cleared
 *   GET    /api/v1/stream                     -> text/event-stream (sse.h)
 *   GET    /console/, /console/FILE           -> files of [http] console_dir */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "clock.h"
#include "err.h"
#include "fileio.h"

#define CONSOLE_MAX_FILE (4 * 1024 * 1024)

static int token_still_allowed(void *arg, const char *name)
{
    struct anxind *d = arg;
    const struct token *t;
    return token_by_name(&d->tokens, name, clock_wall_ms(), &t) == TOKEN_OK;
}

int api_console_start(struct anxind *d)
{
    d->auth_guard = malloc(sizeof *d->auth_guard);
    if (!d->auth_guard)
        return ANX_ENOMEM;
    guard_init(d->auth_guard, (unsigned)d->cfg->auth_failures, API_AUTH_WINDOW_MS,
               d->cfg->auth_throttle_ms);
    d->sse = sse_new(d->loop, &d->log, token_still_allowed, d, SSE_PING_MS);
    return d->sse ? 0 : ANX_ENOMEM;
}

void api_console_stop(struct anxind *d)
{
    sse_close(d->sse);
    d->sse = NULL;
    sess_clear(&d->sessions);
    free(d->auth_guard);
    d->auth_guard = NULL;
}

/* After a token reload: sessions and streams of tokens no longer usable end
 * now, not at their next request or ping. */
void api_forget_revoked(struct anxind *d)
{
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < d->tokens.n; i++) {
        const struct token *t;
        if (token_by_name(&d->tokens, d->tokens.items[i].name, now, &t) == TOKEN_OK)
            continue;
        size_t n = sess_drop_token(&d->sessions, d->tokens.items[i].name);
        if (d->sse)
            sse_drop_token(d->sse, d->tokens.items[i].name);
        if (n)
            log_info(&d->log, "api: %zu console session(s) of token %s ended (revoked or "
                     "expired)", n, d->tokens.items[i].name);
    }
}

void api_on_event(struct anxind *d, const char *payload)
{
    if (!payload || sse_clients(d->sse) == 0)
        return;
    cJSON *j = cJSON_Parse(payload);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event");
    char id[32];
    bool has_id = cJSON_IsNumber(ev);
    if (has_id)
        snprintf(id, sizeof id, "%.0f", ev->valuedouble);
    if (j)
        sse_publish(d->sse, "alert", has_id ? id : NULL, payload);
    cJSON_Delete(j);
}

/* Who is logged in, and the county's UTC offset: the console shows county
 * time whatever zone the desk computer is set to. */
static char *who_json(const struct anxind *d, const struct token *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "role", token_role_name(t->role));
    cJSON_AddNumberToObject(o, "utc_offset_min", d->cfg->utc_offset_min);
    if (t->expires_ms)
        cJSON_AddNumberToObject(o, "token_expires", (double)t->expires_ms);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void session_login(struct anxind *d, const struct httpd_request *req,
                          struct httpd_reply *rep)
{
    cJSON *in = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(in, "token");
    if (!cJSON_IsString(tok)) {
        cJSON_Delete(in);
        api_reply_error(rep, 400, "bad_request", "send {\"token\": \"axn_...\"}");
        return;
    }
    const struct token *t;
    int64_t now = clock_wall_ms();
    enum token_check r = token_check_secret(&d->tokens, tok->valuestring, now, &t);
    cJSON_Delete(in);
    if (r != TOKEN_OK) {
        if (api_auth_failed(d, req, rep))
            return;
        const char *why = r == TOKEN_EXPIRED ? "token expired"
                        : r == TOKEN_REVOKED ? "token revoked" : "unknown token";
        api_audit(d, "anonymous", "session.login", NULL, why, NULL);
        api_reply_error(rep, 401, "unauthorized", why);
        return;
    }
    uint8_t rnd[SESS_ID_BYTES];
    char id[SESS_ID_LEN + 1];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        api_reply_error(rep, 500, "internal", "no randomness for a session");
        return;
    }
    /* A session never outlives its token. */
    int64_t ttl = d->cfg->session_timeout_ms;
    if (t->expires_ms && t->expires_ms - now < ttl)
        ttl = t->expires_ms - now;
    if (sess_create(&d->sessions, t->name, rnd, now, ttl, id) != 0) {
        api_reply_error(rep, 500, "internal", "out of memory");
        return;
    }
    if (asprintf(&rep->cookie, API_SESSION_COOKIE "=%s; Path=/; Max-Age=%lld; HttpOnly; "
                 "SameSite=Strict%s", id, (long long)(ttl / 1000),
                 d->httpd && httpd_is_tls(d->httpd) ? "; Secure" : "") < 0)
        rep->cookie = NULL;
    char actor[TOKEN_NAME_SIZE + 8];
    snprintf(actor, sizeof actor, "token:%s", t->name);
    api_audit(d, actor, "session.login", NULL, "ok", NULL);
    rep->body = who_json(d, t);
}

static void session_route(struct anxind *d, const struct httpd_request *req,
                          struct httpd_reply *rep)
{
    if (strcmp(req->method, "POST") == 0) {
        session_login(d, req, rep);
        return;
    }
    if (strcmp(req->method, "DELETE") == 0) {
        const char *c = httpd_cookie(req, API_SESSION_COOKIE);
        const struct session *s = c ? sess_find(&d->sessions, c, clock_wall_ms()) : NULL;
        if (s) {
            char actor[TOKEN_NAME_SIZE + 8];
            snprintf(actor, sizeof actor, "token:%s", s->token_name);
            api_audit(d, actor, "session.logout", NULL, "ok", NULL);
            sess_drop(&d->sessions, c);
        }
        rep->status = 204;
        rep->cookie = strdup(API_SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
        return;
    }
    if (strcmp(req->method, "GET") != 0) {
        api_reply_error(rep, 405, "method_not_allowed", "use GET, POST or DELETE");
        return;
    }
    struct api_who who;
    if (api_authorize(d, req, TOKEN_VIEWER, rep, &who))
        rep->body = who_json(d, who.token);
}

static void stream_route(struct anxind *d, const struct httpd_request *req,
                         struct httpd_reply *rep)
{
    if (strcmp(req->method, "GET") != 0) {
        api_reply_error(rep, 405, "method_not_allowed", "use GET");
        return;
    }
    struct api_who who;
    if (!api_authorize(d, req, TOKEN_VIEWER, rep, &who))
        return;
    if (!d->sse || sse_subscribe(d->sse, req, who.token->name) != 0)
        api_reply_error(rep, 503, "unavailable", "cannot open a stream now");
}

static const char *content_type_of(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* /console/NAME: plain files of the console directory; no subdirectories,
 * no hidden files, only known types, so nothing else on disk is reachable. */
static void console_file(struct anxind *d, const struct httpd_request *req,
                         struct httpd_reply *rep)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        api_reply_error(rep, 405, "method_not_allowed", "use GET");
        return;
    }
    if (strcmp(req->path, "/console") == 0) {
        rep->status = 301;
        rep->header_name = "Location";
        rep->header_value = "/console/";
        rep->content_type = "text/plain; charset=utf-8";
        rep->body = strdup("see /console/\n");
        return;
    }
    const char *name = req->path + strlen("/console/");
    if (!*name)
        name = "index.html";
    const char *type = content_type_of(name);
    if (name[0] == '.' || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789._-") != strlen(name) || !type) {
        api_reply_error(rep, 404, "not_found", "no such file");
        return;
    }
    const char *dir = d->cfg->console_dir ? d->cfg->console_dir : ANXIN_DATADIR "/console";
    char path[4200], err[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *body = fileio_read(path, CONSOLE_MAX_FILE, &len, err, sizeof err);
    if (!body) {
        if (errno != ENOENT)
            log_warn(&d->log, "console: %s", err);
        api_reply_error(rep, 404, "not_found", "no such file");
        return;
    }
    rep->content_type = type;
    rep->body = body;
    rep->body_len = len;
    if (len == 0) {             /* body_len 0 means strlen: keep it "" */
        free(body);
        rep->body = strdup("");
    }
}

bool api_console_route(struct anxind *d, const struct httpd_request *req,
                       struct httpd_reply *rep)
{
    if (strcmp(req->path, "/api/v1/session") == 0) {
        session_route(d, req, rep);
        return true;
    }
    if (strcmp(req->path, "/api/v1/stream") == 0) {
        stream_route(d, req, rep);
        return true;
    }
    if (strcmp(req->path, "/console") == 0 || strncmp(req->path, "/console/", 9) == 0) {
        console_file(d, req, rep);
        return true;
    }
    return false;
}
