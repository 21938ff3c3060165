/* prov_kannel.h - SMS through Kannel's smsbox (an operator's SMS centre
 * reached over SMPP/CIMD/... by Kannel): the sendsms request, its answer,
 * and the delivery reports Kannel calls back with (dlr-url).
 *
 * Facts relied on (Kannel 1.4 user guide, "SMS Push (send-sms) CGI" and
 * "Delivery reports"): GET /cgi-bin/sendsms with username, password, from,
 * to, text, charset, coding (2 = UCS-2, for Chinese), dlr-mask (1 delivered,
 * 2 failed, 4 buffered, 8 SMSC accepted, 16 SMSC rejected) and dlr-url, in
 * which Kannel replaces %d with the report type; the answer is "0: Accepted
 * for delivery" (202) or "3: Queued for later delivery". */
#ifndef ANXIN_PROV_KANNEL_H
#define ANXIN_PROV_KANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "notify.h"
#include "provider.h"

struct prov_kannel_conf {
    const char *url;            /* http://127.0.0.1:13013/cgi-bin/sendsms */
    const char *username;
    const char *password;
    const char *from;           /* sender shown on the phone, may be NULL */
    const char *callback;       /* our base for reports: http://host:port/hooks/kannel */
    const char *report_key;     /* signs the report URL so reports cannot be forged */
};

/* The sendsms request for an SMS notification (voice: ANX_EINVAL). */
int prov_kannel_build(const struct prov_kannel_conf *c, const struct notify_msg *n,
                      struct prov_request *out);

/* The meaning of smsbox's answer; ref gets "kannel-<id>". */
enum prov_result prov_kannel_parse(long http_status, const char *body, size_t len,
                                   int64_t notification, char *ref, size_t reflen, char *err,
                                   size_t errlen);

/* The tag that signs notification n in report URLs (hex, 16 characters). */
void prov_kannel_tag(const char *report_key, int64_t n, char out[17]);

/* A delivery report: the query of Kannel's call to our dlr-url (n, s and
 * the tag t). Returns 0 and out, ANX_EINVAL for a malformed one, or
 * ANX_ESTATE when the tag does not match (a forgery, or another anxin). */
int prov_kannel_report(const char *report_key, const char *n, const char *status,
                       const char *tag, struct prov_report *out);

#endif
