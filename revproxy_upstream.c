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
#include "util_filter.h"

#include "revproxy_upstream.h"
#include "revproxy_tls.h"

#define PREFETCH   16384        /* request body read before connecting */
#define RBUF_SIZE  32768        /* one read from the backend */
#define MAX_IOV    64
#define MAX_INTERIM 10          /* 1xx responses accepted per request */

/* Hop-by-hop fields (RFC 9110 section 7.6.1), told apart by length first;
 * the request head and the response head both ask. */
#define HOP_NONE       0
#define HOP_DROP       1        /* Keep-Alive, Proxy-Connection, TE,
                                   Trailer, Transfer-Encoding */
#define HOP_UPGRADE    2
#define HOP_CONNECTION 3

static int hop_field(const char *name, apr_size_t n)
{
    switch (n) {
    case 2:
        return strncasecmp(name, "TE", 2) == 0 ? HOP_DROP : HOP_NONE;
    case 7:
        return strncasecmp(name, "Trailer", 7) == 0 ? HOP_DROP
             : strncasecmp(name, "Upgrade", 7) == 0 ? HOP_UPGRADE
             : HOP_NONE;
    case 10:
        return strncasecmp(name, "Connection", 10) == 0 ? HOP_CONNECTION
             : strncasecmp(name, "Keep-Alive", 10) == 0 ? HOP_DROP
             : HOP_NONE;
    case 16:
        return strncasecmp(name, "Proxy-Connection", 16) == 0 ? HOP_DROP
                                                              : HOP_NONE;
    case 17:
        return strncasecmp(name, "Transfer-Encoding", 17) == 0 ? HOP_DROP
                                                               : HOP_NONE;
    default:
        return HOP_NONE;
    }
}

/* What build_head does with a field of the client's request. */
#define FIELD_FORWARD 0
#define FIELD_NEVER   1         /* hop-by-hop, or one we write ourselves */
#define FIELD_UPGRADE 2         /* Upgrade: forwarded for a tunnel only */

static int request_field(const char *name, apr_size_t n)
{
    switch (hop_field(name, n)) {
    case HOP_NONE:
        break;
    case HOP_UPGRADE:
        return FIELD_UPGRADE;
    default:
        return FIELD_NEVER;
    }
    /* Host, Content-Length and Expect are ours to write. */
    return ((n == 4 && strncasecmp(name, "Host", 4) == 0)
            || (n == 6 && strncasecmp(name, "Expect", 6) == 0)
            || (n == 14 && strncasecmp(name, "Content-Length", 14) == 0))
           ? FIELD_NEVER : FIELD_FORWARD;
}

static const char *const hop_by_hop[] = {
    "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
    "Transfer-Encoding", "Upgrade", NULL
};

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

static int in_list(const char *name, const char *const *list)
{
    for (; list && *list; list++) {
        if (apr_tolower(name[0]) == apr_tolower((*list)[0])
            && strcasecmp(name, *list) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Whether token (case-insensitive) is in the comma list value. */
static int has_token(const char *value, const char *token)
{
    apr_size_t tl = strlen(token);
    const char *s = value;

    while (s && *s) {
        const char *e;
        while (*s == ' ' || *s == '\t' || *s == ',') {
            s++;
        }
        e = s;
        while (*e && *e != ',') {
            e++;
        }
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        if ((apr_size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0) {
            return 1;
        }
        s = strchr(s, ',');
    }
    return 0;
}

/* Whether the comma list value holds no token but a and b. */
static int only_tokens(const char *value, const char *a, const char *b)
{
    const char *s = value;

    while (*s) {
        const char *e;
        apr_size_t n;
        while (*s == ' ' || *s == '\t' || *s == ',') {
            s++;
        }
        e = s;
        while (*e && *e != ',') {
            e++;
        }
        n = (apr_size_t)(e - s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
            n--;
        }
        if (n > 0 && !(n == strlen(a) && strncasecmp(s, a, n) == 0)
            && !(n == strlen(b) && strncasecmp(s, b, n) == 0)) {
            return 0;
        }
        s = e;
    }
    return 1;
}

/* Whether name is listed in any Connection field of t. */
static int named_by_connection(const apr_array_header_t *conn_values,
                               const char *name)
{
    int i;

    for (i = 0; conn_values && i < conn_values->nelts; i++) {
        if (has_token(APR_ARRAY_IDX(conn_values, i, const char *), name)) {
            return 1;
        }
    }
    return 0;
}

static int collect_connection(void *rec, const char *key, const char *value)
{
    (void)key;
    *(const char **)apr_array_push((apr_array_header_t *)rec) = value;
    return 1;
}

static apr_array_header_t *connection_values(apr_pool_t *p, apr_table_t *t)
{
    apr_array_header_t *a = NULL;

    if (apr_table_get(t, "Connection")) {
        a = apr_array_make(p, 2, sizeof(const char *));
        apr_table_do(collect_connection, a, t, "Connection", NULL);
    }
    return a;
}

void revproxy_strip_hop_by_hop(apr_table_t *t, int keep_upgrade)
{
    apr_array_header_t *conn;
    const apr_array_header_t *arr;
    const apr_table_entry_t *e;
    const char *const *h;
    int i;

    conn = connection_values(apr_table_elts(t)->pool, t);
    if (conn) {
        arr = apr_table_elts(t);
        e = (const apr_table_entry_t *)arr->elts;
        for (i = arr->nelts - 1; i >= 0; i--) {
            if (e[i].key && named_by_connection(conn, e[i].key)
                && !(keep_upgrade && strcasecmp(e[i].key, "Upgrade") == 0)) {
                apr_table_unset(t, e[i].key);
                arr = apr_table_elts(t);
                e = (const apr_table_entry_t *)arr->elts;
                if (i > arr->nelts) {
                    i = arr->nelts;
                }
            }
        }
    }
    for (h = hop_by_hop; *h; h++) {
        if (keep_upgrade && (strcasecmp(*h, "Upgrade") == 0
                             || strcasecmp(*h, "Connection") == 0)) {
            continue;
        }
        apr_table_unset(t, *h);
    }
}

/* A field httpd (or a module) left in a table is only written when it is
 * a clean token and a value without CR, LF or other controls.  Their
 * lengths come back in *nlen and *vlen. */
static int field_ok(const char *name, const char *value, apr_size_t *nlen,
                    apr_size_t *vlen)
{
    const unsigned char *s;

    if (!name || !*name || !value) {
        return 0;
    }
    for (s = (const unsigned char *)name; *s; s++) {
        if (*s <= 0x20 || *s >= 0x7f || *s == ':') {
            return 0;
        }
    }
    *nlen = (apr_size_t)(s - (const unsigned char *)name);
    for (s = (const unsigned char *)value; *s; s++) {
        if ((*s < 0x20 && *s != '\t') || *s == 0x7f) {
            return 0;
        }
    }
    *vlen = (apr_size_t)(s - (const unsigned char *)value);
    return 1;
}

/* The request head: request line, the client's end-to-end fields, the
 * caller's extra fields, framing. */
static char *build_head(revproxy_exchange *x, const char *framing,
                        apr_size_t *len)
{
    const apr_array_header_t *arr;
    const apr_table_entry_t *e;
    apr_array_header_t *conn = NULL;
    struct iovec parts[3 * 128 + 16];
    apr_size_t np = 0, total = 0, i;
    char *buf, *o;
    int pass, j;

    /* request line */
    parts[np].iov_base = (void *)x->method;
    parts[np++].iov_len = strlen(x->method);
    parts[np].iov_base = " ";
    parts[np++].iov_len = 1;
    parts[np].iov_base = (void *)x->path;
    parts[np++].iov_len = strlen(x->path);
    parts[np].iov_base = " HTTP/1.1\r\n";
    parts[np++].iov_len = 11;

    if (x->headers) {
        conn = connection_values(x->p, x->headers);
    }
    buf = NULL;
    /* Two tables: the client's (filtered) and the caller's extra ones.
     * The iovec array is bounded; past it, fields are assembled in a
     * pool string instead. */
    for (pass = 0; pass < 2; pass++) {
        apr_table_t *t = pass == 0 ? x->headers : x->extra;
        if (t == NULL) {
            continue;
        }
        arr = apr_table_elts(t);
        e = (const apr_table_entry_t *)arr->elts;
        for (j = 0; j < arr->nelts; j++) {
            apr_size_t nlen, vlen;

            if (!field_ok(e[j].key, e[j].val, &nlen, &vlen)) {
                continue;
            }
            if (pass == 0) {
                int kind = request_field(e[j].key, nlen);
                int tunnel = x->upgrade && kind == FIELD_UPGRADE;

                if ((kind != FIELD_FORWARD && !tunnel)
                    || in_list(e[j].key, x->skip)
                    || (conn && !tunnel
                        && named_by_connection(conn, e[j].key))) {
                    continue;
                }
            }
            if (np + 4 >= sizeof(parts) / sizeof(parts[0]) - 4) {
                break;
            }
            parts[np].iov_base = e[j].key;
            parts[np++].iov_len = nlen;
            parts[np].iov_base = ": ";
            parts[np++].iov_len = 2;
            parts[np].iov_base = e[j].val;
            parts[np++].iov_len = vlen;
            parts[np].iov_base = "\r\n";
            parts[np++].iov_len = 2;
        }
    }
    if (x->upgrade) {
        parts[np].iov_base = "Connection: Upgrade\r\n";
        parts[np++].iov_len = 21;
    }
    else if (!x->reuse) {
        parts[np].iov_base = "Connection: close\r\n";
        parts[np++].iov_len = 19;
    }
    parts[np].iov_base = (void *)framing;
    parts[np++].iov_len = strlen(framing);
    parts[np].iov_base = "\r\n";
    parts[np++].iov_len = 2;

    for (i = 0; i < np; i++) {
        total += parts[i].iov_len;
    }
    o = buf = apr_palloc(x->p, total + 1);
    for (i = 0; i < np; i++) {
        memcpy(o, parts[i].iov_base, parts[i].iov_len);
        o += parts[i].iov_len;
    }
    *o = '\0';
    *len = total;
    return buf;
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

/* Read up to PREFETCH bytes of the client's body before connecting. */
static int prefetch_body(revproxy_exchange *x)
{
    request_rec *r = x->r;
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    apr_bucket_brigade *tmp = apr_brigade_create(x->p, ba);

    x->held = apr_brigade_create(x->p, ba);
    while (!x->body_eos && x->held_len < PREFETCH) {
        apr_off_t n = 0;
        apr_status_t rv = ap_get_brigade(r->input_filters, tmp,
                                         AP_MODE_READBYTES, APR_BLOCK_READ,
                                         PREFETCH - x->held_len);
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

/* The client's Content-Length (httpd checked it), or -1 when the body
 * is chunked or has none. */
static apr_off_t client_length(request_rec *r)
{
    const char *v = apr_table_get(r->headers_in, "Content-Length");
    char *end;
    apr_off_t n;

    if (v == NULL || apr_table_get(r->headers_in, "Transfer-Encoding")
        || apr_strtoff(&n, v, &end, 10) != APR_SUCCESS || *end || n < 0) {
        return -1;
    }
    return n;
}

/* Send the request head and as much of the body as we have; then stream
 * the rest from the client. */
static int send_request(revproxy_exchange *x)
{
    request_rec *r = x->r;
    const char *framing = "";
    char *head;
    apr_size_t hlen;
    apr_status_t rv;
    apr_bucket_brigade *bb = NULL;
    apr_off_t cl;
    int chunked = 0;

    if (x->send_body) {
        if (x->body_eos) {
            framing = apr_psprintf(x->p, "Content-Length: %" APR_OFF_T_FMT
                                   "\r\n", x->held_len);
        }
        else if ((cl = client_length(r)) >= 0) {
            framing = apr_psprintf(x->p, "Content-Length: %" APR_OFF_T_FMT
                                   "\r\n", cl);
        }
        else {
            framing = "Transfer-Encoding: chunked\r\n";
            chunked = 1;
        }
        if (x->held_len > 0) {
            /* Keep the held body for a replay: write a copy. */
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
    }
    x->body_chunked = chunked;
    head = build_head(x, framing, &hlen);
    if (bb) {
        x->body_sent = 1;
    }
    rv = write_brigade(x, head, hlen, bb, chunked, chunked && x->body_eos);
    if (bb) {
        apr_brigade_destroy(bb);
    }
    if (rv != APR_SUCCESS) {
        x->send_failed = 1;
        x->rv = rv;
        return OK;
    }
    if (x->send_body && !x->body_eos) {
        /* Stream the rest; it cannot be replayed. */
        bb = apr_brigade_create(x->p, r->connection->bucket_alloc);
        apr_brigade_cleanup(x->held);
        x->held_len = 0;
        x->body_sent = 1;
        while (!x->body_eos) {
            rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                                APR_BLOCK_READ, 65536);
            if (rv != APR_SUCCESS) {
                x->fail = REVPROXY_FAIL_CLIENT;
                x->rv = rv;
                x->why = "reading the request body from the client failed";
                x->reusable = 0;
                return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
            }
            absorb(bb, &x->body_eos);
            rv = write_brigade(x, NULL, 0, bb, chunked,
                               chunked && x->body_eos);
            apr_brigade_cleanup(bb);
            if (rv != APR_SUCCESS) {
                x->send_failed = 1;
                x->rv = rv;
                return OK;
            }
        }
    }
    return OK;
}

static int on_header(void *baton, const char *name, size_t nlen,
                     const char *value, size_t vlen)
{
    revproxy_exchange *x = baton;
    char *v;

    /* Hop-by-hop fields that are always dropped never enter the table;
     * Connection and Upgrade do when they need the full strip (a token
     * naming other fields, or a tunnel). */
    switch (hop_field(name, nlen)) {
    case HOP_DROP:
        return 0;
    case HOP_UPGRADE:
        x->hop_named = 1;
        break;
    case HOP_CONNECTION:
        v = apr_pstrmemdup(x->p, value, vlen);
        if (!only_tokens(v, "close", "keep-alive")) {
            x->hop_named = 1;
            apr_table_addn(x->resp_headers, "Connection", v);
        }
        return 0;
    default:
        break;
    }
    /* Name and value in one allocation. */
    v = apr_palloc(x->p, nlen + vlen + 2);
    memcpy(v, name, nlen);
    v[nlen] = '\0';
    memcpy(v + nlen + 1, value, vlen);
    v[nlen + 1 + vlen] = '\0';
    apr_table_addn(x->resp_headers, v, v + nlen + 1);
    return 0;
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

static void init_head(revproxy_exchange *x)
{
    server_rec *s = x->r->server;
    apr_size_t max_line = s->limit_req_fieldsize > 0
                          ? (apr_size_t)s->limit_req_fieldsize : 8190;
    unsigned max_fields = s->limit_req_fields > 0
                          ? (unsigned)s->limit_req_fields : 65535;

    if (x->line == NULL) {
        x->line = apr_palloc(x->p, max_line);
    }
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
    x->resp_headers = apr_table_make(x->p, 16);
    x->hop_named = 0;
    init_head(x);
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
        apr_table_clear(x->resp_headers);
        x->hop_named = 0;
        init_head(x);
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
    if (x->body_mode != REVPROXY_H1_BODY_LENGTH) {
        /* RFC 9112 6.3: Transfer-Encoding overrides Content-Length, which
         * must not be passed on; no body, no length to trust either. */
        if (x->h.has_te || x->body_mode != REVPROXY_H1_BODY_NONE) {
            apr_table_unset(x->resp_headers, "Content-Length");
        }
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

static int idempotent(const char *m)
{
    static const char *const list[] = {
        "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", NULL
    };
    return in_list(m, list);
}

/* Whether the request could go out again on a fresh connection should
 * the pooled one turn out closed before any response byte. */
static int replayable(const revproxy_exchange *x)
{
    return x->body_eos && (idempotent(x->method) || x->held_len == 0);
}

int revproxy_x_start(revproxy_exchange *x)
{
    int attempt, status;

    if (!x->send_body) {
        x->body_eos = 1;
    }
    else if (x->held == NULL) {     /* not again after revproxy_x_reset */
        status = prefetch_body(x);
        if (status != OK) {
            return status;
        }
    }
    for (attempt = 0; attempt < 2; attempt++) {
        int got_byte = 0;
        apr_status_t rv, send_rv;

        rv = revproxy_conn_acquire(&x->addr,
                                   (x->reuse && attempt == 0)
                                   ? (REVPROXY_REUSE
                                      | (replayable(x) ? REVPROXY_REUSE_REPLAY
                                                       : 0))
                                   : 0,
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
        x->body_sent = 0;
        x->send_failed = 0;
        status = send_request(x);
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
        /* A pooled connection the backend had closed: try once more on a
         * fresh one when the request can be sent again unchanged. */
        if (x->reused && !got_byte && x->fail == REVPROXY_FAIL_BAD
            && x->body_eos && (idempotent(x->method) || !x->body_sent)) {
            drop_rbuf(x);
            revproxy_conn_release(x->conn, 0, 0);
            x->conn = NULL;
            continue;
        }
        if (x->send_failed && !got_byte) {
            /* No answer: the write's failure is the cause to report. */
            x->rv = send_rv;
            if (APR_STATUS_IS_TIMEUP(send_rv)) {
                x->fail = REVPROXY_FAIL_TIMEOUT;
                x->why = "timed out writing the request (the backend "
                         "stopped reading)";
                status = HTTP_GATEWAY_TIME_OUT;
            }
            else {
                x->fail = REVPROXY_FAIL_BAD;
                x->why = "writing the request failed";
                status = HTTP_BAD_GATEWAY;
            }
        }
        if (x->conn && x->conn->tls && revproxy_tls_error(x->conn)) {
            x->why = apr_pstrcat(x->p, x->why ? x->why : "failed", " (TLS: ",
                                 revproxy_tls_error(x->conn), ")", NULL);
        }
        return status;
    }
    return HTTP_BAD_GATEWAY;
}

int revproxy_x_reset(revproxy_exchange *x)
{
    /* Once the body streams past the held part (send_request empties the
     * held brigade), it is gone. */
    if (x->fail == REVPROXY_FAIL_CLIENT
        || (x->send_body && x->body_sent && x->held_len == 0)) {
        return 0;
    }
    drop_rbuf(x);
    if (x->conn) {
        revproxy_conn_release(x->conn, 0, 0);
        x->conn = NULL;
    }
    x->reused = x->reusable = x->body_sent = x->send_failed = 0;
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
                                       && !x->send_failed,
                              x->max_idle);
        x->conn = NULL;
    }
}
