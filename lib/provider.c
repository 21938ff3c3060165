/* provider.c - shared parts of the provider modules (see provider.h). */
#include "provider.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

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
