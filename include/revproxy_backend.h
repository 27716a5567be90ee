/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_backend -- backend groups: `RevProxyBackend NAME URL [URL ...]
 * [option ...]` and the `backend://NAME/PATH` destinations that use them.
 *
 * Requests go to the member a sticky cookie names, else by smooth
 * weighted round-robin over the members of a group (one counter in the
 * scoreboard indexing an order made at config time, so all threads and
 * all child processes take turns), or to the least busy one; standby
 * members only while no other is usable; a member at maxconns requests in
 * flight (counted across children) is passed over, or waited for up to
 * acquire.  A
 * member whose connect fails, or whose connection breaks before any
 * response byte, is marked down in the scoreboard for retry=D; the request
 * moves on to the next member when that is safe (no body byte sent yet,
 * or an idempotent method, and the body can still be sent again).  Once
 * retry has passed, exactly one request probes the member; success
 * brings it back.  Every member down: 503 with Retry-After.
 *
 * With hcheck=D one thread in one child process (the owner is recorded in
 * shared memory and taken over when that child goes away) requests
 * hcheckuri from every member each D; a member failing the check is taken
 * out before a client request fails on it, and a passing check brings
 * it back.
 */
#ifndef REVPROXY_BACKEND_H
#define REVPROXY_BACKEND_H

#include "httpd.h"
#include "http_config.h"

#include "revproxy_conn.h"
#include "revproxy_score.h"

#ifdef __cplusplus
extern "C" {
#endif

struct revproxy_rule;
struct revproxy_exchange;

/* Member states. */
#define REVPROXY_MEMBER_UP      0
#define REVPROXY_MEMBER_DOWN    1   /* a request failed: probed after retry */
#define REVPROXY_MEMBER_HCDOWN  2   /* the health check failed: back when a
                                       check passes */

/* What the admin said of a member (revproxy_member_state.admin, from the
 * configuration's status= or the status page's manager): independent of
 * the states above, which failures and health checks set. */
#define REVPROXY_ADMIN_ACTIVE   0   /* takes requests when up */
#define REVPROXY_ADMIN_DRAIN    1   /* only sticky requests for its route */
#define REVPROXY_ADMIN_DISABLED 2   /* no requests at all */

/* The balancer's state of a member, in its slot of the scoreboard next to
 * its counters: one picture for every thread and child process, each
 * change one atomic operation (see revproxy_backend.c).  A change of
 * meaning: bump REVPROXY_SCORE_VERSION. */
typedef struct revproxy_member_state {
    volatile apr_uint32_t state;        /* REVPROXY_MEMBER_* */
    volatile apr_uint32_t hc_ok;        /* the last health check passed */
    volatile apr_uint32_t fails_in_row; /* requests in a row that ended
                                           without a usable answer */
    volatile apr_uint32_t admin;        /* REVPROXY_ADMIN_* now */
    volatile apr_uint32_t admin_conf;   /* REVPROXY_ADMIN_* the configuration
                                           said when the state was taken
                                           over: a change of status= in the
                                           config wins over the manager's */
    volatile apr_uint32_t unused;       /* (requests in flight are a
                                           per-child gauge, summed: see
                                           revproxy_backend_inflight) */
    volatile apr_uint32_t hc_streak;    /* health checks in a row: > 0
                                           passed, < 0 failed (as int32) */
    volatile apr_uint64_t since;        /* apr_time_t of the last change
                                           of state, or of the start */
    volatile apr_uint64_t down_until;   /* down: not tried before */
    volatile apr_uint64_t hc_next;      /* the next health check is due */
    volatile apr_uint64_t hc_last;      /* the last one ran */
    volatile apr_uint64_t hc_checks, hc_failed;
} revproxy_member_state;

/* A group's: whose turn it is. */
typedef struct revproxy_group_state {
    volatile apr_uint32_t turn;         /* the round-robin turn */
    volatile apr_uint32_t unused;
} revproxy_group_state;

/* Defaults and limits of RevProxyBackend's options. */
#define REVPROXY_DEFAULT_RETRY         apr_time_from_sec(30)
#define REVPROXY_DEFAULT_MAX_IDLE      32
#define REVPROXY_DEFAULT_FAILS         3
#define REVPROXY_DEFAULT_MAX_ATTEMPTS  3
#define REVPROXY_MAX_MEMBERS           256
#define REVPROXY_MAX_WEIGHT            100

/* lbmethod= */
#define REVPROXY_LB_ROUNDROBIN  0
#define REVPROXY_LB_LEASTBUSY   1

/* One range of statuses of hcexpect= (a single status: lo == hi). */
typedef struct revproxy_status_range {
    int lo, hi;
} revproxy_status_range;

typedef struct revproxy_member {
    const char *url;            /* as configured, for logs and the status */
    revproxy_addr addr;         /* https, host, port (TLS set per request) */
    const char *hostport;       /* the Host header: host[:port] */
    const char *base;           /* the URL's path without a trailing '/',
                                   prepended to backend:// paths; "" */
    int weight;                 /* weight=, 1..100, default 1 */
    int standby;                /* standby: only while no other is usable */
    const char *route;          /* route=, default its position: "1", "2" */
    int admin_conf;             /* status=: REVPROXY_ADMIN_* at start */
    int maxconns;               /* maxconns=, 0: the group's (resolved in
                                   check_config); 0 then: no limit */
    int slot;                   /* in the scoreboard (post_config) */
    revproxy_member_state *state;       /* in its slot (post_config); */
    revproxy_score_member *counters;    /* NULL without shared memory */
} revproxy_member;

typedef struct revproxy_group {
    const char *name;
    const char *where;          /* "file:line" */
    server_rec *server;         /* where RevProxyBackend appears: its TLS
                                   settings are the members' */
    apr_array_header_t *members;            /* revproxy_member */
    apr_interval_time_t retry;              /* default 30s */
    apr_interval_time_t connect_timeout, timeout, send_timeout; /* -1 */
    int max_idle;                           /* max=, default 32 */
    apr_interval_time_t ttl;                /* ttl=, -1: the rule's, else
                                               30s */
    int fails;                              /* fails=, default 3 */
    int max_attempts;                       /* maxattempts=, default 3 */
    int tlsverify;                          /* REVPROXY_UNSET, 0, 1 */
    revproxy_limits hc_lim;                 /* the health check's,
                                               resolved in check_config */
    struct revproxy_tls_conf *tls;          /* its server's */
    int tls_verify_on;                      /* resolved: 0 or 1 */
    apr_interval_time_t hcheck;             /* 0: no health check */
    const char *hcheck_uri;                 /* default "/" */
    const char *hcmethod;                   /* GET (default), HEAD, OPTIONS */
    apr_array_header_t *hcexpect;           /* revproxy_status_range;
                                               NULL: 200-399 */
    int hcfails, hcpasses;                  /* in a row, default 1 */
    int lbmethod;                           /* REVPROXY_LB_* */
    const int *wrr[2];                      /* the smooth weighted round-
                                               robin order of member
                                               indexes, wrr_len long (the
                                               sum of the weights): [0]
                                               of the members that are not
                                               standby, [1] of the standby
                                               ones */
    int wrr_len[2];
    const char *sticky;                     /* sticky=: the cookie, or NULL */
    int stickyinsert;
    int maxconns;                           /* maxconns=, 0: no limit */
    apr_interval_time_t acquire;            /* acquire=, default 0 */
    apr_array_header_t *failonstatus;       /* int; NULL: none */
    int failontimeout;
    int slot;                               /* as a member's */
    revproxy_group_state *state;
    revproxy_score_group *counters;
    const revproxy_score *score;            /* the scoreboard (post_config),
                                               for this child's gauges */
} revproxy_group;

/* The member a request ended up with, for the counters of its body. */
typedef struct revproxy_pick {
    const revproxy_group *group;
    const revproxy_member *member;  /* NULL: none answered */
    apr_off_t in0, out0;            /* x->bytes_in/out when it started */
} revproxy_pick;

/* The group name refers to in groups (own, then inherited), or NULL. */
const revproxy_group *revproxy_backend_find(const apr_array_header_t *groups,
                                            const char *name);

/* At config time (check_config), once per group, before
 * revproxy_backend_resolve: the members' resolved maxconns and the
 * round-robin order.  Returns an error text (no member) or NULL. */
const char *revproxy_backend_prepare(revproxy_group *g, apr_pool_t *p);

/* Requests in flight on m now, summed over the children. */
long revproxy_backend_inflight(const revproxy_group *g,
                               const revproxy_member *m);

/* At config time (check_config), once per group, in the server that
 * defines it: its TLS settings and that server's resolved limits, from
 * which the health check's are made. */
void revproxy_backend_resolve(revproxy_group *g, const revproxy_limits *lim,
                              struct revproxy_tls_conf *tls,
                              int tls_verify_on);

/* Step Three of the handler for a backend:// destination: pick a member,
 * run revproxy_x_start with it, fail over while that is safe.  x is set
 * up as for a plain destination (x->path the expanded path, x->lim and
 * the TLS settings from the rule's resolved route); the member's address,
 * base path and Host (unless keephost) are filled in here.  Returns OK with pick->member set, or the status for
 * the client (502, 504, 503 with Retry-After, 4xx from the client side);
 * every failure is logged here, naming the rule, the group and the
 * member. */
int revproxy_backend_start(struct revproxy_exchange *x,
                           const revproxy_group *g,
                           const struct revproxy_rule *rule,
                           revproxy_pick *pick);

/* What a group's and a member's slots hold, for the scoreboard's keys
 * (post_config): their size, how a new one starts (now: up since now). */
void revproxy_backend_score_kinds(revproxy_score_keys *k, apr_time_t now);

/* Point g and its members at their slots in sb (g->slot and the members'
 * slots registered), or at nothing when sb is NULL. */
void revproxy_backend_attach(revproxy_group *g, const revproxy_score *sb);

/* child_init: the health-check thread of this child (it works only in the
 * child that owns the checks).  Needs the connection pool and the
 * scoreboard row of this child in place. */
void revproxy_backend_child_init(apr_pool_t *pchild, server_rec *s);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_BACKEND_H */
