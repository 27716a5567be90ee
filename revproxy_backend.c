/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * Backend groups: the choice of a member, failover, and the health check
 * (RevProxyBackend's arguments are parsed in mod_revproxy.c).
 *
 * The state of every member (up, down until when, since when) sits in its
 * slot of the scoreboard (revproxy_score.c), so all threads and all child
 * processes see one picture; every change is a single atomic operation:
 *  - up -> down: an exchange (set of the state; the one that changed it
 *    logs the transition), the time it may be tried again first;
 *  - the probe after retry: a compare-and-swap of down_until from the
 *    expired value to now + retry, which exactly one request wins;
 *  - down -> up: an exchange, by the probe's success or a passing check.
 */

#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>
#if APR_HAS_THREADS
#include <pthread.h>
#endif

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_uri.h"
#include "apr_atomic.h"
#include "apr_hash.h"
#include "apr_thread_proc.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"

#include "revproxy_private.h"
#include "revproxy_backend.h"
#include "revproxy_upstream.h"
#include "revproxy_http1.h"
#include "revproxy_util.h"

APLOG_USE_MODULE(revproxy);

#define HC_TICK           apr_time_from_msec(100)
#define HC_MAX_LINE       8190

const revproxy_group *revproxy_backend_find(const apr_array_header_t *groups,
                                            const char *name)
{
    int i;

    for (i = 0; groups && i < groups->nelts; i++) {
        const revproxy_group *g = APR_ARRAY_IDX(groups, i, revproxy_group *);
        if (strcasecmp(g->name, name) == 0) {
            return g;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Member state                                                            */

static const char *duration_text(apr_pool_t *p, apr_interval_time_t t)
{
    if (t % APR_USEC_PER_SEC == 0) {
        return apr_psprintf(p, "%" APR_TIME_T_FMT "s", apr_time_sec(t));
    }
    return apr_psprintf(p, "%" APR_TIME_T_FMT "ms", apr_time_as_msec(t));
}

/* Take m out: how is REVPROXY_MEMBER_DOWN (a request failed; probed after
 * retry) or REVPROXY_MEMBER_HCDOWN (the check failed).  The caller that
 * changes the state logs it; r is NULL in the health-check thread. */
static void mark_down(const revproxy_group *g, const revproxy_member *m,
                      revproxy_member_state *ms, apr_uint32_t how,
                      const char *why, request_rec *r,
                      const revproxy_rule *rule)
{
    apr_time_t now = apr_time_now();
    apr_interval_time_t span = how == REVPROXY_MEMBER_HCDOWN ? g->hcheck
                                                             : g->retry;
    apr_uint32_t prev;
    apr_pool_t *p = r ? r->pool : NULL;

    if (ms == NULL) {
        return;
    }
    apr_atomic_set64(&ms->down_until, (apr_uint64_t)(now + span));
    if (how == REVPROXY_MEMBER_HCDOWN) {
        prev = apr_atomic_xchg32(&ms->state, how);
    }
    else {
        /* A member the health check took out stays the check's. */
        prev = apr_atomic_cas32(&ms->state, how, REVPROXY_MEMBER_UP);
    }
    if (prev != REVPROXY_MEMBER_UP) {
        if (r) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RVPLOGNO(0304)
                          "backend group %s: member %s still down: %s",
                          g->name, m->url, why);
        }
        return;
    }
    apr_atomic_set64(&ms->since, (apr_uint64_t)now);
    if (r) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RVPLOGNO(0300)
                      "backend group %s (%s): member %s marked down for "
                      "retry=%s: %s (%s \"%s\" at %s)", g->name, g->where,
                      m->url, duration_text(p, span), why, rule->directive,
                      rule->pattern, rule->where);
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->server, RVPLOGNO(0305)
                     "backend group %s (%s): member %s marked down by the "
                     "health check: %s", g->name, g->where, m->url, why);
    }
}

static void mark_up(const revproxy_group *g, const revproxy_member *m,
                    revproxy_member_state *ms, request_rec *r,
                    const char *how)
{
    apr_time_t now = apr_time_now(), since;
    apr_uint32_t prev;

    if (ms == NULL
        || apr_atomic_read32(&ms->state) == REVPROXY_MEMBER_UP) {
        return;
    }
    since = (apr_time_t)apr_atomic_read64(&ms->since);
    prev = apr_atomic_xchg32(&ms->state, REVPROXY_MEMBER_UP);
    if (prev == REVPROXY_MEMBER_UP) {
        return;
    }
    apr_atomic_set64(&ms->since, (apr_uint64_t)now);
    if (r) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, RVPLOGNO(0301)
                      "backend group %s (%s): member %s is back up (%s) "
                      "after %" APR_TIME_T_FMT "s down", g->name, g->where,
                      m->url, how, apr_time_sec(now - since));
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, g->server, RVPLOGNO(0306)
                     "backend group %s (%s): member %s is back up (%s) "
                     "after %" APR_TIME_T_FMT "s down", g->name, g->where,
                     m->url, how, apr_time_sec(now - since));
    }
}

/* Whether a request may use m now.  A member whose retry has passed is
 * claimed by exactly one request (the compare-and-swap on down_until
 * moves it retry into the future), which probes it. */
static int usable(const revproxy_group *g, revproxy_member_state *ms,
                  apr_time_t now)
{
    apr_uint64_t until;

    if (ms == NULL) {
        return 1;
    }
    if (apr_atomic_read32(&ms->admin) != REVPROXY_ADMIN_ACTIVE) {
        return 0;               /* drained or disabled by the admin */
    }
    switch (apr_atomic_read32(&ms->state)) {
    case REVPROXY_MEMBER_UP:
        return 1;
    case REVPROXY_MEMBER_DOWN:
        until = apr_atomic_read64(&ms->down_until);
        if ((apr_time_t)until > now) {
            return 0;
        }
        return apr_atomic_cas64(&ms->down_until,
                                (apr_uint64_t)(now + g->retry), until)
               == until;
    default:
        return 0;               /* the health check brings it back */
    }
}

/* The next member in turn that is not tried yet and may be used. */
static const revproxy_member *choose(const revproxy_group *g,
                                     apr_uint32_t turn, char *tried)
{
    int n = g->members->nelts, k;
    apr_time_t now = apr_time_now();

    for (k = 0; k < n; k++) {
        int i = (int)((turn + (apr_uint32_t)k) % (apr_uint32_t)n);
        const revproxy_member *m = &APR_ARRAY_IDX(g->members, i,
                                                  revproxy_member);
        if (tried[i]) {
            continue;
        }
        if (usable(g, m->state, now)) {
            tried[i] = 1;
            return m;
        }
    }
    return NULL;
}

/* Seconds until the first member may be tried again (at least 1). */
static long retry_after(const revproxy_group *g)
{
    apr_time_t now = apr_time_now();
    apr_interval_time_t best = -1;
    int i;

    for (i = 0; i < g->members->nelts; i++) {
        const revproxy_member *m = &APR_ARRAY_IDX(g->members, i,
                                                  revproxy_member);
        revproxy_member_state *ms = m->state;
        apr_interval_time_t wait;
        if (ms == NULL) {
            continue;
        }
        wait = (apr_time_t)apr_atomic_read64(&ms->down_until) - now;
        if (wait < 0) {
            wait = 0;
        }
        if (best < 0 || wait < best) {
            best = wait;
        }
    }
    if (best <= 0) {
        return 1;
    }
    return (long)((best + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC);
}

/* ---------------------------------------------------------------------- */
/* Scoreboard slots                                                        */

/* What a group's and a member's slots hold. */
typedef struct group_slot {
    revproxy_group_state state;
    revproxy_score_group counters;
} group_slot;

typedef struct member_slot {
    revproxy_member_state state;
    revproxy_score_member counters;
} member_slot;

void revproxy_backend_score_kinds(revproxy_score_keys *k, apr_time_t now)
{
    member_slot fresh;

    /* A new member is up since now, and passes its health check until one
     * fails. */
    memset(&fresh, 0, sizeof(fresh));
    fresh.state.since = (apr_uint64_t)now;
    fresh.state.hc_ok = 1;
    revproxy_score_kind_set(k, REVPROXY_SCORE_GROUP, sizeof(group_slot),
                            NULL, 0);
    /* Per child: the connections open and idle (revproxy_addr.gauges). */
    revproxy_score_kind_set(k, REVPROXY_SCORE_MEMBER, sizeof(member_slot),
                            &fresh, 2);
}

/* The admin state of a member whose slot was taken over from the last
 * configuration stays what the status page made it, unless this
 * configuration's status= differs from the last one's: then it wins. */
static void adopt_admin_state(revproxy_member_state *ms,
                              const revproxy_member *m)
{
    apr_uint32_t conf = (apr_uint32_t)m->admin_conf;

    if (apr_atomic_read32(&ms->admin_conf) != conf) {
        apr_atomic_set32(&ms->admin, conf);
        apr_atomic_set32(&ms->admin_conf, conf);
    }
}

void revproxy_backend_attach(revproxy_group *g, const revproxy_score *sb)
{
    group_slot *gs = revproxy_score_block(sb, REVPROXY_SCORE_GROUP, g->slot);
    int i;

    g->score = sb;
    g->state = gs ? &gs->state : NULL;
    g->counters = gs ? &gs->counters : NULL;
    for (i = 0; i < g->members->nelts; i++) {
        revproxy_member *m = &APR_ARRAY_IDX(g->members, i, revproxy_member);
        member_slot *ms = revproxy_score_block(sb, REVPROXY_SCORE_MEMBER,
                                               m->slot);
        m->state = ms ? &ms->state : NULL;
        m->counters = ms ? &ms->counters : NULL;
        if (ms) {
            adopt_admin_state(&ms->state, m);
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Request time                                                            */

/* A response head arrived t after the attempt started. */
static void count_latency(revproxy_score_member *mc, apr_interval_time_t t)
{
    apr_uint64_t us = t > 0 ? (apr_uint64_t)t : 0;

    if (mc) {
        apr_atomic_inc32(&mc->lat[revproxy_score_lat_bucket(us)]);
        apr_atomic_add64(&mc->lat_sum, us);
    }
}

/* One more request in a row ended on m without a usable answer: at
 * g->fails of them, m is marked down (and the count starts again). */
static void count_failure(const revproxy_group *g, const revproxy_member *m,
                          revproxy_member_state *ms,
                          const revproxy_exchange *x, request_rec *r,
                          const revproxy_rule *rule)
{
    apr_uint32_t n;

    if (ms == NULL) {
        return;
    }
    n = apr_atomic_inc32(&ms->fails_in_row) + 1;
    if (n < (apr_uint32_t)g->fails) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RVPLOGNO(0323)
                      "backend group %s: member %s failed %u time%s in a row "
                      "(fails=%d): %s", g->name, m->url, n,
                      n == 1 ? "" : "s", g->fails,
                      x->why ? x->why : "failed");
        return;
    }
    apr_atomic_set32(&ms->fails_in_row, 0);
    mark_down(g, m, ms, REVPROXY_MEMBER_DOWN,
              apr_psprintf(r->pool, "%s (%u requests in a row)",
                           x->why ? x->why : "failed", n), r, rule);
}

static void log_member_failure(request_rec *r, const revproxy_rule *rule,
                               const revproxy_group *g,
                               const revproxy_exchange *x, int status,
                               const char *extra)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, x->rv, r, RVPLOGNO(0303)
                  "backend %s of group %s (%s \"%s\" at %s): %s%s%s",
                  revproxy_x_backend(x), g->name, rule->directive,
                  rule->pattern, rule->where, x->why ? x->why : "failed",
                  extra ? extra : "",
                  status == HTTP_GATEWAY_TIME_OUT ? "; answered 504"
                  : status == HTTP_BAD_GATEWAY ? "; answered 502" : "");
}

/* How a request fared over the members so far. */
typedef struct failover {
    int tried;                  /* members chosen */
    int sent;                   /* members it reached that failed it */
    int sent_status;            /* the last of those failures */
    const char *sent_why;
} failover;

/* x goes to member m: its address, base path and Host. */
static void aim_at(revproxy_exchange *x, const revproxy_group *g,
                   const revproxy_member *m, const revproxy_rule *rule,
                   const char *path)
{
    request_rec *r = x->r;

    x->addr.https = m->addr.https;
    x->addr.host = m->addr.host;
    x->addr.port = m->addr.port;
    x->addr.sock = m->addr.sock;
    x->addr.gauges = revproxy_score_gauges(g->score, REVPROXY_SCORE_MEMBER,
                                           m->slot);
    x->path = *m->base ? apr_pstrcat(r->pool, m->base, path, NULL) : path;
    if (!(rule->keephost && apr_table_get(r->headers_in, "Host"))) {
        apr_table_setn(x->own, "Host", m->hostport);
    }
}

/* The request failed on m with status: count it, mark m as the failure
 * says, and tell whether the request may move on to another member (1)
 * or gets status (0; logged). */
static int after_failure(revproxy_exchange *x, const revproxy_group *g,
                         const revproxy_member *m, const revproxy_rule *rule,
                         int status, failover *fo)
{
    request_rec *r = x->r;
    revproxy_score_member *mc = m->counters;

    if (mc && x->fail >= REVPROXY_FAIL_REFUSED
        && x->fail <= REVPROXY_FAIL_ABORTED) {
        apr_atomic_inc64(&mc->fail[x->fail - REVPROXY_FAIL_REFUSED]);
    }
    if (x->fail == REVPROXY_FAIL_REFUSED
        || (x->fail == REVPROXY_FAIL_TIMEOUT && x->unconnected)) {
        /* No connection (refused, unreachable, TLS, connect timeout):
         * down at once, and the request has not reached it. */
        mark_down(g, m, m->state, REVPROXY_MEMBER_DOWN,
                  x->why ? x->why : "failed", r, rule);
    }
    else if (x->fail == REVPROXY_FAIL_BAD) {
        /* Connected, but no usable answer: the request may have been what
         * broke it, so one such request does not take the member out;
         * fails= of them in a row do. */
        fo->sent++;
        fo->sent_status = status;
        fo->sent_why = x->why;
        count_failure(g, m, m->state, x, r, rule);
    }
    else {
        /* No head within the timeout: the request may still be at work
         * there; the member's answer is a 504. */
        log_member_failure(r, rule, g, x, status, NULL);
        return 0;
    }
    if (fo->sent >= g->max_attempts) {
        log_member_failure(r, rule, g, x, status, apr_psprintf(r->pool,
                           "; sent to %d member%s (maxattempts=%d): not sent "
                           "again", fo->sent, fo->sent == 1 ? "" : "s",
                           g->max_attempts));
        return 0;
    }
    if (!revproxy_x_replayable(x)) {
        log_member_failure(r, rule, g, x, status, "; bytes of the request "
                           "reached it and the method is not idempotent: "
                           "not sent to another member");
        return 0;
    }
    if (!revproxy_x_reset(x)) {
        log_member_failure(r, rule, g, x, status, "; the request body "
                           "cannot be sent again: not sent to another "
                           "member");
        return 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RVPLOGNO(0307)
                  "backend group %s: member %s failed (%s), trying the next "
                  "one", g->name, m->url, x->why ? x->why : "failed");
    return 1;
}

/* Every member was tried or is down.  One that got the request and failed
 * it gave the answer: 502, not "unavailable"; else 503 + Retry-After. */
static int no_member_left(revproxy_exchange *x, const revproxy_group *g,
                          const revproxy_rule *rule, const failover *fo)
{
    request_rec *r = x->r;
    long after;

    if (fo->sent > 0) {
        x->why = fo->sent_why;
        x->fail = REVPROXY_FAIL_BAD;
        log_member_failure(r, rule, g, x, fo->sent_status,
                           apr_psprintf(r->pool, "; sent to %d member%s, no "
                                        "other member to try", fo->sent,
                                        fo->sent == 1 ? "" : "s"));
        return fo->sent_status;
    }
    if (g->counters) {
        apr_atomic_inc64(&g->counters->unavailable);
    }
    after = retry_after(g);
    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_ltoa(r->pool, after));
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RVPLOGNO(0302)
                  "backend group %s (%s \"%s\" at %s): %s; answered 503 "
                  "with Retry-After: %ld", g->name, rule->directive,
                  rule->pattern, rule->where,
                  fo->tried ? apr_psprintf(r->pool, "every member is down "
                                           "(%d tried)", fo->tried)
                            : "every member is down", after);
    return HTTP_SERVICE_UNAVAILABLE;
}

int revproxy_backend_start(revproxy_exchange *x, const revproxy_group *g,
                           const revproxy_rule *rule, revproxy_pick *pick)
{
    static apr_uint32_t local_turn;     /* without shared memory */
    request_rec *r = x->r;
    revproxy_group_state *gs = g->state;
    const char *path = x->path;
    char *tried = apr_pcalloc(r->pool, g->members->nelts);
    const revproxy_member *m;
    failover fo = { 0, 0, HTTP_BAD_GATEWAY, NULL };
    apr_uint32_t turn;

    memset(pick, 0, sizeof(*pick));
    pick->group = g;
    if (g->counters) {
        apr_atomic_inc64(&g->counters->requests);
    }
    turn = gs ? apr_atomic_inc32(&gs->turn) : local_turn++;
    while ((m = choose(g, turn, tried)) != NULL) {
        revproxy_score_member *mc = m->counters;
        apr_off_t in0 = x->bytes_in, out0 = x->bytes_out;
        apr_time_t t0 = apr_time_now();
        int status;

        aim_at(x, g, m, rule, path);
        fo.tried++;
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "backend group %s: "
                      "member %s chosen (%d tried before)", g->name, m->url,
                      fo.tried - 1);
        if (mc) {
            apr_atomic_inc64(&mc->requests);
        }
        status = revproxy_x_start(x);
        if (status == OK) {
            count_latency(mc, apr_time_now() - t0);
            if (m->state && apr_atomic_read32(&m->state->fails_in_row)) {
                apr_atomic_set32(&m->state->fails_in_row, 0);
            }
            mark_up(g, m, m->state, r, "a request succeeded");
            pick->member = m;
            pick->in0 = in0;
            pick->out0 = out0;
            return OK;
        }
        if (mc) {
            apr_atomic_add64(&mc->bytes_in, (apr_uint64_t)(x->bytes_in - in0));
            apr_atomic_add64(&mc->bytes_out,
                             (apr_uint64_t)(x->bytes_out - out0));
        }
        if (x->fail == REVPROXY_FAIL_CLIENT
            || !after_failure(x, g, m, rule, status, &fo)) {
            return status;
        }
    }
    return no_member_left(x, g, rule, &fo);
}

/* ---------------------------------------------------------------------- */
/* Health check: one thread per child, working only in the child that owns
 * the checks (revproxy_score_owner). */

static struct {
    apr_array_header_t *groups;     /* revproxy_group * with hcheck > 0 */
    revproxy_score *score;          /* who owns the checks */
    volatile apr_uint32_t stop;
#if APR_HAS_THREADS
    apr_thread_t *thread;
#endif
} hc;

/* Limits of one check: the group's (or its server's), never more than the
 * interval (at least 1s), so that a check ends before the next is due. */
static apr_interval_time_t hc_limit(const revproxy_group *g,
                                    apr_interval_time_t v)
{
    apr_interval_time_t cap = g->hcheck > apr_time_from_sec(1)
                              ? g->hcheck : apr_time_from_sec(1);
    return (v <= 0 || v > cap) ? cap : v;
}

void revproxy_backend_resolve(revproxy_group *g, const revproxy_limits *lim,
                              struct revproxy_tls_conf *tls,
                              int tls_verify_on)
{
    g->tls = tls;
    g->tls_verify_on = g->tlsverify != REVPROXY_UNSET ? g->tlsverify
                                                     : tls_verify_on;
    g->hc_lim = *lim;
    g->hc_lim.connect_timeout = hc_limit(g, g->connect_timeout >= 0
                                            ? g->connect_timeout
                                            : lim->connect_timeout);
    g->hc_lim.timeout = g->hc_lim.send_timeout
        = hc_limit(g, g->timeout >= 0 ? g->timeout : lim->timeout);
    g->hc_lim.reuse = 0;
    g->hc_lim.max_line = HC_MAX_LINE;
    g->hc_lim.max_fields = 100;
}

/* What a failed check says, in the words of the log line. */
static const char *hc_failure(apr_pool_t *p, const revproxy_addr *a,
                              revproxy_client *c, int kind, int in_head)
{
    const char *why = revproxy_client_why(c);

    if (!in_head) {
        return kind == REVPROXY_FAIL_TIMEOUT
               ? apr_psprintf(p, "connect to %s timed out",
                              revproxy_addr_name(p, a))
               : why ? why : "connect failed";
    }
    if (kind == REVPROXY_FAIL_TIMEOUT) {
        return "timed out waiting for the response head";
    }
    if (why && strncmp(why, "invalid response: ", 18) == 0) {
        return why;
    }
    return "connection closed before the response head";
}

/* One check of m with the client core: GET (Connection: close) of the
 * member's base path and hcheckuri; 200-399 passes. */
static int hc_check(const revproxy_group *g, const revproxy_member *m,
                    apr_pool_t *p, const char **why)
{
    revproxy_addr a = m->addr;
    revproxy_head_spec hs;
    revproxy_client *c;
    apr_table_t *own = apr_table_make(p, 2);
    apr_size_t hlen;
    const char *head;
    int kind, status;

    a.tls = g->tls;
    a.tls_verify = g->tls_verify_on;
    a.gauges = NULL;

    apr_table_setn(own, "Host", m->hostport);
    apr_table_setn(own, "User-Agent", "mod_revproxy health check");
    memset(&hs, 0, sizeof(hs));
    hs.method = "GET";
    hs.target = apr_pstrcat(p, m->base, g->hcheck_uri, NULL);
    hs.own = own;
    hs.close = 1;
    head = revproxy_head_build(p, &hs, &hlen);

    c = revproxy_client_make(p, apr_bucket_alloc_create(p), &a, &g->hc_lim);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_NONE, 0);
    *why = NULL;
    kind = revproxy_client_connect(c, 0);
    if (kind != REVPROXY_FAIL_NONE) {
        *why = hc_failure(p, &a, c, kind, 0);
        return 0;
    }
    if (revproxy_client_write(c, head, hlen, NULL, 1) != APR_SUCCESS) {
        *why = "sending the check failed";
        revproxy_client_finish(c);
        return 0;
    }
    kind = revproxy_client_read_head(c);
    revproxy_client_finish(c);
    if (kind != REVPROXY_FAIL_NONE) {
        *why = hc_failure(p, &a, c, kind, 1);
        return 0;
    }
    status = revproxy_client_response(c)->status;
    *why = apr_psprintf(p, "GET %s answered %d", hs.target, status);
    return status >= 200 && status < 400;
}

static void hc_member(const revproxy_group *g, const revproxy_member *m,
                      apr_pool_t *p)
{
    revproxy_member_state *ms = m->state;
    apr_time_t now = apr_time_now();
    const char *why;
    int ok;

    if (ms == NULL
        || (apr_time_t)apr_atomic_read64(&ms->hc_next) > now) {
        return;
    }
    apr_atomic_set64(&ms->hc_next, (apr_uint64_t)(now + g->hcheck));
    ok = hc_check(g, m, p, &why);
    apr_atomic_inc64(&ms->hc_checks);
    apr_atomic_set64(&ms->hc_last, (apr_uint64_t)apr_time_now());
    apr_atomic_set32(&ms->hc_ok, ok);
    if (ok) {
        mark_up(g, m, ms, NULL, "health check passed");
    }
    else {
        apr_atomic_inc64(&ms->hc_failed);
        mark_down(g, m, ms, REVPROXY_MEMBER_HCDOWN,
                  apr_psprintf(p, "GET %s%s: %s", m->base, g->hcheck_uri,
                               why ? why : "failed"), NULL, NULL);
    }
}

#if APR_HAS_THREADS
static void *APR_THREAD_FUNC hc_run(apr_thread_t *t, void *data)
{
    apr_pool_t *p;
    int i, j;

    (void)data;
    (void)t;
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) {
        return NULL;
    }
    while (!apr_atomic_read32(&hc.stop)) {
        apr_sleep(HC_TICK);
        if (apr_atomic_read32(&hc.stop) || !revproxy_score_owner(hc.score)) {
            continue;
        }
        for (i = 0; i < hc.groups->nelts && !apr_atomic_read32(&hc.stop);
             i++) {
            const revproxy_group *g = APR_ARRAY_IDX(hc.groups, i,
                                                    revproxy_group *);
            for (j = 0; j < g->members->nelts
                        && !apr_atomic_read32(&hc.stop); j++) {
                hc_member(g, &APR_ARRAY_IDX(g->members, j, revproxy_member),
                          p);
                apr_pool_clear(p);
            }
        }
    }
    apr_pool_destroy(p);
    /* A plain return, not apr_thread_exit(): pthread_exit's unwinding
     * leaves stack redzones poisoned under ASan (SANITIZE=1). */
    return NULL;
}

static apr_status_t hc_stop(void *data)
{
    apr_status_t rv;

    (void)data;
    apr_atomic_set32(&hc.stop, 1);
    if (hc.thread) {
        apr_thread_join(&rv, hc.thread);
        hc.thread = NULL;
    }
    revproxy_score_owner_release(hc.score);
    return APR_SUCCESS;
}
#endif

/* Every child starts the thread; only the owner of the checks works. */
void revproxy_backend_child_init(apr_pool_t *pchild, server_rec *s)
{
#if APR_HAS_THREADS
    apr_hash_t *seen = apr_hash_make(pchild);
    server_rec *v;
    sigset_t all, old;
    apr_status_t rv;

    hc.groups = apr_array_make(pchild, 4, sizeof(revproxy_group *));
    hc.score = ((revproxy_server_conf *)ap_get_module_config(
                    s->module_config, &revproxy_module))->score;
    for (v = s; v; v = v->next) {
        revproxy_server_conf *sc = ap_get_module_config(v->module_config,
                                                        &revproxy_module);
        int i;
        for (i = 0; sc->groups && i < sc->groups->nelts; i++) {
            revproxy_group *g = APR_ARRAY_IDX(sc->groups, i,
                                              revproxy_group *);
            if (g->hcheck > 0
                && !apr_hash_get(seen, &g, sizeof(g))) {
                apr_hash_set(seen, apr_pmemdup(pchild, &g, sizeof(g)),
                             sizeof(g), g);
                *(revproxy_group **)apr_array_push(hc.groups) = g;
            }
        }
    }
    if (hc.groups->nelts == 0) {
        return;
    }
    apr_atomic_set32(&hc.stop, 0);
    /* The thread starts with every signal blocked: the MPM's signals are
     * for its own threads (prefork's handlers, event's signal thread). */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rv = apr_thread_create(&hc.thread, NULL, hc_run, NULL, pchild);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rv != APR_SUCCESS) {
        hc.thread = NULL;
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, RVPLOGNO(0308)
                     "cannot start the backend health-check thread");
        return;
    }
    /* A pre-cleanup: the thread's own pool is a sub-pool of pchild, and
     * sub-pools go before pchild's ordinary cleanups run. */
    apr_pool_pre_cleanup_register(pchild, NULL, hc_stop);
#else
    (void)pchild;
    (void)s;
#endif
}
