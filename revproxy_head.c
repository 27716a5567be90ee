/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * The request head for a backend, and the hop-by-hop rules.
 *
 * The head is measured first and then written into one buffer of exactly
 * its size, so no count of fields can push the proxy's own fields out of
 * it (a fixed vector array once did: Host and X-Forwarded-For were lost
 * behind ~97 client fields).  The token-list helpers are small twins of
 * httpd's ap_find_token(): this file links without httpd (fuzz/fuzz_head).
 */

#include <string.h>

#include "apr_strings.h"
#include "apr_lib.h"

#include "revproxy_head.h"

int revproxy_hop_field(const char *name, apr_size_t n)
{
    switch (n) {
    case 2:
        return strncasecmp(name, "TE", 2) == 0 ? REVPROXY_HOP_DROP
                                               : REVPROXY_HOP_NONE;
    case 7:
        return strncasecmp(name, "Trailer", 7) == 0 ? REVPROXY_HOP_DROP
             : strncasecmp(name, "Upgrade", 7) == 0 ? REVPROXY_HOP_UPGRADE
             : REVPROXY_HOP_NONE;
    case 10:
        return strncasecmp(name, "Connection", 10) == 0
               ? REVPROXY_HOP_CONNECTION
             : strncasecmp(name, "Keep-Alive", 10) == 0 ? REVPROXY_HOP_DROP
             : REVPROXY_HOP_NONE;
    case 16:
        return strncasecmp(name, "Proxy-Connection", 16) == 0
               ? REVPROXY_HOP_DROP : REVPROXY_HOP_NONE;
    case 17:
        return strncasecmp(name, "Transfer-Encoding", 17) == 0
               ? REVPROXY_HOP_DROP : REVPROXY_HOP_NONE;
    default:
        return REVPROXY_HOP_NONE;
    }
}

/* The next element of a comma list: [*s, *e) trimmed; 0 at the end.
 * Every comma splits, quotes or not -- unlike the response parser's list
 * scanner (revproxy_http1.c), which keeps a quoted parameter whole so it
 * cannot pass for a coding.  Connection takes tokens only, and here the
 * safe reading is the one that finds more names to strip: a quote must
 * never hide a field from hop-by-hop removal (fuzz_head checks this). */
static int next_element(const char **cur, const char **s, const char **e)
{
    const char *p = *cur;

    for (;;) {
        const char *b, *q;

        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        if (*p == '\0') {
            *cur = p;
            return 0;
        }
        b = p;
        while (*p && *p != ',') {
            p++;
        }
        q = p;
        while (q > b && (q[-1] == ' ' || q[-1] == '\t')) {
            q--;
        }
        if (q > b) {
            *s = b;
            *e = q;
            *cur = p;
            return 1;
        }
    }
}

static int element_is(const char *s, const char *e, const char *token)
{
    apr_size_t n = strlen(token);

    return (apr_size_t)(e - s) == n && strncasecmp(s, token, n) == 0;
}

int revproxy_has_token(const char *value, const char *token)
{
    const char *cur = value, *s, *e;

    while (cur && next_element(&cur, &s, &e)) {
        if (element_is(s, e, token)) {
            return 1;
        }
    }
    return 0;
}

int revproxy_only_tokens(const char *value, const char *a, const char *b)
{
    const char *cur = value, *s, *e;

    while (cur && next_element(&cur, &s, &e)) {
        if (!element_is(s, e, a) && !element_is(s, e, b)) {
            return 0;
        }
    }
    return 1;
}

static int collect_connection(void *rec, const char *key, const char *value)
{
    (void)key;
    *(const char **)apr_array_push((apr_array_header_t *)rec) = value;
    return 1;
}

/* The values of t's Connection fields, or NULL when it has none. */
static apr_array_header_t *connection_values(apr_pool_t *p,
                                             const apr_table_t *t)
{
    apr_array_header_t *a = NULL;

    if (apr_table_get(t, "Connection")) {
        a = apr_array_make(p, 2, sizeof(const char *));
        apr_table_do(collect_connection, a, t, "Connection", NULL);
    }
    return a;
}

/* Whether name is listed in any of the Connection values. */
static int named_by_connection(const apr_array_header_t *conn_values,
                               const char *name)
{
    int i;

    for (i = 0; conn_values && i < conn_values->nelts; i++) {
        if (revproxy_has_token(APR_ARRAY_IDX(conn_values, i, const char *),
                               name)) {
            return 1;
        }
    }
    return 0;
}

void revproxy_strip_hop_by_hop(apr_table_t *t, int keep_upgrade)
{
    static const char *const always[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", NULL
    };
    apr_array_header_t *conn;
    const char *const *h;
    int i;

    conn = connection_values(apr_table_elts(t)->pool, t);
    if (conn) {
        /* Walk backwards: apr_table_unset compacts the array behind i. */
        const apr_array_header_t *arr = apr_table_elts(t);
        for (i = arr->nelts - 1; i >= 0; i--) {
            const apr_table_entry_t *e;

            arr = apr_table_elts(t);
            if (i >= arr->nelts) {
                continue;
            }
            e = &((const apr_table_entry_t *)arr->elts)[i];
            if (e->key && named_by_connection(conn, e->key)
                && !(keep_upgrade && strcasecmp(e->key, "Upgrade") == 0)) {
                apr_table_unset(t, e->key);
            }
        }
    }
    for (h = always; *h; h++) {
        if (keep_upgrade && (strcasecmp(*h, "Upgrade") == 0
                             || strcasecmp(*h, "Connection") == 0)) {
            continue;
        }
        apr_table_unset(t, *h);
    }
}

/* A field is only written when its name is a clean token and its value
 * has no CR, LF or other control byte (whatever a module left in a
 * table).  Their lengths come back in *nlen and *vlen. */
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

/* RFC 9110's tchar. */
static int is_tchar(unsigned char c)
{
    return apr_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* name=value onto o: the value as a token when it is one, else quoted. */
static char *forwarded_pair(char *o, const char *name, const char *v,
                            int brackets)
{
    const unsigned char *s = (const unsigned char *)v;
    int token = !brackets && *s != '\0';

    for (; token && *s; s++) {
        token = is_tchar(*s);
    }
    memcpy(o, name, strlen(name));
    o += strlen(name);
    *o++ = '=';
    if (token) {
        memcpy(o, v, strlen(v) + 1);
        return o + strlen(v);
    }
    *o++ = '"';
    if (brackets) {
        *o++ = '[';
    }
    for (s = (const unsigned char *)v; *s; s++) {
        if ((*s < 0x20 && *s != '\t') || *s == 0x7f) {
            continue;
        }
        if (*s == '"' || *s == '\\') {
            *o++ = '\\';
        }
        *o++ = (char)*s;
    }
    if (brackets) {
        *o++ = ']';
    }
    *o++ = '"';
    *o = '\0';
    return o;
}

char *revproxy_forwarded_element(apr_pool_t *p, const char *client,
                                 const char *host, const char *proto)
{
    /* Each value at most doubles when quoted (escapes), plus its name,
     * '=', quotes, brackets and ';'. */
    apr_size_t max = 2 * (strlen(client) + (host ? strlen(host) : 0)
                          + strlen(proto)) + 32;
    char *buf = apr_palloc(p, max), *o;
    /* An IPv6 address (it has colons; httpd's client addresses never come
     * in brackets) is a quoted "[...]" node (RFC 7239 section 6). */
    int v6 = strchr(client, ':') != NULL && client[0] != '[';

    o = forwarded_pair(buf, "for", client, v6);
    if (host && *host) {
        *o++ = ';';
        o = forwarded_pair(o, "host", host, 0);
    }
    *o++ = ';';
    forwarded_pair(o, "proto", proto, 0);
    return buf;
}

/* Whether a field value holds a byte no header line may carry. */
static int value_dirty(const char *v)
{
    const unsigned char *s;

    for (s = (const unsigned char *)v; *s; s++) {
        if ((*s < 0x20 && *s != '\t') || *s == 0x7f) {
            return 1;
        }
    }
    return 0;
}

/* The proxy's own fields always go out: a control byte in one of their
 * values (a client's X-Forwarded-For that httpd let through under
 * HttpProtocolOptions Unsafe, extended by the proxy) becomes a space; it
 * never makes the field vanish, which would let a backend take the
 * proxy's address for the client's.  own itself is returned when clean. */
static const apr_table_t *clean_own(apr_pool_t *p, const apr_table_t *own)
{
    const apr_array_header_t *arr = apr_table_elts(own);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_table_t *copy = NULL;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        char *v, *c;

        if (e[i].val == NULL || !value_dirty(e[i].val)) {
            continue;
        }
        if (copy == NULL) {
            copy = apr_table_copy(p, own);
        }
        v = apr_pstrdup(p, e[i].val);
        for (c = v; *c; c++) {
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f) {
                *c = ' ';
            }
        }
        /* Same position in the copy: the arrays were copied whole. */
        ((apr_table_entry_t *)apr_table_elts(copy)->elts)[i].val = v;
    }
    return copy ? copy : own;
}

/* Length of a method or request target, 0 when it is empty or holds a
 * byte a request line cannot carry. */
static apr_size_t token_len(const char *s)
{
    const unsigned char *c = (const unsigned char *)s;

    if (c == NULL) {
        return 0;
    }
    for (; *c; c++) {
        if (*c <= 0x20 || *c == 0x7f) {
            return 0;
        }
    }
    return (apr_size_t)(c - (const unsigned char *)s);
}

/* Whether a client field named name (n bytes) may go to the backend. */
static int client_field_wanted(const revproxy_head_spec *s,
                               const apr_array_header_t *conn,
                               const char *name, apr_size_t n)
{
    switch (revproxy_hop_field(name, n)) {
    case REVPROXY_HOP_NONE:
        break;
    case REVPROXY_HOP_UPGRADE:
        return s->upgrade;
    default:
        return 0;
    }
    /* Host, the framing and Expect are the proxy's to write. */
    if ((n == 4 && strncasecmp(name, "Host", 4) == 0)
        || (n == 6 && strncasecmp(name, "Expect", 6) == 0)
        || (n == 14 && strncasecmp(name, "Content-Length", 14) == 0)) {
        return 0;
    }
    if (conn && named_by_connection(conn, name)) {
        return 0;
    }
    /* A field the proxy writes itself is never taken from the client. */
    return s->own == NULL || apr_table_get(s->own, name) == NULL;
}

/* Per table entry: the lengths to write, nlen 0 for an entry left out. */
typedef struct {
    apr_size_t nlen, vlen;
} field_span;

static apr_size_t measure(const apr_array_header_t *arr, field_span *sp,
                          const revproxy_head_spec *s,
                          const apr_array_header_t *conn, int is_client)
{
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_size_t total = 0;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        sp[i].nlen = 0;
        if (!field_ok(e[i].key, e[i].val, &sp[i].nlen, &sp[i].vlen)
            || (is_client
                && !client_field_wanted(s, conn, e[i].key, sp[i].nlen))) {
            sp[i].nlen = 0;
            continue;
        }
        total += sp[i].nlen + 2 + sp[i].vlen + 2;
    }
    return total;
}

static char *put(char *o, const char *s, apr_size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

static char *put_fields(char *o, const apr_array_header_t *arr,
                        const field_span *sp)
{
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (sp[i].nlen == 0) {
            continue;
        }
        o = put(o, e[i].key, sp[i].nlen);
        o = put(o, ": ", 2);
        o = put(o, e[i].val, sp[i].vlen);
        o = put(o, "\r\n", 2);
    }
    return o;
}

char *revproxy_head_build(apr_pool_t *p, const revproxy_head_spec *s,
                          apr_size_t *len)
{
    static const apr_array_header_t none = { NULL, 0, 0, 0, NULL };
    const apr_array_header_t *ca = s->client ? apr_table_elts(s->client)
                                             : &none;
    const apr_table_t *own = s->own ? clean_own(p, s->own) : NULL;
    const apr_array_header_t *oa = own ? apr_table_elts(own) : &none;
    apr_array_header_t *conn = s->client ? connection_values(p, s->client)
                                         : NULL;
    apr_size_t mlen = token_len(s->method), tlen = token_len(s->target);
    apr_size_t total, flen = 0;
    field_span *sp;
    char framing[64], *buf, *o;
    const char *connection = s->upgrade ? "Connection: Upgrade\r\n"
                           : s->close ? "Connection: close\r\n" : "";
    apr_size_t clen = strlen(connection);

    if (mlen == 0 || tlen == 0) {
        return NULL;
    }
    if (s->body == REVPROXY_BODY_LENGTH) {
        flen = (apr_size_t)apr_snprintf(framing, sizeof(framing),
                                        "Content-Length: %" APR_OFF_T_FMT
                                        "\r\n", s->length);
    }
    else if (s->body == REVPROXY_BODY_CHUNKED) {
        flen = (apr_size_t)apr_snprintf(framing, sizeof(framing),
                                        "Transfer-Encoding: chunked\r\n");
    }
    sp = apr_palloc(p, sizeof(*sp) * (apr_size_t)(ca->nelts + oa->nelts + 1));
    total = mlen + 1 + tlen + 11
            + measure(ca, sp, s, conn, 1)
            + measure(oa, sp + ca->nelts, s, NULL, 0)
            + clen + flen + 2;

    o = buf = apr_palloc(p, total + 1);
    o = put(o, s->method, mlen);
    o = put(o, " ", 1);
    o = put(o, s->target, tlen);
    o = put(o, " HTTP/1.1\r\n", 11);
    o = put_fields(o, ca, sp);
    o = put_fields(o, oa, sp + ca->nelts);
    o = put(o, connection, clen);
    o = put(o, framing, flen);
    o = put(o, "\r\n", 2);
    *o = '\0';
    *len = total;
    return buf;
}
