/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_score -- the scoreboard: one anonymous shared-memory segment,
 * made by the parent and inherited by every child process, holding
 *   - a block per registered key, in three kinds (rules, groups,
 *     members); what a block holds is its owner's: the scoreboard only
 *     sizes, zeroes (or fills from a template) and copies it;
 *   - one row per child process (claimed by the child, freed by the
 *     parent when it exits) with gauges per slot: the connections open
 *     and idle in that child;
 *   - the pid of the process doing the health checks.
 *
 * Keys are registered once per configuration (post_config).  The next
 * configuration with the same keys (a graceful restart) keeps using the
 * segment as it is; with other keys it gets a new segment, and the blocks
 * whose keys are still there are copied over.  What survives restarts
 * hangs off the process pool given to revproxy_score_open.
 *
 * APR only: no httpd header, so that a unit test links this file alone.
 */
#ifndef REVPROXY_SCORE_H
#define REVPROXY_SCORE_H

#include "apr_pools.h"
#include "apr_time.h"
#include "apr_atomic.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bump when this file's structs, or a block type kept in the segment
 * (revproxy_backend.h's too), change meaning without changing size: a
 * module upgraded by a graceful restart then starts afresh. */
#define REVPROXY_SCORE_VERSION 4

/* The key spaces.  Names only: the blocks are their owners'. */
typedef enum {
    REVPROXY_SCORE_RULE,
    REVPROXY_SCORE_GROUP,
    REVPROXY_SCORE_MEMBER,
    REVPROXY_SCORE_KINDS
} revproxy_score_kind;

/* ---- counter blocks: plain atomics, written and read by their owners -- */

/* Response-head latency histogram: 4 buckets per power of two of
 * microseconds (<= 25% wide), up to about 134 s; the last one is open. */
#define REVPROXY_LAT_BUCKETS 104

/* A member's failures by kind (revproxy_score_member.fail). */
#define REVPROXY_SCORE_REFUSED  0
#define REVPROXY_SCORE_TIMEOUT  1
#define REVPROXY_SCORE_BAD      2
#define REVPROXY_SCORE_ABORTED  3

typedef struct revproxy_score_rule {
    volatile apr_uint64_t hits;         /* requests the handler served */
    volatile apr_uint64_t errors;       /* of them answered 4xx/5xx by us,
                                           or aborted mid-body */
    volatile apr_uint64_t bytes_in;     /* from backends */
    volatile apr_uint64_t bytes_out;    /* to backends */
    /* The response heads of the rule's requests: how long they took
     * (from the first attempt, failovers included; microseconds), and
     * whether the connection that brought each was new or reused. */
    volatile apr_uint64_t conn_new, conn_reused;
    volatile apr_uint64_t lat_sum;
    volatile apr_uint32_t lat[REVPROXY_LAT_BUCKETS];
} revproxy_score_rule;

typedef struct revproxy_score_group {
    volatile apr_uint64_t requests;     /* requests for the group */
    volatile apr_uint64_t unavailable;  /* of them answered 503 */
} revproxy_score_group;

typedef struct revproxy_score_member {
    volatile apr_uint64_t requests;     /* attempts, failed ones included */
    volatile apr_uint64_t fail[4];      /* REVPROXY_SCORE_REFUSED.. */
    volatile apr_uint64_t bytes_in, bytes_out;
    volatile apr_uint64_t lat_sum;      /* microseconds */
    volatile apr_uint32_t lat[REVPROXY_LAT_BUCKETS];
    /* Response heads that came over a new / a reused connection. */
    volatile apr_uint64_t conn_new, conn_reused;
} revproxy_score_member;

/* The histogram bucket of a latency in microseconds, and the upper end
 * (microseconds) of bucket i. */
int revproxy_score_lat_bucket(apr_uint64_t us);
apr_uint64_t revproxy_score_lat_upper(int i);

/* Count a latency of t (negative: 0) in a histogram lat and its sum. */
void revproxy_score_lat_count(volatile apr_uint32_t *lat,
                              volatile apr_uint64_t *sum,
                              apr_interval_time_t t);

/* ---- registration (post_config) ----------------------------------------- */

typedef struct revproxy_score_keys revproxy_score_keys;

/* An empty list of keys, in p (the configuration's pool). */
revproxy_score_keys *revproxy_score_keys_make(apr_pool_t *p);

/* What a block of kind holds: size bytes (rounded up to a multiple of 8);
 * a new block starts as a copy of fresh (taken at once; NULL: zeros); each
 * child row has gauges 32-bit gauges per slot of the kind (0: none).
 * Once per kind, before its first key. */
void revproxy_score_kind_set(revproxy_score_keys *k, revproxy_score_kind kind,
                             apr_size_t size, const void *fresh,
                             int gauges);

/* Register key in kind: its slot, the next in registration order.  Keys
 * are meant to be unique: two equal ones get two slots, both carried over
 * from the last one of the previous configuration. */
int revproxy_score_add(revproxy_score_keys *k, revproxy_score_kind kind,
                       const char *key);

/* The bytes a segment for k and nrows child rows takes. */
apr_size_t revproxy_score_size(const revproxy_score_keys *k,
                               apr_uint32_t nrows);

/* ---- the segment ----------------------------------------------------------- */

typedef struct revproxy_score revproxy_score;

/* The segment for k with nrows child rows (the MPM's limit), created at
 * now or taken over from the previous configuration as described above;
 * pproc: the pool that outlives configurations (the process pool), pconf:
 * this configuration's.  Fails only when shared memory cannot be had. */
apr_status_t revproxy_score_open(revproxy_score **out,
                                 const revproxy_score_keys *k,
                                 apr_uint32_t nrows, apr_time_t now,
                                 apr_pool_t *pproc, apr_pool_t *pconf);

/* The block of a slot, or NULL (no such slot, sb NULL). */
void *revproxy_score_block(const revproxy_score *sb, revproxy_score_kind kind,
                           int slot);

/* When the counting began (the first configuration of a segment whose
 * layout has not changed since), and how many configurations it served
 * (1 for the first). */
apr_time_t revproxy_score_created(const revproxy_score *sb);
apr_uint32_t revproxy_score_configurations(const revproxy_score *sb);

/* ---- child rows -------------------------------------------------------------- */

/* In a new child (child_init): take a free row for pid, which becomes
 * this process' pid for revproxy_score_owner.  APR_EAGAIN when every row
 * is taken (its gauges are then not counted). */
apr_status_t revproxy_score_child_claim(revproxy_score *sb, apr_uint32_t pid);

/* In the parent: pid exited (even by a crash); its row is free, and the
 * health checks lose their owner if it was pid. */
void revproxy_score_child_exited(revproxy_score *sb, apr_uint32_t pid);

/* This child's gauges of a slot (gauges of them, see kind_set), or NULL
 * (no row, no such slot). */
apr_uint32_t *revproxy_score_gauges(const revproxy_score *sb,
                                    revproxy_score_kind kind, int slot);

/* Gauge i of a slot summed over the rows in use (each read as a signed
 * 32-bit number: a gauge may dip below zero for a moment). */
long revproxy_score_gauge_sum(const revproxy_score *sb,
                              revproxy_score_kind kind, int slot, int i);

/* The number of rows, and the pid holding row i (0: free). */
apr_uint32_t revproxy_score_rows(const revproxy_score *sb);
apr_uint32_t revproxy_score_row_pid(const revproxy_score *sb, apr_uint32_t i);

/* ---- the health-check owner -------------------------------------------------- */

/* Whether this process (the pid of its claim) owns the health checks;
 * takes them when nobody alive does. */
int revproxy_score_owner(revproxy_score *sb);

/* This process gives the health checks up (child exit). */
void revproxy_score_owner_release(revproxy_score *sb);

/* The owner's pid, 0: nobody. */
apr_uint32_t revproxy_score_owner_pid(const revproxy_score *sb);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_SCORE_H */
