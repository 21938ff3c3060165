/* test_regimport.c - registry import parsing and validation (lib/regimport):
 * JSON and CSV, every validation message with its exact location, and the
 * shipped example files. Run from the repository root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "regimport.h"

/* JSON is written with ' for " to keep the tests readable. */
static char *dq(const char *s)
{
    char *r = strdup(s);
    assert_non_null(r);
    for (char *p = r; *p; p++)
        if (*p == '\'')
            *p = '"';
    return r;
}

static void dump_errors(const struct regimp_errors *e)
{
    for (size_t i = 0; i < e->n_kept; i++)
        print_message("  got: %s\n", e->msgs[i]);
}

static struct regimp_doc *parse_ok(enum regimp_format fmt, const char *text)
{
    struct regimp_doc *doc = NULL;
    struct regimp_errors errs = {0};
    int rc = fmt == REGIMP_JSON ? regimp_parse_json(text, strlen(text), &doc, &errs)
                                : regimp_parse_csv(text, strlen(text), &doc, &errs);
    if (rc != 0)
        dump_errors(&errs);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.count, 0);
    assert_non_null(doc);
    regimp_errors_free(&errs);
    return doc;
}

static struct regimp_doc *json_ok(const char *sq)
{
    char *t = dq(sq);
    struct regimp_doc *doc = parse_ok(REGIMP_JSON, t);
    free(t);
    return doc;
}

static void check_errors(enum regimp_format fmt, const char *text, size_t len,
                         const char *const *want, size_t n)
{
    struct regimp_doc *doc = (struct regimp_doc *)1;
    struct regimp_errors errs = {0};
    int rc = fmt == REGIMP_JSON ? regimp_parse_json(text, len, &doc, &errs)
                                : regimp_parse_csv(text, len, &doc, &errs);
    bool same = rc == ANX_EINVAL && errs.count == n && errs.n_kept == n;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(errs.msgs[i], want[i]) == 0;
    if (!same) {
        for (size_t i = 0; i < n; i++)
            print_message("  want: %s\n", want[i]);
        dump_errors(&errs);
    }
    assert_int_equal(rc, ANX_EINVAL);
    assert_null(doc);
    assert_true(same);
    regimp_errors_free(&errs);
}

#define JSON_ERRS(sq, ...) do { \
        const char *want_[] = {__VA_ARGS__}; \
        char *t_ = dq(sq); \
        check_errors(REGIMP_JSON, t_, strlen(t_), want_, sizeof want_ / sizeof want_[0]); \
        free(t_); \
    } while (0)

#define CSV_ERRS(text, ...) do { \
        const char *want_[] = {__VA_ARGS__}; \
        check_errors(REGIMP_CSV, text, strlen(text), want_, sizeof want_ / sizeof want_[0]); \
    } while (0)

/* One elder with the required members plus `extra` (starting with a comma). */
#define ONE(extra) "{'elders': [{'id': 'E1', 'name': '王秀英', 'consent': true" extra "}]}"
#define CONTACT(extra) "{'name': '李明', 'phone': '+8613800000001', 'role': 'family', " \
                       "'priority': 1" extra "}"
#define DEVICE(id) "{'id': '" id "', 'kind': 'sos_button'}"

static const char CATS[] = "living_alone, empty_nest, left_behind, disabled, severely_disabled "
                           "or family_planning_special";
static const char ROLES[] = "family, neighbor, grid_worker, doctor, community, volunteer or "
                            "call_center";

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ---- JSON: accepted documents --------------------------------------------- */

static void test_json_minimal(void **state)
{
    (void)state;
    struct regimp_doc *doc = json_ok(ONE(""));
    assert_int_equal(doc->format, REGIMP_JSON);
    assert_int_equal(doc->n_elders, 1);
    const struct regimp_elder *e = &doc->elders[0];
    assert_string_equal(e->id, "E1");
    assert_string_equal(e->name, "王秀英");
    assert_true(e->consent);
    assert_int_equal(e->birth_year, 0);
    assert_int_equal(e->categories, 0);
    assert_null(e->address);
    assert_null(e->grid);
    assert_false(e->has_care_plan);
    assert_false(e->has_contacts);
    assert_false(e->has_devices);
    assert_int_equal(doc->n_without_consent, 0);
    regimp_doc_free(doc);
}

static void test_json_full(void **state)
{
    (void)state;
    struct regimp_doc *doc = json_ok(
        "{'elders': [{'id': 'E0001', 'name': '王秀英', 'birth_year': 1941,"
        " 'categories': ['disabled', 'living_alone'], 'consent': false,"
        " 'address': '东关村三组12号', 'township': '城关镇', 'village': '东关村', 'grid': 'G-03',"
        " 'care_plan': {'visit_every_days': 30, 'risk': 'high', 'chain': 'emergency',"
        "               'params': {'hr.max': 120, 'hr.min': 40.5}},"
        " 'contacts': [{'name': '李明', 'phone': '+86 138-0000-0001', 'role': 'family',"
        "               'priority': 1, 'channels': ['voice', 'sms']},"
        "              {'name': '张桂兰', 'phone': '+8613800000002', 'role': 'neighbor',"
        "               'priority': 2}],"
        " 'devices': [{'id': 'SOS-0001', 'kind': 'sos_button', 'heartbeat_s': 300},"
        "             {'id': 'WM-0001', 'kind': 'water_meter'}]}]}");
    const struct regimp_elder *e = &doc->elders[0];
    assert_int_equal(e->birth_year, 1941);
    assert_int_equal(e->categories, REGIMP_CAT_LIVING_ALONE | REGIMP_CAT_DISABLED);
    assert_false(e->consent);
    assert_int_equal(doc->n_without_consent, 1);
    assert_string_equal(e->address, "东关村三组12号");
    assert_string_equal(e->township, "城关镇");
    assert_string_equal(e->village, "东关村");
    assert_string_equal(e->grid, "G-03");
    assert_true(e->has_care_plan);
    assert_int_equal(e->care_plan.visit_every_days, 30);
    assert_string_equal(e->care_plan.risk, "high");
    assert_string_equal(e->care_plan.chain, "emergency");
    assert_int_equal(e->care_plan.n_params, 2);
    assert_string_equal(e->care_plan.params[0].name, "hr.max");
    assert_true(e->care_plan.params[0].value == 120.0);
    assert_true(e->care_plan.params[1].value == 40.5);
    assert_true(e->has_contacts);
    assert_int_equal(e->n_contacts, 2);
    assert_string_equal(e->contacts[0].phone, "+8613800000001");   /* spaces, hyphens dropped */
    assert_string_equal(e->contacts[0].role, "family");
    assert_int_equal(e->contacts[0].channels, REGIMP_CH_SMS | REGIMP_CH_VOICE);
    assert_int_equal(e->contacts[1].priority, 2);
    assert_int_equal(e->contacts[1].channels, REGIMP_CH_SMS);        /* default */
    assert_true(e->has_devices);
    assert_int_equal(e->n_devices, 2);
    assert_string_equal(e->devices[0].id, "SOS-0001");
    assert_int_equal(e->devices[0].heartbeat_s, 300);
    assert_string_equal(e->devices[1].kind, "water_meter");
    assert_int_equal(e->devices[1].heartbeat_s, 300);                /* default */

    char *json = regimp_to_json(doc);
    assert_non_null(json);
    char *want = dq(
        "{'elders':[{'id':'E0001','name':'王秀英','birth_year':1941,"
        "'categories':['living_alone','disabled'],'consent':false,"
        "'address':'东关村三组12号','township':'城关镇','village':'东关村','grid':'G-03',"
        "'care_plan':{'visit_every_days':30,'risk':'high','chain':'emergency',"
        "'params':{'hr.max':120,'hr.min':40.5}},"
        "'contacts':[{'name':'李明','phone':'+8613800000001','role':'family','priority':1,"
        "'channels':['sms','voice']},{'name':'张桂兰','phone':'+8613800000002',"
        "'role':'neighbor','priority':2,'channels':['sms']}],"
        "'devices':[{'id':'SOS-0001','kind':'sos_button','heartbeat_s':300},"
        "{'id':'WM-0001','kind':'water_meter','heartbeat_s':300}]}]}");
    assert_string_equal(json, want);
    free(want);
    free(json);
    regimp_doc_free(doc);
}

static void test_json_null_and_empty_mean_absent(void **state)
{
    (void)state;
    struct regimp_doc *doc = json_ok(ONE(", 'birth_year': null, 'address': '', 'grid': null,"
                                         " 'care_plan': null, 'contacts': null, 'devices': []"));
    const struct regimp_elder *e = &doc->elders[0];
    assert_int_equal(e->birth_year, 0);
    assert_null(e->address);
    assert_null(e->grid);
    assert_false(e->has_care_plan);
    assert_false(e->has_contacts);            /* null: leave the stored contacts alone */
    assert_true(e->has_devices);              /* []: the elder has no devices any more */
    assert_int_equal(e->n_devices, 0);
    regimp_doc_free(doc);
}

static void test_json_care_plan_defaults(void **state)
{
    (void)state;
    struct regimp_doc *doc = json_ok(ONE(", 'care_plan': {}"));
    const struct regimp_elder *e = &doc->elders[0];
    assert_true(e->has_care_plan);
    assert_int_equal(e->care_plan.visit_every_days, 0);
    assert_string_equal(e->care_plan.risk, "medium");
    assert_null(e->care_plan.chain);
    assert_int_equal(e->care_plan.n_params, 0);
    char *json = regimp_to_json(doc);
    assert_non_null(strstr(json, "\"care_plan\":{\"risk\":\"medium\",\"params\":{}}"));
    free(json);
    regimp_doc_free(doc);
}

static void test_json_bom_and_empty_list(void **state)
{
    (void)state;
    struct regimp_doc *doc = parse_ok(REGIMP_JSON, "\xef\xbb\xbf{\"elders\": []}\n");
    assert_int_equal(doc->n_elders, 0);
    regimp_doc_free(doc);
}

static void test_json_round_trip(void **state)
{
    (void)state;
    size_t len;
    char *text = read_text("conf/examples/registry.json", &len);
    struct regimp_doc *doc = parse_ok(REGIMP_JSON, text);
    char *once = regimp_to_json(doc);
    struct regimp_doc *again = parse_ok(REGIMP_JSON, once);
    char *twice = regimp_to_json(again);
    assert_string_equal(once, twice);
    free(once);
    free(twice);
    free(text);
    regimp_doc_free(doc);
    regimp_doc_free(again);
}

/* ---- JSON: every problem, with its path ----------------------------------- */

static void test_json_syntax(void **state)
{
    (void)state;
    JSON_ERRS("{'elders': [\n  {'id': 'E1',, }\n]}",
              "line 2, column 16: not valid JSON");
    JSON_ERRS("id,name,consent\nE1,x,true\n",
              "line 1, column 1: not valid JSON (a JSON file starts with {; a spreadsheet "
              "file needs a name ending in .csv)");
    JSON_ERRS("{'elders': []} x", "line 1, column 16: not valid JSON (text after the document)");
    JSON_ERRS("[]", "expected a JSON object {\"elders\": [...]}");
    JSON_ERRS("{}", "elders: required (a list of elders)");
    JSON_ERRS("{'elders': {}}", "elders: expected a list of elders");
    JSON_ERRS("{'elders': [], 'version': 1}",
              "version: unknown member (the document has elders)");
    JSON_ERRS("{'elders': [1]}", "elders[0]: expected an object");
}

static void test_json_encoding(void **state)
{
    (void)state;
    const char utf16[] = "\xff\xfe{\0}\0";
    const char *w1[] = {"the file is UTF-16; save it as UTF-8"};
    check_errors(REGIMP_JSON, utf16, sizeof utf16 - 1, w1, 1);
    const char gbk[] = "{\"elders\": [\n{\"id\": \"E1\", \"name\": \"\xcd\xf5\"}]}";
    const char *w2[] = {"line 2: not valid UTF-8"};
    check_errors(REGIMP_JSON, gbk, sizeof gbk - 1, w2, 1);
    const char nul[] = "{\"elders\": []}\n\0";
    const char *w3[] = {"line 2: contains a NUL byte (is this a text file?)"};
    check_errors(REGIMP_JSON, nul, sizeof nul - 1, w3, 1);
}

static void test_json_members(void **state)
{
    (void)state;
    JSON_ERRS(ONE(", 'nmae': 'x'"),
              "elders[0].nmae: unknown member (an elder has id, name, birth_year, categories, "
              "consent, address, township, village, grid, care_plan, contacts or devices)");
    JSON_ERRS(ONE(", 'name': 'again'"), "elders[0].name: given twice");
    JSON_ERRS(ONE(", 'care_plan': {'visits': 3}"),
              "elders[0].care_plan.visits: unknown member (a care plan has visit_every_days, "
              "risk, chain or params)");
    JSON_ERRS(ONE(", 'contacts': [" CONTACT(", 'email': 'a@b'") "]"),
              "elders[0].contacts[0].email: unknown member (a contact has name, phone, role, "
              "priority or channels)");
    JSON_ERRS(ONE(", 'devices': [{'id': 'D1', 'kind': 'sos_button', 'model': 'x'}]"),
              "elders[0].devices[0].model: unknown member (a device has id, kind or "
              "heartbeat_s)");
}

static void test_json_elder_fields(void **state)
{
    (void)state;
    JSON_ERRS("{'elders': [{'name': 'x', 'consent': true}]}", "elders[0].id: required");
    JSON_ERRS("{'elders': [{'id': 'E 1', 'name': 'x', 'consent': true}]}",
              "elders[0].id: expected 1 to 64 characters from A-Z a-z 0-9 _ . : -");
    JSON_ERRS("{'elders': [{'id': 7, 'name': 'x', 'consent': true}]}",
              "elders[0].id: expected a string");
    JSON_ERRS("{'elders': [{'id': 'E1', 'consent': true}]}", "elders[0].name: required");
    JSON_ERRS("{'elders': [{'id': 'E1', 'name': '  ', 'consent': true}]}",
              "elders[0].name: must not be blank");
    JSON_ERRS("{'elders': [{'id': 'E1', 'name': 'a\\nb', 'consent': true}]}",
              "elders[0].name: must not contain line breaks or control characters");
    JSON_ERRS("{'elders': [{'id': 'E1', 'name': 'x'}]}",
              "elders[0].consent: required (true or false)");
    JSON_ERRS(ONE(", 'consent': 'yes'"), "elders[0].consent: given twice");
    JSON_ERRS("{'elders': [{'id': 'E1', 'name': 'x', 'consent': 'yes'}]}",
              "elders[0].consent: expected true or false");
    JSON_ERRS(ONE(", 'birth_year': 1879"),
              "elders[0].birth_year: expected a year between 1880 and 2100");
    JSON_ERRS(ONE(", 'birth_year': 1941.5"),
              "elders[0].birth_year: expected a year between 1880 and 2100");
    JSON_ERRS(ONE(", 'birth_year': '1941'"),
              "elders[0].birth_year: expected a year between 1880 and 2100");
    JSON_ERRS(ONE(", 'categories': 'disabled'"),
              "elders[0].categories: expected a list of categories");
    char want[300];
    snprintf(want, sizeof want, "elders[0].categories[1]: unknown category \"alone\" "
             "(expected %s)", CATS);
    JSON_ERRS(ONE(", 'categories': ['disabled', 'alone', 3, 'disabled']"), want,
              "elders[0].categories[2]: expected a category name",
              "elders[0].categories[3]: category \"disabled\" listed twice");
    JSON_ERRS(ONE(", 'township': 5"), "elders[0].township: expected a string");
}

static void test_json_lengths(void **state)
{
    (void)state;
    /* 100 characters (not bytes) is the limit of a name. */
    char name[512] = "";
    for (int i = 0; i < 100; i++)
        strcat(name, "王");
    char doc[1024];
    snprintf(doc, sizeof doc, "{'elders': [{'id': 'E1', 'name': '%s', 'consent': true}]}", name);
    regimp_doc_free(json_ok(doc));
    strcat(name, "王");
    snprintf(doc, sizeof doc, "{'elders': [{'id': 'E1', 'name': '%s', 'consent': true}]}", name);
    JSON_ERRS(doc, "elders[0].name: too long: at most 100 characters");

    char id[80];
    memset(id, 'a', 64);
    id[64] = '\0';
    snprintf(doc, sizeof doc, "{'elders': [{'id': '%s', 'name': 'x', 'consent': true}]}", id);
    regimp_doc_free(json_ok(doc));
    strcat(id, "a");
    snprintf(doc, sizeof doc, "{'elders': [{'id': '%s', 'name': 'x', 'consent': true}]}", id);
    JSON_ERRS(doc, "elders[0].id: expected 1 to 64 characters from A-Z a-z 0-9 _ . : -");

    char addr[300];
    memset(addr, 'x', 201);
    addr[201] = '\0';
    snprintf(doc, sizeof doc, ONE(", 'address': '%s'"), addr);
    JSON_ERRS(doc, "elders[0].address: too long: at most 200 characters");
    /* An address may have line breaks (a multi-line spreadsheet cell). */
    regimp_doc_free(json_ok(ONE(", 'address': '三组\\n12号'")));
}

static void test_json_care_plan_errors(void **state)
{
    (void)state;
    JSON_ERRS(ONE(", 'care_plan': []"), "elders[0].care_plan: expected an object");
    JSON_ERRS(ONE(", 'care_plan': {'visit_every_days': 0}"),
              "elders[0].care_plan.visit_every_days: expected a whole number of days between "
              "1 and 366");
    JSON_ERRS(ONE(", 'care_plan': {'visit_every_days': 367}"),
              "elders[0].care_plan.visit_every_days: expected a whole number of days between "
              "1 and 366");
    JSON_ERRS(ONE(", 'care_plan': {'risk': 'extreme'}"),
              "elders[0].care_plan.risk: unknown risk \"extreme\" (expected low, medium or high)");
    JSON_ERRS(ONE(", 'care_plan': {'chain': 'Emergency'}"),
              "elders[0].care_plan.chain: expected a chain name: a lowercase letter, then up "
              "to 31 lowercase letters, digits or _");
    JSON_ERRS(ONE(", 'care_plan': {'params': [1]}"),
              "elders[0].care_plan.params: expected an object of parameter names and numbers");
    JSON_ERRS(ONE(", 'care_plan': {'params': {'hr.max': '120', 'HR': 1, 'hr.min': true}}"),
              "elders[0].care_plan.params[\"hr.max\"]: expected a number",
              "elders[0].care_plan.params: \"HR\": expected a parameter name like hr.max "
              "(lowercase letters, digits, _ and .)",
              "elders[0].care_plan.params[\"hr.min\"]: expected a number");
}

static void test_json_contact_errors(void **state)
{
    (void)state;
    JSON_ERRS(ONE(", 'contacts': {}"), "elders[0].contacts: expected a list of contacts");
    JSON_ERRS(ONE(", 'contacts': ['x']"), "elders[0].contacts[0]: expected an object");
    JSON_ERRS(ONE(", 'contacts': [{}]"),
              "elders[0].contacts[0].name: required",
              "elders[0].contacts[0].phone: required",
              "elders[0].contacts[0].role: required",
              "elders[0].contacts[0].priority: required");
    /* The number is never repeated in the message. */
    JSON_ERRS(ONE(", 'contacts': [" CONTACT("") ", {'name': 'x', 'phone': '13800000001',"
                  " 'role': 'family', 'priority': 1}]"),
              "elders[0].contacts[1].phone: expected an E.164 number like +8613800000001");
    JSON_ERRS(ONE(", 'contacts': [{'name': 'x', 'phone': '+0123456789', 'role': 'family',"
                  " 'priority': 1}]"),
              "elders[0].contacts[0].phone: expected an E.164 number like +8613800000001");
    JSON_ERRS(ONE(", 'contacts': [{'name': 'x', 'phone': '+8613800000001234', 'role': 'family',"
                  " 'priority': 1}]"),
              "elders[0].contacts[0].phone: expected an E.164 number like +8613800000001");
    char want[300];
    snprintf(want, sizeof want, "elders[0].contacts[0].role: unknown role \"son\" (expected %s)",
             ROLES);
    JSON_ERRS(ONE(", 'contacts': [{'name': 'x', 'phone': '+8613800000001', 'role': 'son',"
                  " 'priority': 1}]"), want);
    JSON_ERRS(ONE(", 'contacts': [{'name': 'x', 'phone': '+8613800000001', 'role': 'family',"
                  " 'priority': 0}]"),
              "elders[0].contacts[0].priority: expected a whole number from 1 (called first) "
              "to 9");
    JSON_ERRS(ONE(", 'contacts': [{'name': 'x', 'phone': '+8613800000001', 'role': 'family',"
                  " 'priority': 10}]"),
              "elders[0].contacts[0].priority: expected a whole number from 1 (called first) "
              "to 9");
    JSON_ERRS(ONE(", 'contacts': [" CONTACT(", 'channels': []") "]"),
              "elders[0].contacts[0].channels: expected a non-empty list of \"sms\" and "
              "\"voice\"");
    JSON_ERRS(ONE(", 'contacts': [" CONTACT(", 'channels': ['sms', 'wechat', 'sms', 1]") "]"),
              "elders[0].contacts[0].channels[1]: unknown channel \"wechat\" (expected sms or "
              "voice)",
              "elders[0].contacts[0].channels[2]: channel \"sms\" listed twice",
              "elders[0].contacts[0].channels[3]: expected \"sms\" or \"voice\"");
    JSON_ERRS(ONE(", 'contacts': [" CONTACT("") ", " CONTACT("") "]"),
              "elders[0].contacts[1].phone: the same number as contacts[0]");
}

static void test_json_too_many(void **state)
{
    (void)state;
    char doc[16384];
    size_t o = (size_t)snprintf(doc, sizeof doc, "{'elders': [{'id': 'E1', 'name': 'x', "
                                "'consent': true, 'contacts': [");
    for (int i = 0; i < 21; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "%s{'name': 'x', 'phone': "
                              "'+86138000000%02d', 'role': 'family', 'priority': 1}",
                              i ? ", " : "", i);
    o += (size_t)snprintf(doc + o, sizeof doc - o, "], 'devices': [");
    for (int i = 0; i < 51; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "%s{'id': 'D%d', 'kind': 'k'}",
                              i ? ", " : "", i);
    snprintf(doc + o, sizeof doc - o, "]}]}");
    JSON_ERRS(doc, "elders[0].contacts: at most 20 contacts per elder",
              "elders[0].devices: at most 50 devices per elder");
}

static void test_json_device_errors(void **state)
{
    (void)state;
    JSON_ERRS(ONE(", 'devices': 'SOS-1'"), "elders[0].devices: expected a list of devices");
    JSON_ERRS(ONE(", 'devices': [{}]"),
              "elders[0].devices[0].id: required", "elders[0].devices[0].kind: required");
    JSON_ERRS(ONE(", 'devices': [{'id': 'SOS 1', 'kind': 'SOS'}]"),
              "elders[0].devices[0].id: expected 1 to 64 characters from A-Z a-z 0-9 _ . : -",
              "elders[0].devices[0].kind: expected a device kind: a lowercase letter, then up "
              "to 31 lowercase letters, digits or _");
    JSON_ERRS(ONE(", 'devices': [{'id': 'D1', 'kind': 'k', 'heartbeat_s': 0}]"),
              "elders[0].devices[0].heartbeat_s: expected a whole number of seconds between 1 "
              "and 604800 (7 days)");
    JSON_ERRS(ONE(", 'devices': [{'id': 'D1', 'kind': 'k', 'heartbeat_s': 604801}]"),
              "elders[0].devices[0].heartbeat_s: expected a whole number of seconds between 1 "
              "and 604800 (7 days)");
    JSON_ERRS(ONE(", 'devices': [" DEVICE("D1") ", " DEVICE("D1") "]"),
              "elders[0].devices[1].id: device \"D1\" is listed twice (also "
              "elders[0].devices[0])");
}

static void test_json_cross_record(void **state)
{
    (void)state;
    JSON_ERRS("{'elders': ["
              "{'id': 'E1', 'name': 'a', 'consent': true, 'devices': [" DEVICE("SOS-1") "]},"
              "{'id': 'E2', 'name': 'b', 'consent': true},"
              "{'id': 'E1', 'name': 'c', 'consent': true},"
              "{'id': 'E3', 'name': 'd', 'consent': true, 'devices': [" DEVICE("D9") ", "
              DEVICE("SOS-1") "]}]}",
              "elders[2].id: elder \"E1\" is listed twice (also elders[0])",
              "elders[3].devices[1].id: device \"SOS-1\" is listed twice (also "
              "elders[0].devices[0])");
}

/* All problems in one pass, in file order. */
static void test_json_many_errors(void **state)
{
    (void)state;
    JSON_ERRS("{'elders': ["
              "{'id': 'E1', 'name': 'a', 'consent': true},"
              "{'id': 'E2', 'name': 'b', 'consent': true, 'birth_year': 3000,"
              " 'contacts': [{'name': 'x', 'phone': '+8613800000001', 'role': 'family',"
              "               'priority': 1},"
              "              {'name': 'y', 'phone': '12345', 'role': 'family', 'priority': 1}]},"
              "{'id': 'E3', 'name': 'c'},"
              "{'id': 'E4', 'name': 'd', 'consent': true, 'care_plan': {'risk': 'x'}}]}",
              "elders[1].birth_year: expected a year between 1880 and 2100",
              "elders[1].contacts[1].phone: expected an E.164 number like +8613800000001",
              "elders[2].consent: required (true or false)",
              "elders[3].care_plan.risk: unknown risk \"x\" (expected low, medium or high)");
}

static void test_error_cap(void **state)
{
    (void)state;
    size_t n = REGIMP_KEEP_ERRORS + 200;
    size_t cap = n * 48 + 64, o = 0;
    char *doc = malloc(cap);
    assert_non_null(doc);
    o += (size_t)snprintf(doc + o, cap - o, "{\"elders\": [");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(doc + o, cap - o, "%s{\"id\": \"E%zu\", \"name\": \"x\"}",
                              i ? "," : "", i);
    snprintf(doc + o, cap - o, "]}");
    struct regimp_doc *d = NULL;
    struct regimp_errors errs = {0};
    assert_int_equal(regimp_parse_json(doc, strlen(doc), &d, &errs), ANX_EINVAL);
    assert_int_equal(errs.count, n);
    assert_int_equal(errs.n_kept, REGIMP_KEEP_ERRORS);
    assert_string_equal(errs.msgs[0], "elders[0].consent: required (true or false)");
    regimp_errors_free(&errs);
    free(doc);
}

/* ---- CSV ------------------------------------------------------------------ */

#define HDR "id,name,consent"

static void test_csv_minimal(void **state)
{
    (void)state;
    struct regimp_doc *doc = parse_ok(REGIMP_CSV, HDR "\nE1,王秀英,是\nE2,赵德厚,false\n");
    assert_int_equal(doc->format, REGIMP_CSV);
    assert_int_equal(doc->n_elders, 2);
    assert_string_equal(doc->elders[0].id, "E1");
    assert_true(doc->elders[0].consent);
    assert_int_equal(doc->elders[0].line, 2);
    assert_false(doc->elders[1].consent);
    assert_int_equal(doc->elders[1].line, 3);
    assert_false(doc->elders[0].has_care_plan);    /* no care plan columns */
    assert_false(doc->elders[0].has_contacts);
    assert_false(doc->elders[0].has_devices);
    assert_int_equal(doc->n_without_consent, 1);
    regimp_doc_free(doc);
}

static void test_csv_bom_crlf_blank_rows(void **state)
{
    (void)state;
    /* Excel: BOM, CRLF, trailing empty rows of commas; also a blank line. */
    struct regimp_doc *doc = parse_ok(REGIMP_CSV, "\xef\xbb\xbf" " ID , Name ,CONSENT\r\n"
                                      "E1,a,yes\r\n\r\n,,\r\nE2,b,0\r\n,,\r\n");
    assert_int_equal(doc->n_elders, 2);
    assert_string_equal(doc->elders[0].id, "E1");
    assert_int_equal(doc->elders[1].line, 5);
    regimp_doc_free(doc);
    /* Old Mac line ends, no final line end. */
    doc = parse_ok(REGIMP_CSV, HDR "\rE1,a,1\rE2,b,no");
    assert_int_equal(doc->n_elders, 2);
    assert_int_equal(doc->elders[1].line, 3);
    regimp_doc_free(doc);
}

static void test_csv_quoting(void **state)
{
    (void)state;
    struct regimp_doc *doc = parse_ok(REGIMP_CSV,
        "id,name,consent,address\n"
        "E1,\"Wang, Xiuying\",true,\"三组\n12号 \"\"老屋\"\"\"\n"
        "\"E2\",\"b\",true,\"\"\n");
    assert_int_equal(doc->n_elders, 1 + 1);
    assert_string_equal(doc->elders[0].name, "Wang, Xiuying");
    assert_string_equal(doc->elders[0].address, "三组\n12号 \"老屋\"");
    /* The quoted cell spans lines 2-3, so the next row starts on line 4. */
    assert_int_equal(doc->elders[1].line, 4);
    regimp_doc_free(doc);
    CSV_ERRS("id,name,consent,address\nE1,a,true,b\nE2,b,true,\"三组\n12号\n",
             "line 3: a quoted cell is not closed (a \" is missing)");
    CSV_ERRS(HDR "\nE1,\"a\"b,true\n",
             "line 2: text after a closing quote in cell 2 (write \"\" for a quote inside a "
             "quoted cell)");
}

static void test_csv_header_errors(void **state)
{
    (void)state;
    CSV_ERRS("", "the file is empty (expected a header row: id,name,consent,...)");
    CSV_ERRS("\n\n", "the file is empty (expected a header row: id,name,consent,...)");
    CSV_ERRS("id;name;consent\nE1;a;1\n", "line 1: the columns must be separated by commas");
    CSV_ERRS("id,name,consent,phone,name,contact1_phnoe,device0_id\nE1,a,1,,,,\n",
             "line 1: unknown column \"phone\"",
             "line 1: column \"name\" appears twice",
             "line 1: unknown column \"contact1_phnoe\"",
             "line 1: unknown column \"device0_id\"");
    CSV_ERRS("E0001,王秀英,1941,+8613800000001\n",
             "line 1: the first row is not a header: it must name the columns (id,name,"
             "consent,...; see docs/registry-import.md)");
    CSV_ERRS("id,name,consent,联系人\n",
             "line 1: column 4: unknown column name");
    CSV_ERRS("\n\nid,consent,contact2_name,contact2_channels,device1_kind\n",
             "line 3: missing column \"name\"",
             "line 3: missing column \"contact2_phone\"",
             "line 3: missing column \"contact2_role\"",
             "line 3: missing column \"contact2_priority\"",
             "line 3: missing column \"device1_id\"");
    CSV_ERRS("id,name,consent,contact21_name\n",
             "line 1: missing column \"contact21_phone\"",
             "line 1: missing column \"contact21_role\"",
             "line 1: missing column \"contact21_priority\"");
}

static void test_csv_elder_fields(void **state)
{
    (void)state;
    struct regimp_doc *doc = parse_ok(REGIMP_CSV,
        "id,name,birth_year,categories,consent,address,township,village,grid\n"
        " E1 ,王秀英,1941.0,独居；disabled; Empty_Nest ;,同意,,城关镇,东关村,G-03\n"
        "E2,b,,,N,,,,\n");
    const struct regimp_elder *e = &doc->elders[0];
    assert_string_equal(e->id, "E1");
    assert_int_equal(e->birth_year, 1941);
    assert_int_equal(e->categories,
                     REGIMP_CAT_LIVING_ALONE | REGIMP_CAT_DISABLED | REGIMP_CAT_EMPTY_NEST);
    assert_true(e->consent);
    assert_null(e->address);
    assert_string_equal(e->township, "城关镇");
    assert_int_equal(doc->elders[1].birth_year, 0);
    assert_int_equal(doc->elders[1].categories, 0);
    assert_false(doc->elders[1].consent);
    regimp_doc_free(doc);

    static const char *const yes[] = {"true", "TRUE", "yes", "1", "是", "y"};
    static const char *const no[] = {"false", "No", "0", "否", "不同意"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, HDR "\nE1,a,%s\n", yes[i]);
        doc = parse_ok(REGIMP_CSV, text);
        assert_true(doc->elders[0].consent);
        regimp_doc_free(doc);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, HDR "\nE1,a,%s\n", no[i]);
        doc = parse_ok(REGIMP_CSV, text);
        assert_false(doc->elders[0].consent);
        regimp_doc_free(doc);
    }

    char want[300], want941[300];
    /* Not a word: not repeated (it could be a name from a shifted column). */
    snprintf(want, sizeof want, "line 2: categories: unknown category (expected %s)", CATS);
    snprintf(want941, sizeof want941, "line 3: categories: unknown category (expected %s)",
             CATS);
    CSV_ERRS("id,name,birth_year,categories,consent\n"
             ",,1941,,\n"
             "E 2,a,1,941,disabled;孤寡;disabled,maybe\n",
             "line 2: id: required",
             "line 2: name: required",
             "line 2: consent: required (true/false, yes/no, 1/0 or 是/否)",
             "line 3: cell 6 has a value but the header has only 5 columns",
             "line 3: id: expected 1 to 64 characters from A-Z a-z 0-9 _ . : -",
             "line 3: birth_year: expected a year between 1880 and 2100",
             want941,
             "line 3: consent: expected true/false, yes/no, 1/0 or 是/否");
    CSV_ERRS("id,name,birth_year,categories,consent\n"
             "E1,a,1941,disabled;孤寡;disabled,true\n",
             want, "line 2: categories: category \"disabled\" listed twice");
    CSV_ERRS("id,name,consent,,grid\nE1,a,1,x,\n",
             "line 2: cell 4 has a value but its column has no name in the header");
    CSV_ERRS("id,name,consent\nE1,a,true\nE1,b,true\n",
             "line 3: id: elder E1 is listed twice (also line 2)");
    CSV_ERRS("id,name,consent\nE1,\"a\x01\",true\n",
             "line 2: name: must not contain line breaks or control characters");
}

static void test_csv_care_plan(void **state)
{
    (void)state;
    struct regimp_doc *doc = parse_ok(REGIMP_CSV,
        "id,name,consent,visit_every_days,risk,chain,params\n"
        "E1,a,1,30,高,emergency,hr.max=120; HR.min = 40.5 ；temp.c=-1e1\n"
        "E2,b,1,,,,\n");
    const struct regimp_care_plan *cp = &doc->elders[0].care_plan;
    assert_true(doc->elders[0].has_care_plan);
    assert_int_equal(cp->visit_every_days, 30);
    assert_string_equal(cp->risk, "high");
    assert_string_equal(cp->chain, "emergency");
    assert_int_equal(cp->n_params, 3);
    assert_string_equal(cp->params[1].name, "hr.min");
    assert_true(cp->params[1].value == 40.5);
    assert_true(cp->params[2].value == -10.0);
    /* A care plan column in the header: every row has a care plan, blank = defaults. */
    assert_true(doc->elders[1].has_care_plan);
    assert_string_equal(doc->elders[1].care_plan.risk, "medium");
    regimp_doc_free(doc);

    CSV_ERRS("id,name,consent,visit_every_days,risk,chain,params\n"
             "E1,a,1,0,urgent,Emergency Chain,hr.max;x=abc;x=1;x=2\n",
             "line 2: visit_every_days: expected a whole number of days between 1 and 366",
             "line 2: risk: unknown risk \"urgent\" (expected low, medium or high)",
             "line 2: chain: expected a chain name: a lowercase letter, then up to 31 "
             "lowercase letters, digits or _",
             "line 2: params: expected name=value pairs separated by ; (like hr.max=120)",
             "line 2: params: x: expected a number",
             "line 2: params: \"x\": given twice");
}

#define CHDR "id,name,consent,contact1_name,contact1_phone,contact1_role,contact1_priority," \
             "contact1_channels,contact2_name,contact2_phone,contact2_role,contact2_priority"

static void test_csv_contacts(void **state)
{
    (void)state;
    struct regimp_doc *doc = parse_ok(REGIMP_CSV,
        CHDR "\n"
        "E1,a,1,李明,+86 138 0000 0001,家属,1,短信;电话,张桂兰,+8613800000002,neighbor,2\n"
        "E2,b,1,,,,,,赵文华,+8613800000004,Family,1\n"
        "E3,c,1,,,,,,,,,\n");
    const struct regimp_elder *e = &doc->elders[0];
    assert_true(e->has_contacts);
    assert_int_equal(e->n_contacts, 2);
    assert_string_equal(e->contacts[0].phone, "+8613800000001");
    assert_string_equal(e->contacts[0].role, "family");
    assert_int_equal(e->contacts[0].channels, REGIMP_CH_SMS | REGIMP_CH_VOICE);
    assert_int_equal(e->contacts[1].channels, REGIMP_CH_SMS);       /* no channels column */
    /* An empty contact1 group is skipped; the elder's first contact is contact2. */
    assert_int_equal(doc->elders[1].n_contacts, 1);
    assert_int_equal(doc->elders[1].contacts[0].slot, 2);
    assert_string_equal(doc->elders[1].contacts[0].role, "family");
    /* Contact columns in the header: a row without contacts means none. */
    assert_true(doc->elders[2].has_contacts);
    assert_int_equal(doc->elders[2].n_contacts, 0);
    regimp_doc_free(doc);

    char want[300];
    snprintf(want, sizeof want, "line 2: contact1_role: unknown role \"son\" (expected %s)",
             ROLES);
    char want2[300];
    snprintf(want2, sizeof want2, "line 3: contact1_role: unknown role (expected %s)", ROLES);
    CSV_ERRS(CHDR "\nE1,a,1,李明,8.6138E+12,son,high,sms;fax,张桂兰,,,\n"
             "E2,b,1,李明,+8613800000001,+8613800000002,1,,,,,\n",
             "line 2: contact1_phone: expected an E.164 number like +8613800000001",
             want,
             "line 2: contact1_priority: expected a whole number from 1 (called first) to 9",
             "line 2: contact1_channels: unknown channel \"fax\" (expected sms or voice)",
             "line 2: contact2_phone: required",
             "line 2: contact2_role: required",
             "line 2: contact2_priority: required",
             want2);
    CSV_ERRS(CHDR "\nE1,a,1,李明,+8613800000001,family,1,;,x,+8613800000001,family,2\n",
             "line 2: contact1_channels: expected sms, voice or sms;voice",
             "line 2: contact2_phone: the same number as contact1_phone");
}

#define DHDR "id,name,consent,device1_id,device1_kind,device1_heartbeat_s,device2_id,device2_kind"

static void test_csv_devices(void **state)
{
    (void)state;
    struct regimp_doc *doc = parse_ok(REGIMP_CSV,
        DHDR "\nE1,a,1,SOS-0001,sos_button,300,WM-0001,water_meter\nE2,b,1,,,,HR-1,wearable\n");
    assert_int_equal(doc->elders[0].n_devices, 2);
    assert_int_equal(doc->elders[0].devices[1].heartbeat_s, 300);
    assert_int_equal(doc->elders[1].n_devices, 1);
    assert_string_equal(doc->elders[1].devices[0].id, "HR-1");
    regimp_doc_free(doc);

    CSV_ERRS(DHDR "\n"
             "E1,a,1,SOS-0001,sos_button,60s,,\n"
             "E2,b,1,,,,SOS-0001,Sos\n"
             "E3,c,1,,,30,,\n",
             "line 2: device1_heartbeat_s: expected a whole number of seconds between 1 and "
             "604800 (7 days)",
             "line 3: device2_kind: expected a device kind: a lowercase letter, then up to 31 "
             "lowercase letters, digits or _",
             "line 3: device2_id: device SOS-0001 is listed twice (also line 2, device1_id)",
             "line 4: device1_id: required",
             "line 4: device1_kind: required");
}

static void test_csv_encoding(void **state)
{
    (void)state;
    CSV_ERRS("id,name,consent\nE1,\xcd\xf5,1\n",
             "line 2: not valid UTF-8 (a spreadsheet saved as plain \"CSV\" is often GBK: save "
             "it as \"CSV UTF-8\")");
    const char utf16[] = "\xff\xfei\0d\0";
    const char *w[] = {"the file is UTF-16; save it as \"CSV UTF-8\" instead"};
    check_errors(REGIMP_CSV, utf16, sizeof utf16 - 1, w, 1);
    /* Overlong encodings and UTF-16 surrogates are not UTF-8 either. */
    CSV_ERRS(HDR "\nE1,\xc0\xaf,1\n",
             "line 2: not valid UTF-8 (a spreadsheet saved as plain \"CSV\" is often GBK: save "
             "it as \"CSV UTF-8\")");
    CSV_ERRS(HDR "\nE1,\xed\xa0\x80,1\n",
             "line 2: not valid UTF-8 (a spreadsheet saved as plain \"CSV\" is often GBK: save "
             "it as \"CSV UTF-8\")");
}

static void test_csv_header_only(void **state)
{
    (void)state;
    struct regimp_doc *doc = parse_ok(REGIMP_CSV, CHDR "\r\n");
    assert_int_equal(doc->n_elders, 0);
    regimp_doc_free(doc);
}

/* ---- both ----------------------------------------------------------------- */

static void test_parse_picks_format(void **state)
{
    (void)state;
    struct regimp_doc *doc = NULL;
    struct regimp_errors errs = {0};
    const char csv[] = HDR "\nE1,a,1\n";
    assert_int_equal(regimp_parse("registry.CSV", csv, strlen(csv), &doc, &errs), 0);
    assert_int_equal(doc->format, REGIMP_CSV);
    regimp_doc_free(doc);
    const char json[] = "{\"elders\": []}";
    assert_int_equal(regimp_parse("registry.csv.json", json, strlen(json), &doc, &errs), 0);
    assert_int_equal(doc->format, REGIMP_JSON);
    regimp_doc_free(doc);
    assert_int_equal(regimp_parse("csv", json, strlen(json), &doc, &errs), 0);
    regimp_doc_free(doc);
    regimp_errors_free(&errs);
}

static void test_e164(void **state)
{
    (void)state;
    assert_true(regimp_is_e164("+8613800000001"));
    assert_true(regimp_is_e164("+1234567"));
    assert_true(regimp_is_e164("+123456789012345"));
    assert_false(regimp_is_e164("+1234566789012345"));     /* 16 digits */
    assert_false(regimp_is_e164("+123456"));
    assert_false(regimp_is_e164("8613800000001"));
    assert_false(regimp_is_e164("+0613800000001"));
    assert_false(regimp_is_e164("+86 13800000001"));
    assert_false(regimp_is_e164(""));
}

/* The shipped examples: valid, the same registry in both formats, and what
 * the demo relies on (E0001 with SOS-0001 and two priority-1 SMS contacts). */
static void test_examples(void **state)
{
    (void)state;
    size_t jl, cl;
    char *jt = read_text("conf/examples/registry.json", &jl);
    char *ct = read_text("conf/examples/registry.csv", &cl);
    struct regimp_doc *j = parse_ok(REGIMP_JSON, jt);
    struct regimp_doc *c = parse_ok(REGIMP_CSV, ct);
    assert_int_equal(j->n_elders, 5);
    assert_int_equal(j->n_without_consent, 1);
    char *js = regimp_to_json(j), *cs = regimp_to_json(c);
    assert_string_equal(js, cs);

    const struct regimp_elder *e = &j->elders[0];
    assert_string_equal(e->id, "E0001");
    assert_true(e->consent);
    bool sos = false;
    for (size_t i = 0; i < e->n_devices; i++)
        sos |= strcmp(e->devices[i].id, "SOS-0001") == 0 &&
               strcmp(e->devices[i].kind, "sos_button") == 0;
    assert_true(sos);
    int p1_sms = 0;
    for (size_t i = 0; i < e->n_contacts; i++)
        p1_sms += e->contacts[i].priority == 1 && (e->contacts[i].channels & REGIMP_CH_SMS);
    assert_int_equal(p1_sms, 2);

    free(js);
    free(cs);
    free(jt);
    free(ct);
    regimp_doc_free(j);
    regimp_doc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_minimal),
        cmocka_unit_test(test_json_full),
        cmocka_unit_test(test_json_null_and_empty_mean_absent),
        cmocka_unit_test(test_json_care_plan_defaults),
        cmocka_unit_test(test_json_bom_and_empty_list),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_syntax),
        cmocka_unit_test(test_json_encoding),
        cmocka_unit_test(test_json_members),
        cmocka_unit_test(test_json_elder_fields),
        cmocka_unit_test(test_json_lengths),
        cmocka_unit_test(test_json_care_plan_errors),
        cmocka_unit_test(test_json_contact_errors),
        cmocka_unit_test(test_json_too_many),
        cmocka_unit_test(test_json_device_errors),
        cmocka_unit_test(test_json_cross_record),
        cmocka_unit_test(test_json_many_errors),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_csv_minimal),
        cmocka_unit_test(test_csv_bom_crlf_blank_rows),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_csv_header_errors),
        cmocka_unit_test(test_csv_elder_fields),
        cmocka_unit_test(test_csv_care_plan),
        cmocka_unit_test(test_csv_contacts),
        cmocka_unit_test(test_csv_devices),
        cmocka_unit_test(test_csv_encoding),
        cmocka_unit_test(test_csv_header_only),
        cmocka_unit_test(test_parse_picks_format),
        cmocka_unit_test(test_e164),
        cmocka_unit_test(test_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
