/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * Unit tests for revproxy_ruleset.c: the literal prefix of a pattern, and
 * the index against a plain linear walk over thousands of generated rules
 * (indexed and unindexed interleaved, nocanon, (?i), alternations, full
 * URLs) for many random paths; plus the match limits of revproxy_rule.c
 * with and without JIT.  TAP output.
 */

#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_time.h"

#include "revproxy_rule.h"
#include "revproxy_ruleset.h"
#include "tap.h"

static apr_pool_t *pool;

/* ---------------------------------------------------------------------- */

static void prefix_is(const char *pattern, const char *want)
{
    apr_size_t len = 0;
    const char *got = revproxy_regex_prefix(pool, pattern, &len);

    if (want == NULL) {
        ok(got == NULL, "%s: no prefix (got %s)", pattern,
           got ? got : "none");
    }
    else {
        ok(got && len == strlen(want) && memcmp(got, want, len) == 0,
           "%s: prefix %s (got %s)", pattern, want, got ? got : "none");
    }
}

static void test_prefix(void)
{
    prefix_is("^/t0001/api/(.*)$", "/t0001/api/");
    prefix_is("^/app$", "/app");
    prefix_is("^/a\\.b/c", "/a.b/c");
    prefix_is("^/a\\/b", "/a/b");
    prefix_is("^/ab?", "/a");
    prefix_is("^/ab\\E?", "/a");
    prefix_is("^/ab\\E+", "/a");
    prefix_is("^/a\\.\\E*", "/a");
    prefix_is("^/ab\\E\\E{0}x", "/a");
    prefix_is("^/api\\d+/", "/api");
    prefix_is("^/ab*c", "/a");
    prefix_is("^/ab+c", "/a");
    prefix_is("^/ab{2}", "/a");
    prefix_is("^/a\\.?x", "/a");
    prefix_is("^/a.b", "/a");
    prefix_is("^/a[bc]", "/a");
    prefix_is("^/a(b|c)", "/a");
    prefix_is("^/a\\d", "/a");
    prefix_is("^/a\\x41", "/a");
    prefix_is("^/a\\Eb", "/a");
    prefix_is("^/a}]#", "/a}]#");
    prefix_is("^/a(?i)b", "/a");
    prefix_is("^/x[|]y", "/x");
    prefix_is("^/x[]|]y", "/x");
    prefix_is("^/x\\|y", "/x|y");
    prefix_is("^/x(?:a|b)|", NULL);
    prefix_is("^/a|^/b", NULL);
    prefix_is("^/a|/b", NULL);
    prefix_is("^/a(b)|c", NULL);
    prefix_is("(?i)^/a", NULL);
    prefix_is("^(?i)/a", NULL);
    prefix_is("/a", NULL);
    prefix_is("^(.*)$", NULL);
    prefix_is("^.a", NULL);
    prefix_is("^/?a", NULL);
    prefix_is("^\\Q/a\\E", NULL);
    prefix_is("^/a\\Q|\\E", NULL);
    prefix_is("^/a(?x) | b", NULL);
    prefix_is("^/a(?#(|)b", NULL);
    prefix_is("^/a[[:alpha:]|]", NULL);
    prefix_is("^/a\\c(|x", NULL);   /* \c( is a control char: one more ( */
    prefix_is("^/a(", NULL);
    prefix_is("(*NO_JIT)^/a", NULL);
}

/* ---------------------------------------------------------------------- */
/* Random rules against a linear walk                                      */

static apr_uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (unsigned)(rnd_state % n);
}

/* A literal path of 1..4 short segments over a small alphabet, so that
 * prefixes of rules and paths overlap often. */
static const char *random_literal(void)
{
    static const char *const pieces[] = { "/", "a", "b", "ab", "t1", "t2",
                                          "api", ".", "-", "x" };
    char *s = apr_pstrdup(pool, "/");
    int n = 1 + rnd(5), i;

    for (i = 0; i < n; i++) {
        s = apr_pstrcat(pool, s, pieces[rnd(10)], NULL);
    }
    return s;
}

/* The literal as a regex: '.' escaped, '/' sometimes escaped. */
static const char *quote(const char *lit)
{
    char *out = apr_palloc(pool, 2 * strlen(lit) + 1), *o = out;

    for (; *lit; lit++) {
        if (*lit == '.' || (*lit == '/' && rnd(4) == 0)) {
            *o++ = '\\';
        }
        *o++ = *lit;
    }
    *o = '\0';
    return out;
}

typedef struct {
    const char *pattern;
    revproxy_regex *re;
    int subject;
} trule;

static const char *random_pattern(int *subject)
{
    static const char *const tails[] = {
        "", "$", "(.*)$", "[ab]+$", "b?", "a*$", "\\.?a", "b{2}", "/",
        "(a|b)", "(?i)B", "x?$", "(?:/|$)"
    };
    const char *lit = quote(random_literal());
    const char *tail = tails[rnd(sizeof(tails) / sizeof(tails[0]))];

    *subject = rnd(5) == 0 ? REVPROXY_SUBJECT_RAW : REVPROXY_SUBJECT_DECODED;
    switch (rnd(12)) {
    case 0:                     /* unindexed kinds */
        return apr_pstrcat(pool, "(?i)^", lit, tail, NULL);
    case 1:
        return apr_pstrcat(pool, "^", lit, "|^", quote(random_literal()),
                           NULL);
    case 2:
        return apr_pstrcat(pool, lit, tail, NULL);
    case 3:
        return apr_pstrcat(pool, "^(?:", lit, "|", quote(random_literal()),
                           ")", tail, NULL);
    case 4:
        *subject = REVPROXY_SUBJECT_OTHER;
        return apr_pstrcat(pool, "^http://h:80", lit, tail, NULL);
    default:                    /* indexed */
        return apr_pstrcat(pool, "^", lit, tail, NULL);
    }
}

/* The raw form of a decoded path: some bytes percent-encoded. */
static const char *encode_some(const char *path)
{
    char *out = apr_palloc(pool, 3 * strlen(path) + 1), *o = out;

    for (; *path; path++) {
        if (*path != '/' && rnd(4) == 0) {
            o += sprintf(o, "%%%02X", (unsigned char)*path);
        }
        else {
            *o++ = *path;
        }
    }
    *o = '\0';
    return out;
}

static const char *subject_of(const trule *r, const char *decoded,
                              const char *raw, const char *full)
{
    return r->subject == REVPROXY_SUBJECT_RAW ? raw
         : r->subject == REVPROXY_SUBJECT_OTHER ? full : decoded;
}

static int matches(const trule *r, const char *decoded, const char *raw,
                   const char *full)
{
    const PCRE2_SIZE *ov;
    const char *s = subject_of(r, decoded, raw, full);

    return revproxy_regex_match(r->re, s, strlen(s), pool, &ov) == 1;
}

static void test_against_linear(int nrules, int npaths)
{
    trule *rules = apr_pcalloc(pool, nrules * sizeof(*rules));
    revproxy_ruleset *rs = revproxy_ruleset_make(pool, nrules);
    int *linear = apr_palloc(pool, nrules * sizeof(int));
    int *indexed = apr_palloc(pool, nrules * sizeof(int));
    int i, bad = 0, nonempty = 0, firsts = 0;
    apr_size_t tried = 0;

    for (i = 0; i < nrules; i++) {
        const char *err;

        rules[i].pattern = random_pattern(&rules[i].subject);
        err = revproxy_regex_compile(pool, rules[i].pattern, &rules[i].re);
        if (err) {
            diag("%s", err);
            bad++;
            continue;
        }
        revproxy_ruleset_add(rs, rules[i].pattern, rules[i].re,
                             rules[i].subject);
    }
    ok(bad == 0, "%d generated rules compile", nrules);
    if (bad) {
        return;
    }
    revproxy_ruleset_build(rs, pool);
    ok(revproxy_ruleset_indexed(rs) > nrules / 2
       && revproxy_ruleset_indexed(rs) < nrules,
       "%d of %d rules indexed", revproxy_ruleset_indexed(rs), nrules);

    for (i = 0; i < npaths; i++) {
        const char *decoded = apr_pstrcat(pool, random_literal(),
                                          rnd(2) ? random_literal() : "",
                                          NULL);
        const char *raw = encode_some(decoded);
        const char *full = apr_pstrcat(pool, "http://h:80", decoded, NULL);
        revproxy_ruleset_walk w;
        int nl = 0, ni = 0, j, last = -1, ordered = 1;

        if (rnd(3) == 0) {      /* a path some rule names exactly */
            apr_size_t plen;
            const char *p = revproxy_regex_prefix(pool,
                                rules[rnd(nrules)].pattern, &plen);
            if (p) {
                decoded = p;
                raw = encode_some(decoded);
                full = apr_pstrcat(pool, "http://h:80", decoded, NULL);
            }
        }
        for (j = 0; j < nrules; j++) {
            if (matches(&rules[j], decoded, raw, full)) {
                linear[nl++] = j;
            }
        }
        revproxy_ruleset_start(rs, &w, pool, decoded, strlen(decoded),
                               raw, strlen(raw));
        while ((j = revproxy_ruleset_next(&w)) >= 0) {
            ordered = ordered && j > last;
            last = j;
            tried++;
            if (matches(&rules[j], decoded, raw, full)) {
                indexed[ni++] = j;
            }
        }
        if (!ordered || nl != ni
            || memcmp(linear, indexed, nl * sizeof(int)) != 0) {
            ok(0, "path %s (raw %s): %d matching rules linearly, %d through "
               "the index%s", decoded, raw, nl, ni,
               ordered ? "" : ", out of order");
            if (++bad > 10) {
                break;
            }
        }
        nonempty += nl > 0;
        firsts += nl > 0 && ni > 0 && linear[0] == indexed[0];
    }
    ok(bad == 0, "%d paths: the index yields the same matching rules in "
       "the same order as a linear walk", npaths);
    ok(nonempty > npaths / 4, "%d of the paths match some rule", nonempty);
    is_int(firsts, nonempty, "first match the same everywhere");
    ok(tried < (apr_size_t)npaths * nrules / 2,
       "the index tried %lu regexes, a linear walk %lu",
       (unsigned long)tried, (unsigned long)npaths * nrules);
}

/* Many rules with distinct prefixes: a walk hands out only the ones the
 * path can match, and the unindexed ones. */
static void test_walk_size(void)
{
    revproxy_ruleset *rs = revproxy_ruleset_make(pool, 10000);
    revproxy_ruleset_walk w;
    int i, n = 0, first = -1;

    for (i = 0; i < 10000; i++) {
        const char *pat = apr_psprintf(pool, "^/t%04d/api/(.*)$", i);
        revproxy_ruleset_add(rs, pat, NULL, REVPROXY_SUBJECT_DECODED);
    }
    revproxy_ruleset_add(rs, "^/(.*)$", NULL, REVPROXY_SUBJECT_DECODED);
    revproxy_ruleset_add(rs, "^/t9999/api/x", NULL, REVPROXY_SUBJECT_RAW);
    revproxy_ruleset_add(rs, "(?i)^/T1", NULL, REVPROXY_SUBJECT_DECODED);
    revproxy_ruleset_build(rs, pool);
    is_int(revproxy_ruleset_indexed(rs), 10002, "10002 of 10003 indexed");
    revproxy_ruleset_start(rs, &w, pool, "/t9999/api/x", 12, "/t9999/api/x",
                           12);
    while ((i = revproxy_ruleset_next(&w)) >= 0) {
        first = n++ == 0 ? i : first;
    }
    is_int(n, 4, "a path under the last prefix: 4 candidates");
    is_int(first, 9999, "the first is rule 9999");
    revproxy_ruleset_start(rs, &w, pool, "/nothing", 8, NULL, 0);
    is_int(revproxy_ruleset_next(&w), 10000, "elsewhere: ^/(.*)$ (prefix /)");
    is_int(revproxy_ruleset_next(&w), 10002, "then the unindexed rule");
    is_int(revproxy_ruleset_next(&w), -1, "and nothing more");
}

/* ---------------------------------------------------------------------- */
/* Limits                                                                  */

static void limit_case(const char *pattern, const char *what)
{
    revproxy_regex *re;
    const PCRE2_SIZE *ov;
    char *subject = apr_palloc(pool, 4000);
    apr_time_t t0;
    int rc;

    subject[0] = '/';
    memset(subject + 1, 'a', 3000);
    subject[3001] = 'b';
    subject[3002] = '\0';
    ok(revproxy_regex_compile(pool, pattern, &re) == NULL, "%s compiles",
       pattern);
    t0 = apr_time_now();
    rc = revproxy_regex_match(re, subject, strlen(subject), pool, &ov);
    ok(rc < 0, "%s: catastrophic backtracking stops at a limit (%d: %s)",
       what, rc, rc < 0 ? revproxy_regex_strerror(pool, rc) : "no limit");
    diag("%s: %" APR_TIME_T_FMT " ms", what,
         (apr_time_now() - t0) / 1000);
    subject[3001] = '\0';
    is_int(revproxy_regex_match(re, subject, strlen(subject), pool, &ov), 1,
           "%s: a path it matches still matches", what);
}

static void test_limits(void)
{
    uint32_t jit = 0;

    pcre2_config(PCRE2_CONFIG_JIT, &jit);
    diag("PCRE2 JIT %s", jit ? "available" : "not available");
    limit_case("^/(a+)+$", "JIT where available");
    limit_case("(*NO_JIT)^/(a+)+$", "interpreter");
    limit_case("(*NO_JIT)^/(a|aa)+$", "interpreter, deep");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);

    test_prefix();
    test_walk_size();
    /* Match data from the pool, then per thread (as in a child). */
    test_against_linear(500, 300);
    test_limits();
    ok(revproxy_regex_child_init(pool) == APR_SUCCESS, "thread key");
    test_against_linear(3000, 1500);
    test_limits();
    return done_testing();
}
