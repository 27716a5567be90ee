/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * Unit tests for revproxy_url.c: splitting X-Reproxy-Url values, the
 * normal form of absolute http(s) URLs (what ReproxyAllow sees and what
 * is fetched), and redirect resolution.  TAP output.
 */

#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "revproxy_url.h"
#include "tap.h"

static apr_pool_t *pool;

/* The normal form of text, or "ERR: why". */
static const char *norm(const char *text)
{
    const char *why = NULL;
    revproxy_url *u = revproxy_url_parse(pool, text, &why);

    return u ? u->full : apr_pstrcat(pool, "ERR: ", why, NULL);
}

/* The URLs of value, joined with '|', and the number dropped. */
static const char *split(const char *value, int max, int *dropped)
{
    apr_array_header_t *urls = apr_array_make(pool, 4, sizeof(char *));

    *dropped = revproxy_url_split(pool, value, urls, max);
    return apr_array_pstrcat(pool, urls, '|');
}

/* loc resolved against base. */
static const char *resolve(const char *base, const char *loc)
{
    const char *why;
    revproxy_url *u = revproxy_url_parse(pool, base, &why);

    return u ? revproxy_url_resolve(pool, u, loc) : "bad base";
}

static void test_split(void)
{
    int dropped;

    is_str(split("http://a/x", 16, &dropped), "http://a/x", "one URL");
    is_str(split("  http://a/x \t http://b/y\r\n", 16, &dropped),
           "http://a/x|http://b/y", "any whitespace separates");
    is_str(split("http://a/x, http://b/y", 16, &dropped),
           "http://a/x|http://b/y", "the ', ' httpd joins fields with");
    is_str(split("http://a/x,", 16, &dropped), "http://a/x,",
           "a trailing comma at the end stays");
    is_str(split("", 16, &dropped), "", "empty value: none");
    is_str(split(" \t ", 16, &dropped), "", "blank value: none");
    is_int(dropped, 0, "... nothing dropped");
    is_str(split("a b c d", 2, &dropped), "a|b", "at most max URLs");
    is_int(dropped, 2, "... the others counted");
}

static void test_normalize(void)
{
    const char *why;
    revproxy_url *u;

    is_str(norm("http://example.com/a/b?x=1"), "http://example.com/a/b?x=1",
           "already normal");
    is_str(norm("HTTP://Example.COM/A"), "http://example.com/A",
           "scheme and host lower case, path kept");
    is_str(norm("http://h"), "http://h/", "empty path is /");
    is_str(norm("http://h?q"), "http://h/?q", "empty path with a query");
    is_str(norm("http://h:80/x"), "http://h/x", "default http port dropped");
    is_str(norm("https://h:443/x"), "https://h/x",
           "default https port dropped");
    is_str(norm("https://h:80/x"), "https://h:80/x", "other port kept");
    is_str(norm("http://h:08080/"), "http://h:8080/", "leading zero");
    is_str(norm("http://h:/x"), "http://h/x", "empty port: the default");
    is_str(norm("http://h/a/./b/../c"), "http://h/a/c", "dot-segments");
    is_str(norm("http://h/a/../../../b"), "http://h/b",
           "no climbing above the root");
    is_str(norm("http://h/a/.."), "http://h/", "trailing /..");
    is_str(norm("http://h/a/."), "http://h/a/", "trailing /.");
    is_str(norm("http://h/a/%2e%2E/b"), "http://h/b", "%%2e%%2E is ..");
    is_str(norm("http://h/a/.%2e/b"), "http://h/b", "mixed .%%2e is ..");
    is_str(norm("http://h/%7euser/%41"), "http://h/~user/A",
           "unreserved characters decoded");
    is_str(norm("http://h/a%2fb%20c"), "http://h/a%2fb%20c",
           "reserved and other escapes kept");
    is_str(norm("http://h/a/%%32e%%32e/b"), "http://h/a/%252e%252e/b",
           "a stray %% is %%25: no second decoding");
    is_str(norm("http://h/50%"), "http://h/50%25", "a trailing stray %%");
    is_str(norm("http://h/a...b/..."), "http://h/a...b/...",
           "dots that are no dot-segment stay");
    is_str(norm("http://h/a b\x01\x7f\xc3\xa9"),
           "http://h/a%20b%01%7F%C3%A9", "CTL, space, DEL, non-ASCII encoded");
    is_str(norm("http://h/p?a b=\x02"), "http://h/p?a%20b=%02",
           "... in the query too");
    is_str(norm("http://h/p?a=/../x"), "http://h/p?a=/../x",
           "the query is not dot-normalized");
    is_str(norm("http://h/p#frag"), "http://h/p", "fragment dropped");
    is_str(norm("http://[::1]:8080/x"), "http://[::1]:8080/x",
           "IPv6 literal with a port");
    is_str(norm("http://[FE80::A]/"), "http://[fe80::a]/",
           "IPv6 literal lower case, default port");
    is_str(norm("http://[::ffff:10.0.0.1]/"), "http://[::ffff:10.0.0.1]/",
           "IPv4-mapped IPv6 literal");
    is_str(norm("http://10.0.0.1:81/"), "http://10.0.0.1:81/", "IPv4");

    u = revproxy_url_parse(pool, "HTTPS://Store.Example:8443/a/../b?q#f",
                           &why);
    ok(u != NULL, "parts: parsed");
    if (u) {
        is_str(u->site, "https://store.example:8443", "site");
        is_str(u->path, "/b", "path");
        is_str(u->query, "q", "query");
        is_str(u->host, "store.example", "host");
        is_str(u->hostport, "store.example:8443", "hostport");
        is_int(u->port, 8443, "port");
        is_int(u->https, 1, "https");
    }
    u = revproxy_url_parse(pool, "http://[::1]/", &why);
    ok(u && strcmp(u->host, "[::1]") == 0 && u->port == 80
       && strcmp(u->hostport, "[::1]") == 0 && u->query == NULL,
       "IPv6 host bracketed, default port filled in, no query");
}

static void test_reject(void)
{
    is_str(norm("http://u:p@h/"), "ERR: user info in the URL is not allowed",
           "user info");
    is_str(norm("http://u@h/"), "ERR: user info in the URL is not allowed",
           "user without password");
    is_str(norm("http://h:65536/"), "ERR: invalid port", "port 65536");
    is_str(norm("http://h:0/"), "ERR: invalid port", "port 0");
    is_str(norm("http://h:000080/"), "ERR: invalid port", "six digits");
    is_str(norm("http://h:8x/"), "ERR: not an absolute URL",
           "port with a letter");
    is_str(norm("http://h:-1/"), "ERR: invalid port", "negative port");
    is_str(norm("ftp://h/x"), "ERR: not an http or https URL", "ftp://");
    is_str(norm("not-a-url"), "ERR: not an absolute URL", "no scheme");
    is_str(norm("/path/only"), "ERR: not an absolute URL", "a path");
    is_str(norm("http:/h/x"), "ERR: no host in the URL", "one slash");
    is_str(norm("http:///x"), "ERR: no host in the URL", "empty host");
    is_str(norm("http://:80/x"), "ERR: no host in the URL",
           "empty host with a port");
    is_str(norm("http://h\x01x/"), "ERR: invalid host", "CTL in the host");
    is_str(norm("http://h x/"), "ERR: invalid host", "space in the host");
    is_str(norm("http://h_x/"), "ERR: invalid host", "underscore");
    is_str(norm("http://h%2ex/"), "ERR: invalid host", "%% in the host");
    is_str(norm("http://-h/"), "ERR: invalid host", "leading '-'");
    is_str(norm("http://.h/"), "ERR: invalid host", "leading '.'");
    is_str(norm("http://a..b/"), "ERR: invalid host", "'..' in the host");
    is_str(norm("http://[1.2.3]/"), "ERR: invalid host", "bad IPv6 literal");
    is_str(norm("http://[example.com]/"), "ERR: invalid host",
           "a name in brackets");
    is_str(norm("http://[::1%25eth0]/"), "ERR: invalid host", "zone id");
    is_str(norm("http://[::1/"), "ERR: not an absolute URL",
           "unclosed bracket");
    is_str(norm(apr_pstrcat(pool, "http://",
                            apr_psprintf(pool, "%0256d", 0), "/", NULL)),
           "ERR: invalid host", "host over 255 bytes");
}

static void test_resolve(void)
{
    const char *base = "http://h:8080/dir/sub/file?q=1";

    is_str(resolve(base, "https://other/x"), "https://other/x", "absolute");
    is_str(resolve(base, "FTP://other/x"), "FTP://other/x",
           "absolute, any scheme (refused when parsed)");
    is_str(resolve(base, "/abs/path"), "http://h:8080/abs/path",
           "absolute path");
    is_str(resolve(base, "rel"), "http://h:8080/dir/sub/rel", "relative");
    is_str(resolve(base, "../up"), "http://h:8080/dir/sub/../up",
           "relative with dot-segments ...");
    is_str(norm(resolve(base, "../up")), "http://h:8080/dir/up",
           "... which normalization removes");
    is_str(resolve(base, "//cdn.example/x"), "http://cdn.example/x",
           "scheme-relative: base's scheme");
    is_str(resolve("https://h/a", "//cdn/x"), "https://cdn/x",
           "scheme-relative from https");
    is_str(resolve(base, "?r=2"), "http://h:8080/dir/sub/file?r=2",
           "query only");
    is_str(resolve(base, "#frag"), "http://h:8080/dir/sub/file?q=1",
           "fragment only: the base");
    is_str(resolve(base, "1a:b"), "http://h:8080/dir/sub/1a:b",
           "a colon after a digit: relative");
    is_str(resolve(base, "a/b:c"), "http://h:8080/dir/sub/a/b:c",
           "a colon after a slash: relative");
    is_str(resolve("http://h", "x"), "http://h/x", "relative to the root");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_split();
    test_normalize();
    test_reject();
    test_resolve();
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
