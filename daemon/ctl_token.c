/* ctl_token.c - `anxinctl token`: the bearer tokens of the HTTP API.
 *
 *   anxinctl token create --role viewer|operator|admin --name NAME [--expires 30d]
 *   anxinctl token list
 *   anxinctl token revoke NAME
 *
 * A token is "axn_" and 43 base64url characters: 32 bytes from getrandom(2).
 * It is printed once and then forgotten; api_tokens keeps only its SHA-256,
 * so a copy of the database (or a backup) does not let anyone in. The prefix
 * makes a leaked token recognisable to secret scanners and in a paste.
 *
 * Nothing here prints or logs a token except `create` on stdout, and nothing
 * ever prints a hash. Times are shown in China Standard Time (UTC+8), like
 * the other commands. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "ctl.h"
#include "token_text.h"

/* The county's clock: ctl_connect sets the session's time zone to it. */
#define LOCAL_TIME(col) "to_char(" col ", 'YYYY-MM-DD HH24:MI')"

static int usage(FILE *f)
{
    fprintf(f, "usage: anxinctl token create --role viewer|operator|admin --name NAME "
                    "[--expires DURATION]\n"
                    "       anxinctl token list\n"
                    "       anxinctl token revoke NAME\n");
    return 2;
}

/* The primary message only: the DETAIL of a constraint violation would
 * repeat the row's values. */
static int query_failed(PGresult *r, const char *what)
{
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    fprintf(stderr, "anxinctl token: %s failed: %s\n", what,
            msg ? msg : PQresultErrorMessage(r));
    PQclear(r);
    return 1;
}

/* Fills buf from the kernel's CSPRNG (blocking until it is seeded). */
static int random_bytes(unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

/* ---- create -------------------------------------------------------------- */

static int cmd_create(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"role", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'n'},
        {"expires", required_argument, NULL, 'e'},
        {NULL, 0, NULL, 0},
    };
    const char *role = NULL, *name = NULL, *expires = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "r:n:e:", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': role = optarg; break;
        case 'n': name = optarg; break;
        case 'e': expires = optarg; break;
        default: return usage(stderr);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "anxinctl token create: unexpected argument \"%s\"\n", argv[optind]);
        return usage(stderr);
    }
    if (!role || !name) {
        fprintf(stderr, "anxinctl token create: --role and --name are required\n");
        return usage(stderr);
    }
    bool known = token_role_parse(role) >= 0;
    if (!known) {
        fprintf(stderr, "anxinctl token create: unknown role \"%s\": the role is one of "
                        "viewer, operator, admin\n", role);
        return 2;
    }
    if (!token_name_ok(name)) {
        fprintf(stderr, "anxinctl token create: the name is 1 to %d characters of UTF-8 "
                        "without control characters\n", TOKEN_NAME_MAX_CHARS);
        return 2;
    }
    char expires_ms[24] = "";
    if (expires) {
        int64_t ms;
        if (cfg_parse_duration(expires, &ms) != 0 || ms <= 0) {
            fprintf(stderr, "anxinctl token create: --expires \"%s\" is not a duration like "
                            "30d, 12h or 90m\n", expires);
            return 2;
        }
        snprintf(expires_ms, sizeof expires_ms, "%lld", (long long)ms);
    }

    PGconn *db = ctl_connect(o);
    if (!db)
        return 2;

    unsigned char rnd[TOKEN_RANDOM_BYTES];
    char token[TOKEN_TEXT_LEN + 1];
    char hash_text[TOKEN_BYTEA_LEN + 1];
    if (random_bytes(rnd, sizeof rnd) != 0) {
        fprintf(stderr, "anxinctl token create: getrandom: %s\n", strerror(errno));
        PQfinish(db);
        return 1;
    }
    token_text_make(rnd, token, hash_text);
    explicit_bzero(rnd, sizeof rnd);

    /* Expiry is computed by the server, from its clock, like created_at. */
    const char *params[4] = {name, role, hash_text, expires ? expires_ms : NULL};
    PGresult *r = PQexecParams(
        db,
        "INSERT INTO api_tokens (name, role, token_sha256, expires_at)"
        " VALUES ($1, $2::api_role, $3::bytea,"
        "   now() + $4::bigint * interval '1 millisecond')"
        " ON CONFLICT (name) DO NOTHING"
        " RETURNING coalesce(" LOCAL_TIME("expires_at") ", '')",
        4, NULL, params, NULL, NULL, 0);
    explicit_bzero(hash_text, sizeof hash_text);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        explicit_bzero(token, sizeof token);
        int rc = query_failed(r, "creating the token");
        PQfinish(db);
        return rc;
    }
    if (PQntuples(r) == 0) {
        explicit_bzero(token, sizeof token);
        fprintf(stderr, "anxinctl token create: a token named \"%s\" already exists "
                        "(a revoked token keeps its name: choose another)\n", name);
        PQclear(r);
        PQfinish(db);
        return 1;
    }
    /* A token nobody saw must not stay valid: undo the insert if stdout
     * fails (closed, disk full). */
    bool shown = printf("%s\n", token) > 0 && fflush(stdout) == 0 && !ferror(stdout);
    explicit_bzero(token, sizeof token);
    if (!shown) {
        const char *del[1] = {name};
        PQclear(r);
        r = PQexecParams(db, "DELETE FROM api_tokens WHERE name = $1", 1, NULL, del, NULL,
                         NULL, 0);
        fprintf(stderr, "anxinctl token create: could not write the token to stdout; %s\n",
                PQresultStatus(r) == PGRES_COMMAND_OK ? "nothing was created"
                : "revoke it: it was stored");
        PQclear(r);
        PQfinish(db);
        return 1;
    }
    const char *exp = PQgetvalue(r, 0, 0);
    char tgt[80], detail[64];
    snprintf(tgt, sizeof tgt, "token:%s", name);
    snprintf(detail, sizeof detail, "{\"role\": \"%s\"}", role);
    ctl_audit(db, "token.create", tgt, "ok", detail);
    fprintf(stderr, "anxinctl: token \"%s\" (%s%s%s%s) created; copy it now, it cannot be "
                    "shown again\n", name, role, *exp ? ", expires " : "", exp,
            *exp ? " UTC+8" : "");
    PQclear(r);
    PQfinish(db);
    return 0;
}

/* ---- list ---------------------------------------------------------------- */

static int cmd_list(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {{NULL, 0, NULL, 0}};
    if (getopt_long(argc, argv, "", longopts, NULL) != -1 || optind < argc)
        return usage(stderr);
    PGconn *db = ctl_connect(o);
    if (!db)
        return 2;
    PGresult *r = PQexec(
        db,
        "SELECT name, role::text,"
        " CASE WHEN revoked_at IS NOT NULL THEN 'revoked'"
        "   WHEN expires_at <= now() THEN 'expired' ELSE 'active' END,"
        " " LOCAL_TIME("created_at") ","
        " coalesce(" LOCAL_TIME("expires_at") ", '-'),"
        " coalesce(" LOCAL_TIME("revoked_at") ", '-'),"
        " coalesce(" LOCAL_TIME("last_used_at") ", '-')"
        " FROM api_tokens ORDER BY name");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = query_failed(r, "listing tokens");
        PQfinish(db);
        return rc;
    }
    int n = PQntuples(r);
    if (n == 0) {
        printf("no API tokens (create one with: anxinctl token create --role ROLE "
               "--name NAME)\n");
    } else {
        enum { NCOL = 7 };
        static const char *const head[NCOL] = {"NAME", "ROLE", "STATUS", "CREATED",
                                               "EXPIRES", "REVOKED", "LAST USED"};
        int width[NCOL] = {4, 8, 7, 16, 16, 16, 16};
        for (int i = 0; i < n; i++) {
            int w = ctl_text_width(PQgetvalue(r, i, 0));
            if (w > width[0])
                width[0] = w;
        }
        for (int k = 0; k < NCOL; k++)
            ctl_put_col(head[k], k == NCOL - 1 ? 0 : width[k]);
        putchar('\n');
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < NCOL; k++)
                ctl_put_col(PQgetvalue(r, i, k), k == NCOL - 1 ? 0 : width[k]);
            putchar('\n');
        }
        printf("(times UTC+8)\n");
    }
    PQclear(r);
    PQfinish(db);
    return 0;
}

/* ---- revoke -------------------------------------------------------------- */

static int cmd_revoke(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {{NULL, 0, NULL, 0}};
    if (getopt_long(argc, argv, "", longopts, NULL) != -1)
        return usage(stderr);
    if (argc - optind != 1) {
        fprintf(stderr, "anxinctl token revoke: give the name of one token\n");
        return usage(stderr);
    }
    const char *name = argv[optind];
    PGconn *db = ctl_connect(o);
    if (!db)
        return 2;
    /* A second revoke keeps the first time: that is when access ended. */
    const char *params[1] = {name};
    PGresult *r = PQexecParams(
        db,
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE name = $1"
        " RETURNING revoked_at = now(), " LOCAL_TIME("revoked_at"),
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = query_failed(r, "revoking the token");
        PQfinish(db);
        return rc;
    }
    if (PQntuples(r) == 0) {
        fprintf(stderr, "anxinctl token revoke: no token named \"%s\" "
                        "(anxinctl token list shows them)\n", name);
        PQclear(r);
        PQfinish(db);
        return 1;
    }
    bool now = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    if (now) {
        char tgt[80];
        snprintf(tgt, sizeof tgt, "token:%s", name);
        ctl_audit(db, "token.revoke", tgt, "ok", NULL);
    }
    if (!o->quiet)
        printf(now ? "token \"%s\" revoked at %s UTC+8\n"
                   : "token \"%s\" was already revoked at %s UTC+8\n",
               name, PQgetvalue(r, 0, 1));
    PQclear(r);
    PQfinish(db);
    return 0;
}

int ctl_cmd_token(const struct ctl_opts *o, int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    const char *sub = argv[1];
    /* The subcommand's own options follow it: parse from argv + 1, whose
     * argv[0] getopt skips. optind is already 0 (re-initialise). */
    if (strcmp(sub, "create") == 0)
        return cmd_create(o, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return cmd_list(o, argc - 1, argv + 1);
    if (strcmp(sub, "revoke") == 0)
        return cmd_revoke(o, argc - 1, argv + 1);
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "anxinctl token: unknown subcommand \"%s\"\n", sub);
    return usage(stderr);
}
