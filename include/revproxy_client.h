/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_client -- one HTTP/1.1 exchange with a backend: the engine that
 * every caller drives (the handler through revproxy_upstream.c, the
 * X-Reproxy-Url fetches, the health check).
 *
 * It needs only a pool and a bucket allocator: no httpd types, so that
 * t/unit/test_client.c drives it against a scripted loopback peer.  Behind the opaque
 * handle: the address and limits, the connection (pooled or new), the
 * request framing with the bytes counted against it, the response parser
 * and the read buffer.
 *
 *   c = revproxy_client_make(p, ba, &addr, &limits);
 *   revproxy_client_expect(c, head_request, upgrade, framing, length);
 *   revproxy_client_connect(c, reuse);          -- or a failure kind
 *   revproxy_client_write(c, head, hlen, body, last) ...
 *   revproxy_client_read_head(c);               -- the final head
 *   revproxy_client_read_body(c, bb, nonblock)  -- until APR_EOF
 *   revproxy_client_finish(c);                  -- pooled when clean
 */
#ifndef REVPROXY_CLIENT_H
#define REVPROXY_CLIENT_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_buckets.h"

#include "revproxy_conn.h"
#include "revproxy_head.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Failure kinds, for logs, failover and the status page. */
#define REVPROXY_FAIL_NONE     0
#define REVPROXY_FAIL_REFUSED  1   /* connect refused/unreachable/TLS */
#define REVPROXY_FAIL_TIMEOUT  2   /* connect or response wait too long */
#define REVPROXY_FAIL_BAD      3   /* invalid response, reset, closed */
#define REVPROXY_FAIL_ABORTED  4   /* failed after the head went out */
#define REVPROXY_FAIL_CLIENT   5   /* the client went away / bad body */

typedef struct revproxy_limits {
    apr_interval_time_t connect_timeout;    /* TCP + TLS connect */
    apr_interval_time_t timeout;            /* each wait for data; the
                                               whole response head */
    apr_interval_time_t send_timeout;       /* each write */
    int reuse;                              /* keep-alive pool allowed */
    int max_idle;                           /* idle connections kept */
    apr_interval_time_t idle_ttl;           /* an idle pooled connection
                                               is not reused after this
                                               (ttl=; 0: the default) */
    apr_size_t max_line;                    /* longest response line */
    unsigned max_fields;                    /* most response fields */
} revproxy_limits;

/* The final response head, once revproxy_client_read_head succeeded. */
typedef struct revproxy_response {
    int status;
    const char *reason;
    apr_table_t *headers;       /* hop-by-hop removed (Connection and
                                   Upgrade kept for a 101); Content-Length
                                   once, and only where it frames */
    int body_mode;              /* REVPROXY_H1_BODY_* (revproxy_http1.h) */
    const char *pending;        /* 101: bytes that came after the head */
    apr_size_t npending;
} revproxy_response;

typedef struct revproxy_client revproxy_client;

/* A client for one exchange with addr; p is its lifetime (a request's
 * pool), ba the bucket allocator its body buckets come from. */
revproxy_client *revproxy_client_make(apr_pool_t *p, apr_bucket_alloc_t *ba,
                                      const revproxy_addr *addr,
                                      const revproxy_limits *limits);

/* Start an attempt: an empty pooled connection when reuse is set and one
 * is there, else a new one.  A connection of an earlier attempt is closed
 * first.  Returns REVPROXY_FAIL_NONE, REFUSED or TIMEOUT. */
int revproxy_client_connect(revproxy_client *c, int reuse);

/* What the request is: for the parser (HEAD answers have no body; 101 is
 * expected only for an upgrade) and for the framing of the body written
 * (REVPROXY_BODY_*; length for REVPROXY_BODY_LENGTH). */
void revproxy_client_expect(revproxy_client *c, int head_request,
                            int upgrade, int framing, apr_off_t length);

/* Write head (NULL: none) and the buckets of body (NULL: none; consumed)
 * in the announced framing; last: the body ends here (chunked: the last
 * chunk goes out).  A body longer than a Content-Length is refused
 * (APR_EINVAL) and nothing of it is written; a last piece that leaves it
 * short too.  Other errors are the transport's; the exchange may still
 * read an early answer. */
apr_status_t revproxy_client_write(revproxy_client *c, const char *head,
                                   apr_size_t hlen, apr_bucket_brigade *body,
                                   int last);

/* Read the final response head (interim 1xx heads are consumed, at most
 * 10).  Returns REVPROXY_FAIL_NONE, or the kind of failure (TIMEOUT, BAD)
 * with revproxy_client_why() saying what. */
int revproxy_client_read_head(revproxy_client *c);

/* The head read by revproxy_client_read_head. */
const revproxy_response *revproxy_client_response(const revproxy_client *c);

/* Append the next piece of body to bb (bucket memory, no copy).  With
 * nonblock, APR_EAGAIN when the backend has nothing ready; otherwise each
 * wait is bounded by the timeout.  APR_EOF once the body is complete (bb
 * may hold its last data); any other status is a failure (see
 * revproxy_client_why). */
apr_status_t revproxy_client_read_body(revproxy_client *c,
                                       apr_bucket_brigade *bb, int nonblock);

/* Done with the connection: pooled when the exchange ended cleanly (the
 * whole request written, the whole response read, keep-alive allowed),
 * closed otherwise.  Idempotent. */
void revproxy_client_finish(revproxy_client *c);

/* The connection now (NULL before connect / after finish), for a tunnel. */
revproxy_conn *revproxy_client_conn(const revproxy_client *c);

/* Facts about the exchange so far. */
int revproxy_client_reused(const revproxy_client *c);    /* the connection
                                                            came from the
                                                            pool */
int revproxy_client_got_byte(const revproxy_client *c);  /* a response
                                                            byte came */
int revproxy_client_wrote(const revproxy_client *c);     /* a request byte
                                                            reached this
                                                            connection */
int revproxy_client_write_failed(const revproxy_client *c);
const char *revproxy_client_why(const revproxy_client *c);
apr_status_t revproxy_client_rv(const revproxy_client *c);
apr_off_t revproxy_client_bytes_in(const revproxy_client *c);
/* Time spent in revproxy_client_connect by this attempt (a failed one
 * too; 0 for a pooled connection), and from the first request byte
 * written to the whole final response head (-1 until it came). */
apr_interval_time_t revproxy_client_connect_time(const revproxy_client *c);
apr_interval_time_t revproxy_client_head_time(const revproxy_client *c);
apr_off_t revproxy_client_bytes_out(const revproxy_client *c);

/* Whether the connection may be kept after this exchange (framing and
 * keep-alive); the caller can veto with revproxy_client_no_reuse. */
void revproxy_client_no_reuse(revproxy_client *c);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_CLIENT_H */
