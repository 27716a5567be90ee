/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_util -- the small checks and conversions that several parts
 * share: durations of the configuration, host names and ports, percent-
 * encoding.  One definition each; APR only, so that both modules, the
 * unit tests and the fuzzers link this file.
 */
#ifndef REVPROXY_UTIL_H
#define REVPROXY_UTIL_H

#include "apr.h"
#include "apr_time.h"
#include "apr_network_io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A duration of the configuration: "250ms", "2s", "1m", "1h" or a bare
 * number of seconds.  APR_EINVAL for anything else. */
apr_status_t revproxy_duration_parse(const char *s, apr_interval_time_t *out);

/* Whether s[0..len) is a host: a name of letters, digits, '-' and '.'
 * (not starting with '.' or '-', no "..", at most 255 bytes), or an IPv6
 * literal in brackets ("[2001:db8::1]"). */
int revproxy_host_valid(const char *s, apr_size_t len);

/* The same without brackets: a name, or with ipv6 set, an IPv6 literal
 * as inet_pton(3) reads it. */
int revproxy_host_name_valid(const char *s, apr_size_t len);
int revproxy_ipv6_valid(const char *s, apr_size_t len);

/* s[0..len) as a port: 1-65535, one to five digits. */
int revproxy_port_parse(const char *s, apr_size_t len, apr_port_t *port);

/* Percent-encode src[0..len) for a URL path or query (set 'p': anything
 * outside RFC 3986 pchar and '/'), or only the bytes no request target
 * may hold (set 'r': CTL, space, DEL, '#' and non-ASCII).  Writes to
 * out, which must have room for 3 * len bytes; returns the bytes
 * written. */
apr_size_t revproxy_url_encode(char *out, const char *src, apr_size_t len,
                               int set);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_UTIL_H */
