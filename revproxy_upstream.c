/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * The request side of an exchange: revproxy_client (the engine, no httpd
 * types) driven for a request_rec.  Here: the client's body (held for a
 * replay, then pumped from the input filters), the replay rule, the
 * response body streamed to the output filters.
 *
 * Request bodies: what has arrived when the request starts (up to
 * PREFETCH bytes) is held, so it goes out in the same write as the head
 * and can be sent again if a pooled connection turns out dead; the rest
 * streams as it comes, in the framing announced to the backend.
 */

#include <string.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_core.h"
#include "http_log.h"
#include "util_filter.h"

#include "revproxy_upstream.h"
#include "revproxy_private.h"

APLOG_USE_MODULE(revproxy);

#define PREFETCH   16384        /* request body held for a replay */

void revproxy_x_init(revproxy_exchange *x, request_rec *r)
{
    memset(x, 0, sizeof(*x));
    x->r = r;
    x->p = r->pool;
    x->method = r->method;
    x->head_request = r->header_only;
    x->connect_time = x->head_time = -1;
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

/* x->bytes_in/out: the attempts that ended, plus the current one. */
static void sync_bytes(revproxy_exchange *x)
{
    if (x->client) {
        x->bytes_in = x->done_in + revproxy_client_bytes_in(x->client);
        x->bytes_out = x->done_out + revproxy_client_bytes_out(x->client);
    }
}

/* The current attempt's client is done with (pooled when clean). */
static void end_client(revproxy_exchange *x)
{
    if (x->client) {
        revproxy_client_finish(x->client);
        sync_bytes(x);
        x->done_in = x->bytes_in;
        x->done_out = x->bytes_out;
        x->client = NULL;
    }
}

static revproxy_client *new_client(revproxy_exchange *x)
{
    revproxy_client *c = revproxy_client_make(x->p,
                                              x->r->connection->bucket_alloc,
                                              &x->addr, &x->lim);

    revproxy_client_expect(c, x->head_request, x->upgrade, x->framing,
                           x->announced);
    return c;
}

/* The body did not match its announced length: whatever the backend
 * would read next is not ours to give it.  The connection is closed (the
 * client never pools it), and the client gets 502: no answer went out. */
static int body_mismatch(revproxy_exchange *x)
{
    x->fail = REVPROXY_FAIL_CLIENT;
    x->why = revproxy_client_why(x->client);
    x->rv = APR_EGENERAL;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, x->r, RVPLOGNO(0008)
                  "backend %s: %s (Content-Length: %" APR_OFF_T_FMT
                  "); backend connection closed, answered 502",
                  revproxy_x_backend(x), x->why, x->announced);
    return HTTP_BAD_GATEWAY;
}

/* Write to the backend; APR_EINVAL is a body that does not match its
 * announced length.  Notes whether a byte of the request went out. */
static apr_status_t write_part(revproxy_exchange *x, const char *head,
                               apr_size_t hlen, apr_bucket_brigade *bb)
{
    apr_status_t rv = revproxy_client_write(x->client, head, hlen, bb,
                                            x->body_eos);

    if (revproxy_client_wrote(x->client)) {
        x->wrote_any = 1;
    }
    return rv;
}

/* Stream the rest of the client's body: each piece goes out as soon as
 * it was read.  It cannot be sent again afterwards. */
static int stream_body(revproxy_exchange *x)
{
    request_rec *r = x->r;
    apr_bucket_brigade *bb = apr_brigade_create(x->p,
                                                r->connection->bucket_alloc);

    apr_brigade_cleanup(x->held);
    x->held_len = 0;
    x->streamed = 1;
    while (!x->body_eos) {
        apr_status_t rv = ap_get_brigade(r->input_filters, bb,
                                         AP_MODE_READBYTES, APR_BLOCK_READ,
                                         65536);
        if (rv != APR_SUCCESS) {
            x->fail = REVPROXY_FAIL_CLIENT;
            x->rv = rv;
            x->why = "reading the request body from the client failed";
            revproxy_client_no_reuse(x->client);
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        absorb(bb, &x->body_eos);
        rv = write_part(x, NULL, 0, bb);
        apr_brigade_cleanup(bb);
        if (rv == APR_EINVAL) {
            return body_mismatch(x);
        }
        if (rv != APR_SUCCESS) {
            return OK;          /* an early answer may still come */
        }
    }
    return OK;
}

/* Send the request head with the held part of the body (a copy: the
 * held buckets stay for a replay), then stream the rest. */
static int send_request(revproxy_exchange *x, const char *head,
                        apr_size_t hlen)
{
    apr_bucket_brigade *bb = NULL;
    apr_status_t rv;

    if (x->held_len > 0) {
        apr_bucket *b;
        bb = apr_brigade_create(x->p, x->r->connection->bucket_alloc);
        for (b = APR_BRIGADE_FIRST(x->held);
             b != APR_BRIGADE_SENTINEL(x->held); b = APR_BUCKET_NEXT(b)) {
            apr_bucket *c;
            if (apr_bucket_copy(b, &c) == APR_SUCCESS) {
                APR_BRIGADE_INSERT_TAIL(bb, c);
            }
        }
    }
    rv = write_part(x, head, hlen, bb);
    if (bb) {
        apr_brigade_destroy(bb);
    }
    if (rv == APR_EINVAL) {
        return body_mismatch(x);
    }
    if (rv != APR_SUCCESS || !x->send_body || x->body_eos) {
        return OK;
    }
    return stream_body(x);
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
    hs.close = !x->lim.reuse;
    return revproxy_head_build(x->p, &hs, len);
}

/* A failure kind of the client as the status for the client. */
static int fail_status(revproxy_exchange *x, int kind)
{
    x->fail = kind;
    x->why = revproxy_client_why(x->client);
    x->rv = revproxy_client_rv(x->client);
    return kind == REVPROXY_FAIL_TIMEOUT ? HTTP_GATEWAY_TIME_OUT
                                         : HTTP_BAD_GATEWAY;
}

/* The final head arrived: the caller reads it from x. */
static void take_response(revproxy_exchange *x)
{
    const revproxy_response *resp = revproxy_client_response(x->client);

    x->status = resp->status;
    x->reason = resp->reason;
    x->resp_headers = resp->headers;
    x->body_mode = resp->body_mode;
    x->fail = REVPROXY_FAIL_NONE;
    x->why = NULL;
    x->rv = APR_SUCCESS;
}

const char *revproxy_x_backend(const revproxy_exchange *x)
{
    return revproxy_addr_name(x->p, &x->addr);
}

/* trace1: the backend's connection, new or pooled. */
static void trace_connect(revproxy_exchange *x, const char *backend,
                          int kind)
{
    request_rec *r = x->r;

    if (kind != REVPROXY_FAIL_NONE) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, revproxy_client_rv(x->client),
                      r, "backend %s: connect failed after %" APR_TIME_T_FMT
                      " us: %s (attempt %d)", backend, x->connect_time,
                      revproxy_client_why(x->client)
                      ? revproxy_client_why(x->client) : "failed",
                      x->attempts);
    }
    else if (x->reused) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "backend %s: reusing "
                      "a pooled connection (attempt %d)", backend,
                      x->attempts);
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "backend %s: new "
                      "connection, connected in %" APR_TIME_T_FMT " us "
                      "(attempt %d)", backend, x->connect_time, x->attempts);
    }
}

/* trace3: the request head as sent, one log line per line of it (httpd
 * escapes control bytes and backslashes in the error log itself). */
static void trace_request(request_rec *r, const char *backend,
                          const char *head, apr_size_t hlen)
{
    const char *end = head + hlen;

    while (head < end) {
        const char *eol = memchr(head, '\n', end - head);
        apr_size_t n = (eol ? eol : end) - head;

        if (n > 0 && head[n - 1] == '\r') {
            n--;
        }
        if (n == 0) {
            break;              /* the empty line that ends the head */
        }
        ap_log_rerror(APLOG_MARK, APLOG_TRACE3, 0, r, "backend %s: > %.*s",
                      backend, (int)n, head);
        head = eol ? eol + 1 : end;
    }
}

/* trace3: the final response head as received, less hop-by-hop fields. */
static void trace_response(request_rec *r, const char *backend,
                           const revproxy_exchange *x)
{
    const apr_array_header_t *arr = apr_table_elts(x->resp_headers);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    ap_log_rerror(APLOG_MARK, APLOG_TRACE3, 0, r, "backend %s: < %d %s",
                  backend, x->status, x->reason ? x->reason : "");
    for (i = 0; i < arr->nelts; i++) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE3, 0, r, "backend %s: < %s: %s",
                      backend, e[i].key, e[i].val);
    }
}

/* One attempt on a connection: connect (or reuse), send, read the head.
 * Returns OK, or the status for the client with x->fail set. */
static int attempt(revproxy_exchange *x, const char *head, apr_size_t hlen,
                   int reuse)
{
    revproxy_client *c = x->client;
    const char *backend = APLOGrtrace1(x->r) ? revproxy_x_backend(x) : NULL;
    const char *write_why;
    apr_status_t write_rv;
    int kind, status;

    kind = revproxy_client_connect(c, reuse);
    x->attempts++;
    x->reused = revproxy_client_reused(c);
    x->connect_time = revproxy_client_connect_time(c);
    x->head_time = -1;
    if (backend) {
        trace_connect(x, backend, kind);
    }
    x->unconnected = (kind != REVPROXY_FAIL_NONE);
    if (kind != REVPROXY_FAIL_NONE) {
        return fail_status(x, kind);
    }
    if (backend && APLOGrtrace3(x->r)) {
        trace_request(x->r, backend, head, hlen);
    }
    status = send_request(x, head, hlen);
    if (status != OK) {
        return status;
    }
    write_why = revproxy_client_why(c);
    write_rv = revproxy_client_rv(c);
    kind = revproxy_client_read_head(c);
    if (kind == REVPROXY_FAIL_NONE) {
        take_response(x);
        x->head_time = revproxy_client_head_time(c);
        if (backend && APLOGrtrace3(x->r)) {
            trace_response(x->r, backend, x);
        }
        return OK;
    }
    status = fail_status(x, kind);
    if (revproxy_client_write_failed(c) && !revproxy_client_got_byte(c)) {
        /* No answer: the write's failure is the cause to report. */
        x->why = write_why;
        x->rv = write_rv;
        x->fail = APR_STATUS_IS_TIMEUP(write_rv) ? REVPROXY_FAIL_TIMEOUT
                                                 : REVPROXY_FAIL_BAD;
        status = x->fail == REVPROXY_FAIL_TIMEOUT ? HTTP_GATEWAY_TIME_OUT
                                                  : HTTP_BAD_GATEWAY;
    }
    return status;
}

int revproxy_x_start(revproxy_exchange *x)
{
    int status, n;

    if (!x->send_body) {
        x->body_eos = 1;
    }
    if (x->held == NULL) {      /* not again after revproxy_x_reset */
        if (x->send_body && (status = prefetch_body(x)) != OK) {
            return status;
        }
        choose_framing(x);
    }
    if (x->client == NULL) {
        x->client = new_client(x);
    }
    for (n = 0; n < 2; n++) {
        apr_size_t hlen;
        char *head = make_head(x, &hlen);

        if (head == NULL) {     /* the substitution makes this impossible */
            x->fail = REVPROXY_FAIL_CLIENT;
            x->why = "the request line would not be valid";
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, x->r, RVPLOGNO(0009)
                          "backend %s: refusing to send an invalid "
                          "request line (target \"%s\")",
                          revproxy_x_backend(x), x->path);
            return HTTP_BAD_REQUEST;
        }
        status = attempt(x, head, hlen, x->lim.reuse && n == 0);
        sync_bytes(x);
        if (status == OK || x->fail == REVPROXY_FAIL_CLIENT) {
            return status;
        }
        /* A pooled connection the backend closed after the check before
         * reuse: once more on a fresh one, when that is safe. */
        if (revproxy_client_reused(x->client)
            && !revproxy_client_got_byte(x->client)
            && x->fail == REVPROXY_FAIL_BAD) {
            if (revproxy_x_replayable(x)) {
                continue;
            }
            x->why = apr_pstrcat(x->p, x->why, " of a reused connection; "
                                 "not sent again (the method is not "
                                 "idempotent)", NULL);
        }
        return status;
    }
    return status;
}

int revproxy_x_reset(revproxy_exchange *x)
{
    /* Once the body streamed past the held part, it is gone. */
    if (x->fail == REVPROXY_FAIL_CLIENT || x->streamed) {
        return 0;
    }
    if (x->client) {
        revproxy_client_no_reuse(x->client);
    }
    end_client(x);
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
    apr_status_t rv = revproxy_client_read_body(x->client, bb, nonblock);

    sync_bytes(x);
    if (rv != APR_SUCCESS && rv != APR_EOF && !APR_STATUS_IS_EAGAIN(rv)) {
        x->why = revproxy_client_why(x->client);
        x->rv = revproxy_client_rv(x->client);
    }
    return rv;
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

/* The client went away (or its filters failed): the rest of the body is
 * not read, so the connection cannot be pooled. */
static apr_status_t client_gone(revproxy_exchange *x, apr_bucket_brigade *bb)
{
    apr_brigade_cleanup(bb);
    x->fail = REVPROXY_FAIL_CLIENT;
    revproxy_client_no_reuse(x->client);
    return APR_ECONNABORTED;
}

apr_status_t revproxy_x_stream_to(revproxy_exchange *x, ap_filter_t *next,
                                  apr_bucket_brigade *bb, apr_off_t expect,
                                  const char *expect_name)
{
    request_rec *r = x->r;
    conn_rec *c = r->connection;
    apr_off_t total = 0;
    int nonblock = 1;

    for (;;) {
        apr_status_t rv = revproxy_x_read(x, bb, nonblock);
        apr_off_t len = 0;

        if (APR_STATUS_IS_EAGAIN(rv)) {
            /* The backend paused: what we have goes to the client now,
             * then we wait. */
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(
                                            c->bucket_alloc));
            apr_brigade_length(bb, 0, &len);
            total += len;
            if (ap_pass_brigade(next, bb) != APR_SUCCESS || c->aborted) {
                return client_gone(x, bb);
            }
            apr_brigade_cleanup(bb);
            nonblock = 0;
            continue;
        }
        nonblock = 1;
        apr_brigade_length(bb, 0, &len);
        total += len;
        if (rv == APR_SUCCESS || rv == APR_EOF) {
            if (expect >= 0 && (total > expect
                                || (rv == APR_EOF && total != expect))) {
                x->why = apr_psprintf(x->p, "body of %" APR_OFF_T_FMT
                                      "%s bytes contradicts %s %"
                                      APR_OFF_T_FMT, total,
                                      rv == APR_EOF ? "" : " or more",
                                      expect_name, expect);
                x->rv = APR_EGENERAL;
                revproxy_client_no_reuse(x->client);
                rv = APR_EGENERAL;
            }
        }
        if (rv == APR_EOF) {
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(
                                            c->bucket_alloc));
            ap_pass_brigade(next, bb);
            apr_brigade_cleanup(bb);
            return APR_SUCCESS;
        }
        if (rv != APR_SUCCESS) {
            x->fail = REVPROXY_FAIL_ABORTED;
            apr_brigade_cleanup(bb);
            backend_broke(r, bb);
            ap_pass_brigade(next, bb);
            apr_brigade_cleanup(bb);
            return rv;
        }
        if (ap_pass_brigade(next, bb) != APR_SUCCESS || c->aborted) {
            return client_gone(x, bb);
        }
        apr_brigade_cleanup(bb);
    }
}

void revproxy_x_stream(revproxy_exchange *x)
{
    request_rec *r = x->r;

    revproxy_x_stream_to(x, r->output_filters,
                         apr_brigade_create(r->pool,
                                            r->connection->bucket_alloc),
                         -1, NULL);
}

void revproxy_x_discard(revproxy_exchange *x, apr_off_t max)
{
    apr_bucket_brigade *bb;
    apr_off_t total = 0;

    if (x->client == NULL || x->body_mode == REVPROXY_H1_BODY_NONE) {
        return;
    }
    if (x->body_mode == REVPROXY_H1_BODY_CLOSE) {
        revproxy_client_no_reuse(x->client);
        return;
    }
    bb = apr_brigade_create(x->p, x->r->connection->bucket_alloc);
    for (;;) {
        apr_status_t rv = revproxy_x_read(x, bb, 0);
        apr_off_t len = 0;

        apr_brigade_length(bb, 1, &len);
        apr_brigade_cleanup(bb);
        total += len;
        if (rv == APR_EOF) {
            return;
        }
        if (rv != APR_SUCCESS || total > max) {
            revproxy_client_no_reuse(x->client);
            return;
        }
    }
}

void revproxy_x_finish(revproxy_exchange *x)
{
    end_client(x);
}

/* A note for the access log: added (the handler sets them once, on a
 * fresh table) or replacing an earlier value (a reproxy fetch). */
static void note(apr_table_t *t, const char *key, const char *val,
                 int replace)
{
    if (replace) {
        apr_table_setn(t, key, val);
    }
    else {
        apr_table_addn(t, key, val);
    }
}

const char *revproxy_x_notes(const revproxy_exchange *x, request_rec *r,
                             int answered, const char *rule,
                             int extra_attempts, int replace)
{
    apr_table_t *t = r->notes;
    const char *backend;
    int head;

    answered = answered && x && x->attempts > 0;
    head = answered && x->status > 0;
    backend = answered ? revproxy_x_backend(x) : "-";
    note(t, "revproxy-backend", backend, replace);
    note(t, "revproxy-attempts",
         apr_itoa(r->pool, (x ? x->attempts : 0) + extra_attempts), replace);
    note(t, "revproxy-reused", head && x->reused ? "1" : "0", replace);
    note(t, "revproxy-status",
         x && x->status > 0 ? apr_itoa(r->pool, x->status) : "-", replace);
    note(t, "revproxy-connect-us",
         answered && x->connect_time >= 0
         ? apr_off_t_toa(r->pool, x->connect_time) : "-", replace);
    note(t, "revproxy-header-us",
         head && x->head_time >= 0
         ? apr_off_t_toa(r->pool, x->head_time) : "-", replace);
    if (rule) {
        note(t, "revproxy-rule", rule, replace);
    }
    return backend;
}
