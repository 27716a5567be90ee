/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_rule -- regexes and destination templates.
 *
 * Everything here is compiled once at configuration time; a request only
 * matches and fills in captures.  APR and PCRE2 only, no httpd types, so
 * that t/unit/test_rule.c and fuzz/fuzz_rule.c link this file alone.
 */
#ifndef REVPROXY_RULE_H
#define REVPROXY_RULE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_network_io.h"
#include "apr_time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A compiled regular expression. */
typedef struct revproxy_regex {
    pcre2_code *code;
    int ngroups;                /* capture groups, not counting $0 */
} revproxy_regex;

/* Compile pattern (PCRE2, JIT when available); the code is freed with p.
 * Returns NULL or an error message allocated from p. */
const char *revproxy_regex_compile(apr_pool_t *p, const char *pattern,
                                   revproxy_regex **out);

/* Limits of every match (see revproxy_rule.c): steps, backtracking
 * depth, and interpreter memory in KiB (per thread, reused). */
#define REVPROXY_REGEX_MATCH_LIMIT  1000000
#define REVPROXY_REGEX_DEPTH_LIMIT  10000
#define REVPROXY_REGEX_HEAP_KIB     1024

/* In each child (child_init): from now on every thread keeps one match
 * data for all its matches instead of allocating one per match. */
apr_status_t revproxy_regex_child_init(apr_pool_t *pchild);

/* Match subject[0..len).  On a match returns 1 and sets *ovector to
 * (1 + ngroups) pairs of offsets (PCRE2_UNSET for groups that did not
 * take part), a copy in p; 0 when there is no match; a negative PCRE2
 * error code when matching stopped (a limit hit, no memory): count it as
 * no match.  The match data itself is the thread's (after
 * revproxy_regex_child_init; before it, unit tests and fuzzers, one from
 * p per match). */
int revproxy_regex_match(const revproxy_regex *re, const char *subject,
                         apr_size_t len, apr_pool_t *p,
                         const PCRE2_SIZE **ovector);

/* What a negative result of revproxy_regex_match means. */
const char *revproxy_regex_strerror(apr_pool_t *p, int rc);

/* Destination schemes. */
#define REVPROXY_SCHEME_HTTP    1
#define REVPROXY_SCHEME_HTTPS   2
#define REVPROXY_SCHEME_BACKEND 3

/* A destination template: "http://host[:port]/path?query" with $N / \N
 * capture references (or "unix:/ABS/PATH|http://host/path?query": HTTP
 * over that Unix-domain socket, whose path is literal: a capture
 * reference in it is refused at compile time; host is only the Host
 * header; https is refused), compiled into segments that know which URL part
 * they belong to, so that expansion encodes each capture for its place. */
typedef struct revproxy_dest revproxy_dest;

/* Compile text; on success *out is set and NULL returned, else an error
 * message from p.  *max_group receives the highest capture referenced. */
const char *revproxy_dest_compile(apr_pool_t *p, const char *text,
                                  revproxy_dest **out, int *max_group);

/* The configured text, the scheme, and for backend:// the group name. */
const char *revproxy_dest_text(const revproxy_dest *d);
/* The socket path of a unix: destination, else NULL. */
const char *revproxy_dest_socket(const revproxy_dest *d);
int revproxy_dest_scheme(const revproxy_dest *d);
const char *revproxy_dest_backend(const revproxy_dest *d);

/* The result of an expansion. */
typedef struct revproxy_target {
    int scheme;                 /* REVPROXY_SCHEME_* */
    const char *host;           /* host name, IP, or "[v6]"; for backend://
                                   the group name */
    apr_port_t port;            /* 0 for backend:// */
    const char *hostport;       /* for the Host header: host[:port], the
                                   port left out when it is the default */
    const char *path;           /* "/path[?query]", always starts with / */
    const char *sock;           /* unix: the socket path (the template's,
                                   never from captures), else NULL */
} revproxy_target;

/* Expansion results. */
#define REVPROXY_EXPAND_OK       0
#define REVPROXY_EXPAND_BADHOST  1  /* a capture made an invalid host */
#define REVPROXY_EXPAND_BADPORT  2  /* a capture made an invalid port */

/* Fill t from d with the captures of subject.  raw: captures are copied as
 * they are (nocanon) except for bytes that may never appear in a request
 * target (CTLs, space, DEL, non-ASCII), which are still encoded.  args,
 * when not NULL, is the client's query, appended with '?' or '&'.  On a
 * bad host/port, *why describes it. */
int revproxy_dest_expand(apr_pool_t *p, const revproxy_dest *d,
                         const char *subject, const PCRE2_SIZE *ovector,
                         int ngroups, int raw, const char *args,
                         revproxy_target *t, const char **why);

/* Substitute $N / \N in a plain replacement (RevProxyRewriteHeader):
 * no encoding; CR, LF and NUL from anywhere are dropped. */
typedef struct revproxy_subst revproxy_subst;
const char *revproxy_subst_compile(apr_pool_t *p, const char *text,
                                   revproxy_subst **out, int *max_group);
const char *revproxy_subst_expand(apr_pool_t *p, const revproxy_subst *s,
                                  const char *subject,
                                  const PCRE2_SIZE *ovector, int ngroups);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_RULE_H */
