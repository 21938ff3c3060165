/* msgtmpl.c - message templates per rule, severity and channel (see
 * msgtmpl.h). */
#include "msgtmpl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rule.h"
#include "tmpl.h"
#include "utf8.h"

/* What notify_render_sms fills in (notify.h). */
static const char *const fields[] = {
    "elder.name", "elder.id", "elder.village", "elder.township", "elder.grid", "device.id",
    "device.kind", "rule.name", "rule.title", "event", "event.title", "value", "severity",
    "alert.id", "ack_code", "time", "date",
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

bool mtpl_field_known(const char *name, size_t len)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strlen(fields[i]) == len && memcmp(fields[i], name, len) == 0)
            return true;
    return false;
}

const char *mtpl_field_nearest(const char *name, size_t len)
{
    char w[64];
    snprintf(w, sizeof w, "%.*s", (int)(len < sizeof w ? len : sizeof w - 1), name);
    const char *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < N_FIELDS; i++) {
        int d = rule_edit_distance(w, fields[i], 2);
        if (d >= 0 && d < best_d) {
            best_d = d;
            best = fields[i];
        }
    }
    return best;
}

size_t mtpl_sms_units(const char *utf8)
{
    size_t units = 0;
    const unsigned char *p = (const unsigned char *)utf8;
    while (*p) {
        size_t n = utf8_seq_len((const char *)p);
        if (n == 0)
            n = 1;          /* a stray byte: one replacement character */
        units += n == 4 ? 2 : 1;
        p += n;
    }
    return units;
}

int mtpl_sms_segments(const char *utf8)
{
    size_t u = mtpl_sms_units(utf8);
    if (u <= 70)
        return 1;
    return (int)((u + 66) / 67);
}

static int parse_name(const char *file, char *name, size_t namelen, enum notify_channel *ch)
{
    size_t l = strlen(file);
    const char *ext;
    if (l > 8 && strcmp(file + l - 8, ".sms.txt") == 0) {
        *ch = NOTIFY_SMS;
        ext = file + l - 8;
    } else if (l > 10 && strcmp(file + l - 10, ".voice.txt") == 0) {
        *ch = NOTIFY_VOICE;
        ext = file + l - 10;
    } else {
        return ANX_EPARSE;
    }
    size_t n = (size_t)(ext - file);
    if (n >= namelen)
        return ANX_EPARSE;
    for (size_t i = 0; i < n; i++) {
        char c = file[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return ANX_EPARSE;
    }
    memcpy(name, file, n);
    name[n] = '\0';
    return 0;
}

/* Joins the lines that are not comments, trimmed, into out. */
static int join_lines(const char *text, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *a = p, *b = le;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\r'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
            b--;
        if (a < b && *a != '#') {
            if (o + (size_t)(b - a) + 1 >= outlen)
                return ANX_ERANGE;
            memcpy(out + o, a, (size_t)(b - a));
            o += (size_t)(b - a);
        }
        p = nl ? nl + 1 : end;
    }
    out[o] = '\0';
    return 0;
}

/* Checks {fields}; the first unknown one goes to err. */
static int check_fields(const char *t, bool *has_ack, char *err, size_t errlen)
{
    size_t pos = 0, n;
    const char *name;
    *has_ack = false;
    while (tmpl_next_field(t, &pos, &name, &n)) {
        if (!mtpl_field_known(name, n)) {
            const char *near = mtpl_field_nearest(name, n);
            if (near)
                snprintf(err, errlen, "unknown field {%.*s}; did you mean {%s}?", (int)n, name,
                         near);
            else
                snprintf(err, errlen, "unknown field {%.*s} (fields: {elder.name} "
                         "{elder.village} {time} {ack_code} ..., see docs/notifications.md)",
                         (int)n, name);
            return ANX_EPARSE;
        }
        if (n == 8 && memcmp(name, "ack_code", 8) == 0)
            *has_ack = true;
    }
    return 0;
}

/* A rough rendering with typical values, for the length warning. */
static int typical_segments(const char *t)
{
    char buf[MTPL_TEXT_MAX * 3];
    size_t o = 0;
    for (const char *p = t; *p && o + 16 < sizeof buf;) {
        if (*p == '{' && p[1] != '{') {
            const char *q = strchr(p, '}');
            if (q) {
                /* A name, a village or a time: about 4 Chinese characters. */
                o += (size_t)snprintf(buf + o, sizeof buf - o, "一二三四");
                p = q + 1;
                continue;
            }
        }
        buf[o++] = *p++;
    }
    buf[o] = '\0';
    return mtpl_sms_segments(buf);
}

int mtpl_add(struct mtpl_set *s, const char *file_name, const char *text, size_t len,
             char *err, size_t errlen, char *warn, size_t warnlen)
{
    warn[0] = '\0';
    err[0] = '\0';
    struct mtpl t = {0};
    if (parse_name(file_name, t.name, sizeof t.name, &t.channel) != 0) {
        snprintf(err, errlen, "expected a file name NAME.sms.txt or NAME.voice.txt, NAME "
                 "being a rule, a severity (low medium high critical) or default");
        return ANX_EPARSE;
    }
    for (size_t i = 0; i < len;) {
        size_t n = text[i] ? utf8_seq_len(text + i) : 0;
        if (n == 0 || i + n > len) {
            snprintf(err, errlen, "not UTF-8 text (byte %zu); save it as UTF-8", i + 1);
            return ANX_EPARSE;
        }
        i += n;
    }
    char joined[MTPL_TEXT_MAX + 1];
    if (join_lines(text, len, joined, sizeof joined) != 0) {
        snprintf(err, errlen, "longer than %d bytes", MTPL_TEXT_MAX);
        return ANX_EPARSE;
    }
    if (!joined[0]) {
        snprintf(err, errlen, "empty (only comments or blank lines)");
        return ANX_EPARSE;
    }
    bool ack;
    if (check_fields(joined, &ack, err, errlen) != 0)
        return ANX_EPARSE;
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].channel == t.channel && strcmp(s->items[i].name, t.name) == 0) {
            snprintf(err, errlen, "a second %s template for %s", notify_channel_name(t.channel),
                     t.name);
            return ANX_EPARSE;
        }
    if (s->n == MTPL_MAX) {
        snprintf(err, errlen, "too many templates (at most %d)", MTPL_MAX);
        return ANX_ERANGE;
    }
    if (t.channel == NOTIFY_SMS && !ack)
        snprintf(warn, warnlen, "the SMS does not say how to acknowledge; anxin adds "
                 "\"回复{ack_code}确认\" (put {ack_code} where it reads best)");
    else if (t.channel == NOTIFY_VOICE && !strstr(joined, "按1"))
        snprintf(warn, warnlen, "the call does not say which key acknowledges; anxin adds "
                 "\"%s\"", MTPL_VOICE_KEY);
    else if (t.channel == NOTIFY_SMS && typical_segments(joined) > MTPL_SMS_SEGMENTS_WARN)
        snprintf(warn, warnlen, "with typical names this SMS is sent in %d parts (70 Chinese "
                 "characters for one, 67 a part beyond); shorter texts arrive more reliably",
                 typical_segments(joined));
    t.text = strdup(joined);
    if (!t.text)
        return ANX_ENOMEM;
    s->items[s->n++] = t;
    return 0;
}

const char *mtpl_find(const struct mtpl_set *s, const char *rule, const char *severity,
                      enum notify_channel ch)
{
    const char *names[3] = {rule, severity, "default"};
    for (int k = 0; s && k < 3; k++)
        for (size_t i = 0; names[k] && i < s->n; i++)
            if (s->items[i].channel == ch && strcmp(s->items[i].name, names[k]) == 0)
                return s->items[i].text;
    return NULL;
}

void mtpl_free(struct mtpl_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i].text);
    s->n = 0;
}

int mtpl_finish(enum notify_channel ch, const char *ack_code, char *out, size_t outlen)
{
    size_t l = strlen(out);
    int n;
    if (ch == NOTIFY_VOICE) {
        if (strstr(out, "按1"))
            return 0;
        n = snprintf(out + l, outlen - l, "%s%s。", l ? " " : "", MTPL_VOICE_KEY);
    } else {
        if (!ack_code || !ack_code[0] || strstr(out, ack_code))
            return 0;
        n = snprintf(out + l, outlen - l, "%s回复%s确认", l ? " " : "", ack_code);
    }
    if (n < 0 || (size_t)n >= outlen - l) {
        out[l] = '\0';
        return ANX_ERANGE;
    }
    return 0;
}
