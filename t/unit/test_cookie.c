/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * Unit tests for revproxy_cookie.c: RevProxyCookieDomain and
 * RevProxyCookiePath on Set-Cookie values.  TAP output.
 */

#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "revproxy_cookie.h"
#include "tap.h"

static apr_pool_t *pool;

static const revproxy_cookie_map domains[] = {
    { "backend.internal", "www.example.org" },
    { ".other.internal", "" },
    { "backend.internal", "never.example.org" },     /* the first wins */
};
static const revproxy_cookie_map paths[] = {
    { "/internal/app/", "/app/" },
    { "/internal/", "/" },
};

static const char *rw(const char *v)
{
    return revproxy_cookie_rewrite(pool, v, domains, 3, paths, 2);
}

static void test_domain(void)
{
    is_str(rw("a=1; Domain=backend.internal"), "a=1; Domain=www.example.org",
           "Domain equal to FROM becomes TO");
    is_str(rw("a=1; Domain=.BACKEND.internal; Secure"),
           "a=1; Domain=www.example.org; Secure",
           "leading dot and case ignored");
    is_str(rw("a=1; domain = backend.internal ;HttpOnly"),
           "a=1; domain = www.example.org ;HttpOnly",
           "whitespace and the attribute's spelling kept");
    is_str(rw("a=1; Domain=sub.backend.internal"),
           "a=1; Domain=sub.backend.internal", "a subdomain is not equal");
    is_str(rw("a=1; Domain=other.internal; Path=/x"),
           "a=1; Domain=; Path=/x", "TO may be empty");
    is_str(rw("a=1; Domain=backend.internal; Domain=backend.internal"),
           "a=1; Domain=www.example.org; Domain=www.example.org",
           "every Domain attribute");
}

static void test_path(void)
{
    is_str(rw("s=x; Path=/internal/app/login"), "s=x; Path=/app/login",
           "Path prefix replaced, the first matching pair");
    is_str(rw("s=x; Path=/internal/other"), "s=x; Path=/other",
           "the second pair");
    is_str(rw("s=x; Path=/intern"), "s=x; Path=/intern", "no prefix match");
    is_str(rw("s=x; PATH=/Internal/"), "s=x; PATH=/Internal/",
           "Path compares case-sensitively");
    is_str(rw("s=x; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/internal/;"
              " Domain=backend.internal; SameSite=Lax"),
           "s=x; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/; "
           "Domain=www.example.org; SameSite=Lax",
           "both, other attributes byte for byte");
}

static void test_untouched(void)
{
    const char *v = "Path=/internal/; Max-Age=3";
    const char *w = "Domain=backend.internal";

    ok(rw(v) == v, "a cookie named Path is not an attribute");
    ok(rw(w) == w, "no attribute at all: the same value");
    is_str(rw("a=b; Path"), "a=b; Path", "an attribute without '='");
    is_str(rw("a=b;;; Path=/internal/x;"), "a=b;;; Path=/x;",
           "empty attributes kept");
    is_str(rw("a=\"q;Path=/internal/\"; Path=/internal/"),
           "a=\"q;Path=/\"; Path=/",
           "a ';' inside quotes still ends the pair (as browsers read it)");
    is_str(rw(""), "", "empty value");
    is_str(revproxy_cookie_rewrite(pool, "a=1; Path=/internal/", NULL, 0,
                                   NULL, 0),
           "a=1; Path=/internal/", "no pairs: unchanged");
}

static void test_value_ok(void)
{
    ok(revproxy_cookie_value_ok("/app/"), "a path");
    ok(revproxy_cookie_value_ok(""), "empty");
    ok(!revproxy_cookie_value_ok("/a;b"), "';' refused");
    ok(!revproxy_cookie_value_ok("/a\r\nX: y"), "CR LF refused");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_domain();
    test_path();
    test_untouched();
    test_value_ok();
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
