/* prov_webhook.c - the generic JSON webhook provider (see prov_webhook.h). */
#include "prov_webhook.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int prov_webhook_build(const char *url, const char *token, const struct notify_msg *n,
                       struct prov_request *out)
{
    memset(out, 0, sizeof *out);
    strcpy(out->method, "POST");
    out->url = strdup(url);
    out->body = notify_webhook_body(n);
    if (!out->url || !out->body) {
        prov_request_free(out);
        return ANX_ENOMEM;
    }
    out->body_len = strlen(out->body);
    int rc = prov_add_header(out, "Content-Type: application/json; charset=utf-8");
    if (!rc)
        rc = prov_add_header(out, "Idempotency-Key: %" PRId64, n->id);
    if (!rc && token)
        rc = prov_add_header(out, "Authorization: Bearer %s", token);
    if (rc)
        prov_request_free(out);
    return rc;
}

enum prov_result prov_webhook_parse(long http_status, char *err, size_t errlen)
{
    if (http_status >= 200 && http_status < 300) {
        err[0] = '\0';
        return PROV_SENT;
    }
    snprintf(err, errlen, "HTTP %ld", http_status);
    if (http_status == 429 || http_status == 408 || http_status >= 500)
        return PROV_RETRY;
    return PROV_FAILED;
}
