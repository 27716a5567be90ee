/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_conn -- connections to backends and the per-child keep-alive
 * pool.
 *
 * A connection owns an unmanaged APR pool (it outlives requests and moves
 * between threads) holding its socket, and, for HTTPS, its TLS state.
 * Plain TCP sockets are blocking, with SO_RCVTIMEO / SO_SNDTIMEO set to
 * the caller's timeout: a read is one recv(2) that waits inside the
 * kernel (MSG_DONTWAIT when the caller must not wait), a write one
 * sendmsg(2) per bit of progress.  TLS sockets are non-blocking: the TLS
 * layer (revproxy_tls.h) hands back what it wants, readable or writable,
 * for the handshake, reads and writes alike, and every wait is an
 * apr_poll() here, bounded by the caller's timeout (the connect timeout
 * for the handshake).
 *
 * A Unix-domain socket (revproxy_addr.sock) is connected like a plain
 * TCP socket and then read and written the same way.
 *
 * Idle connections are kept per endpoint (scheme, host, port, TLS
 * settings; for a Unix-domain socket its path) in a list guarded by one
 * mutex per child; the event and worker MPMs share it between threads.
 * No httpd types here.
 */
#ifndef REVPROXY_CONN_H
#define REVPROXY_CONN_H

#include "apr_pools.h"
#include "apr_network_io.h"
#include "apr_poll.h"
#include "apr_time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How long an idle pooled connection may wait for its next request when
 * the caller gives no limit (ttl=): most servers close idle keep-alive
 * connections after a few seconds, and a reuse that races their close
 * costs a retry. */
#define REVPROXY_CONN_DEFAULT_TTL apr_time_from_sec(30)

typedef struct revproxy_endpoint revproxy_endpoint;
typedef struct revproxy_conn revproxy_conn;

struct revproxy_conn {
    apr_pool_t *pool;           /* the connection's own pool */
    apr_socket_t *sock;
    apr_pollfd_t pfd;
    struct revproxy_tls *tls;   /* revproxy_tls.h; NULL for plain TCP */
    int fd;                     /* sock's descriptor.  Plain TCP: blocking,
                                   with kernel timeouts (one system call
                                   per read or write); TLS: non-blocking */
    apr_interval_time_t rcvtimeo, sndtimeo;   /* SO_RCVTIMEO, SO_SNDTIMEO
                                   as last set (0: not set) */
    revproxy_endpoint *ep;
    apr_time_t idle_until;      /* pooled: not reused after this */
    unsigned requests;          /* requests sent on it so far */
    apr_uint64_t bytes_sent;    /* bytes the transport accepted so far */
    revproxy_conn *next;        /* in the endpoint's idle list */
};

/* Where a connection goes. */
typedef struct revproxy_addr {
    int https;
    const char *host;           /* name or IP; brackets allowed for v6;
                                   with sock: the Host header's only */
    apr_port_t port;
    const char *sock;           /* NULL, or the absolute path of a Unix-
                                   domain socket to connect to instead of
                                   host:port (plain HTTP only); always
                                   from the configuration */
    struct revproxy_tls_conf *tls;  /* HTTPS: the TLS settings to use
                                       (revproxy_tls.h) */
    int tls_verify;             /* HTTPS: verify the certificate */
    apr_uint32_t *gauges;       /* NULL, or [open, idle] counters kept
                                   up to date atomically for the status
                                   page (a group member's, in shared
                                   memory); connections with other gauges
                                   have their own keep-alive pool */
} revproxy_addr;

/* The backend for logs and notes: "unix:/path" for a Unix-domain
 * socket, else "http[s]://host:port" (an IPv6 literal bracketed). */
const char *revproxy_addr_name(apr_pool_t *p, const revproxy_addr *a);

/* Create the per-child pool state; call from child_init. */
apr_status_t revproxy_conn_child_init(apr_pool_t *pchild);

/* Get a connection: with reuse set, an idle pooled one that is proven
 * empty right now (*reused = 1): not closed by the backend, no byte
 * waiting on it (a byte beyond the framing of an earlier answer makes it
 * unusable, never part of another answer); else a new one connected
 * within connect_timeout (TCP + TLS handshake).  Errors: APR_TIMEUP for
 * a timeout, anything else for refused/unreachable/handshake failures,
 * with *why set to a description allocated from p. */
apr_status_t revproxy_conn_acquire(const revproxy_addr *a, int reuse,
                                   apr_interval_time_t connect_timeout,
                                   apr_pool_t *p, revproxy_conn **out,
                                   int *reused, const char **why);

/* Give a connection back: pooled when keep is set and the endpoint has
 * room for it (max_idle), closed otherwise.  A pooled connection idle for
 * longer than ttl (<= 0: REVPROXY_CONN_DEFAULT_TTL) is never reused: the
 * acquire that finds it closes it. */
void revproxy_conn_release(revproxy_conn *c, int keep, int max_idle,
                           apr_interval_time_t ttl);

/* Read up to *len bytes.  timeout 0: do not wait (APR_EAGAIN when nothing
 * is ready); otherwise wait at most timeout (APR_TIMEUP).  APR_EOF when
 * the peer closed. */
apr_status_t revproxy_conn_read(revproxy_conn *c, char *buf, apr_size_t *len,
                                apr_interval_time_t timeout);

/* Write all of vec, waiting at most timeout for each bit of progress. */
apr_status_t revproxy_conn_writev(revproxy_conn *c, struct iovec *vec,
                                  int nvec, apr_interval_time_t timeout);

/* Why the last read or write (or the TLS handshake) on c failed, in the
 * transport's words (e.g. an alert a TLS backend sent), or NULL when it
 * has none to give: plain TCP's failures are their APR status alone.
 * Valid until c is released. */
const char *revproxy_conn_error(revproxy_conn *c);

/* Counters for the status page: connections open and idle in this child. */
void revproxy_conn_counts(int *open, int *idle);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_CONN_H */
