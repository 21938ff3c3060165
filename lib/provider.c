/* provider.c - shared parts of the provider modules (see provider.h). */
#include "provider.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "err.h"
#include "sha256.h"

void prov_request_free(struct prov_request *r)
{
    free(r->url);
    free(r->body);
    for (size_t i = 0; i < PROV_MAX_HEADERS; i++)
        free(r->headers[i]);
    if (r->userpwd) {
        memset(r->userpwd, 0, strlen(r->userpwd));
        free(r->userpwd);
    }
    memset(r, 0, sizeof *r);
}

int prov_add_header(struct prov_request *r, const char *fmt, ...)
{
    size_t i = 0;
    while (i < PROV_MAX_HEADERS - 1 && r->headers[i])
        i++;
    if (i >= PROV_MAX_HEADERS - 1)
        return ANX_ERANGE;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&r->headers[i], fmt, ap);
    va_end(ap);
    if (n < 0) {
        r->headers[i] = NULL;
        return ANX_ENOMEM;
    }
    return 0;
}

const char *prov_report_status_name(enum prov_report_status s)
{
    static const char *const names[] = {"delivered", "undelivered", "answered", "not_answered",
                                        "pending"};
    return (unsigned)s < 5 ? names[s] : "unknown";
}

void prov_tag(const char *key, const char *msg, char out[17])
{
    uint8_t mac[SHA256_LEN];
    const char *k = key ? key : "";
    sha256_hmac(k, strlen(k), msg, strlen(msg), mac);
    codec_hex(mac, 8, out);
}

int prov_tag_ok(const char *key, const char *msg, const char *tag)
{
    char want[17];
    if (!tag || strlen(tag) != 16)
        return 0;
    prov_tag(key, msg, want);
    unsigned diff = 0;
    for (int i = 0; i < 16; i++)
        diff |= (unsigned)(want[i] ^ tag[i]);
    return diff == 0;
}

void prov_report_key(const char *secret, char out[17])
{
    prov_tag(secret, "report", out);
}

int prov_sender_e164(const char *from, char *out, size_t outlen)
{
    char d[24];
    size_t n = 0;
    bool plus = false;
    if (!from)
        return ANX_EINVAL;
    for (const char *p = from; *p; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (*p == '+' && n == 0 && !plus) {
            plus = true;
            continue;
        }
        if (*p < '0' || *p > '9' || n + 1 >= sizeof d)
            return ANX_EINVAL;
        d[n++] = *p;
    }
    d[n] = '\0';
    const char *digits = d;
    char cn[sizeof d + 2];
    if (!plus && n > 2 && d[0] == '0' && d[1] == '0') {
        digits = d + 2;                 /* international prefix */
    } else if (!plus && n == 11 && d[0] == '1') {
        snprintf(cn, sizeof cn, "86%s", d);     /* a mainland mobile */
        digits = cn;
    } else if (!plus && !(n == 13 && d[0] == '8' && d[1] == '6')) {
        return ANX_EINVAL;              /* a short code or a local number */
    }
    size_t l = strlen(digits);
    if (l < 8 || l > 15 || digits[0] == '0')
        return ANX_EINVAL;
    if ((size_t)snprintf(out, outlen, "+%s", digits) >= outlen)
        return ANX_ERANGE;
    return 0;
}

int prov_reply_code(const char *text, size_t digits, char *out)
{
    for (const char *p = text ? text : ""; *p;) {
        if (*p < '0' || *p > '9') {
            p++;
            continue;
        }
        const char *q = p;
        while (*q >= '0' && *q <= '9')
            q++;
        if ((size_t)(q - p) == digits) {
            memcpy(out, p, digits);
            out[digits] = '\0';
            return 0;
        }
        p = q;
    }
    return ANX_EINVAL;
}
