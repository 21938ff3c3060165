/* tokens.c - API bearer tokens in memory (see tokens.h). */
#include "tokens.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sha256.h"

const char token_sql[] =
    "SELECT name, role::text, encode(token_sha256, 'hex'),"
    " coalesce((extract(epoch FROM expires_at) * 1000)::bigint, 0),"
    " coalesce((extract(epoch FROM revoked_at) * 1000)::bigint, 0)"
    " FROM api_tokens";

const char *token_role_name(enum token_role r)
{
    static const char *const names[] = {"viewer", "operator", "admin"};
    return (unsigned)r < 3 ? names[r] : "unknown";
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int token_load(struct token_set *ts, const PGresult *res)
{
    int n = PQntuples(res);
    struct token *items = calloc((size_t)(n ? n : 1), sizeof *items);
    if (!items)
        return ANX_ENOMEM;
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        struct token *t = &items[k];
        const char *hex = PQgetvalue(res, i, 2);
        if (strlen(hex) != 64)
            continue;
        bool ok = true;
        for (int b = 0; b < 32 && ok; b++) {
            int hi = hexval(hex[2 * b]), lo = hexval(hex[2 * b + 1]);
            ok = hi >= 0 && lo >= 0;
            t->sha256[b] = (uint8_t)(hi << 4 | lo);
        }
        if (!ok)
            continue;
        strncpy(t->name, PQgetvalue(res, i, 0), sizeof t->name - 1);
        const char *role = PQgetvalue(res, i, 1);
        t->role = strcmp(role, "admin") == 0 ? TOKEN_ADMIN
                : strcmp(role, "operator") == 0 ? TOKEN_OPERATOR : TOKEN_VIEWER;
        t->expires_ms = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        t->revoked_ms = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        k++;
    }
    free(ts->items);
    ts->items = items;
    ts->n = k;
    return 0;
}

void token_set_clear(struct token_set *ts)
{
    if (ts->items)
        memset(ts->items, 0, ts->n * sizeof *ts->items);
    free(ts->items);
    ts->items = NULL;
    ts->n = 0;
}

static enum token_check usable(const struct token *t, int64_t now_ms)
{
    if (t->revoked_ms)
        return TOKEN_REVOKED;
    if (t->expires_ms && now_ms >= t->expires_ms)
        return TOKEN_EXPIRED;
    return TOKEN_OK;
}

enum token_check token_check_secret(const struct token_set *ts, const char *tok, int64_t now_ms,
                                    const struct token **out)
{
    *out = NULL;
    if (!tok || !*tok)
        return TOKEN_MISSING;
    uint8_t digest[SHA256_LEN];
    sha256_digest(tok, strlen(tok), digest);
    const struct token *found = NULL;
    /* Look at every token, whatever matches, so timing says nothing. */
    for (size_t i = 0; i < ts->n; i++)
        if (sha256_equal(ts->items[i].sha256, digest))
            found = &ts->items[i];
    if (!found)
        return TOKEN_UNKNOWN;
    enum token_check r = usable(found, now_ms);
    if (r == TOKEN_OK)
        *out = found;
    return r;
}

enum token_check token_check(const struct token_set *ts, const char *authorization,
                             int64_t now_ms, const struct token **out)
{
    *out = NULL;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return TOKEN_MISSING;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    return token_check_secret(ts, tok, now_ms, out);
}

enum token_check token_by_name(const struct token_set *ts, const char *name, int64_t now_ms,
                               const struct token **out)
{
    *out = NULL;
    for (size_t i = 0; i < ts->n; i++) {
        if (strcmp(ts->items[i].name, name) == 0) {
            enum token_check r = usable(&ts->items[i], now_ms);
            if (r == TOKEN_OK)
                *out = &ts->items[i];
            return r;
        }
    }
    return TOKEN_UNKNOWN;
}
