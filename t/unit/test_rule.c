/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * Unit tests for revproxy_rule.c: regex matching, destination templates,
 * capture encoding per URL part, host/port validation, header
 * substitution.  TAP output.
 */

#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "revproxy_rule.h"
#include "revproxy_util.h"
#include "tap.h"

static apr_pool_t *pool;

/* Match pattern against subject and expand dest; returns the expansion
 * result and fills t. */
static int expand(const char *pattern, const char *dest, const char *subject,
                  int raw, const char *args, revproxy_target *t,
                  const char **err)
{
    revproxy_regex *re;
    revproxy_dest *d;
    const PCRE2_SIZE *ov = NULL;
    const char *why = NULL;
    int maxg, rc;

    *err = revproxy_regex_compile(pool, pattern, &re);
    if (*err) {
        return -1;
    }
    *err = revproxy_dest_compile(pool, dest, &d, &maxg);
    if (*err) {
        return -1;
    }
    if (revproxy_regex_match(re, subject, strlen(subject), pool, &ov) != 1) {
        *err = "no match";
        return -1;
    }
    rc = revproxy_dest_expand(pool, d, subject, ov, re->ngroups, raw, args,
                              t, &why);
    if (rc != REVPROXY_EXPAND_OK) {
        *err = why;
    }
    return rc;
}

static void test_plain(void)
{
    revproxy_target t;
    const char *err;

    is_int(expand("^/app/(.*)$", "http://127.0.0.1:8080/$1", "/app/a/b.html",
                  0, NULL, &t, &err), REVPROXY_EXPAND_OK, "simple expand");
    is_str(t.host, "127.0.0.1", "host");
    is_int(t.port, 8080, "port");
    is_str(t.hostport, "127.0.0.1:8080", "hostport keeps a non-default port");
    is_str(t.path, "/a/b.html", "slashes in a path capture stay");

    expand("^/x/(.*)$", "http://example.org/y/\\1", "/x/z", 0, "q=1&r=2",
           &t, &err);
    is_str(t.hostport, "example.org", "default port left out of Host");
    is_int(t.port, 80, "default http port");
    is_str(t.path, "/y/z?q=1&r=2", "backslash capture, query appended");

    expand("^/x/(.*)$", "https://example.org/y?a=$1", "/x/z", 0, "q=1", &t,
           &err);
    is_int(t.port, 443, "default https port");
    is_int(t.scheme, REVPROXY_SCHEME_HTTPS, "https scheme");
    is_str(t.path, "/y?a=z&q=1", "query appended with & when DEST has one");

    expand("^/(.*)$", "http://h", "/abc", 0, NULL, &t, &err);
    is_str(t.path, "/", "no path in DEST means /");

    expand("^/(.*)$", "http://h/$$x$1", "/abc", 0, NULL, &t, &err);
    is_str(t.path, "/$xabc", "$$ is a literal dollar");

    expand("^/(a)?(.*)$", "http://h/[$1][$2]", "/zz", 0, NULL, &t, &err);
    is_str(t.path, "/[][zz]", "an unset group expands to nothing");
}

static void test_encoding(void)
{
    revproxy_target t;
    const char *err;

    expand("^/p/(.*)$", "http://h/$1", "/p/a b\r\nX-Evil: 1", 0, NULL, &t,
           &err);
    is_str(t.path, "/a%20b%0D%0AX-Evil:%201",
           "CR, LF and space in a path capture are encoded");

    expand("^/p/(.*)$", "http://h/$1", "/p/50%?#x", 0, NULL, &t, &err);
    is_str(t.path, "/50%25%3F%23x", "%%, ? and # are encoded");

    expand("^/p/(.*)$", "http://h/q?v=$1", "/p/a&b=c d", 0, NULL, &t, &err);
    is_str(t.path, "/q?v=a&b=c%20d", "query capture keeps sub-delims");

    expand("^/p/(.*)$", "http://h/$1", "/p/\xc3\xa9t\xc3\xa9", 0, NULL, &t,
           &err);
    is_str(t.path, "/%C3%A9t%C3%A9", "non-ASCII encoded");

    expand("^/p/(.*)$", "http://h/$1", "/p/%2F..%41", 1, NULL, &t, &err);
    is_str(t.path, "/%2F..%41", "nocanon passes captures unchanged");

    expand("^/p/(.*)$", "http://h/$1", "/p/x", 0, "\xff\xfe\x01 ", &t, &err);
    is_str(t.path, "/x?%FF%FE%01%20",
           "a query of bytes that need encoding fits (fuzzer find)");

    expand("^/p/(.*)$", "http://h/$1", "/p/a b\n", 1, NULL, &t, &err);
    is_str(t.path, "/a%20b%0A", "nocanon still never lets CTL or space out");
}

static void test_host_captures(void)
{
    revproxy_target t;
    const char *err;

    is_int(expand("^/h/([^/]*)/(.*)$", "http://$1.internal:81/$2",
                  "/h/app-1/x", 0, NULL, &t, &err),
           REVPROXY_EXPAND_OK, "host capture of name characters");
    is_str(t.host, "app-1.internal", "host from capture");
    is_str(t.hostport, "app-1.internal:81", "hostport");

    is_int(expand("^/h/([^/]*)/(.*)$", "http://$1.internal/$2",
                  "/h/a\r\nb/x", 0, NULL, &t, &err),
           REVPROXY_EXPAND_BADHOST, "CR/LF in a host capture is refused");
    is_int(expand("^/h/([^/]*)/(.*)$", "http://$1/$2", "/h/evil.com@good/x",
                  0, NULL, &t, &err),
           REVPROXY_EXPAND_BADHOST, "@ in a host capture is refused");
    is_int(expand("^/h/([^/]*)/(.*)$", "http://$1/$2", "/h/a:99/x", 0, NULL,
                  &t, &err),
           REVPROXY_EXPAND_BADHOST, "':' in a host capture is refused");
    is_int(expand("^/h/(.*)$", "http://$1/", "/h/", 0, NULL, &t, &err),
           REVPROXY_EXPAND_BADHOST, "empty host is refused");
    is_int(expand("^/h/(.*)$", "http://$1/", "/h/a..b", 0, NULL, &t, &err),
           REVPROXY_EXPAND_BADHOST, "empty label is refused");

    is_int(expand("^/p/(\\d+)/(.*)$", "http://127.0.0.1:$1/$2", "/p/8080/x",
                  0, NULL, &t, &err), REVPROXY_EXPAND_OK, "port capture");
    is_int(t.port, 8080, "port from capture");
    is_int(expand("^/p/(\\d+)/(.*)$", "http://127.0.0.1:$1/$2", "/p/0/x",
                  0, NULL, &t, &err), REVPROXY_EXPAND_BADPORT, "port 0");
    is_int(expand("^/p/(\\d+)/(.*)$", "http://127.0.0.1:$1/$2",
                  "/p/65536/x", 0, NULL, &t, &err),
           REVPROXY_EXPAND_BADPORT, "port 65536");
    is_int(expand("^/p/([^/]*)/(.*)$", "http://127.0.0.1:$1/$2",
                  "/p/80x/x", 0, NULL, &t, &err),
           REVPROXY_EXPAND_BADPORT, "letters in a port capture");

    is_int(expand("^/v6/(.*)$", "http://[::1]:8080/$1", "/v6/x", 0, NULL,
                  &t, &err), REVPROXY_EXPAND_OK, "IPv6 literal");
    is_str(t.host, "[::1]", "IPv6 host kept in brackets");
}

static void test_compile_errors(void)
{
    revproxy_dest *d;
    revproxy_regex *re;
    int maxg;

    ok(revproxy_dest_compile(pool, "ftp://x/", &d, &maxg) != NULL,
       "ftp:// refused");
    ok(revproxy_dest_compile(pool, "http://user@x/", &d, &maxg) != NULL,
       "userinfo refused");
    ok(revproxy_dest_compile(pool, "http:///x", &d, &maxg) != NULL,
       "no host refused");
    ok(revproxy_dest_compile(pool, "http://x:99999/", &d, &maxg) != NULL,
       "bad static port refused");
    ok(revproxy_dest_compile(pool, "http://x/a b", &d, &maxg) != NULL,
       "space in DEST refused");
    ok(revproxy_dest_compile(pool, "backend://grp:80/", &d, &maxg) != NULL,
       "port on backend:// refused");
    ok(revproxy_dest_compile(pool, "backend://$1/", &d, &maxg) != NULL,
       "capture in a backend name refused");
    ok(revproxy_dest_compile(pool, "http://h/$7", &d, &maxg) == NULL
       && maxg == 7, "highest group reported");
    ok(revproxy_dest_compile(pool, "backend://grp/x", &d, &maxg) == NULL
       && strcmp(revproxy_dest_backend(d), "grp") == 0, "backend name");
    ok(revproxy_regex_compile(pool, "^/(unclosed", &re) != NULL,
       "bad regex refused");
    ok(revproxy_regex_compile(pool, "^/(a)(b)?$", &re) == NULL
       && re->ngroups == 2, "group count");
}

/* unix:/PATH|http://HOST/...: the path is literal and from the
 * configuration only; captures may fill the request path as usual. */
static void test_unix(void)
{
    revproxy_dest *d;
    revproxy_target t;
    const char *err;
    int maxg;

    is_int(expand("^/u/(.*)$", "unix:/run/app.sock|http://app/base/$1",
                  "/u/a%20b", 0, "q=1", &t, &err), REVPROXY_EXPAND_OK,
           "unix destination expands");
    is_str(t.sock, "/run/app.sock", "socket path");
    is_str(t.hostport, "app", "Host from the part after '|'");
    is_str(t.path, "/base/a%2520b?q=1", "path and query as for http");
    ok(revproxy_dest_compile(pool, "unix:/run/a.sock|http://app:81/", &d,
                             &maxg) == NULL
       && strcmp(revproxy_dest_socket(d), "/run/a.sock") == 0
       && revproxy_dest_scheme(d) == REVPROXY_SCHEME_HTTP,
       "unix: is plain HTTP with a socket");
    ok(revproxy_dest_compile(pool, "http://app/", &d, &maxg) == NULL
       && revproxy_dest_socket(d) == NULL, "http:// has no socket");
    err = revproxy_dest_compile(pool, "unix:/run/$1.sock|http://app/", &d,
                                &maxg);
    ok(err && strstr(err, "capture reference"), "$1 in the path refused");
    ok(revproxy_dest_compile(pool, "unix:/run/\\1.sock|http://app/", &d,
                             &maxg) != NULL, "\\1 in the path refused");
    ok(revproxy_dest_compile(pool, "unix:run/a.sock|http://app/", &d,
                             &maxg) != NULL, "relative path refused");
    ok(revproxy_dest_compile(pool, "unix:/run/a.sock|https://app/", &d,
                             &maxg) != NULL, "https after '|' refused");
    ok(revproxy_dest_compile(pool, "unix:/run/a.sock|backend://g/", &d,
                             &maxg) != NULL, "backend:// after '|' refused");
    ok(revproxy_dest_compile(pool, "unix:/run/a.sock", &d, &maxg) != NULL,
       "no '|' refused");
    ok(revproxy_dest_compile(pool, apr_pstrcat(pool, "unix:/",
                             apr_psprintf(pool, "%0200d", 0),
                             "|http://app/", NULL), &d, &maxg) != NULL,
       "path too long for sun_path refused");
}

static void test_subst(void)
{
    revproxy_regex *re;
    revproxy_subst *s;
    const PCRE2_SIZE *ov;
    const char *v = "http://my.newaddress.org/a/b";
    int maxg;

    revproxy_regex_compile(pool, "^http://my\\.newaddress\\.org/(.*)$", &re);
    ok(revproxy_subst_compile(pool, "http://my.publicaddress.org/$1", &s,
                              &maxg) == NULL && maxg == 1, "subst compiles");
    ok(revproxy_regex_match(re, v, strlen(v), pool, &ov) == 1, "matches");
    is_str(revproxy_subst_expand(pool, s, v, ov, re->ngroups),
           "http://my.publicaddress.org/a/b", "Location rewritten");
    ok(revproxy_regex_match(re, "nope", 4, pool, &ov) == 0, "no match");
}

static void test_duration(void)
{
    apr_interval_time_t t = 0;

    ok(revproxy_duration_parse("250ms", &t) == APR_SUCCESS
       && t == apr_time_from_msec(250), "250ms");
    ok(revproxy_duration_parse("2s", &t) == APR_SUCCESS
       && t == apr_time_from_sec(2), "2s");
    ok(revproxy_duration_parse("7", &t) == APR_SUCCESS
       && t == apr_time_from_sec(7), "a bare number is seconds");
    ok(revproxy_duration_parse("1m", &t) == APR_SUCCESS
       && t == apr_time_from_sec(60), "1m is a minute");
    ok(revproxy_duration_parse("1h", &t) == APR_SUCCESS
       && t == apr_time_from_sec(3600), "1h");
    ok(revproxy_duration_parse("2x", &t) != APR_SUCCESS, "2x refused");
    ok(revproxy_duration_parse("-1", &t) != APR_SUCCESS, "-1 refused");
    ok(revproxy_duration_parse("", &t) != APR_SUCCESS, "empty refused");
    ok(revproxy_duration_parse("99999999999999999999", &t) != APR_SUCCESS,
       "overflow refused");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);

    test_plain();
    test_encoding();
    test_host_captures();
    test_compile_errors();
    test_unix();
    test_subst();
    test_duration();
    return done_testing();
}
