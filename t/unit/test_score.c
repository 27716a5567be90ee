/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * Unit tests for revproxy_score.c alone: keys and slots, the segment's
 * size, blocks kept across a configuration with the same keys and carried
 * over to one with other keys, child rows and their gauges, the election
 * of the health-check owner, the latency histogram's buckets.  TAP output.
 */

#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "revproxy_score.h"
#include "tap.h"

/* What the tests keep in blocks: a group-like block of 20 bytes (kept as
 * 24) with a template, and a member-like one with two gauges per child. */
typedef struct grp {
    apr_uint32_t turn;
    apr_uint32_t unused;
    apr_uint64_t requests;
    apr_uint32_t tail;
} grp;

typedef struct mem {
    apr_uint64_t since;
    apr_uint64_t requests;
} mem;

static apr_pool_t *pproc;

/* A configuration: rules r0.., groups g0.., members m0.. as named. */
static revproxy_score_keys *keys(apr_pool_t *p, const char *rules,
                                 const char *groups, const char *members,
                                 apr_size_t member_size)
{
    revproxy_score_keys *k = revproxy_score_keys_make(p);
    static const grp fresh_grp = { 7, 0, 0, 0 };
    mem fresh_mem[2] = { { 1000, 0 }, { 0, 0 } };   /* up to 32 bytes */
    char *list, *last, *key;

    revproxy_score_kind_set(k, REVPROXY_SCORE_RULE,
                            sizeof(revproxy_score_rule), NULL, 0);
    revproxy_score_kind_set(k, REVPROXY_SCORE_GROUP, 20, &fresh_grp, 0);
    revproxy_score_kind_set(k, REVPROXY_SCORE_MEMBER, member_size,
                            fresh_mem, 2);
    list = apr_pstrdup(p, rules);
    for (key = apr_strtok(list, " ", &last); key;
         key = apr_strtok(NULL, " ", &last)) {
        revproxy_score_add(k, REVPROXY_SCORE_RULE, key);
    }
    list = apr_pstrdup(p, groups);
    for (key = apr_strtok(list, " ", &last); key;
         key = apr_strtok(NULL, " ", &last)) {
        revproxy_score_add(k, REVPROXY_SCORE_GROUP, key);
    }
    list = apr_pstrdup(p, members);
    for (key = apr_strtok(list, " ", &last); key;
         key = apr_strtok(NULL, " ", &last)) {
        revproxy_score_add(k, REVPROXY_SCORE_MEMBER, key);
    }
    return k;
}

static revproxy_score_rule *rule(revproxy_score *sb, int slot)
{
    return revproxy_score_block(sb, REVPROXY_SCORE_RULE, slot);
}

static mem *member(revproxy_score *sb, int slot)
{
    return revproxy_score_block(sb, REVPROXY_SCORE_MEMBER, slot);
}

static void test_registration(apr_pool_t *p)
{
    revproxy_score_keys *k = revproxy_score_keys_make(p);
    apr_size_t one, two;

    revproxy_score_kind_set(k, REVPROXY_SCORE_RULE, 32, NULL, 0);
    revproxy_score_kind_set(k, REVPROXY_SCORE_GROUP, 20, NULL, 0);
    revproxy_score_kind_set(k, REVPROXY_SCORE_MEMBER, 16, NULL, 2);
    is_int(revproxy_score_add(k, REVPROXY_SCORE_RULE, "rule a"), 0,
           "the first rule: slot 0");
    is_int(revproxy_score_add(k, REVPROXY_SCORE_RULE, "rule b"), 1,
           "the second rule: slot 1");
    is_int(revproxy_score_add(k, REVPROXY_SCORE_GROUP, "group a"), 0,
           "slots count per kind: the first group gets 0");
    is_int(revproxy_score_add(k, REVPROXY_SCORE_MEMBER, "group a#0"), 0,
           "member 0");
    is_int(revproxy_score_add(k, REVPROXY_SCORE_MEMBER, "group a#1"), 1,
           "member 1");
    is_int(revproxy_score_add(k, REVPROXY_SCORE_MEMBER, "group a#2"), 2,
           "member 2");

    one = revproxy_score_size(k, 1);
    two = revproxy_score_size(k, 2);
    /* A row: pid, padding, 3 members x 2 gauges of 4 bytes. */
    is_int((int)(two - one), 8 + 3 * 2 * 4, "a child row: 8 + 24 bytes");
    /* Blocks: 2 x 32 + 1 x 24 (20 rounded up) + 3 x 16. */
    is_int((int)(revproxy_score_size(k, 0) % 8), 0, "size: 8-byte steps");
    ok(revproxy_score_size(k, 0) >= 2 * 32 + 24 + 3 * 16,
       "size holds every block");
    {
        revproxy_score_keys *k2 = revproxy_score_keys_make(p);
        revproxy_score_kind_set(k2, REVPROXY_SCORE_RULE, 32, NULL, 0);
        revproxy_score_kind_set(k2, REVPROXY_SCORE_GROUP, 20, NULL, 0);
        revproxy_score_kind_set(k2, REVPROXY_SCORE_MEMBER, 16, NULL, 2);
        revproxy_score_add(k2, REVPROXY_SCORE_RULE, "rule a");
        is_int((int)(revproxy_score_size(k, 0) - revproxy_score_size(k2, 0)),
               32 + 24 + 3 * 16, "one rule, one group, three members less");
    }
}

static void test_segment(void)
{
    apr_pool_t *c1, *c2, *c3, *c4;
    revproxy_score *sb, *sb2, *sb3, *sb4;
    grp *g;
    mem *m;
    apr_status_t rv;
    const char *rules = "rule|a rule|b rule|c";
    const char *members = "g|x#0 g|x#1 g|y#0";

    /* 1. The first configuration. */
    apr_pool_create(&c1, pproc);
    rv = revproxy_score_open(&sb, keys(c1, rules, "g|x g|y", members,
                                       sizeof(mem)), 4, 1000000, pproc, c1);
    ok(rv == APR_SUCCESS && sb != NULL, "a segment is made");
    is_int((int)revproxy_score_configurations(sb), 1, "... its first "
           "configuration");
    ok(revproxy_score_created(sb) == 1000000, "... created at now");
    ok(rule(sb, 0) && rule(sb, 2) && rule(sb, 3) == NULL
       && rule(sb, -1) == NULL, "rule blocks 0..2, no other");
    ok((char *)rule(sb, 1) - (char *)rule(sb, 0)
       == (int)sizeof(revproxy_score_rule), "... one after the other");
    g = revproxy_score_block(sb, REVPROXY_SCORE_GROUP, 1);
    ok(g && ((apr_size_t)g & 7) == 0, "group blocks 8-byte aligned");
    ok((char *)g - (char *)revproxy_score_block(sb, REVPROXY_SCORE_GROUP, 0)
       == 24, "... 24 bytes each (20 asked)");
    is_int((int)g->turn, 7, "a new block is a copy of the template");
    ok(member(sb, 2) && member(sb, 2)->since == 1000
       && member(sb, 2)->requests == 0, "... for every kind that has one");
    ok(rule(sb, 1)->hits == 0, "no template: zeros");

    rule(sb, 0)->hits = 11;
    rule(sb, 2)->hits = 33;
    g->requests = 5;
    member(sb, 1)->requests = 41;
    member(sb, 2)->since = 2000;

    /* 2. A graceful restart with the same keys: the same segment. */
    apr_pool_create(&c2, pproc);
    rv = revproxy_score_open(&sb2, keys(c2, rules, "g|x g|y", members,
                                        sizeof(mem)), 4, 3000000, pproc, c2);
    ok(rv == APR_SUCCESS && sb2 != NULL, "same keys: opened");
    ok(rule(sb2, 0) == rule(sb, 0) && member(sb2, 2) == member(sb, 2),
       "... the same segment, the same slots");
    is_int((int)revproxy_score_configurations(sb2), 2,
           "... a second configuration");
    ok(revproxy_score_created(sb2) == 1000000, "... counting since the "
       "first");
    ok(rule(sb2, 2)->hits == 33 && member(sb2, 1)->requests == 41
       && member(sb2, 2)->since == 2000, "... blocks as they were");
    apr_pool_destroy(c1);

    /* 3. Other keys: a rule gone, one new, the groups swapped. */
    apr_pool_create(&c3, pproc);
    rv = revproxy_score_open(&sb3, keys(c3, "rule|c rule|new rule|a",
                                        "g|y g|x", "g|y#0 g|x#0 g|x#1",
                                        sizeof(mem)), 4, 5000000, pproc, c3);
    ok(rv == APR_SUCCESS && sb3 != NULL, "other keys: opened");
    ok(rule(sb3, 0) != rule(sb2, 2), "... a new segment");
    ok(rule(sb3, 0)->hits == 33 && rule(sb3, 2)->hits == 11,
       "... each kept rule's block at its new slot");
    ok(rule(sb3, 1)->hits == 0, "... a new rule starts at 0");
    g = revproxy_score_block(sb3, REVPROXY_SCORE_GROUP, 0);
    ok(g->requests == 5 && g->turn == 7, "... a group's block follows its "
       "key");
    ok(member(sb3, 0)->since == 2000 && member(sb3, 2)->requests == 41,
       "... members' too");
    is_int((int)revproxy_score_configurations(sb3), 3,
           "... the configurations go on");
    ok(revproxy_score_created(sb3) == 1000000, "... as does the start");
    apr_pool_destroy(c2);

    /* 4. Blocks of another size: nothing is carried over. */
    apr_pool_create(&c4, pproc);
    rv = revproxy_score_open(&sb4, keys(c4, "rule|c rule|new rule|a",
                                        "g|y g|x", "g|y#0 g|x#0 g|x#1",
                                        sizeof(mem) + 8), 4, 7000000, pproc,
                             c4);
    ok(rv == APR_SUCCESS && sb4 != NULL, "another layout: opened");
    ok(rule(sb4, 0)->hits == 0 && member(sb4, 2)->requests == 0
       && member(sb4, 0)->since == 1000, "... every block new");
    is_int((int)revproxy_score_configurations(sb4), 1, "... counting "
           "starts again");
    ok(revproxy_score_created(sb4) == 7000000, "... now");
    m = member(sb4, 2);
    ok(m != NULL && ((apr_size_t)m & 7) == 0, "... blocks aligned");
    apr_pool_destroy(c3);
    apr_pool_destroy(c4);
}

/* A pid that is certainly not running: a child that exited and was
 * reaped. */
static apr_uint32_t dead_pid(void)
{
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        _exit(0);
    }
    waitpid(pid, &st, 0);
    return (apr_uint32_t)pid;
}

static void test_rows_and_owner(void)
{
    apr_pool_t *c;
    revproxy_score *a, *b, *x;
    revproxy_score_keys *k;
    apr_uint32_t *ga, *gb, me = (apr_uint32_t)getpid(),
                 parent = (apr_uint32_t)getppid(), dead = dead_pid();

    /* Three views of one segment, as three child processes would have. */
    apr_pool_create(&c, pproc);
    k = keys(c, "r", "g", "g#0 g#1", sizeof(mem));
    revproxy_score_open(&a, k, 2, 1, pproc, c);
    revproxy_score_open(&b, k, 2, 1, pproc, c);
    revproxy_score_open(&x, k, 2, 1, pproc, c);
    ok(member(a, 0) == member(b, 0), "one segment, three views");

    ok(revproxy_score_gauges(a, REVPROXY_SCORE_MEMBER, 0) == NULL,
       "no row claimed: no gauges");
    is_int(revproxy_score_child_claim(a, me), APR_SUCCESS, "a claims a row");
    is_int(revproxy_score_child_claim(b, parent), APR_SUCCESS,
           "b claims the other");
    is_int(revproxy_score_child_claim(x, dead), APR_EAGAIN,
           "a third finds none free");
    ok(revproxy_score_gauges(x, REVPROXY_SCORE_MEMBER, 0) == NULL,
       "... and has no gauges");
    ga = revproxy_score_gauges(a, REVPROXY_SCORE_MEMBER, 1);
    gb = revproxy_score_gauges(b, REVPROXY_SCORE_MEMBER, 1);
    ok(ga && gb && ga != gb, "each row its own gauges");
    ok(revproxy_score_gauges(a, REVPROXY_SCORE_RULE, 0) == NULL,
       "a kind without gauges has none");
    ok(revproxy_score_gauges(a, REVPROXY_SCORE_MEMBER, 2) == NULL,
       "no gauges beyond the last slot");
    ga[0] = 3;
    ga[1] = 2;
    gb[0] = 4;
    gb[1] = (apr_uint32_t)-1;
    *revproxy_score_gauges(a, REVPROXY_SCORE_MEMBER, 0) = 9;
    is_int((int)revproxy_score_gauge_sum(x, REVPROXY_SCORE_MEMBER, 1, 0), 7,
           "gauges summed over the rows");
    is_int((int)revproxy_score_gauge_sum(x, REVPROXY_SCORE_MEMBER, 1, 1), 1,
           "... as signed numbers");
    is_int((int)revproxy_score_gauge_sum(x, REVPROXY_SCORE_MEMBER, 0, 0), 9,
           "... slot by slot");
    ok(revproxy_score_row_pid(x, 0) + revproxy_score_row_pid(x, 1)
       == me + parent && revproxy_score_rows(x) == 2, "the rows' pids");

    /* The health-check owner. */
    ok(revproxy_score_owner_pid(a) == 0, "no owner at first");
    ok(revproxy_score_owner(a), "a takes the checks");
    ok(revproxy_score_owner(a), "... and keeps them");
    ok(!revproxy_score_owner(b), "b does not: a is alive");
    ok(revproxy_score_owner_pid(b) == me, "... a's pid is the owner");
    revproxy_score_owner_release(b);
    ok(revproxy_score_owner_pid(a) == me, "b cannot release a's checks");
    revproxy_score_owner_release(a);
    ok(revproxy_score_owner_pid(a) == 0, "a gives them up");
    ok(revproxy_score_owner(b), "b takes them");
    ok(!revproxy_score_owner(a), "... a no longer can");
    revproxy_score_child_exited(a, parent);
    ok(revproxy_score_owner_pid(a) == 0, "b's exit frees the checks");
    is_int((int)revproxy_score_gauge_sum(a, REVPROXY_SCORE_MEMBER, 1, 0), 3,
           "... and its row: its gauges are no longer counted");
    ok(revproxy_score_row_pid(a, 0) + revproxy_score_row_pid(a, 1) == me,
       "... the row is free");
    is_int(revproxy_score_child_claim(x, dead), APR_SUCCESS,
           "x now finds a row");
    ok(revproxy_score_gauges(x, REVPROXY_SCORE_MEMBER, 1)[0] == 0,
       "... with its gauges at zero");
    ok(revproxy_score_owner(x), "x takes the checks");
    ok(revproxy_score_owner(a), "x's pid is not running: a takes over");
    ok(revproxy_score_owner_pid(x) == me, "... a is the owner");
    apr_pool_destroy(c);
}

static void test_without_segment(void)
{
    ok(revproxy_score_block(NULL, REVPROXY_SCORE_RULE, 0) == NULL,
       "no segment: no block");
    ok(revproxy_score_gauges(NULL, REVPROXY_SCORE_MEMBER, 0) == NULL,
       "... no gauges");
    ok(!revproxy_score_owner(NULL), "... nobody owns the checks");
    ok(revproxy_score_child_claim(NULL, 1) != APR_SUCCESS, "... no row");
    revproxy_score_child_exited(NULL, 1);
    revproxy_score_owner_release(NULL);
    ok(revproxy_score_configurations(NULL) == 0, "... no configuration");
}

static void test_latency(void)
{
    apr_uint64_t us;
    int i, prev = -1, monotone = 1, covers = 1;

    for (i = 0; i < 4; i++) {
        is_int(revproxy_score_lat_bucket((apr_uint64_t)i), i,
               "bucket of %d us", i);
    }
    for (us = 0; us < 200000000; us = us < 64 ? us + 1 : us + us / 7) {
        int b = revproxy_score_lat_bucket(us);
        if (b < prev) {
            monotone = 0;
        }
        if (b < REVPROXY_LAT_BUCKETS - 1
            && !(us < revproxy_score_lat_upper(b)
                 && (b == 0 || us >= revproxy_score_lat_upper(b - 1)))) {
            covers = 0;
        }
        prev = b;
    }
    ok(monotone, "buckets grow with the latency");
    ok(covers, "a latency lies below its bucket's upper end, and at or "
       "above the previous one's");
    is_int(revproxy_score_lat_bucket(4), 4, "4 us: bucket 4");
    ok(revproxy_score_lat_upper(4) == 5 && revproxy_score_lat_upper(7) == 8
       && revproxy_score_lat_upper(8) == 10, "upper ends 5, 8, 10 us");
    is_int(revproxy_score_lat_bucket((apr_uint64_t)1 << 40),
           REVPROXY_LAT_BUCKETS - 1, "a long wait: the last, open bucket");

    /* Counting: one sample in its bucket, the sum in microseconds; a
     * negative time (a clock step) counts as 0. */
    {
        revproxy_score_rule rc;
        memset(&rc, 0, sizeof(rc));
        revproxy_score_lat_count(rc.lat, &rc.lat_sum, 1500);
        revproxy_score_lat_count(rc.lat, &rc.lat_sum, -7);
        ok(rc.lat[revproxy_score_lat_bucket(1500)] == 1 && rc.lat[0] == 1,
           "lat_count: each sample in its bucket");
        ok(rc.lat_sum == 1500, "... and in the sum");
    }
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&pproc, NULL);
    apr_pool_create(&p, pproc);

    test_registration(p);
    test_segment();
    test_rows_and_owner();
    test_without_segment();
    test_latency();

    apr_pool_destroy(pproc);
    apr_terminate();
    return done_testing();
}
