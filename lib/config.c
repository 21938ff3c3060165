/* config.c - parsing and validation of anxind.conf (see config.h).
 *
 * One pass over the lines fills struct cfg and records where each key was
 * set; a second step (finish) checks what needs the whole file: required
 * keys, provider types, channel references, defaults. Every problem becomes
 * a diagnostic and parsing goes on, so an operator sees all mistakes at once
 * instead of fixing them one restart at a time. */
#include "config.h"
#include "telemetry.h"
#include "err.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum sec_kind {
    SEC_NONE,       /* before the first header */
    SEC_SKIP,       /* inside a header that was rejected: its keys are ignored */
    SEC_ANXIND,
    SEC_MQTT,
    SEC_DATABASE,
    SEC_HTTP,
    SEC_JOURNAL,
    SEC_PATHS,
    SEC_PROVIDER,
    SEC_CHANNEL,
    SEC_COUNT
};

/* Key indexes; each list must match its name table below. */
enum { K_NODE, K_LOG_LEVEL, K_UTC_OFFSET, K_EXPIRE_AFTER };
enum {
    K_MQTT_URL, K_MQTT_CLIENT_ID, K_MQTT_USERNAME, K_MQTT_PASSWORD_FILE, K_MQTT_PASSWORD_ENV,
    K_MQTT_CA_FILE, K_MQTT_TOPICS, K_MQTT_KEEPALIVE, K_MQTT_SESSION_EXPIRY,
    K_MQTT_RECONNECT_MAX, K_MQTT_RECEIVE_MAXIMUM, K_MQTT_ALARM_TOPICS
};
enum { K_DB_CONNINFO, K_DB_PASSWORD_FILE, K_DB_PASSWORD_ENV };
enum {
    K_HTTP_LISTEN, K_HTTP_TLS_CERT, K_HTTP_TLS_KEY, K_HTTP_CONSOLE_DIR, K_HTTP_SESSION_TIMEOUT,
    K_HTTP_AUTH_FAILURES, K_HTTP_AUTH_THROTTLE
};
enum { K_JRNL_DIR, K_JRNL_FSYNC, K_JRNL_SEGMENT_SIZE, K_JRNL_KEEP, K_JRNL_SNAPSHOT_EVERY };
enum { K_PATHS_RULES, K_PATHS_TEMPLATES };
enum {
    K_PROV_TYPE, K_PROV_URL, K_PROV_TOKEN_FILE, K_PROV_TOKEN_ENV, K_PROV_TIMEOUT,
    K_PROV_MAX_ATTEMPTS, K_PROV_BACKOFF, K_PROV_BACKOFF_MAX, K_PROV_OUTPUT, K_PROV_PER_CALLEE,
    K_PROV_ACCOUNT, K_PROV_FROM, K_PROV_SIGN_NAME, K_PROV_TEMPLATE, K_PROV_VOICE_TEMPLATE,
    K_PROV_APP_ID, K_PROV_REGION, K_PROV_CALLBACK, K_PROV_VOICE_URL, K_PROV_FAILOVER_AFTER,
    K_PROV_RECOVER_AFTER, K_PROV_RATE
};
enum { K_CHAN_PROVIDERS };
#define MAX_KEYS 24

static const char *const anxind_keys[] = {"node", "log_level", "utc_offset", "expire_after",
                                          NULL};
static const char *const mqtt_keys[] = {
    "url", "client_id", "username", "password_file", "password_env", "ca_file", "topics",
    "keepalive", "session_expiry", "reconnect_max", "receive_maximum", "alarm_topics", NULL
};
static const char *const database_keys[] = {"conninfo", "password_file", "password_env", NULL};
static const char *const http_keys[] = {"listen", "tls_cert", "tls_key", "console_dir",
                                        "session_timeout", "auth_failures", "auth_throttle",
                                        NULL};
static const char *const journal_keys[] = {"dir", "fsync", "segment_size", "keep",
                                           "snapshot_every", NULL};
static const char *const paths_keys[] = {"rules", "templates", NULL};
static const char *const provider_keys[] = {
    "type", "url", "token_file", "token_env", "timeout", "max_attempts", "backoff",
    "backoff_max", "output", "per_callee", "account", "from", "sign_name", "template",
    "voice_template", "app_id", "region", "callback", "voice_url", "failover_after",
    "recover_after", "rate", NULL
};
static const char *const channel_keys[] = {"providers", NULL};

struct sec_def {
    const char *name;
    bool named;                 /* [provider "x"] rather than [mqtt] */
    const char *const *keys;
};

static const struct sec_def sections[SEC_COUNT] = {
    [SEC_ANXIND] = {"anxind", false, anxind_keys},
    [SEC_MQTT] = {"mqtt", false, mqtt_keys},
    [SEC_DATABASE] = {"database", false, database_keys},
    [SEC_HTTP] = {"http", false, http_keys},
    [SEC_JOURNAL] = {"journal", false, journal_keys},
    [SEC_PATHS] = {"paths", false, paths_keys},
    [SEC_PROVIDER] = {"provider", true, provider_keys},
    [SEC_CHANNEL] = {"channel", true, channel_keys},
};

static const char *const section_names[] = {
    "anxind", "mqtt", "database", "http", "journal", "paths", "provider", "channel", NULL
};

static const char *const channel_names[CFG_CHANNEL_COUNT] = {"sms", "voice"};

enum prov_type_state { TYPE_MISSING, TYPE_OK, TYPE_BAD };

/* A seen[] entry as a line number: 0 unless the key was really set. */
#define SET_LINE(v) ((v) > 0 ? (v) : 0)

#define DEFAULT_TOPIC "anxin/v1/+/telemetry"
#define DEFAULT_ALARM_TOPIC "anxin/v1/+/alarm"
#define QBUF 52                 /* a quoted value inside a message, cut to fit */

struct parser {
    struct cfg *c;
    struct cfg_diags *d;
    bool oom;
    size_t errors;              /* errors added by this parse */
    int line;

    enum sec_kind sec;          /* the section the next key belongs to */
    int idx;                    /* provider or channel index of that section */
    int *seen;                  /* line where each of its keys was set, 0 = not set,
                                 * -line = not set but suggested for a misspelt key */

    int sec_line[SEC_COUNT];    /* header line of each unnamed section, 0 = absent,
                                 * -line = suggested for a misspelt section name */
    int seen_fixed[SEC_COUNT][MAX_KEYS];
    int seen_prov[CFG_MAX_PROVIDERS][MAX_KEYS];
    enum prov_type_state prov_type[CFG_MAX_PROVIDERS];
    bool any_provider_header;
    int chan_line[CFG_CHANNEL_COUNT];
    int seen_chan[CFG_CHANNEL_COUNT][MAX_KEYS];
    char *chan_list[CFG_CHANNEL_COUNT];     /* raw providers value, resolved in finish */

    char *buf;                  /* the current line, NUL-terminated and editable */
    size_t buf_cap;
};

/* ---- small helpers ---------------------------------------------------- */

static bool is_ws(char ch) { return ch == ' ' || ch == '\t'; }
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_lower(char ch) { return ch >= 'a' && ch <= 'z'; }
static bool is_alpha(char ch) { return is_lower(ch) || (ch >= 'A' && ch <= 'Z'); }
static char to_lower(char ch) { return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch; }

static char *skip_ws(char *s)
{
    while (is_ws(*s))
        s++;
    return s;
}

static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && is_ws(s[n - 1]))
        s[--n] = '\0';
}

static bool starts_with_ci(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (to_lower(*s) != *prefix)
            return false;
    return true;
}

static bool eq_ci(const char *a, const char *b, size_t blen)
{
    return strlen(a) == blen && starts_with_ci(b, a);
}

/* Writes s into buf as a "quoted" string for a message: escaped, and cut
 * with "..." when long, so one bad value cannot swallow the message. */
static const char *quote(char *buf, const char *s)
{
    const size_t room = QBUF - 5;       /* keeps space for ...", the quote and NUL */
    size_t w = 0;
    buf[w++] = '"';
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        size_t width = (ch == '"' || ch == '\\') ? 2 : (ch < 0x20 || ch == 0x7f) ? 4 : 1;
        if (w + width > room) {
            memcpy(buf + w, "...", 3);
            w += 3;
            break;
        }
        if (width == 2) {
            buf[w++] = '\\';
            buf[w++] = (char)ch;
        } else if (width == 4) {
            snprintf(buf + w, QBUF - w, "\\x%02x", ch);
            w += 4;
        } else {
            buf[w++] = (char)ch;
        }
    }
    buf[w++] = '"';
    buf[w] = '\0';
    return buf;
}

/* Optimal string alignment distance (Levenshtein plus adjacent swaps),
 * case-insensitive; large for long words, which never get suggestions. */
static int edit_distance(const char *a, const char *b)
{
    enum { MAXW = 48 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAXW || lb > MAXW)
        return INT_MAX;
    int rows[3][MAXW + 1];
    int *pp = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cost = to_lower(a[i - 1]) != to_lower(b[j - 1]);
            int v = prev[j - 1] + cost;
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (i > 1 && j > 1 && to_lower(a[i - 1]) == to_lower(b[j - 2]) &&
                to_lower(a[i - 2]) == to_lower(b[j - 1]) && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            cur[j] = v;
        }
        int *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

/* The candidate within edit distance 2 of word, the first of the closest. */
static const char *closest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < n; i++) {
        int dist = edit_distance(word, cands[i]);
        if (dist < best_d) {
            best_d = dist;
            best = cands[i];
        }
    }
    return best;
}

static size_t count_list(const char *const *list)
{
    size_t n = 0;
    while (list[n])
        n++;
    return n;
}

static int find_in(const char *const *list, const char *s)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return i;
    return -1;
}

/* [a-z0-9_-]{1,32}: provider names, also usable in metric labels and paths. */
static bool provider_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > CFG_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!is_lower(*s) && !is_digit(*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

static bool node_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > CFG_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!is_alpha(*s) && !is_digit(*s) && *s != '_' && *s != '-' && *s != '.')
            return false;
    return true;
}

static bool env_name_ok(const char *s)
{
    if (!is_alpha(*s) && *s != '_')
        return false;
    for (; *s; s++)
        if (!is_alpha(*s) && !is_digit(*s) && *s != '_')
            return false;
    return true;
}

/* password, token, secret, api_token, db_passwd...: a key that would hold a
 * secret inline. (The known *_file and *_env keys do not end this way.) */
static bool is_secret_key(const char *k, size_t n)
{
    static const char *const words[] = {"password", "passwd", "token", "secret", NULL};
    for (size_t i = 0; words[i]; i++) {
        size_t wl = strlen(words[i]);
        if (n >= wl && starts_with_ci(k + n - wl, words[i]) &&
            (n == wl || k[n - wl - 1] == '_' || k[n - wl - 1] == '-' || k[n - wl - 1] == '.'))
            return true;
    }
    return false;
}

/* ---- diagnostics ------------------------------------------------------ */

static void diag_add(struct parser *p, int line, bool warning, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void diag_add(struct parser *p, int line, bool warning, const char *fmt, ...)
{
    struct cfg_diags *d = p->d;
    if (!warning)
        p->errors++;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        struct cfg_diag *items = realloc(d->items, cap * sizeof *items);
        if (!items) {
            p->oom = true;
            return;
        }
        d->items = items;
        d->cap = cap;
    }
    struct cfg_diag *it = &d->items[d->n++];
    it->line = line;
    it->warning = warning;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->msg, sizeof it->msg, fmt, ap);
    va_end(ap);
    if (!warning)
        d->n_errors++;
}

#define ERR(p, line, ...) diag_add((p), (line), false, __VA_ARGS__)
#define WARN(p, line, ...) diag_add((p), (line), true, __VA_ARGS__)

/* Diagnostics in line order, whole-file ones (line 0) last; stable. */
static void sort_diags(struct cfg_diags *d, size_t first)
{
    for (size_t i = first + 1; i < d->n; i++) {
        struct cfg_diag tmp = d->items[i];
        unsigned key = tmp.line ? (unsigned)tmp.line : UINT_MAX;
        size_t j = i;
        while (j > first) {
            int l = d->items[j - 1].line;
            if ((l ? (unsigned)l : UINT_MAX) <= key)
                break;
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = tmp;
    }
}

static char *dup_str(struct parser *p, const char *s)
{
    char *r = strdup(s);
    if (!r)
        p->oom = true;
    return r;
}

static void set_str(struct parser *p, char **dst, const char *v)
{
    free(*dst);
    *dst = dup_str(p, v);
}

static char *join_path(struct parser *p, const char *dir, const char *leaf)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    size_t total = n + 1 + strlen(leaf) + 1;
    char *r = malloc(total);
    if (!r) {
        p->oom = true;
        return NULL;
    }
    snprintf(r, total, "%.*s/%s", (int)n, dir, leaf);
    return r;
}

/* "[mqtt]" or "[provider \"ops\"]" for messages about the current section. */
static const char *sec_label(const struct parser *p, char *buf, size_t len)
{
    if (p->sec == SEC_PROVIDER)
        snprintf(buf, len, "[provider \"%s\"]", p->c->providers[p->idx].name);
    else if (p->sec == SEC_CHANNEL)
        snprintf(buf, len, "[channel \"%s\"]", channel_names[p->idx]);
    else
        snprintf(buf, len, "[%s]", sections[p->sec].name);
    return buf;
}

/* ---- value parsers ---------------------------------------------------- */

int cfg_parse_duration(const char *s, int64_t *out_ms)
{
    static const struct { const char *unit; int64_t ms; } units[] = {
        /* largest first; "ms" before "m" so the longer unit wins */
        {"d", 86400000}, {"h", 3600000}, {"ms", 1}, {"m", 60000}, {"s", 1000},
    };
    /* Order of magnitude of each unit, so "1h30m" passes and "30m1h" does not. */
    static const int rank[] = {4, 3, 0, 2, 1};
    if (!s || !*s)
        return ANX_EINVAL;
    int64_t total = 0;
    int last_rank = 5;
    bool overflow = false;
    while (*s) {
        if (!is_digit(*s))
            return ANX_EINVAL;
        int64_t n = 0;
        for (; is_digit(*s); s++) {
            int digit = *s - '0';
            if (n > (INT64_MAX - digit) / 10)
                overflow = true;
            else
                n = n * 10 + digit;
        }
        size_t u;
        for (u = 0; u < sizeof units / sizeof units[0]; u++)
            if (strncmp(s, units[u].unit, strlen(units[u].unit)) == 0)
                break;
        if (u == sizeof units / sizeof units[0] || rank[u] >= last_rank)
            return ANX_EINVAL;
        last_rank = rank[u];
        s += strlen(units[u].unit);
        if (n > INT64_MAX / units[u].ms || total > INT64_MAX - n * units[u].ms)
            overflow = true;
        else
            total += n * units[u].ms;
    }
    if (overflow)
        return ANX_ERANGE;
    *out_ms = total;
    return 0;
}

int cfg_parse_size(const char *s, int64_t *out_bytes)
{
    if (!s || !is_digit(*s))
        return ANX_EINVAL;
    int64_t n = 0;
    bool overflow = false;
    for (; is_digit(*s); s++) {
        int digit = *s - '0';
        if (n > (INT64_MAX - digit) / 10)
            overflow = true;
        else
            n = n * 10 + digit;
    }
    int64_t mult = 1;
    switch (to_lower(*s)) {
    case '\0': break;
    case 'k': mult = INT64_C(1) << 10; s++; break;
    case 'm': mult = INT64_C(1) << 20; s++; break;
    case 'g': mult = INT64_C(1) << 30; s++; break;
    default: return ANX_EINVAL;
    }
    if (*s)
        return ANX_EINVAL;
    if (overflow || n > INT64_MAX / mult)
        return ANX_ERANGE;
    *out_bytes = n * mult;
    return 0;
}

/* Non-negative decimal integer. */
static int parse_int(const char *s, int *out)
{
    if (!is_digit(*s))
        return ANX_EINVAL;
    long long n = 0;
    for (; is_digit(*s); s++) {
        n = n * 10 + (*s - '0');
        if (n > INT_MAX)
            return ANX_ERANGE;
    }
    if (*s)
        return ANX_EINVAL;
    *out = (int)n;
    return 0;
}

/* The parts of scheme://[user[:pass]@]host[:port][/...] that the checks need. */
struct url_parts {
    const char *scheme;
    size_t scheme_len;
    const char *host;
    size_t host_len;
    bool has_password;
};

static bool url_split(const char *u, struct url_parts *out)
{
    memset(out, 0, sizeof *out);
    const char *sep = strstr(u, "://");
    if (!sep || sep == u)
        return false;
    for (const char *q = u; *q; q++)
        if (is_ws(*q) || (unsigned char)*q < 0x20)
            return false;
    for (const char *q = u; q < sep; q++)
        if (!is_alpha(*q) && !is_digit(*q) && *q != '+' && *q != '-' && *q != '.')
            return false;
    out->scheme = u;
    out->scheme_len = (size_t)(sep - u);
    const char *auth = sep + 3;
    const char *aend = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *q = auth; q < aend; q++)
        if (*q == '@')
            at = q;
    const char *host = auth;
    if (at) {
        out->has_password = memchr(auth, ':', (size_t)(at - auth)) != NULL;
        host = at + 1;
    }
    const char *hend;
    const char *port = NULL;
    if (*host == '[') {
        const char *rb = memchr(host, ']', (size_t)(aend - host));
        if (!rb)
            return false;
        hend = rb + 1;
        if (hend < aend) {
            if (*hend != ':')
                return false;
            port = hend + 1;
        }
    } else {
        const char *colon = memchr(host, ':', (size_t)(aend - host));
        hend = colon ? colon : aend;
        if (colon)
            port = colon + 1;
    }
    if (hend == host)
        return false;
    if (port) {
        if (port == aend || aend - port > 5)
            return false;
        long v = 0;
        for (const char *q = port; q < aend; q++) {
            if (!is_digit(*q))
                return false;
            v = v * 10 + (*q - '0');
        }
        if (v < 1 || v > 65535)
            return false;
    }
    out->host = host;
    out->host_len = (size_t)(hend - host);
    return true;
}

static bool host_is_loopback(const char *h, size_t n)
{
    if (eq_ci("localhost", h, n) || (n == 5 && memcmp(h, "[::1]", 5) == 0) ||
        (n == 3 && memcmp(h, "::1", 3) == 0))
        return true;
    if (n < 4 || memcmp(h, "127.", 4) != 0)
        return false;
    for (size_t i = 4; i < n; i++)
        if (!is_digit(h[i]) && h[i] != '.')
            return false;
    return true;
}

/* "host:port" or "[v6]:port" for the HTTP listener. */
static bool listen_ok(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1] || strlen(colon + 1) > 5)
        return false;
    if (*s == '[' && colon[-1] != ']')
        return false;
    if (*s != '[' && memchr(s, ':', (size_t)(colon - s)))
        return false;       /* a bare IPv6 address needs brackets */
    for (const char *q = s; q < colon; q++)
        if (is_ws(*q) || *q == '/')
            return false;
    long port = 0;
    for (const char *q = colon + 1; *q; q++) {
        if (!is_digit(*q))
            return false;
        port = port * 10 + (*q - '0');
    }
    return port >= 1 && port <= 65535;
}

/* Catches "password=..." (keyword form, any case) and
 * postgresql://user:secret@host (URI form). */
static bool conninfo_has_password(const char *s)
{
    if (starts_with_ci(s, "postgres://") || starts_with_ci(s, "postgresql://")) {
        const char *auth = strstr(s, "://") + 3;
        const char *aend = auth + strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *q = auth; q < aend; q++)
            if (*q == '@')
                at = q;
        if (at && memchr(auth, ':', (size_t)(at - auth)))
            return true;
    }
    for (const char *q = s; *q; q++) {
        if (q != s && !is_ws(q[-1]) && q[-1] != '?' && q[-1] != '&')
            continue;
        if (!starts_with_ci(q, "password"))
            continue;
        const char *r = q + 8;
        while (is_ws(*r))
            r++;
        if (*r == '=')
            return true;
    }
    return false;
}

/* An MQTT subscription filter: '+' and '#' fill whole levels, '#' only
 * last; "$share/group/filter" for shared subscriptions. */
static bool topic_filter_ok(const char *t)
{
    if (!*t || strlen(t) > 65535)
        return false;
    if (strncmp(t, "$share/", 7) == 0) {
        const char *g = t + 7;
        const char *slash = strchr(g, '/');
        if (!slash || slash == g)
            return false;
        for (const char *q = g; q < slash; q++)
            if (*q == '+' || *q == '#')
                return false;
        t = slash + 1;
        if (!*t)
            return false;
    }
    for (const char *lvl = t;;) {
        const char *end = strchr(lvl, '/');
        size_t n = end ? (size_t)(end - lvl) : strlen(lvl);
        if (memchr(lvl, '+', n) && n != 1)
            return false;
        if (memchr(lvl, '#', n) && (n != 1 || end))
            return false;
        if (!end)
            return true;
        lvl = end + 1;
    }
}

/* ---- setting keys ----------------------------------------------------- */

static void set_duration(struct parser *p, const char *key, int64_t *dst, const char *v,
                         int64_t min, int64_t max, const char *range, bool whole_s)
{
    char q[QBUF];
    int64_t ms;
    int r = cfg_parse_duration(v, &ms);
    if (r == ANX_ERANGE) {
        ERR(p, p->line, "%s: duration %s is too large; expected %s", key, quote(q, v), range);
    } else if (r < 0) {
        ERR(p, p->line, "%s: expected a duration like 30s or 5m, got %s", key, quote(q, v));
    } else if (ms < min || ms > max) {
        ERR(p, p->line, "%s: %s is out of range; expected %s", key, quote(q, v), range);
    } else if (whole_s && ms % 1000) {
        ERR(p, p->line, "%s: expected whole seconds (MQTT counts in seconds), got %s",
            key, quote(q, v));
    } else {
        *dst = ms;
    }
}

static void set_int(struct parser *p, const char *key, int *dst, const char *v,
                    int min, int max)
{
    char q[QBUF];
    int n;
    int r = parse_int(v, &n);
    if (r == ANX_EINVAL)
        ERR(p, p->line, "%s: expected a whole number from %d to %d, got %s", key, min, max,
            quote(q, v));
    else if (r < 0 || n < min || n > max)
        ERR(p, p->line, "%s: %s is out of range; expected %d to %d", key, quote(q, v), min, max);
    else
        *dst = n;
}

/* base is "password" or "token"; `file` says which half v is. */
static void set_secret(struct parser *p, struct cfg_secret *s, const char *base, bool file,
                       int other_line, const char *v)
{
    char q[QBUF];
    if (other_line) {
        ERR(p, p->line, "both %s_file and %s_env are set (the other on line %d); use only one",
            base, base, other_line);
        return;
    }
    if (!file && !env_name_ok(v)) {
        ERR(p, p->line, "%s_env: expected an environment variable name like ANXIN_SECRET, got %s",
            base, quote(q, v));
        return;
    }
    set_str(p, file ? &s->file : &s->env, v);
}

/* Parses a list of filters into list/n for the key `key` ("topics" or
 * "alarm_topics"). */
static void set_topics(struct parser *p, const char *key, char **list, size_t *n_list,
                       const char *example, const char *v)
{
    char q[QBUF];
    char *copy = dup_str(p, v);
    if (!copy)
        return;
    char *save = NULL;
    size_t n = 0;
    for (char *t = strtok_r(copy, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
        n++;
        if (!topic_filter_ok(t)) {
            ERR(p, p->line, "%s: bad MQTT filter %s; '+' and '#' must fill a whole level "
                "and '#' must be last, like %s", key, quote(q, t), example);
            continue;
        }
        bool dup = false;
        for (size_t i = 0; i < *n_list; i++)
            dup |= strcmp(list[i], t) == 0;
        if (dup) {
            ERR(p, p->line, "%s: %s is listed twice", key, quote(q, t));
            continue;
        }
        if (*n_list == CFG_MAX_TOPICS) {
            ERR(p, p->line, "%s: too many filters; at most %d", key, CFG_MAX_TOPICS);
            break;
        }
        char *s = dup_str(p, t);
        if (s)
            list[(*n_list)++] = s;
    }
    if (n == 0)
        ERR(p, p->line, "%s: expected MQTT filters separated by spaces or commas, like %s", key,
            example);
    free(copy);
}

/* True if some topic matches both filters (MQTT 5.0, 4.7: '+' is one
 * level, '#' the rest including the parent level itself). */
static bool filters_overlap(const char *a, const char *b)
{
    a = tlm_filter_body(a);
    b = tlm_filter_body(b);
    for (;;) {
        size_t na = strcspn(a, "/"), nb = strcspn(b, "/");
        if ((na == 1 && *a == '#') || (nb == 1 && *b == '#'))
            return true;
        bool plus = (na == 1 && *a == '+') || (nb == 1 && *b == '+');
        if (!plus && (na != nb || memcmp(a, b, na) != 0))
            return false;
        bool more_a = a[na] == '/', more_b = b[nb] == '/';
        if (!more_a && !more_b)
            return true;
        if (more_a != more_b) {
            /* "x/#" also matches "x"; anything else needs the level. */
            const char *rest = more_a ? a + na + 1 : b + nb + 1;
            return strcmp(rest, "#") == 0;
        }
        a += na + 1;
        b += nb + 1;
    }
}

/* The alarm lane's filters: each must match nothing the telemetry filters
 * match, or a message would arrive twice. The default steps aside (with a
 * warning) for telemetry filters that already take alarms. */
static void check_alarm_topics(struct parser *p, int line)
{
    struct cfg *c = p->c;
    char q[QBUF], q2[QBUF];
    if (c->mqtt_n_alarm_topics == 0 && line == 0) {
        for (size_t i = 0; i < c->mqtt_n_topics; i++)
            if (filters_overlap(c->mqtt_topics[i], DEFAULT_ALARM_TOPIC)) {
                WARN(p, p->seen_fixed[SEC_MQTT][K_MQTT_TOPICS],
                     "topics: %s also matches the alarm lane's " DEFAULT_ALARM_TOPIC
                     ", so the alarm lane is off and alarms wait behind readings; narrow "
                     "topics, or set alarm_topics = none to say so",
                     quote(q, c->mqtt_topics[i]));
                return;
            }
        c->mqtt_alarm_topics[0] = dup_str(p, DEFAULT_ALARM_TOPIC);
        c->mqtt_n_alarm_topics = c->mqtt_alarm_topics[0] != NULL;
        return;
    }
    for (size_t a = 0; a < c->mqtt_n_alarm_topics; a++)
        for (size_t i = 0; i < c->mqtt_n_topics; i++)
            if (filters_overlap(c->mqtt_topics[i], c->mqtt_alarm_topics[a]))
                ERR(p, line, "alarm_topics: %s overlaps topics %s, so a message would "
                    "arrive twice; the alarm filters must match nothing the telemetry "
                    "filters match", quote(q, c->mqtt_alarm_topics[a]),
                    quote(q2, c->mqtt_topics[i]));
}

static void set_mqtt_url(struct parser *p, const char *v)
{
    char q[QBUF];
    struct url_parts u;
    bool ok = url_split(v, &u);
    if (!ok || !(eq_ci("tcp", u.scheme, u.scheme_len) || eq_ci("ssl", u.scheme, u.scheme_len) ||
                 eq_ci("mqtt", u.scheme, u.scheme_len) ||
                 eq_ci("mqtts", u.scheme, u.scheme_len))) {
        ERR(p, p->line, "url: expected tcp://, ssl://, mqtt:// or mqtts:// and host:port, got %s",
            quote(q, v));
        return;
    }
    if (u.has_password) {
        ERR(p, p->line, "url: secrets are not allowed inline; use username and "
            "password_file or password_env");
        return;
    }
    set_str(p, &p->c->mqtt_url, v);
}

static void set_webhook_url(struct parser *p, struct cfg_provider *pr, const char *v)
{
    char q[QBUF];
    struct url_parts u;
    if (!url_split(v, &u) || !(eq_ci("http", u.scheme, u.scheme_len) ||
                               eq_ci("https", u.scheme, u.scheme_len))) {
        ERR(p, p->line, "url: expected an http:// or https:// URL, got %s", quote(q, v));
        return;
    }
    if (u.has_password) {
        ERR(p, p->line, "url: secrets are not allowed inline; use token_file or token_env");
        return;
    }
    set_str(p, &pr->url, v);
}

static void set_key(struct parser *p, int key, const char *v)
{
    struct cfg *c = p->c;
    char q[QBUF];
    int *seen = p->seen;
    switch (p->sec) {
    case SEC_ANXIND:
        if (key == K_NODE) {
            if (node_name_ok(v))
                snprintf(c->node, sizeof c->node, "%s", v);
            else
                ERR(p, p->line, "node: expected 1 to %d letters, digits, '.', '_' or '-', got %s",
                    CFG_NAME_MAX, quote(q, v));
        } else if (key == K_EXPIRE_AFTER) {
            set_duration(p, "expire_after", &c->expire_after_ms, v, 1000, INT64_C(366) * 86400000,
                         "1s to 366d", false);
        } else if (key == K_UTC_OFFSET) {
            int off;
            if (cfg_parse_utc_offset(v, &off) == 0)
                c->utc_offset_min = off;
            else
                ERR(p, p->line, "utc_offset: expected an offset like +08:00, got %s",
                    quote(q, v));
        } else {
            static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
            if (find_in(levels, v) >= 0)
                set_str(p, &c->log_level, v);
            else
                ERR(p, p->line, "log_level: expected debug, info, warn or error, got %s",
                    quote(q, v));
        }
        break;
    case SEC_MQTT:
        switch (key) {
        case K_MQTT_URL: set_mqtt_url(p, v); break;
        case K_MQTT_CLIENT_ID: set_str(p, &c->mqtt_client_id, v); break;
        case K_MQTT_USERNAME: set_str(p, &c->mqtt_username, v); break;
        case K_MQTT_PASSWORD_FILE:
            set_secret(p, &c->mqtt_password, "password", true,
                       SET_LINE(seen[K_MQTT_PASSWORD_ENV]), v);
            break;
        case K_MQTT_PASSWORD_ENV:
            set_secret(p, &c->mqtt_password, "password", false,
                       SET_LINE(seen[K_MQTT_PASSWORD_FILE]), v);
            break;
        case K_MQTT_CA_FILE: set_str(p, &c->mqtt_ca_file, v); break;
        case K_MQTT_TOPICS:
            set_topics(p, "topics", c->mqtt_topics, &c->mqtt_n_topics, DEFAULT_TOPIC, v);
            break;
        case K_MQTT_ALARM_TOPICS:
            /* "none" (or "off") turns the lane off: alarms then come with
             * the readings on the telemetry filters. */
            if (strcmp(v, "none") != 0 && strcmp(v, "off") != 0)
                set_topics(p, "alarm_topics", c->mqtt_alarm_topics, &c->mqtt_n_alarm_topics,
                           DEFAULT_ALARM_TOPIC, v);
            break;
        case K_MQTT_KEEPALIVE:
            set_duration(p, "keepalive", &c->mqtt_keepalive_ms, v, 1000, INT64_C(65535000),
                         "1s to 65535s", true);
            break;
        case K_MQTT_SESSION_EXPIRY:
            set_duration(p, "session_expiry", &c->mqtt_session_expiry_ms, v, 0,
                         INT64_C(49710) * 86400000, "0s to 49710d", true);
            break;
        case K_MQTT_RECONNECT_MAX:
            set_duration(p, "reconnect_max", &c->mqtt_reconnect_max_ms, v, 1000, 86400000,
                         "1s to 1d", false);
            break;
        case K_MQTT_RECEIVE_MAXIMUM:
            set_int(p, "receive_maximum", &c->mqtt_receive_maximum, v, 0, 65535);
            break;
        }
        break;
    case SEC_DATABASE:
        if (key == K_DB_CONNINFO) {
            if (conninfo_has_password(v))
                ERR(p, p->line, "conninfo: secrets are not allowed inline; remove password= "
                    "and use password_file or password_env");
            else
                set_str(p, &c->db_conninfo, v);
        } else {
            set_secret(p, &c->db_password, "password", key == K_DB_PASSWORD_FILE,
                       SET_LINE(seen[key == K_DB_PASSWORD_FILE ? K_DB_PASSWORD_ENV
                                                               : K_DB_PASSWORD_FILE]), v);
        }
        break;
    case SEC_HTTP:
        if (key == K_HTTP_TLS_CERT)
            set_str(p, &c->http_tls_cert, v);
        else if (key == K_HTTP_TLS_KEY)
            set_str(p, &c->http_tls_key, v);
        else if (key == K_HTTP_CONSOLE_DIR)
            set_str(p, &c->console_dir, v);
        else if (key == K_HTTP_SESSION_TIMEOUT)
            set_duration(p, "session_timeout", &c->session_timeout_ms, v, 60000,
                         7 * 86400000LL, "1m to 7d", false);
        else if (key == K_HTTP_AUTH_FAILURES)
            set_int(p, "auth_failures", &c->auth_failures, v, 0, 100000);
        else if (key == K_HTTP_AUTH_THROTTLE)
            set_duration(p, "auth_throttle", &c->auth_throttle_ms, v, 1000, 86400000LL,
                         "1s to 1d", false);
        else if (!*v || listen_ok(v))
            set_str(p, &c->http_listen, v);
        else
            ERR(p, p->line, "listen: expected host:port like 127.0.0.1:8080, or \"\" for no "
                "HTTP server, got %s", quote(q, v));
        break;
    case SEC_JOURNAL:
        if (key == K_JRNL_DIR) {
            set_str(p, &c->journal_dir, v);
        } else if (key == K_JRNL_FSYNC) {
            if (strcmp(v, "none") == 0)
                c->journal_fsync = CFG_FSYNC_NONE;
            else if (strcmp(v, "always") == 0)
                c->journal_fsync = CFG_FSYNC_ALWAYS;
            else
                ERR(p, p->line, "fsync: expected none or always, got %s", quote(q, v));
        } else if (key == K_JRNL_KEEP) {
            set_duration(p, "keep", &c->journal_keep_ms, v, 0, INT64_C(366) * 86400000,
                         "0s to 366d", false);
        } else if (key == K_JRNL_SNAPSHOT_EVERY) {
            set_duration(p, "snapshot_every", &c->snapshot_every_ms, v, 1000, 3600000,
                         "1s to 1h", false);
        } else {
            int64_t bytes;
            int r = cfg_parse_size(v, &bytes);
            if (r == ANX_EINVAL)
                ERR(p, p->line, "segment_size: expected a size like 64M (bytes, or K, M, G), "
                    "got %s", quote(q, v));
            else if (r < 0 || bytes < (INT64_C(1) << 20) || bytes > (INT64_C(1) << 30))
                ERR(p, p->line, "segment_size: %s is out of range; expected 1M to 1G",
                    quote(q, v));
            else
                c->journal_segment_bytes = bytes;
        }
        break;
    case SEC_PATHS:
        set_str(p, key == K_PATHS_RULES ? &c->rules_dir : &c->templates_dir, v);
        break;
    case SEC_PROVIDER: {
        struct cfg_provider *pr = &c->providers[p->idx];
        switch (key) {
        case K_PROV_TYPE: {
            int t = cfg_provider_type_parse(v);
            if (t >= 0) {
                pr->type = (enum cfg_provider_type)t;
                p->prov_type[p->idx] = TYPE_OK;
            } else {
                ERR(p, p->line, "type: expected console, webhook, kannel, aliyun, tencent or "
                    "twilio, got %s", quote(q, v));
                p->prov_type[p->idx] = TYPE_BAD;
            }
            break;
        }
        case K_PROV_URL: set_webhook_url(p, pr, v); break;
        case K_PROV_TOKEN_FILE:
            set_secret(p, &pr->token, "token", true, SET_LINE(seen[K_PROV_TOKEN_ENV]), v);
            break;
        case K_PROV_TOKEN_ENV:
            set_secret(p, &pr->token, "token", false, SET_LINE(seen[K_PROV_TOKEN_FILE]), v);
            break;
        case K_PROV_TIMEOUT:
            set_duration(p, "timeout", &pr->timeout_ms, v, 100, 600000, "100ms to 10m", false);
            break;
        case K_PROV_MAX_ATTEMPTS:
            set_int(p, "max_attempts", &pr->max_attempts, v, 1, 100);
            break;
        case K_PROV_BACKOFF:
            set_duration(p, "backoff", &pr->backoff_ms, v, 10, 3600000, "10ms to 1h", false);
            break;
        case K_PROV_BACKOFF_MAX:
            set_duration(p, "backoff_max", &pr->backoff_max_ms, v, 10, 86400000, "10ms to 1d",
                         false);
            break;
        case K_PROV_OUTPUT: set_str(p, &pr->output, v); break;
        case K_PROV_ACCOUNT: set_str(p, &pr->account, v); break;
        case K_PROV_FROM: set_str(p, &pr->from, v); break;
        case K_PROV_SIGN_NAME: set_str(p, &pr->sign_name, v); break;
        case K_PROV_TEMPLATE: set_str(p, &pr->template_id, v); break;
        case K_PROV_VOICE_TEMPLATE: set_str(p, &pr->voice_template, v); break;
        case K_PROV_APP_ID: set_str(p, &pr->app_id, v); break;
        case K_PROV_REGION: set_str(p, &pr->region, v); break;
        case K_PROV_CALLBACK: set_str(p, &pr->callback, v); break;
        case K_PROV_VOICE_URL: set_str(p, &pr->voice_url, v); break;
        case K_PROV_FAILOVER_AFTER:
            set_duration(p, "failover_after", &pr->failover_after_ms, v, 1000, 3600000,
                         "1s to 1h", false);
            break;
        case K_PROV_RECOVER_AFTER:
            set_duration(p, "recover_after", &pr->recover_after_ms, v, 1000, 3600000,
                         "1s to 1h", false);
            break;
        case K_PROV_RATE:
            set_int(p, "rate", &pr->rate, v, 1, 10000);
            break;
        case K_PROV_PER_CALLEE:
            if (cfg_parse_limits(v, pr->per_callee, &pr->n_per_callee) != 0)
                ERR(p, p->line, "per_callee: expected limits like 1/1m, 5/1h, 20/1d (at most "
                    "%d), got %s", CFG_MAX_LIMITS, quote(q, v));
            break;
        }
        break;
    }
    case SEC_CHANNEL:
        set_str(p, &p->chan_list[p->idx], v);
        break;
    case SEC_NONE:
    case SEC_SKIP:
    case SEC_COUNT:
        assert(!"set_key outside a section");
        break;
    }
}

/* ---- lines ------------------------------------------------------------ */

/* The unnamed section that has `key`, for hints; SEC_NONE if none or many. */
static enum sec_kind section_of_key(const char *key, enum sec_kind not_this)
{
    for (int s = SEC_ANXIND; s < SEC_COUNT; s++)
        if (s != (int)not_this && find_in(sections[s].keys, key) >= 0)
            return (enum sec_kind)s;
    return SEC_NONE;
}

static void start_provider(struct parser *p, const char *name)
{
    char q[QBUF];
    struct cfg *c = p->c;
    p->any_provider_header = true;
    if (!provider_name_ok(name)) {
        ERR(p, p->line, "invalid provider name %s; expected 1 to %d of a-z 0-9 _ -",
            quote(q, name), CFG_NAME_MAX);
        return;
    }
    int i = cfg_provider_index(c, name);
    if (i >= 0) {
        ERR(p, p->line, "duplicate section [provider \"%s\"]; first on line %d", name,
            c->providers[i].line);
        return;
    }
    if (c->n_providers == CFG_MAX_PROVIDERS) {
        ERR(p, p->line, "too many providers; at most %d", CFG_MAX_PROVIDERS);
        return;
    }
    i = (int)c->n_providers++;
    struct cfg_provider *pr = &c->providers[i];
    snprintf(pr->name, sizeof pr->name, "%s", name);
    pr->line = p->line;
    pr->type = CFG_PROVIDER_CONSOLE;
    pr->timeout_ms = 10000;
    pr->max_attempts = 8;
    pr->backoff_ms = 1000;
    pr->backoff_max_ms = 300000;
    pr->recover_after_ms = 30000;
    p->prov_type[i] = TYPE_MISSING;
    p->sec = SEC_PROVIDER;
    p->idx = i;
    p->seen = p->seen_prov[i];
}

static void start_channel(struct parser *p, const char *name)
{
    char q[QBUF];
    int ch;
    for (ch = 0; ch < CFG_CHANNEL_COUNT; ch++)
        if (strcmp(channel_names[ch], name) == 0)
            break;
    if (ch == CFG_CHANNEL_COUNT) {
        ERR(p, p->line, "unknown channel %s; expected [channel \"sms\"] or [channel \"voice\"]",
            quote(q, name));
        return;
    }
    if (p->chan_line[ch]) {
        ERR(p, p->line, "duplicate section [channel \"%s\"]; first on line %d", name,
            p->chan_line[ch]);
        return;
    }
    p->chan_line[ch] = p->line;
    p->sec = SEC_CHANNEL;
    p->idx = ch;
    p->seen = p->seen_chan[ch];
}

static void parse_header(struct parser *p, char *s)
{
    char q[QBUF];
    char *line = s;
    p->sec = SEC_SKIP;          /* until the header proves good */
    p->seen = NULL;
    s = skip_ws(s + 1);
    char *name = s;
    while (is_alpha(*s) || is_digit(*s) || *s == '_' || *s == '-')
        s++;
    char *name_end = s;
    s = skip_ws(s);
    char *sub = NULL;
    if (*s == '"') {
        sub = s + 1;
        char *close = strchr(sub, '"');
        if (!close) {
            ERR(p, p->line, "unterminated quote in section header; expected [section \"name\"]");
            return;
        }
        *close = '\0';
        s = skip_ws(close + 1);
    }
    if (name_end - name == 8 && memcmp(name, "provider", 8) == 0)
        p->any_provider_header = true;  /* even a bad one: no "no [provider]" as well */
    if (*s == ']') {
        s = skip_ws(s + 1);
        if (*s && *s != '#' && *s != ';') {
            ERR(p, p->line, "unexpected text after the section header: %s", quote(q, s));
            return;
        }
    } else if (!*s) {
        /* Only the bracket is missing: say so, then take the section as
         * meant, so its keys are still checked. */
        ERR(p, p->line, "expected ] to close the section header, got %s", quote(q, line));
    } else {
        if (!sub && name_end != name)
            ERR(p, p->line, "expected [section] or [section \"name\"] with the name in "
                "double quotes, got %s", quote(q, line));
        else
            ERR(p, p->line, "expected ] to close the section header, got %s", quote(q, line));
        return;
    }
    *name_end = '\0';
    if (!*name) {
        ERR(p, p->line, "empty section name; expected a header like [mqtt]");
        return;
    }
    int kind = SEC_ANXIND;
    while (kind < SEC_COUNT && strcmp(sections[kind].name, name) != 0)
        kind++;
    if (kind == SEC_COUNT) {
        const char *hint = closest(name, section_names, count_list(section_names));
        if (hint) {
            ERR(p, p->line, "unknown section [%.40s]; did you mean [%s]?", name, hint);
            /* No "missing section" error for it as well. */
            int hk = SEC_ANXIND + find_in(section_names, hint);
            if (hk == SEC_PROVIDER)
                p->any_provider_header = true;
            else if (p->sec_line[hk] == 0)
                p->sec_line[hk] = -p->line;
        } else {
            ERR(p, p->line, "unknown section [%.40s]; expected anxind, mqtt, database, http, "
                "journal, paths, provider or channel", name);
        }
        return;
    }
    const struct sec_def *def = &sections[kind];
    if (def->named && !sub) {
        ERR(p, p->line, "section [%s] needs a name in double quotes, like [%s \"%s\"]",
            def->name, def->name, kind == SEC_PROVIDER ? "console" : "sms");
        return;
    }
    if (!def->named && sub)     /* reported, then taken as [name] to spare follow-ups */
        ERR(p, p->line, "section [%s] takes no name; expected [%s]", def->name, def->name);
    if (kind == SEC_PROVIDER) {
        start_provider(p, sub);
    } else if (kind == SEC_CHANNEL) {
        start_channel(p, sub);
    } else if (p->sec_line[kind] > 0) {
        ERR(p, p->line, "duplicate section [%s]; first on line %d", def->name,
            p->sec_line[kind]);
    } else {
        p->sec_line[kind] = p->line;
        p->sec = (enum sec_kind)kind;
        p->seen = p->seen_fixed[kind];
    }
}

/* Decodes the "quoted" value starting at s in place; *end gets the byte
 * after the closing quote. Returns false (after reporting) on a bad quote. */
static bool unquote(struct parser *p, char *s, char **end)
{
    char *w = s;
    char *r = s + 1;
    for (;;) {
        if (!*r) {
            ERR(p, p->line, "unterminated quote; expected a closing \" before the end of "
                "the line");
            return false;
        }
        if (*r == '"')
            break;
        if (*r == '\\') {
            r++;
            if (!*r)
                continue;       /* reported as unterminated at the top */
            if (*r == '"' || *r == '\\') {
                *w++ = *r++;
            } else if (*r == 'n') {
                *w++ = '\n';
                r++;
            } else {
                char q[QBUF];
                char bad[3] = {'\\', *r, '\0'};
                ERR(p, p->line, "unknown escape %s in quoted value; expected \\\" \\\\ or \\n",
                    quote(q, bad));
                return false;
            }
        } else {
            *w++ = *r++;
        }
    }
    *end = r + 1;
    *w = '\0';
    return true;
}

static void parse_assignment(struct parser *p, char *s)
{
    char q[QBUF], lab[64];
    char *key = s;
    while (*s && *s != '=' && !is_ws(*s))
        s++;
    char *key_end = s;
    s = skip_ws(s);
    if (*s != '=' || key_end == key) {
        if (is_secret_key(key, (size_t)(key_end - key)))    /* do not echo "password xyz" */
            ERR(p, p->line, "expected key = value, a [section] header or a comment");
        else
            ERR(p, p->line, "expected key = value, a [section] header or a comment, got %s",
                quote(q, key));
        return;
    }
    *key_end = '\0';
    s = skip_ws(s + 1);

    char *val = s;
    if (*s == '"') {
        char *end;
        if (!unquote(p, s, &end))
            return;
        end = skip_ws(end);
        if (*end && *end != '#') {
            ERR(p, p->line, "unexpected text after the closing quote: %s", quote(q, end));
            return;
        }
    } else {
        for (char *c = s; *c; c++) {
            if (*c == '#' && (c == s || is_ws(c[-1]))) {
                *c = '\0';
                break;
            }
        }
        rtrim(val);
    }

    for (const char *c = key; *c; c++) {
        if (!is_alpha(*c) && !is_digit(*c) && *c != '_' && *c != '-' && *c != '.') {
            ERR(p, p->line, "invalid key %s; keys are made of letters, digits and _",
                quote(q, key));
            return;
        }
    }
    if (p->sec == SEC_SKIP)
        return;
    if (p->sec == SEC_NONE) {
        enum sec_kind home = section_of_key(key, SEC_NONE);
        if (home != SEC_NONE)
            ERR(p, p->line, "key %s is outside any section; put it under [%s]", quote(q, key),
                sections[home].name);
        else
            ERR(p, p->line, "key %s is outside any section; expected a [section] header first",
                quote(q, key));
        return;
    }
    if (is_secret_key(key, strlen(key))) {
        if (p->sec == SEC_PROVIDER)
            ERR(p, p->line, "secrets are not allowed inline; use token_file or token_env");
        else
            ERR(p, p->line, "secrets are not allowed inline; use password_file or password_env");
        return;
    }
    const struct sec_def *def = &sections[p->sec];
    int k = find_in(def->keys, key);
    if (k < 0) {
        const char *hint = closest(key, def->keys, count_list(def->keys));
        enum sec_kind home = section_of_key(key, p->sec);
        if (hint) {
            ERR(p, p->line, "unknown key %s in %s; did you mean \"%s\"?", quote(q, key),
                sec_label(p, lab, sizeof lab), hint);
            int hk = find_in(def->keys, hint);
            if (p->seen[hk] == 0)
                p->seen[hk] = -p->line;     /* no "missing key" for it as well */
        } else if (home != SEC_NONE) {
            ERR(p, p->line, "unknown key %s in %s; it belongs in [%s]", quote(q, key),
                sec_label(p, lab, sizeof lab), sections[home].name);
        } else {
            ERR(p, p->line, "unknown key %s in %s", quote(q, key), sec_label(p, lab, sizeof lab));
        }
        return;
    }
    if (p->seen[k] > 0) {
        ERR(p, p->line, "duplicate key \"%s\" in %s; first set on line %d", key,
            sec_label(p, lab, sizeof lab), p->seen[k]);
        return;
    }
    if (!*val && !(p->sec == SEC_HTTP && k == K_HTTP_LISTEN)) {
        ERR(p, p->line, "%s: empty value; give a value, or comment the line out for the default",
            key);
        p->seen[k] = p->line;
        return;
    }
    set_key(p, k, val);
    p->seen[k] = p->line;
}

static void parse_line(struct parser *p, char *s)
{
    s = skip_ws(s);
    if (!*s || *s == '#' || *s == ';')
        return;
    if (*s == '[')
        parse_header(p, s);
    else
        parse_assignment(p, s);
}

/* ---- whole-file checks ------------------------------------------------ */

static void resolve_channel(struct parser *p, int ch)
{
    struct cfg *c = p->c;
    char q[QBUF];
    int line = p->seen_chan[ch][K_CHAN_PROVIDERS];
    char *list = p->chan_list[ch];
    if (!list) {
        if (!line)
            ERR(p, p->chan_line[ch], "missing required key \"providers\" in [channel \"%s\"]; "
                "expected provider names in failover order", channel_names[ch]);
        return;
    }
    const char *names[CFG_MAX_PROVIDERS];
    for (size_t i = 0; i < c->n_providers; i++)
        names[i] = c->providers[i].name;
    char *save = NULL;
    size_t n_tokens = 0;
    for (char *t = strtok_r(list, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
        n_tokens++;
        int i = cfg_provider_index(c, t);
        if (i < 0) {
            const char *hint = closest(t, names, c->n_providers);
            if (hint)
                ERR(p, line, "channel \"%s\" names unknown provider %s; did you mean \"%s\"?",
                    channel_names[ch], quote(q, t), hint);
            else
                ERR(p, line, "channel \"%s\" names unknown provider %s; define it with a "
                    "[provider \"NAME\"] section", channel_names[ch], quote(q, t));
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < c->channel_n[ch]; j++)
            dup |= c->channel_providers[ch][j] == i;
        if (dup) {
            ERR(p, line, "providers: %s is listed twice", quote(q, t));
            continue;
        }
        if (c->channel_n[ch] == CFG_MAX_CHAIN) {
            ERR(p, line, "providers: too many; at most %d per channel", CFG_MAX_CHAIN);
            break;
        }
        c->channel_providers[ch][c->channel_n[ch]++] = i;
    }
    if (!n_tokens)
        ERR(p, line, "providers: expected provider names separated by spaces or commas, "
            "like \"primary backup\"");
}

static void check_provider(struct parser *p, size_t i)
{
    static const int webhook_only[] = {
        K_PROV_URL, K_PROV_TOKEN_FILE, K_PROV_TOKEN_ENV, K_PROV_TIMEOUT, K_PROV_MAX_ATTEMPTS,
        K_PROV_BACKOFF, K_PROV_BACKOFF_MAX, K_PROV_ACCOUNT, K_PROV_SIGN_NAME, K_PROV_TEMPLATE,
        K_PROV_VOICE_TEMPLATE, K_PROV_APP_ID, K_PROV_REGION, K_PROV_CALLBACK, K_PROV_VOICE_URL,
        K_PROV_FAILOVER_AFTER, K_PROV_RECOVER_AFTER
    };
    struct cfg_provider *pr = &p->c->providers[i];
    const int *seen = p->seen_prov[i];
    if (p->prov_type[i] == TYPE_MISSING && seen[K_PROV_TYPE] < 0)
        return;                 /* "tpye = ..." was reported with a suggestion */
    if (p->prov_type[i] == TYPE_MISSING) {
        ERR(p, pr->line, "provider \"%s\" has no type; expected type = console, webhook, "
            "kannel, aliyun, tencent or twilio", pr->name);
        return;
    }
    if (p->prov_type[i] == TYPE_BAD)
        return;
    if (pr->type == CFG_PROVIDER_CONSOLE) {
        for (size_t k = 0; k < sizeof webhook_only / sizeof webhook_only[0]; k++)
            if (seen[webhook_only[k]] > 0)
                ERR(p, seen[webhook_only[k]], "\"%s\" does not apply to console providers; "
                    "provider \"%s\" has type = console", provider_keys[webhook_only[k]],
                    pr->name);
        return;
    }
    if (seen[K_PROV_OUTPUT] > 0)
        ERR(p, seen[K_PROV_OUTPUT], "\"output\" applies to console providers; provider \"%s\" "
            "has type = %s", pr->name, cfg_provider_type_name(pr->type));
    /* What each kind of provider needs, and where an address is optional
     * (the cloud providers have their public endpoints built in). */
    struct need { enum cfg_provider_type t; int key; const char *why; };
    static const struct need needs[] = {
        {CFG_PROVIDER_WEBHOOK, K_PROV_URL, "a webhook needs an https:// address"},
        {CFG_PROVIDER_KANNEL, K_PROV_URL, "the smsbox sendsms address, "
                                          "http://127.0.0.1:13013/cgi-bin/sendsms"},
        {CFG_PROVIDER_KANNEL, K_PROV_ACCOUNT, "the sendsms-user username"},
        {CFG_PROVIDER_ALIYUN, K_PROV_ACCOUNT, "the AccessKey ID"},
        {CFG_PROVIDER_ALIYUN, K_PROV_SIGN_NAME, "the SMS signature (签名)"},
        {CFG_PROVIDER_ALIYUN, K_PROV_TEMPLATE, "the SMS template code"},
        {CFG_PROVIDER_TENCENT, K_PROV_ACCOUNT, "the SecretId"},
        {CFG_PROVIDER_TENCENT, K_PROV_APP_ID, "the SmsSdkAppId"},
        {CFG_PROVIDER_TENCENT, K_PROV_SIGN_NAME, "the SMS signature (签名)"},
        {CFG_PROVIDER_TENCENT, K_PROV_TEMPLATE, "the SMS template id"},
        {CFG_PROVIDER_TWILIO, K_PROV_ACCOUNT, "the Account SID"},
        {CFG_PROVIDER_TWILIO, K_PROV_FROM, "the Twilio number to send from"},
    };
    for (size_t k = 0; k < sizeof needs / sizeof needs[0]; k++) {
        if (needs[k].t != pr->type || seen[needs[k].key])
            continue;
        ERR(p, pr->line, "missing required key \"%s\" in [provider \"%s\"] (type %s): %s",
            provider_keys[needs[k].key], pr->name, cfg_provider_type_name(pr->type),
            needs[k].why);
    }
    if (pr->type != CFG_PROVIDER_WEBHOOK && !pr->token.file && !pr->token.env)
        ERR(p, pr->line, "[provider \"%s\"] (type %s) needs its secret: token_file or "
            "token_env (%s)", pr->name, cfg_provider_type_name(pr->type),
            pr->type == CFG_PROVIDER_KANNEL ? "the sendsms-user password"
            : pr->type == CFG_PROVIDER_ALIYUN ? "the AccessKey secret"
            : pr->type == CFG_PROVIDER_TENCENT ? "the SecretKey" : "the Auth Token");
    if (pr->url) {
        struct url_parts u;
        if (url_split(pr->url, &u) && eq_ci("http", u.scheme, u.scheme_len) &&
            !host_is_loopback(u.host, u.host_len))
            WARN(p, seen[K_PROV_URL], "provider \"%s\" uses plain http:// to %.*s: that exposes "
                 "alarms and phone numbers on the network; use https://", pr->name,
                 (int)(u.host_len > 40 ? 40 : u.host_len), u.host);
    }
    if (pr->backoff_max_ms < pr->backoff_ms)
        ERR(p, seen[K_PROV_BACKOFF_MAX] > 0 ? seen[K_PROV_BACKOFF_MAX]
                                            : SET_LINE(seen[K_PROV_BACKOFF]),
            "backoff_max must not be shorter than backoff");
}

static void finish(struct parser *p, const char *conf_dir, const char *state_dir)
{
    struct cfg *c = p->c;
    const int *mqtt_seen = p->seen_fixed[SEC_MQTT];

    if (!c->mqtt_url && !mqtt_seen[K_MQTT_URL] && p->sec_line[SEC_MQTT] >= 0) {
        if (p->sec_line[SEC_MQTT])
            ERR(p, p->sec_line[SEC_MQTT], "missing required key \"url\" in [mqtt]; expected "
                "the broker address, like tcp://127.0.0.1:1883");
        else
            ERR(p, 0, "missing [mqtt] section with url = the broker address, like "
                "tcp://127.0.0.1:1883");
    }
    if (!c->db_conninfo && !p->seen_fixed[SEC_DATABASE][K_DB_CONNINFO] &&
        p->sec_line[SEC_DATABASE] >= 0) {
        if (p->sec_line[SEC_DATABASE])
            ERR(p, p->sec_line[SEC_DATABASE], "missing required key \"conninfo\" in [database];"
                " expected a libpq conninfo like \"host=127.0.0.1 dbname=anxin user=anxin\"");
        else
            ERR(p, 0, "missing [database] section with conninfo = a libpq conninfo like "
                "\"host=127.0.0.1 dbname=anxin user=anxin\"");
    }
    if (c->mqtt_ca_file && c->mqtt_url && !starts_with_ci(c->mqtt_url, "ssl://") &&
        !starts_with_ci(c->mqtt_url, "mqtts://"))
        WARN(p, mqtt_seen[K_MQTT_CA_FILE], "ca_file is only used with ssl:// or mqtts:// "
             "broker URLs");
    if (c->mqtt_url && (c->mqtt_password.file || c->mqtt_password.env) &&
        (starts_with_ci(c->mqtt_url, "tcp://") || starts_with_ci(c->mqtt_url, "mqtt://"))) {
        struct url_parts u;
        if (url_split(c->mqtt_url, &u) && !host_is_loopback(u.host, u.host_len))
            WARN(p, mqtt_seen[K_MQTT_URL], "the MQTT password would cross the network in clear "
                 "text; use ssl:// or mqtts://");
    }

    for (size_t i = 0; i < c->n_providers; i++)
        check_provider(p, i);
    for (int ch = 0; ch < CFG_CHANNEL_COUNT; ch++)
        if (p->chan_line[ch])
            resolve_channel(p, ch);
    if (c->n_providers == 0 && !p->any_provider_header)
        ERR(p, 0, "no [provider] section: anxind could not send any notification");
    if (!p->chan_line[CFG_CHANNEL_SMS] && c->n_providers > 0) {
        c->channel_providers[CFG_CHANNEL_SMS][0] = 0;
        c->channel_n[CFG_CHANNEL_SMS] = 1;
    }
    for (size_t i = 0; i < c->n_providers; i++) {
        bool used = false;
        for (int ch = 0; ch < CFG_CHANNEL_COUNT; ch++)
            for (size_t j = 0; j < c->channel_n[ch]; j++)
                used |= c->channel_providers[ch][j] == (int)i;
        if (!used)
            WARN(p, c->providers[i].line, "provider \"%s\" is defined but no channel uses it",
                 c->providers[i].name);
    }

    /* Defaults for whatever the file left out. */
    if (p->seen_fixed[SEC_ANXIND][K_UTC_OFFSET] <= 0)
        c->utc_offset_min = 480;
    if (p->seen_fixed[SEC_ANXIND][K_EXPIRE_AFTER] <= 0)
        c->expire_after_ms = INT64_C(24) * 3600000;
    if (!c->node[0])
        snprintf(c->node, sizeof c->node, "anxind");
    if (!c->log_level)
        c->log_level = dup_str(p, "info");
    if (!c->mqtt_client_id) {
        size_t n = sizeof "anxind-" + strlen(c->node);
        c->mqtt_client_id = malloc(n);
        if (c->mqtt_client_id)
            snprintf(c->mqtt_client_id, n, "anxind-%s", c->node);
        else
            p->oom = true;
    }
    if (c->mqtt_n_topics == 0) {
        c->mqtt_topics[0] = dup_str(p, DEFAULT_TOPIC);
        c->mqtt_n_topics = c->mqtt_topics[0] != NULL;
    }
    check_alarm_topics(p, SET_LINE(p->seen_fixed[SEC_MQTT][K_MQTT_ALARM_TOPICS]));
    if (!c->journal_dir)
        c->journal_dir = join_path(p, state_dir, "journal");
    if (!c->rules_dir)
        c->rules_dir = join_path(p, conf_dir, "rules.d");
    if (!c->templates_dir)
        c->templates_dir = join_path(p, conf_dir, "templates");
    const int *http_seen = p->seen_fixed[SEC_HTTP];
    if (!c->http_tls_cert != !c->http_tls_key)
        ERR(p, SET_LINE(http_seen[c->http_tls_cert ? K_HTTP_TLS_CERT : K_HTTP_TLS_KEY]),
            "%s is set without %s; TLS needs both the certificate and its key",
            c->http_tls_cert ? "tls_cert" : "tls_key", c->http_tls_cert ? "tls_key" : "tls_cert");
    if (!c->session_timeout_ms)
        c->session_timeout_ms = 12 * 3600000LL;
    if (!http_seen[K_HTTP_AUTH_FAILURES])
        c->auth_failures = 10;
    if (!c->auth_throttle_ms)
        c->auth_throttle_ms = 5 * 60000LL;
}

/* ---- public ----------------------------------------------------------- */

int cfg_parse(const char *file, const char *text, size_t len,
              const char *default_conf_dir, const char *default_state_dir,
              struct cfg **out, struct cfg_diags *diags)
{
    assert(out && diags && (text || len == 0) && default_conf_dir && default_state_dir);
    *out = NULL;
    struct cfg *c = calloc(1, sizeof *c);
    if (!c)
        return ANX_ENOMEM;
    struct parser p = {.c = c, .d = diags, .sec = SEC_NONE};
    size_t first_diag = diags->n;

    c->file = dup_str(&p, file ? file : "anxind.conf");
    c->mqtt_keepalive_ms = 30000;
    c->mqtt_session_expiry_ms = INT64_C(7) * 86400000;
    /* Alarms wait for the reconnect: with 30 s, anxind came back a median
     * 14 s after a broker restart (bench/run startup); a try every 5 s costs
     * the broker nothing. */
    c->mqtt_reconnect_max_ms = 5000;
    c->journal_fsync = CFG_FSYNC_NONE;
    c->journal_segment_bytes = INT64_C(64) << 20;
    c->snapshot_every_ms = 30000;

    size_t pos = 0;
    while (pos < len && !p.oom) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl != NULL);
        p.line++;
        if (n > 0 && start[n - 1] == '\r')
            n--;
        if (p.line == 1 && n >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
            start += 3;         /* a UTF-8 byte order mark from a Windows editor */
            n -= 3;
        }
        if (memchr(start, '\0', n)) {
            ERR(&p, p.line, "the line contains a NUL byte; expected a text file");
            continue;
        }
        if (n + 1 > p.buf_cap) {
            char *b = realloc(p.buf, n + 1);
            if (!b) {
                p.oom = true;
                break;
            }
            p.buf = b;
            p.buf_cap = n + 1;
        }
        memcpy(p.buf, start, n);
        p.buf[n] = '\0';
        parse_line(&p, p.buf);
    }
    if (!p.oom)
        finish(&p, default_conf_dir, default_state_dir);

    free(p.buf);
    for (int ch = 0; ch < CFG_CHANNEL_COUNT; ch++)
        free(p.chan_list[ch]);
    sort_diags(diags, first_diag);
    if (p.oom) {
        cfg_free(c);
        return ANX_ENOMEM;
    }
    if (p.errors) {
        cfg_free(c);
        return ANX_EPARSE;
    }
    *out = c;
    return 0;
}

void cfg_free(struct cfg *c)
{
    if (!c)
        return;
    free(c->file);
    free(c->log_level);
    free(c->mqtt_url);
    free(c->mqtt_client_id);
    free(c->mqtt_username);
    free(c->mqtt_password.file);
    free(c->mqtt_password.env);
    free(c->mqtt_ca_file);
    for (size_t i = 0; i < c->mqtt_n_topics; i++)
        free(c->mqtt_topics[i]);
    for (size_t i = 0; i < c->mqtt_n_alarm_topics; i++)
        free(c->mqtt_alarm_topics[i]);
    free(c->db_conninfo);
    free(c->db_password.file);
    free(c->db_password.env);
    free(c->http_listen);
    free(c->http_tls_cert);
    free(c->http_tls_key);
    free(c->console_dir);
    free(c->journal_dir);
    free(c->rules_dir);
    free(c->templates_dir);
    for (size_t i = 0; i < c->n_providers; i++) {
        free(c->providers[i].url);
        free(c->providers[i].token.file);
        free(c->providers[i].token.env);
        free(c->providers[i].output);
        free(c->providers[i].account);
        free(c->providers[i].from);
        free(c->providers[i].sign_name);
        free(c->providers[i].template_id);
        free(c->providers[i].voice_template);
        free(c->providers[i].app_id);
        free(c->providers[i].region);
        free(c->providers[i].callback);
        free(c->providers[i].voice_url);
    }
    free(c);
}

void cfg_diags_free(struct cfg_diags *d)
{
    if (!d)
        return;
    free(d->items);
    d->items = NULL;
    d->n = d->cap = d->n_errors = 0;
}

void cfg_diag_format(const char *file, const struct cfg_diag *d, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    const char *kind = d->warning ? "warning" : "error";
    if (!file)
        file = "anxind.conf";
    if (d->line > 0)
        snprintf(buf, len, "%s:%d: %s: %s", file, d->line, kind, d->msg);
    else
        snprintf(buf, len, "%s: %s: %s", file, kind, d->msg);
}

int cfg_provider_index(const struct cfg *c, const char *name)
{
    for (size_t i = 0; i < c->n_providers; i++)
        if (strcmp(c->providers[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *cfg_channel_name(enum cfg_channel ch)
{
    if ((int)ch >= 0 && ch < CFG_CHANNEL_COUNT)
        return channel_names[ch];
    return "unknown";
}

int cfg_parse_utc_offset(const char *s, int *out_min)
{
    /* [+-]HH:MM, hours 0..14 (the offsets in use on Earth), minutes 0..59. */
    if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':')
        return ANX_EINVAL;
    for (int i = 1; i < 6; i++)
        if (i != 3 && (s[i] < '0' || s[i] > '9'))
            return ANX_EINVAL;
    int h = (s[1] - '0') * 10 + (s[2] - '0');
    int m = (s[4] - '0') * 10 + (s[5] - '0');
    if (h > 14 || m > 59)
        return ANX_EINVAL;
    *out_min = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
    return 0;
}

int cfg_parse_limits(const char *s, struct cfg_limit *out, size_t *n)
{
    /* "1/1m, 5/1h, 20/1d": count/duration, separated by commas or spaces. */
    size_t k = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        char item[64];
        size_t l = strcspn(p, ", \t");
        if (l >= sizeof item || k == CFG_MAX_LIMITS)
            return ANX_EINVAL;
        memcpy(item, p, l);
        item[l] = '\0';
        p += l;
        char *slash = strchr(item, '/');
        if (!slash)
            return ANX_EINVAL;
        *slash = '\0';
        char *end;
        long count = strtol(item, &end, 10);
        if (*end || end == item || count < 1 || count > 10000)
            return ANX_EINVAL;
        int64_t win;
        if (cfg_parse_duration(slash + 1, &win) != 0 || win < 1000)
            return ANX_EINVAL;
        out[k].count = (int)count;
        out[k].window_ms = win;
        k++;
    }
    if (k == 0)
        return ANX_EINVAL;
    *n = k;
    return 0;
}

static const char *const provider_type_names[] = {"console", "webhook", "kannel", "aliyun",
                                                  "tencent", "twilio"};

int cfg_provider_type_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof provider_type_names / sizeof provider_type_names[0]); i++)
        if (strcmp(s, provider_type_names[i]) == 0)
            return i;
    return -1;
}

const char *cfg_provider_type_name(enum cfg_provider_type t)
{
    return (unsigned)t < sizeof provider_type_names / sizeof provider_type_names[0]
               ? provider_type_names[t] : "unknown";
}
