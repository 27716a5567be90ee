/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * One HTTP/1.1 exchange with a backend (see include/revproxy_client.h).
 *
 * Response bodies: every read fills one buffer of bucket memory, and the
 * spans of body data in it become heap buckets that share it: the bytes
 * read from the socket are the bytes handed on.  A read never goes past
 * what the framing still expects, so what is left on the socket after a
 * Content-Length body is whatever the backend sent beyond it -- which the
 * pool's check before the next reuse then finds.
 */

#include <string.h>
#include <sys/uio.h>

#include "apr_strings.h"

#include "revproxy_client.h"
#include "revproxy_http1.h"

#define RBUF_SIZE   32768       /* one read from the backend */
#define MAX_IOV     64
#define MAX_INTERIM 10          /* 1xx responses accepted per request */

struct revproxy_client {
    apr_pool_t *p;
    apr_bucket_alloc_t *ba;
    revproxy_addr addr;
    revproxy_limits lim;

    /* what is sent */
    int head_request;           /* the answer has no body */
    int upgrade;                /* a 101 is expected */
    int framing;                /* REVPROXY_BODY_* */
    apr_off_t length;           /* REVPROXY_BODY_LENGTH */

    /* the attempt */
    revproxy_conn *conn;
    int reused;
    int wrote;                  /* a byte reached this connection */
    int write_failed;
    int request_done;           /* the whole request was written */
    apr_off_t left;             /* of a Content-Length body */
    int got_byte;
    int reusable;               /* the response allows another request */
    int body_done;
    apr_interval_time_t connect_time;   /* of this attempt; 0 reused */
    apr_time_t sent_at;         /* the first request byte went out */
    apr_interval_time_t head_time;      /* from sent_at to the whole
                                           final head; -1 before */

    /* reading */
    char *rbase;                /* read buffer (bucket memory) */
    char *rbuf;                 /* bytes read, not yet used, in rbase */
    apr_size_t rlen;
    char *line;                 /* the parser's line buffer */
    apr_pool_t *hp;             /* where the head being parsed lives */
    apr_pool_t *interim_pool;   /* 1xx heads, cleared for each */
    int cl_fields;              /* Content-Length fields in the head */
    const char *cl_value;       /* the first one's value */
    int hop_named;              /* Connection named fields, or Upgrade */
    revproxy_h1_head h;
    revproxy_h1_body b;
    revproxy_response resp;

    const char *why;
    apr_status_t rv;
    apr_off_t bytes_in, bytes_out;
};

revproxy_client *revproxy_client_make(apr_pool_t *p, apr_bucket_alloc_t *ba,
                                      const revproxy_addr *addr,
                                      const revproxy_limits *limits)
{
    revproxy_client *c = apr_pcalloc(p, sizeof(*c));

    c->p = p;
    c->ba = ba;
    c->addr = *addr;
    c->lim = *limits;
    c->head_time = -1;
    if (c->lim.max_line == 0) {
        c->lim.max_line = 8190;
    }
    if (c->lim.max_fields == 0) {
        c->lim.max_fields = 100;
    }
    return c;
}

void revproxy_client_expect(revproxy_client *c, int head_request,
                            int upgrade, int framing, apr_off_t length)
{
    c->head_request = head_request;
    c->upgrade = upgrade;
    c->framing = framing;
    c->length = c->left = length;
}

static void drop_rbuf(revproxy_client *c)
{
    if (c->rbase) {
        apr_bucket_free(c->rbase);
    }
    c->rbase = c->rbuf = NULL;
    c->rlen = 0;
}

void revproxy_client_finish(revproxy_client *c)
{
    drop_rbuf(c);
    if (c->conn) {
        revproxy_conn_release(c->conn, c->lim.reuse && c->reusable
                                       && c->body_done && c->request_done
                                       && !c->write_failed,
                              c->lim.max_idle, c->lim.idle_ttl);
        c->conn = NULL;
    }
}

int revproxy_client_connect(revproxy_client *c, int reuse)
{
    apr_time_t t0 = apr_time_now();
    apr_status_t rv;

    c->reusable = 0;
    revproxy_client_finish(c);
    c->reused = c->wrote = c->write_failed = c->request_done = 0;
    c->got_byte = c->body_done = 0;
    c->left = c->length;
    c->why = NULL;
    c->rv = APR_SUCCESS;
    memset(&c->resp, 0, sizeof(c->resp));
    memset(&c->b, 0, sizeof(c->b));
    c->sent_at = 0;
    c->head_time = -1;

    rv = revproxy_conn_acquire(&c->addr, reuse && c->lim.reuse,
                               c->lim.connect_timeout, c->p, &c->conn,
                               &c->reused, &c->why);
    /* A pooled connection cost no connect (its check before reuse is
     * not one); a failed connect did cost its time. */
    c->connect_time = (rv == APR_SUCCESS && c->reused)
                      ? 0 : apr_time_now() - t0;
    if (rv != APR_SUCCESS) {
        c->rv = rv;
        c->conn = NULL;
        return APR_STATUS_IS_TIMEUP(rv) ? REVPROXY_FAIL_TIMEOUT
                                        : REVPROXY_FAIL_REFUSED;
    }
    c->conn->requests++;
    return REVPROXY_FAIL_NONE;
}

/* ---------------------------------------------------------------------- */
/* Writing                                                                 */

/* Write head (may be NULL) and the data of bb as one chunk when chunked
 * is set, then the last chunk when last is set.  The buckets of bb are
 * consumed. */
static apr_status_t write_brigade(revproxy_client *c, const char *head,
                                  apr_size_t hlen, apr_bucket_brigade *bb,
                                  apr_off_t len, int chunked, int last)
{
    struct iovec vec[MAX_IOV + 4];
    char csize[24];
    int n = 0;
    apr_status_t rv;

    if (head) {
        vec[n].iov_base = (void *)head;
        vec[n++].iov_len = hlen;
    }
    if (len > 0 && chunked) {
        vec[n].iov_base = csize;
        vec[n++].iov_len = apr_snprintf(csize, sizeof(csize),
                                        "%" APR_UINT64_T_HEX_FMT "\r\n",
                                        (apr_uint64_t)len);
    }
    c->bytes_out += hlen + len;
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
        rv = revproxy_conn_writev(c->conn, vec, n, c->lim.send_timeout);
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
    rv = (n > 0) ? revproxy_conn_writev(c->conn, vec, n, c->lim.send_timeout)
                 : APR_SUCCESS;
    if (bb) {
        apr_brigade_cleanup(bb);
    }
    return rv;
}

apr_status_t revproxy_client_write(revproxy_client *c, const char *head,
                                   apr_size_t hlen, apr_bucket_brigade *body,
                                   int last)
{
    apr_uint64_t before = c->conn->bytes_sent;
    apr_off_t len = 0;
    apr_status_t rv;

    if (body) {
        apr_brigade_length(body, 1, &len);
    }
    /* The backend receives exactly the length it was announced: more is
     * never written, less closes the connection (never reused). */
    if (c->framing == REVPROXY_BODY_LENGTH
        && (len > c->left || (last && len < c->left))) {
        if (body) {
            apr_brigade_cleanup(body);
        }
        c->write_failed = 1;
        c->why = len > c->left ? "the request body is longer than announced"
                               : "the request body ended short of what "
                                 "was announced";
        c->rv = APR_EINVAL;
        return APR_EINVAL;
    }
    c->left -= len;
    if (c->sent_at == 0 && (hlen > 0 || len > 0 || last)) {
        c->sent_at = apr_time_now();
    }
    rv = write_brigade(c, head, hlen, body, len,
                       c->framing == REVPROXY_BODY_CHUNKED,
                       last && c->framing == REVPROXY_BODY_CHUNKED);
    if (c->conn->bytes_sent != before) {
        c->wrote = 1;
    }
    if (rv != APR_SUCCESS) {
        c->write_failed = 1;
        c->rv = rv;
        c->why = APR_STATUS_IS_TIMEUP(rv)
                 ? "timed out writing the request (the backend stopped "
                   "reading)"
                 : "writing the request failed";
        return rv;
    }
    if (last) {
        c->request_done = 1;
    }
    return APR_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* The response head                                                       */

static int on_header(void *baton, const char *name, size_t nlen,
                     const char *value, size_t vlen)
{
    revproxy_client *c = baton;
    char *v;

    /* Hop-by-hop fields that are always dropped never enter the table;
     * Connection and Upgrade do when they need the full strip (a token
     * naming other fields, or a tunnel). */
    switch (revproxy_hop_field(name, nlen)) {
    case REVPROXY_HOP_DROP:
        return 0;
    case REVPROXY_HOP_UPGRADE:
        c->hop_named = 1;
        break;
    case REVPROXY_HOP_CONNECTION:
        v = apr_pstrmemdup(c->hp, value, vlen);
        if (!revproxy_only_tokens(v, "close", "keep-alive")) {
            c->hop_named = 1;
            apr_table_addn(c->resp.headers, "Connection", v);
        }
        return 0;
    default:
        break;
    }
    /* Content-Length is set once the framing is known (one field, even
     * when the backend repeated it). */
    if (nlen == 14 && strncasecmp(name, "Content-Length", 14) == 0) {
        if (c->cl_fields++ == 0) {
            c->cl_value = apr_pstrmemdup(c->hp, value, vlen);
        }
        return 0;
    }
    /* Name and value in one allocation. */
    v = apr_palloc(c->hp, nlen + vlen + 2);
    memcpy(v, name, nlen);
    v[nlen] = '\0';
    memcpy(v + nlen + 1, value, vlen);
    v[nlen + 1 + vlen] = '\0';
    apr_table_addn(c->resp.headers, v, v + nlen + 1);
    return 0;
}

/* The Content-Length the client gets: the backend's own field when it
 * sent one plain number, else the parser's value. */
static void set_content_length(revproxy_client *c)
{
    const char *v = c->cl_value;

    if (c->cl_fields != 1 || v[0] == '\0'
        || v[strspn(v, "0123456789")] != '\0') {
        v = apr_psprintf(c->p, "%" APR_UINT64_T_FMT, c->h.content_length);
    }
    apr_table_setn(c->resp.headers, "Content-Length", v);
}

/* Ready for a (new) response head.  Interim heads are parsed into a
 * pool of their own, cleared for each: ten of them with a hundred fields
 * each cost the memory of one. */
static void init_head(revproxy_client *c, int interim)
{
    if (c->line == NULL) {
        c->line = apr_palloc(c->p, c->lim.max_line);
    }
    if (!interim) {
        c->hp = c->p;
    }
    else if (c->interim_pool == NULL) {
        apr_pool_create(&c->interim_pool, c->p);
        c->hp = c->interim_pool;
    }
    else {
        apr_pool_clear(c->interim_pool);
        c->hp = c->interim_pool;
    }
    c->resp.headers = apr_table_make(c->hp, 16);
    c->hop_named = 0;
    c->cl_fields = 0;
    c->cl_value = NULL;
    revproxy_h1_head_init(&c->h, c->line, c->lim.max_line,
                          c->lim.max_fields, on_header, c);
}

/* One read from the backend into fresh bucket memory. */
static apr_status_t fill(revproxy_client *c, apr_interval_time_t timeout)
{
    apr_size_t n = RBUF_SIZE;
    apr_status_t rv;

    if (c->rbase == NULL) {
        c->rbase = apr_bucket_alloc(RBUF_SIZE, c->ba);
    }
    if (c->b.mode == REVPROXY_H1_BODY_LENGTH && c->resp.status >= 200
        && c->b.remaining > 0 && c->b.remaining < n) {
        n = (apr_size_t)c->b.remaining;   /* never read past the message */
    }
    rv = revproxy_conn_read(c->conn, c->rbase, &n, timeout);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    c->rbuf = c->rbase;
    c->rlen = n;
    c->bytes_in += n;
    return APR_SUCCESS;
}

/* A failure while reading; the transport's error text joins the cause. */
static int read_failure(revproxy_client *c, int kind, apr_status_t rv,
                        const char *why)
{
    const char *te = c->conn ? revproxy_conn_error(c->conn) : NULL;

    c->rv = rv;
    c->why = te ? apr_pstrcat(c->p, why, " (TLS: ", te, ")", NULL) : why;
    return kind;
}

/* The head is complete: framing, reuse, the fields the client gets. */
static void head_done(revproxy_client *c)
{
    c->resp.status = c->h.status;
    c->resp.reason = apr_pstrdup(c->p, c->h.reason);
    if (c->resp.status == 101) {
        c->resp.body_mode = REVPROXY_H1_BODY_NONE;
        c->reusable = 0;
        c->resp.pending = c->rbuf;
        c->resp.npending = c->rlen;
    }
    else {
        c->resp.body_mode = revproxy_h1_body_mode(&c->h, c->head_request);
        c->reusable = revproxy_h1_reusable(&c->h, c->resp.body_mode);
    }
    /* RFC 9112 6.3: Transfer-Encoding overrides Content-Length, which
     * is then not passed on; otherwise one field (HEAD and 304 keep the
     * length of the representation). */
    if (c->cl_fields > 0 && !c->h.has_te
        && c->resp.body_mode != REVPROXY_H1_BODY_CLOSE) {
        set_content_length(c);
    }
    if (c->hop_named) {
        revproxy_strip_hop_by_hop(c->resp.headers, c->resp.status == 101);
    }
    revproxy_h1_body_init(&c->b, c->resp.body_mode, c->h.content_length,
                          c->h.max_line, c->h.max_fields);
    c->body_done = (c->resp.body_mode == REVPROXY_H1_BODY_NONE);
    if (c->body_done && c->rlen > 0 && c->resp.status != 101) {
        c->reusable = 0;        /* bytes beyond the message */
    }
}

int revproxy_client_read_head(revproxy_client *c)
{
    int interim = 0;

    /* The head as a whole must come within the timeout: a backend that
     * drips it a byte at a time does not hold the request forever (the
     * body, which may stream for hours, is limited per wait only).
     * After a failed write (the backend stopped reading, or hung up), an
     * early answer is taken if it comes within the send timeout; nobody
     * waits the full response timeout for a backend that is not
     * listening. */
    apr_time_t deadline = apr_time_now()
                          + ((c->write_failed
                              && c->lim.send_timeout < c->lim.timeout)
                             ? c->lim.send_timeout : c->lim.timeout);

    init_head(c, 0);
    for (;;) {
        size_t used = 0;
        int rc;

        if (c->rlen == 0) {
            apr_interval_time_t left = deadline - apr_time_now();
            apr_status_t rv = left > 0 ? fill(c, left) : APR_TIMEUP;

            if (APR_STATUS_IS_TIMEUP(rv)) {
                return read_failure(c, REVPROXY_FAIL_TIMEOUT, rv,
                                    "timed out waiting for the response "
                                    "head");
            }
            if (rv != APR_SUCCESS) {
                return read_failure(c, REVPROXY_FAIL_BAD, rv, c->got_byte
                                    ? "connection closed inside the "
                                      "response head"
                                    : "connection closed before any "
                                      "response byte");
            }
            c->got_byte = 1;
        }
        rc = revproxy_h1_head_feed(&c->h, c->rbuf, c->rlen, &used);
        c->rbuf += used;
        c->rlen -= used;
        if (rc == REVPROXY_H1_ERROR) {
            c->rv = APR_EGENERAL;
            c->why = apr_pstrcat(c->p, "invalid response: ", c->h.error,
                                 NULL);
            return REVPROXY_FAIL_BAD;
        }
        if (rc == REVPROXY_H1_AGAIN) {
            continue;
        }
        /* A complete head. */
        if (c->h.status >= 200 || (c->h.status == 101 && c->upgrade)) {
            break;
        }
        if (c->h.status == 101 || ++interim > MAX_INTERIM) {
            c->rv = APR_EGENERAL;
            c->why = c->h.status == 101 ? "unrequested 101 response"
                                        : "too many interim responses";
            return REVPROXY_FAIL_BAD;
        }
        /* Interim responses (100, 102, 103) are consumed here. */
        init_head(c, 1);
    }
    head_done(c);
    c->head_time = c->sent_at ? apr_time_now() - c->sent_at : -1;
    c->why = NULL;
    c->rv = APR_SUCCESS;
    return REVPROXY_FAIL_NONE;
}

const revproxy_response *revproxy_client_response(const revproxy_client *c)
{
    return &c->resp;
}

/* ---------------------------------------------------------------------- */
/* The response body                                                       */

/* Whether the body just ended (Content-Length reached) without another
 * byte: never wait for one. */
static int body_complete(revproxy_client *c)
{
    size_t used, off, dlen;

    return revproxy_h1_body_feed(&c->b, "", 0, &used, &off, &dlen)
           == REVPROXY_H1_DONE;
}

/* The buffer of one read becomes a heap bucket; each data span is a copy
 * of it narrowed to the span: no byte is copied.  Returns the parser's
 * last result; *appended tells whether bb got data. */
static int take_buffer(revproxy_client *c, apr_bucket_brigade *bb,
                       int *appended)
{
    apr_bucket *hb = apr_bucket_heap_create(c->rbase,
                                            (c->rbuf - c->rbase) + c->rlen,
                                            apr_bucket_free, c->ba);
    int rc = REVPROXY_H1_AGAIN;

    *appended = 0;
    while (c->rlen > 0) {
        size_t used = 0, off = 0, dlen = 0;

        rc = revproxy_h1_body_feed(&c->b, c->rbuf, c->rlen, &used, &off,
                                   &dlen);
        if (rc == REVPROXY_H1_DATA) {
            apr_bucket *d;
            apr_bucket_copy(hb, &d);
            d->start = (c->rbuf - c->rbase) + off;
            d->length = dlen;
            APR_BRIGADE_INSERT_TAIL(bb, d);
            *appended = 1;
        }
        c->rbuf += used;
        c->rlen -= used;
        if (rc == REVPROXY_H1_DONE) {
            c->body_done = 1;
            if (c->rlen > 0) {
                c->reusable = 0;   /* more than the framing said */
            }
            break;
        }
        if (rc == REVPROXY_H1_ERROR) {
            break;
        }
    }
    apr_bucket_destroy(hb);
    c->rbase = c->rbuf = NULL;
    c->rlen = 0;
    return rc;
}

/* fill() for the body: APR_SUCCESS with data, APR_EOF at a proper end,
 * APR_EAGAIN, or a failure. */
static apr_status_t fill_body(revproxy_client *c, int nonblock)
{
    apr_status_t rv = fill(c, nonblock ? 0 : c->lim.timeout);

    if (rv == APR_SUCCESS || APR_STATUS_IS_EAGAIN(rv)) {
        return rv;
    }
    if (rv == APR_EOF && revproxy_h1_body_eof(&c->b) == REVPROXY_H1_DONE) {
        c->body_done = 1;
        c->reusable = 0;
        return APR_EOF;
    }
    c->reusable = 0;
    read_failure(c, REVPROXY_FAIL_ABORTED, rv,
                 rv == APR_EOF ? "connection closed before the end of the "
                                 "body"
                 : APR_STATUS_IS_TIMEUP(rv) ? "timed out reading the body"
                 : "reading the body failed");
    return rv == APR_EOF ? APR_EGENERAL : rv;
}

apr_status_t revproxy_client_read_body(revproxy_client *c,
                                       apr_bucket_brigade *bb, int nonblock)
{
    while (!c->body_done) {
        apr_status_t rv;
        int rc, appended;

        if (c->rlen == 0) {
            if (body_complete(c)) {
                c->body_done = 1;
                break;
            }
            rv = fill_body(c, nonblock);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
        rc = take_buffer(c, bb, &appended);
        if (rc == REVPROXY_H1_ERROR) {
            c->why = apr_pstrcat(c->p, "invalid body: ", c->b.error, NULL);
            c->rv = APR_EGENERAL;
            c->reusable = 0;
            return APR_EGENERAL;
        }
        if (appended && !c->body_done) {
            if (body_complete(c)) {
                c->body_done = 1;
                break;
            }
            return APR_SUCCESS; /* one buffer at a time: bounded memory */
        }
    }
    return APR_EOF;
}

/* ---------------------------------------------------------------------- */
/* Facts                                                                   */

revproxy_conn *revproxy_client_conn(const revproxy_client *c)
{
    return c->conn;
}

int revproxy_client_reused(const revproxy_client *c)
{
    return c->reused;
}

int revproxy_client_got_byte(const revproxy_client *c)
{
    return c->got_byte;
}

int revproxy_client_wrote(const revproxy_client *c)
{
    return c->wrote;
}

int revproxy_client_write_failed(const revproxy_client *c)
{
    return c->write_failed;
}

const char *revproxy_client_why(const revproxy_client *c)
{
    return c->why;
}

apr_status_t revproxy_client_rv(const revproxy_client *c)
{
    return c->rv;
}

apr_interval_time_t revproxy_client_connect_time(const revproxy_client *c)
{
    return c->connect_time;
}

apr_interval_time_t revproxy_client_head_time(const revproxy_client *c)
{
    return c->head_time;
}

apr_off_t revproxy_client_bytes_in(const revproxy_client *c)
{
    return c->bytes_in;
}

apr_off_t revproxy_client_bytes_out(const revproxy_client *c)
{
    return c->bytes_out;
}

void revproxy_client_no_reuse(revproxy_client *c)
{
    c->reusable = 0;
}
