/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * Backend connections and the per-child keep-alive pool.
 */

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "apr_strings.h"
#include "apr_hash.h"
#include "apr_thread_mutex.h"
#include "apr_atomic.h"
#include "apr_portable.h"

#include "revproxy_conn.h"
#include "revproxy_tls.h"

/* Beyond this many distinct backends (hosts can come from captures) new
 * ones get no pool: their connections close after each request. */
#define MAX_ENDPOINTS 1024

/* Endpoints are found by host name first (a hash), then by the rest of
 * revproxy_addr along a short chain: no key is formatted per request.  A
 * Unix-domain socket's endpoint is found by its path (no host name holds
 * a '/') and never matches a TCP endpoint of the same Host. */
struct revproxy_endpoint {
    const char *host;           /* the hash key: host name, or socket path */
    const char *sock;           /* revproxy_addr's: NULL for TCP */
    apr_port_t port;
    int https;
    revproxy_tls_conf *tls;
    int tls_verify;
    apr_uint32_t *gauges;       /* revproxy_addr's: [open, idle], or NULL */
    revproxy_conn *idle;        /* most recently used first */
    int nidle;
    revproxy_endpoint *next;    /* same host, other port/scheme/TLS */
};

static struct {
    apr_pool_t *pool;
    apr_hash_t *endpoints;
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;
#endif
    int open;                   /* connections alive in this child */
    int idle;
    int nendpoints;
} pool_state;

#if APR_HAS_THREADS
#define LOCK()   (pool_state.mutex ? apr_thread_mutex_lock(pool_state.mutex) \
                                   : APR_SUCCESS)
#define UNLOCK() (pool_state.mutex ? apr_thread_mutex_unlock(pool_state.mutex)\
                                   : APR_SUCCESS)
#else
#define LOCK()   APR_SUCCESS
#define UNLOCK() APR_SUCCESS
#endif

/* The status page's per-endpoint gauges: which 0 = open, 1 = idle. */
static void gauge(revproxy_endpoint *ep, int which, int delta)
{
    if (ep && ep->gauges) {
        if (delta > 0) {
            apr_atomic_inc32(&ep->gauges[which]);
        }
        else {
            apr_atomic_dec32(&ep->gauges[which]);
        }
    }
}

static void conn_close(revproxy_conn *c)
{
    if (c->tls) {
        revproxy_tls_close(c->tls);
        c->tls = NULL;
    }
    apr_socket_close(c->sock);
    apr_pool_destroy(c->pool);
}

static apr_status_t close_all_idle(void *data)
{
    apr_hash_index_t *hi;

    (void)data;
    for (hi = apr_hash_first(NULL, pool_state.endpoints); hi;
         hi = apr_hash_next(hi)) {
        revproxy_endpoint *ep;
        for (ep = apr_hash_this_val(hi); ep; ep = ep->next) {
            while (ep->idle) {
                revproxy_conn *c = ep->idle;
                ep->idle = c->next;
                conn_close(c);
                gauge(ep, 1, -1);
                gauge(ep, 0, -1);
            }
            ep->nidle = 0;
        }
    }
    pool_state.endpoints = NULL;
    return APR_SUCCESS;
}

apr_status_t revproxy_conn_child_init(apr_pool_t *pchild)
{
    apr_status_t rv = APR_SUCCESS;

    pool_state.pool = pchild;
    pool_state.endpoints = apr_hash_make(pchild);
#if APR_HAS_THREADS
    rv = apr_thread_mutex_create(&pool_state.mutex,
                                 APR_THREAD_MUTEX_DEFAULT, pchild);
#endif
    apr_pool_cleanup_register(pchild, NULL, close_all_idle,
                              apr_pool_cleanup_null);
    return rv;
}

void revproxy_conn_counts(int *open, int *idle)
{
    LOCK();
    *open = pool_state.open;
    *idle = pool_state.idle;
    UNLOCK();
}

/* The endpoint of a, created on first use; NULL when the table is full
 * (or before child_init, e.g. in a one-shot process).  Called locked. */
static revproxy_endpoint *endpoint_get(const revproxy_addr *a)
{
    revproxy_endpoint *first, *ep;
    int verify = a->https ? a->tls_verify : 0;
    const char *key;

    if (pool_state.endpoints == NULL) {
        return NULL;
    }
    key = a->sock ? a->sock : a->host;
    first = apr_hash_get(pool_state.endpoints, key, APR_HASH_KEY_STRING);
    for (ep = first; ep; ep = ep->next) {
        if ((ep->sock != NULL) == (a->sock != NULL)
            && ep->port == a->port && ep->https == a->https
            && ep->tls == a->tls && ep->tls_verify == verify
            && ep->gauges == a->gauges) {
            return ep;
        }
    }
    if (pool_state.nendpoints >= MAX_ENDPOINTS) {
        return NULL;
    }
    ep = apr_pcalloc(pool_state.pool, sizeof(*ep));
    ep->host = apr_pstrdup(pool_state.pool, key);
    ep->sock = a->sock ? ep->host : NULL;
    ep->port = a->port;
    ep->https = a->https;
    ep->tls = a->tls;
    ep->tls_verify = verify;
    ep->gauges = a->gauges;
    ep->next = first;
    apr_hash_set(pool_state.endpoints, ep->host, APR_HASH_KEY_STRING, ep);
    pool_state.nendpoints++;
    return ep;
}

/* Wait until a TLS connection's socket is readable/writable (APR_POLLIN /
 * APR_POLLOUT), as its TLS layer wants. */
static apr_status_t conn_wait(revproxy_conn *c, apr_int16_t events,
                              apr_interval_time_t timeout)
{
    apr_int32_t n = 0;
    apr_status_t rv;

    c->pfd.reqevents = events;
    c->pfd.rtnevents = 0;
    do {
        rv = apr_poll(&c->pfd, 1, &n, timeout);
    } while (APR_STATUS_IS_EINTR(rv));
    if (rv == APR_SUCCESS && n == 0) {
        rv = APR_TIMEUP;
    }
    return rv;
}

/* Whether an idle connection can carry the next request: it must be
 * empty at this moment (httpd's PROXY_CHECK_CONN_EMPTY).  Readable means
 * the backend closed it or sent bytes nobody asked for (late, or beyond
 * an answer's framing); either makes it unusable.  Checked at every
 * reuse, however recently it was given back: one recv(2) with MSG_PEEK.
 * TLS may legitimately have records pending (session tickets), which a
 * read consumes without giving data. */
static int idle_empty(revproxy_conn *c)
{
    char b[1];
    apr_size_t n = sizeof(b);
    apr_status_t rv;
    ssize_t got;

    if (apr_time_now() > c->idle_until) {
        return 0;
    }
    if (!c->tls) {
        got = recv(c->fd, b, 1, MSG_PEEK | MSG_DONTWAIT);
        return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    if (revproxy_tls_pending(c->tls) > 0) {
        return 0;
    }
    if (conn_wait(c, APR_POLLIN, 0) != APR_SUCCESS) {
        return 1;               /* nothing to read */
    }
    rv = revproxy_conn_read(c, b, &n, 0);
    return APR_STATUS_IS_EAGAIN(rv);
}

/* The most recently used idle connection of ep, off its list.  Called
 * locked. */
static revproxy_conn *pop_idle(revproxy_endpoint *ep)
{
    revproxy_conn *c = ep->idle;

    if (c != NULL) {
        ep->idle = c->next;
        ep->nidle--;
        pool_state.idle--;
        c->next = NULL;
    }
    return c;
}

/* The TLS handshake on c's new socket, waiting for what it wants within
 * timeout (0: no limit).  On failure c->tls may be set: conn_close()
 * frees it. */
static apr_status_t tls_connect(revproxy_conn *c, const revproxy_addr *a,
                                apr_interval_time_t timeout, apr_pool_t *p,
                                const char **why)
{
    apr_time_t deadline;
    apr_status_t rv;

    rv = revproxy_tls_make(&c->tls, a->tls, c->fd, a->host, a->port,
                           a->tls_verify, c->pool, p, why);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    deadline = timeout > 0 ? apr_time_now() + timeout : 0;
    for (;;) {
        apr_int16_t want = 0;
        apr_interval_time_t left = -1;

        rv = revproxy_tls_handshake(c->tls, &want, p, why);
        if (!APR_STATUS_IS_EAGAIN(rv)) {
            return rv;
        }
        if (deadline) {
            left = deadline - apr_time_now();
            if (left <= 0) {
                rv = APR_TIMEUP;
            }
        }
        if (rv != APR_TIMEUP) {
            rv = conn_wait(c, want, left);
        }
        if (rv != APR_SUCCESS) {
            /* half a handshake: conn_close() sends no close_notify */
            *why = APR_STATUS_IS_TIMEUP(rv)
                   ? "TLS handshake not done within the connect timeout"
                   : "waiting for the TLS handshake failed";
            return rv;
        }
    }
}

const char *revproxy_addr_name(apr_pool_t *p, const revproxy_addr *a)
{
    const char *h = a->host ? a->host : "";
    int v6 = h[0] != '[' && strchr(h, ':') != NULL;

    if (a->sock) {
        return apr_pstrcat(p, "unix:", a->sock, NULL);
    }
    return apr_pstrcat(p, a->https ? "https://" : "http://",
                       v6 ? "[" : "", h, v6 ? "]:" : ":",
                       apr_itoa(p, (int)a->port), NULL);
}

/* A Unix-domain socket: the path is the configuration's (revproxy_addr),
 * connected within timeout, then blocking as plain TCP is. */
static apr_status_t connect_unix(const revproxy_addr *a,
                                 apr_interval_time_t timeout, apr_pool_t *cp,
                                 apr_socket_t **out)
{
    apr_sockaddr_t *sa;
    apr_socket_t *s;
    apr_status_t rv;

    *out = NULL;
    rv = apr_sockaddr_info_get(&sa, a->sock, APR_UNIX, 0, 0, cp);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = apr_socket_create(&s, APR_UNIX, SOCK_STREAM, 0, cp);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_socket_timeout_set(s, timeout > 0 ? timeout : -1);
    rv = apr_socket_connect(s, sa);
    if (rv != APR_SUCCESS) {
        apr_socket_close(s);
        return rv;
    }
    *out = s;
    return APR_SUCCESS;
}

/* TCP to host:port: each address in turn, as the resolver ordered them. */
static apr_status_t connect_tcp(const revproxy_addr *a,
                                apr_interval_time_t timeout, apr_pool_t *p,
                                apr_pool_t *cp, apr_socket_t **out,
                                const char **why)
{
    apr_sockaddr_t *sa;
    apr_socket_t *s = NULL;
    apr_status_t rv;
    const char *host = a->host;
    apr_size_t hl = strlen(host);

    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        host = apr_pstrmemdup(p, host + 1, hl - 2);
    }
    rv = apr_sockaddr_info_get(&sa, host, APR_UNSPEC, a->port, 0, cp);
    if (rv != APR_SUCCESS) {
        *why = apr_psprintf(p, "cannot resolve %s", a->host);
        return rv;
    }
    for (; sa; sa = sa->next) {
        rv = apr_socket_create(&s, sa->family, SOCK_STREAM, APR_PROTO_TCP,
                               cp);
        if (rv != APR_SUCCESS) {
            continue;
        }
        apr_socket_opt_set(s, APR_TCP_NODELAY, 1);
        apr_socket_timeout_set(s, timeout > 0 ? timeout : -1);
        rv = apr_socket_connect(s, sa);
        if (rv == APR_SUCCESS) {
            break;
        }
        apr_socket_close(s);
        s = NULL;
    }
    if (s == NULL) {
        *why = apr_psprintf(p, "connect to %s:%u failed", a->host,
                            (unsigned)a->port);
        return rv == APR_SUCCESS ? APR_ECONNREFUSED : rv;
    }
    *out = s;
    return APR_SUCCESS;
}

static apr_status_t connect_new(const revproxy_addr *a,
                                apr_interval_time_t timeout, apr_pool_t *p,
                                revproxy_conn **out, const char **why)
{
    apr_pool_t *cp;
    apr_socket_t *s = NULL;
    apr_status_t rv;
    revproxy_conn *c;
    apr_time_t start = apr_time_now();

    rv = apr_pool_create_unmanaged_ex(&cp, NULL, NULL);
    if (rv != APR_SUCCESS) {
        *why = "out of memory";
        return rv;
    }
    if (a->sock) {
        rv = connect_unix(a, timeout, cp, &s);
        if (rv != APR_SUCCESS) {
            *why = apr_psprintf(p, "connect to unix:%s failed", a->sock);
        }
    }
    else {
        rv = connect_tcp(a, timeout, p, cp, &s, why);
    }
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(cp);
        return rv;
    }
    /* Plain TCP: blocking, bounded by SO_RCVTIMEO/SO_SNDTIMEO, so that a
     * read waits inside recv(2) (no poll(2) before it); TLS: non-blocking,
     * every wait our own apr_poll. */
    apr_socket_timeout_set(s, a->https ? 0 : -1);

    c = apr_pcalloc(cp, sizeof(*c));
    c->pool = cp;
    c->sock = s;
    apr_os_sock_get(&c->fd, s);
    c->pfd.p = cp;
    c->pfd.desc_type = APR_POLL_SOCKET;
    c->pfd.desc.s = s;
    if (a->https) {
        /* connecttimeout bounds TCP and TLS together. */
        if (timeout > 0) {
            timeout -= apr_time_now() - start;
            if (timeout <= 0) {
                timeout = 1;
            }
        }
        rv = tls_connect(c, a, timeout, p, why);
        if (rv != APR_SUCCESS) {
            conn_close(c);
            return rv;
        }
    }
    *out = c;
    return APR_SUCCESS;
}

apr_status_t revproxy_conn_acquire(const revproxy_addr *a, int reuse,
                                   apr_interval_time_t connect_timeout,
                                   apr_pool_t *p, revproxy_conn **out,
                                   int *reused, const char **why)
{
    revproxy_endpoint *ep;
    revproxy_conn *c;
    apr_status_t rv;

    *reused = 0;
    /* One lock for the common case: find the endpoint, take its newest
     * idle connection.  The liveness check runs unlocked. */
    LOCK();
    ep = endpoint_get(a);
    c = (reuse && ep) ? pop_idle(ep) : NULL;
    UNLOCK();
    while (c != NULL) {
        gauge(ep, 1, -1);
        if (idle_empty(c)) {
            *reused = 1;
            *out = c;
            return APR_SUCCESS;
        }
        conn_close(c);
        gauge(ep, 0, -1);
        LOCK();
        pool_state.open--;
        c = pop_idle(ep);
        UNLOCK();
    }
    rv = connect_new(a, connect_timeout, p, &c, why);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    c->ep = ep;
    gauge(ep, 0, 1);
    LOCK();
    pool_state.open++;
    UNLOCK();
    *out = c;
    return APR_SUCCESS;
}

void revproxy_conn_release(revproxy_conn *c, int keep, int max_idle,
                           apr_interval_time_t ttl)
{
    revproxy_endpoint *ep = c->ep;

    if (keep && ep) {
        LOCK();
        if (ep->nidle < max_idle && pool_state.endpoints) {
            /* The limit of the exchange that gives it back: its rule's
             * or group's ttl=, made for the backend it talks to. */
            c->idle_until = apr_time_now()
                            + (ttl > 0 ? ttl : REVPROXY_CONN_DEFAULT_TTL);
            c->next = ep->idle;
            ep->idle = c;
            ep->nidle++;
            pool_state.idle++;
            gauge(ep, 1, 1);
            UNLOCK();
            return;
        }
        UNLOCK();
    }
    conn_close(c);
    gauge(ep, 0, -1);
    LOCK();
    pool_state.open--;
    UNLOCK();
}

/* SO_RCVTIMEO/SO_SNDTIMEO to timeout (> 0), unless the value in force
 * is within a few milliseconds of it: the kernel counts these in jiffies
 * anyway, and a head's deadline shrinks by microseconds between reads, so
 * this saves a setsockopt(2) per request. */
#define KERNEL_TIMEO_SLACK apr_time_from_msec(5)

static apr_status_t kernel_timeout(revproxy_conn *c, int opt,
                                   apr_interval_time_t *cur,
                                   apr_interval_time_t timeout)
{
    struct timeval tv;

    if (*cur > 0 && *cur - timeout <= KERNEL_TIMEO_SLACK
        && timeout - *cur <= KERNEL_TIMEO_SLACK) {
        return APR_SUCCESS;
    }
    tv.tv_sec = (time_t)apr_time_sec(timeout);
    tv.tv_usec = (suseconds_t)apr_time_usec(timeout);
    if (tv.tv_sec == 0 && tv.tv_usec == 0) {
        tv.tv_usec = 1;         /* 0 would mean: wait forever */
    }
    if (setsockopt(c->fd, SOL_SOCKET, opt, &tv, sizeof(tv)) != 0) {
        *cur = 0;
        return APR_FROM_OS_ERROR(errno);
    }
    *cur = timeout;
    return APR_SUCCESS;
}

/* A blocking-socket call failed with err: APR_SUCCESS to call again (a
 * signal came and time is left, *timeout now what is left of the
 * original), or what to return. */
static apr_status_t blocking_failure(int err, apr_time_t *deadline,
                                     apr_interval_time_t *timeout)
{
    apr_time_t now;

    if (err == EAGAIN || err == EWOULDBLOCK) {
        return *timeout > 0 ? APR_TIMEUP : APR_EAGAIN;
    }
    if (err != EINTR) {
        return APR_FROM_OS_ERROR(err);
    }
    if (*timeout <= 0) {
        return APR_SUCCESS;
    }
    now = apr_time_now();
    if (*deadline == 0) {
        *deadline = now + *timeout;
    }
    if (now >= *deadline) {
        return APR_TIMEUP;
    }
    *timeout = *deadline - now;
    return APR_SUCCESS;
}

static apr_status_t plain_read(revproxy_conn *c, char *buf, apr_size_t *len,
                               apr_interval_time_t timeout)
{
    apr_size_t want = *len;
    apr_time_t deadline = 0;
    apr_status_t rv;

    *len = 0;
    for (;;) {
        ssize_t n;

        if (timeout > 0) {
            rv = kernel_timeout(c, SO_RCVTIMEO, &c->rcvtimeo, timeout);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
        n = recv(c->fd, buf, want, timeout > 0 ? 0 : MSG_DONTWAIT);
        if (n > 0) {
            *len = (apr_size_t)n;
            return APR_SUCCESS;
        }
        if (n == 0) {
            return APR_EOF;
        }
        rv = blocking_failure(errno, &deadline, &timeout);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
}

apr_status_t revproxy_conn_read(revproxy_conn *c, char *buf, apr_size_t *len,
                                apr_interval_time_t timeout)
{
    apr_size_t want = *len;
    apr_status_t rv;
    apr_int16_t ev = APR_POLLIN;

    if (c->tls == NULL) {
        return plain_read(c, buf, len, timeout);
    }
    for (;;) {
        *len = want;
        rv = revproxy_tls_read(c->tls, buf, len, &ev);
        if (*len > 0) {
            return APR_SUCCESS;
        }
        if (!APR_STATUS_IS_EAGAIN(rv)) {
            return rv == APR_SUCCESS ? APR_EOF : rv;
        }
        if (timeout == 0) {
            return rv;
        }
        rv = conn_wait(c, ev, timeout);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
}

/* TLS writes go record by record; small vectors are gathered first so a
 * request head and a short body leave in one record. */
static apr_status_t tls_writev(revproxy_conn *c, struct iovec *vec, int nvec,
                               apr_interval_time_t timeout)
{
    char gather[16384];
    apr_size_t total = 0;
    int i;

    for (i = 0; i < nvec; i++) {
        total += vec[i].iov_len;
    }
    if (nvec > 1 && total <= sizeof(gather)) {
        apr_size_t o = 0;
        for (i = 0; i < nvec; i++) {
            memcpy(gather + o, vec[i].iov_base, vec[i].iov_len);
            o += vec[i].iov_len;
        }
        vec[0].iov_base = gather;
        vec[0].iov_len = total;
        nvec = 1;
    }
    for (i = 0; i < nvec; i++) {
        const char *b = vec[i].iov_base;
        apr_size_t left = vec[i].iov_len;

        /* Counted when handed over: a write that wants to be retried may
         * already have put part of a record on the wire. */
        c->bytes_sent += left;
        while (left > 0) {
            apr_size_t n = left;
            apr_int16_t ev = APR_POLLOUT;
            apr_status_t rv = revproxy_tls_write(c->tls, b, &n, &ev);
            if (rv == APR_SUCCESS) {
                b += n;
                left -= n;
                continue;
            }
            if (!APR_STATUS_IS_EAGAIN(rv)) {
                return rv;
            }
            rv = conn_wait(c, ev, timeout);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
    }
    return APR_SUCCESS;
}

/* Drop what went out of vec, shorten its first partial vector. */
static void advance(struct iovec **vec, int *nvec, apr_size_t n)
{
    while (*nvec > 0 && n >= (*vec)[0].iov_len) {
        n -= (*vec)[0].iov_len;
        (*vec)++;
        (*nvec)--;
    }
    if (*nvec > 0 && n > 0) {
        (*vec)[0].iov_base = (char *)(*vec)[0].iov_base + n;
        (*vec)[0].iov_len -= n;
    }
}

/* Blocking sendmsg(2), bounded by SO_SNDTIMEO; MSG_NOSIGNAL so that a
 * backend's reset is an error, never SIGPIPE. */
static apr_status_t plain_writev(revproxy_conn *c, struct iovec *vec,
                                 int nvec, apr_interval_time_t timeout)
{
    apr_time_t deadline = 0;
    apr_status_t rv;

    while (nvec > 0) {
        struct msghdr m;
        ssize_t n;

        if (timeout > 0) {
            rv = kernel_timeout(c, SO_SNDTIMEO, &c->sndtimeo, timeout);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
        memset(&m, 0, sizeof(m));
        m.msg_iov = vec;
        m.msg_iovlen = (size_t)(nvec < IOV_MAX ? nvec : IOV_MAX);
        n = sendmsg(c->fd, &m,
                    MSG_NOSIGNAL | (timeout > 0 ? 0 : MSG_DONTWAIT));
        if (n >= 0) {
            c->bytes_sent += (apr_uint64_t)n;
            advance(&vec, &nvec, (apr_size_t)n);
            continue;
        }
        rv = blocking_failure(errno, &deadline, &timeout);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

apr_status_t revproxy_conn_writev(revproxy_conn *c, struct iovec *vec,
                                  int nvec, apr_interval_time_t timeout)
{
    return c->tls ? tls_writev(c, vec, nvec, timeout)
                  : plain_writev(c, vec, nvec, timeout);
}

const char *revproxy_conn_error(revproxy_conn *c)
{
    return c->tls ? revproxy_tls_error(c->tls) : NULL;
}
