/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_url.c -- libFuzzer harness for revproxy_url.c: X-Reproxy-Url
 * values, URL normalization and redirect resolution.
 *
 * Input: "URL\nLOCATION" (a missing part is empty).  The whole input is
 * also split as an X-Reproxy-Url value.  Invariants, a broken one aborts:
 *  - split: at most max URLs, each non-empty and without whitespace;
 *  - a normalized URL starts with http:// or https://, its host is of
 *    name characters (or a bracketed IPv6 literal), it holds no CTL,
 *    space, DEL, '#' or non-ASCII byte, its path no "." or ".." segment
 *    and no escape of an unreserved character (which would be a dot
 *    segment on a second reading);
 *  - normalizing is idempotent: the normal form parses to itself;
 *  - resolving a Location that is neither absolute nor scheme-relative
 *    gives a URL that parses, on the base's site; whatever resolves and
 *    parses satisfies the invariants above.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include "revproxy_url.h"

#define MAX_URLS 16

static apr_pool_t *root;

static int unreserved(int c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexval(int c)
{
    return apr_isdigit(c) ? c - '0' : apr_tolower(c) - 'a' + 10;
}

static void check_url(apr_pool_t *p, const revproxy_url *u)
{
    const unsigned char *s;
    const char *h, *seg;

    if (strncmp(u->full, "http://", 7) != 0
        && strncmp(u->full, "https://", 8) != 0) {
        abort();
    }
    if (strcmp(u->full, apr_pstrcat(p, u->site, u->path,
                                    u->query ? "?" : "",
                                    u->query ? u->query : "", NULL)) != 0
        || strcmp(u->site, apr_pstrcat(p, u->https ? "https://" : "http://",
                                       u->hostport, NULL)) != 0) {
        abort();
    }
    for (s = (const unsigned char *)u->full; *s; s++) {
        if (*s <= 0x20 || *s >= 0x7f || *s == '#') {
            abort();
        }
    }
    h = u->host;
    if (*h == '[') {
        if (h[strlen(h) - 1] != ']') {
            abort();
        }
        for (h++; *h != ']'; h++) {
            if (!apr_isxdigit(*h) && *h != ':' && *h != '.') {
                abort();
            }
        }
    }
    else {
        if (*h == '\0' || *h == '.' || *h == '-' || strstr(h, "..")) {
            abort();
        }
        for (; *h; h++) {
            if (!(apr_islower(*h) || apr_isdigit(*h) || *h == '-'
                  || *h == '.')) {
                abort();
            }
        }
    }
    if (u->port < 1) {
        abort();
    }
    if (u->path[0] != '/' || strchr(u->path, '?')) {
        abort();
    }
    for (seg = u->path; seg; seg = strchr(seg + 1, '/')) {
        apr_size_t n = strcspn(seg + 1, "/");
        if ((n == 1 && seg[1] == '.')
            || (n == 2 && seg[1] == '.' && seg[2] == '.')) {
            abort();
        }
    }
    for (s = (const unsigned char *)u->path; *s; s++) {
        if (*s == '%') {
            if (!apr_isxdigit(s[1]) || !apr_isxdigit(s[2])
                || unreserved(hexval(s[1]) * 16 + hexval(s[2]))) {
                abort();
            }
        }
    }
}

/* text parses: check it, and that its normal form is a fixed point. */
static const revproxy_url *check_parse(apr_pool_t *p, const char *text)
{
    const char *why = NULL;
    const revproxy_url *u = revproxy_url_parse(p, text, &why), *again;

    if (u == NULL) {
        if (why == NULL) {
            abort();
        }
        return NULL;
    }
    check_url(p, u);
    again = revproxy_url_parse(p, u->full, &why);
    if (again == NULL || strcmp(again->full, u->full) != 0
        || strcmp(again->site, u->site) != 0
        || strcmp(again->path, u->path) != 0
        || strcmp(again->hostport, u->hostport) != 0
        || again->port != u->port || again->https != u->https) {
        abort();
    }
    return u;
}

static int absolute(const char *loc)
{
    const char *s = loc;

    while (apr_isalnum(*s) || *s == '+' || *s == '-' || *s == '.') {
        s++;
    }
    return *s == ':' && s > loc && apr_isalpha(*loc);
}

static void fini(void)
{
    apr_pool_destroy(root);
    apr_terminate();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    apr_array_header_t *urls;
    const revproxy_url *base, *u;
    const char *text, *loc, *res;
    char *copy, *nl;
    int i, dropped;

    if (root == NULL) {
        apr_initialize();
        apr_pool_create(&root, NULL);
        atexit(fini);
    }
    apr_pool_create(&p, root);
    copy = apr_pstrmemdup(p, (const char *)data, size);

    /* The whole input as an X-Reproxy-Url value. */
    urls = apr_array_make(p, 4, sizeof(const char *));
    dropped = revproxy_url_split(p, copy, urls, MAX_URLS);
    if (dropped < 0 || urls->nelts > MAX_URLS
        || (dropped > 0 && urls->nelts != MAX_URLS)) {
        abort();
    }
    for (i = 0; i < urls->nelts; i++) {
        const char *s = APR_ARRAY_IDX(urls, i, const char *);
        if (*s == '\0') {
            abort();
        }
        for (; *s; s++) {
            if (apr_isspace(*s)) {
                abort();
            }
        }
    }

    /* URL and Location. */
    nl = strchr(copy, '\n');
    if (nl) {
        *nl = '\0';
    }
    text = copy;
    loc = nl ? nl + 1 : "";
    base = check_parse(p, text);
    if (base) {
        res = revproxy_url_resolve(p, base, loc);
        u = check_parse(p, res);
        if (!absolute(loc) && !(loc[0] == '/' && loc[1] == '/')) {
            if (u == NULL || strcmp(u->site, base->site) != 0) {
                abort();
            }
        }
    }
    apr_pool_destroy(p);
    return 0;
}
