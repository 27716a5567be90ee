/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_upstream -- an exchange with a backend on behalf of a request:
 * revproxy_client (the engine) driven for a request_rec: the client's
 * body pumped from the input filters (held for a replay), the replay
 * rule, the response body streamed to the output filters.  Used by
 * mod_revproxy's handler, its backend groups and, through the optional
 * functions of mod_revproxy.h, by mod_reproxy_filter.
 */
#ifndef REVPROXY_UPSTREAM_H
#define REVPROXY_UPSTREAM_H

#include "httpd.h"
#include "util_filter.h"

#include "revproxy_client.h"
#include "revproxy_http1.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct revproxy_exchange {
    request_rec *r;
    apr_pool_t *p;

    /* what to send (filled by the caller) */
    revproxy_addr addr;
    const char *method;
    const char *path;           /* request target: "/path?query" */
    apr_table_t *headers;       /* the client's fields: hop-by-hop ones,
                                   Host, framing, Expect and any field
                                   named in own are not sent */
    apr_table_t *own;           /* the proxy's fields (Host,
                                   X-Forwarded-*), always sent */
    int send_body;              /* forward the client's request body */
    int head_request;           /* the response to HEAD has no body */
    revproxy_limits lim;        /* resolved at config time */
    int upgrade;                /* keep Connection/Upgrade for a tunnel */

    /* state */
    revproxy_client *client;    /* the current attempt's engine */
    apr_bucket_brigade *held;   /* request body read ahead (replayable) */
    apr_off_t held_len;
    int streamed;               /* body read past what is held: the
                                   request cannot be sent again */
    int body_eos;               /* the whole request body was read */
    int framing;                /* REVPROXY_BODY_* (revproxy_head.h) */
    apr_off_t announced;        /* REVPROXY_BODY_LENGTH: the length */
    int wrote_any;              /* a byte of the request reached a backend
                                   connection (any attempt) */
    int unconnected;            /* the last attempt got no connection */
    apr_off_t done_in, done_out;    /* bytes of attempts that ended */

    /* the response head */
    int status;
    const char *reason;
    apr_table_t *resp_headers;  /* hop-by-hop removed */
    int body_mode;

    /* results */
    int fail;                   /* REVPROXY_FAIL_* (revproxy_client.h) */
    const char *why;            /* for the log line */
    apr_status_t rv;
    apr_off_t bytes_in, bytes_out;  /* all attempts */

    /* for the access log (revproxy_x_notes): attempts counts every
     * connection used or tried, across the retry on a fresh connection
     * and a group's failover; the rest is the last attempt's */
    int attempts;
    int reused;                 /* its connection came from the pool */
    apr_interval_time_t connect_time;   /* spent connecting; -1: none */
    apr_interval_time_t head_time;      /* first request byte to the whole
                                           final head; -1: no head */
} revproxy_exchange;

/* Prepare x for r; x->lim is the caller's to set (a route's, resolved
 * at config time). */
void revproxy_x_init(revproxy_exchange *x, request_rec *r);

/* Connect (or reuse), send the request and read the final response head
 * (interim 1xx responses are consumed).  Retries once on a fresh
 * connection when a reused one turns out dead before any response byte
 * and that is safe.  Returns OK, or the status for the client (400,
 * 502, 504) with x->fail / x->why set. */
int revproxy_x_start(revproxy_exchange *x);

/* Whether the request may be sent again automatically (RFC 9110 section
 * 9.2.2): all of it is still at hand, and its method is idempotent or
 * not one byte of it (head included) reached a backend connection. */
int revproxy_x_replayable(const revproxy_exchange *x);

/* After revproxy_x_start failed: x is made ready for another
 * revproxy_x_start (its connection closed, the held body kept), to a new
 * x->addr.  Ask revproxy_x_replayable first.  Returns 1 when reset, 0
 * when the request cannot be resent (its body is gone). */
int revproxy_x_reset(revproxy_exchange *x);

/* Read the next piece of body into bb (appended, no copy of the data):
 * blocks at most x->timeout.  With nonblock set, returns APR_EAGAIN when
 * the backend has nothing ready.  APR_EOF once the body is complete. */
apr_status_t revproxy_x_read(revproxy_exchange *x, apr_bucket_brigade *bb,
                             int nonblock);

/* Stream the rest of the body to next (r->output_filters, or the filter
 * after a caller's), as mod_proxy_http does: pass what arrived, FLUSH
 * when the backend pauses, block only then.  bb may hold body data read
 * already (it is sent first).  expect >= 0: the body must be that long in
 * all (bb's data included), else it is a failure ("body of N bytes
 * contradicts <expect_name> M").  Ends the response with EOS, or, when
 * the backend fails, with an error bucket (the client connection is then
 * aborted, never a silently short body).  Returns APR_SUCCESS,
 * APR_ECONNABORTED when the client went away (x->fail CLIENT), or the
 * failure (x->fail ABORTED, x->why says). */
apr_status_t revproxy_x_stream_to(revproxy_exchange *x, ap_filter_t *next,
                                  apr_bucket_brigade *bb, apr_off_t expect,
                                  const char *expect_name);

/* revproxy_x_stream_to r->output_filters, the handler's way. */
void revproxy_x_stream(revproxy_exchange *x);

/* The most of a body revproxy_x_discard reads to keep the connection. */
#define REVPROXY_DISCARD_MAX (64 * 1024)

/* The body is not wanted (an error answer httpd replaces): read and drop
 * it, so that the connection can be pooled, when its framing ends it
 * (Content-Length, chunked) within max bytes; otherwise (close-delimited,
 * longer, a failure) the connection is marked not to be reused. */
void revproxy_x_discard(revproxy_exchange *x, apr_off_t max);

/* Give the connection back (pooled when the exchange ended cleanly). */
void revproxy_x_finish(revproxy_exchange *x);

/* "SCHEME://HOST:PORT" of x->addr (an IPv6 literal in brackets), or
 * "unix:/PATH" for a Unix-domain socket (revproxy_addr_name). */
const char *revproxy_x_backend(const revproxy_exchange *x);

/* The access-log notes of a proxied request on r (revproxy-backend,
 * -attempts, -reused, -status, -connect-us, -header-us; README
 * "Logging"), from x (NULL: no exchange was made).  answered: the last
 * backend x tried gave the client's answer, or its failure did (502,
 * 504); otherwise the notes of that backend are "-".  rule: "FILE:LINE"
 * for revproxy-rule, or NULL to leave that note alone.  extra_attempts
 * is added to x's count (earlier exchanges of the same request).
 * replace: earlier notes are there to be replaced (a reproxy fetch);
 * otherwise they are added to a table that has none yet.  Returns the
 * revproxy-backend text. */
const char *revproxy_x_notes(const revproxy_exchange *x, request_rec *r,
                             int answered, const char *rule,
                             int extra_attempts, int replace);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_UPSTREAM_H */
