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
              "line 2, column 14: not valid JSON");
    JSON_ERRS("id,name,consent\nE1,x,true\n",
              "line 1, column 1: not valid JSON (a JSON file starts with {; a spreadsheet "
              "file needs a name ending in .csv)");
    JSON_ERRS("{'elders': []} x", "line 1, column 16: not valid JSON (text after the document)");
    JSON_ERRS("[]", "expected a JSON object {'elders': [...]}");
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

static void test_json_too_many_contacts(void **state)
{
    (void)state;
    char doc[8192] = ONE_PREFIX_PLACEHOLDER;
    (void)doc;
}
