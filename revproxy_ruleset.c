/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * The rule index (see include/revproxy_ruleset.h).
 *
 * Each subject kind (decoded path, raw path) has a table of the distinct
 * literal prefixes, sorted bytewise, each with the ascending numbers of
 * its rules and a parent: the longest other prefix in the table that is a
 * prefix of it.  For a path, every prefix in the table that is a prefix of
 * the path is a prefix of the greatest entry not above the path (anything
 * sorting between a prefix of the path and the path starts with that
 * prefix), so a binary search and a walk up the parents find them all.
 * A request then merges those lists and the unindexed rules by rule
 * number: configuration order, each rule once.
 */

#include <stdlib.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include "revproxy_ruleset.h"

/* ---------------------------------------------------------------------- */
/* The literal prefix of a pattern                                         */

/* After a '[' at s: the ']' that ends the class, or NULL for what the
 * scan does not follow (POSIX classes, \Q, the end of the pattern). */
static const char *class_end(const char *s)
{
    s++;
    if (*s == '^') {
        s++;
    }
    if (*s == ']') {            /* a leading ']' is a literal */
        s++;
    }
    for (; *s; s++) {
        if (*s == '\\') {
            if (s[1] == '\0' || s[1] == 'Q') {
                return NULL;
            }
            s += (s[1] == 'c' && s[2]) ? 2 : 1;
        }
        else if (*s == '[' && (s[1] == ':' || s[1] == '.' || s[1] == '=')) {
            return NULL;
        }
        else if (*s == ']') {
            return s;
        }
    }
    return NULL;
}

/* At s, after "(?": an option setting that turns on extended mode, or a
 * comment or callout (whose text the scan would misread). */
static int unfollowed_group(const char *s)
{
    if (*s == '#' || *s == 'C') {
        return 1;
    }
    for (; *s && strchr("imnsxJU-^", *s); s++) {
        if (*s == 'x') {
            return 1;
        }
    }
    return 0;
}

/* Whether the pattern is one branch at its top level, as far as a scan
 * can tell: no top-level '|' outside escapes and classes. */
static int single_branch(const char *pattern)
{
    const char *s;
    int depth = 0;

    for (s = pattern; *s; s++) {
        switch (*s) {
        case '\\':
            if (s[1] == '\0' || s[1] == 'Q') {
                return 0;
            }
            s += (s[1] == 'c' && s[2]) ? 2 : 1;  /* \cX: X is taken */
            break;
        case '[':
            s = class_end(s);
            if (s == NULL) {
                return 0;
            }
            break;
        case '(':
            if (s[1] == '?' && unfollowed_group(s + 2)) {
                return 0;
            }
            depth++;
            break;
        case ')':
            if (depth-- == 0) {
                return 0;
            }
            break;
        case '|':
            if (depth == 0) {
                return 0;
            }
            break;
        default:
            break;
        }
    }
    return depth == 0;
}

/* A literal byte at s (plain or escaped punctuation): its value and
 * length in the pattern, or 0 for a metacharacter or another escape. */
static int literal_at(const char *s, char *c)
{
    if (*s == '\\') {
        unsigned char d = (unsigned char)s[1];
        if (d > 0x20 && d < 0x7f && !apr_isalnum(d)) {
            *c = (char)d;
            return 2;
        }
        return 0;
    }
    if (*s == '\0' || strchr("^$.[|()?*+{", *s)) {
        return 0;
    }
    *c = *s;
    return 1;
}

const char *revproxy_regex_prefix(apr_pool_t *p, const char *pattern,
                                  apr_size_t *len)
{
    const char *s;
    char *buf;
    apr_size_t n = 0;
    int adv;
    char c;

    if (pattern[0] != '^' || !single_branch(pattern)) {
        return NULL;
    }
    buf = apr_palloc(p, strlen(pattern));
    for (s = pattern + 1; (adv = literal_at(s, &c)) > 0; s += adv) {
        const char *after = s + adv;

        /* A quantified literal may be absent or repeated: stop before
         * it ("{" even when it would be a literal brace).  \E is nothing
         * outside \Q: in "b\E?" the '?' is b's. */
        while (after[0] == '\\' && after[1] == 'E') {
            after += 2;
        }
        if (*after == '?' || *after == '*' || *after == '+'
            || *after == '{') {
            break;
        }
        buf[n++] = c;
    }
    if (n == 0) {
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* ---------------------------------------------------------------------- */
/* The index                                                               */

typedef struct {
    const char *text;
    apr_size_t len;
    int rule;
} entry_t;

typedef struct {
    const char *text;
    apr_size_t len;
    int parent;                 /* index of the longest shorter prefix of
                                   text in the table, or -1 */
    const int *rules;           /* ascending */
    int n;
} prefix_t;

typedef struct {
    prefix_t *v;
    int n;
    int depth;                  /* longest parent chain, counting itself */
} table_t;

struct revproxy_ruleset {
    apr_pool_t *p;
    int nrules;
    apr_array_header_t *pending[2];     /* entry_t, until built */
    apr_array_header_t *unindexed;      /* int, ascending */
    table_t tab[2];
};

revproxy_ruleset *revproxy_ruleset_make(apr_pool_t *p, int nrules_hint)
{
    revproxy_ruleset *rs = apr_pcalloc(p, sizeof(*rs));

    if (nrules_hint < 1) {
        nrules_hint = 1;
    }
    rs->p = p;
    rs->pending[0] = apr_array_make(p, nrules_hint, sizeof(entry_t));
    rs->pending[1] = apr_array_make(p, 1, sizeof(entry_t));
    rs->unindexed = apr_array_make(p, 4, sizeof(int));
    return rs;
}

/* Whether PCRE2 agrees that every match starts at the subject's start. */
static int anchored(const revproxy_regex *re)
{
    uint32_t opts = 0;

    if (re == NULL) {
        return 1;
    }
    pcre2_pattern_info(re->code, PCRE2_INFO_ALLOPTIONS, &opts);
    return (opts & PCRE2_ANCHORED) != 0;
}

void revproxy_ruleset_add(revproxy_ruleset *rs, const char *pattern,
                          const revproxy_regex *re, int subject)
{
    const char *prefix = NULL;
    apr_size_t len = 0;

    if (subject == REVPROXY_SUBJECT_DECODED
        || subject == REVPROXY_SUBJECT_RAW) {
        prefix = revproxy_regex_prefix(rs->p, pattern, &len);
    }
    if (prefix && anchored(re)) {
        entry_t *e = apr_array_push(rs->pending[subject]);
        e->text = prefix;
        e->len = len;
        e->rule = rs->nrules;
    }
    else {
        *(int *)apr_array_push(rs->unindexed) = rs->nrules;
    }
    rs->nrules++;
}

/* Bytewise order; a prefix sorts before what it is a prefix of. */
static int compare_text(const char *a, apr_size_t alen, const char *b,
                        apr_size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int compare_entries(const void *va, const void *vb)
{
    const entry_t *a = va, *b = vb;
    int c = compare_text(a->text, a->len, b->text, b->len);

    return c != 0 ? c : a->rule - b->rule;
}

static int is_prefix(const char *a, apr_size_t alen, const char *b,
                     apr_size_t blen)
{
    return alen <= blen && memcmp(a, b, alen) == 0;
}

static void build_table(apr_pool_t *p, apr_pool_t *ptemp,
                        apr_array_header_t *pending, table_t *t)
{
    entry_t *e = (entry_t *)pending->elts;
    int *rules, *stack;
    int i, top = 0;

    t->n = 0;
    t->depth = 0;
    if (pending->nelts == 0) {
        return;
    }
    qsort(e, pending->nelts, sizeof(entry_t), compare_entries);
    t->v = apr_palloc(p, pending->nelts * sizeof(prefix_t));
    rules = apr_palloc(p, pending->nelts * sizeof(int));
    stack = apr_palloc(ptemp, pending->nelts * sizeof(int));
    for (i = 0; i < pending->nelts; i++) {
        prefix_t *x;

        rules[i] = e[i].rule;
        if (t->n > 0) {
            x = &t->v[t->n - 1];
            if (x->len == e[i].len && memcmp(x->text, e[i].text, x->len) == 0) {
                x->n++;         /* same prefix: rules[] runs on */
                continue;
            }
        }
        x = &t->v[t->n];
        x->text = e[i].text;
        x->len = e[i].len;
        x->rules = &rules[i];
        x->n = 1;
        /* The stack holds the chain of prefixes of the previous entry;
         * in sorted order, those that are not prefixes of this one are
         * done. */
        while (top > 0 && !is_prefix(t->v[stack[top - 1]].text,
                                     t->v[stack[top - 1]].len,
                                     x->text, x->len)) {
            top--;
        }
        x->parent = top > 0 ? stack[top - 1] : -1;
        stack[top++] = t->n;
        if (top > t->depth) {
            t->depth = top;
        }
        t->n++;
    }
}

void revproxy_ruleset_build(revproxy_ruleset *rs, apr_pool_t *ptemp)
{
    build_table(rs->p, ptemp, rs->pending[0], &rs->tab[0]);
    build_table(rs->p, ptemp, rs->pending[1], &rs->tab[1]);
}

int revproxy_ruleset_count(const revproxy_ruleset *rs)
{
    return rs->nrules;
}

int revproxy_ruleset_indexed(const revproxy_ruleset *rs)
{
    return rs->nrules - rs->unindexed->nelts;
}

int revproxy_ruleset_needs_raw(const revproxy_ruleset *rs)
{
    return rs->tab[1].n > 0;
}

/* The greatest entry of t not above s[0..len), or -1. */
static int floor_entry(const table_t *t, const char *s, apr_size_t len)
{
    int lo = 0, hi = t->n - 1, found = -1;

    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (compare_text(t->v[mid].text, t->v[mid].len, s, len) <= 0) {
            found = mid;
            lo = mid + 1;
        }
        else {
            hi = mid - 1;
        }
    }
    return found;
}

static void add_cursor(revproxy_ruleset_walk *w, const int *rules, int n)
{
    if (n > 0) {
        w->c[w->nc].rules = rules;
        w->c[w->nc].n = n;
        w->nc++;
    }
}

/* A cursor for every entry of t that is a prefix of s[0..len). */
static void add_matches(revproxy_ruleset_walk *w, const table_t *t,
                        const char *s, apr_size_t len)
{
    int x;
    apr_size_t common = 0;

    if (s == NULL || (x = floor_entry(t, s, len)) < 0) {
        return;
    }
    while (common < t->v[x].len && common < len
           && t->v[x].text[common] == s[common]) {
        common++;
    }
    for (; x >= 0; x = t->v[x].parent) {
        if (t->v[x].len <= common) {
            add_cursor(w, t->v[x].rules, t->v[x].n);
        }
    }
}

void revproxy_ruleset_start(const revproxy_ruleset *rs,
                            revproxy_ruleset_walk *w, apr_pool_t *p,
                            const char *decoded, apr_size_t dlen,
                            const char *raw, apr_size_t rlen)
{
    int most = rs->tab[0].depth + rs->tab[1].depth + 1;

    w->c = most <= REVPROXY_RULESET_INLINE
           ? w->inline_c : apr_palloc(p, most * sizeof(*w->c));
    w->nc = 0;
    add_cursor(w, (const int *)rs->unindexed->elts, rs->unindexed->nelts);
    add_matches(w, &rs->tab[0], decoded, dlen);
    add_matches(w, &rs->tab[1], raw, rlen);
}

int revproxy_ruleset_next(revproxy_ruleset_walk *w)
{
    int i, best = -1;

    for (i = 0; i < w->nc; i++) {
        if (best < 0 || w->c[i].rules[0] < w->c[best].rules[0]) {
            best = i;
        }
    }
    if (best < 0) {
        return -1;
    }
    i = w->c[best].rules[0];
    w->c[best].rules++;
    if (--w->c[best].n == 0) {
        w->c[best] = w->c[--w->nc];
    }
    return i;
}
