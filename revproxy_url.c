/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_url -- X-Reproxy-Url values, absolute http(s) URLs in normal
 * form, redirects (see include/revproxy_url.h).
 *
 * Normalization follows RFC 3986 6.2.2 so that an allow-list cannot be
 * passed with a spelling the fetched server reads differently:
 * "/a/%2e%2e/b" and "/a/../b" are both "/b" before ReproxyAllow sees
 * them, and a stray '%' becomes "%25" so that "%%32e" cannot turn into
 * "%2e" on a second reading.
 */

#include <string.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_uri.h"

#include "revproxy_url.h"
#include "revproxy_util.h"

/* ---------------------------------------------------------------------- */
/* Splitting                                                               */

int revproxy_url_split(apr_pool_t *p, const char *value,
                       apr_array_header_t *urls, int max)
{
    const char *s = value;
    int dropped = 0;

    for (;;) {
        const char *start;
        apr_size_t len;

        while (apr_isspace(*s)) {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        start = s;
        while (*s && !apr_isspace(*s)) {
            s++;
        }
        len = s - start;
        if (len > 1 && start[len - 1] == ',') {
            const char *t = s;
            while (apr_isspace(*t)) {
                t++;
            }
            if (*t) {
                len--;          /* "a, b": the comma httpd added */
            }
        }
        if (urls->nelts >= max) {
            dropped++;
            continue;
        }
        *(const char **)apr_array_push(urls) = apr_pstrmemdup(p, start, len);
    }
    return dropped;
}

/* ---------------------------------------------------------------------- */
/* Normalization                                                           */

static int unreserved(int c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexval(int c)
{
    return apr_isdigit(c) ? c - '0' : apr_tolower(c) - 'a' + 10;
}

/* Percent-encode the bytes no request target may hold. */
static const char *encode(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s);
    char *out = apr_palloc(p, 3 * n + 1);

    out[revproxy_url_encode(out, s, n, 'r')] = '\0';
    return out;
}

/* RFC 3986 6.2.2: decode percent-encoded unreserved characters (a '%'
 * that starts no escape becomes "%25"), then remove dot-segments (5.2.4),
 * then encode the forbidden bytes.  in starts with '/'. */
static const char *normalize_path(apr_pool_t *p, const char *in)
{
    apr_size_t n = strlen(in);
    char *dec = apr_palloc(p, 3 * n + 2), *o = dec, *out, *w;
    const char *s;

    for (s = in; *s; s++) {
        if (s[0] == '%' && apr_isxdigit(s[1]) && apr_isxdigit(s[2])) {
            int c = hexval(s[1]) * 16 + hexval(s[2]);
            if (unreserved(c)) {
                *o++ = (char)c;
                s += 2;
                continue;
            }
        }
        else if (s[0] == '%') {
            *o++ = '%';
            *o++ = '2';
            *o++ = '5';
            continue;
        }
        *o++ = *s;
    }
    *o = '\0';

    out = w = apr_palloc(p, (o - dec) + 2);
    s = dec;
    while (*s) {
        if (strncmp(s, "../", 3) == 0) {
            s += 3;
        }
        else if (strncmp(s, "./", 2) == 0) {
            s += 2;
        }
        else if (strncmp(s, "/./", 3) == 0) {
            s += 2;
        }
        else if (strcmp(s, "/.") == 0) {
            s = "/";
        }
        else if (strncmp(s, "/../", 4) == 0 || strcmp(s, "/..") == 0) {
            s = (s[3] == '/') ? s + 3 : "/";
            while (w > out && *--w != '/') {
                ;
            }
            *w = '\0';
        }
        else if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
            break;
        }
        else {
            do {
                *w++ = *s++;
            } while (*s && *s != '/');
        }
    }
    *w = '\0';
    if (*out != '/') {
        return encode(p, apr_pstrcat(p, "/", out, NULL));
    }
    return encode(p, out);
}

revproxy_url *revproxy_url_parse(apr_pool_t *p, const char *text,
                                 const char **why)
{
    revproxy_url *u = apr_pcalloc(p, sizeof(*u));
    apr_uri_t uri;
    const char *scheme;
    char *host, *c;
    apr_port_t dflt;

    if (apr_uri_parse(p, text, &uri) != APR_SUCCESS || !uri.scheme) {
        *why = "not an absolute URL";
        return NULL;
    }
    if (strcasecmp(uri.scheme, "http") == 0) {
        scheme = "http";
        dflt = 80;
    }
    else if (strcasecmp(uri.scheme, "https") == 0) {
        scheme = "https";
        dflt = 443;
        u->https = 1;
    }
    else {
        *why = "not an http or https URL";
        return NULL;
    }
    if (!uri.hostname || !*uri.hostname) {
        *why = "no host in the URL";
        return NULL;
    }
    if (uri.user || uri.password) {
        *why = "user info in the URL is not allowed";
        return NULL;
    }
    if (uri.hostname == NULL || uri.hostinfo == NULL
        || !(uri.hostinfo[0] == '['
             ? revproxy_ipv6_valid(uri.hostname, strlen(uri.hostname))
             : revproxy_host_name_valid(uri.hostname,
                                        strlen(uri.hostname)))) {
        *why = "invalid host";
        return NULL;
    }
    host = apr_pstrdup(p, uri.hostname);
    for (c = host; *c; c++) {
        *c = apr_tolower(*c);
    }
    u->host = (uri.hostinfo[0] == '[') ? apr_pstrcat(p, "[", host, "]", NULL)
                                       : host;
    u->port = dflt;
    if (uri.port_str && *uri.port_str
        && !revproxy_port_parse(uri.port_str, strlen(uri.port_str), &u->port)) {
        *why = "invalid port";
        return NULL;
    }
    u->hostport = (u->port == dflt)
                  ? u->host
                  : apr_psprintf(p, "%s:%u", u->host, (unsigned)u->port);
    u->site = apr_pstrcat(p, scheme, "://", u->hostport, NULL);
    u->path = normalize_path(p, (uri.path && *uri.path) ? uri.path : "/");
    u->query = uri.query ? encode(p, uri.query) : NULL;
    u->full = apr_pstrcat(p, u->site, u->path, u->query ? "?" : "",
                          u->query ? u->query : "", NULL);
    return u;
}

/* ---------------------------------------------------------------------- */
/* Redirects                                                               */

const char *revproxy_url_resolve(apr_pool_t *p, const revproxy_url *base,
                                 const char *loc)
{
    const char *s = loc, *q;

    while (apr_isalnum(*s) || *s == '+' || *s == '-' || *s == '.') {
        s++;
    }
    if (*s == ':' && s > loc && apr_isalpha(*loc)) {
        return loc;                                 /* absolute */
    }
    if (loc[0] == '/' && loc[1] == '/') {
        return apr_pstrcat(p, base->https ? "https:" : "http:", loc, NULL);
    }
    if (loc[0] == '/') {
        return apr_pstrcat(p, base->site, loc, NULL);
    }
    if (loc[0] == '?') {
        return apr_pstrcat(p, base->site, base->path, loc, NULL);
    }
    if (loc[0] == '#' || loc[0] == '\0') {
        return base->full;
    }
    q = strrchr(base->path, '/');
    return apr_pstrcat(p, base->site,
                       apr_pstrndup(p, base->path, q - base->path + 1), loc,
                       NULL);
}
