/* rule_parse.c - the rule language of docs/rules.md: a hand-written lexer
 * and a recursive-descent parser from text to the tree in rule.h.
 *
 * The language is line-oriented: a newline ends a statement, except inside
 * parentheses, and a line starting with `and` or `or` continues the previous
 * `when`. Every mistake is reported with line and column (characters, not
 * bytes) and what was expected; the parser then skips to the next line (or
 * the closing brace) and goes on, so one pass finds several mistakes.
 * Hostile input is fine: nesting, condition size, token and file length are
 * bounded, bytes past `len` are never read, NULs and bad UTF-8 are errors. */
#include "rule.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "registry.h"

#define MAX_TOKEN 512               /* bytes in a word or number */
#define MAX_STRING 511              /* decoded bytes in a string (sms_template is 512) */
#define MAX_FILE (64u << 20)        /* bytes in one file */
#define MAX_DIAGS 200               /* diagnostics from one file before giving up */
#define MAX_STEPS 256               /* steps in one chain */

/* ---- diagnostics and suggestions (shared with rule_check.c) ------------ */

/* Cuts a string that snprintf truncated back to a whole UTF-8 character. */
static void cut_utf8(char *s)
{
    size_t n = strlen(s), j = n;
    while (j > 0 && ((unsigned char)s[j - 1] & 0xC0) == 0x80)
        j--;
    if (j == 0)
        return;
    unsigned char lead = (unsigned char)s[j - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (j - 1) < need)
        s[j - 1] = '\0';
}

static int diag_vadd(struct rule_diags *d, const char *file, int line, int col, bool warning,
                     const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static int diag_vadd(struct rule_diags *d, const char *file, int line, int col, bool warning,
                     const char *fmt, va_list ap)
{
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 16;
        struct rule_diag *ni = realloc(d->items, nc * sizeof *ni);
        if (!ni)
            return ANX_ENOMEM;
        d->items = ni;
        d->cap = nc;
    }
    struct rule_diag *g = &d->items[d->n];
    memset(g, 0, sizeof *g);
    snprintf(g->file, sizeof g->file, "%s", file ? file : "");
    cut_utf8(g->file);
    g->line = line;
    g->col = col;
    g->warning = warning;
    int k = vsnprintf(g->msg, sizeof g->msg, fmt, ap);
    if (k < 0)
        g->msg[0] = '\0';
    else if ((size_t)k >= sizeof g->msg)
        cut_utf8(g->msg);
    d->n++;
    if (!warning)
        d->n_errors++;
    return 0;
}

int rule_diag_add(struct rule_diags *d, const char *file, int line, int col, bool warning,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = diag_vadd(d, file, line, col, warning, fmt, ap);
    va_end(ap);
    return rc;
}

int rule_edit_distance(const char *a, const char *b, int max)
{
    enum { W = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (max < 0 || la > W || lb > W || (la > lb ? la - lb : lb - la) > (size_t)max)
        return max + 1;
    /* Optimal string alignment: Levenshtein plus swaps of neighbours, so
     * "whne" is one step from "when". Three rows of the usual table. */
    int r0[W + 1], r1[W + 1], r2[W + 1];
    int *pp = r0, *prev = r1, *cur = r2;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        int best = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (prev[j - 1] + cost < v)
                v = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            cur[j] = v;
            if (v < best)
                best = v;
        }
        if (best > max)
            return max + 1;
        int *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb] > max ? max + 1 : prev[lb];
}

/* The closest candidate within two edits (and closer than its own length,
 * so "x" does not suggest "on"), or NULL. */
static const char *suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    int bd = 3;
    for (size_t i = 0; i < n; i++) {
        int dist = rule_edit_distance(word, cands[i], 2);
        if (dist > 0 && dist < bd && (size_t)dist < strlen(cands[i])) {
            bd = dist;
            best = cands[i];
        }
    }
    return best;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- words of the language --------------------------------------------- */

static const char *const top_words[] = {"rule", "chain", "metric", "device"};

enum stmt { S_TITLE, S_WHEN, S_CLEAR, S_FOR, S_DURING, S_ON, S_SEVERITY, S_CHAIN, S_MESSAGE,
            S_SUPPRESSED, S_COUNT };
static const char *const stmt_words[S_COUNT] = {
    "title", "when", "clear", "for", "during", "on", "severity", "chain", "message", "suppressed",
};
static const char *const stmt_shown[S_COUNT] = {
    "title", "when", "clear when", "for", "during", "on", "severity", "chain", "message",
    "suppressed by",
};

static const char *const chain_words[] = {"at", "repeat", "ack"};
static const char *const for_words[RULE_FOR_COUNT] = {
    "elders", "risk", "township", "village", "devices",
};
static const char *const severity_words[] = {"low", "medium", "high", "critical"};
static const char *const risk_words[] = {"low", "medium", "high"};
static const char *const category_words[] = {
    "living_alone", "empty_nest", "left_behind", "disabled", "severely_disabled",
    "family_planning_special",
};
static const char *const day_words[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun",
                                        "weekdays", "weekends", "every"};
static const char *const agg_words[] = {"sum", "min", "max", "avg", "count"};
static const char *const target_words[] = {
    "priority", "console", "maintainer", "family", "neighbor", "grid_worker", "doctor",
    "community", "volunteer", "call_center",
};
static const char *const channel_words[] = {"sms", "voice"};
static const char *const cmp_words[] = {">", ">=", "<", "<=", "==", "!="};

/* ---- lexer --------------------------------------------------------------- */

enum tok_type { T_EOF, T_NL, T_WORD, T_NUM, T_STRING, T_PUNCT, T_ERROR };

/* A token points into the text: a word ([A-Za-z_][A-Za-z0-9_.]*), a number
 * or duration or time (a digit, then [A-Za-z0-9_.:]*), a string with its
 * quotes, or punctuation (one character, or >= <= == !=). ERROR tokens were
 * reported by the lexer already. */
struct tok {
    enum tok_type t;
    const char *s;
    size_t n;
    int line, col;
};

struct parser {
    struct rule_set *rs;
    struct rule_diags *d;
    const char *file;
    const char *s;
    size_t len, pos;
    int line, col;
    int lex_err_line;               /* one encoding error per line is enough */
    struct tok tok;                 /* the current token */
    struct tok la[2];               /* lookahead */
    int n_la;
    int paren;                      /* > 0: inside parentheses, newlines are spaces */
    int parts;                      /* leaves in the condition being parsed */
    size_t n_diags;
    bool errors, nomem, stopped;
};

static void perr(struct parser *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void perr(struct parser *p, int line, int col, const char *fmt, ...)
{
    if (p->stopped)
        return;
    p->errors = true;
    int rc;
    if (p->n_diags >= MAX_DIAGS) {
        rc = rule_diag_add(p->d, p->file, line, col, false,
                           "too many errors; the rest of the file was not checked");
        p->stopped = true;
    } else {
        va_list ap;
        va_start(ap, fmt);
        rc = diag_vadd(p->d, p->file, line, col, false, fmt, ap);
        va_end(ap);
    }
    p->n_diags++;
    if (rc) {
        p->nomem = true;
        p->stopped = true;
    }
}

static void no_memory(struct parser *p)
{
    p->nomem = true;
    p->stopped = true;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 if it is not one. */
static int utf8_seq(const unsigned char *s, size_t avail, unsigned *cp)
{
    unsigned c = s[0], v, min;
    size_t n;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return (int)n;
}

static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_lower(int c) { return c >= 'a' && c <= 'z'; }
static bool is_alpha(int c) { return is_lower(c) || (c >= 'A' && c <= 'Z'); }
static bool is_word_start(int c) { return is_alpha(c) || c == '_'; }
static bool is_word_char(int c) { return is_alpha(c) || is_digit(c) || c == '_' || c == '.'; }
static bool is_num_char(int c) { return is_word_char(c) || c == ':'; }

/* Character-level problems are reported once per line: a binary file gives
 * a few lines of errors, not one per byte. */
static void lex_err(struct parser *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void lex_err(struct parser *p, int line, int col, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    if (line == p->lex_err_line)
        return;
    p->lex_err_line = line;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    perr(p, line, col, "%s", msg);
}

/* Checks one character of a comment or string at p->pos and steps over it
 * (one byte if it is not valid). Returns its byte length, 0 if it was bad. */
static int lex_char(struct parser *p)
{
    const unsigned char *u = (const unsigned char *)p->s + p->pos;
    unsigned cp;
    int n;
    if (*u == '\0') {
        lex_err(p, p->line, p->col, "NUL byte in the file");
        n = 0;
    } else if ((n = utf8_seq(u, p->len - p->pos, &cp)) == 0) {
        lex_err(p, p->line, p->col, "invalid UTF-8 (the file must be UTF-8 text)");
    }
    p->pos += n ? (size_t)n : 1;
    p->col++;
    return n;
}

/* Look-alikes an input method produces, for a helpful message. */
static const char *ascii_for(unsigned cp)
{
    switch (cp) {
    case 0xFF0C: case 0x3001: return ",";
    case 0x201C: case 0x201D: return "\"";
    case 0xFF08: return "(";
    case 0xFF09: return ")";
    case 0xFF1A: return ":";
    case 0xFF5B: return "{";
    case 0xFF5D: return "}";
    case 0xFF1E: return ">";
    case 0xFF1C: return "<";
    case 0xFF1D: return "=";
    case 0x3000: return "a space";
    case 0xFF0D: case 0x2014: case 0x2013: return "-";
    default: return NULL;
    }
}

static struct tok lex_string(struct parser *p)
{
    struct tok t = {T_STRING, p->s + p->pos, 0, p->line, p->col};
    size_t decoded = 0;
    bool ok = true;
    p->pos++;
    p->col++;
    for (;;) {
        if (p->pos >= p->len || p->s[p->pos] == '\n') {
            lex_err(p, t.line, t.col, "unterminated string: a string ends with \" on its line");
            ok = false;
            break;
        }
        char c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            p->col++;
            break;
        }
        if (c == '\\') {
            char e = p->pos + 1 < p->len ? p->s[p->pos + 1] : '\0';
            if (e == '"' || e == '\\' || e == 'n') {
                p->pos += 2;
                p->col += 2;
                decoded++;
                continue;
            }
            if (ok)
                perr(p, p->line, p->col, "unknown escape in string: use \\\", \\\\ or \\n");
            ok = false;
            p->pos++;
            p->col++;
            continue;
        }
        int n = lex_char(p);
        if (n == 0)
            ok = false;
        decoded += (size_t)n;
    }
    t.n = (size_t)(p->s + p->pos - t.s);
    if (ok && decoded > MAX_STRING) {
        perr(p, t.line, t.col, "string too long: %zu bytes, at most %d", decoded, MAX_STRING);
        ok = false;
    }
    if (!ok)
        t.t = T_ERROR;
    return t;
}

static struct tok lex(struct parser *p)
{
    struct tok t;
    for (;;) {
        while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                                   p->s[p->pos] == '\r' || p->s[p->pos] == '\f' ||
                                   p->s[p->pos] == '\v')) {
            p->pos++;
            p->col++;
        }
        if (p->pos >= p->len || p->s[p->pos] != '#')
            break;
        while (p->pos < p->len && p->s[p->pos] != '\n')
            lex_char(p);
    }
    t.s = p->s + p->pos;
    t.n = 0;
    t.line = p->line;
    t.col = p->col;
    if (p->pos >= p->len) {
        t.t = T_EOF;
        return t;
    }
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c == '\n') {
        t.t = T_NL;
        t.n = 1;
        p->pos++;
        p->line++;
        p->col = 1;
        return t;
    }
    if (c == '"')
        return lex_string(p);
    if (is_word_start(c) || is_digit(c)) {
        bool num = is_digit(c);
        size_t e = p->pos + 1;
        while (e < p->len && (num ? is_num_char(p->s[e]) : is_word_char(p->s[e])))
            e++;
        t.t = num ? T_NUM : T_WORD;
        t.n = e - p->pos;
        p->col += (int)t.n;
        p->pos = e;
        if (t.n > MAX_TOKEN) {
            perr(p, t.line, t.col, "token too long: %zu bytes, at most %d", t.n, MAX_TOKEN);
            t.t = T_ERROR;
        }
        return t;
    }
    if (c >= 0x80 || c == 0) {
        unsigned cp = 0;
        int n = c ? utf8_seq((const unsigned char *)t.s, p->len - p->pos, &cp) : 0;
        t.t = T_ERROR;
        if (n == 0) {
            lex_char(p);    /* reports it */
            t.n = 1;
            return t;
        }
        const char *alt = ascii_for(cp);
        /* "，" -> did you mean ","?  the quote itself in single quotes */
        const char *q = !alt || alt[1] ? "" : alt[0] == '"' ? "'" : "\"";
        if (alt)
            lex_err(p, t.line, t.col, "unexpected character \"%.*s\"; did you mean %s%s%s?", n,
                    t.s, q, alt, q);
        else
            lex_err(p, t.line, t.col, "unexpected character \"%.*s\" outside a string", n, t.s);
        p->pos += (size_t)n;
        p->col++;
        t.n = (size_t)n;
        return t;
    }
    t.t = T_PUNCT;
    t.n = 1;
    if (p->pos + 1 < p->len && p->s[p->pos + 1] == '=' &&
        (c == '>' || c == '<' || c == '=' || c == '!'))
        t.n = 2;
    if (c < 0x20 || c == 0x7F) {
        lex_err(p, t.line, t.col, "unexpected control character (byte 0x%02x)", c);
        t.t = T_ERROR;
    }
    p->pos += t.n;
    p->col += (int)t.n;
    return t;
}

static void next(struct parser *p)
{
    do {
        if (p->n_la) {
            p->tok = p->la[0];
            p->la[0] = p->la[1];
            p->n_la--;
        } else {
            p->tok = lex(p);
        }
    } while (p->tok.t == T_NL && p->paren > 0);
}

/* The k-th token after the current one (1 or 2), as lexed (no newline skipping). */
static const struct tok *peek(struct parser *p, int k)
{
    while (p->n_la < k)
        p->la[p->n_la++] = lex(p);
    return &p->la[k - 1];
}

static bool tok_is(const struct tok *t, enum tok_type type, const char *text)
{
    size_t n = strlen(text);
    return t->t == type && t->n == n && memcmp(t->s, text, n) == 0;
}

static bool at_word(const struct parser *p, const char *w) { return tok_is(&p->tok, T_WORD, w); }
static bool at_punct(const struct parser *p, const char *c) { return tok_is(&p->tok, T_PUNCT, c); }
static bool at_eol(const struct parser *p) { return p->tok.t == T_NL || p->tok.t == T_EOF; }

/* The index of the current word in words, or -1. */
static int word_index(const struct parser *p, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (at_word(p, words[i]))
            return (int)i;
    return -1;
}

/* Copies a word's text; false if it does not fit. */
static bool tok_text(const struct tok *t, char *out, size_t cap)
{
    if (t->n >= cap) {
        if (cap)
            out[0] = '\0';
        return false;
    }
    memcpy(out, t->s, t->n);
    out[t->n] = '\0';
    return true;
}

/* "found ..." for messages. */
static const char *describe(const struct tok *t, char *buf, size_t cap)
{
    switch (t->t) {
    case T_EOF: return "end of file";
    case T_NL: return "end of line";
    case T_STRING: return "a string";
    default: break;
    }
    if (t->n > 40)
        snprintf(buf, cap, "\"%.37s...\"", t->s);
    else
        snprintf(buf, cap, "\"%.*s\"", (int)t->n, t->s);
    return buf;
}

/* "expected WHAT, found X[; did you mean "Y"?]" at the current token;
 * nothing for an ERROR token (the lexer said why). Returns -1. */
static int expected_s(struct parser *p, const char *what, const char *const *cands, size_t n)
{
    if (p->tok.t == T_ERROR)
        return -1;
    char b[64], w[64];
    const char *s = NULL;
    if (cands && p->tok.t == T_WORD && tok_text(&p->tok, w, sizeof w))
        s = suggest(w, cands, n);
    perr(p, p->tok.line, p->tok.col, "expected %s, found %s%s%s%s", what,
         describe(&p->tok, b, sizeof b), s ? "; did you mean \"" : "", s ? s : "", s ? "\"?" : "");
    return -1;
}

static int expected(struct parser *p, const char *what) { return expected_s(p, what, NULL, 0); }

static int expect_word(struct parser *p, const char *w, const char *what)
{
    if (!at_word(p, w))
        return expected(p, what);
    next(p);
    return 0;
}

/* Skips to the start of the next line, or to a closing brace of a block. */
static void sync(struct parser *p, bool in_block)
{
    p->paren = 0;
    while (!at_eol(p) && !(in_block && at_punct(p, "}")))
        next(p);
    if (p->tok.t == T_NL)
        next(p);
}

/* Ends a statement; reports what else is on the line. */
static int end_line(struct parser *p, const char *what)
{
    if (p->tok.t == T_NL) {
        next(p);
        return 0;
    }
    if (p->tok.t == T_EOF)
        return 0;
    return expected(p, what);
}

/* ---- values ------------------------------------------------------------- */

/* [a-z][a-z0-9_]*, at most RULE_NAME_MAX: rules, chains, device kinds, events. */
static bool valid_name(const struct tok *t, size_t max)
{
    if (t->t != T_WORD || t->n == 0 || t->n > max || !is_lower(t->s[0]))
        return false;
    for (size_t i = 1; i < t->n; i++)
        if (!is_lower(t->s[i]) && !is_digit(t->s[i]) && t->s[i] != '_')
            return false;
    return true;
}

/* A metric or care-plan name: names as above joined by single dots. */
static bool valid_metric(const char *s, size_t n)
{
    if (n == 0 || n > TLM_MAX_NAME || !is_lower(s[0]) || s[n - 1] == '.')
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (c == '.' && s[i - 1] == '.')
            return false;
        if (!is_lower(c) && !is_digit(c) && c != '_' && c != '.')
            return false;
    }
    return true;
}

/* Reads digits [. digits] at the start of s: the length read (0 if no
 * digit), -1 if it has more digits than a double holds exactly. */
static int num_prefix(const char *s, size_t n, double *v)
{
    size_t i = 0;
    uint64_t ip = 0, fp = 0;
    double scale = 1;
    while (i < n && is_digit(s[i])) {
        if (i >= 15)
            return -1;
        ip = ip * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    if (i == 0)
        return 0;
    if (i + 1 < n && s[i] == '.' && is_digit(s[i + 1])) {
        size_t k = 0;
        for (i++; i < n && is_digit(s[i]); i++) {
            if (++k > 15)
                return -1;
            fp = fp * 10 + (uint64_t)(s[i] - '0');
            scale *= 10;
        }
    }
    *v = (double)ip + (double)fp / scale;
    return (int)i;
}

/* Groups of digits and a unit, largest unit first: 250ms 30s 5m 12h 1d 1h30m. */
static int dur_text(const char *s, size_t n, int64_t *out)
{
    static const int64_t unit_ms[] = {86400000, 3600000, 60000, 1000, 1};
    size_t i = 0;
    int last = -1;
    int64_t total = 0;
    if (n == 0)
        return -1;
    while (i < n) {
        int64_t v = 0;
        size_t digits = 0;
        for (; i < n && is_digit(s[i]); i++) {
            if (++digits > 9)
                return -1;
            v = v * 10 + (s[i] - '0');
        }
        if (digits == 0 || i >= n)
            return -1;
        int u;
        if (s[i] == 'm' && i + 1 < n && s[i + 1] == 's') {
            u = 4;
            i++;
        } else if (s[i] == 'd') {
            u = 0;
        } else if (s[i] == 'h') {
            u = 1;
        } else if (s[i] == 'm') {
            u = 2;
        } else if (s[i] == 's') {
            u = 3;
        } else {
            return -1;
        }
        i++;
        if (u <= last)
            return -1;
        last = u;
        total += v * unit_ms[u];
    }
    *out = total;
    return 0;
}

static const char dur_expect[] = "a duration with a unit like 30s or 5m";

/* DURATION at the current token. */
static int parse_dur(struct parser *p, int64_t *ms, struct rule_pos *pos)
{
    if (p->tok.t != T_NUM || dur_text(p->tok.s, p->tok.n, ms) < 0)
        return expected(p, dur_expect);
    if (pos)
        *pos = (struct rule_pos){p->tok.line, p->tok.col};
    next(p);
    return 0;
}

static bool is_unit(const char *s, size_t n)
{
    if (n == 1 && s[0] == '%')
        return true;
    if (n == 0 || !is_alpha(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '_')
            return false;
    return true;
}

static int set_unit(struct parser *p, const struct tok *t, const char *s, size_t n, char *unit)
{
    if (n >= 9) {
        perr(p, t->line, t->col, "unit \"%.*s\" is too long (at most 8 characters)", (int)n, s);
        return -1;
    }
    memcpy(unit, s, n);
    unit[n] = '\0';
    return 0;
}

/* NUMBER [UNIT], optionally negative; the unit may be attached (15%, 10L). */
static int parse_number(struct parser *p, double *v, char *unit, bool allow_unit)
{
    bool neg = false;
    if (at_punct(p, "-")) {
        neg = true;
        next(p);
    }
    if (p->tok.t != T_NUM)
        return expected(p, "a number");
    struct tok t = p->tok;
    int k = num_prefix(t.s, t.n, v);
    if (k < 0) {
        perr(p, t.line, t.col, "number \"%.*s\" has too many digits (at most 15)", (int)t.n, t.s);
        return -1;
    }
    if (neg)
        *v = -*v;
    const char *rest = t.s + k;
    size_t rn = t.n - (size_t)k;
    if (rn > 0) {
        if (!allow_unit || !is_unit(rest, rn))
            return expected(p, "a number");
        if (set_unit(p, &t, rest, rn, unit) < 0)
            return -1;
        next(p);
        return 0;
    }
    next(p);
    if (!allow_unit)
        return 0;
    /* A unit after a space, on the same line: any word that is not a word
     * of the language. */
    static const char *const not_units[] = {"and", "or", "for", "default", "over", "is"};
    if (p->tok.line == t.line &&
        (at_punct(p, "%") ||
         (p->tok.t == T_WORD && word_index(p, not_units, NELEM(not_units)) < 0 &&
          is_unit(p->tok.s, p->tok.n)))) {
        if (set_unit(p, &p->tok, p->tok.s, p->tok.n, unit) < 0)
            return -1;
        next(p);
    }
    return 0;
}

static const char care_prefix[] = "care_plan.";

/* value := NUMBER [UNIT] | care_plan.PARAM ['default' NUMBER [UNIT]] */
static int parse_value(struct parser *p, struct rule_value *v, struct rule_pos *pos)
{
    *pos = (struct rule_pos){p->tok.line, p->tok.col};
    size_t cpn = sizeof care_prefix - 1;
    if (p->tok.t == T_WORD && p->tok.n >= cpn - 1 && memcmp(p->tok.s, care_prefix, cpn - 1) == 0 &&
        (p->tok.n == cpn - 1 || p->tok.s[cpn - 1] == '.')) {
        if (p->tok.n <= cpn || !valid_metric(p->tok.s + cpn, p->tok.n - cpn))
            return expected(p, "a care-plan parameter like care_plan.hr.max");
        const char *param = p->tok.s + cpn;
        size_t n = p->tok.n - cpn;
        memcpy(v->param, param, n);
        v->param[n] = '\0';
        v->number = NAN;
        next(p);
        if (at_word(p, "default")) {
            next(p);
            return parse_number(p, &v->number, v->unit, true);
        }
        return 0;
    }
    if (p->tok.t != T_NUM && !at_punct(p, "-"))
        return expected(p, "a number or care_plan.NAME");
    return parse_number(p, &v->number, v->unit, true);
}

/* ---- conditions ------------------------------------------------------- */

static void free_cond(struct rule_cond *c)
{
    if (!c)
        return;
    free_cond(c->a);
    free_cond(c->b);
    free(c);
}

static struct rule_cond *new_cond(struct parser *p, enum rule_cond_kind kind, int line, int col)
{
    struct rule_cond *c = calloc(1, sizeof *c);
    if (!c) {
        no_memory(p);
        return NULL;
    }
    c->kind = kind;
    c->line = line;
    c->col = col;
    return c;
}

/* a AND/OR b; takes both (freed on failure). */
static struct rule_cond *join(struct parser *p, enum rule_cond_kind kind, struct rule_cond *a,
                              struct rule_cond *b)
{
    struct rule_cond *c = new_cond(p, kind, a->line, a->col);
    if (!c) {
        free_cond(a);
        free_cond(b);
        return NULL;
    }
    c->a = a;
    c->b = b;
    return c;
}

static struct rule_cond *parse_cond(struct parser *p, int depth);

static int parse_cmp(struct parser *p, enum rule_cmp *cmp, const char *metric)
{
    for (size_t i = 0; i < NELEM(cmp_words); i++) {
        if (at_punct(p, cmp_words[i])) {
            *cmp = (enum rule_cmp)i;
            next(p);
            return 0;
        }
    }
    char what[96];
    snprintf(what, sizeof what, "a comparison (>, >=, <, <=, ==, !=) after \"%s\"", metric);
    return expected(p, what);
}

static int parse_for(struct parser *p, struct rule_cond *c)
{
    if (!at_word(p, "for"))
        return 0;
    next(p);
    return parse_dur(p, &c->for_ms, &c->dur_pos);
}

static int parse_event(struct parser *p, struct rule_cond *c)
{
    next(p);
    for (;;) {
        if (!valid_name(&p->tok, TLM_MAX_NAME))
            return expected(p, "an event name (a-z, 0-9, _) like sos or water_leak");
        if (c->n_events == RULE_MAX_EVENTS) {
            perr(p, p->tok.line, p->tok.col, "too many events in one condition (at most %d)",
                 RULE_MAX_EVENTS);
            return -1;
        }
        tok_text(&p->tok, c->events[c->n_events++], TLM_MAX_NAME + 1);
        next(p);
        if (!at_punct(p, ","))
            return 0;
        next(p);
    }
}

/* 'no' 'message' 'for' (DURATION | NUMBER 'x' 'heartbeat') */
static int parse_absence(struct parser *p, struct rule_cond *c)
{
    next(p);
    if (expect_word(p, "message", "\"message\" after \"no\"") < 0 ||
        expect_word(p, "for", "\"for\" after \"no message\"") < 0)
        return -1;
    if (p->tok.t != T_NUM)
        return expected(p, "a duration like 2h, or 3 x heartbeat");
    struct tok t = p->tok;
    c->dur_pos = (struct rule_pos){t.line, t.col};
    if (dur_text(t.s, t.n, &c->absence_ms) == 0) {
        next(p);
        return 0;
    }
    double f = 0;
    int k = num_prefix(t.s, t.n, &f);
    bool x_attached = k > 0 && t.n - (size_t)k == 1 && t.s[k] == 'x';
    if (k <= 0 || (!x_attached && (size_t)k != t.n))
        return expected(p, "a duration like 2h, or 3 x heartbeat");
    next(p);
    if (!x_attached &&
        expect_word(p, "x", "\"x heartbeat\" after the number (or a duration like 2h)") < 0)
        return -1;
    if (expect_word(p, "heartbeat", "\"heartbeat\" after \"x\"") < 0)
        return -1;
    if (!(f > 0) || f > 1000) {
        perr(p, t.line, t.col, "the number of heartbeats must be more than 0 and at most 1000");
        return -1;
    }
    c->heartbeat_factor = f;
    return 0;
}

/* AGG '(' METRIC ')' 'over' DURATION CMP value */
static int parse_window(struct parser *p, struct rule_cond *c)
{
    int a = word_index(p, agg_words, NELEM(agg_words));
    if (a < 0) {
        char w[64];
        const char *s =
            tok_text(&p->tok, w, sizeof w) ? suggest(w, agg_words, NELEM(agg_words)) : NULL;
        perr(p, p->tok.line, p->tok.col,
             "unknown aggregate \"%.*s\"; %s%s%s", (int)(p->tok.n > 40 ? 40 : p->tok.n), p->tok.s,
             s ? "did you mean \"" : "expected sum, min, max, avg or count", s ? s : "",
             s ? "\"?" : "");
        return -1;
    }
    c->agg = (enum rule_agg)(a + 1);
    next(p);                        /* the name; now at "(" */
    p->paren++;
    next(p);
    if (p->tok.t != T_WORD || !valid_metric(p->tok.s, p->tok.n)) {
        p->paren--;
        return expected(p, "a metric name like water.flow_l");
    }
    tok_text(&p->tok, c->metric, sizeof c->metric);
    c->metric_pos = (struct rule_pos){p->tok.line, p->tok.col};
    next(p);
    p->paren--;
    if (!at_punct(p, ")"))
        return expected(p, "\")\" after the metric");
    next(p);
    if (expect_word(p, "over", "\"over\" and a window like 12h") < 0)
        return -1;
    if (parse_dur(p, &c->window_ms, &c->dur_pos) < 0 || parse_cmp(p, &c->cmp, c->metric) < 0)
        return -1;
    return parse_value(p, &c->value, &c->value_pos);
}

/* METRIC CMP value ['for' D] | METRIC 'is' ('true'|'false') ['for' D] */
static int parse_threshold(struct parser *p, struct rule_cond *c)
{
    if (!valid_metric(p->tok.s, p->tok.n)) {
        perr(p, p->tok.line, p->tok.col,
             "invalid metric name \"%.*s\": use a-z, 0-9, _ and dots, starting with a letter, "
             "at most %d characters",
             (int)(p->tok.n > 40 ? 40 : p->tok.n), p->tok.s, TLM_MAX_NAME);
        return -1;
    }
    tok_text(&p->tok, c->metric, sizeof c->metric);
    c->metric_pos = (struct rule_pos){p->tok.line, p->tok.col};
    next(p);
    if (at_word(p, "is")) {
        next(p);
        c->value_pos = (struct rule_pos){p->tok.line, p->tok.col};
        if (at_word(p, "true"))
            c->value.number = 1;
        else if (at_word(p, "false"))
            c->value.number = 0;
        else
            return expected(p, "true or false after \"is\"");
        next(p);
        c->cmp = RULE_EQ;
        c->is_bool_test = true;
        return parse_for(p, c);
    }
    if (parse_cmp(p, &c->cmp, c->metric) < 0 || parse_value(p, &c->value, &c->value_pos) < 0)
        return -1;
    return parse_for(p, c);
}

static const char cond_expect[] =
    "a condition (event, no message, a metric, or sum/min/max/avg/count(...))";

static struct rule_cond *parse_prim(struct parser *p, int depth)
{
    struct tok t = p->tok;
    if (at_punct(p, "(")) {
        if (depth >= RULE_MAX_DEPTH) {
            perr(p, t.line, t.col, "nested too deeply (more than %d parentheses)", RULE_MAX_DEPTH);
            return NULL;
        }
        p->paren++;
        next(p);
        struct rule_cond *c = parse_cond(p, depth + 1);
        if (!c)
            return NULL;
        p->paren--;
        if (!at_punct(p, ")")) {
            char what[80];
            snprintf(what, sizeof what, "\"and\", \"or\" or \")\" to close the \"(\" of %d:%d",
                     t.line, t.col);
            expected(p, what);
            free_cond(c);
            return NULL;
        }
        next(p);
        return c;
    }
    if (p->tok.t != T_WORD || at_word(p, "and") || at_word(p, "or")) {
        expected(p, cond_expect);
        return NULL;
    }
    if (++p->parts > RULE_MAX_COND_PARTS) {
        perr(p, t.line, t.col, "condition too long (more than %d parts)", RULE_MAX_COND_PARTS);
        return NULL;
    }
    struct rule_cond *c;
    int rc;
    if (at_word(p, "event")) {
        c = new_cond(p, RULE_COND_EVENT, t.line, t.col);
        rc = c ? parse_event(p, c) : -1;
    } else if (at_word(p, "no")) {
        c = new_cond(p, RULE_COND_ABSENCE, t.line, t.col);
        rc = c ? parse_absence(p, c) : -1;
    } else if (tok_is(peek(p, 1), T_PUNCT, "(")) {
        c = new_cond(p, RULE_COND_WINDOW, t.line, t.col);
        rc = c ? parse_window(p, c) : -1;
    } else {
        c = new_cond(p, RULE_COND_THRESHOLD, t.line, t.col);
        rc = c ? parse_threshold(p, c) : -1;
    }
    if (rc < 0) {
        free_cond(c);
        return NULL;
    }
    return c;
}

/* Reads { ('and' | 'or') prim } onto or_acc (the finished or-terms) and
 * and_acc (the and-term being built): `and` binds first. */
static int cond_tail(struct parser *p, int depth, struct rule_cond **or_acc,
                     struct rule_cond **and_acc)
{
    for (;;) {
        bool is_and = at_word(p, "and");
        if (!is_and && !at_word(p, "or"))
            return 0;
        next(p);
        struct rule_cond *c = parse_prim(p, depth);
        if (!c)
            return -1;
        if (is_and) {
            *and_acc = join(p, RULE_COND_AND, *and_acc, c);
        } else {
            if (*or_acc) {
                *or_acc = join(p, RULE_COND_OR, *or_acc, *and_acc);
                if (!*or_acc) {
                    free_cond(c);
                    *and_acc = NULL;
                    return -1;
                }
            } else {
                *or_acc = *and_acc;
            }
            *and_acc = c;
        }
        if (!*and_acc)
            return -1;
    }
}

static struct rule_cond *cond_finish(struct parser *p, struct rule_cond *or_acc,
                                     struct rule_cond *and_acc)
{
    return or_acc ? join(p, RULE_COND_OR, or_acc, and_acc) : and_acc;
}

static struct rule_cond *parse_cond(struct parser *p, int depth)
{
    struct rule_cond *or_acc = NULL, *and_acc = parse_prim(p, depth);
    if (!and_acc)
        return NULL;
    if (cond_tail(p, depth, &or_acc, &and_acc) < 0) {
        free_cond(or_acc);
        free_cond(and_acc);
        return NULL;
    }
    return cond_finish(p, or_acc, and_acc);
}

/* A `when` or `clear when` line: the condition into *slot. *open_or says
 * whether the top is an `or` written at the top level, which a following
 * `and` line must reach into. With a condition already in *slot, the line
 * (starting with and/or) continues it. */
static int parse_cond_line(struct parser *p, struct rule_cond **slot, bool *open_or, int *parts)
{
    struct rule_cond *or_acc = NULL, *and_acc = NULL;
    p->parts = *parts;
    if (*slot) {
        struct rule_cond *top = *slot;
        *slot = NULL;
        if (*open_or) {
            or_acc = top->a;
            and_acc = top->b;
            free(top);
        } else {
            and_acc = top;
        }
    } else {
        and_acc = parse_prim(p, 0);
        if (!and_acc)
            return -1;
    }
    int rc = cond_tail(p, 0, &or_acc, &and_acc);
    if (rc == 0 && !at_eol(p)) {
        if (at_punct(p, ")"))
            rc = expected(p, "\"and\", \"or\" or end of line (this \")\" closes no \"(\")");
        else
            rc = expected(p, "\"and\", \"or\" or end of line");
    }
    if (rc < 0) {
        free_cond(or_acc);
        free_cond(and_acc);
        return -1;
    }
    *open_or = or_acc != NULL;
    *parts = p->parts;
    *slot = cond_finish(p, or_acc, and_acc);
    return *slot ? 0 : -1;
}

/* ---- rules ------------------------------------------------------------- */

struct rule_ctx {
    int seen[S_COUNT];              /* line of each statement, 0 = not yet */
    int seen_for[RULE_FOR_COUNT];
    int last;                       /* S_WHEN or S_CLEAR if the last line was one, else -1 */
    bool last_failed;
    bool open_or[2];
    int parts[2];
};

static void free_rule(struct rule *r)
{
    free_cond(r->when);
    free_cond(r->clear);
    for (size_t k = 0; k < r->scope.n_townships; k++)
        free(r->scope.townships[k]);
    for (size_t k = 0; k < r->scope.n_villages; k++)
        free(r->scope.villages[k]);
}

/* A string token decoded into out (at least MAX_STRING + 1 bytes). */
static size_t str_decode(const struct tok *t, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 1; i + 1 < t->n; i++) {
        char c = t->s[i];
        if (c == '\\' && i + 2 < t->n) {
            c = t->s[++i];
            if (c == 'n')
                c = '\n';
        }
        if (o + 1 < cap)
            out[o++] = c;
    }
    out[o] = '\0';
    return o;
}

static int parse_string(struct parser *p, char *out, size_t cap, const char *what,
                        const char *noun)
{
    if (p->tok.t != T_STRING)
        return expected(p, what);
    char buf[MAX_STRING + 1];
    size_t n = str_decode(&p->tok, buf, sizeof buf);
    if (n >= cap) {
        perr(p, p->tok.line, p->tok.col, "%s too long: %zu bytes, at most %zu", noun, n, cap - 1);
        return -1;
    }
    memcpy(out, buf, n + 1);
    next(p);
    return 0;
}

static bool list_more(struct parser *p)
{
    if (!at_punct(p, ","))
        return false;
    next(p);
    return true;
}

static int list_full(struct parser *p, size_t n, const char *what)
{
    if (n < RULE_MAX_LIST)
        return 0;
    perr(p, p->tok.line, p->tok.col, "too many %s (at most %d)", what, RULE_MAX_LIST);
    return -1;
}

static int parse_places(struct parser *p, char **items, size_t *n, const char *what)
{
    do {
        char buf[MAX_STRING + 1];
        struct tok t = p->tok;
        if (list_full(p, *n, what) < 0 ||
            parse_string(p, buf, sizeof buf, "a place name in \"...\"", "place name") < 0)
            return -1;
        if (!buf[0]) {
            perr(p, t.line, t.col, "empty place name");
            return -1;
        }
        items[*n] = strdup(buf);
        if (!items[*n]) {
            no_memory(p);
            return -1;
        }
        (*n)++;
    } while (list_more(p));
    return 0;
}

static int parse_scope(struct parser *p, struct rule *r, struct rule_ctx *x, const struct tok *kw)
{
    int k = word_index(p, for_words, NELEM(for_words));
    if (k < 0)
        return expected_s(p, "elders, risk, township, village or devices after \"for\"", for_words,
                          NELEM(for_words));
    if (x->seen_for[k]) {
        perr(p, kw->line, kw->col,
             "duplicate \"for %s\" in rule \"%s\" (first on line %d): list the alternatives on "
             "one line",
             for_words[k], r->name, x->seen_for[k]);
        return -2;
    }
    x->seen_for[k] = kw->line;
    r->for_pos[k] = (struct rule_pos){kw->line, kw->col};
    r->scope.given |= (uint8_t)(1u << k);
    next(p);
    struct rule_scope *sc = &r->scope;
    char w[64];
    switch ((enum rule_for)k) {
    case RULE_FOR_ELDERS:
        do {
            int bit =
                tok_text(&p->tok, w, sizeof w) && p->tok.t == T_WORD ? reg_category_parse(w) : -1;
            if (bit < 0)
                return expected_s(p,
                                  "a category (living_alone, empty_nest, left_behind, disabled, "
                                  "severely_disabled, family_planning_special)",
                                  category_words, NELEM(category_words));
            sc->categories |= (uint16_t)bit;
            next(p);
        } while (list_more(p));
        return 0;
    case RULE_FOR_RISK:
        do {
            int i = word_index(p, risk_words, NELEM(risk_words));
            if (i < 0)
                return expected_s(p, "a risk level (low, medium, high)", risk_words,
                                  NELEM(risk_words));
            sc->risks |= (uint8_t)(1u << i);
            next(p);
        } while (list_more(p));
        return 0;
    case RULE_FOR_TOWNSHIP:
        return parse_places(p, sc->townships, &sc->n_townships, "townships");
    case RULE_FOR_VILLAGE:
        return parse_places(p, sc->villages, &sc->n_villages, "villages");
    case RULE_FOR_DEVICES:
        do {
            if (list_full(p, sc->n_device_kinds, "device kinds") < 0)
                return -1;
            if (!valid_name(&p->tok, RULE_NAME_MAX))
                return expected(p, "a device kind (a-z, 0-9, _) like water_meter");
            tok_text(&p->tok, sc->device_kinds[sc->n_device_kinds++], RULE_NAME_MAX + 1);
            next(p);
        } while (list_more(p));
        return 0;
    case RULE_FOR_COUNT:
        break;
    }
    return -1;
}

static int parse_time(struct parser *p, int *min)
{
    const struct tok *t = &p->tok;
    size_t i = 0;
    int h = 0, m = 0;
    if (t->t == T_NUM) {
        for (; i < t->n && i < 2 && is_digit(t->s[i]); i++)
            h = h * 10 + (t->s[i] - '0');
        if (i > 0 && i + 3 == t->n && t->s[i] == ':' && is_digit(t->s[i + 1]) &&
            is_digit(t->s[i + 2])) {
            m = (t->s[i + 1] - '0') * 10 + (t->s[i + 2] - '0');
            if (m < 60 && (h < 24 || (h == 24 && m == 0))) {
                *min = h * 60 + m;
                next(p);
                return 0;
            }
        }
    }
    return expected(p, "a time from 00:00 to 24:00 like 22:00");
}

static int parse_during(struct parser *p, struct rule *r)
{
    r->during_pos = (struct rule_pos){p->tok.line, p->tok.col};
    int from, to;
    if (parse_time(p, &from) < 0)
        return -1;
    if (!at_punct(p, "-"))
        return expected(p, "\"-\" between the times, as in 22:00-06:00");
    next(p);
    if (parse_time(p, &to) < 0)
        return -1;
    r->scope.has_time_of_day = true;
    r->scope.tod_from_min = from % 1440;    /* 24:00 as a start is midnight */
    r->scope.tod_to_min = to;
    return 0;
}

static int parse_days(struct parser *p, struct rule *r)
{
    static const char what[] = "a day (mon, tue, wed, thu, fri, sat, sun), weekdays, weekends "
                               "or every day";
    uint8_t days = 0;
    if (at_word(p, "every")) {
        next(p);
        if (expect_word(p, "day", "\"day\" after \"every\"") < 0)
            return -1;
        r->scope.days = 0x7F;
        return 0;
    }
    do {
        int a = word_index(p, day_words, 9);
        if (a < 0)
            return expected_s(p, what, day_words, NELEM(day_words));
        next(p);
        if (a == 7) {
            days |= 0x1F;
        } else if (a == 8) {
            days |= 0x60;
        } else if (at_punct(p, "-")) {
            next(p);
            int b = word_index(p, day_words, 7);
            if (b < 0)
                return expected_s(p, "a day (mon, tue, wed, thu, fri, sat, sun) to end the range",
                                  day_words, 7);
            next(p);
            for (int d = a;; d = (d + 1) % 7) {   /* fri-mon wraps over the weekend */
                days |= (uint8_t)(1u << d);
                if (d == b)
                    break;
            }
        } else {
            days |= (uint8_t)(1u << a);
        }
    } while (list_more(p));
    r->scope.days = days;
    return 0;
}

static int parse_name(struct parser *p, char *out, const char *what)
{
    if (!valid_name(&p->tok, RULE_NAME_MAX))
        return expected(p, what);
    tok_text(&p->tok, out, RULE_NAME_MAX + 1);
    next(p);
    return 0;
}

static const char rule_name_expect[] =
    "a rule name (a-z, 0-9 and _, starting with a letter, at most 32)";
static const char chain_name_expect[] =
    "a chain name (a-z, 0-9 and _, starting with a letter, at most 32)";

/* One statement of a rule. Returns 0, -1 after a syntax error (the rule is
 * incomplete), -2 after an error that leaves the rule whole. */
static int parse_rule_stmt(struct parser *p, struct rule *r, struct rule_ctx *x)
{
    struct tok kw = p->tok;
    int last = x->last;
    x->last = -1;
    if (at_word(p, "and") || at_word(p, "or")) {
        if (last < 0) {
            perr(p, kw.line, kw.col,
                 "\"%.*s\" continues a condition, but the line before is not \"when\" or "
                 "\"clear when\"", (int)kw.n, kw.s);
            return -1;
        }
        x->last = last;
        if (x->last_failed)
            return -2;      /* the line it continues was wrong: said already */
        int i = last == S_WHEN ? 0 : 1;
        int rc = parse_cond_line(p, last == S_WHEN ? &r->when : &r->clear, &x->open_or[i],
                                 &x->parts[i]);
        x->last_failed = rc < 0;
        return rc;
    }
    int s = p->tok.t == T_WORD ? word_index(p, stmt_words, S_COUNT) : -1;
    if (s < 0) {
        char w[64], b[64];
        const char *sg = p->tok.t == T_WORD && tok_text(&p->tok, w, sizeof w)
                             ? suggest(w, stmt_words, S_COUNT) : NULL;
        if (p->tok.t == T_ERROR)
            return -1;
        if (p->tok.t != T_WORD)
            perr(p, kw.line, kw.col,
                 "expected a statement (title, when, clear when, for, during, "
                 "on, severity, chain, message, suppressed by), found %s",
                 describe(&kw, b, sizeof b));
        else if (sg)
            perr(p, kw.line, kw.col, "unknown statement %s in rule; did you mean \"%s\"?",
                 describe(&kw, b, sizeof b), sg);
        else
            perr(p, kw.line, kw.col, "unknown statement %s in rule; expected title, when, "
                 "clear when, for, during, on, severity, chain, message or suppressed by",
                 describe(&kw, b, sizeof b));
        return -1;
    }
    if (s == S_WHEN || s == S_CLEAR) {
        x->last = s;                /* and/or lines after a wrong one are skipped quietly */
        x->last_failed = true;
    }
    if (s != S_FOR && x->seen[s]) {
        perr(p, kw.line, kw.col, "duplicate \"%s\" in rule \"%s\" (first on line %d)",
             stmt_shown[s], r->name, x->seen[s]);
        return -2;
    }
    if (s != S_FOR)
        x->seen[s] = kw.line;
    next(p);
    switch ((enum stmt)s) {
    case S_TITLE:
        return parse_string(p, r->title, sizeof r->title, "a title in \"...\"", "title");
    case S_WHEN:
    case S_CLEAR: {
        if (s == S_CLEAR && expect_word(p, "when", "\"when\" after \"clear\"") < 0)
            return -1;
        int i = s == S_WHEN ? 0 : 1;
        int rc = parse_cond_line(p, s == S_WHEN ? &r->when : &r->clear, &x->open_or[i],
                                 &x->parts[i]);
        x->last_failed = rc < 0;
        return rc;
    }
    case S_FOR:
        return parse_scope(p, r, x, &kw);
    case S_DURING:
        return parse_during(p, r);
    case S_ON:
        r->days_pos = (struct rule_pos){kw.line, kw.col};
        return parse_days(p, r);
    case S_SEVERITY: {
        r->severity_pos = (struct rule_pos){kw.line, kw.col};
        int v = word_index(p, severity_words, NELEM(severity_words));
        if (v < 0) {
            r->severity_pos.line = 0;
            return expected_s(p, "a severity (low, medium, high, critical)", severity_words,
                              NELEM(severity_words));
        }
        r->severity = (enum rule_severity)v;
        next(p);
        return 0;
    }
    case S_CHAIN:
        r->chain_pos = (struct rule_pos){p->tok.line, p->tok.col};
        return parse_name(p, r->chain, chain_name_expect);
    case S_MESSAGE:
        r->message_pos = (struct rule_pos){p->tok.line, p->tok.col};
        return parse_string(p, r->sms_template, sizeof r->sms_template, "a message in \"...\"",
                            "message");
    case S_SUPPRESSED:
        if (expect_word(p, "by", "\"by\" after \"suppressed\"") < 0)
            return -1;
        do {
            if (list_full(p, r->n_suppressed_by, "rules after \"suppressed by\"") < 0)
                return -1;
            struct rule_pos pos = {p->tok.line, p->tok.col};
            if (parse_name(p, r->suppressed_by[r->n_suppressed_by], rule_name_expect) < 0)
                return -1;
            r->suppressed_pos[r->n_suppressed_by++] = pos;
        } while (list_more(p));
        return 0;
    case S_COUNT:
        break;
    }
    return -1;
}

/* After a block's last statement: a `rule`, `chain NAME {`, `metric` or
 * `device` line means the "}" was forgotten. */
static bool starts_toplevel(struct parser *p)
{
    if (at_word(p, "rule") || at_word(p, "metric") || at_word(p, "device"))
        return true;
    return at_word(p, "chain") && peek(p, 1)->t == T_WORD && tok_is(peek(p, 2), T_PUNCT, "{");
}

/* The opening of a block: NAME '{' NEWLINE. Returns false after an error
 * (the block is parsed all the same); *braced says whether a "{" came. */
static bool block_open(struct parser *p, char *name, int *line, int *col, const char *what,
                       bool *braced)
{
    bool ok = true;
    *braced = true;
    *line = p->tok.line;
    *col = p->tok.col;
    if (valid_name(&p->tok, RULE_NAME_MAX)) {
        tok_text(&p->tok, name, RULE_NAME_MAX + 1);
        next(p);
    } else {
        expected(p, what);
        ok = false;
        if (p->tok.t == T_WORD || p->tok.t == T_NUM || p->tok.t == T_ERROR)
            next(p);
    }
    if (at_punct(p, "{")) {
        next(p);
        if (end_line(p, "end of line after \"{\"") < 0) {
            ok = false;
            sync(p, true);
        }
    } else {
        if (ok)
            expected(p, "\"{\" after the name");
        ok = false;
        *braced = false;
        sync(p, true);
        if (at_punct(p, "{")) {     /* the brace on a line of its own */
            *braced = true;
            next(p);
            if (end_line(p, "end of line after \"{\"") < 0)
                sync(p, true);
        }
    }
    return ok;
}

/* The closing brace or what stands for it (end of file, the next block):
 * returns true when the block ends, *open if its "}" is missing. */
static bool block_end(struct parser *p, const char *kind, const char *name, int line, bool braced,
                      bool *open)
{
    if (at_punct(p, "}")) {
        next(p);
        if (end_line(p, "end of line after \"}\"") < 0)
            sync(p, false);
        return true;
    }
    if (p->tok.t == T_EOF) {
        *open = true;
        if (braced)
            perr(p, p->tok.line, p->tok.col,
                 "missing \"}\" at end of file: %s \"%s\" opened on line %d", kind, name, line);
        return true;
    }
    if (starts_toplevel(p)) {
        *open = true;
        if (braced)
            perr(p, p->tok.line, p->tok.col,
                 "missing \"}\": %s \"%s\" opened on line %d is not closed", kind, name, line);
        return true;
    }
    return false;
}

static void add_rule(struct parser *p, struct rule *r)
{
    struct rule_set *rs = p->rs;
    if (!r->name[0]) {
        free_rule(r);
        return;
    }
    if (rs->n_rules >= RULE_MAX_RULES) {
        perr(p, r->line, r->col, "too many rules (at most %d in all files)", RULE_MAX_RULES);
        free_rule(r);
        return;
    }
    if (rs->n_rules == rs->cap_rules) {
        size_t nc = rs->cap_rules ? rs->cap_rules * 2 : 16;
        struct rule *nr = realloc(rs->rules, nc * sizeof *nr);
        if (!nr) {
            free_rule(r);
            no_memory(p);
            return;
        }
        rs->rules = nr;
        rs->cap_rules = nc;
    }
    rs->rules[rs->n_rules++] = *r;
}

static void parse_rule(struct parser *p)
{
    int kw_line = p->tok.line;
    struct rule r;
    struct rule_ctx x;
    memset(&r, 0, sizeof r);
    memset(&x, 0, sizeof x);
    x.last = -1;
    snprintf(r.file, sizeof r.file, "%s", p->file);
    next(p);
    bool braced, open = false;
    if (!block_open(p, r.name, &r.line, &r.col, rule_name_expect, &braced))
        r.incomplete = true;
    r.line = kw_line;
    while (!p->stopped && !block_end(p, "rule", r.name, kw_line, braced, &open)) {
        if (p->tok.t == T_NL) {
            next(p);
            continue;
        }
        int rc = parse_rule_stmt(p, &r, &x);
        if (rc == 0 && end_line(p, "end of line") < 0)
            rc = -2;            /* the statement itself was whole */
        if (rc < 0) {
            if (rc == -1)
                r.incomplete = true;
            sync(p, true);
        }
    }
    if (open || p->stopped)
        r.incomplete = true;    /* its end is unknown */
    add_rule(p, &r);
}

/* ---- chains ------------------------------------------------------------- */

static int parse_step(struct parser *p, struct rule_chain *c, int line)
{
    struct rule_step st;
    memset(&st, 0, sizeof st);
    st.line = line;
    if (parse_dur(p, &st.at_ms, NULL) < 0 ||
        expect_word(p, "notify", "\"notify\" after the time") < 0)
        return -1;
    st.col = p->tok.col;
    int role = -1;
    char w[64];
    if (at_word(p, "priority")) {
        next(p);
        st.target = RULE_TARGET_PRIORITY;
        double v = 0;
        int k = p->tok.t == T_NUM ? num_prefix(p->tok.s, p->tok.n, &v) : 0;
        if (k <= 0 || (size_t)k != p->tok.n || v != floor(v) || v > 1000000)
            return expected(p, "a priority number like 1");
        st.priority = (int)v;
        next(p);
    } else if (at_word(p, "console")) {
        st.target = RULE_TARGET_CONSOLE;
        next(p);
    } else if (at_word(p, "maintainer")) {
        st.target = RULE_TARGET_MAINTAINER;
        next(p);
    } else if (p->tok.t == T_WORD && tok_text(&p->tok, w, sizeof w) &&
               (role = reg_role_parse(w)) >= 0) {
        st.target = RULE_TARGET_ROLE;
        st.role = role;
        next(p);
    } else {
        return expected_s(p, "whom to notify (priority N, family, neighbor, grid_worker, doctor, "
                          "community, volunteer, call_center, console or maintainer)",
                          target_words, NELEM(target_words));
    }
    if (at_word(p, "by")) {
        next(p);
        do {
            int ch = word_index(p, channel_words, NELEM(channel_words));
            if (ch < 0)
                return expected_s(p, "a channel (sms, voice)", channel_words,
                                  NELEM(channel_words));
            st.channels |= ch == 0 ? RULE_CH_SMS : RULE_CH_VOICE;
            next(p);
        } while (list_more(p));
    }
    if (c->n_steps >= MAX_STEPS) {
        perr(p, line, 1, "too many steps in chain \"%s\" (at most %d)", c->name, MAX_STEPS);
        return -1;
    }
    if ((c->n_steps & (c->n_steps - 1)) == 0) {     /* full at 0, 1, 2, 4, ... */
        size_t nc = c->n_steps ? c->n_steps * 2 : 1;
        struct rule_step *ns = realloc(c->steps, nc * sizeof *ns);
        if (!ns) {
            no_memory(p);
            return -1;
        }
        c->steps = ns;
    }
    c->steps[c->n_steps++] = st;
    return 0;
}

static int parse_chain_stmt(struct parser *p, struct rule_chain *c, int seen[2])
{
    struct tok kw = p->tok;
    int s = p->tok.t == T_WORD ? word_index(p, chain_words, NELEM(chain_words)) : -1;
    char b[64], w[64];
    if (s < 0) {
        if (p->tok.t == T_ERROR)
            return -1;
        const char *sg = p->tok.t == T_WORD && tok_text(&p->tok, w, sizeof w)
                             ? suggest(w, chain_words, NELEM(chain_words)) : NULL;
        if (p->tok.t == T_WORD && sg)
            perr(p, kw.line, kw.col, "unknown statement %s in chain; did you mean \"%s\"?",
                 describe(&kw, b, sizeof b), sg);
        else
            perr(p, kw.line, kw.col, "unknown statement %s in chain; expected at, repeat every "
                 "or ack timeout", describe(&kw, b, sizeof b));
        return -1;
    }
    next(p);
    if (s == 0)
        return parse_step(p, c, kw.line);
    if (seen[s - 1]) {
        perr(p, kw.line, kw.col, "duplicate \"%s\" in chain \"%s\" (first on line %d)",
             s == 1 ? "repeat every" : "ack timeout", c->name, seen[s - 1]);
        return -1;
    }
    seen[s - 1] = kw.line;
    int64_t ms;
    struct rule_pos pos;
    if (s == 1) {
        if (expect_word(p, "every", "\"every\" after \"repeat\"") < 0 ||
            parse_dur(p, &ms, &pos) < 0)
            return -1;
        if (at_word(p, "until")) {
            next(p);
            if (expect_word(p, "acknowledged", "\"acknowledged\" after \"until\"") < 0)
                return -1;
        }
        if (ms == 0) {
            perr(p, pos.line, pos.col, "\"repeat every 0s\" would call without a pause");
            return -1;
        }
        c->repeat_ms = ms;
    } else {
        if (expect_word(p, "timeout", "\"timeout\" after \"ack\"") < 0 ||
            parse_dur(p, &ms, &pos) < 0)
            return -1;
        if (ms == 0) {
            perr(p, pos.line, pos.col, "an ack timeout must be longer than 0s");
            return -1;
        }
        c->ack_timeout_ms = ms;
    }
    return 0;
}

static void parse_chain(struct parser *p)
{
    int kw_line = p->tok.line;
    struct rule_chain c;
    int seen[2] = {0, 0};
    memset(&c, 0, sizeof c);
    snprintf(c.file, sizeof c.file, "%s", p->file);
    next(p);
    bool braced, open = false;
    block_open(p, c.name, &c.line, &c.col, chain_name_expect, &braced);
    c.line = kw_line;
    while (!p->stopped && !block_end(p, "chain", c.name, kw_line, braced, &open)) {
        if (p->tok.t == T_NL) {
            next(p);
            continue;
        }
        int rc = parse_chain_stmt(p, &c, seen);
        if (rc == 0)
            rc = end_line(p, "end of line");
        if (rc < 0)
            sync(p, true);
    }
    struct rule_set *rs = p->rs;
    if (!c.name[0]) {
        free(c.steps);
        return;
    }
    if (rs->n_chains >= RULE_MAX_RULES) {
        perr(p, c.line, c.col, "too many chains (at most %d in all files)", RULE_MAX_RULES);
        free(c.steps);
        return;
    }
    if (rs->n_chains == rs->cap_chains) {
        size_t nc = rs->cap_chains ? rs->cap_chains * 2 : 8;
        struct rule_chain *n = realloc(rs->chains, nc * sizeof *n);
        if (!n) {
            free(c.steps);
            no_memory(p);
            return;
        }
        rs->chains = n;
        rs->cap_chains = nc;
    }
    rs->chains[rs->n_chains++] = c;
}

/* ---- declarations ----------------------------------------------------- */

/* metric METRIC (number|bool) [unit UNIT] */
static int parse_metric_decl(struct parser *p)
{
    struct rule_metric m;
    memset(&m, 0, sizeof m);
    next(p);
    struct tok name = p->tok;
    if (p->tok.t != T_WORD || !valid_metric(p->tok.s, p->tok.n))
        return expected(p, "a metric name like co2.ppm (a-z, 0-9, _ and dots, at most 32)");
    tok_text(&p->tok, m.name, sizeof m.name);
    next(p);
    if (at_word(p, "number"))
        m.type = RULE_METRIC_NUMBER;
    else if (at_word(p, "bool"))
        m.type = RULE_METRIC_BOOL;
    else
        return expected_s(p, "number or bool", (const char *const[]){"number", "bool"}, 2);
    next(p);
    if (at_word(p, "unit")) {
        struct tok ut;
        next(p);
        ut = p->tok;
        if ((p->tok.t != T_WORD && !at_punct(p, "%")) || !is_unit(p->tok.s, p->tok.n))
            return expected(p, "a unit like ppm or %");
        if (m.type == RULE_METRIC_BOOL) {
            perr(p, ut.line, ut.col, "a yes/no metric has no unit");
            return -1;
        }
        if (set_unit(p, &ut, ut.s, ut.n, m.unit) < 0)
            return -1;
        next(p);
    }
    struct rule_set *rs = p->rs;
    const struct rule_metric *old = rule_find_metric(rs, m.name);
    if (old) {
        if (old->type == m.type && strcmp(old->unit, m.unit) == 0)
            return 0;   /* the same again: files may each declare what they use */
        perr(p, name.line, name.col, "metric \"%s\" is already known as a %s%s%s%s", m.name,
             old->type == RULE_METRIC_BOOL ? "yes/no metric" : "number",
             old->unit[0] ? " in " : "", old->unit, old->unit[0] ? "" : " without a unit");
        return -2;
    }
    if (rs->n_metrics >= RULE_MAX_RULES) {
        perr(p, name.line, name.col, "too many metrics (at most %d)", RULE_MAX_RULES);
        return -2;
    }
    if (rs->n_metrics == rs->cap_metrics) {
        size_t nc = rs->cap_metrics ? rs->cap_metrics * 2 : 16;
        struct rule_metric *n = realloc(rs->metrics, nc * sizeof *n);
        if (!n) {
            no_memory(p);
            return -1;
        }
        rs->metrics = n;
        rs->cap_metrics = nc;
    }
    rs->metrics[rs->n_metrics++] = m;
    return 0;
}

static bool same_kind(const struct rule_device_kind *a, const struct rule_device_kind *b)
{
    if (a->heartbeat_ms != b->heartbeat_ms || a->n_reports != b->n_reports)
        return false;
    for (size_t i = 0; i < a->n_reports; i++)
        if (strcmp(a->reports[i], b->reports[i]) != 0)
            return false;
    return true;
}

/* device KIND heartbeat DURATION [reports METRIC {, METRIC}] */
static int parse_device_decl(struct parser *p)
{
    struct rule_device_kind k;
    memset(&k, 0, sizeof k);
    snprintf(k.file, sizeof k.file, "%s", p->file);
    next(p);
    struct tok name = p->tok;
    if (parse_name(p, k.name, "a device kind (a-z, 0-9 and _, at most 32) like water_meter") < 0 ||
        expect_word(p, "heartbeat", "\"heartbeat\" and its usual interval") < 0)
        return -1;
    struct rule_pos hp;
    if (parse_dur(p, &k.heartbeat_ms, &hp) < 0)
        return -1;
    if (k.heartbeat_ms == 0) {
        perr(p, hp.line, hp.col, "a heartbeat must be longer than 0s");
        return -1;
    }
    if (at_word(p, "reports")) {
        next(p);
        do {
            if (list_full(p, k.n_reports, "metrics after \"reports\"") < 0)
                return -1;
            if (p->tok.t != T_WORD || !valid_metric(p->tok.s, p->tok.n))
                return expected(p, "a metric name like water.flow_l");
            k.report_pos[k.n_reports] = (struct rule_pos){p->tok.line, p->tok.col};
            tok_text(&p->tok, k.reports[k.n_reports++], TLM_MAX_NAME + 1);
            next(p);
        } while (list_more(p));
    }
    struct rule_set *rs = p->rs;
    for (size_t i = 0; i < rs->n_kinds; i++) {
        if (strcmp(rs->kinds[i].name, k.name) == 0) {
            if (same_kind(&rs->kinds[i], &k))
                return 0;
            perr(p, name.line, name.col,
                 "device kind \"%s\" is already declared differently in %s", k.name,
                 rs->kinds[i].file);
            return -2;
        }
    }
    if (rs->n_kinds >= RULE_MAX_RULES) {
        perr(p, name.line, name.col, "too many device kinds (at most %d)", RULE_MAX_RULES);
        return -2;
    }
    if (rs->n_kinds == rs->cap_kinds) {
        size_t nc = rs->cap_kinds ? rs->cap_kinds * 2 : 8;
        struct rule_device_kind *n = realloc(rs->kinds, nc * sizeof *n);
        if (!n) {
            no_memory(p);
            return -1;
        }
        rs->kinds = n;
        rs->cap_kinds = nc;
    }
    rs->kinds[rs->n_kinds++] = k;
    return 0;
}

/* ---- the file ----------------------------------------------------------- */

/* After a wrong line at the top level: if it opened a block ("rulle x {"),
 * skips the block too, or each of its lines would be one more error. */
static void skip_unknown(struct parser *p)
{
    bool opened = false;
    p->paren = 0;
    while (!at_eol(p)) {
        opened = at_punct(p, "{");
        next(p);
    }
    if (p->tok.t == T_NL)
        next(p);
    while (opened && p->tok.t != T_EOF && !starts_toplevel(p)) {
        if (at_punct(p, "}")) {
            next(p);
            sync(p, false);
            return;
        }
        sync(p, false);
    }
}

int rule_parse(struct rule_set *rs, const char *file, const char *text, size_t len,
               struct rule_diags *d)
{
    struct parser p;
    memset(&p, 0, sizeof p);
    p.rs = rs;
    p.d = d;
    p.file = file ? file : "";
    p.s = text ? text : "";
    p.len = text ? len : 0;
    p.line = 1;
    p.col = 1;
    if (p.len > MAX_FILE) {
        if (rule_diag_add(d, p.file, 0, 0, false, "file too large: %zu bytes, at most %u", p.len,
                          MAX_FILE))
            return ANX_ENOMEM;
        return ANX_EPARSE;
    }
    /* A UTF-8 byte order mark is not text. */
    if (p.len >= 3 && memcmp(p.s, "\xEF\xBB\xBF", 3) == 0)
        p.pos = 3;
    next(&p);
    while (!p.stopped && p.tok.t != T_EOF) {
        if (p.tok.t == T_NL) {
            next(&p);
            continue;
        }
        int rc = 0;
        if (at_word(&p, "rule")) {
            parse_rule(&p);
            continue;
        } else if (at_word(&p, "chain")) {
            parse_chain(&p);
            continue;
        } else if (at_word(&p, "metric")) {
            rc = parse_metric_decl(&p);
        } else if (at_word(&p, "device")) {
            rc = parse_device_decl(&p);
        } else if (at_punct(&p, "}")) {
            perr(&p, p.tok.line, p.tok.col, "unexpected \"}\": no rule or chain is open");
            rc = -1;
        } else {
            rc = expected_s(&p, "\"rule\", \"chain\", \"metric\" or \"device\"", top_words,
                            NELEM(top_words));
        }
        if (rc == 0)
            rc = end_line(&p, "end of line");
        if (rc < 0)
            skip_unknown(&p);
    }
    if (p.nomem)
        return ANX_ENOMEM;
    return p.errors ? ANX_EPARSE : 0;
}
