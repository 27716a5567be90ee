/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * One HTTP/1.1 exchange with a backend.
 *
 * Request bodies: up to PREFETCH bytes are read ahead before connecting,
 * so a small body goes out in the same write as the head and can be sent
 * again if a pooled connection turns out dead; the rest streams, in the
 * client's framing.  Response bodies: every read fills one buffer of
 * bucket memory, and the spans of body data in it become heap buckets
 * that share it: the bytes read from the socket are the bytes handed to
 * the client's output filters.
 */

#include <string.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "httpd.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_core.h"
#include "http_log.h"
#include "util_filter.h"

#include "revproxy_upstream.h"
#include "revproxy_head.h"
#include "revproxy_private.h"

APLOG_USE_MODULE(revproxy);

#define PREFETCH   16384        /* request body held for a replay */
#define RBUF_SIZE  32768        /* one read from the backend */
#define MAX_IOV    64
#define MAX_INTERIM 10          /* 1xx responses accepted per request */

void revproxy_x_init(revproxy_exchange *x, request_rec *r)
{
    memset(x, 0, sizeof(*x));
    x->r = r;
    x->p = r->pool;
    x->method = r->method;
    x->head_request = r->header_only;
    x->reuse = 1;
    x->max_idle = 32;
}

/* RFC 9110 section 9.2.2; by name, so that fetches (which have no
 * method number of their own) ask the same question. */
static int idempotent(const char *m)
{
    switch (m[0]) {
    case 'G':
        return strcmp(m, "GET") == 0;
    case 'H':
        return strcmp(m, "HEAD") == 0;
    case 'P':
        return strcmp(m, "PUT") == 0;
    case 'D':
        return strcmp(m, "DELETE") == 0;
    case 'O':
        return strcmp(m, "OPTIONS") == 0;
    case 'T':
        return strcmp(m, "TRACE") == 0;
    default:
        return 0;
    }
}

int revproxy_x_replayable(const revproxy_exchange *x)
{
    /* The whole request must still be at hand (no body byte streamed
     * past what is held), and sending it twice must be harmless: an
     * idempotent method, or not one byte of it reached a backend. */
    return !x->streamed && (idempotent(x->method) || !x->wrote_any);
}

/* Drop metadata buckets, note EOS. */
static void absorb(apr_bucket_brigade *bb, int *eos)
{
    apr_bucket *b = APR_BRIGADE_FIRST(bb);

    while (b != APR_BRIGADE_SENTINEL(bb)) {
        apr_bucket *next = APR_BUCKET_NEXT(b);
        if (APR_BUCKET_IS_EOS(b)) {
            *eos = 1;
            apr_bucket_delete(b);
        }
        else if (APR_BUCKET_IS_METADATA(b)) {
            apr_bucket_delete(b);
        }
        b = next;
    }
}

/* Hold what of the client's body has already arrived, up to PREFETCH
 * bytes, without waiting for more: a small body goes out in the same
 * write as the head and can be sent again on a fresh connection, and the
 * first bytes of a slow upload never wait for later ones. */
static int prefetch_body(revproxy_exchange *x)
{
    request_rec *r = x->r;
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    apr_bucket_brigade *tmp = apr_brigade_create(x->p, ba);

    x->held = apr_brigade_create(x->p, ba);
    while (!x->body_eos && x->held_len < PREFETCH) {
        apr_off_t n = 0;
        apr_status_t rv = ap_get_brigade(r->input_filters, tmp,
                                         AP_MODE_READBYTES,
                                         APR_NONBLOCK_READ,
                                         PREFETCH - x->held_len);
        if (APR_STATUS_IS_EAGAIN(rv)
            || (rv == APR_SUCCESS && APR_BRIGADE_EMPTY(tmp))) {
            break;
        }
        if (rv != APR_SUCCESS) {
            x->fail = REVPROXY_FAIL_CLIENT;
            x->rv = rv;
            x->why = "reading the request body from the client failed";
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        absorb(tmp, &x->body_eos);
        apr_brigade_length(tmp, 1, &n);
        x->held_len += n;
        ap_save_brigade(NULL, &x->held, &tmp, x->p);
    }
    return OK;
}

/* The client's Content-Length (httpd checked it), or -1 when the body
 * is chunked or has none. */
static apr_off_t client_length(request_rec *r)
{
    const char *v = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t n;

    if (v == NULL || apr_table_get(r->headers_in, "Transfer-Encoding")
        || !ap_parse_strict_length(&n, v)) {
        return -1;
    }
    return n;
}

/* How the body is announced to the backend: its exact length when all
 * of it is held; the client's Content-Length when nothing between the
 * client and us can change the length (no input filter above httpd's
 * protocol filters: mod_sed, an inflating mod_deflate...); chunked
 * otherwise.  The backend then receives exactly what was announced. */
static void choose_framing(revproxy_exchange *x)
{
    request_rec *r = x->r;
    apr_off_t cl;

    if (!x->send_body) {
        x->framing = REVPROXY_BODY_NONE;
    }
    else if (x->body_eos) {
        x->framing = REVPROXY_BODY_LENGTH;
        x->announced = x->held_len;
    }
    else if (r->input_filters == r->proto_input_filters
             && (cl = client_length(r)) >= x->held_len) {
        x->framing = REVPROXY_BODY_LENGTH;
        x->announced = cl;
    }
    else {
        x->framing = REVPROXY_BODY_CHUNKED;
    }
}

/* Write head (may be NULL) and the data of bb as one chunk when chunked
 * is set, then the last chunk when last is set.  The buckets of bb are
 * consumed. */
static apr_status_t write_brigade(revproxy_exchange *x, const char *head,
                                  apr_size_t hlen, apr_bucket_brigade *bb,
                                  int chunked, int last)
{
    struct iovec vec[MAX_IOV + 4];
    char csize[24];
    int n = 0;
    apr_off_t len = 0;
    apr_status_t rv;

    if (head) {
        vec[n].iov_base = (void *)head;
        vec[n++].iov_len = hlen;
    }
    if (bb) {
        apr_brigade_length(bb, 1, &len);
    }
    if (len > 0 && chunked) {
        vec[n].iov_base = csize;
        vec[n++].iov_len = apr_snprintf(csize, sizeof(csize),
                                        "%" APR_UINT64_T_HEX_FMT "\r\n",
                                        (apr_uint64_t)len);
    }
    x->bytes_out += hlen + len;
    while (bb && !APR_BRIGADE_EMPTY(bb)) {
        int nvec = MAX_IOV - n, i;
        apr_bucket *after = APR_BRIGADE_FIRST(bb);

        /* One iovec per bucket, in order. */
        rv = apr_brigade_to_iovec(bb, vec + n, &nvec);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        for (i = 0; i < nvec; i++) {
            after = APR_BUCKET_NEXT(after);
        }
        n += nvec;
        if (after == APR_BRIGADE_SENTINEL(bb)) {
            break;              /* all of it is in vec */
        }
        /* More buckets than vectors: write this batch, then drop it
         * (not before: the vectors point into the buckets). */
        rv = revproxy_conn_writev(x->conn, vec, n, x->send_timeout);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        while (APR_BRIGADE_FIRST(bb) != after) {
            apr_bucket_delete(APR_BRIGADE_FIRST(bb));
        }
        n = 0;
    }
    if (len > 0 && chunked) {
        vec[n].iov_base = "\r\n";
        vec[n++].iov_len = 2;
    }
    if (last && chunked) {
        vec[n].iov_base = "0\r\n\r\n";
        vec[n++].iov_len = 5;
    }
    rv = (n > 0) ? revproxy_conn_writev(x->conn, vec, n, x->send_timeout)
                 : APR_SUCCESS;
    if (bb) {
        apr_brigade_cleanup(bb);
    }
    return rv;
}

/* Write bb (consumed) to the backend in the announced framing, after
 * head when there is one; last: the body ends with it. */
static apr_status_t write_body(revproxy_exchange *x, const char *head,
                               apr_size_t hlen, apr_bucket_brigade *bb,
                               int last)
{
    revproxy_conn *c = x->conn;
    apr_uint64_t before = c->bytes_sent;
    apr_status_t rv;

    rv = write_brigade(x, head, hlen, bb,
                       x->framing == REVPROXY_BODY_CHUNKED,
                       last && x->framing == REVPROXY_BODY_CHUNKED);
    if (c->bytes_sent != before) {
        x->wrote_any = 1;
    }
    if (rv != APR_SUCCESS) {
        x->send_failed = 1;
        x->rv = rv;
    }
    return rv;
}

/* The body does not match its announced length: whatever the backend
 * would read next is not ours to give it.  The connection is closed, and
 * the client gets 502 (no answer went out yet). */
static int body_mismatch(revproxy_exchange *x, const char *why)
{
    x->fail = REVPROXY_FAIL_CLIENT;
    x->why = why;
    x->rv = APR_EGENERAL;
    x->reusable = 0;
    x->body_aborted = 1;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, x->r, RVPLOGNO(0008)
                  "backend %s:%u: %s (Content-Length: %" APR_OFF_T_FMT
                  "); backend connection closed, answered 502",
                  x->addr.host, (unsigned)x->addr.port, why, x->announced);
    return HTTP_BAD_GATEWAY;
}

/* Stream the rest of the client's body: each piece goes out as soon as
 * it was read.  It cannot be sent again afterwards. */
static int stream_body(revproxy_exchange *x)
{
    request_rec *r = x->r;
    apr_bucket_brigade *bb = apr_brigade_create(x->p,
                                                r->connection->bucket_alloc);
    apr_off_t left = x->announced - x->held_len;

    apr_brigade_cleanup(x->held);
    x->held_len = 0;
    x->streamed = 1;
    while (!x->body_eos) {
        apr_off_t n = 0;
        apr_status_t rv = ap_get_brigade(r->input_filters, bb,
                                         AP_MODE_READBYTES, APR_BLOCK_READ,
                                         65536);
        if (rv != APR_SUCCESS) {
            x->fail = REVPROXY_FAIL_CLIENT;
            x->rv = rv;
            x->why = "reading the request body from the client failed";
            x->reusable = 0;
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        absorb(bb, &x->body_eos);
        apr_brigade_length(bb, 1, &n);
        if (x->framing == REVPROXY_BODY_LENGTH) {
            if (n > left) {
                apr_brigade_cleanup(bb);
                return body_mismatch(x, "the request body is longer than "
                                        "announced");
            }
            left -= n;
            if (x->body_eos && left > 0) {
                apr_brigade_cleanup(bb);
                return body_mismatch(x, "the request body ended short of "
                                        "what was announced");
            }
        }
        if (write_body(x, NULL, 0, bb, x->body_eos) != APR_SUCCESS) {
            apr_brigade_cleanup(bb);
            return OK;          /* an early answer may still come */
        }
        apr_brigade_cleanup(bb);
    }
    return OK;
}

/* Send the request head with the held part of the body (a copy: the
 * held buckets stay for a replay), then stream the rest. */
static int send_request(revproxy_exchange *x, const char *head,
                        apr_size_t hlen)
{
    request_rec *r = x->r;
    apr_bucket_brigade *bb = NULL;
    apr_status_t rv;

    if (x->held_len > 0) {
        apr_bucket *b;
        bb = apr_brigade_create(x->p, r->connection->bucket_alloc);
        for (b = APR_BRIGADE_FIRST(x->held);
             b != APR_BRIGADE_SENTINEL(x->held); b = APR_BUCKET_NEXT(b)) {
            apr_bucket *c;
            if (apr_bucket_copy(b, &c) == APR_SUCCESS) {
                APR_BRIGADE_INSERT_TAIL(bb, c);
            }
        }
    }
    rv = write_body(x, head, hlen, bb, x->body_eos);
    if (bb) {
        apr_brigade_destroy(bb);
    }
    if (rv != APR_SUCCESS || !x->send_body || x->body_eos) {
        return OK;
    }
    return stream_body(x);
}

static int on_header(void *baton, const char *name, size_t nlen,
                     const char *value, size_t vlen)
{
    revproxy_exchange *x = baton;
    char *v;

    /* Hop-by-hop fields that are always dropped never enter the table;
     * Connection and Upgrade do when they need the full strip (a token
     * naming other fields, or a tunnel). */
    switch (revproxy_hop_field(name, nlen)) {
    case REVPROXY_HOP_DROP:
        return 0;
    case REVPROXY_HOP_UPGRADE:
        x->hop_named = 1;
        break;
    case REVPROXY_HOP_CONNECTION:
        v = apr_pstrmemdup(x->hp, value, vlen);
        if (!revproxy_only_tokens(v, "close", "keep-alive")) {
            x->hop_named = 1;
            apr_table_addn(x->resp_headers, "Connection", v);
        }
        return 0;
    default:
        break;
    }
    /* Content-Length is set once the framing is known (one field, even
     * when the backend repeated it). */
    if (nlen == 14 && strncasecmp(name, "Content-Length", 14) == 0) {
        if (x->cl_fields++ == 0) {
            x->cl_value = apr_pstrmemdup(x->hp, value, vlen);
        }
        return 0;
    }
    /* Name and value in one allocation. */
    v = apr_palloc(x->hp, nlen + vlen + 2);
    memcpy(v, name, nlen);
    v[nlen] = '\0';
    memcpy(v + nlen + 1, value, vlen);
    v[nlen + 1 + vlen] = '\0';
    apr_table_addn(x->resp_headers, v, v + nlen + 1);
    return 0;
}

/* The Content-Length the client gets: the backend's own field when it
 * sent one plain number, else the parser's value. */
static void set_content_length(revproxy_exchange *x)
{
    const char *v = x->cl_value;

    if (x->cl_fields != 1 || v[0] == '\0'
        || v[strspn(v, "0123456789")] != '\0') {
        v = apr_psprintf(x->p, "%" APR_UINT64_T_FMT, x->h.content_length);
    }
    apr_table_setn(x->resp_headers, "Content-Length", v);
}

static void drop_rbuf(revproxy_exchange *x)
{
    if (x->rbase) {
        apr_bucket_free(x->rbase);
    }
    x->rbase = x->rbuf = NULL;
    x->rlen = 0;
}

/* One read from the backend into fresh bucket memory. */
static apr_status_t fill(revproxy_exchange *x, apr_interval_time_t timeout)
{
    apr_size_t n = RBUF_SIZE;
    apr_status_t rv;

    if (x->rbase == NULL) {
        x->rbase = apr_bucket_alloc(RBUF_SIZE,
                                    x->r->connection->bucket_alloc);
    }
    if (x->b.mode == REVPROXY_H1_BODY_LENGTH && x->status >= 200
        && x->b.remaining > 0 && x->b.remaining < n) {
        n = (apr_size_t)x->b.remaining;   /* never read past the message */
    }
    rv = revproxy_conn_read(x->conn, x->rbase, &n, timeout);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    x->rbuf = x->rbase;
    x->rlen = n;
    x->bytes_in += n;
    return APR_SUCCESS;
}

/* Ready for a (new) response head.  Interim heads are parsed into a
 * pool of their own, cleared for each: ten of them with a hundred fields
 * each cost the memory of one. */
static void init_head(revproxy_exchange *x, int interim)
{
    server_rec *s = x->r->server;
    apr_size_t max_line = s->limit_req_fieldsize > 0
                          ? (apr_size_t)s->limit_req_fieldsize : 8190;
    unsigned max_fields = s->limit_req_fields > 0
                          ? (unsigned)s->limit_req_fields : 65535;

    if (x->line == NULL) {
        x->line = apr_palloc(x->p, max_line);
    }
    if (!interim) {
        x->hp = x->p;
    }
    else if (x->interim_pool == NULL) {
        apr_pool_create(&x->interim_pool, x->p);
        x->hp = x->interim_pool;
    }
    else {
        apr_pool_clear(x->interim_pool);
        x->hp = x->interim_pool;
    }
    x->resp_headers = apr_table_make(x->hp, 16);
    x->hop_named = 0;
    x->cl_fields = 0;
    x->cl_value = NULL;
    revproxy_h1_head_init(&x->h, x->line, max_line, max_fields, on_header, x);
}

/* Read the final response head.  *got_byte tells whether anything came
 * back at all (to tell a dead pooled connection from a bad response). */
static int read_head(revproxy_exchange *x, int *got_byte)
{
    int interim = 0;

    /* The head as a whole must come within the timeout: a backend that
     * drips it a byte at a time does not hold the request forever (the
     * body, which may stream for hours, is limited per wait only). */
    apr_time_t deadline;

    /* After a failed write (the backend stopped reading, or hung up), an
     * early answer is taken if it comes within the send timeout; nobody
     * waits the full response timeout for a backend that is not
     * listening. */
    deadline = apr_time_now()
               + ((x->send_failed && x->send_timeout < x->timeout)
                  ? x->send_timeout : x->timeout);

    *got_byte = 0;
    init_head(x, 0);
    for (;;) {
        size_t used = 0;
        int rc;
        apr_status_t rv;

        if (x->rlen == 0) {
            apr_interval_time_t left = deadline - apr_time_now();
            rv = left > 0 ? fill(x, left) : APR_TIMEUP;
            if (rv != APR_SUCCESS) {
                x->rv = rv;
                if (APR_STATUS_IS_TIMEUP(rv)) {
                    x->fail = REVPROXY_FAIL_TIMEOUT;
                    x->why = "timed out waiting for the response head";
                    return HTTP_GATEWAY_TIME_OUT;
                }
                x->fail = REVPROXY_FAIL_BAD;
                x->why = *got_byte ? "connection closed inside the "
                                     "response head"
                                   : "connection closed before any "
                                     "response byte";
                return HTTP_BAD_GATEWAY;
            }
            *got_byte = 1;
        }
        rc = revproxy_h1_head_feed(&x->h, x->rbuf, x->rlen, &used);
        x->rbuf += used;
        x->rlen -= used;
        if (rc == REVPROXY_H1_ERROR) {
            x->fail = REVPROXY_FAIL_BAD;
            x->why = apr_pstrcat(x->p, "invalid response: ", x->h.error,
                                 NULL);
            return HTTP_BAD_GATEWAY;
        }
        if (rc == REVPROXY_H1_AGAIN) {
            continue;
        }
        /* A complete head. */
        if (x->h.status >= 200 || (x->h.status == 101 && x->upgrade)) {
            break;
        }
        if (x->h.status == 101 || ++interim > MAX_INTERIM) {
            x->fail = REVPROXY_FAIL_BAD;
            x->why = x->h.status == 101 ? "unrequested 101 response"
                                        : "too many interim responses";
            return HTTP_BAD_GATEWAY;
        }
        /* Interim responses (100, 102, 103) are consumed here. */
        init_head(x, 1);
    }
    x->status = x->h.status;
    x->reason = apr_pstrdup(x->p, x->h.reason);
    if (x->status == 101) {
        x->body_mode = REVPROXY_H1_BODY_NONE;
        x->reusable = 0;
    }
    else {
        x->body_mode = revproxy_h1_body_mode(&x->h, x->head_request);
        x->reusable = revproxy_h1_reusable(&x->h, x->body_mode);
    }
    /* RFC 9112 6.3: Transfer-Encoding overrides Content-Length, which
     * is then not passed on; otherwise the client gets one field (HEAD
     * and 304 keep the length of the representation). */
    if (x->cl_fields > 0 && !x->h.has_te
        && x->body_mode != REVPROXY_H1_BODY_CLOSE) {
        set_content_length(x);
    }
    if (x->hop_named) {
        revproxy_strip_hop_by_hop(x->resp_headers, x->status == 101);
    }
    revproxy_h1_body_init(&x->b, x->body_mode, x->h.content_length,
                          x->h.max_line, x->h.max_fields);
    x->body_done = (x->body_mode == REVPROXY_H1_BODY_NONE);
    if (x->body_done && x->rlen > 0 && x->status != 101) {
        x->reusable = 0;        /* bytes beyond the message */
    }
    if (x->send_failed || !x->body_eos) {
        x->reusable = 0;
    }
    return OK;
}

/* The request head for the current x->addr and x->path. */
static char *make_head(revproxy_exchange *x, apr_size_t *len)
{
    revproxy_head_spec hs;

    hs.method = x->method;
    hs.target = x->path;
    hs.client = x->headers;
    hs.own = x->own;
    hs.body = x->framing;
    hs.length = x->announced;
    hs.upgrade = x->upgrade;
    hs.close = !x->reuse;
    return revproxy_head_build(x->p, &hs, len);
}

/* A connection failed before the final head and nothing came back: the
 * cause to report is the write's, when a write failed. */
static int write_failure(revproxy_exchange *x, apr_status_t send_rv)
{
    x->rv = send_rv;
    if (APR_STATUS_IS_TIMEUP(send_rv)) {
        x->fail = REVPROXY_FAIL_TIMEOUT;
        x->why = "timed out writing the request (the backend stopped "
                 "reading)";
        return HTTP_GATEWAY_TIME_OUT;
    }
    x->fail = REVPROXY_FAIL_BAD;
    x->why = "writing the request failed";
    return HTTP_BAD_GATEWAY;
}

int revproxy_x_start(revproxy_exchange *x)
{
    int attempt, status;

    if (!x->send_body) {
        x->body_eos = 1;
    }
    if (x->held == NULL) {      /* not again after revproxy_x_reset */
        if (x->send_body && (status = prefetch_body(x)) != OK) {
            return status;
        }
        choose_framing(x);
    }
    for (attempt = 0; attempt < 2; attempt++) {
        int got_byte = 0;
        apr_size_t hlen;
        char *head = make_head(x, &hlen);
        apr_status_t rv, send_rv;

        if (head == NULL) {     /* the substitution makes this impossible */
            x->fail = REVPROXY_FAIL_CLIENT;
            x->why = "the request line would not be valid";
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, x->r, RVPLOGNO(0009)
                          "backend %s:%u: refusing to send an invalid "
                          "request line (target \"%s\")", x->addr.host,
                          (unsigned)x->addr.port, x->path);
            return HTTP_BAD_REQUEST;
        }
        rv = revproxy_conn_acquire(&x->addr, x->reuse && attempt == 0,
                                   x->connect_timeout, x->p, &x->conn,
                                   &x->reused, &x->why);
        if (rv != APR_SUCCESS) {
            x->rv = rv;
            x->conn = NULL;
            if (APR_STATUS_IS_TIMEUP(rv)) {
                x->fail = REVPROXY_FAIL_TIMEOUT;
                return HTTP_GATEWAY_TIME_OUT;
            }
            x->fail = REVPROXY_FAIL_REFUSED;
            return HTTP_BAD_GATEWAY;
        }
        x->conn->requests++;
        x->send_failed = 0;
        x->rv = APR_SUCCESS;
        status = send_request(x, head, hlen);
        if (status != OK) {
            return status;
        }
        send_rv = x->rv;
        status = read_head(x, &got_byte);
        if (status == OK) {
            x->fail = REVPROXY_FAIL_NONE;
            x->why = NULL;
            return OK;
        }
        /* A pooled connection the backend closed after the check before
         * reuse: once more on a fresh one, when that is safe. */
        if (x->reused && !got_byte && x->fail == REVPROXY_FAIL_BAD) {
            if (revproxy_x_replayable(x)) {
                drop_rbuf(x);
                revproxy_conn_release(x->conn, 0, 0);
                x->conn = NULL;
                continue;
            }
            x->why = apr_pstrcat(x->p, x->why, " of a reused connection; "
                                 "not sent again (the method is not "
                                 "idempotent)", NULL);
        }
        else if (x->send_failed && !got_byte) {
            status = write_failure(x, send_rv);
        }
        if (x->conn && revproxy_conn_error(x->conn)) {
            x->why = apr_pstrcat(x->p, x->why ? x->why : "failed", " (TLS: ",
                                 revproxy_conn_error(x->conn), ")", NULL);
        }
        return status;
    }
    return HTTP_BAD_GATEWAY;
}

int revproxy_x_reset(revproxy_exchange *x)
{
    /* Once the body streamed past the held part, it is gone. */
    if (x->fail == REVPROXY_FAIL_CLIENT || x->streamed) {
        return 0;
    }
    drop_rbuf(x);
    if (x->conn) {
        revproxy_conn_release(x->conn, 0, 0);
        x->conn = NULL;
    }
    x->reused = x->reusable = x->send_failed = 0;
    x->body_done = 0;
    x->status = 0;
    x->reason = NULL;
    x->resp_headers = NULL;
    x->body_mode = 0;
    x->fail = REVPROXY_FAIL_NONE;
    x->why = NULL;
    x->rv = APR_SUCCESS;
    return 1;
}

apr_status_t revproxy_x_read(revproxy_exchange *x, apr_bucket_brigade *bb,
                             int nonblock)
{
    apr_bucket_alloc_t *ba = x->r->connection->bucket_alloc;

    while (!x->body_done) {
        apr_bucket *hb;
        apr_status_t rv;
        int rc = REVPROXY_H1_AGAIN, appended = 0;

        if (x->rlen == 0) {
            size_t used, off, dlen;
            /* A body that just ended (Content-Length reached) says so
             * without another byte: never wait for one. */
            if (revproxy_h1_body_feed(&x->b, "", 0, &used, &off, &dlen)
                == REVPROXY_H1_DONE) {
                x->body_done = 1;
                break;
            }
            rv = fill(x, nonblock ? 0 : x->timeout);
            if (APR_STATUS_IS_EAGAIN(rv)) {
                return rv;
            }
            if (rv == APR_EOF) {
                if (revproxy_h1_body_eof(&x->b) == REVPROXY_H1_DONE) {
                    x->body_done = 1;
                    x->reusable = 0;
                    break;
                }
                x->why = "connection closed before the end of the body";
                x->rv = rv;
                return APR_EGENERAL;
            }
            if (rv != APR_SUCCESS) {
                x->why = APR_STATUS_IS_TIMEUP(rv)
                         ? "timed out reading the body"
                         : revproxy_conn_error(x->conn)
                         ? apr_pstrcat(x->p, "reading the body failed: ",
                                       revproxy_conn_error(x->conn), NULL)
                         : "reading the body failed";
                x->rv = rv;
                return rv;
            }
        }
        /* The buffer becomes a heap bucket; each data span is a copy of
         * it narrowed to the span: no byte is copied. */
        hb = apr_bucket_heap_create(x->rbase, (x->rbuf - x->rbase) + x->rlen,
                                    apr_bucket_free, ba);
        while (x->rlen > 0) {
            size_t used = 0, off = 0, dlen = 0;
            rc = revproxy_h1_body_feed(&x->b, x->rbuf, x->rlen, &used, &off,
                                       &dlen);
            if (rc == REVPROXY_H1_DATA) {
                apr_bucket *d;
                apr_bucket_copy(hb, &d);
                d->start = (x->rbuf - x->rbase) + off;
                d->length = dlen;
                APR_BRIGADE_INSERT_TAIL(bb, d);
                appended = 1;
            }
            x->rbuf += used;
            x->rlen -= used;
            if (rc == REVPROXY_H1_DONE) {
                x->body_done = 1;
                if (x->rlen > 0) {
                    x->reusable = 0;   /* more than the framing said */
                }
                break;
            }
            if (rc == REVPROXY_H1_ERROR) {
                break;
            }
        }
        apr_bucket_destroy(hb);
        x->rbase = x->rbuf = NULL;
        x->rlen = 0;
        if (rc == REVPROXY_H1_ERROR) {
            x->why = apr_pstrcat(x->p, "invalid body: ", x->b.error, NULL);
            x->rv = APR_EGENERAL;
            x->reusable = 0;
            return APR_EGENERAL;
        }
        if (appended && !x->body_done) {
            size_t used, off, dlen;
            if (revproxy_h1_body_feed(&x->b, "", 0, &used, &off, &dlen)
                == REVPROXY_H1_DONE) {
                x->body_done = 1;
                break;
            }
            return APR_SUCCESS; /* one buffer at a time: bounded memory */
        }
    }
    return APR_EOF;
}

/* The backend failed after the head went out: end the response with an
 * error bucket so that the client connection is aborted rather than
 * given a short body that looks complete. */
static void backend_broke(request_rec *r, apr_bucket_brigade *bb)
{
    conn_rec *c = r->connection;

    r->no_cache = 1;
    if (r->main) {
        r->main->no_cache = 1;
    }
    c->keepalive = AP_CONN_CLOSE;
    APR_BRIGADE_INSERT_TAIL(bb, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL,
                                                      r->pool,
                                                      c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
}

int revproxy_x_stream(revproxy_exchange *x)
{
    request_rec *r = x->r;
    conn_rec *c = r->connection;
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, c->bucket_alloc);

    for (;;) {
        apr_status_t rv = revproxy_x_read(x, bb, 1);

        if (APR_STATUS_IS_EAGAIN(rv)) {
            /* The backend paused: what we have goes to the client now. */
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(
                                            c->bucket_alloc));
            if (ap_pass_brigade(r->output_filters, bb) != APR_SUCCESS
                || c->aborted) {
                x->fail = REVPROXY_FAIL_CLIENT;
                x->reusable = 0;
                return OK;
            }
            apr_brigade_cleanup(bb);
            rv = revproxy_x_read(x, bb, 0);
        }
        if (rv == APR_EOF) {
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(
                                            c->bucket_alloc));
            ap_pass_brigade(r->output_filters, bb);
            apr_brigade_cleanup(bb);
            return OK;
        }
        if (rv != APR_SUCCESS) {
            x->fail = REVPROXY_FAIL_ABORTED;
            x->reusable = 0;
            backend_broke(r, bb);
            ap_pass_brigade(r->output_filters, bb);
            apr_brigade_cleanup(bb);
            return OK;
        }
        if (ap_pass_brigade(r->output_filters, bb) != APR_SUCCESS
            || c->aborted) {
            x->fail = REVPROXY_FAIL_CLIENT;
            x->reusable = 0;
            return OK;
        }
        apr_brigade_cleanup(bb);
    }
}

void revproxy_x_finish(revproxy_exchange *x)
{
    drop_rbuf(x);
    if (x->conn) {
        revproxy_conn_release(x->conn, x->reuse && x->reusable
                                       && x->body_done && x->body_eos
                                       && !x->send_failed
                                       && !x->body_aborted,
                              x->max_idle);
        x->conn = NULL;
    }
}
