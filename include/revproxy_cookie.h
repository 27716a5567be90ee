/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_cookie -- the Domain and Path attributes of a backend's
 * Set-Cookie (RevProxyCookieDomain / RevProxyCookiePath).  APR only, no
 * httpd types, so that t/unit/test_cookie.c and fuzz/fuzz_cookie.c link
 * this file alone.
 */
#ifndef REVPROXY_COOKIE_H
#define REVPROXY_COOKIE_H

#include "apr_pools.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One FROM TO pair of a directive. */
typedef struct revproxy_cookie_map {
    const char *from;
    const char *to;
} revproxy_cookie_map;

/* Whether s can be a FROM or TO: no CTL and no ';' (which would start
 * another attribute). */
int revproxy_cookie_value_ok(const char *s);

/* The Set-Cookie value with its Domain and Path attributes rewritten:
 * a Domain equal to a pair's FROM (case-insensitive, a leading dot on
 * either side ignored) becomes that pair's TO; a Path starting with a
 * pair's FROM gets that prefix replaced by TO; the first matching pair
 * of each list wins.  The cookie's name=value and every other byte stay
 * as they are.  Returns value itself when nothing changed, else a copy
 * from p. */
const char *revproxy_cookie_rewrite(apr_pool_t *p, const char *value,
                                    const revproxy_cookie_map *domains,
                                    int ndomains,
                                    const revproxy_cookie_map *paths,
                                    int npaths);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_COOKIE_H */
