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
 *   /hooks/NAME/mo       Kannel sms-service get-url: an SMS reply ("4821")
 *                        acknowledges; ?key=&from=%p&text=%a. The answer is
 *                        the text Kannel sends back to the phone.
 *
 * Reports are answered at once: the write is queued (pgc keeps it through a
 * database outage), and providers retry only when told no. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "anxind.h"
#include "err.h"
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

static void refuse(struct anxind *d, struct httpd_reply *rep, int status, const char *provider,
                   const char *why)
{
    d->stats.reports_rejected++;
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
        refuse(d, rep, 403, name, "the report tag does not match (forged, or for another anxin)");
        return;
    }
    if (rc) {
        refuse(d, rep, 400, name, "expected n, s and t as set in the dlr-url");
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
        refuse(d, rep, 403, name, "missing or wrong key= in the report address "
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
        refuse(d, rep, 400, name, "the body is not a JSON array of reports");
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
        reply(rep, 200, "application/json", "{\"result\":0,\"errmsg\":\"OK\"}");
}

static void hook_twilio(struct anxind *d, const struct httpd_request *req,
                        struct httpd_reply *rep, const char *name, const struct cfg_provider *p,
                        const char *secret, bool gather)
{
    const char *n = httpd_query(req, "n");
    char *end = NULL;
    long long id = n ? strtoll(n, &end, 10) : 0;
    if (!n || *end || id <= 0) {
        refuse(d, rep, 400, name, "expected ?n=<notification id> as set in the callback");
        return;
    }
    char *form = strndup(req->body, req->body_len);
    struct prov_param *f = calloc(HOOK_MAX_FORM, sizeof *f);
    /* Twilio signs the address it called: the one the request was built
     * with, from callback. */
    char *url = prov_twilio_hook_url(p->callback, gather ? "gather" : "status", id);
    size_t nf = 0;
    if (!form || !f || !url) {
        reply(rep, 503, "application/json", "{\"error\":\"unavailable\"}\n");
        goto out;
    }
    if (prov_twilio_parse_form(form, f, HOOK_MAX_FORM, &nf) != 0) {
        refuse(d, rep, 400, name, "the body is not a form post");
        goto out;
    }
    if (!prov_twilio_verify(secret, url, f, nf, httpd_header(req, "X-Twilio-Signature"))) {
        refuse(d, rep, 403, name, "X-Twilio-Signature does not match (check callback = the "
                                  "address Twilio calls)");
        goto out;
    }
    struct prov_report r;
    if (prov_twilio_report(f, nf, id, &r) != 0) {
        refuse(d, rep, 400, name, "no MessageStatus, CallStatus or Digits in the post");
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
    free(url);
    free(f);
    free(form);
}

struct reply_ack {
    struct anxind *d;
    struct httpd_pending *pending;
};

/* What the phone gets back: Kannel sends the answer as the reply SMS. */
static void on_reply_ack(void *arg, const PGresult *res)
{
    struct reply_ack *ra = arg;
    struct httpd_reply rep = {0};
    const char *r = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
                        ? PQgetvalue(res, 0, 0) : NULL;
    const char *text;
    if (!r) {
        log_error(&ra->d->log, "hooks: an SMS reply could not be recorded: %s", pgc_error(res));
        text = "系统暂时无法确认，请直接电话联系。";
    } else if (strcmp(r, "ok") == 0) {
        log_info(&ra->d->log, "alert acknowledged by an SMS reply");
        text = "已确认，由您处理。谢谢！";
    } else if (strcmp(r, "already_acknowledged") == 0) {
        text = "此告警已有人确认处理。谢谢！";
    } else {
        text = "未找到待确认的告警，请核对短信中的确认码。";
    }
    reply(&rep, 200, "text/plain; charset=utf-8", text);
    /* Chinese goes out as UCS-2 (Kannel's coding 2), or it arrives as '?'. */
    rep.header_name = "X-Kannel-Coding";
    rep.header_value = "2";
    httpd_complete(ra->pending, &rep);
    free(ra);
}

static void hook_kannel_mo(struct anxind *d, const struct httpd_request *req,
                           struct httpd_reply *rep, const char *name, const char *secret)
{
    if (!prov_tag_ok(secret, "report", httpd_query(req, "key"))) {
        refuse(d, rep, 403, name, "missing or wrong key= in the sms-service get-url "
                                  "(see anxinctl providers)");
        return;
    }
    char from[24], code[ALERT_ACK_CODE_LEN + 1];
    if (prov_sender_e164(httpd_query(req, "from"), from, sizeof from) != 0) {
        refuse(d, rep, 400, name, "from is not a phone number (use from=%p in get-url)");
        return;
    }
    if (prov_reply_code(httpd_query(req, "text"), ALERT_ACK_CODE_LEN, code) != 0) {
        reply(rep, 200, "text/plain; charset=utf-8", "请回复短信中的4位确认码。");
        rep->header_name = "X-Kannel-Coding";
        rep->header_value = "2";
        return;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "from", from);
    cJSON_AddStringToObject(doc, "code", code);
    cJSON_AddStringToObject(doc, "provider", name);
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    struct reply_ack *ra = calloc(1, sizeof *ra);
    if (!text || !ra) {
        free(text);
        free(ra);
        reply(rep, 503, "text/plain; charset=utf-8", "系统繁忙，请稍后再试。");
        return;
    }
    ra->d = d;
    ra->pending = httpd_defer(req);
    const char *params[1] = {text};
    /* Queued even while the database is away; the answer waits for it. */
    if (pgc_query(d->pg, "SELECT anxin_reply_ack($1::jsonb)", 1, params, on_reply_ack, ra,
                  0) != 0)
        on_reply_ack(ra, NULL);
    free(text);
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
        refuse(d, rep, 404, "(unknown)", "no provider of that name is configured");
        return;
    }
    const struct cfg_provider *p = &d->cfg->providers[i];
    const char *secret = d->notifier ? notifier_secret(d->notifier, i) : NULL;
    bool post = strcmp(req->method, "POST") == 0;
    if (!secret) {
        refuse(d, rep, 404, name, "this provider has no secret, so it takes no reports");
        return;
    }
    if (p->type == CFG_PROVIDER_KANNEL && strcmp(kind, "dlr") == 0)
        hook_kannel_dlr(d, req, rep, name, secret);
    else if (p->type == CFG_PROVIDER_KANNEL && strcmp(kind, "mo") == 0)
        hook_kannel_mo(d, req, rep, name, secret);
    else if ((p->type == CFG_PROVIDER_ALIYUN || p->type == CFG_PROVIDER_TENCENT) &&
             strcmp(kind, "report") == 0 && post)
        hook_json_reports(d, req, rep, name, p, secret);
    else if (p->type == CFG_PROVIDER_TWILIO && post &&
             (strcmp(kind, "status") == 0 || strcmp(kind, "gather") == 0))
        hook_twilio(d, req, rep, name, p, secret, strcmp(kind, "gather") == 0);
    else
        refuse(d, rep, 404, name, "no such report address for this provider type");
}
