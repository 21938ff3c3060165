/* httpc.h - HTTP client requests on the libuv loop (libcurl multi, socket
 * and timer callbacks), for notification providers.
 *
 * Nothing blocks: a request is added to the multi handle, curl's sockets are
 * watched with uv_poll and its timeouts with one uv_timer, and the callback
 * runs on the loop when the request ends. */
#ifndef ANXIN_HTTPC_H
#define ANXIN_HTTPC_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Connections open at once to one provider host, at most. */
#define HTTPC_MAX_HOST_CONNECTIONS 128L

struct httpc;
struct httpc_req;

struct httpc_response {
    CURLcode curl_code;         /* CURLE_OK if an HTTP response arrived */
    long status;                /* HTTP status, 0 if none */
    const char *body;           /* NUL-terminated, at most 64 KiB kept */
    size_t body_len;
    const char *retry_after;    /* Retry-After header value or NULL */
    const char *error;          /* curl's message when curl_code != CURLE_OK */
    int64_t elapsed_ms;
};

/* Called once per request on the loop; r and its strings are valid only
 * during the call. Not called for a cancelled request. */
typedef void (*httpc_cb)(void *arg, const struct httpc_response *r);

/* Creates the client. Returns 0 or a negative ANX_ code. */
int httpc_new(uv_loop_t *loop, struct httpc **out);

/* Cancels every request still running (their callbacks are not called),
 * closes the handles and frees the client once libuv has let go of them. */
void httpc_close(struct httpc *h);

struct httpc_opts {
    const char *method;             /* "POST" (default) or "GET" */
    const char *const *headers;     /* NULL-terminated "Name: value" list, or NULL */
    const char *body;               /* copied */
    size_t body_len;
    int64_t timeout_ms;             /* whole request */
    const char *userpwd;            /* basic auth "user:password", or NULL */
};

/* Starts a request. Returns the request (valid until its callback returns
 * or httpc_cancel), or NULL if it could not be started. */
struct httpc_req *httpc_start(struct httpc *h, const char *url, const struct httpc_opts *o,
                              httpc_cb cb, void *arg);

/* Stops a running request without calling its callback. */
void httpc_cancel(struct httpc_req *r);

/* Requests currently running. */
size_t httpc_running(const struct httpc *h);

#endif
