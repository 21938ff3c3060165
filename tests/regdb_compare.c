/* regdb_compare.c - test-only: loads the registry of a database both ways
 * anxind can (one JSON object per elder, regdb_select; the three plain
 * scans, regdb_scan_load) and compares the two field by field, and how
 * many elders each way left out. Used by tests/integration/
 * test_registry_load.py; exits 0 when both are the same, 1 when not (each
 * difference on stderr), 2 when a load failed.
 *
 *   regdb-compare CONNINFO [--dump]
 *
 * --dump prints the scanned registry on stdout, one line an elder, contact,
 * device, parameter and left-out reason, sorted, so a test can check the
 * values themselves (a mistake both ways share would pass the comparison). */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "regdb.h"
#include "registry.h"

struct reasons {
    char **v;
    size_t n;
};

static void add_reason(void *arg, const char *why)
{
    struct reasons *r = arg;
    char **nv = realloc(r->v, (r->n + 1) * sizeof *nv);
    if (!nv || !(nv[r->n] = strdup(why))) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    r->v = nv;
    r->n++;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int diffs;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void differ(const char *elder, const char *what)
{
    fprintf(stderr, "differs: elder %s: %s\n", elder, what);
    diffs++;
}

static int str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static void compare_elder(const struct registry *scan, const struct reg_elder *a,
                          const struct reg_elder *b)
{
    const char *id = a->id;
    if (!str_eq(a->name, b->name))
        differ(id, "name");
    if (!str_eq(a->township, b->township))
        differ(id, "township");
    if (!str_eq(a->village, b->village))
        differ(id, "village");
    if (!str_eq(a->grid, b->grid))
        differ(id, "grid");
    if (a->categories != b->categories)
        differ(id, "categories");
    if (a->consent != b->consent)
        differ(id, "consent");
    if (a->risk != b->risk)
        differ(id, "risk");
    if (!str_eq(a->chain, b->chain))
        differ(id, "chain");
    if (a->n_params != b->n_params) {
        differ(id, "number of params");
    } else {
        for (size_t i = 0; i < a->n_params; i++)
            if (!str_eq(a->params[i].name, b->params[i].name) ||
                memcmp(&a->params[i].value, &b->params[i].value, sizeof(double)) != 0)
                differ(id, "a param");
    }
    if (a->n_contacts != b->n_contacts) {
        differ(id, "number of contacts");
    } else {
        for (size_t i = 0; i < a->n_contacts; i++) {
            const struct reg_contact *x = &a->contacts[i], *y = &b->contacts[i];
            if (x->id != y->id || !str_eq(x->name, y->name) || !str_eq(x->phone, y->phone) ||
                x->role != y->role || x->priority != y->priority || x->channels != y->channels)
                differ(id, "a contact (or the contacts' order)");
        }
    }
    if (a->n_devices != b->n_devices) {
        differ(id, "number of devices");
        return;
    }
    for (size_t i = 0; i < a->n_devices; i++) {
        const struct reg_device *x = &a->devices[i], *y = &b->devices[i];
        if (!str_eq(x->id, y->id) || !str_eq(x->kind, y->kind) ||
            x->heartbeat_s != y->heartbeat_s || x->last_seen_ms != y->last_seen_ms ||
            x->last_seq != y->last_seq || x->has_seq != y->has_seq ||
            x->alarm_seq != y->alarm_seq || x->has_alarm_seq != y->has_alarm_seq ||
            x->seen_dirty != y->seen_dirty)
            differ(id, "a device (or the devices' order)");
        if (reg_kind_shared(x->kind) != reg_kind_shared(y->kind))
            differ(id, "a device kind shared one way, copied the other");
        if (y->elder != b || reg_find_device(scan, y->id) != y)
            differ(id, "a device not linked to its elder");
    }
}

static void dump(const struct registry *reg, const struct reasons *left_out)
{
    char **lines = NULL;
    size_t n = 0;
    size_t it = 0;
    void *v;
    char buf[1024];
#define LINE(...)                                                          \
    do {                                                                   \
        snprintf(buf, sizeof buf, __VA_ARGS__);                            \
        lines = realloc(lines, (n + 1) * sizeof *lines);                   \
        if (!lines || !(lines[n++] = strdup(buf)))                         \
            exit(2);                                                       \
    } while (0)
    while (strmap_next(&reg->elders, &it, NULL, &v)) {
        const struct reg_elder *e = v;
        LINE("elder %s name=%s township=%s village=%s grid=%s categories=%u consent=%d "
             "risk=%u chain=%s params=%zu contacts=%zu devices=%zu",
             e->id, e->name, e->township ? e->township : "(null)",
             e->village ? e->village : "(null)", e->grid ? e->grid : "(null)",
             (unsigned)e->categories, e->consent, (unsigned)e->risk,
             e->chain ? e->chain : "(null)", e->n_params, e->n_contacts, e->n_devices);
        for (size_t i = 0; i < e->n_params; i++)
            LINE("param %s %zu %s=%.17g", e->id, i, e->params[i].name, e->params[i].value);
        for (size_t i = 0; i < e->n_contacts; i++) {
            const struct reg_contact *c = &e->contacts[i];
            LINE("contact %s %zu id=%" PRId64 " name=%s phone=%s role=%s priority=%u "
                 "channels=%u",
                 e->id, i, c->id, c->name, c->phone, reg_role_name(c->role),
                 (unsigned)c->priority, (unsigned)c->channels);
        }
        for (size_t i = 0; i < e->n_devices; i++) {
            const struct reg_device *d = &e->devices[i];
            LINE("device %s %zu id=%s kind=%s shared=%d heartbeat_s=%u last_seen_ms=%" PRId64,
                 e->id, i, d->id, d->kind, reg_kind_shared(d->kind), (unsigned)d->heartbeat_s,
                 d->last_seen_ms);
        }
    }
    for (size_t i = 0; i < left_out->n; i++)
        LINE("left out: %s", left_out->v[i]);
#undef LINE
    qsort(lines, n, sizeof *lines, cmp_str);
    for (size_t i = 0; i < n; i++) {
        puts(lines[i]);
        free(lines[i]);
    }
    free(lines);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: regdb-compare CONNINFO [--dump]\n");
        return 2;
    }
    PGconn *db = PQconnectdb(argv[1]);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(db));
        return 2;
    }
    struct registry json = {0}, scan = {0};
    struct reasons json_out = {0}, scan_out = {0};

    double t0 = now_s();
    PGresult *r = PQexec(db, regdb_select);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "JSON load: %s", PQerrorMessage(db));
        return 2;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        char why[160];
        int rc = regdb_put_row(&json, PQgetvalue(r, i, 0), why, sizeof why);
        if (rc == ANX_EINVAL)
            add_reason(&json_out, why);
        else if (rc)
            return 2;
    }
    PQclear(r);

    double t1 = now_s();
    char err[256];
    size_t unmatched = 0;
    if (regdb_scan_load(db, &scan, add_reason, &scan_out, &unmatched, err, sizeof err) != 0) {
        fprintf(stderr, "scan load: %s\n", err);
        return 2;
    }
    double t2 = now_s();
    PQfinish(db);

    if (json.elders.len != scan.elders.len)
        differ("-", "number of elders");
    if (json.devices.len != scan.devices.len)
        differ("-", "number of devices");
    size_t it = 0, contacts = 0;
    const char *key;
    void *v;
    while (strmap_next(&json.elders, &it, &key, &v)) {
        const struct reg_elder *b = reg_find_elder(&scan, key);
        contacts += ((const struct reg_elder *)v)->n_contacts;
        if (!b)
            differ(key, "loaded by JSON only");
        else
            compare_elder(&scan, v, b);
    }
    /* The same elders are left out (the counts above, and each elder of
     * one is in the other); the reasons may be worded apart, as the JSON
     * path sees a whole object where the scans see a field. */
    if (json_out.n != scan_out.n)
        differ("-", "number of elders left out");
    if (unmatched)
        differ("-", "contact or device rows with no elder row");

    if (argc > 2 && strcmp(argv[2], "--dump") == 0)
        dump(&scan, &scan_out);
    fprintf(stderr, "%zu elders, %zu contacts, %zu devices, %zu left out: %s "
                    "(JSON %.2f s, scans %.2f s)\n",
            scan.elders.len, contacts, scan.devices.len, scan_out.n, diffs ? "DIFFERENT" : "same",
            t1 - t0, t2 - t1);
    for (size_t i = 0; i < json_out.n; i++)
        free(json_out.v[i]);
    for (size_t i = 0; i < scan_out.n; i++)
        free(scan_out.v[i]);
    free(json_out.v);
    free(scan_out.v);
    reg_clear(&json);
    reg_clear(&scan);
    return diffs ? 1 : 0;
}
