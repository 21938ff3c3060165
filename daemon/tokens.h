/* tokens.h - the API's bearer tokens, held in memory as SHA-256 digests
 * (the database stores nothing else) and reloaded when they change. */
#ifndef ANXIN_TOKENS_H
#define ANXIN_TOKENS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "token_text.h"

enum token_role { TOKEN_VIEWER, TOKEN_OPERATOR, TOKEN_ADMIN };

struct token {
    uint8_t sha256[32];
    char name[TOKEN_NAME_SIZE];
    enum token_role role;
    int64_t expires_ms;         /* 0 = never */
    int64_t revoked_ms;         /* 0 = not revoked */
};

struct token_set {
    struct token *items;        /* owned */
    size_t n;
};

enum token_check { TOKEN_OK, TOKEN_MISSING, TOKEN_UNKNOWN, TOKEN_EXPIRED, TOKEN_REVOKED };

/* Checks an Authorization header value ("Bearer axn_..."); *out is the
 * token when TOKEN_OK (valid until the set is reloaded). Compares digests in
 * constant time. */
enum token_check token_check(const struct token_set *ts, const char *authorization,
                             int64_t now_ms, const struct token **out);

/* The same for the bare token (a console login form). */
enum token_check token_check_secret(const struct token_set *ts, const char *token, int64_t now_ms,
                                    const struct token **out);

/* The token called name, still usable (a console session's token). */
enum token_check token_by_name(const struct token_set *ts, const char *name, int64_t now_ms,
                               const struct token **out);

/* Replaces the set with the rows of a query result (name, role, digest as
 * hex, expires ms, revoked ms). Returns 0 or ANX_ENOMEM. */
int token_load(struct token_set *ts, const PGresult *res);

void token_set_clear(struct token_set *ts);

/* SELECT for token_load. */
extern const char token_sql[];

const char *token_role_name(enum token_role r);

#endif
