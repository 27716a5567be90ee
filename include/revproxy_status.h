/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_status -- the shared counters of every rule, group and member,
 * and the pages that show them (`SetHandler revproxy-status`: HTML, JSON
 * with ?json, Prometheus text with ?metrics; a summary in mod_status).
 *
 * One anonymous shared-memory segment, made in post_config by the parent
 * and inherited by every child, holds:
 *   - a counter block per rule, per group (its round-robin turn) and per
 *     member (up/down state, failures by kind, bytes, a latency
 *     histogram), updated with atomic operations, never a lock;
 *   - one row per child process (claimed in child_init, freed by the
 *     parent when the child exits) with the open and idle connections
 *     of each member in that child; the page sums the rows.
 * Every block has a key made from the configuration (server, rule text;
 * server, group name and definition).  A graceful restart with the same
 * keys keeps using the segment as it is; with other keys it gets a new
 * segment, and blocks whose key is still there are copied over, so a
 * group whose definition did not change keeps its state and counters.
 */
#ifndef REVPROXY_STATUS_H
#define REVPROXY_STATUS_H

#include "httpd.h"
#include "apr_atomic.h"

#include "revproxy_upstream.h"

#ifdef __cplusplus
extern "C" {
#endif

struct revproxy_rule;
struct revproxy_pick;

/* Response-head latency histogram: 4 buckets per power of two of
 * microseconds (<= 25% wide), up to about 134 s; the last one is open. */
#define REVPROXY_LAT_BUCKETS 104

typedef struct revproxy_rule_stats {
    volatile apr_uint64_t hits;         /* requests the handler served */
    volatile apr_uint64_t errors;       /* of them answered 4xx/5xx by us,
                                           or aborted mid-body */
    volatile apr_uint64_t bytes_in;     /* from backends */
    volatile apr_uint64_t bytes_out;    /* to backends */
} revproxy_rule_stats;

typedef struct revproxy_group_stats {
    volatile apr_uint32_t rr;           /* the round-robin turn */
    volatile apr_uint32_t unused;
    volatile apr_uint64_t requests;     /* requests for the group */
    volatile apr_uint64_t unavailable;  /* of them answered 503 */
} revproxy_group_stats;

/* Member states. */
#define REVPROXY_MEMBER_UP      0
#define REVPROXY_MEMBER_DOWN    1   /* a request failed: probed after retry */
#define REVPROXY_MEMBER_HCDOWN  2   /* the health check failed: back when a
                                       check passes */

typedef struct revproxy_member_stats {
    volatile apr_uint32_t state;        /* REVPROXY_MEMBER_* */
    volatile apr_uint32_t hc_ok;        /* the last health check passed */
    volatile apr_uint32_t fails_in_row; /* requests in a row that ended
                                           without a usable answer */
    volatile apr_uint64_t since;        /* apr_time_t of the last change
                                           of state; 0: up since start */
    volatile apr_uint64_t down_until;   /* down: not tried before */
    volatile apr_uint64_t hc_next;      /* the next health check is due */
    volatile apr_uint64_t hc_last;      /* the last one ran */
    volatile apr_uint64_t hc_checks, hc_failed;
    volatile apr_uint64_t requests;     /* attempts, failed ones included */
    volatile apr_uint64_t fail[4];      /* REVPROXY_FAIL_REFUSED..ABORTED */
    volatile apr_uint64_t bytes_in, bytes_out;
    volatile apr_uint64_t lat_sum;      /* microseconds */
    volatile apr_uint32_t lat[REVPROXY_LAT_BUCKETS];
} revproxy_member_stats;

/* The counter blocks; NULL when there is no shared memory (then nothing
 * is counted and no state is kept). */
revproxy_rule_stats *revproxy_status_rule(int id);
revproxy_group_stats *revproxy_status_group(int slot);
revproxy_member_stats *revproxy_status_member(int slot);

/* This child's [open, idle] connection gauges of a member, or NULL. */
apr_uint32_t *revproxy_status_gauges(int member_slot);

/* Whether this process owns the health checks; tries to become the owner
 * when nobody (alive) is. */
int revproxy_status_hc_owner(void);

/* This process stops doing the health checks (child exit). */
void revproxy_status_hc_release(void);

/* Count a response-head latency for a member. */
void revproxy_status_latency(revproxy_member_stats *ms,
                             apr_interval_time_t t);

/* A request the handler served ends: the rule's counters, and the bytes
 * and an aborted body of the member that answered (pick). */
void revproxy_status_request(const revproxy_exchange *x,
                             const struct revproxy_rule *rule,
                             const struct revproxy_pick *pick, int status);

/* Hooks: post_config (shared memory), child_init, child_status, the
 * revproxy-status handler and mod_status's status_hook. */
void revproxy_status_register(void);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_STATUS_H */
