/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * The byte tunnel behind an upgraded (101) connection, e.g. WebSocket.
 *
 * Moving bytes: the sides take turns; a turn reads what is readable on
 * one side (non-blocking, up to TUNNEL_READS reads) and writes it to the
 * other (blocking, bounded by the send timeout).  A round in which
 * neither side moved a byte proves both drained.  The client is read and written through its connection
 * filters, so a TLS client (mod_ssl) works unchanged; the backend through
 * revproxy_conn, so a TLS backend does too.  A side that reaches EOF is
 * half-closed towards the other; the tunnel ends when both have, or when
 * nothing moved for the idle limit.
 *
 * Waiting, two ways:
 *  - revproxy_tunnel_run: the request's thread sleeps in apr_poll() over
 *    the two sockets (prefork, worker, HTTP/2 streams).
 *  - revproxy_tunnel_start (event MPM): an idle tunnel holds no thread.
 *    httpd 2.4 has no MPM call to watch a module's sockets
 *    (ap_mpm_register_poll_callback_timeout is trunk-only), so each child
 *    has one watcher thread with its own pollset: the handler returns
 *    SUSPENDED, the MPM lets go of the connection (suspend_connection
 *    hook), the watcher polls both sockets and, when either side has data
 *    or the idle limit passed, hands the tunnel to a worker thread of the
 *    MPM with ap_mpm_register_timed_callback(0).  The worker drains both
 *    sides until neither has anything (TLS records and the filters' buffers
 *    included: poll cannot see those) and parks the tunnel again, or ends
 *    it.  As in mod_proxy's tunnels, all state lives in r->pool, which
 *    lives as long as the suspended request; ending the tunnel finishes
 *    the request (ap_process_request_after_handler: logged, r->pool gone)
 *    and closes the connection, which 2.4's event MPM cannot be given back.
 */

#include "apr_strings.h"
#include "apr_poll.h"
#include "apr_thread_proc.h"
#include "apr_thread_mutex.h"
#include "httpd.h"
#include "http_core.h"
#include "http_connection.h"
#include "http_log.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "util_filter.h"

#include "revproxy_private.h"
#include "revproxy_tunnel.h"

#define TUNNEL_CHUNK 65536

/* Reads of a side per turn: the sides take turns, so that a peer that
 * echoes while it is sent to never waits on us reading it (its writes
 * would stop its reads, and ours to it would block). */
#define TUNNEL_READS 4

/* How long a finished tunnel's connection pool outlives its end: the
 * MPM's thread that suspended it may still be returning from the
 * suspend_connection hook when another thread ends the tunnel. */
#define CLOSE_GRACE apr_time_from_msec(250)

/* Rounds a worker relays a tunnel that keeps moving before parking it. */
#define BUSY_ROUNDS 16

/* Longest sleep of the watcher without looking at the idle limits. */
#define WATCH_TICK apr_time_from_sec(1)

enum { T_RUNNING, T_PARKING, T_PARKED };

typedef struct tunnel_t tunnel_t;
struct tunnel_t {
    request_rec *r;
    conn_rec *c;
    revproxy_conn *be;
    apr_bucket_brigade *bb;
    apr_interval_time_t send_timeout;
    int client_eof, backend_eof;
    apr_off_t to_backend, to_client;
    const char *why;

    /* revproxy_tunnel_start only */
    apr_status_t rv;            /* the first failure */
    apr_interval_time_t idle;
    revproxy_tunnel_end_fn *end;
    void *baton;
    int state;                  /* T_*, under the watcher's mutex */
    int expired;                /* the watcher found it idle too long */
    apr_time_t deadline;        /* parked: ends when nothing moved by then */
    apr_pollfd_t pfd[2];        /* client, backend */
    int npfd;                   /* of pfd, in the watcher's pollset */
    tunnel_t *prev, *next;      /* parked: in the watcher's ring */
    tunnel_t *ready;            /* the watcher's list to hand over */
};

/* This child's watcher of idle tunnels (event MPM only). */
typedef struct {
    apr_pollset_t *ps;
    apr_thread_mutex_t *mu;
    apr_thread_t *thread;
    tunnel_t ring;              /* sentinel of the parked tunnels */
    apr_time_t next_check;      /* earliest deadline (or a tick) */
    volatile int stop;
    server_rec *s;
} watcher_t;

static watcher_t *watcher;

static apr_status_t to_client(tunnel_t *t, const char *data, apr_size_t len)
{
    apr_bucket_alloc_t *ba = t->c->bucket_alloc;
    apr_status_t rv;

    APR_BRIGADE_INSERT_TAIL(t->bb, apr_bucket_heap_create(data, len, NULL,
                                                          ba));
    APR_BRIGADE_INSERT_TAIL(t->bb, apr_bucket_flush_create(ba));
    rv = ap_pass_brigade(t->c->output_filters, t->bb);
    apr_brigade_cleanup(t->bb);
    if (rv != APR_SUCCESS || t->c->aborted) {
        t->why = "writing to the client failed";
        return rv != APR_SUCCESS ? rv : APR_ECONNABORTED;
    }
    t->to_client += len;
    return APR_SUCCESS;
}

/* Move what the backend has ready to the client. */
static apr_status_t pump_backend(tunnel_t *t, int *moved)
{
    char buf[TUNNEL_CHUNK];
    int reads = 0;

    while (!t->backend_eof && reads++ < TUNNEL_READS) {
        apr_size_t n = sizeof(buf);
        apr_status_t rv = revproxy_conn_read(t->be, buf, &n, 0);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            return APR_SUCCESS;
        }
        if (rv != APR_SUCCESS) {
            /* EOF or reset: the backend is done sending; tell the
             * client by closing our sending side towards it. */
            t->backend_eof = 1;
            *moved = 1;
            if (!t->client_eof) {
                apr_socket_shutdown(ap_get_conn_socket(t->c),
                                    APR_SHUTDOWN_WRITE);
            }
            return APR_SUCCESS;
        }
        rv = to_client(t, buf, n);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        *moved = 1;
    }
    return APR_SUCCESS;
}

/* Write every bucket of t->bb to the backend, in batches of the nvec
 * vectors of vec; the written buckets are deleted. */
static apr_status_t write_brigade(tunnel_t *t, struct iovec *vec, int *nvec)
{
    int max = *nvec;

    while (!APR_BRIGADE_EMPTY(t->bb)) {
        apr_status_t rv;
        int n = max, i;

        /* One vector per bucket, in order. */
        rv = apr_brigade_to_iovec(t->bb, vec, &n);
        if (rv == APR_SUCCESS && n > 0) {
            rv = revproxy_conn_writev(t->be, vec, n, t->send_timeout);
        }
        if (rv != APR_SUCCESS || n == 0) {
            return rv;
        }
        /* The vectors point into the buckets: drop them only now. */
        for (i = 0; i < n && !APR_BRIGADE_EMPTY(t->bb); i++) {
            apr_bucket_delete(APR_BRIGADE_FIRST(t->bb));
        }
    }
    return APR_SUCCESS;
}

/* Move what the client has ready to the backend. */
static apr_status_t pump_client(tunnel_t *t, int *moved)
{
    int reads = 0;

    while (!t->client_eof && reads++ < TUNNEL_READS) {
        struct iovec vec[64];
        int nvec = 64;
        apr_off_t len = 0;
        apr_status_t rv;

        rv = ap_get_brigade(t->c->input_filters, t->bb, AP_MODE_READBYTES,
                            APR_NONBLOCK_READ, TUNNEL_CHUNK);
        if (APR_STATUS_IS_EAGAIN(rv)
            || (rv == APR_SUCCESS && APR_BRIGADE_EMPTY(t->bb))) {
            return APR_SUCCESS;
        }
        if (rv != APR_SUCCESS
            || APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(t->bb))) {
            apr_brigade_cleanup(t->bb);
            t->client_eof = 1;
            *moved = 1;
            if (!t->backend_eof) {
                apr_socket_shutdown(t->be->sock, APR_SHUTDOWN_WRITE);
            }
            return APR_SUCCESS;
        }
        apr_brigade_length(t->bb, 1, &len);
        rv = write_brigade(t, vec, &nvec);
        apr_brigade_cleanup(t->bb);
        if (rv != APR_SUCCESS) {
            t->why = "writing to the backend failed";
            return rv;
        }
        t->to_backend += len;
        *moved = 1;
    }
    return APR_SUCCESS;
}

/* One round: each side drained until it would block (or ended). */
static apr_status_t pump_both(tunnel_t *t, int *moved)
{
    apr_status_t rv = pump_client(t, moved);

    if (rv == APR_SUCCESS) {
        rv = pump_backend(t, moved);
    }
    return rv;
}

static tunnel_t *tunnel_make(request_rec *r, revproxy_conn *backend,
                             apr_interval_time_t send_timeout)
{
    tunnel_t *t = apr_pcalloc(r->pool, sizeof(*t));

    t->r = r;
    t->c = r->connection;
    t->be = backend;
    t->bb = apr_brigade_create(r->pool, t->c->bucket_alloc);
    t->send_timeout = send_timeout;
    t->why = "closed by both sides";
    return t;
}

apr_status_t revproxy_tunnel_run(request_rec *r, revproxy_conn *backend,
                                 const char *pending, apr_size_t npending,
                                 apr_interval_time_t idle,
                                 apr_interval_time_t send_timeout,
                                 apr_off_t *bytes_in, apr_off_t *bytes_out,
                                 const char **why)
{
    tunnel_t *t = tunnel_make(r, backend, send_timeout);
    apr_pollfd_t pfd[2];
    apr_status_t rv = APR_SUCCESS;

    if (npending > 0) {
        rv = to_client(t, pending, npending);
    }
    memset(pfd, 0, sizeof(pfd));
    pfd[0].p = pfd[1].p = r->pool;
    pfd[0].desc_type = pfd[1].desc_type = APR_POLL_SOCKET;
    pfd[0].desc.s = ap_get_conn_socket(t->c);
    pfd[1].desc.s = backend->sock;

    while (rv == APR_SUCCESS && !(t->client_eof && t->backend_eof)) {
        apr_int32_t n = 0;
        int moved = 0;

        /* Drain both sides first: filters (mod_ssl, the core's own
         * buffer) and TLS records may hold bytes the sockets no longer
         * show as readable. */
        rv = pump_both(t, &moved);
        if (rv != APR_SUCCESS || moved) {
            continue;
        }
        pfd[0].reqevents = t->client_eof ? 0 : APR_POLLIN;
        pfd[1].reqevents = t->backend_eof ? 0 : APR_POLLIN;
        pfd[0].rtnevents = pfd[1].rtnevents = 0;
        do {
            rv = apr_poll(t->client_eof ? &pfd[1] : pfd,
                          (t->client_eof || t->backend_eof) ? 1 : 2, &n,
                          idle);
        } while (APR_STATUS_IS_EINTR(rv));
        if (rv == APR_SUCCESS && n == 0) {
            rv = APR_TIMEUP;
        }
        if (APR_STATUS_IS_TIMEUP(rv)) {
            t->why = "idle limit reached";
        }
        else if (rv != APR_SUCCESS) {
            t->why = "poll failed";
        }
    }
    *bytes_in = t->to_client;
    *bytes_out = t->to_backend;
    *why = t->why;
    return rv;
}

/* ---- the watcher: idle tunnels of this child, no thread each ---------- */

/* Take t out of the pollset and the ring (mutex held). */
static void unpark_locked(tunnel_t *t)
{
    int i;

    for (i = 0; i < t->npfd; i++) {
        apr_pollset_remove(watcher->ps, &t->pfd[i]);
    }
    t->npfd = 0;
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
    t->state = T_RUNNING;
}

static void tunnel_resume(void *baton);

/* Hand t to a worker thread of the MPM. */
static void dispatch(tunnel_t *t)
{
    apr_status_t rv = ap_mpm_register_timed_callback(0, tunnel_resume, t);

    if (rv != APR_SUCCESS) {
        /* Nothing else can run it: end it here. */
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, watcher->s, RVPLOGNO(0060)
                     "tunnel: the MPM took no callback; running it on the "
                     "watcher thread");
        tunnel_resume(t);
    }
}

static void *APR_THREAD_FUNC watch(apr_thread_t *thd, void *data)
{
    watcher_t *w = data;

    (void)thd;
    while (!w->stop) {
        const apr_pollfd_t *out = NULL;
        apr_int32_t n = 0, i;
        apr_interval_time_t wait;
        apr_time_t now = apr_time_now();
        tunnel_t *ready = NULL, *t;
        apr_status_t rv;

        apr_thread_mutex_lock(w->mu);
        wait = w->next_check > now ? w->next_check - now : 0;
        apr_thread_mutex_unlock(w->mu);
        rv = apr_pollset_poll(w->ps, wait > WATCH_TICK ? WATCH_TICK : wait,
                              &n, &out);
        if (rv != APR_SUCCESS && !APR_STATUS_IS_EINTR(rv)
            && !APR_STATUS_IS_TIMEUP(rv)) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, w->s, RVPLOGNO(0061)
                         "tunnel watcher: poll failed");
            apr_sleep(apr_time_from_msec(10));
        }
        /* Collect first, hand over after: a tunnel may appear twice in
         * out (both sockets), and once handed over it is not ours. */
        apr_thread_mutex_lock(w->mu);
        for (i = 0; rv == APR_SUCCESS && i < n; i++) {
            t = out[i].client_data;
            if (t->state == T_PARKED) {
                unpark_locked(t);
                t->ready = ready;
                ready = t;
            }
        }
        now = apr_time_now();
        if (now >= w->next_check) {
            apr_time_t next = now + WATCH_TICK;
            tunnel_t *nx;
            for (t = w->ring.next; t != &w->ring; t = nx) {
                nx = t->next;
                if (t->deadline <= now) {
                    unpark_locked(t);
                    t->expired = 1;
                    t->ready = ready;
                    ready = t;
                }
                else if (t->deadline < next) {
                    next = t->deadline;
                }
            }
            w->next_check = next;
        }
        apr_thread_mutex_unlock(w->mu);
        while (ready) {
            t = ready;
            ready = t->ready;
            t->ready = NULL;
            dispatch(t);
        }
    }
    return NULL;
}

/* Into the pollset until a side has data or the idle limit passes; from
 * here on another thread may run t.  fresh: something moved, the idle
 * limit starts again. */
static apr_status_t park(tunnel_t *t, int fresh)
{
    apr_status_t rv = APR_SUCCESS;
    int wake = 0, i;

    t->npfd = 0;
    memset(t->pfd, 0, sizeof(t->pfd));
    if (!t->client_eof) {
        t->pfd[t->npfd].desc.s = ap_get_conn_socket(t->c);
        t->npfd++;
    }
    if (!t->backend_eof) {
        t->pfd[t->npfd].desc.s = t->be->sock;
        t->npfd++;
    }
    apr_thread_mutex_lock(watcher->mu);
    if (fresh || t->deadline == 0) {
        t->deadline = apr_time_now() + t->idle;
    }
    for (i = 0; i < t->npfd && rv == APR_SUCCESS; i++) {
        t->pfd[i].p = t->r->pool;
        t->pfd[i].desc_type = APR_POLL_SOCKET;
        t->pfd[i].reqevents = APR_POLLIN;
        t->pfd[i].client_data = t;
        rv = apr_pollset_add(watcher->ps, &t->pfd[i]);
    }
    if (rv != APR_SUCCESS) {
        while (--i > 0) {
            apr_pollset_remove(watcher->ps, &t->pfd[i - 1]);
        }
        t->npfd = 0;
        apr_thread_mutex_unlock(watcher->mu);
        return rv;
    }
    t->state = T_PARKED;
    t->next = &watcher->ring;
    t->prev = watcher->ring.prev;
    t->prev->next = t;
    watcher->ring.prev = t;
    if (t->deadline < watcher->next_check) {
        watcher->next_check = t->deadline;
        wake = 1;
    }
    apr_thread_mutex_unlock(watcher->mu);
    if (wake) {
        apr_pollset_wakeup(watcher->ps);
    }
    return APR_SUCCESS;
}

static void close_conn(void *baton)
{
    apr_pool_destroy(baton);
}

/* The end: the caller's accounting, the request finished (logged, its
 * pool gone), the client connection closed.  t is gone after this. */
static void finish(tunnel_t *t)
{
    request_rec *r = t->r;
    conn_rec *c = t->c;

    t->end(r, t->baton, t->rv, t->why, t->to_client, t->to_backend);
    c->keepalive = AP_CONN_CLOSE;
    ap_process_request_after_handler(r);
    /* Suspended it stays for the MPM's counters (its pool cleanup counts
     * the connection out by its state); 2.4 has no call to give it back,
     * so it is closed here: FIN now (mod_ssl's close_notify first), the
     * pool after a short grace. */
    if (c->cs) {
        c->cs->state = CONN_STATE_SUSPENDED;
    }
    ap_start_lingering_close(c);
    if (ap_mpm_register_timed_callback(CLOSE_GRACE, close_conn, c->pool)
        != APR_SUCCESS) {
        close_conn(c->pool);
    }
}

/* On a worker thread: relay what is there, then park again or end. */
static void tunnel_resume(void *baton)
{
    tunnel_t *t = baton;
    apr_thread_t *self = ap_thread_current();
    int moved = 0, busy = 0, rounds;

    if (self) {
        t->c->current_thread = self;
    }
    if (t->rv == APR_SUCCESS && t->expired) {
        t->rv = APR_TIMEUP;
        t->why = "idle limit reached";
    }
    /* Rounds while bytes keep coming, so that a busy tunnel does not go
     * through the watcher for every read; only a round that moved nothing
     * proves both sides drained (filters and TLS records included), and
     * only then may the tunnel wait for poll. */
    for (rounds = 0; t->rv == APR_SUCCESS; rounds++) {
        int again = 0;

        t->rv = pump_both(t, &again);
        if (!again || (t->client_eof && t->backend_eof)) {
            break;
        }
        moved = 1;
        if (rounds + 1 == BUSY_ROUNDS) {
            busy = 1;
            break;
        }
    }
    if (t->rv == APR_SUCCESS && !(t->client_eof && t->backend_eof)) {
        if (watcher->stop) {
            t->rv = APR_EINTR;
            t->why = "the child is stopping";
        }
        else if (busy) {
            /* Still moving, maybe with bytes poll cannot see (a turn
             * ends before a side is drained): the worker is given up,
             * not the turn. */
            t->deadline = 0;
            dispatch(t);
            return;
        }
        else if ((t->rv = park(t, moved)) == APR_SUCCESS) {
            return;             /* t may be running elsewhere already */
        }
        else {
            t->why = "cannot watch the tunnel's sockets";
        }
    }
    finish(t);
}

/* r->pool is going (the child exits with the tunnel parked). */
static apr_status_t tunnel_cleanup(void *data)
{
    tunnel_t *t = data;

    if (watcher && t->state == T_PARKED) {
        apr_thread_mutex_lock(watcher->mu);
        if (t->state == T_PARKED) {
            unpark_locked(t);
        }
        apr_thread_mutex_unlock(watcher->mu);
    }
    return APR_SUCCESS;
}

int revproxy_tunnel_can_park(request_rec *r)
{
    conn_rec *c = r->connection;

    return watcher != NULL && !watcher->stop && c->cs != NULL
           && c->master == NULL && !c->clogging_input_filters
           && r->main == NULL && r->prev == NULL;
}

int revproxy_tunnel_start(request_rec *r, revproxy_conn *backend,
                          const char *pending, apr_size_t npending,
                          apr_interval_time_t idle,
                          apr_interval_time_t send_timeout,
                          revproxy_tunnel_end_fn *end, void *baton)
{
    tunnel_t *t = tunnel_make(r, backend, send_timeout);

    t->idle = idle;
    t->end = end;
    t->baton = baton;
    if (npending > 0) {
        t->rv = to_client(t, pending, npending);
    }
    t->state = T_PARKING;
    apr_pool_cleanup_register(r->pool, t, tunnel_cleanup,
                              apr_pool_cleanup_null);
    ap_set_module_config(r->connection->conn_config, &revproxy_module, t);
    return SUSPENDED;
}

/* The MPM let go of c: a tunnel that was waiting for that is handed to a
 * worker, which drains what the filters already hold and parks it. */
void revproxy_tunnel_suspended(conn_rec *c, request_rec *r)
{
    tunnel_t *t = ap_get_module_config(c->conn_config, &revproxy_module);

    (void)r;
    if (t == NULL || t->state != T_PARKING) {
        return;
    }
    ap_set_module_config(c->conn_config, &revproxy_module, NULL);
    t->state = T_RUNNING;
    dispatch(t);
}

static apr_status_t watcher_stop(void *data)
{
    watcher_t *w = data;
    apr_status_t trv;

    w->stop = 1;
    apr_pollset_wakeup(w->ps);
    apr_thread_join(&trv, w->thread);
    watcher = NULL;
    return APR_SUCCESS;
}

void revproxy_tunnel_child_init(apr_pool_t *pchild, server_rec *s)
{
    watcher_t *w;
    int async = 0;
    apr_status_t rv;

    if (ap_mpm_query(AP_MPMQ_IS_ASYNC, &async) != APR_SUCCESS || !async) {
        return;                 /* the blocking loop does */
    }
    w = apr_pcalloc(pchild, sizeof(*w));
    w->s = s;
    w->ring.next = w->ring.prev = &w->ring;
    w->next_check = apr_time_now() + WATCH_TICK;
    rv = apr_thread_mutex_create(&w->mu, APR_THREAD_MUTEX_DEFAULT, pchild);
    if (rv == APR_SUCCESS) {
        rv = apr_pollset_create(&w->ps, 1024, pchild,
                                APR_POLLSET_THREADSAFE
                                | APR_POLLSET_WAKEABLE);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_thread_create(&w->thread, NULL, watch, w, pchild);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, RVPLOGNO(0062)
                     "tunnel watcher not started: upgraded connections "
                     "hold a thread each while idle");
        return;
    }
    /* Before the pool's own cleanups (the mutex, the pollset). */
    apr_pool_pre_cleanup_register(pchild, w, watcher_stop);
    watcher = w;
}
