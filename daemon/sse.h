/* sse.h - server-sent events for consoles and API clients
 * (/api/v1/stream): every timeline entry of every alert, as announced by
 * PostgreSQL (NOTIFY anxin_event), goes to every subscriber; a comment line
 * every SSE_PING_MS keeps proxies from closing an idle stream and lets a
 * departed client be noticed. Each ping also re-checks the subscriber's
 * token, so a revoked or expired token loses its stream within that time.
 *
 * Wire format (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 *   retry: 3000            once, at the start
 *   event: ready           once, at the start; data {}
 *   id: <event id>         per timeline entry
 *   event: alert
 *   data: {"event":..,"alert":..,"kind":..,"at":..,"channel":..}
 * A client that reconnects reloads what it shows; nothing is replayed. */
#ifndef ANXIN_SSE_H
#define ANXIN_SSE_H

#include <stddef.h>
#include <uv.h>

#include "httpd.h"
#include "log.h"

#define SSE_PING_MS 15000

struct sse_hub;

/* still_allowed(arg, token_name) says whether a subscriber may keep its
 * stream. Returns NULL when out of memory. */
struct sse_hub *sse_new(uv_loop_t *loop, struct logger *log,
                        int (*still_allowed)(void *arg, const char *token_name), void *arg,
                        uint64_t ping_ms);

/* Turns the request into a stream for token_name. Returns 0 or ANX_ENOMEM. */
int sse_subscribe(struct sse_hub *h, const struct httpd_request *req, const char *token_name);

/* Sends one event to every subscriber; data is one line of JSON. */
void sse_publish(struct sse_hub *h, const char *event, const char *id, const char *data);

/* Ends the streams of a token now (revoked). */
void sse_drop_token(struct sse_hub *h, const char *token_name);

size_t sse_clients(const struct sse_hub *h);

/* Ends every stream; frees the hub once libuv has closed its timer. */
void sse_close(struct sse_hub *h);

#endif
