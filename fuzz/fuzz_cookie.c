/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_cookie.c -- libFuzzer harness for revproxy_cookie.c: a backend's
 * Set-Cookie value through RevProxyCookieDomain / RevProxyCookiePath.
 *
 * Input: the Set-Cookie value (cut at the first NUL, as a header value
 * is).  Invariants, a broken one aborts:
 *  - without pairs the value itself comes back;
 *  - the name=value part (up to the first ';') is never changed;
 *  - the result has as many ';' as the value (no attribute added or
 *    lost) and no CR or LF the value did not have;
 *  - a Path pair whose TO equals its FROM changes nothing.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "revproxy_cookie.h"

static apr_pool_t *root;

static const revproxy_cookie_map domains[] = {
    { "backend.internal", "www.example.org" },
    { ".a", "" },
};
static const revproxy_cookie_map paths[] = {
    { "/internal/", "/" },
    { "", "/prefix" },
};
static const revproxy_cookie_map same_p[] = { { "/x", "/x" } };

static apr_size_t count(const char *s, char c)
{
    apr_size_t n = 0;

    for (; *s; s++) {
        n += *s == c;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *v, *out;
    apr_size_t head;

    if (root == NULL) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);
    v = apr_pstrmemdup(p, (const char *)data, size);
    head = strcspn(v, ";");

    if (revproxy_cookie_rewrite(p, v, NULL, 0, NULL, 0) != v) {
        abort();
    }
    out = revproxy_cookie_rewrite(p, v, domains, 2, paths, 2);
    if (strncmp(out, v, head) != 0 || strcspn(out, ";") != head
        || count(out, ';') != count(v, ';')
        || count(out, '\r') != count(v, '\r')
        || count(out, '\n') != count(v, '\n')) {
        abort();
    }
    if (strcmp(revproxy_cookie_rewrite(p, v, NULL, 0, same_p, 1), v) != 0) {
        abort();
    }
    apr_pool_destroy(p);
    return 0;
}
