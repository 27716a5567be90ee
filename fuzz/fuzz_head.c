/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_head.c -- libFuzzer harness for revproxy_head.c: the request head
 * a backend receives, whatever fields the client sent, and the hop-by-hop
 * strip of a response table.
 *
 * Input, read front to back (bytes past the end read as 0):
 *   flags    bits 0-1 body: NONE, LENGTH (n < 100000), CHUNKED, LENGTH
 *            (any n >= 0); bit 2 upgrade; bit 3 close; bit 4
 *            RevProxyAddForwarded On; bit 5 keephost; bit 6 method and
 *            target raw from the input (else a usual method and a clean
 *            path); bit 7 https
 *   more     bit 0 no client table (NULL); bit 1 no own table (NULL);
 *            bits 2-3 the client's address; bits 4-5 the backend's
 *            host:port; bit 6 NULL method; bit 7 NULL target
 *   length   8 bytes, little-endian
 *   method, target, count (entries, 0-255)
 *   entries  a selector, then the name and the value: a well-known name
 *            (Host, X-Forwarded-*, Connection, Upgrade, TE, Content-Length,
 *            Expect, ...) in any case, a token, raw bytes, the name of an
 *            earlier field, or a run of filler fields; values are raw bytes
 *            (controls, CR, LF, DEL, NUL cuts them short), comma lists of
 *            field names (Connection), clean text or usual values.  Entries
 *            past the end of the input are filler fields, so that a short
 *            input reaches any count up to MAX_FIELDS.
 *
 * The own table is made as mod_revproxy's added_fields() makes it: Host
 * (the client's first Host with keephost, else the backend's host:port)
 * and, with RevProxyAddForwarded, X-Forwarded-For (the client's first
 * X-Forwarded-For, unless its first Connection names it, + ", " + the
 * client's address, or the address alone), X-Forwarded-Host (the client's
 * Host, or the server name) and X-Forwarded-Proto.
 *
 * Invariants, a broken one aborts:
 *  - NULL exactly when the method or the target is missing, empty or holds
 *    a byte <= 0x20 or DEL (or when an own field cannot be written as it
 *    is: refusing is a fail-safe answer to that);
 *  - len == strlen; every line ends in CRLF and holds no CR, LF or NUL;
 *    the first line is "METHOD SP TARGET SP HTTP/1.1", the head ends with
 *    the first empty line; every field line is "name: value" with a name
 *    of visible bytes but ':' and a value without control bytes (HTAB
 *    aside) or DEL;
 *  - every own field exactly once, with own's name and value (when the
 *    value is clean; whatever is written for one that is not is clean);
 *  - no hop-by-hop field: Connection only as the one "Connection: Upgrade"
 *    or "Connection: close" the flags ask for, Transfer-Encoding only as
 *    the one "chunked" of CHUNKED, Upgrade only from the client with
 *    upgrade set, never Keep-Alive, Proxy-Connection, TE or Trailer;
 *  - no client Host, Content-Length or Expect, no client field that own
 *    has, no field any client Connection value names (but Upgrade with
 *    upgrade set);
 *  - exactly one framing field, as asked: Content-Length: n for LENGTH,
 *    Transfer-Encoding: chunked for CHUNKED, none for NONE;
 *  - every client field that should pass does, in order, byte-identical.
 * The client table then goes through revproxy_strip_hop_by_hop() (keep
 * upgrade = the upgrade flag), as a response's table would: what remains
 * is exactly the fields that neither are hop-by-hop nor are named by a
 * Connection value, in order (Upgrade and Connection stay with keep
 * upgrade, Connection then unless a Connection value names it).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include "revproxy_head.h"

#define MAX_FIELDS 160

#define CHECK(cond) do { \
    if (!(cond)) { \
        fprintf(stderr, "invariant broken at %s:%d: %s\n", \
                __FILE__, __LINE__, #cond); \
        abort(); \
    } \
} while (0)

static apr_pool_t *pool;

static const char *const names[] = {
    "Host", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
    "Connection", "Upgrade", "TE", "Trailer", "Transfer-Encoding",
    "Content-Length", "Expect", "Keep-Alive", "Proxy-Connection",
    "Accept", "Cookie", "Content-Type", "Forwarded", "X-Forwarded-Port",
    "Via", "Hosts", "T", "TEE", "Trailers", "Upgrade-Insecure-Requests",
    "Connections", "Proxy-Authorization", "X-A", "x-a", "close",
    "keep-alive", "websocket", "Content-Length2"
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static const char *const usual_values[] = {
    "", "chunked", "gzip, chunked", "100-continue", "websocket", "close",
    "Upgrade", "keep-alive", "5", "0", " lead", "trail ", "\t", "a\tb",
    "\x80\xff", "10.0.0.9", "example.org:8080", "a, b"
};
#define NUSUAL (sizeof(usual_values) / sizeof(usual_values[0]))

static const char *const seps[] = {
    ",", ", ", " , ", ",\t", ",,", "\t,", " ,, ", ";"
};

static const char *const methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND",
    "M-SEARCH", "X"
};

static const char *const addrs[] = {
    "192.0.2.7", "2001:db8::1", "127.0.0.1", "10.1.2.3"
};

static const char *const hostports[] = {
    "backend.internal:8080", "10.0.0.1", "[::1]:8443", "b"
};

/* ------------------------------------------------------------------ */
/* The input, read front to back. */

typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static unsigned u8(reader *r)
{
    if (r->n == 0) {
        return 0;
    }
    r->n--;
    return *r->p++;
}

/* Up to max raw bytes; a NUL among them ends the C string early. */
static const char *raw(reader *r, apr_size_t max)
{
    apr_size_t n = u8(r) % (max + 1);

    if (n > r->n) {
        n = r->n;
    }
    r->p += n;
    r->n -= n;
    return apr_pstrmemdup(pool, (const char *)r->p - n, n);
}

/* Up to max bytes mapped onto an alphabet. */
static const char *mapped(reader *r, apr_size_t max, const char *alpha)
{
    apr_size_t n = u8(r) % (max + 1), k = strlen(alpha), i;
    char *s = apr_palloc(pool, max + 1);

    for (i = 0; i < n && r->n; i++) {
        s[i] = alpha[u8(r) % k];
    }
    s[i] = '\0';
    return s;
}

static const char *some_case(reader *r, const char *name)
{
    unsigned m = u8(r);
    char *s = apr_pstrdup(pool, name);
    apr_size_t i;

    for (i = 0; s[i]; i++) {
        if ((m >> (i % 8)) & 1) {
            if (s[i] >= 'a' && s[i] <= 'z') {
                s[i] -= 32;
            }
            else if (s[i] >= 'A' && s[i] <= 'Z') {
                s[i] += 32;
            }
        }
    }
    return s;
}

#define TCHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
               "0123456789!#$%&'*+-.^_`|~"
#define CLEAN  "abcXYZ019 \t-_.,;=/\"()<>@[]{}?\x80\xc3\xa9\xff"
#define PATH   "abcz09/?=&%-._~+:@!$'()*,;\x80\xfe"

/* A comma list of field names (a Connection value, most often). */
static const char *name_list(reader *r, const apr_table_t *t)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    unsigned k = u8(r) % 6, i;
    const char *s = u8(r) & 1 ? " " : "";

    for (i = 0; i < k; i++) {
        unsigned c = u8(r);
        const char *e;

        if (c < 0x80 || arr->nelts == 0) {
            e = some_case(r, names[c % NNAMES]);
        }
        else if (c < 0xe0) {
            e = some_case(r, APR_ARRAY_IDX(arr, c % arr->nelts,
                                           apr_table_entry_t).key);
        }
        else {
            e = raw(r, 8);
        }
        s = apr_pstrcat(pool, s, i ? seps[u8(r) % 8] : "", e, NULL);
    }
    return u8(r) & 1 ? apr_pstrcat(pool, s, " \t", NULL) : s;
}

static const char *value(reader *r, const apr_table_t *t, const char *name)
{
    unsigned v = u8(r);

    /* Connection values are lists of names more often than not. */
    if (strcasecmp(name, "Connection") == 0 && (v & 4) == 0) {
        return name_list(r, t);
    }
    switch (v & 3) {
    case 0:
        return raw(r, 48);
    case 1:
        return name_list(r, t);
    case 2:
        return mapped(r, 40, CLEAN);
    default:
        return usual_values[(v >> 3) % NUSUAL];
    }
}

static void filler(apr_table_t *t)
{
    int i = apr_table_elts(t)->nelts;

    apr_table_addn(t, apr_psprintf(pool, "X-Fill-%d", i),
                   apr_psprintf(pool, "%d", i));
}

static void client_fields(reader *r, apr_table_t *t)
{
    unsigned count = u8(r), i;

    for (i = 0; i < count && apr_table_elts(t)->nelts < MAX_FIELDS; i++) {
        const apr_array_header_t *arr = apr_table_elts(t);
        unsigned sel;
        const char *name;

        if (r->n == 0) {
            filler(t);
            continue;
        }
        sel = u8(r);
        if (sel < 0x60) {
            name = some_case(r, names[sel % NNAMES]);
        }
        else if (sel < 0xa0) {
            name = mapped(r, 16, TCHARS);
        }
        else if (sel < 0xc0) {
            name = raw(r, 20);
        }
        else if (sel < 0xe0 && arr->nelts > 0) {
            name = some_case(r, APR_ARRAY_IDX(arr, u8(r) % arr->nelts,
                                              apr_table_entry_t).key);
        }
        else {
            unsigned k = (sel & 0x1f) * 4 + 1;

            while (k-- && apr_table_elts(t)->nelts < MAX_FIELDS) {
                filler(t);
            }
            continue;
        }
        apr_table_addn(t, name, value(r, t, name));
    }
}

/* ------------------------------------------------------------------ */
/* The model. */

static int ieq(const char *s, apr_size_t n, const char *z)
{
    return strlen(z) == n && strncasecmp(s, z, n) == 0;
}

static int clean_name(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c <= 0x20 || c >= 0x7f || c == ':') {
            return 0;
        }
    }
    return 1;
}

static int clean_value(const char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

static int request_token(const char *s)
{
    if (s == NULL || *s == '\0') {
        return 0;
    }
    for (; *s; s++) {
        if ((unsigned char)*s <= 0x20 || *s == 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* Whether the comma list holds name (n bytes) as an element: elements
 * are trimmed of SP and HTAB and compared in any case. */
static int listed(const char *list, const char *name, apr_size_t n)
{
    const char *s = list;

    for (;;) {
        const char *b, *e;

        while (*s == ' ' || *s == '\t') {
            s++;
        }
        b = s;
        while (*s && *s != ',') {
            s++;
        }
        e = s;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        if (n > 0 && (apr_size_t)(e - b) == n
            && strncasecmp(b, name, n) == 0) {
            return 1;
        }
        if (*s == '\0') {
            return 0;
        }
        s++;
    }
}

/* The values of t's Connection fields, NULL-terminated. */
static const char **conn_values(const apr_table_t *t)
{
    const apr_array_header_t *arr;
    const apr_table_entry_t *e;
    const char **v;
    int i, k = 0;

    if (t == NULL) {
        return apr_pcalloc(pool, sizeof(*v));
    }
    arr = apr_table_elts(t);
    e = (const apr_table_entry_t *)arr->elts;
    v = apr_palloc(pool, sizeof(*v) * (apr_size_t)(arr->nelts + 1));
    for (i = 0; i < arr->nelts; i++) {
        if (strcasecmp(e[i].key, "Connection") == 0) {
            v[k++] = e[i].val;
        }
    }
    v[k] = NULL;
    return v;
}

/* Whether any of the Connection values conn names name. */
static int named(const char *const *conn, const char *name, apr_size_t n)
{
    for (; *conn; conn++) {
        if (listed(*conn, name, n)) {
            return 1;
        }
    }
    return 0;
}

static int always_dropped(const char *s, apr_size_t n)
{
    return ieq(s, n, "Keep-Alive") || ieq(s, n, "Proxy-Connection")
           || ieq(s, n, "TE") || ieq(s, n, "Trailer")
           || ieq(s, n, "Transfer-Encoding");
}

typedef struct {
    const char *method, *target;
    const apr_table_t *client, *own;
    const char *const *conn;    /* the client's Connection values */
    int body, upgrade, close;
    apr_off_t length;
} model;

/* Whether the client field e must reach the backend. */
static int client_passes(const model *m, const apr_table_entry_t *e)
{
    apr_size_t n = strlen(e->key);

    if (!clean_name(e->key) || !clean_value(e->val, strlen(e->val))) {
        return 0;
    }
    if (ieq(e->key, n, "Upgrade")) {
        return m->upgrade;
    }
    if (always_dropped(e->key, n) || ieq(e->key, n, "Connection")
        || ieq(e->key, n, "Host") || ieq(e->key, n, "Expect")
        || ieq(e->key, n, "Content-Length")) {
        return 0;
    }
    if (named(m->conn, e->key, n)) {
        return 0;
    }
    return m->own == NULL || apr_table_get(m->own, e->key) == NULL;
}

/* The next line of the head: [*b, *b + *n), and past its CRLF. */
static const char *next_line(const char *p, const char *end,
                             const char **b, apr_size_t *n)
{
    const char *cr = memchr(p, '\r', (apr_size_t)(end - p));

    CHECK(cr != NULL && cr + 1 < end && cr[1] == '\n');
    CHECK(memchr(p, '\n', (apr_size_t)(cr - p)) == NULL);
    *b = p;
    *n = (apr_size_t)(cr - p);
    return cr + 2;
}

static void check_head(const model *m, const char *head, apr_size_t len)
{
    const apr_array_header_t *ca = m->client ? apr_table_elts(m->client)
                                             : NULL;
    const apr_table_entry_t *ce = ca ? (const apr_table_entry_t *)ca->elts
                                     : NULL;
    const apr_array_header_t *oa = m->own ? apr_table_elts(m->own) : NULL;
    const apr_table_entry_t *oe = oa ? (const apr_table_entry_t *)oa->elts
                                     : NULL;
    int own_seen[8] = { 0 };
    int next_client = 0, connection = 0, framing = 0, i;
    const char *p = head, *end = head + len, *b;
    apr_size_t n;
    char *want;

    CHECK(len == strlen(head));
    CHECK(oa == NULL || oa->nelts <= 8);

    /* The request line. */
    p = next_line(p, end, &b, &n);
    want = apr_pstrcat(pool, m->method, " ", m->target, " HTTP/1.1", NULL);
    CHECK(n == strlen(want) && memcmp(b, want, n) == 0);

    for (;;) {
        const char *colon, *v;
        apr_size_t nlen, vlen;
        char *name, *val;
        int own_i = -1;

        p = next_line(p, end, &b, &n);
        if (n == 0) {
            break;
        }
        colon = memchr(b, ':', n);
        CHECK(colon != NULL);
        nlen = (apr_size_t)(colon - b);
        CHECK(nlen > 0 && nlen + 2 <= n && colon[1] == ' ');
        v = colon + 2;
        vlen = n - nlen - 2;
        name = apr_pstrmemdup(pool, b, nlen);
        val = apr_pstrmemdup(pool, v, vlen);
        CHECK(clean_name(name));
        CHECK(clean_value(v, vlen));

        for (i = 0; oa && i < oa->nelts; i++) {
            if (strcasecmp(oe[i].key, name) == 0) {
                own_i = i;
            }
        }
        if (own_i >= 0) {
            /* The proxy's own field, as own has it. */
            own_seen[own_i]++;
            CHECK(strcmp(name, oe[own_i].key) == 0);
            CHECK(!clean_value(oe[own_i].val, strlen(oe[own_i].val))
                  || strcmp(val, oe[own_i].val) == 0);
            continue;
        }
        if (ieq(name, nlen, "Connection")) {
            CHECK(m->upgrade ? strcmp(val, "Upgrade") == 0
                  : m->close && strcmp(val, "close") == 0);
            connection++;
            continue;
        }
        if (ieq(name, nlen, "Transfer-Encoding")) {
            CHECK(m->body == REVPROXY_BODY_CHUNKED
                  && strcmp(val, "chunked") == 0);
            framing++;
            continue;
        }
        if (ieq(name, nlen, "Content-Length")) {
            CHECK(m->body == REVPROXY_BODY_LENGTH);
            CHECK(strcmp(val, apr_off_t_toa(pool, m->length)) == 0);
            framing++;
            continue;
        }
        /* Anything else is the client's, and must be the next one that
         * passes: no hop-by-hop field, nothing Connection names. */
        CHECK(!always_dropped(name, nlen));
        CHECK(!ieq(name, nlen, "Upgrade") || m->upgrade);
        CHECK(!ieq(name, nlen, "Host") && !ieq(name, nlen, "Expect"));
        CHECK(!named(m->conn, name, nlen) || ieq(name, nlen, "Upgrade"));
        while (ca && next_client < ca->nelts
               && !client_passes(m, &ce[next_client])) {
            next_client++;
        }
        CHECK(ca && next_client < ca->nelts);
        CHECK(strcmp(name, ce[next_client].key) == 0);
        CHECK(strcmp(val, ce[next_client].val) == 0);
        next_client++;
    }
    CHECK(p == end);

    /* Every client field that passes went out. */
    while (ca && next_client < ca->nelts) {
        CHECK(!client_passes(m, &ce[next_client]));
        next_client++;
    }
    CHECK(connection == (m->upgrade || m->close));
    CHECK(framing == (m->body != REVPROXY_BODY_NONE));
    for (i = 0; oa && i < oa->nelts; i++) {
        /* The proxy's own fields always go out, once. */
        CHECK(own_seen[i] == 1);
    }
}

/* revproxy_strip_hop_by_hop() on a copy of t. */
static void check_strip(const apr_table_t *t, int keep_upgrade)
{
    apr_table_t *c = apr_table_copy(pool, t);
    const char *const *conn = conn_values(t);
    const apr_array_header_t *ta = apr_table_elts(t), *ca;
    const apr_table_entry_t *te = (const apr_table_entry_t *)ta->elts, *ce;
    int i, j = 0;

    revproxy_strip_hop_by_hop(c, keep_upgrade);
    ca = apr_table_elts(c);
    ce = (const apr_table_entry_t *)ca->elts;
    for (i = 0; i < ta->nelts; i++) {
        const char *k = te[i].key;
        apr_size_t n = strlen(k);
        int keep;

        if (always_dropped(k, n)) {
            keep = 0;
        }
        else if (ieq(k, n, "Upgrade")) {
            keep = keep_upgrade;
        }
        else if (ieq(k, n, "Connection")) {
            keep = keep_upgrade && !named(conn, k, n);
        }
        else {
            keep = !named(conn, k, n);
        }
        if (keep) {
            CHECK(j < ca->nelts);
            CHECK(strcmp(ce[j].key, k) == 0 && strcmp(ce[j].val, te[i].val)
                                               == 0);
            j++;
        }
    }
    CHECK(j == ca->nelts);
}

/* ------------------------------------------------------------------ */

static void fini(void)
{
    apr_pool_destroy(pool);
    apr_terminate();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r;
    unsigned flags, more, i;
    uint64_t n = 0;
    apr_table_t *client, *own;
    const char *host, *conn, *xff, *head;
    revproxy_head_spec s;
    model m;
    apr_size_t len = 0;
    int forwarded, own_dirty = 0;

    if (pool == NULL) {
        apr_initialize();
        apr_pool_create(&pool, NULL);
        atexit(fini);
    }
    apr_pool_clear(pool);
    r.p = data;
    r.n = size;

    flags = u8(&r);
    more = u8(&r);
    for (i = 0; i < 8; i++) {
        n |= (uint64_t)u8(&r) << (8 * i);
    }
    memset(&s, 0, sizeof(s));
    s.body = flags & 3;
    if (s.body == 3) {
        s.body = REVPROXY_BODY_LENGTH;
        s.length = (apr_off_t)(n & INT64_MAX);
    }
    else {
        s.length = (apr_off_t)(n % 100000);
    }
    s.upgrade = (flags >> 2) & 1;
    s.close = (flags >> 3) & 1;
    forwarded = (flags >> 4) & 1;
    if (flags & 0x40) {
        s.method = raw(&r, 12);
        s.target = raw(&r, 48);
    }
    else {
        s.method = methods[u8(&r) % (sizeof(methods) / sizeof(methods[0]))];
        s.target = apr_pstrcat(pool, "/", mapped(&r, 40, PATH), NULL);
    }
    if (more & 0x40) {
        s.method = NULL;
    }
    if (more & 0x80) {
        s.target = NULL;
    }

    client = apr_table_make(pool, 8);
    client_fields(&r, client);

    /* The proxy's fields, as added_fields() makes them. */
    own = apr_table_make(pool, 4);
    host = apr_table_get(client, "Host");
    conn = apr_table_get(client, "Connection");
    apr_table_setn(own, "Host", ((flags & 0x20) && host)
                                ? host : hostports[(more >> 4) & 3]);
    if (forwarded) {
        const char *ip = addrs[(more >> 2) & 3];

        xff = apr_table_get(client, "X-Forwarded-For");
        if (xff && conn && listed(conn, "X-Forwarded-For", 15)) {
            xff = NULL;
        }
        apr_table_setn(own, "X-Forwarded-For",
                       xff ? apr_pstrcat(pool, xff, ", ", ip, NULL) : ip);
        apr_table_setn(own, "X-Forwarded-Host", host ? host
                                                     : "www.example.org");
        apr_table_setn(own, "X-Forwarded-Proto",
                       (flags & 0x80) ? "https" : "http");
    }
    {
        const apr_array_header_t *oa = apr_table_elts(own);
        const apr_table_entry_t *oe = (const apr_table_entry_t *)oa->elts;

        for (i = 0; i < (unsigned)oa->nelts; i++) {
            if (!clean_value(oe[i].val, strlen(oe[i].val))) {
                own_dirty = 1;
            }
        }
    }
    s.client = (more & 1) ? NULL : client;
    s.own = (more & 2) ? NULL : own;
    if (s.own == NULL) {
        own_dirty = 0;
    }

    head = revproxy_head_build(pool, &s, &len);

    m.method = s.method;
    m.target = s.target;
    m.client = s.client;
    m.own = s.own;
    m.conn = conn_values(s.client);
    m.body = s.body;
    m.length = s.length;
    m.upgrade = s.upgrade;
    m.close = s.close;
    if (!request_token(s.method) || !request_token(s.target)) {
        CHECK(head == NULL);
    }
    else if (head == NULL) {
        /* Refusing an own field that cannot be written is safe;
         * anything else must give a head. */
        CHECK(own_dirty);
    }
    else {
        check_head(&m, head, len);
    }

    check_strip(client, s.upgrade);
    return 0;
}
