/* regimport.c - parsing and validation of registry import files (JSON and
 * CSV); see regimport.h.
 *
 * Both front ends fill the same struct regimp_elder through the same value
 * checks (v_*), so a rule is written once and the two formats cannot drift
 * apart. Only where a problem is reported differs: a JSON path or a CSV line
 * and column. Strings live in an arena owned by the document, so a 30 000
 * elder file costs a few large allocations rather than a few hundred
 * thousand small ones. */
#include "regimport.h"
#include "registry.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sbuf.h"
#include "utf8.h"

/* Limits the schema does not state but a sane file keeps to. */
#define ADDRESS_MAX_CHARS 200
#define PLACE_MAX_CHARS 100         /* township, village, grid */
#define NAME_MAX_CHARS 100          /* elders.name, contacts.name (schema CHECK) */

static const char *const CATEGORY_NAMES[REGIMP_N_CATEGORIES] = {
    "living_alone", "empty_nest", "left_behind", "disabled", "severely_disabled",
    "family_planning_special",
};
static const char *const ROLE_NAMES[] = {
    "family", "neighbor", "grid_worker", "doctor", "community", "volunteer", "call_center",
};
static const char *const RISK_NAMES[] = {"low", "medium", "high"};
static const char *const CHANNEL_NAMES[] = {"sms", "voice"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Chinese names a spreadsheet may use instead of the contract's (CSV only). */
struct alias { const char *zh, *name; };
static const struct alias CATEGORY_ALIASES[] = {
    {"独居", "living_alone"}, {"空巢", "empty_nest"}, {"留守", "left_behind"},
    {"失能", "disabled"}, {"重残", "severely_disabled"},
    {"计划生育特殊家庭", "family_planning_special"}, {"计生特殊家庭", "family_planning_special"},
    {NULL, NULL},
};
static const struct alias ROLE_ALIASES[] = {
    {"家属", "family"}, {"邻居", "neighbor"}, {"网格员", "grid_worker"}, {"医生", "doctor"},
    {"社区", "community"}, {"志愿者", "volunteer"}, {"呼叫中心", "call_center"},
    {NULL, NULL},
};
static const struct alias RISK_ALIASES[] = {
    {"低", "low"}, {"中", "medium"}, {"高", "high"}, {NULL, NULL},
};
static const struct alias CHANNEL_ALIASES[] = {
    {"短信", "sms"}, {"电话", "voice"}, {"语音", "voice"}, {NULL, NULL},
};

const char *regimp_category_name(int index)
{
    if (index < 0 || index >= REGIMP_N_CATEGORIES)
        return NULL;
    return CATEGORY_NAMES[index];
}

/* ---- arena ------------------------------------------------------------ */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct regimp_arena {
    struct chunk *head;
};

#define ARENA_CHUNK (64 * 1024)

static void *arena_alloc(struct regimp_arena *a, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    struct chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = (unsigned char *)c->data + c->used;
    c->used += n;
    return p;
}

static void arena_free(struct regimp_arena *a)
{
    if (!a)
        return;
    struct chunk *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

/* ---- errors ----------------------------------------------------------- */

void regimp_errors_free(struct regimp_errors *errs)
{
    if (!errs)
        return;
    for (size_t i = 0; i < errs->n_kept; i++)
        free(errs->msgs[i]);
    free(errs->msgs);
    memset(errs, 0, sizeof *errs);
}

static void errs_add(struct regimp_errors *e, char *msg)
{
    e->count++;
    if (!msg) {
        e->oom = true;
        return;
    }
    if (e->n_kept >= REGIMP_KEEP_ERRORS) {
        free(msg);
        return;
    }
    if ((e->n_kept & (e->n_kept - 1)) == 0) {       /* 0, 1, 2, 4, 8...: grow */
        size_t cap = e->n_kept ? e->n_kept * 2 : 1;
        char **m = realloc(e->msgs, cap * sizeof *m);
        if (!m) {
            free(msg);
            e->oom = true;
            return;
        }
        e->msgs = m;
    }
    e->msgs[e->n_kept++] = msg;
}

/* ---- parse context ---------------------------------------------------- */

struct idmap_ent {
    const char *key;
    size_t elder;               /* index in doc->elders */
    int slot;                   /* device slot, -1 for elders */
};

struct idmap {
    struct idmap_ent *tab;
    size_t cap, n;
};

struct pctx {
    struct regimp_doc *doc;
    struct regimp_errors *errs;
    size_t elders_cap;
    char base[96];              /* "elders[3].contacts[0]" or "line 5" */
    bool nomem;
    char empty[1];              /* the cell of a column a row does not have */
    struct idmap elder_ids, device_ids;
};

/* Reports "<base><sep><field>: <message>"; sep is "." for JSON and ": " for
 * CSV; field may be NULL. */
static void ferr(struct pctx *p, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ferr(struct pctx *p, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    const char *sep = p->doc->format == REGIMP_JSON ? "." : ": ";
    const char *a = p->base, *b = "", *c = "", *d = ": ";
    if (p->base[0] && field) {
        b = sep;
        c = field;
    } else if (field) {
        a = field;
    } else if (!p->base[0]) {
        d = "";
    }
    size_t len = strlen(a) + strlen(b) + strlen(c) + strlen(d) + strlen(msg) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s%s%s%s%s", a, b, c, d, msg);
    errs_add(p->errs, out);
}

static void setbase(struct pctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void setbase(struct pctx *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->base, sizeof p->base, fmt, ap);
    va_end(ap);
}

static void *palloc(struct pctx *p, size_t n)
{
    void *r = arena_alloc(p->doc->arena, n);
    if (!r)
        p->nomem = true;
    return r;
}

static char *keep(struct pctx *p, const char *s, size_t n)
{
    char *r = palloc(p, n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

/* At most 32 characters of s for a message, control characters as '?'; the
 * file is valid UTF-8 by now, so cut only at character boundaries. */
static const char *shown(char *buf, size_t bufsz, const char *s)
{
    size_t o = 0, chars = 0;
    const unsigned char *u = (const unsigned char *)s;
    while (*u && chars < 32) {
        size_t len = *u < 0x80 ? 1 : *u < 0xe0 ? 2 : *u < 0xf0 ? 3 : 4;
        if (o + len + 4 >= bufsz)
            break;
        if (*u < 0x20 || *u == 0x7f) {
            buf[o++] = '?';
            u++;
        } else {
            for (size_t k = 0; k < len && *u; k++)
                buf[o++] = (char)*u++;
        }
        chars++;
    }
    if (*u && o + 4 < bufsz) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- id map (duplicate elder and device ids) -------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* Returns the entry already holding key, or NULL after inserting it. */
static const struct idmap_ent *idmap_put(struct pctx *p, struct idmap *m, const char *key,
                                         size_t elder, int slot)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct idmap_ent *t = calloc(cap, sizeof *t);
        if (!t) {
            p->nomem = true;
            return NULL;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->tab[i].key)
                continue;
            size_t j = hash_str(m->tab[i].key) & (cap - 1);
            while (t[j].key)
                j = (j + 1) & (cap - 1);
            t[j] = m->tab[i];
        }
        free(m->tab);
        m->tab = t;
        m->cap = cap;
    }
    size_t j = hash_str(key) & (m->cap - 1);
    while (m->tab[j].key) {
        if (strcmp(m->tab[j].key, key) == 0)
            return &m->tab[j];
        j = (j + 1) & (m->cap - 1);
    }
    m->tab[j] = (struct idmap_ent){key, elder, slot};
    m->n++;
    return NULL;
}

/* ---- value checks shared by both formats ------------------------------ */

bool regimp_is_e164(const char *s)
{
    if (s[0] != '+' || s[1] < '1' || s[1] > '9')
        return false;
    size_t n = 0;
    for (s += 2; *s; s++, n++)
        if (*s < '0' || *s > '9')
            return false;
    return n >= 6 && n <= 14;
}

/* ^[A-Za-z0-9_.:-]{1,64}$, the schema's CHECK on elder and device ids. */
static bool valid_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return n >= 1 && n <= 64;
}

/* ^[a-z][a-z0-9_]{0,31}$ (chains, device kinds); with dots and up to 64 for
 * care plan parameter names such as "hr.max". */
static bool valid_ident(const char *s, bool dots, size_t max)
{
    if (!(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    size_t n = 1;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (dots && c == '.')))
            return false;
    }
    return n <= max;
}

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

static char *v_text(struct pctx *p, const char *field, const char *s, size_t max_chars,
                          bool multiline)
{
    if (is_blank(s)) {
        ferr(p, field, "must not be blank");
        return NULL;
    }
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if ((*u < 0x20 && !(multiline && (*u == '\n' || *u == '\r' || *u == '\t'))) ||
            *u == 0x7f) {
            ferr(p, field, multiline ? "must not contain control characters"
                                     : "must not contain line breaks or control characters");
            return NULL;
        }
    }
    if (utf8_chars(s) > max_chars) {
        ferr(p, field, "too long: at most %zu characters", max_chars);
        return NULL;
    }
    return keep(p, s, strlen(s));
}

static char *v_id(struct pctx *p, const char *field, const char *s)
{
    if (!valid_id(s)) {
        ferr(p, field, "expected 1 to 64 characters from A-Z a-z 0-9 _ . : -");
        return NULL;
    }
    return keep(p, s, strlen(s));
}

/* Spaces and hyphens are dropped ("+86 138-0000-0001"); the number itself is
 * never repeated in a message. */
static char *v_phone(struct pctx *p, const char *field, const char *s)
{
    char buf[24];
    size_t n = 0;
    bool ok = true;
    for (; *s; s++) {
        if (*s == ' ' || *s == '-')
            continue;
        if (n + 1 >= sizeof buf) {
            ok = false;
            break;
        }
        buf[n++] = *s;
    }
    buf[n] = '\0';
    if (!ok || !regimp_is_e164(buf)) {
        ferr(p, field, "expected an E.164 number like +8613800000001");
        return NULL;
    }
    return keep(p, buf, n);
}

static char *v_ident(struct pctx *p, const char *field, const char *s, const char *what)
{
    if (!valid_ident(s, false, 32)) {
        ferr(p, field, "expected a %s: a lowercase letter, then up to 31 lowercase letters, "
             "digits or _", what);
        return NULL;
    }
    return keep(p, s, strlen(s));
}

/* Index of s in names, or -1. */
static int lookup(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

static void join_names(char *buf, size_t bufsz, const char *const *names, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o < bufsz; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(buf + o, bufsz - o, "%s%s", sep, names[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

/* Whether a value may be repeated in a message: a word like "son" or
 * "urgent". A shifted spreadsheet column can put a name or a phone number
 * where a role belongs, and those must not reach a terminal or a log. */
static bool echo_ok(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return n <= 32;
}

/* Reports s as unknown: `unknown role "x" (expected family, ... or call_center)`. */
static void err_unknown(struct pctx *p, const char *field, const char *what, const char *s,
                        const char *const *names, size_t n)
{
    char list[256];
    join_names(list, sizeof list, names, n);
    if (echo_ok(s))
        ferr(p, field, "unknown %s \"%s\" (expected %s)", what, s, list);
    else
        ferr(p, field, "unknown %s (expected %s)", what, list);
}

static bool v_int(struct pctx *p, const char *field, double v, long lo, long hi,
                  const char *msg, int *out)
{
    if (!isfinite(v) || v != floor(v) || v < (double)lo || v > (double)hi) {
        ferr(p, field, "%s", msg);
        return false;
    }
    *out = (int)v;
    return true;
}

static const char *const MSG_BIRTH_YEAR = "expected a year between 1880 and 2100";
static const char *const MSG_VISIT = "expected a whole number of days between 1 and 366";
static const char *const MSG_PRIORITY = "expected a whole number from 1 (called first) to 9";
static const char *const MSG_HEARTBEAT =
    "expected a whole number of seconds between 1 and 604800 (7 days)";
static const char *const MSG_CONSENT_CSV = "expected true/false, yes/no, 1/0 or 是/否";

static void set_channel(struct pctx *p, const char *field, const char *name, unsigned *bits)
{
    int k = lookup(CHANNEL_NAMES, COUNT(CHANNEL_NAMES), name);
    if (k < 0) {
        err_unknown(p, field, "channel", name, CHANNEL_NAMES, COUNT(CHANNEL_NAMES));
        return;
    }
    if (*bits & (1u << k))
        ferr(p, field, "channel \"%s\" listed twice", name);
    *bits |= 1u << k;
}

static void set_category(struct pctx *p, const char *field, const char *name, unsigned *bits)
{
    int k = lookup(CATEGORY_NAMES, COUNT(CATEGORY_NAMES), name);
    if (k < 0) {
        err_unknown(p, field, "category", name, CATEGORY_NAMES, COUNT(CATEGORY_NAMES));
        return;
    }
    if (*bits & (1u << k))
        ferr(p, field, "category \"%s\" listed twice", name);
    *bits |= 1u << k;
}

/* A care plan parameter; `field` names where the parameter list is. */
static bool v_param(struct pctx *p, const char *field, const char *name, size_t n_before,
                    const struct regimp_param *before)
{
    if (!valid_ident(name, true, 64)) {
        if (echo_ok(name))
            ferr(p, field, "\"%s\": expected a parameter name like hr.max (lowercase "
                 "letters, digits, _ and .)", name);
        else
            ferr(p, field, "expected parameter names like hr.max (lowercase letters, digits, "
                 "_ and .)");
        return false;
    }
    for (size_t i = 0; i < n_before; i++) {
        if (strcmp(before[i].name, name) == 0) {
            ferr(p, field, "\"%s\": given twice", name);
            return false;
        }
    }
    return true;
}

/* ---- document --------------------------------------------------------- */

static struct regimp_doc *doc_new(enum regimp_format fmt)
{
    struct regimp_doc *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->format = fmt;
    d->arena = calloc(1, sizeof *d->arena);
    if (!d->arena) {
        free(d);
        return NULL;
    }
    return d;
}

void regimp_doc_free(struct regimp_doc *doc)
{
    if (!doc)
        return;
    free(doc->elders);
    arena_free(doc->arena);
    free(doc);
}

static struct regimp_elder *add_elder(struct pctx *p)
{
    struct regimp_doc *d = p->doc;
    if (d->n_elders == p->elders_cap) {
        size_t cap = p->elders_cap ? p->elders_cap * 2 : 64;
        struct regimp_elder *e = realloc(d->elders, cap * sizeof *e);
        if (!e) {
            p->nomem = true;
            return NULL;
        }
        d->elders = e;
        p->elders_cap = cap;
    }
    struct regimp_elder *e = &d->elders[d->n_elders++];
    memset(e, 0, sizeof *e);
    return e;
}

/* Where elder i's field is, for messages about another record. */
static void elder_where(const struct pctx *p, size_t i, char *buf, size_t n)
{
    if (p->doc->format == REGIMP_JSON)
        snprintf(buf, n, "elders[%zu]", i);
    else
        snprintf(buf, n, "line %d", p->doc->elders[i].line);
}

static void device_where(const struct pctx *p, size_t i, int slot, char *buf, size_t n)
{
    if (p->doc->format == REGIMP_JSON)
        snprintf(buf, n, "elders[%zu].devices[%d]", i, slot);
    else
        snprintf(buf, n, "line %d, device%d_id", p->doc->elders[i].line, slot);
}

/* The checks that span records: an elder id listed twice. */
static void check_elder_id(struct pctx *p, size_t idx, const char *field)
{
    const struct regimp_elder *e = &p->doc->elders[idx];
    if (!e->id)
        return;
    const struct idmap_ent *prev = idmap_put(p, &p->elder_ids, e->id, idx, -1);
    if (prev) {
        char w[64];
        elder_where(p, prev->elder, w, sizeof w);
        ferr(p, field, p->doc->format == REGIMP_JSON ? "elder \"%s\" is listed twice (also %s)"
                                                     : "elder %s is listed twice (also %s)",
             e->id, w);
    }
}

/* A device id belongs to one elder: listed twice anywhere in the file is an error. */
static void check_device_id(struct pctx *p, size_t idx, const struct regimp_device *d,
                            const char *field)
{
    if (!d->id)
        return;
    const struct idmap_ent *prev = idmap_put(p, &p->device_ids, d->id, idx, d->slot);
    if (prev) {
        char w[96];
        device_where(p, prev->elder, prev->slot, w, sizeof w);
        ferr(p, field, p->doc->format == REGIMP_JSON ? "device \"%s\" is listed twice (also %s)"
                                                     : "device %s is listed twice (also %s)",
             d->id, w);
    }
}

/* Two contacts of one elder with the same number would be paged twice. */
static void check_contact_phones(struct pctx *p, struct regimp_elder *e, size_t idx)
{
    for (size_t k = 1; k < e->n_contacts; k++) {
        if (!e->contacts[k].phone)
            continue;
        for (size_t j = 0; j < k; j++) {
            if (e->contacts[j].phone && strcmp(e->contacts[j].phone, e->contacts[k].phone) == 0) {
                if (p->doc->format == REGIMP_JSON) {
                    setbase(p, "elders[%zu].contacts[%d]", idx, e->contacts[k].slot);
                    char other[32];
                    snprintf(other, sizeof other, "contacts[%d]", e->contacts[j].slot);
                    ferr(p, "phone", "the same number as %s", other);
                } else {
                    char f[48];
                    snprintf(f, sizeof f, "contact%d_phone", e->contacts[k].slot);
                    ferr(p, f, "the same number as contact%d_phone", e->contacts[j].slot);
                }
                break;
            }
        }
    }
}

static void finish_elder(struct pctx *p, struct regimp_elder *e)
{
    if (!e->consent)
        p->doc->n_without_consent++;
}

/* ---- text checks before parsing --------------------------------------- */

/* Skips a UTF-8 BOM; rejects UTF-16 and anything not UTF-8, naming the line. */
static bool check_encoding(struct pctx *p, const char **text, size_t *len, bool csv)
{
    const unsigned char *u = (const unsigned char *)*text;
    size_t n = *len;
    if (n >= 2 && ((u[0] == 0xff && u[1] == 0xfe) || (u[0] == 0xfe && u[1] == 0xff))) {
        ferr(p, NULL, csv ? "the file is UTF-16; save it as \"CSV UTF-8\" instead"
                          : "the file is UTF-16; save it as UTF-8");
        return false;
    }
    if (n >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf) {
        *text += 3;
        *len -= 3;
        u += 3;
        n -= 3;
    }
    int line = 1;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        size_t need;
        unsigned cp, min;
        if (c == '\n') {
            line++;
            i++;
            continue;
        }
        if (c == 0) {
            setbase(p, "line %d", line);
            ferr(p, NULL, "contains a NUL byte (is this a text file?)");
            return false;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; min = 0x10000; }
        else goto bad;
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= n || (u[i + k] & 0xc0) != 0x80)
                goto bad;
            cp = (cp << 6) | (u[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        i += need + 1;
    }
    return true;
bad:
    setbase(p, "line %d", line);
    ferr(p, NULL, csv ? "not valid UTF-8 (a spreadsheet saved as plain \"CSV\" is often GBK: "
                        "save it as \"CSV UTF-8\")"
                      : "not valid UTF-8");
    return false;
}

/* ---- JSON front end --------------------------------------------------- */

enum { EM_ID, EM_NAME, EM_BIRTH, EM_CATS, EM_CONSENT, EM_ADDRESS, EM_TOWNSHIP, EM_VILLAGE,
       EM_GRID, EM_CARE_PLAN, EM_CONTACTS, EM_DEVICES, EM_COUNT };
static const char *const ELDER_MEMBERS[EM_COUNT] = {
    "id", "name", "birth_year", "categories", "consent", "address", "township", "village",
    "grid", "care_plan", "contacts", "devices",
};
enum { PM_VISIT, PM_RISK, PM_CHAIN, PM_PARAMS, PM_COUNT };
static const char *const PLAN_MEMBERS[PM_COUNT] = {"visit_every_days", "risk", "chain", "params"};
enum { CM_NAME, CM_PHONE, CM_ROLE, CM_PRIORITY, CM_CHANNELS, CM_COUNT };
static const char *const CONTACT_MEMBERS[CM_COUNT] = {"name", "phone", "role", "priority",
                                                      "channels"};
enum { DM_ID, DM_KIND, DM_HEARTBEAT, DM_COUNT };
static const char *const DEVICE_MEMBERS[DM_COUNT] = {"id", "kind", "heartbeat_s"};

/* Sorts obj's members into slots by name (NULL when absent or null) and
 * reports unknown members and members given twice. */
static void json_members(struct pctx *p, const cJSON *obj, const char *const *names, size_t n,
                         const cJSON **slots, const char *what)
{
    bool seen[EM_COUNT] = {false};
    for (size_t k = 0; k < n; k++)
        slots[k] = NULL;
    for (const cJSON *c = obj->child; c; c = c->next) {
        int k = lookup(names, n, c->string);
        char sh[160];
        if (k < 0) {
            char list[256];
            join_names(list, sizeof list, names, n);
            ferr(p, shown(sh, sizeof sh, c->string), "unknown member (%s has %s)", what, list);
            continue;
        }
        if (seen[k]) {
            ferr(p, names[k], "given twice");
            continue;
        }
        seen[k] = true;
        if (!cJSON_IsNull(c))
            slots[k] = c;
    }
}

/* A string member; NULL (reported if required) when absent or not a string.
 * An empty optional string counts as absent. */
static const char *j_str(struct pctx *p, const cJSON *v, const char *field, bool required)
{
    if (!v || (cJSON_IsString(v) && !required && v->valuestring[0] == '\0')) {
        if (required)
            ferr(p, field, "required");
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        ferr(p, field, "expected a string");
        return NULL;
    }
    return v->valuestring;
}

static bool j_int(struct pctx *p, const cJSON *v, const char *field, bool required, long lo,
                  long hi, const char *msg, int *out)
{
    if (!v) {
        if (required)
            ferr(p, field, "required");
        return false;
    }
    if (!cJSON_IsNumber(v)) {
        ferr(p, field, "%s", msg);
        return false;
    }
    return v_int(p, field, v->valuedouble, lo, hi, msg, out);
}

static void json_care_plan(struct pctx *p, size_t i, const cJSON *v, struct regimp_care_plan *cp)
{
    cp->risk = "medium";
    if (!cJSON_IsObject(v)) {
        ferr(p, "care_plan", "expected an object");
        return;
    }
    setbase(p, "elders[%zu].care_plan", i);
    const cJSON *m[PM_COUNT];
    json_members(p, v, PLAN_MEMBERS, PM_COUNT, m, "a care plan");
    j_int(p, m[PM_VISIT], "visit_every_days", false, 1, 366, MSG_VISIT, &cp->visit_every_days);
    const char *s = j_str(p, m[PM_RISK], "risk", false);
    if (s) {
        int k = lookup(RISK_NAMES, COUNT(RISK_NAMES), s);
        if (k < 0)
            err_unknown(p, "risk", "risk", s, RISK_NAMES, COUNT(RISK_NAMES));
        else
            cp->risk = RISK_NAMES[k];
    }
    if ((s = j_str(p, m[PM_CHAIN], "chain", false)))
        cp->chain = v_ident(p, "chain", s, "chain name");
    const cJSON *params = m[PM_PARAMS];
    if (params) {
        if (!cJSON_IsObject(params)) {
            ferr(p, "params", "expected an object of parameter names and numbers");
        } else {
            size_t n = (size_t)cJSON_GetArraySize(params);
            if (n > REGIMP_MAX_PARAMS) {
                ferr(p, "params", "at most %d parameters", REGIMP_MAX_PARAMS);
                n = REGIMP_MAX_PARAMS;
            }
            cp->params = palloc(p, n * sizeof *cp->params);
            if (!cp->params)
                return;
            size_t k = 0;
            for (const cJSON *c = params->child; c && k < n; c = c->next) {
                if (!v_param(p, "params", c->string, cp->n_params, cp->params))
                    continue;
                if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble)) {
                    char f[128];
                    snprintf(f, sizeof f, "params[\"%s\"]", c->string);
                    ferr(p, f, "expected a number");
                    continue;
                }
                cp->params[cp->n_params].name = keep(p, c->string, strlen(c->string));
                cp->params[cp->n_params++].value = c->valuedouble;
                k++;
            }
        }
    }
}

static void json_channels(struct pctx *p, const cJSON *v, unsigned *bits)
{
    if (!v) {
        *bits = REGIMP_CH_SMS;
        return;
    }
    if (!cJSON_IsArray(v) || !v->child) {
        ferr(p, "channels", "expected a non-empty list of \"sms\" and \"voice\"");
        return;
    }
    size_t k = 0;
    for (const cJSON *c = v->child; c; c = c->next, k++) {
        char f[32];
        snprintf(f, sizeof f, "channels[%zu]", k);
        if (!cJSON_IsString(c))
            ferr(p, f, "expected \"sms\" or \"voice\"");
        else
            set_channel(p, f, c->valuestring, bits);
    }
}

static void json_contacts(struct pctx *p, size_t i, const cJSON *v, struct regimp_elder *e)
{
    if (!cJSON_IsArray(v)) {
        ferr(p, "contacts", "expected a list of contacts");
        return;
    }
    e->has_contacts = true;
    size_t n = (size_t)cJSON_GetArraySize(v);
    if (n > REGIMP_MAX_CONTACTS) {
        ferr(p, "contacts", "at most %d contacts per elder", REGIMP_MAX_CONTACTS);
        n = REGIMP_MAX_CONTACTS;
    }
    e->contacts = palloc(p, (n ? n : 1) * sizeof *e->contacts);
    if (!e->contacts)
        return;
    size_t k = 0;
    for (const cJSON *c = v->child; c && k < n; c = c->next, k++) {
        struct regimp_contact *ct = &e->contacts[e->n_contacts++];
        memset(ct, 0, sizeof *ct);
        ct->slot = (int)k;
        setbase(p, "elders[%zu].contacts[%zu]", i, k);
        if (!cJSON_IsObject(c)) {
            ferr(p, NULL, "expected an object");
            continue;
        }
        const cJSON *m[CM_COUNT];
        json_members(p, c, CONTACT_MEMBERS, CM_COUNT, m, "a contact");
        const char *s;
        if ((s = j_str(p, m[CM_NAME], "name", true)))
            ct->name = v_text(p, "name", s, NAME_MAX_CHARS, false);
        if ((s = j_str(p, m[CM_PHONE], "phone", true)))
            ct->phone = v_phone(p, "phone", s);
        if ((s = j_str(p, m[CM_ROLE], "role", true))) {
            int r = lookup(ROLE_NAMES, COUNT(ROLE_NAMES), s);
            if (r < 0)
                err_unknown(p, "role", "role", s, ROLE_NAMES, COUNT(ROLE_NAMES));
            else
                ct->role = ROLE_NAMES[r];
        }
        j_int(p, m[CM_PRIORITY], "priority", true, 1, 9, MSG_PRIORITY, &ct->priority);
        json_channels(p, m[CM_CHANNELS], &ct->channels);
    }
    check_contact_phones(p, e, i);
}

static void json_devices(struct pctx *p, size_t i, const cJSON *v, struct regimp_elder *e)
{
    if (!cJSON_IsArray(v)) {
        ferr(p, "devices", "expected a list of devices");
        return;
    }
    e->has_devices = true;
    size_t n = (size_t)cJSON_GetArraySize(v);
    if (n > REGIMP_MAX_DEVICES) {
        ferr(p, "devices", "at most %d devices per elder", REGIMP_MAX_DEVICES);
        n = REGIMP_MAX_DEVICES;
    }
    e->devices = palloc(p, (n ? n : 1) * sizeof *e->devices);
    if (!e->devices)
        return;
    size_t k = 0;
    for (const cJSON *c = v->child; c && k < n; c = c->next, k++) {
        struct regimp_device *d = &e->devices[e->n_devices++];
        memset(d, 0, sizeof *d);
        d->slot = (int)k;
        d->heartbeat_s = 300;
        setbase(p, "elders[%zu].devices[%zu]", i, k);
        if (!cJSON_IsObject(c)) {
            ferr(p, NULL, "expected an object");
            continue;
        }
        const cJSON *m[DM_COUNT];
        json_members(p, c, DEVICE_MEMBERS, DM_COUNT, m, "a device");
        const char *s;
        if ((s = j_str(p, m[DM_ID], "id", true)))
            d->id = v_id(p, "id", s);
        if ((s = j_str(p, m[DM_KIND], "kind", true)))
            d->kind = v_ident(p, "kind", s, "device kind");
        j_int(p, m[DM_HEARTBEAT], "heartbeat_s", false, 1, 604800, MSG_HEARTBEAT,
              &d->heartbeat_s);
        check_device_id(p, i, d, "id");
    }
}

static void json_elder(struct pctx *p, size_t i, const cJSON *v)
{
    struct regimp_elder *e = add_elder(p);
    if (!e)
        return;
    setbase(p, "elders[%zu]", i);
    if (!cJSON_IsObject(v)) {
        ferr(p, NULL, "expected an object");
        return;
    }
    const cJSON *m[EM_COUNT];
    json_members(p, v, ELDER_MEMBERS, EM_COUNT, m, "an elder");
    const char *s;
    if ((s = j_str(p, m[EM_ID], "id", true)))
        e->id = v_id(p, "id", s);
    if ((s = j_str(p, m[EM_NAME], "name", true)))
        e->name = v_text(p, "name", s, NAME_MAX_CHARS, false);
    j_int(p, m[EM_BIRTH], "birth_year", false, 1880, 2100, MSG_BIRTH_YEAR, &e->birth_year);
    if (m[EM_CATS]) {
        if (!cJSON_IsArray(m[EM_CATS])) {
            ferr(p, "categories", "expected a list of categories");
        } else {
            size_t k = 0;
            for (const cJSON *c = m[EM_CATS]->child; c; c = c->next, k++) {
                char f[32];
                snprintf(f, sizeof f, "categories[%zu]", k);
                if (!cJSON_IsString(c))
                    ferr(p, f, "expected a category name");
                else
                    set_category(p, f, c->valuestring, &e->categories);
            }
        }
    }
    if (!m[EM_CONSENT])
        ferr(p, "consent", "required (true or false)");
    else if (!cJSON_IsBool(m[EM_CONSENT]))
        ferr(p, "consent", "expected true or false");
    else
        e->consent = cJSON_IsTrue(m[EM_CONSENT]);
    if ((s = j_str(p, m[EM_ADDRESS], "address", false)))
        e->address = v_text(p, "address", s, ADDRESS_MAX_CHARS, true);
    if ((s = j_str(p, m[EM_TOWNSHIP], "township", false)))
        e->township = v_text(p, "township", s, PLACE_MAX_CHARS, false);
    if ((s = j_str(p, m[EM_VILLAGE], "village", false)))
        e->village = v_text(p, "village", s, PLACE_MAX_CHARS, false);
    if ((s = j_str(p, m[EM_GRID], "grid", false)))
        e->grid = v_text(p, "grid", s, PLACE_MAX_CHARS, false);
    check_elder_id(p, i, "id");
    if (m[EM_CARE_PLAN]) {
        e->has_care_plan = true;
        json_care_plan(p, i, m[EM_CARE_PLAN], &e->care_plan);
        setbase(p, "elders[%zu]", i);
    }
    if (m[EM_CONTACTS]) {
        json_contacts(p, i, m[EM_CONTACTS], e);
        setbase(p, "elders[%zu]", i);
    }
    if (m[EM_DEVICES])
        json_devices(p, i, m[EM_DEVICES], e);
    finish_elder(p, e);
}

/* Line and column (in characters) of byte offset off. */
static void line_col(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            (*col)++;
        }
    }
}

static void json_doc(struct pctx *p, const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) {
        int line, col;
        size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        line_col(text, off, &line, &col);
        size_t i = 0;
        while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' ||
                           text[i] == '\n'))
            i++;
        ferr(p, NULL, "line %d, column %d: not valid JSON%s", line, col,
             i < len && text[i] != '{' ? " (a JSON file starts with {; a spreadsheet file "
                                         "needs a name ending in .csv)" : "");
        return;
    }
    /* cJSON stops after the first value; anything but whitespace after it is an error. */
    for (const char *q = end; q && q < text + len; q++) {
        if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n') {
            int line, col;
            line_col(text, (size_t)(q - text), &line, &col);
            ferr(p, NULL, "line %d, column %d: not valid JSON (text after the document)",
                 line, col);
            cJSON_Delete(root);
            return;
        }
    }
    if (!cJSON_IsObject(root)) {
        ferr(p, NULL, "expected a JSON object {\"elders\": [...]}");
        cJSON_Delete(root);
        return;
    }
    static const char *const TOP[] = {"elders"};
    const cJSON *elders;
    json_members(p, root, TOP, 1, &elders, "the document");
    if (!elders) {
        ferr(p, "elders", "required (a list of elders)");
    } else if (!cJSON_IsArray(elders)) {
        ferr(p, "elders", "expected a list of elders");
    } else {
        size_t n = (size_t)cJSON_GetArraySize(elders);
        p->doc->elders = calloc(n ? n : 1, sizeof *p->doc->elders);
        p->elders_cap = n ? n : 1;
        if (!p->doc->elders)
            p->nomem = true;
        size_t i = 0;
        for (const cJSON *c = elders->child; c && !p->nomem; c = c->next, i++)
            json_elder(p, i, c);
    }
    cJSON_Delete(root);
}

/* ---- CSV front end ---------------------------------------------------- */

struct csv_rec {
    int line;                   /* the line the record starts on */
    size_t n;                   /* cells */
    size_t *off;                /* start of each cell in cells.p */
    size_t ocap;
    struct sbuf cells;          /* the cells, each ending in a NUL */
};

struct csv_reader {
    const char *s, *end;
    int line;
};

static bool rec_putc(struct pctx *p, struct csv_rec *r, char c)
{
    sbuf_add(&r->cells, &c, 1);
    if (r->cells.oom)
        p->nomem = true;
    return !r->cells.oom;
}

static bool rec_cell(struct pctx *p, struct csv_rec *r)
{
    if (r->n == r->ocap) {
        size_t cap = r->ocap ? r->ocap * 2 : 32;
        size_t *o = realloc(r->off, cap * sizeof *o);
        if (!o) {
            p->nomem = true;
            return false;
        }
        r->off = o;
        r->ocap = cap;
    }
    r->off[r->n++] = r->cells.len;
    return true;
}

/* Reads one record. Returns 1, 0 at the end of the text, or -1 when the
 * rest of the file cannot be read (an unclosed quote; reported). */
static int csv_read(struct pctx *p, struct csv_reader *c, struct csv_rec *r)
{
    if (c->s >= c->end)
        return 0;
    r->line = c->line;
    r->n = 0;
    r->cells.len = 0;
    for (;;) {
        if (!rec_cell(p, r))
            return -1;
        if (c->s < c->end && *c->s == '"') {
            int start = c->line;
            c->s++;
            for (;;) {
                if (c->s >= c->end) {
                    setbase(p, "line %d", start);
                    ferr(p, NULL, "a quoted cell is not closed (a \" is missing)");
                    return -1;
                }
                char ch = *c->s++;
                if (ch == '"') {
                    if (c->s < c->end && *c->s == '"') {
                        c->s++;
                    } else {
                        break;
                    }
                } else if (ch == '\n') {
                    c->line++;
                }
                if (!rec_putc(p, r, ch))
                    return -1;
            }
            while (c->s < c->end && (*c->s == ' ' || *c->s == '\t'))
                c->s++;
            if (c->s < c->end && *c->s != ',' && *c->s != '\r' && *c->s != '\n') {
                setbase(p, "line %d", c->line);
                ferr(p, NULL, "text after a closing quote in cell %zu (write \"\" for a "
                     "quote inside a quoted cell)", r->n);
                while (c->s < c->end && *c->s != ',' && *c->s != '\r' && *c->s != '\n')
                    c->s++;
            }
        } else {
            while (c->s < c->end && *c->s != ',' && *c->s != '\r' && *c->s != '\n') {
                if (!rec_putc(p, r, *c->s++))
                    return -1;
            }
        }
        if (!rec_putc(p, r, '\0'))
            return -1;
        if (c->s < c->end && *c->s == ',') {
            c->s++;
            continue;
        }
        if (c->s < c->end) {                /* \r\n, \n or a lone \r */
            if (*c->s == '\r' && c->s + 1 < c->end && c->s[1] == '\n')
                c->s++;
            c->s++;
            c->line++;
        }
        return 1;
    }
}

/* Trims ASCII blanks and U+3000 (ideographic space) in place. */
static char *trim(char *s)
{
    for (;;) {
        if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        else if ((unsigned char)s[0] == 0xe3 && (unsigned char)s[1] == 0x80 &&
                 (unsigned char)s[2] == 0x80)
            s += 3;
        else
            break;
    }
    size_t n = strlen(s), n0 = n;
    for (;;) {
        if (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                      s[n - 1] == '\n'))
            n--;
        else if (n >= 3 && (unsigned char)s[n - 3] == 0xe3 && (unsigned char)s[n - 2] == 0x80 &&
                 (unsigned char)s[n - 1] == 0x80)
            n -= 3;
        else
            break;
    }
    if (n != n0)
        s[n] = '\0';
    return s;
}

static void ascii_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* Next item of a ';' (or full-width '；') separated list, trimmed; NULL at the
 * end. Modifies the string. */
static char *next_item(char **cursor)
{
    char *s = *cursor;
    if (!s)
        return NULL;
    char *semi = NULL;
    for (char *q = s; *q; q++) {
        if (*q == ';') {
            semi = q;
            *q = '\0';
            *cursor = q + 1;
            break;
        }
        if ((unsigned char)q[0] == 0xef && (unsigned char)q[1] == 0xbc &&
            (unsigned char)q[2] == 0x9b) {
            semi = q;
            *q = '\0';
            *cursor = q + 3;
            break;
        }
    }
    if (!semi)
        *cursor = NULL;
    return trim(s);
}

/* The contract name for a cell: English lowercased, or a Chinese alias. */
static const char *dealias(char *s, const struct alias *aliases)
{
    ascii_lower(s);
    for (const struct alias *a = aliases; a->zh; a++)
        if (strcmp(a->zh, s) == 0)
            return a->name;
    return s;
}

static bool csv_int(struct pctx *p, const char *field, const char *s, long lo, long hi,
                    const char *msg, int *out)
{
    /* "1941.0" from a spreadsheet is fine; hex, exponents and "inf" are not. */
    for (const char *q = s; *q; q++) {
        if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == '-' || *q == '+')) {
            ferr(p, field, "%s", msg);
            return false;
        }
    }
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0') {
        ferr(p, field, "%s", msg);
        return false;
    }
    return v_int(p, field, v, lo, hi, msg, out);
}

enum col_kind { COL_NONE, COL_ELDER, COL_CONTACT, COL_DEVICE };
enum { EF_ID, EF_NAME, EF_BIRTH, EF_CATS, EF_CONSENT, EF_ADDRESS, EF_TOWNSHIP, EF_VILLAGE,
       EF_GRID, EF_VISIT, EF_RISK, EF_CHAIN, EF_PARAMS, EF_COUNT };
static const char *const ELDER_COLUMNS[EF_COUNT] = {
    "id", "name", "birth_year", "categories", "consent", "address", "township", "village",
    "grid", "visit_every_days", "risk", "chain", "params",
};

struct csv_col {
    enum col_kind kind;
    int field;                  /* EF_*, CM_* or DM_* */
    int slot;                   /* N of contactN_/deviceN_ */
};

/* Contact or device slot N with the column of each of its fields (-1 = none). */
struct csv_group {
    int slot;
    int col[CM_COUNT];
};

struct csv_layout {
    struct csv_col *cols;
    size_t n_cols;
    int elder_col[EF_COUNT];
    struct csv_group contacts[REGIMP_MAX_CONTACTS];
    size_t n_contacts;
    struct csv_group devices[REGIMP_MAX_DEVICES];
    size_t n_devices;
    bool has_plan, has_contacts, has_devices;
};

/* Finds or adds group `slot`, keeping groups sorted by slot. */
static struct csv_group *group_for(struct csv_group *g, size_t *n, size_t max, int slot)
{
    size_t i = 0;
    while (i < *n && g[i].slot < slot)
        i++;
    if (i < *n && g[i].slot == slot)
        return &g[i];
    if (*n == max)
        return NULL;
    memmove(&g[i + 1], &g[i], (*n - i) * sizeof *g);
    (*n)++;
    g[i].slot = slot;
    for (int k = 0; k < CM_COUNT; k++)
        g[i].col[k] = -1;
    return &g[i];
}

/* "contact12_phone" -> slot 12, field "phone". */
static bool split_group_column(const char *name, const char *prefix, int *slot,
                               const char **field)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0)
        return false;
    const char *q = name + pl;
    if (*q < '1' || *q > '9')
        return false;
    long v = 0;
    while (*q >= '0' && *q <= '9') {
        v = v * 10 + (*q - '0');
        if (v > 9999)
            return false;
        q++;
    }
    if (*q != '_')
        return false;
    *slot = (int)v;
    *field = q + 1;
    return true;
}

static bool csv_header(struct pctx *p, struct csv_rec *r, struct csv_layout *L)
{
    setbase(p, "line %d", r->line);
    size_t before = p->errs->count;
    L->n_cols = r->n;
    L->cols = calloc(r->n, sizeof *L->cols);
    if (!L->cols) {
        p->nomem = true;
        return false;
    }
    for (int k = 0; k < EF_COUNT; k++)
        L->elder_col[k] = -1;
    if (r->n == 1 && (strchr(r->cells.p, ';') || strchr(r->cells.p, '\t'))) {
        ferr(p, NULL, "the columns must be separated by commas");
        return false;
    }
    /* A first row with no known column name is data: the header is missing.
     * Say so once rather than repeat its cells (names, phone numbers). */
    size_t known = 0;
    for (size_t j = 0; j < r->n; j++) {
        char *name = trim(r->cells.p + r->off[j]);
        r->off[j] = (size_t)(name - r->cells.p);
        ascii_lower(name);
        int slot;
        const char *f;
        known += lookup(ELDER_COLUMNS, EF_COUNT, name) >= 0 ||
                 split_group_column(name, "contact", &slot, &f) ||
                 split_group_column(name, "device", &slot, &f);
    }
    if (known == 0) {
        ferr(p, NULL, "the first row is not a header: it must name the columns (id,name,"
             "consent,...; see docs/registry-import.md)");
        return false;
    }
    for (size_t j = 0; j < r->n; j++) {
        struct csv_col *c = &L->cols[j];
        char *name = r->cells.p + r->off[j];
        if (!name[0])
            continue;               /* checked per row: a value under no column name */
        int k = lookup(ELDER_COLUMNS, EF_COUNT, name);
        int slot;
        const char *f;
        if (k >= 0) {
            if (L->elder_col[k] >= 0) {
                ferr(p, NULL, "column \"%s\" appears twice", name);
                continue;
            }
            c->kind = COL_ELDER;
            c->field = k;
            L->elder_col[k] = (int)j;
            if (k >= EF_VISIT)
                L->has_plan = true;
            continue;
        }
        bool contact = split_group_column(name, "contact", &slot, &f);
        bool device = !contact && split_group_column(name, "device", &slot, &f);
        int fk = contact ? lookup(CONTACT_MEMBERS, CM_COUNT, f)
                 : device ? lookup(DEVICE_MEMBERS, DM_COUNT, f) : -1;
        if (fk < 0) {
            if (echo_ok(name))
                ferr(p, NULL, "unknown column \"%s\"", name);
            else
                ferr(p, NULL, "column %zu: unknown column name", j + 1);
            continue;
        }
        struct csv_group *g = contact
            ? group_for(L->contacts, &L->n_contacts, REGIMP_MAX_CONTACTS, slot)
            : group_for(L->devices, &L->n_devices, REGIMP_MAX_DEVICES, slot);
        if (!g) {
            ferr(p, NULL, "column \"%s\": at most %d %s per elder", name,
                 contact ? REGIMP_MAX_CONTACTS : REGIMP_MAX_DEVICES,
                 contact ? "contacts" : "devices");
            continue;
        }
        if (g->col[fk] >= 0) {
            ferr(p, NULL, "column \"%s\" appears twice", name);
            continue;
        }
        g->col[fk] = (int)j;
        c->kind = contact ? COL_CONTACT : COL_DEVICE;
        c->field = fk;
        c->slot = slot;
    }
    static const int required[] = {EF_ID, EF_NAME, EF_CONSENT};
    for (size_t k = 0; k < COUNT(required); k++)
        if (L->elder_col[required[k]] < 0)
            ferr(p, NULL, "missing column \"%s\"", ELDER_COLUMNS[required[k]]);
    for (size_t g = 0; g < L->n_contacts; g++) {
        static const int need[] = {CM_NAME, CM_PHONE, CM_ROLE, CM_PRIORITY};
        for (size_t k = 0; k < COUNT(need); k++)
            if (L->contacts[g].col[need[k]] < 0)
                ferr(p, NULL, "missing column \"contact%d_%s\"", L->contacts[g].slot,
                     CONTACT_MEMBERS[need[k]]);
    }
    for (size_t g = 0; g < L->n_devices; g++) {
        static const int need[] = {DM_ID, DM_KIND};
        for (size_t k = 0; k < COUNT(need); k++)
            if (L->devices[g].col[need[k]] < 0)
                ferr(p, NULL, "missing column \"device%d_%s\"", L->devices[g].slot,
                     DEVICE_MEMBERS[need[k]]);
    }
    L->has_contacts = L->n_contacts > 0;
    L->has_devices = L->n_devices > 0;
    return p->errs->count == before;
}

/* The cell in column j of this row, "" when the row is short. */
static char *cell(struct pctx *p, struct csv_rec *r, int j)
{
    if (j < 0 || (size_t)j >= r->n) {
        p->empty[0] = '\0';
        return p->empty;
    }
    return r->cells.p + r->off[j];
}

static void csv_consent(struct pctx *p, char *s, struct regimp_elder *e)
{
    static const char *const yes[] = {"true", "yes", "1", "是", "同意", "y"};
    static const char *const no[] = {"false", "no", "0", "否", "不同意", "n"};
    ascii_lower(s);
    if (!*s)
        ferr(p, "consent", "required (true/false, yes/no, 1/0 or 是/否)");
    else if (lookup(yes, COUNT(yes), s) >= 0)
        e->consent = true;
    else if (lookup(no, COUNT(no), s) >= 0)
        e->consent = false;
    else
        ferr(p, "consent", "%s", MSG_CONSENT_CSV);
}

static void csv_params(struct pctx *p, char *s, struct regimp_care_plan *cp)
{
    size_t n = 1;
    for (const char *q = s; *q; q++)
        n += *q == ';' || ((unsigned char)q[0] == 0xef && (unsigned char)q[1] == 0xbc &&
                           (unsigned char)q[2] == 0x9b);
    if (n > REGIMP_MAX_PARAMS) {
        ferr(p, "params", "at most %d parameters", REGIMP_MAX_PARAMS);
        return;
    }
    cp->params = palloc(p, n * sizeof *cp->params);
    if (!cp->params)
        return;
    char *cur = s, *item;
    while ((item = next_item(&cur))) {
        if (!*item)
            continue;
        char *eq = strchr(item, '=');
        if (!eq) {
            ferr(p, "params", "expected name=value pairs separated by ; (like hr.max=120)");
            continue;
        }
        *eq = '\0';
        char *name = trim(item), *val = trim(eq + 1);
        ascii_lower(name);
        if (!v_param(p, "params", name, cp->n_params, cp->params))
            continue;
        char *end;
        double v = strtod(val, &end);
        if (end == val || *end || !isfinite(v)) {
            ferr(p, "params", "%s: expected a number", name);
            continue;
        }
        cp->params[cp->n_params].name = keep(p, name, strlen(name));
        cp->params[cp->n_params++].value = v;
    }
}

static void csv_contact(struct pctx *p, struct csv_rec *r, const struct csv_group *g,
                        struct regimp_elder *e)
{
    char *v[CM_COUNT];
    bool any = false;
    for (int k = 0; k < CM_COUNT; k++) {
        v[k] = trim(cell(p, r, g->col[k]));
        any |= v[k][0] != '\0';
    }
    if (!any)
        return;
    struct regimp_contact *ct = &e->contacts[e->n_contacts++];
    memset(ct, 0, sizeof *ct);
    ct->slot = g->slot;
    char f[CM_COUNT][32];
    for (int k = 0; k < CM_COUNT; k++)
        snprintf(f[k], sizeof f[k], "contact%d_%s", g->slot, CONTACT_MEMBERS[k]);
    if (!v[CM_NAME][0])
        ferr(p, f[CM_NAME], "required");
    else
        ct->name = v_text(p, f[CM_NAME], v[CM_NAME], NAME_MAX_CHARS, false);
    if (!v[CM_PHONE][0])
        ferr(p, f[CM_PHONE], "required");
    else
        ct->phone = v_phone(p, f[CM_PHONE], v[CM_PHONE]);
    if (!v[CM_ROLE][0]) {
        ferr(p, f[CM_ROLE], "required");
    } else {
        const char *role = dealias(v[CM_ROLE], ROLE_ALIASES);
        int k = lookup(ROLE_NAMES, COUNT(ROLE_NAMES), role);
        if (k < 0)
            err_unknown(p, f[CM_ROLE], "role", v[CM_ROLE], ROLE_NAMES, COUNT(ROLE_NAMES));
        else
            ct->role = ROLE_NAMES[k];
    }
    if (!v[CM_PRIORITY][0])
        ferr(p, f[CM_PRIORITY], "required");
    else
        csv_int(p, f[CM_PRIORITY], v[CM_PRIORITY], 1, 9, MSG_PRIORITY, &ct->priority);
    size_t before = p->errs->count;
    bool given = v[CM_CHANNELS][0] != '\0';
    char *cur = v[CM_CHANNELS], *item;
    while ((item = next_item(&cur)))
        if (*item)
            set_channel(p, f[CM_CHANNELS], dealias(item, CHANNEL_ALIASES), &ct->channels);
    if (!given)
        ct->channels = REGIMP_CH_SMS;
    else if (!ct->channels && p->errs->count == before)
        ferr(p, f[CM_CHANNELS], "expected sms, voice or sms;voice");
}

static void csv_device(struct pctx *p, struct csv_rec *r, const struct csv_group *g,
                       struct regimp_elder *e, size_t idx)
{
    char *v[DM_COUNT];
    bool any = false;
    for (int k = 0; k < DM_COUNT; k++) {
        v[k] = trim(cell(p, r, g->col[k]));
        any |= v[k][0] != '\0';
    }
    if (!any)
        return;
    struct regimp_device *d = &e->devices[e->n_devices++];
    memset(d, 0, sizeof *d);
    d->slot = g->slot;
    d->heartbeat_s = 300;
    char f[DM_COUNT][32];
    for (int k = 0; k < DM_COUNT; k++)
        snprintf(f[k], sizeof f[k], "device%d_%s", g->slot, DEVICE_MEMBERS[k]);
    if (!v[DM_ID][0])
        ferr(p, f[DM_ID], "required");
    else
        d->id = v_id(p, f[DM_ID], v[DM_ID]);
    if (!v[DM_KIND][0])
        ferr(p, f[DM_KIND], "required");
    else
        d->kind = v_ident(p, f[DM_KIND], v[DM_KIND], "device kind");
    if (v[DM_HEARTBEAT][0])
        csv_int(p, f[DM_HEARTBEAT], v[DM_HEARTBEAT], 1, 604800, MSG_HEARTBEAT, &d->heartbeat_s);
    check_device_id(p, idx, d, f[DM_ID]);
}

static void csv_row(struct pctx *p, const struct csv_layout *L, struct csv_rec *r)
{
    for (size_t j = 0; j < r->n; j++)
        r->off[j] = (size_t)(trim(r->cells.p + r->off[j]) - r->cells.p);
    bool any = false;
    for (size_t j = 0; j < r->n && !any; j++)
        any = r->cells.p[r->off[j]] != '\0';
    if (!any)
        return;                     /* a blank line, or a spreadsheet's empty row */
    setbase(p, "line %d", r->line);
    for (size_t j = 0; j < r->n; j++) {
        if (r->cells.p[r->off[j]] == '\0')
            continue;
        if (j >= L->n_cols) {
            ferr(p, NULL, "cell %zu has a value but the header has only %zu columns", j + 1,
                 L->n_cols);
            break;
        }
        if (L->cols[j].kind == COL_NONE) {
            ferr(p, NULL, "cell %zu has a value but its column has no name in the header",
                 j + 1);
        }
    }
    struct regimp_elder *e = add_elder(p);
    if (!e)
        return;
    size_t idx = p->doc->n_elders - 1;
    e->line = r->line;
    char *v[EF_COUNT];
    for (int k = 0; k < EF_COUNT; k++)
        v[k] = cell(p, r, L->elder_col[k]);

    if (!v[EF_ID][0])
        ferr(p, "id", "required");
    else
        e->id = v_id(p, "id", v[EF_ID]);
    if (!v[EF_NAME][0])
        ferr(p, "name", "required");
    else
        e->name = v_text(p, "name", v[EF_NAME], NAME_MAX_CHARS, false);
    if (v[EF_BIRTH][0])
        csv_int(p, "birth_year", v[EF_BIRTH], 1880, 2100, MSG_BIRTH_YEAR, &e->birth_year);
    char *cur = v[EF_CATS], *item;
    while ((item = next_item(&cur)))
        if (*item)
            set_category(p, "categories", dealias(item, CATEGORY_ALIASES), &e->categories);
    csv_consent(p, v[EF_CONSENT], e);
    if (v[EF_ADDRESS][0])
        e->address = v_text(p, "address", v[EF_ADDRESS], ADDRESS_MAX_CHARS, true);
    if (v[EF_TOWNSHIP][0])
        e->township = v_text(p, "township", v[EF_TOWNSHIP], PLACE_MAX_CHARS, false);
    if (v[EF_VILLAGE][0])
        e->village = v_text(p, "village", v[EF_VILLAGE], PLACE_MAX_CHARS, false);
    if (v[EF_GRID][0])
        e->grid = v_text(p, "grid", v[EF_GRID], PLACE_MAX_CHARS, false);
    check_elder_id(p, idx, "id");

    if (L->has_plan) {
        struct regimp_care_plan *cp = &e->care_plan;
        e->has_care_plan = true;
        cp->risk = "medium";
        if (v[EF_VISIT][0])
            csv_int(p, "visit_every_days", v[EF_VISIT], 1, 366, MSG_VISIT,
                    &cp->visit_every_days);
        if (v[EF_RISK][0]) {
            const char *risk = dealias(v[EF_RISK], RISK_ALIASES);
            int k = lookup(RISK_NAMES, COUNT(RISK_NAMES), risk);
            if (k < 0)
                err_unknown(p, "risk", "risk", v[EF_RISK], RISK_NAMES, COUNT(RISK_NAMES));
            else
                cp->risk = RISK_NAMES[k];
        }
        if (v[EF_CHAIN][0])
            cp->chain = v_ident(p, "chain", v[EF_CHAIN], "chain name");
        if (v[EF_PARAMS][0])
            csv_params(p, v[EF_PARAMS], cp);
    }
    if (L->has_contacts) {
        e->has_contacts = true;
        e->contacts = palloc(p, L->n_contacts * sizeof *e->contacts);
        if (!e->contacts)
            return;
        for (size_t g = 0; g < L->n_contacts; g++)
            csv_contact(p, r, &L->contacts[g], e);
        check_contact_phones(p, e, idx);
    }
    if (L->has_devices) {
        e->has_devices = true;
        e->devices = palloc(p, L->n_devices * sizeof *e->devices);
        if (!e->devices)
            return;
        for (size_t g = 0; g < L->n_devices; g++)
            csv_device(p, r, &L->devices[g], e, idx);
    }
    finish_elder(p, e);
}

static void csv_doc(struct pctx *p, const char *text, size_t len)
{
    struct csv_reader rd = {text, text + len, 1};
    struct csv_rec r = {0};
    struct csv_layout L = {0};
    bool have_header = false;
    int got;
    while (!p->nomem && (got = csv_read(p, &rd, &r)) > 0) {
        if (!have_header) {
            bool blank = true;
            for (size_t j = 0; j < r.n && blank; j++)
                blank = *trim(r.cells.p + r.off[j]) == '\0';
            if (blank)
                continue;
            have_header = true;
            if (!csv_header(p, &r, &L))
                break;          /* rows cannot be read against a broken header */
            continue;
        }
        csv_row(p, &L, &r);
    }
    if (!have_header && p->errs->count == 0)
        ferr(p, NULL, "the file is empty (expected a header row: id,name,consent,...)");
    free(r.off);
    sbuf_free(&r.cells);
    free(L.cols);
}

/* ---- entry points ----------------------------------------------------- */

static int parse_common(enum regimp_format fmt, const char *text, size_t len,
                        struct regimp_doc **out, struct regimp_errors *errs)
{
    *out = NULL;
    struct regimp_doc *doc = doc_new(fmt);
    if (!doc)
        return ANX_ENOMEM;
    struct pctx p = {.doc = doc, .errs = errs};
    size_t before = errs->count;
    if (check_encoding(&p, &text, &len, fmt == REGIMP_CSV)) {
        p.base[0] = '\0';
        if (fmt == REGIMP_JSON)
            json_doc(&p, text, len);
        else
            csv_doc(&p, text, len);
    }
    free(p.elder_ids.tab);
    free(p.device_ids.tab);
    if (p.nomem || errs->oom) {
        regimp_doc_free(doc);
        return ANX_ENOMEM;
    }
    if (errs->count != before) {
        regimp_doc_free(doc);
        return ANX_EINVAL;
    }
    *out = doc;
    return 0;
}

int regimp_parse_json(const char *text, size_t len, struct regimp_doc **out,
                      struct regimp_errors *errs)
{
    return parse_common(REGIMP_JSON, text, len, out, errs);
}

int regimp_parse_csv(const char *text, size_t len, struct regimp_doc **out,
                     struct regimp_errors *errs)
{
    return parse_common(REGIMP_CSV, text, len, out, errs);
}

int regimp_parse(const char *filename, const char *text, size_t len, struct regimp_doc **out,
                 struct regimp_errors *errs)
{
    size_t n = strlen(filename);
    bool csv = n >= 4 && filename[n - 4] == '.' &&
               (filename[n - 3] | 0x20) == 'c' && (filename[n - 2] | 0x20) == 's' &&
               (filename[n - 1] | 0x20) == 'v';
    return csv ? regimp_parse_csv(text, len, out, errs) : regimp_parse_json(text, len, out, errs);
}

/* ---- canonical JSON --------------------------------------------------- */

static bool add_str(cJSON *o, const char *name, const char *v)
{
    return !v || cJSON_AddStringToObject(o, name, v);
}

static cJSON *elder_json(const struct regimp_elder *e)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = add_str(o, "id", e->id) && add_str(o, "name", e->name);
    if (ok && e->birth_year)
        ok = cJSON_AddNumberToObject(o, "birth_year", e->birth_year) != NULL;
    cJSON *a = ok ? cJSON_AddArrayToObject(o, "categories") : NULL;
    ok = a != NULL;
    for (int k = 0; ok && k < REGIMP_N_CATEGORIES; k++)
        if (e->categories & (1u << k))
            ok = cJSON_AddItemToArray(a, cJSON_CreateString(CATEGORY_NAMES[k]));
    ok = ok && cJSON_AddBoolToObject(o, "consent", e->consent) &&
         add_str(o, "address", e->address) && add_str(o, "township", e->township) &&
         add_str(o, "village", e->village) && add_str(o, "grid", e->grid);
    if (ok && e->has_care_plan) {
        const struct regimp_care_plan *cp = &e->care_plan;
        cJSON *c = cJSON_AddObjectToObject(o, "care_plan");
        ok = c != NULL;
        if (ok && cp->visit_every_days)
            ok = cJSON_AddNumberToObject(c, "visit_every_days", cp->visit_every_days) != NULL;
        ok = ok && add_str(c, "risk", cp->risk) && add_str(c, "chain", cp->chain);
        cJSON *pm = ok ? cJSON_AddObjectToObject(c, "params") : NULL;
        ok = pm != NULL;
        for (size_t k = 0; ok && k < cp->n_params; k++)
            ok = cJSON_AddNumberToObject(pm, cp->params[k].name, cp->params[k].value) != NULL;
    }
    if (ok && e->has_contacts) {
        cJSON *arr = cJSON_AddArrayToObject(o, "contacts");
        ok = arr != NULL;
        for (size_t k = 0; ok && k < e->n_contacts; k++) {
            const struct regimp_contact *ct = &e->contacts[k];
            cJSON *c = cJSON_CreateObject();
            ok = c && cJSON_AddItemToArray(arr, c);
            if (!ok) {
                cJSON_Delete(c);
                break;
            }
            ok = add_str(c, "name", ct->name) && add_str(c, "phone", ct->phone) &&
                 add_str(c, "role", ct->role) &&
                 cJSON_AddNumberToObject(c, "priority", ct->priority);
            cJSON *ch = ok ? cJSON_AddArrayToObject(c, "channels") : NULL;
            ok = ch != NULL;
            for (size_t b = 0; ok && b < COUNT(CHANNEL_NAMES); b++)
                if (ct->channels & (1u << b))
                    ok = cJSON_AddItemToArray(ch, cJSON_CreateString(CHANNEL_NAMES[b]));
        }
    }
    if (ok && e->has_devices) {
        cJSON *arr = cJSON_AddArrayToObject(o, "devices");
        ok = arr != NULL;
        for (size_t k = 0; ok && k < e->n_devices; k++) {
            const struct regimp_device *d = &e->devices[k];
            cJSON *c = cJSON_CreateObject();
            ok = c && cJSON_AddItemToArray(arr, c);
            if (!ok) {
                cJSON_Delete(c);
                break;
            }
            ok = add_str(c, "id", d->id) && add_str(c, "kind", d->kind) &&
                 cJSON_AddNumberToObject(c, "heartbeat_s", d->heartbeat_s);
        }
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *elders_array(const struct regimp_doc *doc)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < doc->n_elders; i++) {
        cJSON *e = elder_json(&doc->elders[i]);
        if (!e || !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

char *regimp_to_json(const struct regimp_doc *doc)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? elders_array(doc) : NULL;
    if (!arr || !cJSON_AddItemToObject(root, "elders", arr)) {
        cJSON_Delete(arr);
        cJSON_Delete(root);
        return NULL;
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static char *dup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Builds one registry elder; NULL on ENOMEM. */
static struct reg_elder *to_reg_elder(const struct regimp_elder *x)
{
    struct reg_elder *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    bool ok = (e->id = strdup(x->id)) && (e->name = strdup(x->name));
    e->township = dup_opt(x->township);
    e->village = dup_opt(x->village);
    e->grid = dup_opt(x->grid);
    ok = ok && (!x->township || e->township) && (!x->village || e->village) &&
         (!x->grid || e->grid);
    e->categories = (uint16_t)x->categories;    /* same bit order as registry.h */
    e->consent = x->consent;
    e->risk = REG_RISK_MEDIUM;
    if (x->has_care_plan) {
        const struct regimp_care_plan *cp = &x->care_plan;
        if (cp->risk && strcmp(cp->risk, "low") == 0)
            e->risk = REG_RISK_LOW;
        else if (cp->risk && strcmp(cp->risk, "high") == 0)
            e->risk = REG_RISK_HIGH;
        e->chain = dup_opt(cp->chain);
        ok = ok && (!cp->chain || e->chain);
        if (cp->n_params) {
            e->params = calloc(cp->n_params, sizeof *e->params);
            ok = ok && e->params;
            for (size_t i = 0; ok && i < cp->n_params; i++) {
                ok = (e->params[i].name = strdup(cp->params[i].name)) != NULL;
                e->params[i].value = cp->params[i].value;
                e->n_params += ok;
            }
        }
    }
    if (ok && x->n_contacts) {
        e->contacts = calloc(x->n_contacts, sizeof *e->contacts);
        ok = e->contacts != NULL;
        for (size_t i = 0; ok && i < x->n_contacts; i++) {
            struct reg_contact *c = &e->contacts[i];
            const struct regimp_contact *xc = &x->contacts[i];
            ok = (c->name = strdup(xc->name)) && (c->phone = strdup(xc->phone));
            c->id = (int64_t)i + 1;
            c->role = (uint8_t)reg_role_parse(xc->role);
            c->priority = (uint8_t)xc->priority;
            c->channels = (uint8_t)((xc->channels & REGIMP_CH_SMS ? REG_CHANNEL_SMS : 0) |
                                    (xc->channels & REGIMP_CH_VOICE ? REG_CHANNEL_VOICE : 0));
            e->n_contacts += ok;
        }
    }
    if (ok && x->n_devices) {
        e->devices = calloc(x->n_devices, sizeof *e->devices);
        ok = e->devices != NULL;
        for (size_t i = 0; ok && i < x->n_devices; i++) {
            struct reg_device *d = &e->devices[i];
            ok = (d->id = strdup(x->devices[i].id)) && (d->kind = strdup(x->devices[i].kind));
            d->heartbeat_s = (uint32_t)x->devices[i].heartbeat_s;
            d->elder = e;
            e->n_devices += ok;
        }
    }
    if (!ok) {
        reg_elder_free(e);
        return NULL;
    }
    return e;
}

int regimp_to_registry(const struct regimp_doc *doc, struct registry *reg)
{
    for (size_t i = 0; i < doc->n_elders; i++) {
        struct reg_elder *e = to_reg_elder(&doc->elders[i]);
        if (!e || reg_put(reg, e) != 0)
            return ANX_ENOMEM;
    }
    return 0;
}
