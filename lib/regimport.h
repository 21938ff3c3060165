/* regimport.h - parsing and validation of registry import files (the 摸底排查
 * results, contract v1 "Registry import"), as JSON or as CSV from a
 * spreadsheet. docs/registry-import.md describes both formats for the staff
 * who write them.
 *
 * Pure: the caller reads the file and hands over its text; nothing here
 * touches the database. A file is accepted whole or not at all: parsing goes
 * on after the first problem so that every problem is reported in one pass,
 * each located by a JSON path ("elders[3].contacts[0].phone: ...") or by CSV
 * line and column ("line 5: contact1_phone: ..."). Messages never repeat a
 * phone number or a person's name from the file.
 *
 * daemon/ctl_import.c loads a valid document into the database; the
 * canonical JSON form (regimp_to_json) shows exactly what was understood. */
#ifndef ANXIN_REGIMPORT_H
#define ANXIN_REGIMPORT_H

#include <stdbool.h>
#include <stddef.h>

#define REGIMP_MAX_CONTACTS 20      /* per elder */
#define REGIMP_MAX_DEVICES 50       /* per elder */
#define REGIMP_MAX_PARAMS 64        /* per care plan */
#define REGIMP_KEEP_ERRORS 1000     /* messages kept; the rest are only counted */

/* Category bits, in the order of the contract (and of regimp_category_name). */
enum regimp_category {
    REGIMP_CAT_LIVING_ALONE = 1 << 0,
    REGIMP_CAT_EMPTY_NEST = 1 << 1,
    REGIMP_CAT_LEFT_BEHIND = 1 << 2,
    REGIMP_CAT_DISABLED = 1 << 3,
    REGIMP_CAT_SEVERELY_DISABLED = 1 << 4,
    REGIMP_CAT_FAMILY_PLANNING_SPECIAL = 1 << 5,
};
#define REGIMP_N_CATEGORIES 6

#define REGIMP_CH_SMS 1u
#define REGIMP_CH_VOICE 2u

enum regimp_format { REGIMP_JSON, REGIMP_CSV };

struct regimp_param {
    char *name;                 /* "hr.max" */
    double value;
};

struct regimp_care_plan {
    int visit_every_days;       /* 1..366, 0 = not given */
    const char *risk;           /* "low", "medium" (the default) or "high"; static */
    char *chain;                /* NULL = not given */
    struct regimp_param *params;
    size_t n_params;
};

struct regimp_contact {
    char *name;
    char *phone;                /* E.164, "+8613800000001" */
    const char *role;           /* one of the contract's roles; static */
    int priority;               /* 1..9, 1 is called first */
    unsigned channels;          /* REGIMP_CH_* bits, never 0 (default sms) */
    int slot;                   /* JSON: index in contacts; CSV: N of contactN_ */
};

struct regimp_device {
    char *id;
    char *kind;
    int heartbeat_s;            /* 1..604800, default 300 */
    int slot;                   /* JSON: index in devices; CSV: N of deviceN_ */
};

struct regimp_elder {
    char *id;
    char *name;
    int birth_year;             /* 0 = not given */
    unsigned categories;        /* enum regimp_category bits */
    bool consent;
    char *address, *township, *village, *grid;     /* NULL = not given */
    bool has_care_plan;         /* false: the stored care plan is left alone */
    struct regimp_care_plan care_plan;
    bool has_contacts;          /* false: the stored contacts are left alone */
    struct regimp_contact *contacts;
    size_t n_contacts;
    bool has_devices;           /* false: the stored devices are left alone */
    struct regimp_device *devices;
    size_t n_devices;
    int line;                   /* CSV: the line its row starts on; JSON: 0 */
};

struct regimp_arena;

struct regimp_doc {
    enum regimp_format format;
    struct regimp_elder *elders;
    size_t n_elders;
    size_t n_without_consent;
    struct regimp_arena *arena; /* owns every string and array above */
};

/* Every problem found in one file. Zero-initialise; free with
 * regimp_errors_free. Each message is "<where>: <what>" without the file
 * name, which the caller prefixes. */
struct regimp_errors {
    size_t count;               /* problems found */
    size_t n_kept;              /* messages in msgs: min(count, REGIMP_KEEP_ERRORS) */
    char **msgs;
    bool oom;                   /* a message could not be stored */
};

/* Parses and validates a JSON document {"elders": [...]}. `text` need not be
 * NUL-terminated; a UTF-8 byte order mark is skipped. Returns 0 and *out
 * (free with regimp_doc_free), ANX_EINVAL when the file has problems (all of
 * them in errs, *out NULL), or ANX_ENOMEM. */
int regimp_parse_json(const char *text, size_t len, struct regimp_doc **out,
                      struct regimp_errors *errs);

/* The same for CSV (UTF-8, optional BOM, RFC 4180 quoting, a header row, one
 * elder per row; see docs/registry-import.md for the columns). */
int regimp_parse_csv(const char *text, size_t len, struct regimp_doc **out,
                     struct regimp_errors *errs);

/* Picks the format from the file name: ".csv" (any case) is CSV, anything
 * else JSON. */
int regimp_parse(const char *filename, const char *text, size_t len,
                 struct regimp_doc **out, struct regimp_errors *errs);

/* The document in canonical JSON, itself a valid import file:
 * {"elders": [...]} with every member the upsert needs, categories and
 * channels in contract order, risk and params always in a care plan, phone
 * numbers normalised, optional members left out when not given, and
 * "care_plan"/"contacts"/"devices" present only when the file gave them.
 * Returns a malloc'd string (caller frees) or NULL when out of memory. */
char *regimp_to_json(const struct regimp_doc *doc);

void regimp_doc_free(struct regimp_doc *doc);

struct registry;

/* Puts every elder of the document into an in-memory registry (registry.h),
 * as the daemon would hold them after the import; contact ids are the
 * contacts' positions (1, 2, ...). For tools that run rules without a
 * database (test-rules, replay). Returns 0 or ANX_ENOMEM. */
int regimp_to_registry(const struct regimp_doc *doc, struct registry *reg);
void regimp_errors_free(struct regimp_errors *errs);

/* Contract names: category bit index 0..5, and channel bits. */
const char *regimp_category_name(int index);

/* Returns true if s is an E.164 number: '+', a non-zero digit, 6 to 14 more
 * digits. */
bool regimp_is_e164(const char *s);

#endif
