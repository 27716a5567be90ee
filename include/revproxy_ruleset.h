/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_ruleset -- which rules a request path can match, without
 * trying every regex.
 *
 * At configuration time each rule is indexed by the literal its regex
 * requires at the start of the subject (the characters after a leading
 * '^' up to the first metacharacter); rules without one stay unindexed.
 * Per request a walk hands out, strictly in configuration order, the rules
 * whose literal is a prefix of the path plus every unindexed rule: the
 * caller runs their regexes (and its own conditions) and stops at the
 * first that holds, so first-match-wins is the same as trying them all.
 * APR only, no httpd types (t/unit/test_ruleset.c links it alone).
 */
#ifndef REVPROXY_RULESET_H
#define REVPROXY_RULESET_H

#include "apr_pools.h"

#include "revproxy_rule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a rule's regex is matched against. */
#define REVPROXY_SUBJECT_DECODED 0  /* the decoded path (r->uri) */
#define REVPROXY_SUBJECT_RAW     1  /* the raw path (nocanon) */
#define REVPROXY_SUBJECT_OTHER   2  /* anything else (RevProxyPassFullURL):
                                       never indexed */

/* The literal every subject pattern matches must start with, or NULL when
 * there is none the index can use: the pattern does not start with '^',
 * has an alternation '|' at its top level, or uses a construct (\Q, the
 * x option, comments, callouts, POSIX classes) the scan does not follow.
 * A literal a quantifier applies to is left out ("^/ab?" -> "/a"). */
const char *revproxy_regex_prefix(apr_pool_t *p, const char *pattern,
                                  apr_size_t *len);

typedef struct revproxy_ruleset revproxy_ruleset;

/* An empty set; rules are numbered 0, 1, ... in the order they are
 * added. */
revproxy_ruleset *revproxy_ruleset_make(apr_pool_t *p, int nrules_hint);

/* Add the next rule: its pattern, compiled regex and subject. */
void revproxy_ruleset_add(revproxy_ruleset *rs, const char *pattern,
                          const revproxy_regex *re, int subject);

/* Build the index once every rule is added (ptemp: scratch). */
void revproxy_ruleset_build(revproxy_ruleset *rs, apr_pool_t *ptemp);

/* Rules added, and how many of them are indexed. */
int revproxy_ruleset_count(const revproxy_ruleset *rs);
int revproxy_ruleset_indexed(const revproxy_ruleset *rs);

/* Whether an indexed rule matches the raw path (so a walk needs it). */
int revproxy_ruleset_needs_raw(const revproxy_ruleset *rs);

/* One request's walk: a cursor per list of candidate rules. */
typedef struct revproxy_ruleset_cursor {
    const int *rules;           /* ascending rule numbers */
    int n;
} revproxy_ruleset_cursor;

#define REVPROXY_RULESET_INLINE 8

typedef struct revproxy_ruleset_walk {
    revproxy_ruleset_cursor *c;
    int nc;
    revproxy_ruleset_cursor inline_c[REVPROXY_RULESET_INLINE];
} revproxy_ruleset_walk;

/* Start a walk for a path: decoded for REVPROXY_SUBJECT_DECODED rules,
 * raw for REVPROXY_SUBJECT_RAW ones (may be NULL when
 * revproxy_ruleset_needs_raw() is 0).  p is used only when more than
 * REVPROXY_RULESET_INLINE lists apply (one allocation). */
void revproxy_ruleset_start(const revproxy_ruleset *rs,
                            revproxy_ruleset_walk *w, apr_pool_t *p,
                            const char *decoded, apr_size_t dlen,
                            const char *raw, apr_size_t rlen);

/* The next candidate rule after the one last returned, in configuration
 * order; -1 when there is none. */
int revproxy_ruleset_next(revproxy_ruleset_walk *w);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_RULESET_H */
