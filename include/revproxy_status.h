/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_status -- the status page (`SetHandler revproxy-status`: HTML,
 * JSON with ?json, Prometheus text with ?metrics) and a summary in
 * mod_status, drawn from one snapshot of the scoreboard
 * (revproxy_score.h); and the counters of the requests the handler
 * served.
 *
 * The numbers live in the scoreboard's slots: a rule's counters, a
 * group's and a member's counters next to the balancer's state of them
 * (revproxy_backend.h), and per child process the connections open and
 * idle to each member.
 */
#ifndef REVPROXY_STATUS_H
#define REVPROXY_STATUS_H

#include "httpd.h"

#include "revproxy_score.h"

#ifdef __cplusplus
extern "C" {
#endif

struct revproxy_rule;
struct revproxy_group;

/* What the page lists, in the order of the configuration: every rule that
 * proxies and every group once, with the server that defines it ("main",
 * or "name:port"). */
typedef struct revproxy_status_rule {
    const char *server;
    const struct revproxy_rule *rule;
} revproxy_status_rule;

typedef struct revproxy_status_group {
    const char *server;
    const struct revproxy_group *group;
} revproxy_status_group;

typedef struct revproxy_status_index {
    const revproxy_score *score;    /* NULL: no shared memory */
    apr_array_header_t *rules;      /* revproxy_status_rule */
    apr_array_header_t *groups;     /* revproxy_status_group */
    const char *nonce;              /* this generation's, for the manager
                                       (RevProxyStatusManage); NULL: none
                                       could be made */
} revproxy_status_index;

/* A new random nonce (hex) for the manager's forms, once per generation
 * (post_config, so that every child of it has the same one); NULL when
 * no random bytes could be had (the manager then refuses every POST). */
const char *revproxy_status_nonce(apr_pool_t *p, server_rec *s);

/* A request the handler served ends: the counters of its rule (rc) and of
 * the member that answered (mc; NULL: none did, or a plain destination).
 * status: what the handler returns (OK, or the status it answered);
 * aborted: the response broke off after its head went out; in, out:
 * bytes from and to backends over every attempt; member_in, member_out:
 * the answering member's part of them. */
void revproxy_status_request(revproxy_score_rule *rc,
                             revproxy_score_member *mc, int status,
                             int aborted, apr_off_t in, apr_off_t out,
                             apr_off_t member_in, apr_off_t member_out);

/* A request's final response head arrived t after its first attempt
 * began, over a reused pooled connection or a new one: the latency and
 * the kind of connection for its rule (rc), the kind of connection for
 * the member that answered (mc; NULL: a plain destination; the member's
 * own latency is counted per attempt). */
void revproxy_status_head(revproxy_score_rule *rc, revproxy_score_member *mc,
                          apr_interval_time_t t, int reused);

/* The handler of `SetHandler revproxy-status`. */
int revproxy_status_handler(request_rec *r);

/* mod_status's status_hook: the summary. */
int revproxy_status_summary(request_rec *r, int flags);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_STATUS_H */
