/* session.h - console sessions: a browser that logged in with a bearer
 * token gets a random session id in a cookie instead of keeping the token.
 * Sessions live in memory only (a restart logs everyone out), last at most
 * the configured time, and never outlive the token they came from: callers
 * check the token by name on every use, so a revoked token ends its
 * sessions at once.
 *
 * Only a SHA-256 of each id is kept, so the table never holds a usable
 * cookie. Pure: time and randomness are passed in. */
#ifndef ANXIN_SESSION_H
#define ANXIN_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "strmap.h"
#include "token_text.h"

#define SESS_ID_BYTES 32
#define SESS_ID_LEN (2 * SESS_ID_BYTES)    /* hex characters of the cookie value */
#define SESS_MAX 4096                       /* more than any call centre needs */

struct session {
    char digest[65];            /* hex SHA-256 of the id: the map key */
    char token_name[TOKEN_NAME_SIZE];   /* the token it was made from */
    int64_t created_ms;
    int64_t expires_ms;
};

struct sess_table {
    struct strmap by_digest;    /* digest -> struct session * (owned) */
};

/* Makes a session for token_name from SESS_ID_BYTES random bytes; writes the
 * cookie value (hex, SESS_ID_LEN + 1 bytes) to id_out. Expired sessions are
 * dropped first; when SESS_MAX are live the oldest goes. Returns 0 or
 * ANX_ENOMEM. */
int sess_create(struct sess_table *t, const char *token_name, const uint8_t random[SESS_ID_BYTES],
                int64_t now_ms, int64_t ttl_ms, char id_out[SESS_ID_LEN + 1]);

/* The live session whose cookie value is id, or NULL (unknown, malformed
 * or expired). The pointer is valid until the next create/drop/clear. */
const struct session *sess_find(const struct sess_table *t, const char *id, int64_t now_ms);

/* Ends the session with cookie value id; returns 0 or ANX_ENOENT. */
int sess_drop(struct sess_table *t, const char *id);

/* Ends every session of a token (revoked); returns how many. */
size_t sess_drop_token(struct sess_table *t, const char *token_name);

size_t sess_count(const struct sess_table *t);

void sess_clear(struct sess_table *t);

#endif
