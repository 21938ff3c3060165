/* prov_webhook.h - the generic provider: the notification as JSON POSTed to
 * an address of the county's own (DESIGN.md, "Notification webhook"), with
 * the notification id as the idempotency key. Any 2xx is success. */
#ifndef ANXIN_PROV_WEBHOOK_H
#define ANXIN_PROV_WEBHOOK_H

#include <stddef.h>

#include "notify.h"
#include "provider.h"

/* token: optional bearer token (NULL for none). */
int prov_webhook_build(const char *url, const char *token, const struct notify_msg *n,
                       struct prov_request *out);

/* 2xx sent; 408, 429 and 5xx retried; any other answer refused. */
enum prov_result prov_webhook_parse(long http_status, char *err, size_t errlen);

#endif
