/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * Unit tests for revproxy_head.c: the request head a backend receives
 * (the proxy's own fields whatever the client sent, no hop-by-hop field,
 * the framing as announced, nothing with a control byte) and the
 * hop-by-hop helpers both directions use.  TAP output.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include "revproxy_head.h"
#include "tap.h"

static apr_pool_t *pool;

/* A spec for GET /p with the given tables, no body, keep-alive. */
static revproxy_head_spec spec(const apr_table_t *client,
                               const apr_table_t *own)
{
    revproxy_head_spec s;

    memset(&s, 0, sizeof(s));
    s.method = "GET";
    s.target = "/p";
    s.client = client;
    s.own = own;
    s.body = REVPROXY_BODY_NONE;
    return s;
}

/* The own table mod_revproxy makes with RevProxyAddForwarded On. */
static apr_table_t *own_fields(const char *xff)
{
    apr_table_t *t = apr_table_make(pool, 4);

    apr_table_setn(t, "Host", "backend:8080");
    apr_table_setn(t, "X-Forwarded-For", xff ? xff : "192.0.2.7");
    apr_table_setn(t, "X-Forwarded-Host", "www.example.org");
    apr_table_setn(t, "X-Forwarded-Proto", "https");
    return t;
}

static const char *build(const revproxy_head_spec *s)
{
    apr_size_t len = (apr_size_t)-1;
    const char *h = revproxy_head_build(pool, s, &len);

    if (h && len != strlen(h)) {
        diag("len %lu, strlen %lu", (unsigned long)len,
             (unsigned long)strlen(h));
        return "len differs from strlen";
    }
    return h;
}

/* How many field lines of head are named name (any case); *value gets
 * the first one's value. */
static int fields(const char *head, const char *name, const char **value)
{
    apr_size_t n = strlen(name);
    const char *p = strstr(head, "\r\n");
    int count = 0;

    if (value) {
        *value = NULL;
    }
    while (p && p[2] != '\r') {
        const char *line = p + 2, *end = strstr(line, "\r\n");

        if (end == NULL) {
            break;
        }
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            if (count++ == 0 && value) {
                *value = apr_pstrmemdup(pool, line + n + 2,
                                        (apr_size_t)(end - line - n - 2));
            }
        }
        p = end;
    }
    return count;
}

/* Whether head has exactly one name field, of value want. */
static int once(const char *head, const char *name, const char *want)
{
    const char *v;

    if (fields(head, name, &v) != 1 || strcmp(v, want) != 0) {
        diag("%s: %d field(s), first '%s', expected once '%s'", name,
             fields(head, name, NULL), v ? v : "(none)", want);
        return 0;
    }
    return 1;
}

/* Whether every line of head ends in CRLF, none holds a CR, LF or other
 * control byte but HTAB, and the head ends at its first empty line. */
static int well_formed(const char *head)
{
    const char *p = head;

    for (;;) {
        const char *cr = strchr(p, '\r');
        const char *c;

        if (cr == NULL || cr[1] != '\n') {
            return 0;
        }
        for (c = p; c < cr; c++) {
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f) {
                return 0;
            }
        }
        if (cr == p) {
            return cr[2] == '\0';
        }
        p = cr + 2;
    }
}

static int lines(const char *head)
{
    int n = 0;

    while ((head = strstr(head, "\r\n")) != NULL) {
        head += 2;
        n++;
    }
    return n;
}

static apr_table_t *many(int n)
{
    apr_table_t *t = apr_table_make(pool, n);
    int i;

    for (i = 0; i < n; i++) {
        apr_table_addn(t, apr_psprintf(pool, "X-Field-%d", i),
                       apr_psprintf(pool, "value %d", i));
    }
    return t;
}

static void test_many_fields(void)
{
    static const int counts[] = { 0, 1, 97, 98, 99, 100, 200, 1000 };
    apr_size_t i;

    for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        int n = counts[i];
        apr_table_t *client = many(n);
        revproxy_head_spec s;
        const char *h;

        /* The client's own Host and X-Forwarded-* come last. */
        apr_table_addn(client, "Host", "front.example");
        apr_table_addn(client, "X-Forwarded-For", "198.51.100.1");
        apr_table_addn(client, "X-Forwarded-Host", "evil.example");
        apr_table_addn(client, "X-Forwarded-Proto", "http");
        s = spec(client, own_fields("198.51.100.1, 192.0.2.7"));
        h = build(&s);
        ok(h && well_formed(h), "%d client fields: a well-formed head", n);
        ok(h && once(h, "Host", "backend:8080")
           && once(h, "X-Forwarded-For", "198.51.100.1, 192.0.2.7")
           && once(h, "X-Forwarded-Host", "www.example.org")
           && once(h, "X-Forwarded-Proto", "https"),
           "%d client fields: Host and X-Forwarded-* once, the proxy's", n);
        ok(h && lines(h) == 1 + n + 4 + 1
           && (n == 0 || strstr(h, apr_psprintf(pool, "\r\nX-Field-%d: "
                                                "value %d\r\n", n - 1,
                                                n - 1)) != NULL)
           && (n == 0 || strstr(h, "\r\nX-Field-0: value 0\r\n") != NULL),
           "%d client fields: all of them passed", n);
    }
}

static void test_exact(void)
{
    apr_table_t *client = apr_table_make(pool, 4);
    revproxy_head_spec s;
    const char *h;

    apr_table_addn(client, "Accept", "*/*");
    apr_table_addn(client, "cookie", "a=b");
    apr_table_addn(client, "Accept", "text/html");
    s = spec(client, own_fields(NULL));
    s.method = "POST";
    s.target = "/a/b?c=d";
    s.body = REVPROXY_BODY_LENGTH;
    s.length = 5;
    h = build(&s);
    is_str(h, "POST /a/b?c=d HTTP/1.1\r\n"
              "Accept: */*\r\n"
              "cookie: a=b\r\n"
              "Accept: text/html\r\n"
              "Host: backend:8080\r\n"
              "X-Forwarded-For: 192.0.2.7\r\n"
              "X-Forwarded-Host: www.example.org\r\n"
              "X-Forwarded-Proto: https\r\n"
              "Content-Length: 5\r\n"
              "\r\n",
           "the whole head: client fields in order and as sent, the "
           "proxy's, the framing");

    s = spec(NULL, NULL);
    is_str(build(&s), "GET /p HTTP/1.1\r\n\r\n",
           "no client and no own table: the request line alone");
}

static void test_hop_by_hop(void)
{
    static const char *const hop[] = {
        "Connection", "connection", "Keep-Alive", "KEEP-ALIVE",
        "Proxy-Connection", "proxy-connection", "TE", "te", "Trailer",
        "trailer", "Transfer-Encoding", "transfer-encoding", "Upgrade",
        "UPGRADE"
    };
    apr_table_t *client = apr_table_make(pool, 16);
    revproxy_head_spec s;
    const char *h;
    apr_size_t i;

    for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++) {
        apr_table_addn(client, hop[i], "x");
    }
    apr_table_addn(client, "Content-Length", "5");
    apr_table_addn(client, "content-length", "6");
    apr_table_addn(client, "Expect", "100-continue");
    apr_table_addn(client, "TEE", "kept");
    apr_table_addn(client, "Trailers", "kept");
    apr_table_addn(client, "Upgrade-Insecure-Requests", "1");
    apr_table_addn(client, "Keep-Alive2", "kept");
    s = spec(client, own_fields(NULL));
    h = build(&s);
    ok(h && well_formed(h), "hop-by-hop: a well-formed head");
    ok(h && fields(h, "Connection", NULL) == 0
       && fields(h, "Keep-Alive", NULL) == 0
       && fields(h, "Proxy-Connection", NULL) == 0
       && fields(h, "TE", NULL) == 0 && fields(h, "Trailer", NULL) == 0
       && fields(h, "Transfer-Encoding", NULL) == 0
       && fields(h, "Upgrade", NULL) == 0,
       "hop-by-hop fields, in any case, never reach the backend");
    ok(h && fields(h, "Content-Length", NULL) == 0
       && fields(h, "Expect", NULL) == 0,
       "the client's Content-Length and Expect are left out");
    ok(h && once(h, "TEE", "kept") && once(h, "Trailers", "kept")
       && once(h, "Upgrade-Insecure-Requests", "1")
       && once(h, "Keep-Alive2", "kept"),
       "names that only start like a hop-by-hop field pass");
}

static void test_connection_named(void)
{
    apr_table_t *client = apr_table_make(pool, 16);
    revproxy_head_spec s;
    const char *h;

    apr_table_addn(client, "Connection", "X-A ,\tx-b,, keep-alive");
    apr_table_addn(client, "X-A", "1");
    apr_table_addn(client, "X-B", "2");
    apr_table_addn(client, "X-A-B", "kept");
    apr_table_addn(client, "x-a", "3");
    apr_table_addn(client, "connection", "Cookie, X-Forwarded-For, Host");
    apr_table_addn(client, "Cookie", "c");
    apr_table_addn(client, "X-C", "kept");
    apr_table_addn(client, "Connection", "\"X-C\", X-D;q=1");
    s = spec(client, own_fields(NULL));
    h = build(&s);
    ok(h && fields(h, "X-A", NULL) == 0 && fields(h, "X-B", NULL) == 0
       && fields(h, "Cookie", NULL) == 0,
       "fields a Connection value names are left out, in any case, "
       "whichever Connection field names them");
    ok(h && once(h, "X-A-B", "kept") && once(h, "X-C", "kept"),
       "a field only part of a list element names is kept");
    ok(h && once(h, "Host", "backend:8080")
       && once(h, "X-Forwarded-For", "192.0.2.7"),
       "Connection cannot remove the proxy's own fields");
}

static void test_own_names(void)
{
    apr_table_t *client = apr_table_make(pool, 8);
    apr_table_t *own = apr_table_make(pool, 2);
    revproxy_head_spec s;
    const char *h;

    apr_table_addn(client, "HOST", "front");
    apr_table_addn(client, "x-forwarded-for", "203.0.113.1");
    apr_table_addn(client, "X-Forwarded-Host", "evil");
    apr_table_addn(client, "X-FORWARDED-PROTO", "http");
    apr_table_addn(client, "X-Forwarded-Port", "443");
    s = spec(client, own_fields(NULL));
    h = build(&s);
    ok(h && once(h, "Host", "backend:8080")
       && once(h, "X-Forwarded-For", "192.0.2.7")
       && once(h, "X-Forwarded-Host", "www.example.org")
       && once(h, "X-Forwarded-Proto", "https")
       && once(h, "X-Forwarded-Port", "443"),
       "client fields named like the proxy's (any case) are left out");

    /* RevProxyAddForwarded Off: own holds Host only. */
    apr_table_setn(own, "Host", "backend");
    s = spec(client, own);
    h = build(&s);
    ok(h && once(h, "Host", "backend")
       && once(h, "X-Forwarded-For", "203.0.113.1")
       && once(h, "X-Forwarded-Host", "evil"),
       "without X-Forwarded-* in own the client's pass unchanged");

    s = spec(client, NULL);
    h = build(&s);
    ok(h && fields(h, "Host", NULL) == 0,
       "without own the client's Host is still left out");
}

static void test_framing(void)
{
    apr_table_t *client = apr_table_make(pool, 4);
    revproxy_head_spec s;
    const char *h;

    apr_table_addn(client, "Transfer-Encoding", "chunked");
    apr_table_addn(client, "Content-Length", "10");
    s = spec(client, own_fields(NULL));

    h = build(&s);
    ok(h && fields(h, "Content-Length", NULL) == 0
       && fields(h, "Transfer-Encoding", NULL) == 0,
       "NONE: no framing field");

    s.body = REVPROXY_BODY_LENGTH;
    s.length = 0;
    h = build(&s);
    ok(h && once(h, "Content-Length", "0")
       && fields(h, "Transfer-Encoding", NULL) == 0,
       "LENGTH 0: Content-Length: 0 only");

    s.length = 1234567;
    h = build(&s);
    ok(h && once(h, "Content-Length", "1234567")
       && fields(h, "Transfer-Encoding", NULL) == 0,
       "LENGTH: the announced length, not the client's");

    s.length = APR_INT64_C(9223372036854775807);
    h = build(&s);
    ok(h && once(h, "Content-Length", "9223372036854775807"),
       "LENGTH: the largest length");

    s.body = REVPROXY_BODY_CHUNKED;
    h = build(&s);
    ok(h && once(h, "Transfer-Encoding", "chunked")
       && fields(h, "Content-Length", NULL) == 0,
       "CHUNKED: Transfer-Encoding: chunked only");
    ok(h && well_formed(h) && strstr(h, "Transfer-Encoding: chunked\r\n\r\n"),
       "CHUNKED: the framing field ends the head");
}

static void test_upgrade_close(void)
{
    apr_table_t *client = apr_table_make(pool, 4);
    revproxy_head_spec s;
    const char *h;

    apr_table_addn(client, "Connection", "Upgrade, X-A");
    apr_table_addn(client, "Upgrade", "websocket");
    apr_table_addn(client, "X-A", "1");
    s = spec(client, own_fields(NULL));

    h = build(&s);
    ok(h && fields(h, "Upgrade", NULL) == 0
       && fields(h, "Connection", NULL) == 0,
       "neither flag: no Upgrade, no Connection");

    s.upgrade = 1;
    h = build(&s);
    ok(h && once(h, "Upgrade", "websocket")
       && once(h, "Connection", "Upgrade") && fields(h, "X-A", NULL) == 0,
       "upgrade: the client's Upgrade (though Connection names it) and "
       "Connection: Upgrade");

    s.close = 1;
    h = build(&s);
    ok(h && once(h, "Connection", "Upgrade"),
       "upgrade and close: Connection: Upgrade alone");

    s.upgrade = 0;
    h = build(&s);
    ok(h && once(h, "Connection", "close") && fields(h, "Upgrade", NULL) == 0,
       "close: Connection: close, no Upgrade");
}

static void test_request_line(void)
{
    static const struct {
        const char *method, *target;
    } bad[] = {
        { "", "/" }, { "GET", "" }, { NULL, "/" }, { "GET", NULL },
        { "G T", "/" }, { "GET", "/a b" }, { "GET\x7f", "/" },
        { "GET", "/a\tb" }, { "GET", "/\r\nX-Injected: 1" },
        { "GET", "/\n" }, { "GET\r\n", "/" }, { "GET", "/\x01" },
        { "GET", "/\x1f" }, { "\x7f", "/" }
    };
    revproxy_head_spec s = spec(NULL, own_fields(NULL));
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s.method = bad[i].method;
        s.target = bad[i].target;
        ok(build(&s) == NULL, "invalid request line %lu gives NULL",
           (unsigned long)i);
    }
    s.method = "M-SEARCH";
    s.target = "*";
    ok(build(&s) && strncmp(build(&s), "M-SEARCH * HTTP/1.1\r\n", 21) == 0,
       "any method token and target without a forbidden byte");
    s.method = "GET";
    s.target = "/\x80\xff?%00";
    ok(build(&s) && strncmp(build(&s), "GET /\x80\xff?%00 HTTP/1.1\r\n",
                            strlen("GET /\x80\xff?%00 HTTP/1.1\r\n")) == 0,
       "bytes over 0x7f are not control bytes");
}

static void test_values(void)
{
    apr_table_t *client = apr_table_make(pool, 16);
    revproxy_head_spec s;
    const char *h;

    apr_table_addn(client, "X-CRLF", "a\r\nX-Injected: 1");
    apr_table_addn(client, "X-LF", "a\nb");
    apr_table_addn(client, "X-CR", "a\rb");
    apr_table_addn(client, "X-Ctl", "a\x01");
    apr_table_addn(client, "X-Del", "a\x7f");
    apr_table_addn(client, "X-Tab", "a\tb");
    apr_table_addn(client, "X-Obs", "caf\xc3\xa9");
    apr_table_addn(client, "X-Empty", "");
    apr_table_addn(client, "Bad Name", "v");
    apr_table_addn(client, "Bad:Name", "v");
    apr_table_addn(client, "Bad\tName", "v");
    apr_table_addn(client, "Bad\x80", "v");
    apr_table_addn(client, "", "v");
    s = spec(client, own_fields(NULL));
    h = build(&s);
    ok(h && well_formed(h), "values with control bytes: a well-formed head");
    ok(h && fields(h, "X-CRLF", NULL) == 0 && fields(h, "X-LF", NULL) == 0
       && fields(h, "X-CR", NULL) == 0 && fields(h, "X-Ctl", NULL) == 0
       && fields(h, "X-Del", NULL) == 0
       && strstr(h, "X-Injected") == NULL,
       "fields whose value holds CR, LF, a control byte or DEL are left "
       "out");
    ok(h && once(h, "X-Tab", "a\tb") && once(h, "X-Obs", "caf\xc3\xa9")
       && once(h, "X-Empty", ""),
       "HTAB, obs-text and an empty value pass");
    ok(h && strstr(h, "Bad") == NULL && strstr(h, "\r\n: ") == NULL,
       "fields whose name is empty or holds SP, ':', a control byte or a "
       "non-ASCII byte are left out");
}

/* An own field whose value holds a control byte -- the client's
 * X-Forwarded-For under HttpProtocolOptions Unsafe, which added_fields()
 * copies into the proxy's own, or a value another module set -- must not
 * make the proxy's field vanish: a backend that trusts X-Forwarded-For
 * would then take the proxy's address for the client's.  The head must
 * be refused (NULL), or still carry the field once, clean. */
static void test_own_control_bytes(void)
{
    apr_table_t *client = apr_table_make(pool, 4);
    apr_table_t *own;
    revproxy_head_spec s;
    const char *h;

    apr_table_addn(client, "X-Forwarded-For", "203.0.113.9\x01");
    s = spec(client, own_fields("203.0.113.9\x01, 192.0.2.7"));
    h = build(&s);
    ok(h == NULL || (well_formed(h)
                     && fields(h, "X-Forwarded-For", NULL) == 1),
       "own X-Forwarded-For with a control byte: refused, or sent once");

    own = own_fields(NULL);
    apr_table_setn(own, "Host", "front.example\x7f");
    s = spec(client, own);
    h = build(&s);
    ok(h == NULL || (well_formed(h) && fields(h, "Host", NULL) == 1),
       "own Host with DEL: refused, or sent once");
}

static void test_hop_field(void)
{
    static const struct {
        const char *name;
        int want;
    } v[] = {
        { "TE", REVPROXY_HOP_DROP }, { "te", REVPROXY_HOP_DROP },
        { "Trailer", REVPROXY_HOP_DROP }, { "trAILer", REVPROXY_HOP_DROP },
        { "Upgrade", REVPROXY_HOP_UPGRADE },
        { "upgrade", REVPROXY_HOP_UPGRADE },
        { "Connection", REVPROXY_HOP_CONNECTION },
        { "CONNECTION", REVPROXY_HOP_CONNECTION },
        { "Keep-Alive", REVPROXY_HOP_DROP },
        { "Proxy-Connection", REVPROXY_HOP_DROP },
        { "Transfer-Encoding", REVPROXY_HOP_DROP },
        { "T", REVPROXY_HOP_NONE }, { "TEE", REVPROXY_HOP_NONE },
        { "Trailers", REVPROXY_HOP_NONE }, { "Upgrade2", REVPROXY_HOP_NONE },
        { "Connectio", REVPROXY_HOP_NONE }, { "Keep-Alivf", REVPROXY_HOP_NONE },
        { "Host", REVPROXY_HOP_NONE }, { "Content-Length", REVPROXY_HOP_NONE },
        { "", REVPROXY_HOP_NONE }
    };
    apr_size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        is_int(revproxy_hop_field(v[i].name, strlen(v[i].name)), v[i].want,
               "hop_field('%s')", v[i].name);
    }
    is_int(revproxy_hop_field("TEX", 2), REVPROXY_HOP_DROP,
           "hop_field reads n bytes, not up to a NUL");
}

static void test_tokens(void)
{
    ok(revproxy_has_token("close", "close"), "has_token: the only element");
    ok(revproxy_has_token(" a ,\tClose\t, b", "close"),
       "has_token: trimmed of SP and HTAB, any case");
    ok(revproxy_has_token(",,a,,", "a"), "has_token: empty elements skipped");
    ok(!revproxy_has_token("closed, xclose", "close"),
       "has_token: whole elements only");
    ok(!revproxy_has_token("", "close") && !revproxy_has_token(" , ", "close"),
       "has_token: an empty list has nothing");
    ok(!revproxy_has_token(NULL, "close"), "has_token: NULL has nothing");

    ok(revproxy_only_tokens("close", "close", "keep-alive"),
       "only_tokens: one of the two");
    ok(revproxy_only_tokens("Keep-Alive, CLOSE,", "close", "keep-alive"),
       "only_tokens: both, any case");
    ok(revproxy_only_tokens("", "close", "keep-alive")
       && revproxy_only_tokens(" ,", "close", "keep-alive"),
       "only_tokens: an empty list holds nothing else");
    ok(!revproxy_only_tokens("close, upgrade", "close", "keep-alive"),
       "only_tokens: another element");
    ok(!revproxy_only_tokens("close x", "close", "keep-alive"),
       "only_tokens: an element with a space inside");
}

/* t's fields as "name=value;..." */
static const char *dump(const apr_table_t *t)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    const char *s = "";
    int i;

    for (i = 0; i < arr->nelts; i++) {
        s = apr_pstrcat(pool, s, e[i].key, "=", e[i].val, ";", NULL);
    }
    return s;
}

static apr_table_t *response(void)
{
    apr_table_t *t = apr_table_make(pool, 16);

    apr_table_addn(t, "Server", "x");
    apr_table_addn(t, "Connection", "X-Secret, upgrade");
    apr_table_addn(t, "X-Secret", "1");
    apr_table_addn(t, "Upgrade", "websocket");
    apr_table_addn(t, "Keep-Alive", "timeout=5");
    apr_table_addn(t, "x-secret", "2");
    apr_table_addn(t, "TE", "trailers");
    apr_table_addn(t, "Trailer", "X-T");
    apr_table_addn(t, "Transfer-Encoding", "chunked");
    apr_table_addn(t, "Proxy-Connection", "close");
    apr_table_addn(t, "connection", "\tX-Other ,");
    apr_table_addn(t, "X-Other", "3");
    apr_table_addn(t, "X-Secret-Not", "kept");
    apr_table_addn(t, "Content-Type", "text/plain");
    return t;
}

static void test_strip(void)
{
    apr_table_t *t = response();

    revproxy_strip_hop_by_hop(t, 0);
    is_str(dump(t), "Server=x;X-Secret-Not=kept;Content-Type=text/plain;",
           "strip: hop-by-hop fields and those Connection names, in any "
           "case, from any Connection field");

    t = response();
    revproxy_strip_hop_by_hop(t, 1);
    is_str(dump(t), "Server=x;Connection=X-Secret, upgrade;Upgrade=websocket;"
                    "connection=\tX-Other ,;X-Secret-Not=kept;"
                    "Content-Type=text/plain;",
           "strip, keep_upgrade: Connection and Upgrade stay (though "
           "Connection names Upgrade), the rest goes");

    t = apr_table_make(pool, 4);
    apr_table_addn(t, "A", "1");
    apr_table_addn(t, "B", "2");
    revproxy_strip_hop_by_hop(t, 0);
    is_str(dump(t), "A=1;B=2;", "strip: nothing to strip");

    /* Every field named, walked from the end while the table shrinks. */
    t = apr_table_make(pool, 8);
    apr_table_addn(t, "A", "1");
    apr_table_addn(t, "B", "2");
    apr_table_addn(t, "a", "3");
    apr_table_addn(t, "C", "4");
    apr_table_addn(t, "b", "5");
    apr_table_addn(t, "Connection", "a, b, c");
    apr_table_addn(t, "D", "6");
    revproxy_strip_hop_by_hop(t, 0);
    is_str(dump(t), "D=6;", "strip: named fields removed wherever they are");
}

static void fini(void)
{
    apr_pool_destroy(pool);
    apr_terminate();
}

/* RFC 7239 elements (RevProxyForwarded): tokens as they are, IPv6
 * clients and other non-tokens quoted. */
static void test_forwarded(void)
{
    is_str(revproxy_forwarded_element(pool, "192.0.2.7", "www.example.org",
                                      "https"),
           "for=192.0.2.7;host=www.example.org;proto=https",
           "forwarded: IPv4 client, host a token");
    is_str(revproxy_forwarded_element(pool, "2001:db8::1", "www.example.org",
                                      "http"),
           "for=\"[2001:db8::1]\";host=www.example.org;proto=http",
           "forwarded: IPv6 client bracketed and quoted");
    is_str(revproxy_forwarded_element(pool, "::1", "a", "http"),
           "for=\"[::1]\";host=a;proto=http", "forwarded: ::1");
    is_str(revproxy_forwarded_element(pool, "fe80::1%eth0", "a", "http"),
           "for=\"[fe80::1%eth0]\";host=a;proto=http",
           "forwarded: IPv6 with a zone");
    is_str(revproxy_forwarded_element(pool, "192.0.2.7", "example.org:8080",
                                      "http"),
           "for=192.0.2.7;host=\"example.org:8080\";proto=http",
           "forwarded: a host with a port is not a token: quoted");
    is_str(revproxy_forwarded_element(pool, "192.0.2.7", "[2001:db8::2]:80",
                                      "http"),
           "for=192.0.2.7;host=\"[2001:db8::2]:80\";proto=http",
           "forwarded: an IPv6 host quoted as it is");
    is_str(revproxy_forwarded_element(pool, "192.0.2.7", "a\"b\\c d",
                                      "http"),
           "for=192.0.2.7;host=\"a\\\"b\\\\c d\";proto=http",
           "forwarded: '\"' and '\\' escaped, space quoted");
    is_str(revproxy_forwarded_element(pool, "192.0.2.7", "a\r\nX: y\x01",
                                      "http"),
           "for=192.0.2.7;host=\"aX: y\";proto=http",
           "forwarded: control bytes left out");
    is_str(revproxy_forwarded_element(pool, "192.0.2.7", NULL, "http"),
           "for=192.0.2.7;proto=http", "forwarded: no host");
    is_str(revproxy_forwarded_element(pool, "192.0.2.7", "", "http"),
           "for=192.0.2.7;proto=http", "forwarded: empty host");
    is_str(revproxy_forwarded_element(pool, "", "a", "http"),
           "for=\"\";host=a;proto=http", "forwarded: empty client quoted");
}

int main(void)
{
    apr_initialize();
    atexit(fini);
    apr_pool_create(&pool, NULL);

    test_many_fields();
    test_exact();
    test_hop_by_hop();
    test_connection_named();
    test_own_names();
    test_framing();
    test_upgrade_close();
    test_request_line();
    test_values();
    test_own_control_bytes();
    test_hop_field();
    test_tokens();
    test_strip();
    test_forwarded();
    return done_testing();
}
