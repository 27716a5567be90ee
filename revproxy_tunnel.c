/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * The byte tunnel behind an upgraded (101) connection, e.g. WebSocket.
 *
 * One loop, one apr_poll() over the two sockets: each wake-up drains what
 * is readable on either side (non-blocking) and writes it to the other
 * side (blocking, bounded).  The client is read and written through its
 * connection filters, so a TLS client (mod_ssl) works unchanged; the
 * backend through revproxy_conn, so a TLS backend does too.  A side that
 * reaches EOF is half-closed towards the other; the tunnel ends when both
 * have, or when nothing moved for the idle limit.
 */

#include "apr_strings.h"
#include "httpd.h"
#include "http_core.h"
#include "util_filter.h"

#include "revproxy_tunnel.h"

#define TUNNEL_CHUNK 65536

typedef struct {
    request_rec *r;
    conn_rec *c;
    revproxy_conn *be;
    apr_bucket_brigade *bb;
    apr_interval_time_t send_timeout;
    int client_eof, backend_eof;
    apr_off_t to_backend, to_client;
    const char *why;
} tunnel_t;

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

    while (!t->backend_eof) {
        apr_size_t n = sizeof(buf);
        apr_status_t rv = revproxy_conn_read(t->be, buf, &n, 0);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            return APR_SUCCESS;
        }
        if (rv != APR_SUCCESS) {
            /* EOF or reset: the backend is done sending; tell the
             * client by closing our sending side towards it. */
            t->backend_eof = 1;
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
    while (!t->client_eof) {
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

apr_status_t revproxy_tunnel_run(request_rec *r, revproxy_conn *backend,
                                 const char *pending, apr_size_t npending,
                                 apr_interval_time_t idle,
                                 apr_interval_time_t send_timeout,
                                 apr_off_t *bytes_in, apr_off_t *bytes_out,
                                 const char **why)
{
    tunnel_t t = { 0 };
    apr_pollfd_t pfd[2];
    apr_status_t rv = APR_SUCCESS;

    t.r = r;
    t.c = r->connection;
    t.be = backend;
    t.bb = apr_brigade_create(r->pool, t.c->bucket_alloc);
    t.send_timeout = send_timeout;
    t.why = "closed by both sides";

    if (npending > 0) {
        rv = to_client(&t, pending, npending);
    }
    memset(pfd, 0, sizeof(pfd));
    pfd[0].p = pfd[1].p = r->pool;
    pfd[0].desc_type = pfd[1].desc_type = APR_POLL_SOCKET;
    pfd[0].desc.s = ap_get_conn_socket(t.c);
    pfd[1].desc.s = backend->sock;

    while (rv == APR_SUCCESS && !(t.client_eof && t.backend_eof)) {
        apr_int32_t n = 0;
        int moved = 0;

        /* Drain both sides first: filters (mod_ssl, the core's own
         * buffer) and TLS records may hold bytes the sockets no longer
         * show as readable. */
        rv = pump_client(&t, &moved);
        if (rv == APR_SUCCESS) {
            rv = pump_backend(&t, &moved);
        }
        if (rv != APR_SUCCESS || moved) {
            continue;
        }
        if (t.client_eof && t.backend_eof) {
            break;
        }
        pfd[0].reqevents = t.client_eof ? 0 : APR_POLLIN;
        pfd[1].reqevents = t.backend_eof ? 0 : APR_POLLIN;
        pfd[0].rtnevents = pfd[1].rtnevents = 0;
        do {
            rv = apr_poll(t.client_eof ? &pfd[1] : pfd,
                          (t.client_eof || t.backend_eof) ? 1 : 2, &n, idle);
        } while (APR_STATUS_IS_EINTR(rv));
        if (rv == APR_SUCCESS && n == 0) {
            rv = APR_TIMEUP;
        }
        if (APR_STATUS_IS_TIMEUP(rv)) {
            t.why = "idle limit reached";
        }
        else if (rv != APR_SUCCESS) {
            t.why = "poll failed";
        }
    }
    *bytes_in = t.to_client;
    *bytes_out = t.to_backend;
    *why = t.why;
    return rv;
}
