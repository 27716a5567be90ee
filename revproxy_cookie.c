/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_cookie -- Domain and Path of a backend's Set-Cookie.
 *
 * A Set-Cookie value (RFC 6265 section 4.1.1) is name=value followed by
 * attributes, each after a ';'.  Only the value of a Domain or Path
 * attribute may change; the name=value pair is never looked into (a
 * cookie called "Path" stays what it is), and the whitespace around
 * names, '=' and values is kept as the backend wrote it.
 */

#include <string.h>

#include "apr_strings.h"
#include "apr_lib.h"

#include "revproxy_cookie.h"

int revproxy_cookie_value_ok(const char *s)
{
    for (; *s; s++) {
        if (apr_iscntrl((unsigned char)*s) || *s == ';') {
            return 0;
        }
    }
    return 1;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* Domain values compare without a leading dot, case-insensitively. */
static int same_domain(const char *v, apr_size_t n, const char *from)
{
    apr_size_t fl;

    if (n > 0 && v[0] == '.') {
        v++;
        n--;
    }
    if (from[0] == '.') {
        from++;
    }
    fl = strlen(from);
    return fl == n && strncasecmp(v, from, n) == 0;
}

/* The replacement for the value v[0..n) of attribute kind ('d'omain or
 * 'p'ath), or NULL when no pair matches. */
static const char *replace(apr_pool_t *p, char kind, const char *v,
                           apr_size_t n, const revproxy_cookie_map *map,
                           int nmap)
{
    int i;

    for (i = 0; i < nmap; i++) {
        if (kind == 'd') {
            if (same_domain(v, n, map[i].from)) {
                return map[i].to;
            }
        }
        else {
            apr_size_t fl = strlen(map[i].from);
            if (fl <= n && memcmp(v, map[i].from, fl) == 0) {
                return apr_pstrcat(p, map[i].to,
                                   apr_pstrmemdup(p, v + fl, n - fl), NULL);
            }
        }
    }
    return NULL;
}

/* Which attribute name[0..n) is: 'd', 'p' or 0. */
static char attribute_kind(const char *name, apr_size_t n)
{
    if (n == 6 && strncasecmp(name, "domain", 6) == 0) {
        return 'd';
    }
    if (n == 4 && strncasecmp(name, "path", 4) == 0) {
        return 'p';
    }
    return 0;
}

const char *revproxy_cookie_rewrite(apr_pool_t *p, const char *value,
                                    const revproxy_cookie_map *domains,
                                    int ndomains,
                                    const revproxy_cookie_map *paths,
                                    int npaths)
{
    const char *s = strchr(value, ';');
    const char *copied = value;     /* value[0..copied) is in out already */
    char *out = NULL;

    if (s == NULL || (ndomains == 0 && npaths == 0)) {
        return value;
    }
    while (s) {
        const char *name, *name_end, *v, *v_end, *next, *to;
        char kind;

        name = s + 1;
        next = strchr(name, ';');
        v_end = next ? next : name + strlen(name);
        while (name < v_end && is_ws(*name)) {
            name++;
        }
        name_end = name;
        while (name_end < v_end && *name_end != '=') {
            name_end++;
        }
        s = next;
        if (name_end == v_end) {
            continue;               /* a flag attribute (Secure) */
        }
        v = name_end + 1;
        while (name_end > name && is_ws(name_end[-1])) {
            name_end--;
        }
        kind = attribute_kind(name, name_end - name);
        if (kind == 0) {
            continue;
        }
        while (v < v_end && is_ws(*v)) {
            v++;
        }
        while (v_end > v && is_ws(v_end[-1])) {
            v_end--;
        }
        to = kind == 'd' ? replace(p, kind, v, v_end - v, domains, ndomains)
                         : replace(p, kind, v, v_end - v, paths, npaths);
        if (to == NULL) {
            continue;
        }
        out = apr_pstrcat(p, out ? out : "",
                          apr_pstrmemdup(p, copied, v - copied), to, NULL);
        copied = v_end;
    }
    if (out == NULL) {
        return value;
    }
    return apr_pstrcat(p, out, copied, NULL);
}
