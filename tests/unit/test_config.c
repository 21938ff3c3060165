/* test_config.c - unit tests for the configuration parser (lib/config.c):
 * every error class with its line number, defaults, quoting and comments,
 * durations and sizes, suggestions, warnings, and the shipped
 * conf/anxind.conf (read from the source tree; tests run from the repo root). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"

/* Building blocks of a valid file; each is two lines. */
#define MQTT_OK "[mqtt]\nurl = tcp://127.0.0.1:1883\n"
#define DB_OK "[database]\nconninfo = host=127.0.0.1 dbname=anxin\n"
#define PROV_OK "[provider \"console\"]\ntype = console\n"
#define BASE MQTT_OK DB_OK PROV_OK  /* six lines */

static int parse(const char *text, struct cfg **c, struct cfg_diags *d)
{
    return cfg_parse("t.conf", text, strlen(text), "/etc/anxin", "/var/lib/anxin", c, d);
}

static void dump(const struct cfg_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        print_message("  line %d %s: %s\n", d->items[i].line,
                      d->items[i].warning ? "warning" : "error", d->items[i].msg);
}

/* The diagnostic at `line` of that kind whose message contains needle. */
static const struct cfg_diag *find_diag(const struct cfg_diags *d, int line, bool warning,
                                        const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].line == line && d->items[i].warning == warning &&
            strstr(d->items[i].msg, needle))
            return &d->items[i];
    return NULL;
}

/* Parses text, expecting it to be accepted with no diagnostics at all. */
static struct cfg *parse_ok(const char *text)
{
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    int rc = parse(text, &c, &d);
    if (rc != 0 || d.n != 0)
        dump(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(d.n, 0);
    assert_non_null(c);
    cfg_diags_free(&d);
    return c;
}

/* Parses text, expecting exactly one error, at `line`, containing needle. */
static void expect_error(const char *text, int line, const char *needle)
{
    struct cfg *c = (struct cfg *)&c;
    struct cfg_diags d = {0};
    int rc = parse(text, &c, &d);
    const struct cfg_diag *hit = find_diag(&d, line, false, needle);
    if (d.n_errors != 1 || !hit) {
        print_message("want line %d: %s\n", line, needle);
        dump(&d);
    }
    assert_int_equal(rc, ANX_EPARSE);
    assert_null(c);
    assert_int_equal(d.n_errors, 1);
    assert_non_null(hit);
    cfg_diags_free(&d);
}

/* The same, with the whole message compared. */
static void expect_exact(const char *text, int line, const char *msg)
{
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    int rc = parse(text, &c, &d);
    if (d.n_errors != 1)
        dump(&d);
    assert_int_equal(rc, ANX_EPARSE);
    assert_int_equal(d.n_errors, 1);
    const struct cfg_diag *e = NULL;
    for (size_t i = 0; i < d.n; i++)
        if (!d.items[i].warning)
            e = &d.items[i];
    assert_non_null(e);
    assert_int_equal(e->line, line);
    assert_string_equal(e->msg, msg);
    cfg_diags_free(&d);
}

/* Parses text, expecting success with exactly one warning at `line`. */
static void expect_warning(const char *text, int line, const char *needle)
{
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    int rc = parse(text, &c, &d);
    const struct cfg_diag *hit = find_diag(&d, line, true, needle);
    if (rc != 0 || d.n != 1 || !hit)
        dump(&d);
    assert_int_equal(rc, 0);
    assert_non_null(c);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.n_errors, 0);
    assert_non_null(hit);
    cfg_free(c);
    cfg_diags_free(&d);
}

/* ---- defaults and a full file ----------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    struct cfg *c = parse_ok(BASE);
    assert_string_equal(c->file, "t.conf");
    assert_string_equal(c->node, "anxind");
    assert_string_equal(c->log_level, "info");
    assert_string_equal(c->mqtt_url, "tcp://127.0.0.1:1883");
    assert_string_equal(c->mqtt_client_id, "anxind-anxind");
    assert_null(c->mqtt_username);
    assert_null(c->mqtt_password.file);
    assert_null(c->mqtt_password.env);
    assert_null(c->mqtt_ca_file);
    assert_int_equal(c->mqtt_n_topics, 1);
    assert_string_equal(c->mqtt_topics[0], "anxin/v1/+/telemetry");
    assert_int_equal(c->mqtt_keepalive_ms, 30000);
    assert_int_equal(c->mqtt_session_expiry_ms, INT64_C(7) * 24 * 3600 * 1000);
    assert_int_equal(c->mqtt_reconnect_max_ms, 5000);
    assert_int_equal(c->mqtt_receive_maximum, 0);
    assert_string_equal(c->db_conninfo, "host=127.0.0.1 dbname=anxin");
    assert_null(c->db_password.file);
    assert_null(c->db_password.env);
    assert_null(c->http_listen);
    assert_int_equal(c->auth_failures, 10);
    assert_int_equal(c->auth_throttle_ms, 300000);
    assert_string_equal(c->journal_dir, "/var/lib/anxin/journal");
    assert_int_equal(c->journal_fsync, CFG_FSYNC_NONE);
    assert_int_equal(c->journal_segment_bytes, 64 * 1024 * 1024);
    assert_string_equal(c->rules_dir, "/etc/anxin/rules.d");
    assert_string_equal(c->templates_dir, "/etc/anxin/templates");
    assert_int_equal(c->n_providers, 1);
    assert_string_equal(c->providers[0].name, "console");
    assert_int_equal(c->providers[0].type, CFG_PROVIDER_CONSOLE);
    assert_int_equal(c->providers[0].line, 5);
    assert_null(c->providers[0].output);
    /* No [channel "sms"]: SMS go to the first provider; no voice. */
    assert_int_equal(c->channel_n[CFG_CHANNEL_SMS], 1);
    assert_int_equal(c->channel_providers[CFG_CHANNEL_SMS][0], 0);
    assert_int_equal(c->channel_n[CFG_CHANNEL_VOICE], 0);
    cfg_free(c);
}

static void test_default_dirs_trailing_slash(void **state)
{
    (void)state;
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    assert_int_equal(cfg_parse(NULL, BASE, strlen(BASE), "conf/", "state//", &c, &d), 0);
    assert_string_equal(c->file, "anxind.conf");
    assert_string_equal(c->journal_dir, "state/journal");
    assert_string_equal(c->rules_dir, "conf/rules.d");
    assert_string_equal(c->templates_dir, "conf/templates");
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_client_id_follows_node(void **state)
{
    (void)state;
    struct cfg *c = parse_ok("[anxind]\nnode = county-2.a\n" BASE);
    assert_string_equal(c->node, "county-2.a");
    assert_string_equal(c->mqtt_client_id, "anxind-county-2.a");
    cfg_free(c);
}

static void test_full_file(void **state)
{
    (void)state;
    struct cfg *c = parse_ok(
        "[anxind]\n"
        "node = n1\n"
        "log_level = debug\n"
        "[mqtt]\n"
        "url = ssl://broker.example.org:8883\n"
        "client_id = cid-1\n"
        "username = anxind\n"
        "password_env = MQTT_PW\n"
        "ca_file = /etc/anxin/ca.pem\n"
        "topics = $share/g1/anxin/v1/+/telemetry, a/#  b/+/c\n"
        "keepalive = 1m\n"
        "session_expiry = 1d12h\n"
        "reconnect_max = 2m30s\n"
        "receive_maximum = 100\n"
        "[database]\n"
        "conninfo = \"host=db port=5432 dbname=anxin user=anxin sslmode=require\"\n"
        "password_file = /etc/anxin/db.secret\n"
        "[http]\n"
        "listen = [::1]:8081\n"
        "[journal]\n"
        "dir = /srv/journal\n"
        "fsync = always\n"
        "segment_size = 16M\n"
        "[paths]\n"
        "rules = /srv/rules\n"
        "templates = /srv/templates\n"
        "[provider \"hook\"]\n"
        "type = webhook\n"
        "url = https://sms.example.org/send?x=1#frag\n"
        "token_file = /etc/anxin/hook.token\n"
        "timeout = 2500ms\n"
        "max_attempts = 3\n"
        "backoff = 500ms\n"
        "backoff_max = 1m\n"
        "[provider \"log\"]\n"
        "type = console\n"
        "output = /var/log/anxin/notify.log\n"
        "[provider \"hook2\"]\n"
        "type = webhook\n"
        "url = http://127.0.0.1:9000/hook\n"
        "token_env = HOOK2_TOKEN\n"
        "[channel \"sms\"]\n"
        "providers = hook, log\n"
        "[channel \"voice\"]\n"
        "providers = hook2 log\n");
    assert_string_equal(c->node, "n1");
    assert_string_equal(c->log_level, "debug");
    assert_string_equal(c->mqtt_url, "ssl://broker.example.org:8883");
    assert_string_equal(c->mqtt_client_id, "cid-1");
    assert_string_equal(c->mqtt_username, "anxind");
    assert_string_equal(c->mqtt_password.env, "MQTT_PW");
    assert_null(c->mqtt_password.file);
    assert_string_equal(c->mqtt_ca_file, "/etc/anxin/ca.pem");
    assert_int_equal(c->mqtt_n_topics, 3);
    assert_string_equal(c->mqtt_topics[0], "$share/g1/anxin/v1/+/telemetry");
    assert_string_equal(c->mqtt_topics[1], "a/#");
    assert_string_equal(c->mqtt_topics[2], "b/+/c");
    assert_int_equal(c->mqtt_keepalive_ms, 60000);
    assert_int_equal(c->mqtt_session_expiry_ms, INT64_C(36) * 3600 * 1000);
    assert_int_equal(c->mqtt_reconnect_max_ms, 150000);
    assert_int_equal(c->mqtt_receive_maximum, 100);
    assert_string_equal(c->db_conninfo,
                        "host=db port=5432 dbname=anxin user=anxin sslmode=require");
    assert_string_equal(c->db_password.file, "/etc/anxin/db.secret");
    assert_string_equal(c->http_listen, "[::1]:8081");
    assert_string_equal(c->journal_dir, "/srv/journal");
    assert_int_equal(c->journal_fsync, CFG_FSYNC_ALWAYS);
    assert_int_equal(c->journal_segment_bytes, 16 * 1024 * 1024);
    assert_string_equal(c->rules_dir, "/srv/rules");
    assert_string_equal(c->templates_dir, "/srv/templates");
    assert_int_equal(c->n_providers, 3);
    const struct cfg_provider *h = &c->providers[0];
    assert_string_equal(h->name, "hook");
    assert_int_equal(h->type, CFG_PROVIDER_WEBHOOK);
    assert_int_equal(h->line, 27);
    assert_string_equal(h->url, "https://sms.example.org/send?x=1#frag");
    assert_string_equal(h->token.file, "/etc/anxin/hook.token");
    assert_int_equal(h->timeout_ms, 2500);
    assert_int_equal(h->max_attempts, 3);
    assert_int_equal(h->backoff_ms, 500);
    assert_int_equal(h->backoff_max_ms, 60000);
    assert_int_equal(c->providers[1].type, CFG_PROVIDER_CONSOLE);
    assert_string_equal(c->providers[1].output, "/var/log/anxin/notify.log");
    /* Webhook defaults. */
    const struct cfg_provider *h2 = &c->providers[2];
    assert_string_equal(h2->token.env, "HOOK2_TOKEN");
    assert_int_equal(h2->timeout_ms, 10000);
    assert_int_equal(h2->max_attempts, 8);
    assert_int_equal(h2->backoff_ms, 1000);
    assert_int_equal(h2->backoff_max_ms, 300000);
    assert_int_equal(c->channel_n[CFG_CHANNEL_SMS], 2);
    assert_int_equal(c->channel_providers[CFG_CHANNEL_SMS][0], 0);
    assert_int_equal(c->channel_providers[CFG_CHANNEL_SMS][1], 1);
    assert_int_equal(c->channel_n[CFG_CHANNEL_VOICE], 2);
    assert_int_equal(c->channel_providers[CFG_CHANNEL_VOICE][0], 2);
    assert_int_equal(c->channel_providers[CFG_CHANNEL_VOICE][1], 1);
    assert_int_equal(cfg_provider_index(c, "log"), 1);
    assert_int_equal(cfg_provider_index(c, "nope"), -1);
    cfg_free(c);
}

static void test_shipped_conf(void **state)
{
    (void)state;
    FILE *f = fopen("conf/anxind.conf", "rb");
    if (!f)
        fail_msg("cannot open conf/anxind.conf; run the tests from the repository root");
    char *text = malloc(1 << 20);
    assert_non_null(text);
    size_t len = fread(text, 1, 1 << 20, f);
    fclose(f);
    assert_true(len > 0 && len < (1 << 20));

    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    int rc = cfg_parse("conf/anxind.conf", text, len, "/etc/anxin", "/var/lib/anxin", &c, &d);
    if (d.n)
        dump(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(d.n_errors, 0);
    assert_int_equal(d.n, 0);           /* not even a warning */
    assert_string_equal(c->mqtt_url, "tcp://127.0.0.1:1883");
    assert_string_equal(c->db_conninfo, "host=127.0.0.1 port=5432 dbname=anxin user=anxin");
    assert_string_equal(c->db_password.file, "/etc/anxin/db.secret");
    assert_string_equal(c->http_listen, "127.0.0.1:8080");
    assert_string_equal(c->journal_dir, "/var/lib/anxin/journal");
    assert_int_equal(c->n_providers, 1);
    assert_string_equal(c->providers[0].name, "console");
    assert_int_equal(c->providers[0].type, CFG_PROVIDER_CONSOLE);
    assert_int_equal(c->channel_n[CFG_CHANNEL_SMS], 1);
    assert_int_equal(c->channel_providers[CFG_CHANNEL_SMS][0], 0);
    cfg_free(c);
    cfg_diags_free(&d);

    /* Every key the parser knows appears in the shipped file, active or
     * commented out, so operators can find it. */
    static const char *const keys[] = {
        "node", "log_level", "url", "client_id", "username", "password_file", "password_env",
        "ca_file", "topics", "alarm_topics", "keepalive", "session_expiry", "reconnect_max",
        "receive_maximum", "conninfo", "listen", "dir", "fsync", "segment_size", "rules", "templates", "type",
        "token_file", "token_env", "timeout", "max_attempts", "backoff", "backoff_max",
        "output", "providers", NULL
    };
    text[len] = '\0';
    for (size_t i = 0; keys[i]; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, "\n%s = ", keys[i]);
        char pat2[64];
        snprintf(pat2, sizeof pat2, "\n#%s = ", keys[i]);
        if (!strstr(text, pat) && !strstr(text, pat2))
            fail_msg("key %s is not documented in conf/anxind.conf", keys[i]);
    }
    free(text);
}

/* ---- syntax ------------------------------------------------------------ */

static void test_comments_and_blank_lines(void **state)
{
    (void)state;
    struct cfg *c = parse_ok(
        "# leading comment\n"
        "; semicolon comment\n"
        "\n"
        "   # indented comment\n"
        "\t\n"
        "[anxind]   # comment after a header\n"
        "node = n1   # trailing comment\n"
        "log_level = warn\t# tab then comment\n"
        "[mqtt] ; semicolon after a header\n"
        "url = tcp://127.0.0.1:1883\n"
        "\n"
        "# between keys\n"
        "keepalive = 10s\n"
        DB_OK PROV_OK);
    assert_string_equal(c->node, "n1");
    assert_string_equal(c->log_level, "warn");
    assert_int_equal(c->mqtt_keepalive_ms, 10000);
    cfg_free(c);
}

static void test_comment_only_value_is_empty(void **state)
{
    (void)state;
    expect_error(MQTT_OK "ca_file = # nothing\n" DB_OK PROV_OK, 3, "ca_file: empty value");
}

static void test_trailing_comment_values(void **state)
{
    (void)state;
    struct cfg *c = parse_ok(
        "[anxind]\n"
        "node = n1 # the node\n"
        "[mqtt]\n"
        "url = tcp://127.0.0.1:1883\n"
        "client_id = a#b\n"
        "username =   spaced value  \n"
        DB_OK PROV_OK);
    assert_string_equal(c->node, "n1");
    assert_string_equal(c->mqtt_client_id, "a#b");
    assert_string_equal(c->mqtt_username, "spaced value");
    cfg_free(c);
}

static void test_crlf_and_bom(void **state)
{
    (void)state;
    const char *text = "\xEF\xBB\xBF[mqtt]\r\nurl = tcp://127.0.0.1:1883\r\n"
                       "[database]\r\nconninfo = host=x\r\n" PROV_OK;
    struct cfg *c = parse_ok(text);
    assert_string_equal(c->mqtt_url, "tcp://127.0.0.1:1883");
    assert_string_equal(c->db_conninfo, "host=x");
    cfg_free(c);
    /* No newline at the end of the file. */
    c = parse_ok(MQTT_OK DB_OK "[provider \"p\"]\ntype = console");
    assert_string_equal(c->providers[0].name, "p");
    cfg_free(c);
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    /* len stops before "garbage": the parser must not read past it. */
    const char text[] = BASE "[garbage";
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    size_t len = strlen(BASE);
    char *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, text, len);
    assert_int_equal(cfg_parse("t.conf", copy, len, "/e", "/s", &c, &d), 0);
    assert_int_equal(d.n, 0);
    cfg_free(c);
    cfg_diags_free(&d);
    free(copy);
}

static void test_nul_byte(void **state)
{
    (void)state;
    const char text[] = MQTT_OK "node\0x = 1\n" DB_OK PROV_OK;
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    assert_int_equal(cfg_parse("t.conf", text, sizeof text - 1, "/e", "/s", &c, &d),
                     ANX_EPARSE);
    assert_int_equal(d.n_errors, 1);
    assert_int_equal(d.items[0].line, 3);
    assert_non_null(strstr(d.items[0].msg, "NUL byte"));
    cfg_diags_free(&d);
}

static void test_quoting(void **state)
{
    (void)state;
    struct cfg *c = parse_ok(
        "[mqtt]\n"
        "url = \"tcp://127.0.0.1:1883\"\n"
        "client_id = \"a \\\"quoted\\\" # not a comment\"   # a comment\n"
        "username = \"back\\\\slash\\nnewline\"\n"
        "keepalive = \"45s\"\n"
        "[http]\n"
        "listen = \"\"\n"
        "auth_failures = 0\n"
        "auth_throttle = 90s\n"
        DB_OK PROV_OK);
    assert_string_equal(c->mqtt_url, "tcp://127.0.0.1:1883");
    assert_string_equal(c->mqtt_client_id, "a \"quoted\" # not a comment");
    assert_string_equal(c->mqtt_username, "back\\slash\nnewline");
    assert_int_equal(c->mqtt_keepalive_ms, 45000);
    assert_string_equal(c->http_listen, "");
    assert_int_equal(c->auth_failures, 0);      /* set to 0: no limit, not the default */
    assert_int_equal(c->auth_throttle_ms, 90000);
    cfg_free(c);
}

static void test_quote_errors(void **state)
{
    (void)state;
    expect_exact(MQTT_OK "username = \"abc\n" DB_OK PROV_OK, 3,
                 "unterminated quote; expected a closing \" before the end of the line");
    expect_error(MQTT_OK "username = \"abc\\\"\n" DB_OK PROV_OK, 3, "unterminated quote");
    expect_error(MQTT_OK "username = \"abc\\\n" DB_OK PROV_OK, 3, "unterminated quote");
    expect_error(MQTT_OK "username = \"a\\tb\"\n" DB_OK PROV_OK, 3,
                 "unknown escape \"\\\\t\" in quoted value");
    expect_error(MQTT_OK "username = \"abc\" def\n" DB_OK PROV_OK, 3,
                 "unexpected text after the closing quote: \"def\"");
    expect_error("[provider \"abc]\n" BASE, 1, "unterminated quote in section header");
}

static void test_line_syntax_errors(void **state)
{
    (void)state;
    expect_error(MQTT_OK "just some words\n" DB_OK PROV_OK, 3,
                 "expected key = value, a [section] header or a comment, got "
                 "\"just some words\"");
    expect_error(MQTT_OK "= value\n" DB_OK PROV_OK, 3, "expected key = value");
    expect_error(MQTT_OK "user name = x\n" DB_OK PROV_OK, 3, "expected key = value");
    expect_error(MQTT_OK "user$ = x\n" DB_OK PROV_OK, 3, "invalid key \"user$\"");
    expect_error(MQTT_OK "username =\n" DB_OK PROV_OK, 3,
                 "username: empty value; give a value, or comment the line out");
}

static void test_header_errors(void **state)
{
    (void)state;
    expect_error("[provider console]\n" BASE, 1, "with the name in double quotes");
    expect_error("[mqtt \"x\"]\nurl = tcp://h\n" DB_OK PROV_OK, 1,
                 "section [mqtt] takes no name; expected [mqtt]");
    expect_error(MQTT_OK DB_OK "[provider console]\ntype = console\n", 5,
                 "with the name in double quotes");
    expect_error(BASE "[provider]\ntype = console\n", 7,
                 "section [provider] needs a name in double quotes, like "
                 "[provider \"console\"]");
    expect_error(BASE "[channel]\nproviders = console\n", 7,
                 "like [channel \"sms\"]");
    expect_error("[mqtt\nurl = tcp://h\n" DB_OK PROV_OK, 1, "expected ] to close");
    expect_error("[mqtt \"x\" z]\nurl = tcp://h\n" BASE, 1, "expected ] to close");
    /* Keys under a header missing its ']' are still checked. */
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    assert_int_equal(parse(BASE "[journal\nfsync = x\n", &c, &d), ANX_EPARSE);
    assert_int_equal(d.n_errors, 2);
    assert_non_null(find_diag(&d, 7, false, "expected ] to close"));
    assert_non_null(find_diag(&d, 8, false, "fsync: expected none or always"));
    cfg_diags_free(&d);
    expect_error(BASE "[]\n", 7, "empty section name");
    expect_error(BASE "[http] x\n", 7, "unexpected text after the section header: \"x\"");
}

/* ---- unknown and duplicate names ------------------------------------- */

static void test_unknown_section(void **state)
{
    (void)state;
    /* The keys of a rejected section are not reported again. */
    expect_exact(BASE "[mqqt]\nurl = x\nfoo = y\n", 7,
                 "unknown section [mqqt]; did you mean [mqtt]?");
    expect_exact("[databse]\nconninfo = host=x\n" MQTT_OK PROV_OK, 1,
                 "unknown section [databse]; did you mean [database]?");
    expect_exact("[provders \"p\"]\ntype = console\n" MQTT_OK DB_OK, 1,
                 "unknown section [provders]; did you mean [provider]?");
    expect_exact(BASE "[frobnicator]\nfoo = y\n", 7,
                 "unknown section [frobnicator]; expected anxind, mqtt, database, http, "
                 "journal, paths, provider or channel");
}

static void test_unknown_key(void **state)
{
    (void)state;
    expect_exact("[mqtt]\nurll = tcp://127.0.0.1:1883\nurl = tcp://h\n" DB_OK PROV_OK, 2,
                 "unknown key \"urll\" in [mqtt]; did you mean \"url\"?");
    /* A swap of two letters counts as one edit. */
    expect_exact(MQTT_OK "[journal]\nfsnyc = always\n" DB_OK PROV_OK, 4,
                 "unknown key \"fsnyc\" in [journal]; did you mean \"fsync\"?");
    expect_exact(MQTT_OK "KeepAlive = 10s\n" DB_OK PROV_OK, 3,
                 "unknown key \"KeepAlive\" in [mqtt]; did you mean \"keepalive\"?");
    expect_exact(MQTT_OK "frobnicate = 1\n" DB_OK PROV_OK, 3,
                 "unknown key \"frobnicate\" in [mqtt]");
    expect_exact(MQTT_OK "listen = 127.0.0.1:80\n" DB_OK PROV_OK, 3,
                 "unknown key \"listen\" in [mqtt]; it belongs in [http]");
    expect_exact(BASE "timout = 1s\n", 7,
                 "unknown key \"timout\" in [provider \"console\"]; did you mean \"timeout\"?");
    expect_exact(BASE "[channel \"sms\"]\nprovider = console\n", 8,
                 "unknown key \"provider\" in [channel \"sms\"]; did you mean \"providers\"?");
    /* The suggested key is not reported missing as well. */
    expect_error("[mqtt]\nulr = tcp://h\n" DB_OK PROV_OK, 2, "did you mean \"url\"?");
    expect_error(MQTT_OK DB_OK "[provider \"w\"]\ntpye = webhook\n", 6,
                 "did you mean \"type\"?");
    expect_error(MQTT_OK DB_OK "[provider \"w\"]\ntype = webhook\nuri = https://h/\n", 7,
                 "did you mean \"url\"?");
}

static void test_duplicate_key(void **state)
{
    (void)state;
    expect_exact(MQTT_OK "\nurl = tcp://other:1883\n" DB_OK PROV_OK, 4,
                 "duplicate key \"url\" in [mqtt]; first set on line 2");
    expect_error(BASE "type = webhook\n", 7,
                 "duplicate key \"type\" in [provider \"console\"]; first set on line 6");
}

static void test_duplicate_section(void **state)
{
    (void)state;
    expect_exact(BASE "[mqtt]\nurl = tcp://other:1883\n", 7,
                 "duplicate section [mqtt]; first on line 1");
    expect_exact(BASE "[provider \"console\"]\ntype = webhook\n", 7,
                 "duplicate section [provider \"console\"]; first on line 5");
    expect_exact(BASE "[channel \"sms\"]\nproviders = console\n"
                 "[channel \"sms\"]\nproviders = console\n", 9,
                 "duplicate section [channel \"sms\"]; first on line 7");
}

static void test_key_outside_section(void **state)
{
    (void)state;
    expect_exact("url = tcp://127.0.0.1:1883\n" BASE, 1,
                 "key \"url\" is outside any section; put it under [mqtt]");
    expect_exact("# header\nwhatever = 1\n" BASE, 2,
                 "key \"whatever\" is outside any section; expected a [section] header first");
}

/* ---- required keys ------------------------------------------------------ */

static void test_missing_required(void **state)
{
    (void)state;
    expect_exact(DB_OK PROV_OK, 0, "missing [mqtt] section with url = the broker address, "
                 "like tcp://127.0.0.1:1883");
    expect_exact(DB_OK PROV_OK "\n[mqtt]\nusername = u\n", 6,
                 "missing required key \"url\" in [mqtt]; expected the broker address, like "
                 "tcp://127.0.0.1:1883");
    expect_error(MQTT_OK PROV_OK, 0, "missing [database] section with conninfo");
    expect_error(MQTT_OK PROV_OK "[database]\npassword_env = PGPASSWORD\n", 5,
                 "missing required key \"conninfo\" in [database]");
    /* An invalid url is one error, not also "missing". */
    expect_error("[mqtt]\nurl = http://x\n" DB_OK PROV_OK, 2, "url: expected tcp://");
}

static void test_no_provider(void **state)
{
    (void)state;
    expect_exact(MQTT_OK DB_OK, 0, "no [provider] section: anxind could not send any "
                 "notification");
    /* With a rejected provider header, its own error is enough. */
    expect_error(MQTT_OK DB_OK "[provider \"Bad Name\"]\ntype = console\n", 5,
                 "invalid provider name \"Bad Name\"");
}

static void test_empty_file(void **state)
{
    (void)state;
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    assert_int_equal(cfg_parse("t.conf", "", 0, "/e", "/s", &c, &d), ANX_EPARSE);
    assert_null(c);
    assert_int_equal(d.n_errors, 3);        /* mqtt, database, provider */
    for (size_t i = 0; i < d.n; i++)
        assert_int_equal(d.items[i].line, 0);
    cfg_diags_free(&d);
}

/* ---- values ------------------------------------------------------------- */

static void test_duration_parse(void **state)
{
    (void)state;
    static const struct { const char *s; int64_t ms; } ok[] = {
        {"250ms", 250}, {"30s", 30000}, {"5m", 300000}, {"12h", 43200000},
        {"1d", 86400000}, {"1h30m", 5400000}, {"1d2h3m4s5ms", 93784005}, {"0s", 0},
        {"0ms", 0}, {"90m", 5400000}, {"007s", 7000},
        {"9223372036854775807ms", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        if (cfg_parse_duration(ok[i].s, &ms) != 0 || ms != ok[i].ms)
            fail_msg("duration %s: got %lld", ok[i].s, (long long)ms);
    }
    static const char *const bad[] = {
        "", "30", "ten", "s", "30x", "30 s", " 30s", "30s ", "-5s", "+5s", "1.5h", "30S",
        "5min", "30m1h", "1s1s", "1m1m", "30ms5s", "1h 30m", "1h,30m", "5sec",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        if (cfg_parse_duration(bad[i], &ms) != ANX_EINVAL || ms != 42)
            fail_msg("duration \"%s\" was accepted", bad[i]);
    }
    static const char *const huge[] = {
        "9223372036854775808ms", "9223372036854776s", "106751991167301d",
        "99999999999999999999999999s", "106751991167300d23h59m59s999ms",
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        int64_t ms = 42;
        if (cfg_parse_duration(huge[i], &ms) != ANX_ERANGE || ms != 42)
            fail_msg("duration \"%s\" did not overflow", huge[i]);
    }
    int64_t ms;
    assert_int_equal(cfg_parse_duration(NULL, &ms), ANX_EINVAL);
    /* The largest day count that fits. */
    assert_int_equal(cfg_parse_duration("106751991167d", &ms), 0);
    assert_int_equal(ms, INT64_C(106751991167) * 86400000);
}

static void test_size_parse(void **state)
{
    (void)state;
    static const struct { const char *s; int64_t b; } ok[] = {
        {"0", 0}, {"4096", 4096}, {"64K", 65536}, {"64k", 65536}, {"64M", 67108864},
        {"1G", 1073741824}, {"3g", INT64_C(3) << 30}, {"9223372036854775807", INT64_MAX},
        {"8589934591G", INT64_C(8589934591) << 30},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t b = -1;
        if (cfg_parse_size(ok[i].s, &b) != 0 || b != ok[i].b)
            fail_msg("size %s: got %lld", ok[i].s, (long long)b);
    }
    static const char *const bad[] = {
        "", "K", "64MB", "64 M", " 64", "64M ", "-1", "1.5G", "64T", "0x10", "64KK", "1e6",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t b = 42;
        if (cfg_parse_size(bad[i], &b) != ANX_EINVAL || b != 42)
            fail_msg("size \"%s\" was accepted", bad[i]);
    }
    static const char *const huge[] = {
        "9223372036854775808", "8589934592G", "99999999999999999999K",
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        int64_t b = 42;
        if (cfg_parse_size(huge[i], &b) != ANX_ERANGE || b != 42)
            fail_msg("size \"%s\" did not overflow", huge[i]);
    }
    int64_t b;
    assert_int_equal(cfg_parse_size(NULL, &b), ANX_EINVAL);
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_exact(MQTT_OK "keepalive = ten\n" DB_OK PROV_OK, 3,
                 "keepalive: expected a duration like 30s or 5m, got \"ten\"");
    expect_error(MQTT_OK "keepalive = 30\n" DB_OK PROV_OK, 3,
                 "expected a duration like 30s or 5m, got \"30\"");
    expect_error(MQTT_OK "keepalive = 1500ms\n" DB_OK PROV_OK, 3,
                 "keepalive: expected whole seconds");
    expect_error(MQTT_OK "keepalive = 0s\n" DB_OK PROV_OK, 3,
                 "keepalive: \"0s\" is out of range; expected 1s to 65535s");
    expect_error(MQTT_OK "session_expiry = 99999999999999999999d\n" DB_OK PROV_OK, 3,
                 "session_expiry: duration \"99999999999999999999d\" is too large");
    expect_error(MQTT_OK "session_expiry = 50000d\n" DB_OK PROV_OK, 3,
                 "session_expiry: \"50000d\" is out of range");
    expect_error(MQTT_OK "reconnect_max = 2d\n" DB_OK PROV_OK, 3,
                 "reconnect_max: \"2d\" is out of range; expected 1s to 1d");
    expect_exact(MQTT_OK "receive_maximum = many\n" DB_OK PROV_OK, 3,
                 "receive_maximum: expected a whole number from 0 to 65535, got \"many\"");
    expect_error(MQTT_OK "receive_maximum = -1\n" DB_OK PROV_OK, 3,
                 "receive_maximum: expected a whole number");
    expect_error(MQTT_OK "receive_maximum = 65536\n" DB_OK PROV_OK, 3,
                 "receive_maximum: \"65536\" is out of range; expected 0 to 65535");
    expect_error(MQTT_OK "receive_maximum = 99999999999999999999\n" DB_OK PROV_OK, 3,
                 "is out of range");
    expect_exact(BASE "[journal]\nfsync = sometimes\n", 8,
                 "fsync: expected none or always, got \"sometimes\"");
    expect_exact(BASE "[journal]\nsegment_size = 64MB\n", 8,
                 "segment_size: expected a size like 64M (bytes, or K, M, G), got \"64MB\"");
    expect_error(BASE "[journal]\nsegment_size = 4K\n", 8,
                 "segment_size: \"4K\" is out of range; expected 1M to 1G");
    expect_error(BASE "[journal]\nsegment_size = 99999999999999999999G\n", 8,
                 "is out of range");
    expect_exact("[anxind]\nlog_level = verbose\n" BASE, 2,
                 "log_level: expected debug, info, warn or error, got \"verbose\"");
    expect_error("[anxind]\nnode = \"my node\"\n" BASE, 2,
                 "node: expected 1 to 32 letters, digits, '.', '_' or '-', got \"my node\"");
    expect_error("[anxind]\nnode = abcdefghijklmnopqrstuvwxyz0123456\n" BASE, 2, "node:");
    expect_error("[http]\nlisten = 8080\n" BASE, 2,
                 "listen: expected host:port like 127.0.0.1:8080, or \"\" for no HTTP server");
    expect_error("[http]\nlisten = localhost:99999\n" BASE, 2, "listen: expected host:port");
    expect_error("[http]\nlisten = ::1:8080\n" BASE, 2, "listen: expected host:port");
    expect_error("[http]\nlisten = :8080\n" BASE, 2, "listen: expected host:port");
    expect_exact("[http]\nauth_failures = many\n" BASE, 2,
                 "auth_failures: expected a whole number from 0 to 100000, got \"many\"");
    expect_exact("[http]\nauth_throttle = 0s\n" BASE, 2,
                 "auth_throttle: \"0s\" is out of range; expected 1s to 1d");
    expect_error(MQTT_OK "password_env = 1BAD\n" DB_OK PROV_OK, 3,
                 "password_env: expected an environment variable name");
}

static void test_long_value_is_cut_in_message(void **state)
{
    (void)state;
    char text[1024];
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(text, sizeof text, "%s[journal]\nfsync = %s\n", BASE, big);
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    assert_int_equal(parse(text, &c, &d), ANX_EPARSE);
    assert_int_equal(d.n_errors, 1);
    assert_non_null(strstr(d.items[0].msg, "xxx...\""));
    assert_true(strlen(d.items[0].msg) < 120);
    cfg_diags_free(&d);

    /* Escaped characters near the cut: every width of character, every offset. */
    for (int shift = 0; shift < 4; shift++) {
        char val[200];
        size_t w = 0;
        for (int i = 0; i < shift; i++)
            val[w++] = 'x';
        while (w < 150) {
            val[w++] = '\x01';
            val[w++] = '\\';
            val[w++] = 'y';
            val[w++] = '"';
        }
        val[w] = '\0';
        snprintf(text, sizeof text, "%s[journal]\nfsync = %s\n", BASE, val);
        assert_int_equal(parse(text, &c, &d), ANX_EPARSE);
        assert_int_equal(d.n_errors, 1);
        assert_non_null(strstr(d.items[0].msg, "\\x01\\\\y\\\""));
        assert_non_null(strstr(d.items[0].msg, "...\""));
        cfg_diags_free(&d);
    }
}

static void test_url_schemes(void **state)
{
    (void)state;
    static const char *const good[] = {
        "tcp://127.0.0.1:1883", "ssl://broker:8883", "mqtt://broker", "mqtts://b.example.org",
        "tcp://[::1]:1883", "TCP://host:1", "tcp://user@host:1883",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[mqtt]\nurl = %s\n" DB_OK PROV_OK, good[i]);
        cfg_free(parse_ok(text));
    }
    static const char *const bad[] = {
        "http://broker:1883", "broker:1883", "tcp://", "tcp://:1883", "tcp://host:0",
        "tcp://host:65536", "tcp://host:port", "tcp://[::1", "ws://broker", "://host",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[mqtt]\nurl = %s\n" DB_OK PROV_OK, bad[i]);
        expect_error(text, 2, "url: expected tcp://, ssl://, mqtt:// or mqtts:// and host:port");
    }
    expect_exact(BASE "[provider \"hook\"]\ntype = webhook\nurl = ftp://x/y\n"
                 "[channel \"sms\"]\nproviders = console hook\n", 9,
                 "url: expected an http:// or https:// URL, got \"ftp://x/y\"");
    expect_error(BASE "[provider \"hook\"]\ntype = webhook\nurl = https:///path\n"
                 "[channel \"sms\"]\nproviders = console hook\n", 9,
                 "url: expected an http:// or https:// URL");
}

/* ---- secrets ------------------------------------------------------------ */

static void test_inline_secrets(void **state)
{
    (void)state;
    expect_exact(MQTT_OK "password = hunter2\n" DB_OK PROV_OK, 3,
                 "secrets are not allowed inline; use password_file or password_env");
    expect_exact(MQTT_OK DB_OK "secret = hunter2\n" PROV_OK, 5,
                 "secrets are not allowed inline; use password_file or password_env");
    expect_exact(BASE "token = abc\n", 7,
                 "secrets are not allowed inline; use token_file or token_env");
    /* Even in a section where the key means nothing, in any case, as a suffix. */
    expect_error(BASE "[http]\npassword = x\n", 8, "secrets are not allowed inline");
    expect_error(MQTT_OK "Password = x\n" DB_OK PROV_OK, 3, "secrets are not allowed inline");
    expect_error(MQTT_OK "mqtt_passwd = x\n" DB_OK PROV_OK, 3, "secrets are not allowed inline");
    expect_exact(BASE "api_token = x\n", 7,
                 "secrets are not allowed inline; use token_file or token_env");
    expect_exact(BASE "client-secret = x\n", 7,
                 "secrets are not allowed inline; use token_file or token_env");
    expect_exact(BASE "tokens = x\n", 7,
                 "unknown key \"tokens\" in [provider \"console\"]");
    /* A secret written without '=' is not echoed into the error. */
    expect_exact(MQTT_OK "password hunter2\n" DB_OK PROV_OK, 3,
                 "expected key = value, a [section] header or a comment");

    static const char *const conninfo_bad[] = {
        "host=db password=hunter2",
        "password=hunter2 host=db",
        "host=db PASSWORD = hunter2",
        "\"host=db\tpassword=x\"",
        "postgresql://anxin:hunter2@db/anxin",
        "postgres://anxin@db/anxin?sslmode=require&password=x",
    };
    for (size_t i = 0; i < sizeof conninfo_bad / sizeof conninfo_bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, MQTT_OK "[database]\nconninfo = %s\n" PROV_OK,
                 conninfo_bad[i]);
        expect_exact(text, 4, "conninfo: secrets are not allowed inline; remove password= "
                     "and use password_file or password_env");
    }
    static const char *const conninfo_good[] = {
        "host=db user=password_admin",
        "host=db passfile=/etc/anxin/pgpass",
        "postgresql://anxin@db:5432/anxin",
        "host=db application_name=nopassword",
    };
    for (size_t i = 0; i < sizeof conninfo_good / sizeof conninfo_good[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, MQTT_OK "[database]\nconninfo = %s\n" PROV_OK,
                 conninfo_good[i]);
        cfg_free(parse_ok(text));
    }
    expect_error("[mqtt]\nurl = tcp://user:pw@127.0.0.1:1883\n" DB_OK PROV_OK, 2,
                 "url: secrets are not allowed inline; use username and password_file");
    expect_error(BASE "[provider \"hook\"]\ntype = webhook\nurl = https://u:pw@h/x\n"
                 "[channel \"sms\"]\nproviders = console hook\n", 9,
                 "url: secrets are not allowed inline; use token_file or token_env");
}

static void test_secret_file_and_env(void **state)
{
    (void)state;
    expect_exact(MQTT_OK "password_file = /a\npassword_env = B\n" DB_OK PROV_OK, 4,
                 "both password_file and password_env are set (the other on line 3); "
                 "use only one");
    expect_error(MQTT_OK DB_OK "password_env = B\npassword_file = /a\n" PROV_OK, 6,
                 "both password_file and password_env are set (the other on line 5)");
    expect_error(BASE "[provider \"hook\"]\ntype = webhook\nurl = https://h/x\n"
                 "token_env = T\ntoken_file = /t\n"
                 "[channel \"sms\"]\nproviders = console hook\n", 11,
                 "both token_file and token_env are set (the other on line 10)");
}

/* ---- providers and channels -------------------------------------------- */

static void test_provider_type(void **state)
{
    (void)state;
    expect_exact(MQTT_OK DB_OK "[provider \"console\"]\noutput = /tmp/x\n", 5,
                 "provider \"console\" has no type; expected type = console, webhook, kannel, aliyun, tencent or twilio");
    expect_exact(MQTT_OK DB_OK "[provider \"console\"]\ntype = sms\n", 6,
                 "type: expected console, webhook, kannel, aliyun, tencent or twilio, got \"sms\"");
    expect_exact(MQTT_OK DB_OK "[provider \"c\"]\ntype = console\nurl = https://h/\n", 7,
                 "\"url\" does not apply to console providers; provider \"c\" has type = console");
    expect_error(MQTT_OK DB_OK "[provider \"c\"]\ntimeout = 5s\ntype = console\n", 6,
                 "\"timeout\" does not apply to console providers");
    expect_exact(MQTT_OK DB_OK "[provider \"w\"]\ntype = webhook\nurl = https://h/\n"
                 "output = /tmp/x\n", 8,
                 "\"output\" applies to console providers; provider \"w\" has type = webhook");
    expect_exact(MQTT_OK DB_OK "[provider \"w\"]\ntype = webhook\n", 5,
                 "missing required key \"url\" in [provider \"w\"] (type webhook): a webhook "
                 "needs an https:// address");
    /* Type after the keys it governs. */
    struct cfg *c = parse_ok(MQTT_OK DB_OK "[provider \"w\"]\nurl = https://h/\ntype = webhook\n");
    assert_int_equal(c->providers[0].type, CFG_PROVIDER_WEBHOOK);
    cfg_free(c);
}

static void test_provider_values(void **state)
{
    (void)state;
#define HOOK MQTT_OK DB_OK "[provider \"w\"]\ntype = webhook\nurl = https://h/\n"
    expect_error(HOOK "timeout = soon\n", 8, "timeout: expected a duration like 30s or 5m");
    expect_error(HOOK "timeout = 50ms\n", 8, "timeout: \"50ms\" is out of range");
    expect_error(HOOK "max_attempts = 0\n", 8, "max_attempts: \"0\" is out of range; "
                 "expected 1 to 100");
    expect_error(HOOK "max_attempts = three\n", 8, "max_attempts: expected a whole number");
    expect_error(HOOK "backoff = 2h\n", 8, "backoff: \"2h\" is out of range");
    expect_exact(HOOK "backoff = 10s\nbackoff_max = 5s\n", 9,
                 "backoff_max must not be shorter than backoff");
    expect_error(HOOK "backoff = 10m\n", 8, "backoff_max must not be shorter than backoff");
#undef HOOK
}

static void test_provider_name(void **state)
{
    (void)state;
    expect_exact(MQTT_OK DB_OK PROV_OK "[provider \"Ops\"]\ntype = console\n", 7,
                 "invalid provider name \"Ops\"; expected 1 to 32 of a-z 0-9 _ -");
    expect_error(MQTT_OK DB_OK PROV_OK "[provider \"\"]\ntype = console\n", 7,
                 "invalid provider name \"\"");
    expect_error(MQTT_OK DB_OK PROV_OK
                 "[provider \"abcdefghijklmnopqrstuvwxyz0123456\"]\ntype = console\n", 7,
                 "invalid provider name");
    expect_error(MQTT_OK DB_OK PROV_OK "[provider \"a.b\"]\ntype = console\n", 7,
                 "invalid provider name");
    /* 32 characters, the longest name. */
    struct cfg *c = parse_ok(MQTT_OK DB_OK
                             "[provider \"abcdefghijklmnopqrstuvwxyz-_0123\"]\ntype = console\n");
    assert_string_equal(c->providers[0].name, "abcdefghijklmnopqrstuvwxyz-_0123");
    cfg_free(c);
}

static void test_too_many_providers(void **state)
{
    (void)state;
    char text[4096];
    size_t w = (size_t)snprintf(text, sizeof text, "%s", MQTT_OK DB_OK);
    for (int i = 0; i <= CFG_MAX_PROVIDERS; i++)
        w += (size_t)snprintf(text + w, sizeof text - w, "[provider \"p%d\"]\ntype = console\n",
                              i);
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    assert_int_equal(parse(text, &c, &d), ANX_EPARSE);
    assert_int_equal(d.n_errors, 1);
    assert_non_null(find_diag(&d, 5 + 2 * CFG_MAX_PROVIDERS, false,
                              "too many providers; at most 16"));
    cfg_diags_free(&d);
}

static void test_channels(void **state)
{
    (void)state;
    const char *two = MQTT_OK DB_OK "[provider \"a\"]\ntype = console\n"
                      "[provider \"b\"]\ntype = console\n";
    char text[512];
    snprintf(text, sizeof text, "%s[channel \"sms\"]\nproviders = b,a\n"
             "[channel \"voice\"]\nproviders = \" b \"\n", two);
    struct cfg *c = parse_ok(text);
    assert_int_equal(c->channel_n[CFG_CHANNEL_SMS], 2);
    assert_int_equal(c->channel_providers[CFG_CHANNEL_SMS][0], 1);
    assert_int_equal(c->channel_providers[CFG_CHANNEL_SMS][1], 0);
    assert_int_equal(c->channel_n[CFG_CHANNEL_VOICE], 1);
    assert_int_equal(c->channel_providers[CFG_CHANNEL_VOICE][0], 1);
    cfg_free(c);

    /* A channel may come before the providers it names. */
    c = parse_ok("[channel \"sms\"]\nproviders = console\n" BASE);
    assert_int_equal(c->channel_n[CFG_CHANNEL_SMS], 1);
    cfg_free(c);

    expect_exact(BASE "[channel \"sms\"]\nproviders = consle\n", 8,
                 "channel \"sms\" names unknown provider \"consle\"; did you mean \"console\"?");
    expect_exact(BASE "[channel \"voice\"]\nproviders = console twilio\n", 8,
                 "channel \"voice\" names unknown provider \"twilio\"; define it with a "
                 "[provider \"NAME\"] section");
    expect_exact(BASE "[channel \"fax\"]\nproviders = console\n", 7,
                 "unknown channel \"fax\"; expected [channel \"sms\"] or [channel \"voice\"]");
    expect_exact(BASE "[channel \"sms\"]\n", 7,
                 "missing required key \"providers\" in [channel \"sms\"]; expected provider "
                 "names in failover order");
    expect_exact(BASE "[channel \"sms\"]\nproviders = console, console\n", 8,
                 "providers: \"console\" is listed twice");
    expect_exact(BASE "[channel \"sms\"]\nproviders = \" , \"\n", 8,
                 "providers: expected provider names separated by spaces or commas, like "
                 "\"primary backup\"");
    expect_error(BASE "[channel \"sms\"]\nproviders =\n", 8, "providers: empty value");

    /* More than CFG_MAX_CHAIN providers in one channel. */
    size_t w = (size_t)snprintf(text, sizeof text, "%s", MQTT_OK DB_OK);
    for (int i = 0; i <= CFG_MAX_CHAIN; i++)
        w += (size_t)snprintf(text + w, sizeof text - w, "[provider \"p%d\"]\ntype = console\n",
                              i);
    w += (size_t)snprintf(text + w, sizeof text - w, "[channel \"sms\"]\nproviders =");
    for (int i = 0; i <= CFG_MAX_CHAIN; i++)
        w += (size_t)snprintf(text + w, sizeof text - w, " p%d", i);
    snprintf(text + w, sizeof text - w, "\n");
    /* p8 ends up unused, hence also a warning; expect_error counts errors only. */
    expect_error(text, 6 + 2 * (CFG_MAX_CHAIN + 1), "providers: too many; at most 8 per channel");
}

static void test_sms_default_first_provider(void **state)
{
    (void)state;
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    const char *text = MQTT_OK DB_OK "[provider \"first\"]\ntype = console\n"
                       "[provider \"second\"]\ntype = console\n";
    assert_int_equal(parse(text, &c, &d), 0);
    assert_int_equal(c->channel_n[CFG_CHANNEL_SMS], 1);
    assert_int_equal(c->channel_providers[CFG_CHANNEL_SMS][0], 0);
    assert_int_equal(c->channel_n[CFG_CHANNEL_VOICE], 0);
    /* The second provider is used by nothing. */
    assert_int_equal(d.n, 1);
    assert_non_null(find_diag(&d, 7, true,
                              "provider \"second\" is defined but no channel uses it"));
    cfg_free(c);
    cfg_diags_free(&d);
}

/* ---- warnings ----------------------------------------------------------- */

static void test_warnings(void **state)
{
    (void)state;
#define SMS_BOTH "[channel \"sms\"]\nproviders = hook console\n"
    expect_warning(BASE "[provider \"hook\"]\ntype = webhook\nurl = http://sms.example.org/x\n"
                   SMS_BOTH, 9, "provider \"hook\" uses plain http:// to sms.example.org: that "
                   "exposes alarms and phone numbers on the network; use https://");
    expect_warning(BASE "[provider \"hook\"]\ntype = webhook\nurl = http://u@10.0.0.5:80/x\n"
                   SMS_BOTH, 9, "plain http:// to 10.0.0.5");
    static const char *const loopback[] = {
        "http://127.0.0.1:9000/x", "http://localhost/x", "http://[::1]:80/", "HTTPS://h/x",
        "http://127.1.2.3/",
    };
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, BASE "[provider \"hook\"]\ntype = webhook\nurl = %s\n"
                 SMS_BOTH, loopback[i]);
        cfg_free(parse_ok(text));
    }
    expect_warning(BASE "[provider \"spare\"]\ntype = console\n[channel \"sms\"]\n"
                   "providers = console\n", 7,
                   "provider \"spare\" is defined but no channel uses it");
    expect_warning("[mqtt]\nurl = tcp://broker.example.org:1883\nca_file = /ca.pem\n"
                   DB_OK PROV_OK, 3, "ca_file is only used with ssl:// or mqtts://");
    expect_warning("[mqtt]\nurl = tcp://broker.example.org:1883\nusername = u\n"
                   "password_file = /pw\n" DB_OK PROV_OK, 2,
                   "the MQTT password would cross the network in clear text");
    cfg_free(parse_ok("[mqtt]\nurl = mqtts://broker.example.org\nca_file = /ca.pem\n"
                      "password_env = PW\n" DB_OK PROV_OK));
#undef SMS_BOTH
}

/* ---- topics ------------------------------------------------------------- */

static void test_topics(void **state)
{
    (void)state;
    /* A lone '#' must be quoted, or it starts a comment. */
    struct cfg *c = parse_ok(MQTT_OK "topics = \"#, +, a/+/b/#,$share/grp/x/+ +/+ /a//b\"\n"
                             "alarm_topics = none\n" DB_OK PROV_OK);
    assert_int_equal(c->mqtt_n_topics, 6);
    assert_string_equal(c->mqtt_topics[0], "#");
    assert_string_equal(c->mqtt_topics[3], "$share/grp/x/+");
    assert_string_equal(c->mqtt_topics[5], "/a//b");
    cfg_free(c);
    c = parse_ok(MQTT_OK "topics = a/# b/+ # c/d\n" DB_OK PROV_OK);
    assert_int_equal(c->mqtt_n_topics, 2);
    cfg_free(c);

    static const char *const bad[] = {
        "a/b#", "a/+b", "a/#/b", "a+/b", "#/a", "$share//x", "$share/g", "$share/g/",
        "$share/g+/x", "$share/g#/x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, MQTT_OK "topics = \"ok/+ %s\"\n" DB_OK PROV_OK, bad[i]);
        char want[128];
        snprintf(want, sizeof want, "topics: bad MQTT filter \"%s\"", bad[i]);
        expect_error(text, 3, want);
    }
    expect_error(MQTT_OK "topics = \",\"\n" DB_OK PROV_OK, 3,
                 "topics: expected MQTT filters separated by spaces or commas");
    expect_exact(MQTT_OK "topics = a/b a/b\n" DB_OK PROV_OK, 3,
                 "topics: \"a/b\" is listed twice");

    char text[1024];
    size_t w = (size_t)snprintf(text, sizeof text, MQTT_OK "topics =");
    for (int i = 0; i <= CFG_MAX_TOPICS; i++)
        w += (size_t)snprintf(text + w, sizeof text - w, " t/%d", i);
    snprintf(text + w, sizeof text - w, "\n" DB_OK PROV_OK);
    expect_exact(text, 3, "topics: too many filters; at most 16");
}

/* ---- collecting and formatting ----------------------------------------- */

static void test_alarm_topics(void **state)
{
    (void)state;
    /* The default: a lane of its own for anxin/v1/+/alarm. */
    struct cfg *c = parse_ok(BASE);
    assert_int_equal(c->mqtt_n_alarm_topics, 1);
    assert_string_equal(c->mqtt_alarm_topics[0], "anxin/v1/+/alarm");
    cfg_free(c);
    c = parse_ok(MQTT_OK "alarm_topics = $share/g/anxin/v1/+/alarm, x/+/alarm\n" DB_OK PROV_OK);
    assert_int_equal(c->mqtt_n_alarm_topics, 2);
    assert_string_equal(c->mqtt_alarm_topics[0], "$share/g/anxin/v1/+/alarm");
    assert_string_equal(c->mqtt_alarm_topics[1], "x/+/alarm");
    cfg_free(c);
    c = parse_ok(MQTT_OK "alarm_topics = none\n" DB_OK PROV_OK);
    assert_int_equal(c->mqtt_n_alarm_topics, 0);
    cfg_free(c);
    /* Telemetry filters that take alarms already: the default steps aside,
     * and says so where topics is set. */
    static const char *const wide[] = {"\"#\"", "anxin/#", "anxin/v1/+/+", "+/v1/X/alarm",
                                       "$share/g/anxin/v1/#", "anxin/v1/+/alarm/#"};
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, MQTT_OK "topics = %s\n" DB_OK PROV_OK, wide[i]);
        expect_warning(text, 3, "so the alarm lane is off");
        struct cfg_diags d = {0};
        assert_int_equal(parse(text, &c, &d), 0);
        assert_int_equal(c->mqtt_n_alarm_topics, 0);
        cfg_free(c);
        cfg_diags_free(&d);
    }
    /* Filters that cannot match the same topic live side by side. */
    static const char *const apart[] = {"anxin/v1/+/telemetry", "anxin/v2/#", "anxin/v1/+",
                                        "anxin/v1/+/alarm/x", "+/+/+/telemetry/#"};
    for (size_t i = 0; i < sizeof apart / sizeof apart[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, MQTT_OK "topics = %s\n" DB_OK PROV_OK, apart[i]);
        c = parse_ok(text);
        assert_int_equal(c->mqtt_n_alarm_topics, 1);
        cfg_free(c);
    }
    /* Set by hand, an overlap is an error: each alarm would arrive twice. */
    expect_exact(MQTT_OK "topics = a/#\nalarm_topics = a/b/alarm\n" DB_OK PROV_OK, 4,
                 "alarm_topics: \"a/b/alarm\" overlaps topics \"a/#\", so a message would "
                 "arrive twice; the alarm filters must match nothing the telemetry filters "
                 "match");
    expect_error(MQTT_OK "topics = a/+/t\nalarm_topics = $share/g/+/x/+\n" DB_OK PROV_OK, 4,
                 "overlaps topics \"a/+/t\"");
    expect_error(MQTT_OK "topics = a/b/#\nalarm_topics = a/b\n" DB_OK PROV_OK, 4,
                 "overlaps topics \"a/b/#\"");
    expect_error(MQTT_OK "alarm_topics = a/#/b\n" DB_OK PROV_OK, 3,
                 "alarm_topics: bad MQTT filter \"a/#/b\"");
    expect_exact(MQTT_OK "alarm_topics = x/a x/a\n" DB_OK PROV_OK, 3,
                 "alarm_topics: \"x/a\" is listed twice");
}

static void test_multiple_errors(void **state)
{
    (void)state;
    const char *text =
        "stray = 1\n"                       /* 1 outside any section */
        "[mqtt]\n"
        "url = http://broker\n"             /* 3 bad scheme */
        "keepalive = ten\n"                 /* 4 bad duration */
        "urll = x\n"                        /* 5 unknown key, did you mean */
        "[database]\n"
        "conninfo = host=db password=x\n"   /* 7 inline secret */
        "[journal]\n"
        "fsync = sometimes\n"               /* 9 bad enum */
        "fsync = always\n"                  /* 10 duplicate key */
        "[provider \"p\"]\n"                /* 11 no type */
        "[channel \"sms\"]\n"
        "providers = p, q\n"                /* 13 unknown provider */
        "[journal]\n";                      /* 14 duplicate section */
    struct cfg *c = (struct cfg *)&c;
    struct cfg_diags d = {0};
    assert_int_equal(parse(text, &c, &d), ANX_EPARSE);
    assert_null(c);
    static const struct { int line; const char *needle; } want[] = {
        {1, "outside any section"},
        {3, "url: expected tcp://"},
        {4, "keepalive: expected a duration like 30s or 5m, got \"ten\""},
        {5, "did you mean \"url\"?"},
        {7, "conninfo: secrets are not allowed inline"},
        {9, "fsync: expected none or always"},
        {10, "duplicate key \"fsync\" in [journal]; first set on line 9"},
        {11, "provider \"p\" has no type"},
        {13, "unknown provider \"q\""},
        {14, "duplicate section [journal]; first on line 8"},
    };
    size_t n_want = sizeof want / sizeof want[0];
    if (d.n != n_want)
        dump(&d);
    assert_int_equal(d.n, n_want);
    assert_int_equal(d.n_errors, n_want);
    /* Sorted by line, in file order. */
    for (size_t i = 0; i < n_want; i++) {
        assert_int_equal(d.items[i].line, want[i].line);
        if (!strstr(d.items[i].msg, want[i].needle))
            fail_msg("line %d: \"%s\" lacks \"%s\"", want[i].line, d.items[i].msg,
                     want[i].needle);
    }
    cfg_diags_free(&d);
}

static void test_diags_append_and_sort(void **state)
{
    (void)state;
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    /* First parse: a warning only. */
    assert_int_equal(parse(BASE "[provider \"spare\"]\ntype = console\n[channel \"sms\"]\n"
                           "providers = console\n", &c, &d), 0);
    cfg_free(c);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.n_errors, 0);
    /* Second parse appends; the whole-file error (line 0) goes after line errors. */
    assert_int_equal(parse(DB_OK PROV_OK "[journal]\nfsync = x\n", &c, &d), ANX_EPARSE);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.n_errors, 2);
    assert_true(d.items[0].warning);
    assert_int_equal(d.items[1].line, 6);
    assert_int_equal(d.items[2].line, 0);
    cfg_diags_free(&d);
    assert_null(d.items);
    assert_int_equal(d.n, 0);
    assert_int_equal(d.n_errors, 0);
    cfg_diags_free(&d);                 /* twice is harmless */
    cfg_diags_free(NULL);
    cfg_free(NULL);
}

static void test_diag_format(void **state)
{
    (void)state;
    struct cfg_diag e = {.line = 7, .warning = false};
    snprintf(e.msg, sizeof e.msg, "fsync: expected none or always, got \"x\"");
    char buf[256];
    cfg_diag_format("/etc/anxin/anxind.conf", &e, buf, sizeof buf);
    assert_string_equal(buf, "/etc/anxin/anxind.conf:7: error: fsync: expected none or "
                        "always, got \"x\"");
    struct cfg_diag w = {.line = 12, .warning = true};
    snprintf(w.msg, sizeof w.msg, "provider \"x\" is defined but no channel uses it");
    cfg_diag_format("a.conf", &w, buf, sizeof buf);
    assert_string_equal(buf, "a.conf:12: warning: provider \"x\" is defined but no channel "
                        "uses it");
    struct cfg_diag z = {.line = 0, .warning = false};
    snprintf(z.msg, sizeof z.msg, "no [provider] section");
    cfg_diag_format("a.conf", &z, buf, sizeof buf);
    assert_string_equal(buf, "a.conf: error: no [provider] section");
    /* Truncated, still terminated. */
    char small[10];
    cfg_diag_format("a.conf", &e, small, sizeof small);
    assert_string_equal(small, "a.conf:7:");
    cfg_diag_format("a.conf", &e, small, 0);

    /* Straight from a parse. */
    struct cfg *c = NULL;
    struct cfg_diags d = {0};
    assert_int_equal(cfg_parse("x/anxind.conf", MQTT_OK "keepalive = ten\n" DB_OK PROV_OK,
                               strlen(MQTT_OK "keepalive = ten\n" DB_OK PROV_OK), "/e", "/s",
                               &c, &d), ANX_EPARSE);
    cfg_diag_format("x/anxind.conf", &d.items[0], buf, sizeof buf);
    assert_string_equal(buf, "x/anxind.conf:3: error: keepalive: expected a duration like "
                        "30s or 5m, got \"ten\"");
    cfg_diags_free(&d);
}

static void test_lookups(void **state)
{
    (void)state;
    assert_string_equal(cfg_channel_name(CFG_CHANNEL_SMS), "sms");
    assert_string_equal(cfg_channel_name(CFG_CHANNEL_VOICE), "voice");
    assert_string_equal(cfg_channel_name(CFG_CHANNEL_COUNT), "unknown");
    struct cfg *c = parse_ok(BASE);
    assert_int_equal(cfg_provider_index(c, "console"), 0);
    assert_int_equal(cfg_provider_index(c, "Console"), -1);
    cfg_free(c);
}

static void test_utc_offset(void **state)
{
    (void)state;
    struct cfg *c = parse_ok(BASE);
    assert_int_equal(c->utc_offset_min, 480);       /* China Standard Time by default */
    cfg_free(c);
    c = parse_ok("[anxind]\nutc_offset = -05:30\n" BASE);
    assert_int_equal(c->utc_offset_min, -330);
    cfg_free(c);
    c = parse_ok("[anxind]\nutc_offset = +00:00\n" BASE);
    assert_int_equal(c->utc_offset_min, 0);
    cfg_free(c);
    expect_error("[anxind]\nutc_offset = 8\n" BASE, 2, "expected an offset like +08:00");
    expect_error("[anxind]\nutc_offset = +15:00\n" BASE, 2, "utc_offset");
    expect_error("[anxind]\nutc_offset = +08:60\n" BASE, 2, "utc_offset");
    int m;
    assert_int_equal(cfg_parse_utc_offset("+14:00", &m), 0);
    assert_int_equal(m, 840);
    assert_int_equal(cfg_parse_utc_offset("08:00", &m), ANX_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_default_dirs_trailing_slash),
        cmocka_unit_test(test_client_id_follows_node),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_shipped_conf),
        cmocka_unit_test(test_comments_and_blank_lines),
        cmocka_unit_test(test_comment_only_value_is_empty),
        cmocka_unit_test(test_trailing_comment_values),
        cmocka_unit_test(test_crlf_and_bom),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_quote_errors),
        cmocka_unit_test(test_line_syntax_errors),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_unknown_section),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_duplicate_section),
        cmocka_unit_test(test_key_outside_section),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_no_provider),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_size_parse),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_long_value_is_cut_in_message),
        cmocka_unit_test(test_url_schemes),
        cmocka_unit_test(test_inline_secrets),
        cmocka_unit_test(test_secret_file_and_env),
        cmocka_unit_test(test_provider_type),
        cmocka_unit_test(test_provider_values),
        cmocka_unit_test(test_provider_name),
        cmocka_unit_test(test_too_many_providers),
        cmocka_unit_test(test_channels),
        cmocka_unit_test(test_sms_default_first_provider),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_alarm_topics),
        cmocka_unit_test(test_multiple_errors),
        cmocka_unit_test(test_diags_append_and_sort),
        cmocka_unit_test(test_diag_format),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_utc_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
