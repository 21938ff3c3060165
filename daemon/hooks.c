/* hooks.c - what providers call back with: delivery reports and call
 * results on /hooks/<provider name>/<kind>, checked (a signature, or a key
 * only this anxin can make), turned into struct prov_report by the
 * provider's module and written to the timeline by store_report.
 *
 *   /hooks/NAME/dlr      Kannel dlr-url (GET): n, s, t (the tag of n)
 *   /hooks/NAME/report   Aliyun SmsReport/VoiceReport, Tencent status
 *                        callbacks (POST JSON), ?key=prov_report_key(secret)
 *   /hooks/NAME/status   Twilio status callbacks (POST form), ?n=ID,
 *                        X-Twilio-Signature
 *   /hooks/NAME/gather   Twilio <Gather> key presses, as status
 *   /hooks/NAME/mo       an SMS reply ("4821", "4821 1", "确认4821"), which
 *                        acknowledges for the person it was sent to:
 *                          Kannel sms-service get-url (GET), ?key=&from=%p&text=%a;
 *                          the answer is the text Kannel sends back
 *                          Aliyun SmsUp push (POST JSON array), ?key=
 *                          Tencent reply callback (POST JSON), ?key=
 *                          Twilio incoming message (POST form), X-Twilio-Signature;
 *                          the answer is TwiML with the <Message> sent back
 *
 * Reports are answered at once: the write is queued (pgc keeps it through a
 * database outage), and providers retry only when told no. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "anxind.h"
#include "api.h"
#include "err.h"
#include "mask.h"
#include "prov_aliyun.h"
#include "prov_kannel.h"
#include "prov_tencent.h"
#include "prov_twilio.h"

#define HOOK_MAX_REPORTS 100    /* per push; Aliyun pushes up to 100 at a time */
#define HOOK_MAX_FORM 64        /* Twilio posts about 20 fields */

static void reply(struct httpd_reply *rep, int status, const char *type, const char *body)
{
    rep->status = status;
    rep->content_type = type;
    rep->body = strdup(body);
}

/* Refuses a callback, saying why in the log and the answer; an address
 * refused too often gets 429 without a log line each (authguard.h), so a
 * stream of forged posts cannot fill the log. */
static void refuse(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep,
                   int status, const char *provider, const char *why)
{
    d->stats.reports_rejected++;
    if (api_refusal_throttled(d, req, rep))
        return;
    log_warn(&d->log, "hooks: refused a report for provider %s: %s", provider, why);
    char body[200];
    snprintf(body, sizeof body, "{\"error\":\"%s\",\"detail\":\"%s\"}\n",
             status == 403 ? "forbidden" : status == 404 ? "not_found" : "bad_request", why);
    reply(rep, status, "application/json", body);
}

static void record(struct anxind *d, const char *provider, const struct prov_report *r)
{
    d->stats.reports_received++;
    if (store_report(d, provider, r) != 0)
        log_error(&d->log, "hooks: cannot queue a report of provider %s (out of memory)",
                  provider);
}

static void hook_kannel_dlr(struct anxind *d, const struct httpd_request *req,
                            struct httpd_reply *rep, const char *name, const char *secret)
{
    struct prov_report r;
    int rc = prov_kannel_report(secret, httpd_query(req, "n"), httpd_query(req, "s"),
                                httpd_query(req, "t"), &r);
    if (rc == ANX_ESTATE) {
        refuse(d, req, rep, 403, name, "the report tag does not match (forged, or for another anxin)");
        return;
    }
    if (rc) {
        refuse(d, req, rep, 400, name, "expected n, s and t as set in the dlr-url");
        return;
    }
    if (r.status != PROV_PENDING)
        record(d, name, &r);
    reply(rep, 200, "text/plain", "ok\n");
}

static void hook_json_reports(struct anxind *d, const struct httpd_request *req,
                              struct httpd_reply *rep, const char *name,
                              const struct cfg_provider *p, const char *secret)
{
    if (!prov_tag_ok(secret, "report", httpd_query(req, "key"))) {
        refuse(d, req, rep, 403, name, "missing or wrong key= in the report address "
                                  "(see anxinctl providers)");
        return;
    }
    struct prov_report *rs = calloc(HOOK_MAX_REPORTS, sizeof *rs);
    if (!rs) {
        reply(rep, 503, "application/json", "{\"error\":\"unavailable\"}\n");
        return;
    }
    size_t n = 0;
    int rc = p->type == CFG_PROVIDER_ALIYUN
                 ? prov_aliyun_reports(req->body, req->body_len, rs, HOOK_MAX_REPORTS, &n)
                 : prov_tencent_reports(req->body, req->body_len, rs, HOOK_MAX_REPORTS, &n);
    if (rc && rc != ANX_ERANGE) {
        free(rs);
        refuse(d, req, rep, 400, name, "the body is not a JSON array of reports");
        return;
    }
    if (rc == ANX_ERANGE)
        log_warn(&d->log, "hooks: provider %s pushed more than %d reports at once; "
                          "the rest are dropped", name, HOOK_MAX_REPORTS);
    for (size_t i = 0; i < n; i++)
        if (rs[i].status != PROV_PENDING || rs[i].digits[0])
            record(d, name, &rs[i]);
    free(rs);
    if (p->type == CFG_PROVIDER_ALIYUN)
        reply(rep, 200, "application/json", PROV_ALIYUN_REPORT_ACK);
    else
        reply(rep, 200, "application/json", PROV_TENCENT_CALLBACK_ACK);
}

/* A Twilio post, split into its fields once its X-Twilio-Signature proved
 * it was signed for url, the address Twilio called. */
struct twilio_post {
    char *form;                 /* the body, split in place */
    struct prov_param *f;       /* fields pointing into form */
    size_t n;
};

/* Reads and checks the post; false with the refusal in rep when it may not
 * be read. Free with twilio_post_free either way. */
static bool twilio_post_read(struct anxind *d, const struct httpd_request *req,
                             struct httpd_reply *rep, const char *name, const char *secret,
                             const char *url, struct twilio_post *t)
{
    t->form = strndup(req->body, req->body_len);
    t->f = calloc(HOOK_MAX_FORM, sizeof *t->f);
    t->n = 0;
    if (!t->form || !t->f || !url) {
        reply(rep, 503, "application/json", "{\"error\":\"unavailable\"}\n");
        return false;
    }
    if (prov_twilio_parse_form(t->form, t->f, HOOK_MAX_FORM, &t->n) != 0) {
        refuse(d, req, rep, 400, name, "the body is not a form post");
        return false;
    }
    if (!prov_twilio_verify(secret, url, t->f, t->n, httpd_header(req, "X-Twilio-Signature"))) {
        refuse(d, req, rep, 403, name, "X-Twilio-Signature does not match (check callback = the "
                                  "address Twilio calls)");
        return false;
    }
    return true;
}

static void twilio_post_free(struct twilio_post *t)
{
    free(t->f);
    free(t->form);
}

static void hook_twilio(struct anxind *d, const struct httpd_request *req,
                        struct httpd_reply *rep, const char *name, const struct cfg_provider *p,
                        const char *secret, bool gather)
{
    const char *n = httpd_query(req, "n");
    char *end = NULL;
    long long id = n ? strtoll(n, &end, 10) : 0;
    if (!n || *end || id <= 0) {
        refuse(d, req, rep, 400, name, "expected ?n=<notification id> as set in the callback");
        return;
    }
    /* Twilio signs the address it called: the one the request was built
     * with, from callback. */
    char *url = prov_twilio_hook_url(p->callback, gather ? "gather" : "status", id);
    struct twilio_post t;
    if (!twilio_post_read(d, req, rep, name, secret, url, &t))
        goto out;
    struct prov_report r;
    if (prov_twilio_report(t.f, t.n, id, &r) != 0) {
        refuse(d, req, rep, 400, name, "no MessageStatus, CallStatus or Digits in the post");
        goto out;
    }
    if (r.status != PROV_PENDING || r.digits[0])
        record(d, name, &r);
    if (gather)
        reply(rep, 200, "text/xml",
              r.digits[0] == '1'
                  ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>"
                    "<Say language=\"zh-CN\">已确认，谢谢。请尽快处理。</Say></Response>"
                  : "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>"
                    "<Say language=\"zh-CN\">未确认。</Say></Response>");
    else
        reply(rep, 200, "text/xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>");
out:
    twilio_post_free(&t);
    free(url);
}

/* ---- SMS replies ----------------------------------------------------------
 *
 * Every provider's incoming SMS becomes struct prov_reply (its module reads
 * the callback), the batch goes to anxin_phone_reply in one statement (one
 * transaction: a push that fails is taken again whole), and the phone gets
 * an answer where the provider can carry one: Kannel sends the body of our
 * HTTP answer back as an SMS, Twilio the <Message> of our TwiML. Aliyun's
 * SmsUp and Tencent's reply callback take no answer; sending one as a new
 * SMS would need an approved template of its own and a notification row
 * without an alert, so the outcome is recorded (audit_log) instead and
 * docs/notifications.md says so. */

#define HOOK_MAX_REPLIES HOOK_MAX_REPORTS   /* Aliyun pushes batches, like reports */
/* What the phone gets when the reply could not be taken: a person is
 * waiting, so they are sent to the telephone rather than left guessing. */
#define REPLY_SORRY "系统暂时无法确认，请直接电话联系。"

struct reply_batch {
    struct anxind *d;
    struct httpd_pending *pending;
    enum cfg_provider_type type;
    char provider[CFG_NAME_MAX + 1];
    size_t n;
    char masked[HOOK_MAX_REPLIES][MASK_PHONE_MAX];     /* the senders, for log lines */
};

/* Whether the provider carries our answer back to the phone. */
static bool answers_phone(enum cfg_provider_type t)
{
    return t == CFG_PROVIDER_KANNEL || t == CFG_PROVIDER_TWILIO;
}

/* The HTTP answer to the provider: the text for the phone (Kannel, Twilio),
 * or the acknowledgement the provider wants (Aliyun, Tencent). */
static void answer_replies(enum cfg_provider_type type, struct httpd_reply *rep,
                           const char *text)
{
    switch (type) {
    case CFG_PROVIDER_KANNEL:
        reply(rep, 200, "text/plain; charset=utf-8", text);
        /* Chinese goes out as UCS-2 (Kannel's coding 2), or it arrives as '?'. */
        rep->header_name = "X-Kannel-Coding";
        rep->header_value = "2";
        break;
    case CFG_PROVIDER_TWILIO:
        rep->status = 200;
        rep->content_type = "text/xml";
        rep->body = prov_twilio_message_twiml(text);
        if (!rep->body)
            reply(rep, 503, "text/plain", "out of memory\n");
        break;
    case CFG_PROVIDER_ALIYUN:
        reply(rep, 200, "application/json", PROV_ALIYUN_REPORT_ACK);
        break;
    default:
        reply(rep, 200, "application/json", PROV_TENCENT_CALLBACK_ACK);
        break;
    }
}

/* One row of anxin_phone_reply: logs it, counts it, and writes the answer
 * for the phone into text. */
static void take_outcome(struct reply_batch *b, size_t i, const char *json, char *text,
                         size_t textlen)
{
    struct anxind *d = b->d;
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    enum prov_reply_outcome o;
    if (prov_reply_outcome_parse(cJSON_GetStringValue(cJSON_GetObjectItem(j, "outcome")),
                                 &o) != 0) {
        log_error(&d->log, "hooks: an SMS reply via %s got an answer anxind does not know",
                  b->provider);
        cJSON_Delete(j);
        snprintf(text, textlen, "%s", REPLY_SORRY);
        return;
    }
    const cJSON *alert = cJSON_GetObjectItem(j, "alert");
    long long id = cJSON_IsNumber(alert) ? (long long)alert->valuedouble : 0;
    d->stats.phone_replies[o]++;
    /* The sender masked, the alert by id: never a number or a name. */
    if (o == PROV_REPLY_REFUSED)
        log_warn(&d->log, "hooks: refused an SMS reply from %s via %s: that number was not "
                          "notified of alert %lld (audited)", b->masked[i], b->provider, id);
    else if (id)
        log_info(&d->log, "hooks: SMS reply from %s via %s: %s, alert %lld", b->masked[i],
                 b->provider, prov_reply_outcome_name(o), id);
    else
        log_info(&d->log, "hooks: SMS reply from %s via %s: %s", b->masked[i], b->provider,
                 prov_reply_outcome_name(o));
    struct prov_reply_taker by = {
        .name = cJSON_GetStringValue(cJSON_GetObjectItem(j, "by_name")),
        .phone = cJSON_GetStringValue(cJSON_GetObjectItem(j, "by_phone")),
        .staff = cJSON_IsTrue(cJSON_GetObjectItem(j, "by_staff")),
    };
    prov_reply_answer(o, cJSON_GetStringValue(cJSON_GetObjectItem(j, "elder")), &by, text,
                      textlen);
    cJSON_Delete(j);
}

static void on_replies(void *arg, const PGresult *res)
{
    struct reply_batch *b = arg;
    struct httpd_reply rep = {0};
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || (size_t)PQntuples(res) != b->n) {
        log_error(&b->d->log, "hooks: %zu SMS replies via %s could not be recorded: %s", b->n,
                  b->provider, res ? pgc_error(res) : "no result");
        if (answers_phone(b->type))
            answer_replies(b->type, &rep, REPLY_SORRY);
        else    /* Aliyun and Tencent push again when not told 200. */
            reply(&rep, 503, "application/json", "{\"error\":\"unavailable\"}\n");
    } else {
        /* Kannel and Twilio bring one reply at a time: the first answer is
         * the one for the phone. */
        char text[400], scratch[400];
        for (size_t i = 0; i < b->n; i++)
            take_outcome(b, i, PQgetvalue(res, (int)i, 0), i ? scratch : text,
                         i ? sizeof scratch : sizeof text);
        answer_replies(b->type, &rep, text);
    }
    httpd_complete(b->pending, &rep);
    free(b);
}

/* Hands the parsed replies to the database; the HTTP answer waits for it. */
static void record_replies(struct anxind *d, const struct httpd_request *req,
                           struct httpd_reply *rep, const char *name,
                           const struct cfg_provider *p, const struct prov_reply *r, size_t n)
{
    struct reply_batch *b = calloc(1, sizeof *b);
    cJSON *doc = cJSON_CreateArray();
    char *text = NULL;
    for (size_t i = 0; b && doc && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        mask_phone(r[i].from, b->masked[i], sizeof b->masked[i]);
        if (!o || !cJSON_AddItemToArray(doc, o)) {
            cJSON_Delete(o);
            break;
        }
        cJSON_AddStringToObject(o, "from", r[i].from);
        cJSON_AddStringToObject(o, "masked", b->masked[i]);
        if (r[i].code[0])
            cJSON_AddStringToObject(o, "code", r[i].code);
        cJSON_AddStringToObject(o, "provider", name);
        cJSON_AddStringToObject(o, "via", cfg_provider_type_name(p->type));
        cJSON_AddBoolToObject(o, "answered", answers_phone(p->type));
    }
    if (b && doc && (size_t)cJSON_GetArraySize(doc) == n)
        text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!text) {
        free(b);
        reply(rep, 503, "application/json", "{\"error\":\"unavailable\"}\n");
        return;
    }
    b->d = d;
    b->type = p->type;
    b->n = n;
    snprintf(b->provider, sizeof b->provider, "%s", name);
    b->pending = httpd_defer(req);
    const char *params[1] = {text};
    /* Queued even while the database is away; the answer waits for it. */
    if (pgc_query(d->pg,
                  "SELECT anxin_phone_reply(r.value) FROM jsonb_array_elements($1::jsonb) "
                  "WITH ORDINALITY AS r(value, i) ORDER BY r.i",
                  1, params, on_replies, b, 0) != 0)
        on_replies(b, NULL);
    free(text);
}

/* /hooks/NAME/mo: an SMS reply, in the provider's own shape. */
static void hook_replies(struct anxind *d, const struct httpd_request *req,
                         struct httpd_reply *rep, const char *name, const struct cfg_provider *p,
                         const char *secret)
{
    struct prov_reply *r = calloc(HOOK_MAX_REPLIES, sizeof *r);
    char *url = NULL;
    struct twilio_post t = {0};
    size_t n = 0, skipped = 0;
    int rc;
    if (!r)
        goto nomem;
    if (p->type != CFG_PROVIDER_KANNEL && p->type != CFG_PROVIDER_ALIYUN &&
        p->type != CFG_PROVIDER_TENCENT && p->type != CFG_PROVIDER_TWILIO) {
        refuse(d, req, rep, 404, name, "no such address for this provider type");
        goto out;
    }
    /* Twilio signs its posts; the others' addresses carry a key. */
    if (p->type != CFG_PROVIDER_TWILIO &&
        !prov_tag_ok(secret, "report", httpd_query(req, "key"))) {
        refuse(d, req, rep, 403, name, "missing or wrong key= in the reply address "
                                  "(see anxinctl providers)");
        goto out;
    }
    switch (p->type) {
    case CFG_PROVIDER_KANNEL:
        if (prov_reply_fill(httpd_query(req, "from"), httpd_query(req, "text"),
                            ALERT_ACK_CODE_LEN, &r[0]) != 0) {
            refuse(d, req, rep, 400, name, "from is not a phone number (use from=%p in get-url)");
            goto out;
        }
        n = 1;
        break;
    case CFG_PROVIDER_ALIYUN:
    case CFG_PROVIDER_TENCENT:
        rc = p->type == CFG_PROVIDER_ALIYUN
                 ? prov_aliyun_replies(req->body, req->body_len, ALERT_ACK_CODE_LEN, r,
                                       HOOK_MAX_REPLIES, &n, &skipped)
                 : prov_tencent_replies(req->body, req->body_len, ALERT_ACK_CODE_LEN, r,
                                        HOOK_MAX_REPLIES, &n, &skipped);
        if (rc && rc != ANX_ERANGE) {
            refuse(d, req, rep, 400, name, "the body is not the JSON of an SMS reply");
            goto out;
        }
        if (rc == ANX_ERANGE)
            log_warn(&d->log, "hooks: provider %s pushed more than %d SMS replies at once; "
                              "the rest are dropped", name, HOOK_MAX_REPLIES);
        if (skipped)
            log_warn(&d->log, "hooks: provider %s pushed %zu SMS replies without a usable "
                              "sender number; skipped", name, skipped);
        break;
    case CFG_PROVIDER_TWILIO:
        /* Twilio signs the address entered for our number in its console:
         * callback + "/mo", no query. */
        url = prov_twilio_hook_url(p->callback, "mo", 0);
        if (!url && !(p->callback && *p->callback)) {
            refuse(d, req, rep, 404, name, "set callback for this provider: Twilio signs the "
                                      "address it calls");
            goto out;
        }
        if (!twilio_post_read(d, req, rep, name, secret, url, &t))
            goto out;
        if (prov_twilio_inbound(t.f, t.n, ALERT_ACK_CODE_LEN, &r[0]) != 0) {
            refuse(d, req, rep, 400, name, "not an incoming message with a sender number");
            goto out;
        }
        n = 1;
        break;
    default:
        break;
    }
    if (n == 0)
        answer_replies(p->type, rep, "");   /* nothing usable: nothing to answer */
    else
        record_replies(d, req, rep, name, p, r, n);
    goto out;
nomem:
    reply(rep, 503, "application/json", "{\"error\":\"unavailable\"}\n");
out:
    twilio_post_free(&t);
    free(url);
    free(r);
}

void hooks_handle(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep)
{
    /* /hooks/NAME/KIND */
    const char *name_at = req->path + strlen("/hooks/");
    const char *slash = strchr(name_at, '/');
    char name[CFG_NAME_MAX + 1];
    size_t len = slash ? (size_t)(slash - name_at) : 0;
    if (!slash || len == 0 || len > CFG_NAME_MAX) {
        reply(rep, 404, "application/json",
              "{\"error\":\"not_found\",\"detail\":\"expected /hooks/<provider>/<kind>\"}\n");
        return;
    }
    memcpy(name, name_at, len);
    name[len] = '\0';
    const char *kind = slash + 1;
    int i = cfg_provider_index(d->cfg, name);
    if (i < 0) {
        refuse(d, req, rep, 404, "(unknown)", "no provider of that name is configured");
        return;
    }
    const struct cfg_provider *p = &d->cfg->providers[i];
    const char *secret = d->notifier ? notifier_secret(d->notifier, i) : NULL;
    bool post = strcmp(req->method, "POST") == 0;
    if (!secret) {
        refuse(d, req, rep, 404, name, "this provider has no secret, so it takes no reports");
        return;
    }
    if (p->type == CFG_PROVIDER_KANNEL && strcmp(kind, "dlr") == 0)
        hook_kannel_dlr(d, req, rep, name, secret);
    else if (strcmp(kind, "mo") == 0 && (p->type == CFG_PROVIDER_KANNEL || post))
        hook_replies(d, req, rep, name, p, secret);
    else if ((p->type == CFG_PROVIDER_ALIYUN || p->type == CFG_PROVIDER_TENCENT) &&
             strcmp(kind, "report") == 0 && post)
        hook_json_reports(d, req, rep, name, p, secret);
    else if (p->type == CFG_PROVIDER_TWILIO && post &&
             (strcmp(kind, "status") == 0 || strcmp(kind, "gather") == 0))
        hook_twilio(d, req, rep, name, p, secret, strcmp(kind, "gather") == 0);
    else
        refuse(d, req, rep, 404, name, "no such report address for this provider type");
}
