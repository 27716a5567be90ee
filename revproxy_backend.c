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
 *
 * Choosing (choose()): the member a valid sticky route names (drained
 * ones too), else by lbmethod -- the group's shared turn indexing its
 * smooth weighted round-robin order, or the fewest requests in flight per
 * weight -- among the members that are not standby, else among the
 * standby ones.  Requests in flight are per-child gauges summed over the
 * scoreboard's rows (see "Requests in flight" below).
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

/* Whether the admin lets a request use ms: an active member takes any
 * request, a drained one only the sticky requests for its route. */
static int admitted(const revproxy_member_state *ms, int sticky)
{
    apr_uint32_t admin;

    if (ms == NULL) {
        return 1;
    }
    admin = apr_atomic_read32((volatile apr_uint32_t *)&ms->admin);
    return admin == REVPROXY_ADMIN_ACTIVE
           || (sticky && admin == REVPROXY_ADMIN_DRAIN);
}

/* Whether ms is up, or down with its retry passed (a request would probe
 * it): what usable() would say, without claiming the probe. */
static int looks_usable(const revproxy_member_state *ms, apr_time_t now)
{
    apr_uint32_t st;

    if (ms == NULL) {
        return 1;
    }
    st = apr_atomic_read32((volatile apr_uint32_t *)&ms->state);
    return st == REVPROXY_MEMBER_UP
           || (st == REVPROXY_MEMBER_DOWN
               && (apr_time_t)apr_atomic_read64(
                      (volatile apr_uint64_t *)&ms->down_until) <= now);
}

/* Whether a request may use m now (the admin's word is admitted()'s).  A
 * member whose retry has passed is claimed by exactly one request (the
 * compare-and-swap on down_until moves it retry into the future), which
 * probes it. */
static int usable(const revproxy_group *g, revproxy_member_state *ms,
                  apr_time_t now)
{
    apr_uint64_t until;

    if (ms == NULL) {
        return 1;
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

/* ---------------------------------------------------------------------- */
/* Requests in flight                                                      */

/* A member's requests in flight are gauge INFLIGHT of its slot in each
 * child's row of the scoreboard, next to that child's connection gauges
 * (revproxy_addr.gauges: [open, idle]); their sum over the rows in use is
 * the member's count.  A child that crashes mid-request cannot give its
 * count back, but the parent frees its row when it exits
 * (revproxy_score_child_exited), and with the row its gauges leave the
 * sum: no count leaks past the child that took it.  Within a child, a
 * pool cleanup of the request gives the count back on every path (an
 * error, an aborted client, a failover). */
#define GAUGE_INFLIGHT  2
#define MEMBER_GAUGES   3

long revproxy_backend_inflight(const revproxy_group *g,
                               const revproxy_member *m)
{
    return revproxy_score_gauge_sum(g->score, REVPROXY_SCORE_MEMBER, m->slot,
                                    GAUGE_INFLIGHT);
}

/* A request's hold on one member's in-flight count. */
typedef struct inflight_hold {
    volatile apr_uint32_t *gauge;       /* this child's; NULL: given back */
} inflight_hold;

static apr_status_t inflight_release(void *data)
{
    inflight_hold *h = data;

    if (h->gauge) {
        apr_atomic_dec32(h->gauge);
        h->gauge = NULL;
    }
    return APR_SUCCESS;
}

/* Count a request in flight on m, unless that would pass its maxconns
 * (the count is raised first and checked after, so that two children
 * racing for the last place cannot both take it).  Returns the hold, or
 * NULL when m is full.  Without a row in the scoreboard nothing is
 * counted, and nothing is full. */
static inflight_hold *inflight_take(request_rec *r, const revproxy_group *g,
                                    const revproxy_member *m)
{
    apr_uint32_t *gauges = revproxy_score_gauges(g->score,
                                                 REVPROXY_SCORE_MEMBER,
                                                 m->slot);
    inflight_hold *h = apr_palloc(r->pool, sizeof(*h));

    h->gauge = gauges ? &gauges[GAUGE_INFLIGHT] : NULL;
    if (h->gauge == NULL) {
        return h;
    }
    apr_atomic_inc32(h->gauge);
    if (m->maxconns > 0 && revproxy_backend_inflight(g, m) > m->maxconns) {
        apr_atomic_dec32(h->gauge);
        return NULL;
    }
    apr_pool_cleanup_register(r->pool, h, inflight_release,
                              apr_pool_cleanup_null);
    return h;
}

/* Give back a hold before the request ends (it moves to another member). */
static void inflight_drop(request_rec *r, inflight_hold *h)
{
    if (h && h->gauge) {
        apr_pool_cleanup_run(r->pool, h, inflight_release);
    }
}

/* ---------------------------------------------------------------------- */
/* Choosing a member                                                       */

/* What one request's search for a member knows. */
typedef struct search {
    apr_uint32_t turn;          /* the group's turn this request took */
    char *tried;                /* per member: chosen before */
    int full;                   /* a usable member was full (maxconns) */
    const revproxy_member *sticky;  /* the member its cookie names */
    int sticky_valid;           /* ... and that member was up */
    inflight_hold *hold;        /* the chosen member's in-flight count */
} search;

/* m as the request's member, if it can be: admitted, not full, usable
 * (which claims a probe).  Sets sr->hold. */
static int try_member(request_rec *r, const revproxy_group *g,
                      const revproxy_member *m, int sticky, search *sr,
                      apr_time_t now)
{
    inflight_hold *h;

    if (!admitted(m->state, sticky) || !looks_usable(m->state, now)) {
        return 0;
    }
    if ((h = inflight_take(r, g, m)) == NULL) {
        sr->full = 1;
        return 0;
    }
    if (!usable(g, m->state, now)) {
        inflight_drop(r, h);
        return 0;
    }
    sr->hold = h;
    return 1;
}

/* Whether member i may be considered in this pass. */
static int candidate(const revproxy_group *g, const search *sr, int i,
                     int standby, const char *skip, apr_time_t now)
{
    const revproxy_member *m = &APR_ARRAY_IDX(g->members, i,
                                              revproxy_member);

    return !sr->tried[i] && !skip[i] && m->standby == standby
           && admitted(m->state, 0) && looks_usable(m->state, now);
}

/* A fresh turn of the group's. */
static apr_uint32_t next_turn(const revproxy_group *g)
{
    static apr_uint32_t local_turn;     /* without shared memory */

    return g->state ? apr_atomic_inc32(&g->state->turn) : local_turn++;
}

/* Round-robin: the member at the request's turn in the smooth weighted
 * order.  One that cannot be used is passed over by taking a fresh turn
 * (not the next place: that would give the place of a member that is
 * down to the one after it, every round, and skew the shares); if the
 * fresh turns, which other requests take as well, missed every usable
 * member, one walk over the order from there settles it. */
static int choose_rr(request_rec *r, const revproxy_group *g, search *sr,
                     int standby, char *skip, apr_time_t now)
{
    const int *seq = g->wrr[standby];
    apr_uint32_t len = (apr_uint32_t)g->wrr_len[standby], t = sr->turn;
    apr_uint32_t k;

    for (k = 0; k < 2 * len; k++) {
        int i = seq[t % len];
        if (candidate(g, sr, i, standby, skip, now)) {
            if (try_member(r, g, &APR_ARRAY_IDX(g->members, i,
                                                revproxy_member),
                           0, sr, now)) {
                return i;
            }
            skip[i] = 1;
        }
        /* A member this request failed on is its own history, not the
         * group's: the next place, no turn taken from other requests
         * (else a failing member would get the first try of every
         * other request while it is still counted up). */
        t = (k + 1 < len && !sr->tried[i]) ? next_turn(g) : t + 1;
    }
    return -1;
}

/* Least busy: the fewest requests in flight per weight (a/wa < b/wb as
 * a*wb < b*wa); ties go to the first in round-robin order from the turn. */
static int choose_leastbusy(request_rec *r, const revproxy_group *g,
                            search *sr, int standby, char *skip,
                            apr_time_t now)
{
    int n = g->members->nelts, k;

    for (;;) {
        int best = -1;
        long best_load = 0, best_weight = 1;
        for (k = 0; k < n; k++) {
            int i = (int)((sr->turn + (apr_uint32_t)k) % (apr_uint32_t)n);
            const revproxy_member *m = &APR_ARRAY_IDX(g->members, i,
                                                      revproxy_member);
            long load;
            if (!candidate(g, sr, i, standby, skip, now)) {
                continue;
            }
            load = revproxy_backend_inflight(g, m);
            if (best < 0 || load * best_weight < best_load * m->weight) {
                best = i;
                best_load = load;
                best_weight = m->weight;
            }
        }
        if (best < 0) {
            return -1;
        }
        if (try_member(r, g, &APR_ARRAY_IDX(g->members, best,
                                            revproxy_member), 0, sr, now)) {
            return best;
        }
        skip[best] = 1;
    }
}

/* The next member for the request, not tried before, with its in-flight
 * count taken: the member its cookie names while that is up (drained
 * included), else one by lbmethod among the members that are not standby,
 * else -- while none of them is usable -- among the standby ones. */
static const revproxy_member *choose(request_rec *r, const revproxy_group *g,
                                     search *sr)
{
    char skip[REVPROXY_MAX_MEMBERS];
    apr_time_t now = apr_time_now();
    int standby, i = -1;

    sr->hold = NULL;
    if (sr->sticky && sr->sticky_valid) {
        i = (int)(sr->sticky - (const revproxy_member *)g->members->elts);
        if (!sr->tried[i] && try_member(r, g, sr->sticky, 1, sr, now)) {
            sr->tried[i] = 1;
            return sr->sticky;
        }
    }
    memset(skip, 0, sizeof(skip));
    for (standby = 0; standby <= 1; standby++) {
        i = g->lbmethod == REVPROXY_LB_LEASTBUSY
            ? choose_leastbusy(r, g, sr, standby, skip, now)
            : choose_rr(r, g, sr, standby, skip, now);
        if (i >= 0) {
            sr->tried[i] = 1;
            return &APR_ARRAY_IDX(g->members, i, revproxy_member);
        }
        if (sr->full) {
            break;              /* a primary is only busy: wait for it */
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Sticky sessions                                                         */

/* The member whose route a cookie value names: the value is the route,
 * or ends in ".ROUTE" (Tomcat's jvmRoute). */
static const revproxy_member *route_member(const revproxy_group *g,
                                           const char *val, apr_size_t len)
{
    int i;

    for (i = 0; i < g->members->nelts; i++) {
        const revproxy_member *m = &APR_ARRAY_IDX(g->members, i,
                                                  revproxy_member);
        apr_size_t rl = strlen(m->route);
        if ((len == rl && memcmp(val, m->route, rl) == 0)
            || (len > rl && val[len - rl - 1] == '.'
                && memcmp(val + len - rl, m->route, rl) == 0)) {
            return m;
        }
    }
    return NULL;
}

typedef struct cookie_find {
    const revproxy_group *g;
    const revproxy_member *m;
} cookie_find;

/* One Cookie field: "a=b; c=d". */
static int cookie_field(void *data, const char *key, const char *val)
{
    cookie_find *cf = data;
    apr_size_t nl = strlen(cf->g->sticky);
    const char *p = val;

    (void)key;
    while (*p && cf->m == NULL) {
        const char *end, *eq;
        while (*p == ' ' || *p == '\t' || *p == ';') {
            p++;
        }
        end = p + strcspn(p, ";");
        eq = memchr(p, '=', (apr_size_t)(end - p));
        if (eq && (apr_size_t)(eq - p) == nl
            && strncmp(p, cf->g->sticky, nl) == 0) {
            const char *v = eq + 1, *ve = end;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
                ve--;
            }
            if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
                v++;
                ve--;
            }
            cf->m = route_member(cf->g, v, (apr_size_t)(ve - v));
        }
        p = end;
    }
    return cf->m == NULL;
}

/* The member the request's sticky cookie names, and whether that is a
 * valid route now: the member is up (or due for its probe) and not
 * disabled. */
static void find_sticky(request_rec *r, const revproxy_group *g, search *sr)
{
    cookie_find cf;

    cf.g = g;
    cf.m = NULL;
    if (g->sticky == NULL) {
        return;
    }
    apr_table_do(cookie_field, &cf, r->headers_in, "Cookie", NULL);
    sr->sticky = cf.m;
    sr->sticky_valid = cf.m && admitted(cf.m->state, 1)
                       && looks_usable(cf.m->state, apr_time_now());
}

/* stickyinsert: the member that answered, when the request did not name
 * it by a valid route, sets the cookie. */
static void insert_sticky(request_rec *r, const revproxy_group *g,
                          const search *sr, const revproxy_member *m)
{
    if (g->sticky == NULL || !g->stickyinsert
        || (sr->sticky == m && sr->sticky_valid)) {
        return;
    }
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   apr_pstrcat(r->pool, g->sticky, "=", m->route,
                               "; Path=/; HttpOnly",
                               strcasecmp(ap_http_scheme(r), "https") == 0
                               ? "; Secure" : "", NULL));
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

/* The smooth weighted round-robin order (nginx's) of the members that
 * are standby or not: each round every member gains its weight, the one
 * with the most goes next and gives back the sum of the weights.  Over
 * its length (the sum) each member comes weight times, spread out rather
 * than in runs; the group's shared turn walks it, so the shares hold
 * across threads and children. */
static void make_wrr(revproxy_group *g, apr_pool_t *p, int standby)
{
    int n = g->members->nelts, total = 0, i, k;
    int *cur = apr_pcalloc(p, sizeof(int) * (apr_size_t)n);
    int *seq;

    for (i = 0; i < n; i++) {
        const revproxy_member *m = &APR_ARRAY_IDX(g->members, i,
                                                  revproxy_member);
        total += m->standby == standby ? m->weight : 0;
    }
    seq = apr_palloc(p, sizeof(int) * (apr_size_t)(total ? total : 1));
    for (k = 0; k < total; k++) {
        int best = -1;
        for (i = 0; i < n; i++) {
            const revproxy_member *m = &APR_ARRAY_IDX(g->members, i,
                                                      revproxy_member);
            if (m->standby != standby) {
                continue;
            }
            cur[i] += m->weight;
            if (best < 0 || cur[i] > cur[best]) {
                best = i;
            }
        }
        cur[best] -= total;
        seq[k] = best;
    }
    g->wrr[standby] = seq;
    g->wrr_len[standby] = total;
}

const char *revproxy_backend_prepare(revproxy_group *g, apr_pool_t *p)
{
    int i;

    if (g->members->nelts == 0) {
        return apr_psprintf(p, "RevProxyBackend %s: no member URL "
                            "(http://HOST[:PORT][/PATH] or https://... in "
                            "RevProxyBackend, or RevProxyMember %s URL; %s)",
                            g->name, g->name, g->where);
    }
    for (i = 0; i < g->members->nelts; i++) {
        revproxy_member *m = &APR_ARRAY_IDX(g->members, i, revproxy_member);
        if (m->maxconns == 0) {
            m->maxconns = g->maxconns;
        }
    }
    make_wrr(g, p, 0);
    make_wrr(g, p, 1);
    return NULL;
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
    /* Per child: the connections open and idle (revproxy_addr.gauges),
     * and the requests in flight (GAUGE_INFLIGHT). */
    revproxy_score_kind_set(k, REVPROXY_SCORE_MEMBER, sizeof(member_slot),
                            &fresh, MEMBER_GAUGES);
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
    else if (x->fail == REVPROXY_FAIL_BAD
             || (x->fail == REVPROXY_FAIL_TIMEOUT && g->failontimeout)) {
        /* Connected, but no usable answer (with failontimeout=on: none in
         * time): the request may have been what broke it, so one such
         * request does not take the member out; fails= of them in a row
         * do. */
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

/* Whether status is one of failonstatus=. */
static int fails_on(const revproxy_group *g, int status)
{
    int i;

    for (i = 0; g->failonstatus && i < g->failonstatus->nelts; i++) {
        if (APR_ARRAY_IDX(g->failonstatus, i, int) == status) {
            return 1;
        }
    }
    return 0;
}

/* The answer of m has a status of failonstatus=: m is marked down at
 * once.  Returns the member the request moves on to (its in-flight count
 * taken, x reset for it), or NULL: the answer goes to the client (the
 * move would not be safe, maxattempts is reached, or no member is left). */
static const revproxy_member *after_status(revproxy_exchange *x,
                                           const revproxy_group *g,
                                           const revproxy_member *m,
                                           const revproxy_rule *rule,
                                           search *sr, failover *fo)
{
    request_rec *r = x->r;
    inflight_hold *hold = sr->hold;
    const revproxy_member *next;
    int status = x->status;

    mark_down(g, m, m->state, REVPROXY_MEMBER_DOWN,
              apr_psprintf(r->pool, "answered %d (failonstatus)", status),
              r, rule);
    fo->sent++;
    if (fo->sent >= g->max_attempts || x->streamed
        || !revproxy_x_replayable(x)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RVPLOGNO(0331)
                      "backend group %s: member %s answered %d "
                      "(failonstatus); the answer goes to the client (%s)",
                      g->name, m->url, status, fo->sent >= g->max_attempts
                      ? "maxattempts reached" : "the request cannot be sent "
                      "again: bytes of it reached the member and the method "
                      "is not idempotent");
        return NULL;
    }
    next = choose(r, g, sr);
    if (next == NULL) {
        sr->hold = hold;
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RVPLOGNO(0331)
                      "backend group %s: member %s answered %d "
                      "(failonstatus); the answer goes to the client (no "
                      "other member)", g->name, m->url, status);
        return NULL;
    }
    if (!revproxy_x_reset(x)) {
        /* Cannot happen after replayable said yes; keep the answer gone
         * honest: no member left for it. */
        inflight_drop(r, sr->hold);
        sr->hold = hold;
        return NULL;
    }
    inflight_drop(r, hold);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RVPLOGNO(0307)
                  "backend group %s: member %s failed (answered %d, "
                  "failonstatus), trying the next one", g->name, m->url,
                  status);
    return next;
}

/* Every usable member was full (maxconns) for acquire=: 503 with
 * Retry-After: 1. */
static int all_full(request_rec *r, const revproxy_group *g,
                    const revproxy_rule *rule)
{
    if (g->counters) {
        apr_atomic_inc64(&g->counters->unavailable);
    }
    apr_table_setn(r->err_headers_out, "Retry-After", "1");
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RVPLOGNO(0330)
                  "backend group %s (%s \"%s\" at %s): every usable member "
                  "has maxconns requests in flight (waited acquire=%s); "
                  "answered 503 with Retry-After: 1", g->name,
                  rule->directive, rule->pattern, rule->where,
                  duration_text(r->pool, g->acquire));
    return HTTP_SERVICE_UNAVAILABLE;
}

/* The next member, waiting up to acquire= while every usable one is
 * full.  NULL with *full set: they stayed full. */
#define ACQUIRE_POLL apr_time_from_msec(10)

static const revproxy_member *choose_or_wait(request_rec *r,
                                             const revproxy_group *g,
                                             search *sr, apr_time_t deadline)
{
    const revproxy_member *m;

    for (;;) {
        sr->full = 0;
        if ((m = choose(r, g, sr)) != NULL || !sr->full
            || apr_time_now() >= deadline) {
            return m;
        }
        apr_sleep(ACQUIRE_POLL);
    }
}

int revproxy_backend_start(revproxy_exchange *x, const revproxy_group *g,
                           const revproxy_rule *rule, revproxy_pick *pick)
{
    request_rec *r = x->r;
    const char *path = x->path;
    const revproxy_member *m;
    failover fo = { 0, 0, HTTP_BAD_GATEWAY, NULL };
    search sr;

    memset(pick, 0, sizeof(*pick));
    memset(&sr, 0, sizeof(sr));
    pick->group = g;
    if (g->counters) {
        apr_atomic_inc64(&g->counters->requests);
    }
    sr.tried = apr_pcalloc(r->pool, g->members->nelts);
    sr.turn = next_turn(g);
    find_sticky(r, g, &sr);
    m = choose_or_wait(r, g, &sr, apr_time_now() + g->acquire);
    while (m != NULL) {
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
            const revproxy_member *next;
            count_latency(mc, apr_time_now() - t0);
            if (fails_on(g, x->status)
                && (next = after_status(x, g, m, rule, &sr, &fo)) != NULL) {
                if (mc) {
                    apr_atomic_add64(&mc->bytes_in,
                                     (apr_uint64_t)(x->bytes_in - in0));
                    apr_atomic_add64(&mc->bytes_out,
                                     (apr_uint64_t)(x->bytes_out - out0));
                }
                m = next;
                continue;
            }
            if (!fails_on(g, x->status)) {
                if (m->state && apr_atomic_read32(&m->state->fails_in_row)) {
                    apr_atomic_set32(&m->state->fails_in_row, 0);
                }
                mark_up(g, m, m->state, r, "a request succeeded");
            }
            insert_sticky(r, g, &sr, m);
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
        inflight_drop(r, sr.hold);
        m = choose_or_wait(r, g, &sr, apr_time_now() + g->acquire);
    }
    if (sr.full && fo.sent == 0) {
        return all_full(r, g, rule);
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

/* Whether a check's status passes: hcexpect=, by default 200-399. */
static int hc_expected(const revproxy_group *g, int status)
{
    int i;

    if (g->hcexpect == NULL) {
        return status >= 200 && status < 400;
    }
    for (i = 0; i < g->hcexpect->nelts; i++) {
        const revproxy_status_range *sr
            = &APR_ARRAY_IDX(g->hcexpect, i, revproxy_status_range);
        if (status >= sr->lo && status <= sr->hi) {
            return 1;
        }
    }
    return 0;
}

/* One check of m with the client core: hcmethod (Connection: close) of
 * the member's base path and hcheckuri; hcexpect decides. */
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
    hs.method = g->hcmethod;
    hs.target = apr_pstrcat(p, m->base, g->hcheck_uri, NULL);
    hs.own = own;
    hs.close = 1;
    head = revproxy_head_build(p, &hs, &hlen);

    c = revproxy_client_make(p, apr_bucket_alloc_create(p), &a, &g->hc_lim);
    revproxy_client_expect(c, strcmp(hs.method, "HEAD") == 0, 0,
                           REVPROXY_BODY_NONE, 0);
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
    *why = apr_psprintf(p, "%s %s answered %d", hs.method, hs.target,
                        status);
    return hc_expected(g, status);
}

/* The streak of checks in a row, with this one counted: > 0 passes,
 * < 0 failures.  Only the owner of the checks writes it. */
static int hc_count(revproxy_member_state *ms, int ok)
{
    apr_int32_t streak = (apr_int32_t)apr_atomic_read32(&ms->hc_streak);

    if (ok) {
        streak = streak > 0 ? streak + 1 : 1;
    }
    else {
        streak = streak < 0 ? streak - 1 : -1;
    }
    if (streak > 1000000 || streak < -1000000) {
        streak = streak > 0 ? 1000000 : -1000000;
    }
    apr_atomic_set32(&ms->hc_streak, (apr_uint32_t)streak);
    return (int)streak;
}

static void hc_member(const revproxy_group *g, const revproxy_member *m,
                      apr_pool_t *p)
{
    revproxy_member_state *ms = m->state;
    apr_time_t now = apr_time_now();
    const char *why;
    int ok, streak;

    if (ms == NULL
        || (apr_time_t)apr_atomic_read64(&ms->hc_next) > now) {
        return;
    }
    apr_atomic_set64(&ms->hc_next, (apr_uint64_t)(now + g->hcheck));
    ok = hc_check(g, m, p, &why);
    apr_atomic_inc64(&ms->hc_checks);
    apr_atomic_set64(&ms->hc_last, (apr_uint64_t)apr_time_now());
    apr_atomic_set32(&ms->hc_ok, ok);
    streak = hc_count(ms, ok);
    if (ok) {
        if (streak >= g->hcpasses) {
            mark_up(g, m, ms, NULL, apr_psprintf(p, "health check passed"
                                                 "%s", g->hcpasses > 1
                                                 ? apr_psprintf(p, " %d "
                                                   "times in a row",
                                                   streak) : ""));
        }
    }
    else {
        apr_atomic_inc64(&ms->hc_failed);
        if (-streak >= g->hcfails) {
            mark_down(g, m, ms, REVPROXY_MEMBER_HCDOWN,
                      apr_psprintf(p, "%s %s%s: %s%s", g->hcmethod, m->base,
                                   g->hcheck_uri, why ? why : "failed",
                                   g->hcfails > 1
                                   ? apr_psprintf(p, " (%d times in a row)",
                                                  -streak) : ""),
                      NULL, NULL);
        }
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
