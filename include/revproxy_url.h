/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_url -- the URLs of X-Reproxy-Url: splitting a field value,
 * parsing and normalizing an absolute http(s) URL, resolving a redirect's
 * Location.
 *
 * What ReproxyAllow sees is what gets fetched: mod_reproxy_filter matches
 * the normalized form, and mod_revproxy's fetch parses that same form
 * again (normalizing is idempotent).  APR and apr-util only, no httpd
 * types, so that t/unit/test_url.c and fuzz/fuzz_url.c link this file
 * alone.
 */
#ifndef REVPROXY_URL_H
#define REVPROXY_URL_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_network_io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An absolute http(s) URL in normal form: scheme and host in lower case,
 * the default port left out, percent-encoded unreserved characters
 * decoded, dot-segments removed, CTL, space, DEL and non-ASCII bytes
 * (and a '%' that starts no escape) percent-encoded, no fragment. */
typedef struct revproxy_url {
    const char *full;           /* scheme://host[:port]/path[?query] */
    const char *site;           /* scheme://host[:port] */
    const char *path;           /* /path, always starts with '/' */
    const char *query;          /* after the '?', or NULL for none */
    const char *host;           /* lower case; an IPv6 literal bracketed */
    const char *hostport;       /* host[:port] as a Host field has it */
    apr_port_t port;            /* 1-65535, the default filled in */
    int https;                  /* 1 for https, 0 for http */
} revproxy_url;

/* Append the URLs of one X-Reproxy-Url value to urls (const char *,
 * copies from p): split on any whitespace; a trailing ',' that httpd
 * added when it joined repeated fields ("a, b") is dropped.  An empty or
 * blank value has none.  urls holds at most max entries; returns how
 * many more there were (ignored). */
int revproxy_url_split(apr_pool_t *p, const char *value,
                       apr_array_header_t *urls, int max);

/* Parse and normalize an absolute http or https URL.  The host must be
 * letters, digits, '-' and '.' (no leading '.' or '-', no "..", at most
 * 255 bytes) or a bracketed IPv6 literal; the port 1-65535; no user
 * info.  Returns NULL and sets *why (a static string) on error. */
revproxy_url *revproxy_url_parse(apr_pool_t *p, const char *text,
                                 const char **why);

/* Resolve a redirect's Location against base (RFC 3986 5.2).  An
 * absolute Location is returned as it is, a scheme-relative one gets
 * base's scheme: both may name any site, and may be invalid, so the
 * caller checks the result with revproxy_url_parse like any URL.  Any
 * other Location stays on base's site and always parses.  The result is
 * not normalized. */
const char *revproxy_url_resolve(apr_pool_t *p, const revproxy_url *base,
                                 const char *loc);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_URL_H */
