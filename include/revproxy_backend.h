/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_backend -- backend groups: `RevProxyBackend NAME URL [URL ...]
 * [option ...]` and the `backend://NAME/PATH` destinations that use them.
 *
 * Requests go round-robin over the members of a group (one counter in
 * shared memory, so all threads and all child processes take turns).  A
 * member whose connect fails, or whose connection breaks before any
 * response byte, is marked down in shared memory for retry=D; the request
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
#include "revproxy_upstream.h"

#ifdef __cplusplus
extern "C" {
#endif

struct revproxy_rule;

/* Defaults and limits of RevProxyBackend's options. */
#define REVPROXY_DEFAULT_RETRY         apr_time_from_sec(30)
#define REVPROXY_DEFAULT_MAX_IDLE      32
#define REVPROXY_DEFAULT_FAILS         3
#define REVPROXY_DEFAULT_MAX_ATTEMPTS  3
#define REVPROXY_MAX_MEMBERS           256

typedef struct revproxy_member {
    const char *url;            /* as configured, for logs and the status */
    revproxy_addr addr;         /* https, host, port (TLS set per request) */
    const char *hostport;       /* the Host header: host[:port] */
    const char *base;           /* the URL's path without a trailing '/',
                                   prepended to backend:// paths; "" */
    int slot;                   /* in the shared counters (post_config) */
} revproxy_member;

typedef struct revproxy_group {
    const char *name;
    const char *where;          /* "file:line" */
    const char *definition;     /* every argument: the state survives a
                                   graceful restart when this is unchanged */
    server_rec *server;         /* where RevProxyBackend appears: its TLS
                                   settings are the members' */
    apr_array_header_t *members;            /* revproxy_member */
    apr_interval_time_t retry;              /* default 30s */
    apr_interval_time_t connect_timeout, timeout, send_timeout; /* -1 */
    int max_idle;                           /* max=, default 32 */
    int fails;                              /* fails=, default 3 */
    int max_attempts;                       /* maxattempts=, default 3 */
    int tlsverify;                          /* REVPROXY_UNSET, 0, 1 */
    revproxy_limits hc_lim;                 /* the health check's,
                                               resolved in check_config */
    struct revproxy_tls_conf *tls;          /* its server's */
    int tls_verify_on;                      /* resolved: 0 or 1 */
    apr_interval_time_t hcheck;             /* 0: no health check */
    const char *hcheck_uri;                 /* default "/" */
    int slot;                               /* in the shared counters */
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
int revproxy_backend_start(revproxy_exchange *x, const revproxy_group *g,
                           const struct revproxy_rule *rule,
                           revproxy_pick *pick);

/* child_init: the health-check thread of this child (it works only in the
 * child that owns the checks).  Needs the connection pool and the
 * scoreboard of this child in place. */
void revproxy_backend_child_init(apr_pool_t *pchild, server_rec *s);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_BACKEND_H */
