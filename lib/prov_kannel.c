/* prov_kannel.c - Kannel sendsms and delivery reports (see prov_kannel.h). */
#include "prov_kannel.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "err.h"

void prov_kannel_tag(const char *report_key, int64_t n, char out[17])
{
    char msg[32];
    snprintf(msg, sizeof msg, "%" PRId64, n);
    prov_tag(report_key, msg, out);
}

int prov_kannel_build(const struct prov_kannel_conf *c, const struct notify_msg *n,
                      struct prov_request *out)
{
    if (n->channel != NOTIFY_SMS || !c->url || !c->username || !c->password)
        return ANX_EINVAL;
    memset(out, 0, sizeof *out);
    char user[256], pass[256], from[128] = "", to[64], tag[17];
    size_t tl = strlen(n->text ? n->text : "");
    char *text = malloc(tl * 3 + 1);
    char dlr[1024], dlr_enc[3200];
    if (!text)
        return ANX_ENOMEM;
    prov_kannel_tag(c->report_key, n->id, tag);
    /* Kannel puts the report type in for %d; the tag proves the report is
     * about a notification we sent. */
    snprintf(dlr, sizeof dlr, "%s/dlr?n=%" PRId64 "&t=%s&s=%%d", c->callback ? c->callback : "",
             n->id, tag);
    if (codec_pct_encode(c->username, strlen(c->username), user, sizeof user) == (size_t)-1 ||
        codec_pct_encode(c->password, strlen(c->password), pass, sizeof pass) == (size_t)-1 ||
        (c->from && codec_pct_encode(c->from, strlen(c->from), from, sizeof from) == (size_t)-1) ||
        codec_pct_encode(n->to, strlen(n->to), to, sizeof to) == (size_t)-1 ||
        codec_pct_encode(n->text ? n->text : "", tl, text, tl * 3 + 1) == (size_t)-1 ||
        codec_pct_encode(dlr, strlen(dlr), dlr_enc, sizeof dlr_enc) == (size_t)-1) {
        free(text);
        return ANX_ERANGE;
    }
    /* UTF-8 in, UCS-2 on the air: Chinese needs coding 2 (70 characters a
     * part; Kannel splits longer texts when concatenation is on). */
    int rc = asprintf(&out->url,
                      "%s%susername=%s&password=%s%s%s&to=%s&text=%s&charset=UTF-8&coding=2"
                      "&dlr-mask=31%s%s",
                      c->url, strchr(c->url, '?') ? "&" : "?", user, pass, from[0] ? "&from=" : "",
                      from, to, text, c->callback ? "&dlr-url=" : "",
                      c->callback ? dlr_enc : "");
    free(text);
    memset(pass, 0, sizeof pass);
    if (rc < 0) {
        out->url = NULL;
        return ANX_ENOMEM;
    }
    strcpy(out->method, "GET");
    return 0;
}

enum prov_result prov_kannel_parse(long http_status, const char *body, size_t len,
                                   int64_t notification, char *ref, size_t reflen, char *err,
                                   size_t errlen)
{
    char first[120];
    size_t l = len < sizeof first - 1 ? len : sizeof first - 1;
    memcpy(first, body ? body : "", l);
    first[l] = '\0';
    first[strcspn(first, "\r\n")] = '\0';
    snprintf(ref, reflen, "kannel-%" PRId64, notification);
    if ((http_status == 202 || http_status == 200) &&
        (strncmp(first, "0:", 2) == 0 || strncmp(first, "3:", 2) == 0)) {
        err[0] = '\0';
        return PROV_SENT;
    }
    snprintf(err, errlen, "HTTP %ld: %s", http_status, first[0] ? first : "(no answer text)");
    /* 4xx: bad credentials (403), bad request (400): trying again will not
     * help. 5xx and anything else: the box or the SMSC is in trouble. */
    if (http_status >= 400 && http_status < 500)
        return PROV_FAILED;
    return PROV_RETRY;
}

int prov_kannel_report(const char *report_key, const char *n, const char *status,
                       const char *tag, struct prov_report *out)
{
    memset(out, 0, sizeof *out);
    if (!n || !status || !tag)
        return ANX_EINVAL;
    char *end;
    long long id = strtoll(n, &end, 10);
    if (*end || end == n || id <= 0)
        return ANX_EINVAL;
    long s = strtol(status, &end, 10);
    if (*end || end == status)
        return ANX_EINVAL;
    char msg[32];
    snprintf(msg, sizeof msg, "%lld", id);
    if (!prov_tag_ok(report_key, msg, tag))
        return ANX_ESTATE;
    out->notification = id;
    snprintf(out->ref, sizeof out->ref, "kannel-%lld", id);
    switch (s) {
    case 1:
        out->status = PROV_DELIVERED;
        snprintf(out->detail, sizeof out->detail, "delivered to the phone (dlr 1)");
        break;
    case 2:
        out->status = PROV_UNDELIVERED;
        snprintf(out->detail, sizeof out->detail, "delivery failed (dlr 2)");
        break;
    case 16:
        out->status = PROV_UNDELIVERED;
        snprintf(out->detail, sizeof out->detail, "rejected by the SMS centre (dlr 16)");
        break;
    case 8:
        out->status = PROV_PENDING;
        snprintf(out->detail, sizeof out->detail, "accepted by the SMS centre (dlr 8)");
        break;
    case 4:
        out->status = PROV_PENDING;
        snprintf(out->detail, sizeof out->detail, "buffered (dlr 4)");
        break;
    default:
        out->status = PROV_PENDING;
        snprintf(out->detail, sizeof out->detail, "report type %ld", s);
        break;
    }
    return 0;
}
