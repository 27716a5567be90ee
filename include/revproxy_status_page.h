/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_status_page -- the status page's writers: one snapshot of the
 * numbers (read once by revproxy_status.c), written as HTML, JSON,
 * Prometheus text or mod_status's summary.  Plain values only: the
 * writers know neither the scoreboard nor the balancer.
 */
#ifndef REVPROXY_STATUS_PAGE_H
#define REVPROXY_STATUS_PAGE_H

#include "httpd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The bounds (microseconds) of the latency histograms in the metrics,
 * as nginx-vts and HAProxy export them: few, so that the output stays
 * small. */
#define REVPROXY_STATUS_LE 15
#define REVPROXY_STATUS_LE_US { 1000, 2500, 5000, 10000, 25000, 50000, \
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, \
    30000000, 60000000 }

typedef struct revproxy_status_member_view {
    const char *url;
    int up;                     /* not down for failures or checks */
    const char *state;          /* as shown: "up", "down", or the admin's
                                   "drain" / "disabled" over either */
    const char *down_by;        /* down: "request" or "health check" */
    apr_time_t since, down_until, hc_last;
    apr_uint64_t requests;
    apr_uint64_t fail[4];       /* refused, timeout, bad, aborted */
    apr_uint64_t bytes_in, bytes_out;
    apr_uint64_t hc_checks, hc_failed;
    int hc_ok;
    apr_uint64_t lat_count, lat_sum;    /* lat_sum: microseconds */
    double p50, p99;            /* milliseconds; -1: no sample */
    long open, idle;            /* connections, over every child */
    long inflight;              /* requests in flight, over every child */
    apr_uint64_t le[REVPROXY_STATUS_LE];    /* latencies at or below each
                                               bound (cumulative) */
    apr_uint64_t conn_new, conn_reused;     /* what brought the heads */
} revproxy_status_member_view;

typedef struct revproxy_status_group_view {
    const char *name, *server, *where;
    apr_interval_time_t retry;
    int max_idle;
    apr_interval_time_t hcheck;         /* <= 0: no health check */
    const char *hcheck_uri;
    apr_uint64_t requests, unavailable;
    int nmembers;
    revproxy_status_member_view *members;
} revproxy_status_group_view;

typedef struct revproxy_status_rule_view {
    const char *server, *directive, *pattern, *destination, *where;
    apr_uint64_t hits, errors, bytes_in, bytes_out;
    apr_uint64_t lat_count, lat_sum;        /* lat_sum: microseconds */
    apr_uint64_t le[REVPROXY_STATUS_LE];    /* as a member's */
    apr_uint64_t conn_new, conn_reused;
} revproxy_status_rule_view;

typedef struct revproxy_status_snapshot {
    apr_time_t now;
    apr_time_t created;         /* counting since */
    unsigned configurations;    /* the counters served */
    unsigned pid;               /* the process writing the page */
    unsigned hc_owner;          /* the process doing the checks, 0: none */
    int nchildren;
    const char *children;       /* their pids: "12, 13" */
    int ngroups;
    revproxy_status_group_view *groups;
    int nrules;
    revproxy_status_rule_view *rules;
    const char *nonce;          /* the manager's (RevProxyStatusManage On),
                                   NULL: the page only shows */
    const char *action;         /* the page's path, for the forms */
} revproxy_status_snapshot;

void revproxy_status_html(request_rec *r, const revproxy_status_snapshot *s);
void revproxy_status_json(request_rec *r, const revproxy_status_snapshot *s);
void revproxy_status_metrics(request_rec *r,
                             const revproxy_status_snapshot *s);

/* mod_status's summary: its ?auto lines (brief), or a paragraph. */
void revproxy_status_mod_status(request_rec *r,
                                const revproxy_status_snapshot *s, int brief);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_STATUS_PAGE_H */
