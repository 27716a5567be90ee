/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_ruleset.c -- libFuzzer harness for revproxy_ruleset.c: the rule
 * index must never skip a rule that matches, nor change the order.
 *
 * Input: lines separated by '\n'.  Line 1 is the decoded path, line 2 the
 * raw path (the decoded one when absent); each further line (at most
 * MAX_RULES) is a rule: its first byte picks the subject (modulo 3:
 * decoded, raw, other) and the rest is the pattern, compiled as the rule
 * code does; a pattern that does not compile is skipped.  "Other" rules
 * are matched against a full URL built from the decoded path.
 *
 * The index is built and walked for the two paths.  Its candidates must
 * come in strictly ascending rule number (configuration order, each rule
 * once), and every rule whose regex matches its subject -- what a plain
 * linear walk over all the rules would stop at -- must be among them.  A
 * broken invariant aborts.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "revproxy_rule.h"
#include "revproxy_ruleset.h"

#define MAX_RULES 16

typedef struct {
    const char *text;
    apr_size_t len;
} span_t;

typedef struct {
    const revproxy_regex *re;
    int subject;
} rule_t;

static apr_pool_t *root;

static void fini(void)
{
    apr_pool_destroy(root);
    apr_terminate();
}

/* Split data into at most n lines (the last one keeps any further
 * newlines out: they end it); returns how many. */
static int split_lines(apr_pool_t *p, const uint8_t *data, size_t size,
                       span_t *lines, int n)
{
    const char *s = (const char *)data, *end = s + size;
    int i = 0;

    while (i < n && s <= end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        apr_size_t len = nl ? (apr_size_t)(nl - s) : (apr_size_t)(end - s);

        lines[i].text = apr_pstrmemdup(p, s, len);
        lines[i].len = len;
        i++;
        if (nl == NULL) {
            break;
        }
        s = nl + 1;
    }
    return i;
}

static int rule_matches(apr_pool_t *p, const rule_t *rule,
                        const span_t *decoded, const span_t *raw,
                        const span_t *full)
{
    const span_t *subject = rule->subject == REVPROXY_SUBJECT_DECODED
                            ? decoded
                            : rule->subject == REVPROXY_SUBJECT_RAW ? raw
                            : full;
    const PCRE2_SIZE *ov;

    return revproxy_regex_match(rule->re, subject->text, subject->len, p,
                                &ov) > 0;
}

/* The linear walk (every rule, in order) against the indexed one. */
static void check_walk(apr_pool_t *p, const revproxy_ruleset *rs,
                       const rule_t *rules, int n, const span_t *decoded,
                       const span_t *raw, const span_t *full)
{
    revproxy_ruleset_walk w;
    int matched[MAX_RULES], candidate[MAX_RULES] = { 0 };
    int i, last = -1;

    for (i = 0; i < n; i++) {
        matched[i] = rule_matches(p, &rules[i], decoded, raw, full);
    }
    revproxy_ruleset_start(rs, &w, p, decoded->text, decoded->len,
                           revproxy_ruleset_needs_raw(rs) ? raw->text : NULL,
                           revproxy_ruleset_needs_raw(rs) ? raw->len : 0);
    while ((i = revproxy_ruleset_next(&w)) >= 0) {
        if (i >= n || i <= last) {
            abort();            /* out of range, repeated or out of order */
        }
        candidate[i] = 1;
        last = i;
    }
    for (i = 0; i < n; i++) {
        if (matched[i] && !candidate[i]) {
            abort();            /* the index skipped a matching rule */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    span_t lines[2 + MAX_RULES], full;
    rule_t rules[MAX_RULES];
    revproxy_ruleset *rs;
    int nlines, i, n = 0;

    if (root == NULL) {
        apr_initialize();
        apr_pool_create(&root, NULL);
        atexit(fini);
    }
    apr_pool_create(&p, root);
    nlines = split_lines(p, data, size, lines, 2 + MAX_RULES);
    if (nlines < 2) {
        lines[1] = lines[0];
    }
    full.text = apr_pstrcat(p, "http://example.test", lines[0].text, NULL);
    full.len = strlen(full.text);

    rs = revproxy_ruleset_make(p, nlines);
    for (i = 2; i < nlines; i++) {
        revproxy_regex *re;
        const char *pattern;

        if (lines[i].len == 0) {
            continue;
        }
        pattern = lines[i].text + 1;
        if (revproxy_regex_compile(p, pattern, &re) != NULL) {
            continue;
        }
        rules[n].re = re;
        rules[n].subject = (unsigned char)lines[i].text[0] % 3;
        revproxy_ruleset_add(rs, pattern, re, rules[n].subject);
        n++;
    }
    revproxy_ruleset_build(rs, p);
    if (revproxy_ruleset_count(rs) != n
        || revproxy_ruleset_indexed(rs) > n) {
        abort();
    }
    check_walk(p, rs, rules, n, &lines[0], &lines[1], &full);
    apr_pool_destroy(p);
    return 0;
}
