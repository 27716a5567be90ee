/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * The shared counters and the status page.
 *
 * Layout of the segment (made by the parent in post_config, inherited by
 * every child; anonymous, so nothing is left on disk):
 *
 *   header | rule blocks | group blocks | member blocks | child rows
 *
 * A child row is a pid (claimed with a compare-and-swap in child_init,
 * freed by the parent's child_status hook when that child exits, even
 * after a crash) and the [open, idle] connection gauges of each member
 * in that child.  Counters only grow; a page reads them without a lock
 * (each number is read atomically; the page as a whole is a snapshot of
 * moving numbers, as mod_status's is).
 *
 * Across restarts the segment and the keys of its blocks stay in the
 * process pool (which outlives every generation and the module's own
 * unloading): same keys, same segment; other keys, a new segment with the
 * blocks of the keys still present copied over.
 */

#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_shm.h"
#include "apr_hash.h"
#include "apr_atomic.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_optional_hooks.h"
#include "util_time.h"
#include "ap_mpm.h"
#include "mod_status.h"

#include "revproxy_private.h"
#include "revproxy_backend.h"
#include "revproxy_status.h"

APLOG_USE_MODULE(revproxy);

#define STATUS_HANDLER  "revproxy-status"
#define SHM_MAGIC       0x52565053u         /* "RVPS" */
/* Bump SHM_VERSION when shm_hdr, the blocks or keep_t change: a module
 * upgraded by a graceful restart then ignores what the old one kept. */
#define SHM_VERSION     1u
#define KEEP_KEY        "mod_revproxy:status-shm:1"

typedef struct shm_hdr {
    apr_uint32_t magic, version;
    apr_uint32_t nrules, ngroups, nmembers, nrows;
    volatile apr_uint32_t hc_owner;     /* pid doing the health checks */
    volatile apr_uint32_t generations;  /* configurations it served */
    apr_uint64_t created;               /* apr_time_t */
    apr_uint64_t row_stride;            /* bytes per child row */
} shm_hdr;

typedef struct child_row {
    volatile apr_uint32_t pid;          /* 0: free */
    volatile apr_uint32_t unused;
    volatile apr_uint32_t gauges[1];    /* 2 per member: open, idle */
} child_row;

typedef struct rule_ent {
    const char *key;
    const char *server;
    const revproxy_rule *rule;
} rule_ent;

typedef struct group_ent {
    const char *key;
    const char *server;
    const revproxy_group *group;
} group_ent;

/* What survives restarts, in a sub-pool of the process pool. */
typedef struct keep_t {
    apr_pool_t *pool;
    apr_shm_t *shm;
    const char *layout;         /* the blocks' version and sizes */
    const char *sig;            /* every key, the row count, the layout */
    apr_hash_t *slots;          /* key -> slot + 1 (as a pointer-sized int) */
} keep_t;

/* This generation's view (set in post_config, inherited by children). */
static struct {
    apr_array_header_t *rules;  /* rule_ent */
    apr_array_header_t *groups; /* group_ent */
    char *base;                 /* NULL: no shared memory */
    shm_hdr *hdr;
    revproxy_rule_stats *rs;
    revproxy_group_stats *gs;
    revproxy_member_stats *ms;
    char *rows;
    apr_uint32_t *my_gauges;    /* in a child: its row, or NULL */
    apr_uint32_t my_pid;
} st;

/* ---------------------------------------------------------------------- */
/* The segment                                                             */

static apr_size_t align8(apr_size_t n)
{
    return (n + 7) & ~(apr_size_t)7;
}

static apr_size_t row_stride(apr_uint32_t nmembers)
{
    return align8(APR_OFFSETOF(child_row, gauges)
                  + 2 * (nmembers ? nmembers : 1) * sizeof(apr_uint32_t));
}

static apr_size_t seg_size(apr_uint32_t nr, apr_uint32_t ng, apr_uint32_t nm,
                           apr_uint32_t nrows)
{
    return align8(sizeof(shm_hdr)) + nr * sizeof(revproxy_rule_stats)
           + ng * sizeof(revproxy_group_stats)
           + nm * sizeof(revproxy_member_stats)
           + nrows * row_stride(nm);
}

static void attach(char *base)
{
    shm_hdr *h = (shm_hdr *)base;
    char *p = base + align8(sizeof(shm_hdr));

    st.base = base;
    st.hdr = h;
    st.rs = (revproxy_rule_stats *)p;
    p += h->nrules * sizeof(revproxy_rule_stats);
    st.gs = (revproxy_group_stats *)p;
    p += h->ngroups * sizeof(revproxy_group_stats);
    st.ms = (revproxy_member_stats *)p;
    p += h->nmembers * sizeof(revproxy_member_stats);
    st.rows = p;
}

static child_row *row_at(apr_uint32_t i)
{
    return (child_row *)(st.rows + i * st.hdr->row_stride);
}

/* Server, for keys and labels: "name:port", or "main". */
static const char *server_label(apr_pool_t *p, server_rec *s)
{
    if (!s->is_virtual) {
        return "main";
    }
    return apr_psprintf(p, "%s:%u", s->server_hostname ? s->server_hostname
                                                       : "*",
                        (unsigned)(s->addrs ? s->addrs->host_port : s->port));
}

static void *slot_val(apr_size_t i)
{
    return (void *)(i + 1);
}

/* Copy the blocks whose keys the old segment has too. */
static void copy_state(const keep_t *old)
{
    char *ob = apr_shm_baseaddr_get(old->shm);
    shm_hdr *oh = (shm_hdr *)ob;
    char *op = ob + align8(sizeof(shm_hdr));
    revproxy_rule_stats *ors = (revproxy_rule_stats *)op;
    revproxy_group_stats *ogs;
    revproxy_member_stats *oms;
    int i, j;

    ogs = (revproxy_group_stats *)(op + oh->nrules
                                   * sizeof(revproxy_rule_stats));
    oms = (revproxy_member_stats *)((char *)ogs + oh->ngroups
                                    * sizeof(revproxy_group_stats));
    for (i = 0; i < st.rules->nelts; i++) {
        const rule_ent *e = &APR_ARRAY_IDX(st.rules, i, rule_ent);
        apr_size_t o = (apr_size_t)apr_hash_get(old->slots, e->key,
                                                APR_HASH_KEY_STRING);
        if (o) {
            st.rs[e->rule->id] = ors[o - 1];
        }
    }
    for (i = 0; i < st.groups->nelts; i++) {
        const group_ent *e = &APR_ARRAY_IDX(st.groups, i, group_ent);
        const revproxy_group *g = e->group;
        apr_size_t o = (apr_size_t)apr_hash_get(old->slots, e->key,
                                                APR_HASH_KEY_STRING);
        if (!o) {
            continue;
        }
        st.gs[g->slot] = ogs[o - 1];
        for (j = 0; j < g->members->nelts; j++) {
            const revproxy_member *m = &APR_ARRAY_IDX(g->members, j,
                                                      revproxy_member);
            const char *mk = apr_psprintf(old->pool, "%s#%d", e->key, j);
            apr_size_t om = (apr_size_t)apr_hash_get(old->slots, mk,
                                                     APR_HASH_KEY_STRING);
            if (om) {
                st.ms[m->slot] = oms[om - 1];
            }
        }
    }
}

static int status_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    apr_pool_t *pproc = s->process->pool, *kp;
    apr_hash_t *seen = apr_hash_make(ptemp);
    keep_t *old = NULL, *keep;
    apr_uint32_t nrules = 0, ngroups = 0, nmembers = 0, nrows = 0;
    int limit = 0, i, j;
    apr_array_header_t *keys = apr_array_make(ptemp, 16, sizeof(char *));
    const char *sig, *layout;
    server_rec *v;
    apr_status_t rv;
    apr_time_t now = apr_time_now();

    (void)plog;
    memset(&st, 0, sizeof(st));
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;              /* the configuration is read again */
    }
    st.rules = apr_array_make(pconf, 8, sizeof(rule_ent));
    st.groups = apr_array_make(pconf, 4, sizeof(group_ent));

    /* Every rule and group once, attributed to the server that defines
     * it: the main server comes first, and a virtual host's arrays hold
     * its own entries before the inherited ones. */
    for (v = s; v; v = v->next) {
        revproxy_server_conf *sc = ap_get_module_config(v->module_config,
                                                        &revproxy_module);
        const char *label = server_label(pconf, v);
        for (i = 0; i < sc->rules->nelts; i++) {
            revproxy_rule *rule = APR_ARRAY_IDX(sc->rules, i,
                                                revproxy_rule *);
            rule_ent *e;
            int dup = 0;
            if (rule->dest == NULL
                || apr_hash_get(seen, &rule, sizeof(rule))) {
                continue;
            }
            apr_hash_set(seen, apr_pmemdup(ptemp, &rule, sizeof(rule)),
                         sizeof(rule), rule);
            e = apr_array_push(st.rules);
            e->server = label;
            e->rule = rule;
            rule->id = (int)nrules++;
            /* Identical rules in one server are told apart by order. */
            for (j = 0; j < st.rules->nelts - 1; j++) {
                const rule_ent *o = &APR_ARRAY_IDX(st.rules, j, rule_ent);
                if (o->server == label && o->rule->dest
                    && strcmp(o->rule->pattern, rule->pattern) == 0
                    && strcmp(o->rule->directive, rule->directive) == 0) {
                    dup++;
                }
            }
            e->key = apr_psprintf(pconf, "rule|%s|%s|%s|%s|%d", label,
                                  rule->directive, rule->pattern,
                                  revproxy_dest_text(rule->dest), dup);
            *(const char **)apr_array_push(keys) = e->key;
        }
        for (i = 0; sc->groups && i < sc->groups->nelts; i++) {
            revproxy_group *g = APR_ARRAY_IDX(sc->groups, i,
                                              revproxy_group *);
            group_ent *e;
            if (apr_hash_get(seen, &g, sizeof(g))) {
                continue;
            }
            apr_hash_set(seen, apr_pmemdup(ptemp, &g, sizeof(g)), sizeof(g),
                         g);
            e = apr_array_push(st.groups);
            e->server = server_label(pconf, g->server);
            e->group = g;
            e->key = apr_psprintf(pconf, "group|%s|%s", e->server,
                                  g->definition);
            g->slot = (int)ngroups++;
            for (j = 0; j < g->members->nelts; j++) {
                APR_ARRAY_IDX(g->members, j, revproxy_member).slot
                    = (int)nmembers++;
            }
            *(const char **)apr_array_push(keys) = e->key;
        }
    }
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    nrows = limit > 0 ? (apr_uint32_t)limit : 1;
    /* A module built with other blocks (an upgrade) starts afresh. */
    layout = apr_psprintf(ptemp, "v%u r%" APR_SIZE_T_FMT " g%" APR_SIZE_T_FMT
                          " m%" APR_SIZE_T_FMT, SHM_VERSION,
                          sizeof(revproxy_rule_stats),
                          sizeof(revproxy_group_stats),
                          sizeof(revproxy_member_stats));
    *(const char **)apr_array_push(keys) = apr_psprintf(ptemp, "rows %u",
                                                         nrows);
    *(const char **)apr_array_push(keys) = layout;
    sig = apr_array_pstrcat(ptemp, keys, '\n');

    apr_pool_userdata_get((void **)&old, KEEP_KEY, pproc);
    if (old && strcmp(old->sig, sig) == 0) {
        /* The same configuration of counters: carry on with it. */
        attach(apr_shm_baseaddr_get(old->shm));
        apr_atomic_inc32(&st.hdr->generations);
        return OK;
    }

    apr_pool_create(&kp, pproc);
    apr_pool_tag(kp, "revproxy_status_shm");
    keep = apr_pcalloc(kp, sizeof(*keep));
    keep->pool = kp;
    keep->sig = apr_pstrdup(kp, sig);
    keep->layout = apr_pstrdup(kp, layout);
    keep->slots = apr_hash_make(kp);
    rv = apr_shm_create(&keep->shm, seg_size(nrules, ngroups, nmembers,
                                             nrows), NULL, kp);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, RVPLOGNO(0320)
                     "cannot create the shared memory for the counters "
                     "(%" APR_SIZE_T_FMT " bytes): no counters, backend "
                     "members are never marked down",
                     seg_size(nrules, ngroups, nmembers, nrows));
        apr_pool_destroy(kp);
        memset(&st, 0, sizeof(st));
        st.rules = apr_array_make(pconf, 1, sizeof(rule_ent));
        st.groups = apr_array_make(pconf, 1, sizeof(group_ent));
        return OK;
    }
    memset(apr_shm_baseaddr_get(keep->shm), 0,
           apr_shm_size_get(keep->shm));
    st.hdr = apr_shm_baseaddr_get(keep->shm);
    st.hdr->magic = SHM_MAGIC;
    st.hdr->version = SHM_VERSION;
    st.hdr->nrules = nrules;
    st.hdr->ngroups = ngroups;
    st.hdr->nmembers = nmembers;
    st.hdr->nrows = nrows;
    st.hdr->row_stride = row_stride(nmembers);
    st.hdr->created = (apr_uint64_t)now;
    attach((char *)st.hdr);
    for (i = 0; i < (int)nmembers; i++) {
        st.ms[i].since = (apr_uint64_t)now;
        st.ms[i].hc_ok = 1;
    }

    /* Remember where each key lives, for the next configuration. */
    for (i = 0; i < st.rules->nelts; i++) {
        const rule_ent *e = &APR_ARRAY_IDX(st.rules, i, rule_ent);
        apr_hash_set(keep->slots, apr_pstrdup(kp, e->key),
                     APR_HASH_KEY_STRING, slot_val(e->rule->id));
    }
    for (i = 0; i < st.groups->nelts; i++) {
        const group_ent *e = &APR_ARRAY_IDX(st.groups, i, group_ent);
        apr_hash_set(keep->slots, apr_pstrdup(kp, e->key),
                     APR_HASH_KEY_STRING, slot_val(e->group->slot));
        for (j = 0; j < e->group->members->nelts; j++) {
            apr_hash_set(keep->slots, apr_psprintf(kp, "%s#%d", e->key, j),
                         APR_HASH_KEY_STRING,
                         slot_val(APR_ARRAY_IDX(e->group->members, j,
                                                revproxy_member).slot));
        }
    }
    if (old) {
        /* Children of the old generation keep their own mapping of the
         * old segment until they exit; the parent lets go of it. */
        if (strcmp(old->layout, layout) == 0) {
            shm_hdr *oh = apr_shm_baseaddr_get(old->shm);
            copy_state(old);
            st.hdr->generations = oh->generations + 1;
            st.hdr->created = oh->created;
        }
        apr_pool_destroy(old->pool);
    }
    apr_pool_userdata_set(keep, KEEP_KEY, apr_pool_cleanup_null, pproc);
    return OK;
}

/* A child takes a free row for its connection gauges. */
static void status_child_init(apr_pool_t *p, server_rec *s)
{
    apr_uint32_t i, pid = (apr_uint32_t)getpid();

    (void)p;
    st.my_pid = pid;
    st.my_gauges = NULL;
    if (st.hdr == NULL) {
        return;
    }
    for (i = 0; i < st.hdr->nrows; i++) {
        child_row *row = row_at(i);
        if (apr_atomic_cas32(&row->pid, pid, 0) == 0) {
            memset((void *)row->gauges, 0,
                   2 * st.hdr->nmembers * sizeof(apr_uint32_t));
            st.my_gauges = (apr_uint32_t *)row->gauges;
            return;
        }
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, RVPLOGNO(0321)
                 "no free row for the connection counters of pid %u: its "
                 "backend connections are not counted", (unsigned)pid);
}

/* The parent: a child is gone (even if it crashed), its row is free and
 * the health checks need another owner. */
static void status_child_status(server_rec *s, pid_t pid, ap_generation_t gen,
                                int slot, mpm_child_status state)
{
    apr_uint32_t i;

    (void)s;
    (void)gen;
    (void)slot;
    if (st.hdr == NULL || state != MPM_CHILD_EXITED || pid <= 0) {
        return;
    }
    for (i = 0; i < st.hdr->nrows; i++) {
        child_row *row = row_at(i);
        if (apr_atomic_read32(&row->pid) == (apr_uint32_t)pid) {
            memset((void *)row->gauges, 0,
                   2 * st.hdr->nmembers * sizeof(apr_uint32_t));
            apr_atomic_set32(&row->pid, 0);
        }
    }
    apr_atomic_cas32(&st.hdr->hc_owner, 0, (apr_uint32_t)pid);
}

/* ---------------------------------------------------------------------- */
/* Counting                                                                */

revproxy_rule_stats *revproxy_status_rule(int id)
{
    return (st.hdr && id >= 0 && (apr_uint32_t)id < st.hdr->nrules)
           ? &st.rs[id] : NULL;
}

revproxy_group_stats *revproxy_status_group(int slot)
{
    return (st.hdr && slot >= 0 && (apr_uint32_t)slot < st.hdr->ngroups)
           ? &st.gs[slot] : NULL;
}

revproxy_member_stats *revproxy_status_member(int slot)
{
    return (st.hdr && slot >= 0 && (apr_uint32_t)slot < st.hdr->nmembers)
           ? &st.ms[slot] : NULL;
}

apr_uint32_t *revproxy_status_gauges(int member_slot)
{
    return (st.my_gauges && member_slot >= 0
            && (apr_uint32_t)member_slot < st.hdr->nmembers)
           ? st.my_gauges + 2 * member_slot : NULL;
}

static int pid_alive(apr_uint32_t pid)
{
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int revproxy_status_hc_owner(void)
{
    apr_uint32_t owner;

    if (st.hdr == NULL) {
        return 0;
    }
    owner = apr_atomic_read32(&st.hdr->hc_owner);
    if (owner == st.my_pid) {
        return 1;
    }
    if (owner != 0 && pid_alive(owner)) {
        return 0;
    }
    return apr_atomic_cas32(&st.hdr->hc_owner, st.my_pid, owner) == owner;
}

void revproxy_status_hc_release(void)
{
    if (st.hdr) {
        apr_atomic_cas32(&st.hdr->hc_owner, 0, st.my_pid);
    }
}

static int lat_bucket(apr_uint64_t us)
{
    int b = 2;

    if (us < 4) {
        return (int)us;
    }
    while ((us >> (b + 1)) != 0) {
        b++;
    }
    b = 4 * (b - 1) + (int)((us >> (b - 2)) & 3);
    return b < REVPROXY_LAT_BUCKETS ? b : REVPROXY_LAT_BUCKETS - 1;
}

/* The upper end of bucket i, in microseconds. */
static apr_uint64_t lat_upper(int i)
{
    if (i < 4) {
        return (apr_uint64_t)i + 1;
    }
    return (apr_uint64_t)(5 + i % 4) << (i / 4 - 1);
}

void revproxy_status_latency(revproxy_member_stats *ms,
                             apr_interval_time_t t)
{
    apr_uint64_t us = t > 0 ? (apr_uint64_t)t : 0;

    apr_atomic_inc32(&ms->lat[lat_bucket(us)]);
    apr_atomic_add64(&ms->lat_sum, us);
}

void revproxy_status_request(const revproxy_exchange *x,
                             const revproxy_rule *rule,
                             const revproxy_pick *pick, int status)
{
    revproxy_rule_stats *rs = revproxy_status_rule(rule->id);
    int failed = status != OK || x->fail == REVPROXY_FAIL_ABORTED;

    if (rs) {
        apr_atomic_inc64(&rs->hits);
        apr_atomic_add64(&rs->bytes_in, (apr_uint64_t)x->bytes_in);
        apr_atomic_add64(&rs->bytes_out, (apr_uint64_t)x->bytes_out);
        if (failed) {
            apr_atomic_inc64(&rs->errors);
        }
    }
    if (pick && pick->member) {
        revproxy_member_stats *ms = revproxy_status_member(pick->member->slot);
        if (ms) {
            apr_atomic_add64(&ms->bytes_in,
                             (apr_uint64_t)(x->bytes_in - pick->in0));
            apr_atomic_add64(&ms->bytes_out,
                             (apr_uint64_t)(x->bytes_out - pick->out0));
            if (x->fail == REVPROXY_FAIL_ABORTED) {
                apr_atomic_inc64(&ms->fail[REVPROXY_FAIL_ABORTED
                                           - REVPROXY_FAIL_REFUSED]);
            }
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Reading: one member's numbers                                           */

typedef struct member_view {
    const revproxy_member *m;
    apr_uint32_t state;
    apr_time_t since, down_until, hc_last;
    apr_uint64_t requests, fail[4], bytes_in, bytes_out, hc_checks, hc_failed;
    apr_uint64_t lat_count, lat_sum;
    double p50, p99;            /* milliseconds; -1: no sample */
    int hc_ok;
    long open, idle;
} member_view;

static double quantile(const apr_uint32_t *c, apr_uint64_t total, double q)
{
    apr_uint64_t want = (apr_uint64_t)(q * (double)total + 0.999999), acc = 0;
    int i;

    if (total == 0) {
        return -1;
    }
    if (want < 1) {
        want = 1;
    }
    for (i = 0; i < REVPROXY_LAT_BUCKETS; i++) {
        acc += c[i];
        if (acc >= want) {
            return (double)lat_upper(i) / 1000.0;
        }
    }
    return (double)lat_upper(REVPROXY_LAT_BUCKETS - 1) / 1000.0;
}

static void read_member(const revproxy_member *m, member_view *v)
{
    revproxy_member_stats *ms = &st.ms[m->slot];
    apr_uint32_t c[REVPROXY_LAT_BUCKETS], i;
    int k;

    memset(v, 0, sizeof(*v));
    v->m = m;
    v->state = apr_atomic_read32(&ms->state);
    v->since = (apr_time_t)apr_atomic_read64(&ms->since);
    v->down_until = (apr_time_t)apr_atomic_read64(&ms->down_until);
    v->hc_last = (apr_time_t)apr_atomic_read64(&ms->hc_last);
    v->hc_ok = (int)apr_atomic_read32(&ms->hc_ok);
    v->hc_checks = apr_atomic_read64(&ms->hc_checks);
    v->hc_failed = apr_atomic_read64(&ms->hc_failed);
    v->requests = apr_atomic_read64(&ms->requests);
    for (k = 0; k < 4; k++) {
        v->fail[k] = apr_atomic_read64(&ms->fail[k]);
    }
    v->bytes_in = apr_atomic_read64(&ms->bytes_in);
    v->bytes_out = apr_atomic_read64(&ms->bytes_out);
    v->lat_sum = apr_atomic_read64(&ms->lat_sum);
    for (k = 0; k < REVPROXY_LAT_BUCKETS; k++) {
        c[k] = apr_atomic_read32(&ms->lat[k]);
        v->lat_count += c[k];
    }
    v->p50 = quantile(c, v->lat_count, 0.50);
    v->p99 = quantile(c, v->lat_count, 0.99);
    for (i = 0; i < st.hdr->nrows; i++) {
        child_row *row = row_at(i);
        if (apr_atomic_read32(&row->pid) != 0) {
            v->open += (apr_int32_t)apr_atomic_read32(
                           &row->gauges[2 * m->slot]);
            v->idle += (apr_int32_t)apr_atomic_read32(
                           &row->gauges[2 * m->slot + 1]);
        }
    }
}

static const char *state_name(apr_uint32_t s)
{
    return s == REVPROXY_MEMBER_UP ? "up" : "down";
}

static const char *down_by(apr_uint32_t s)
{
    return s == REVPROXY_MEMBER_DOWN ? "request"
         : s == REVPROXY_MEMBER_HCDOWN ? "health check" : "";
}

static int children(apr_pool_t *p, const char **list)
{
    apr_uint32_t i;
    int n = 0;
    const char *l = "";

    for (i = 0; st.hdr && i < st.hdr->nrows; i++) {
        apr_uint32_t pid = apr_atomic_read32(&row_at(i)->pid);
        if (pid) {
            l = apr_psprintf(p, "%s%s%u", l, n ? ", " : "", (unsigned)pid);
            n++;
        }
    }
    if (list) {
        *list = l;
    }
    return n;
}

/* ---------------------------------------------------------------------- */
/* HTML                                                                    */

static const char *esc(apr_pool_t *p, const char *s)
{
    return ap_escape_html(p, s ? s : "");
}

static const char *when(apr_pool_t *p, apr_time_t t, apr_time_t now)
{
    return apr_psprintf(p, "%s (%" APR_TIME_T_FMT "s ago)",
                        ap_ht_time(p, t, "%Y-%m-%d %H:%M:%S %Z", 0),
                        apr_time_sec(now - t));
}

static const char *dur(apr_pool_t *p, apr_interval_time_t t)
{
    return t % APR_USEC_PER_SEC
           ? apr_psprintf(p, "%" APR_TIME_T_FMT "ms", apr_time_as_msec(t))
           : apr_psprintf(p, "%" APR_TIME_T_FMT "s", apr_time_sec(t));
}

static const char *ms_text(apr_pool_t *p, double v)
{
    return v < 0 ? "-" : apr_psprintf(p, "%.3f ms", v);
}

static void html_page(request_rec *r)
{
    apr_time_t now = apr_time_now();
    const char *pids;
    int i, j, nchildren = children(r->pool, &pids);

    ap_rputs(DOCTYPE_HTML_4_01
             "<html><head>\n<title>mod_revproxy status</title>\n"
             "</head><body>\n<h1>mod_revproxy status</h1>\n", r);
    ap_rprintf(r, "<p>Server time: %s<br>\nCounters kept since: %s, over "
               "%u configuration(s)<br>\nChild processes counted: %d (%s); "
               "this page: pid %u<br>\nHealth checks run in: %s</p>\n",
               esc(r->pool, ap_ht_time(r->pool, now, "%Y-%m-%d %H:%M:%S %Z",
                                       0)),
               esc(r->pool, when(r->pool, (apr_time_t)st.hdr->created, now)),
               (unsigned)st.hdr->generations + 1, nchildren, pids,
               (unsigned)getpid(),
               st.hdr->hc_owner ? apr_psprintf(r->pool, "pid %u",
                                               (unsigned)st.hdr->hc_owner)
                                : "-");

    ap_rputs("<h2>Backend groups</h2>\n", r);
    if (st.groups->nelts == 0) {
        ap_rputs("<p>No RevProxyBackend is defined.</p>\n", r);
    }
    for (i = 0; i < st.groups->nelts; i++) {
        const group_ent *e = &APR_ARRAY_IDX(st.groups, i, group_ent);
        const revproxy_group *g = e->group;
        revproxy_group_stats *gs = &st.gs[g->slot];

        ap_rprintf(r, "<h3>%s</h3>\n<p>Server %s, defined at %s: "
                   "retry=%s max=%d%s; %" APR_UINT64_T_FMT " requests, %"
                   APR_UINT64_T_FMT " answered 503.</p>\n",
                   esc(r->pool, g->name), esc(r->pool, e->server),
                   esc(r->pool, g->where), dur(r->pool, g->retry),
                   g->max_idle,
                   g->hcheck > 0
                   ? esc(r->pool, apr_pstrcat(r->pool, " hcheck=",
                                              dur(r->pool, g->hcheck),
                                              " hcheckuri=", g->hcheck_uri,
                                              NULL))
                   : "",
                   apr_atomic_read64(&gs->requests),
                   apr_atomic_read64(&gs->unavailable));
        ap_rputs("<table border=\"1\">\n<tr><th>Member</th><th>State</th>"
                 "<th>Since</th><th>Requests</th><th>Refused</th>"
                 "<th>Timeout</th><th>Bad response</th><th>Aborted</th>"
                 "<th>Bytes in</th><th>Bytes out</th><th>Open conns</th>"
                 "<th>Idle conns</th><th>Header p50</th><th>Header p99</th>"
                 "<th>Health check</th></tr>\n", r);
        for (j = 0; j < g->members->nelts; j++) {
            member_view v;
            read_member(&APR_ARRAY_IDX(g->members, j, revproxy_member), &v);
            ap_rprintf(r, "<tr><td>%s</td><td>%s%s</td><td>%s</td>"
                       "<td>%" APR_UINT64_T_FMT "</td>"
                       "<td>%" APR_UINT64_T_FMT "</td>"
                       "<td>%" APR_UINT64_T_FMT "</td>"
                       "<td>%" APR_UINT64_T_FMT "</td>"
                       "<td>%" APR_UINT64_T_FMT "</td>"
                       "<td>%" APR_UINT64_T_FMT "</td>"
                       "<td>%" APR_UINT64_T_FMT "</td>"
                       "<td>%ld</td><td>%ld</td><td>%s</td><td>%s</td>"
                       "<td>%s</td></tr>\n",
                       esc(r->pool, v.m->url), state_name(v.state),
                       v.state == REVPROXY_MEMBER_UP ? ""
                       : apr_psprintf(r->pool, " (by %s; retry in %"
                                      APR_TIME_T_FMT "s)", down_by(v.state),
                                      v.down_until > now
                                      ? apr_time_sec(v.down_until - now
                                                     + APR_USEC_PER_SEC - 1)
                                      : 0),
                       esc(r->pool, when(r->pool, v.since, now)),
                       v.requests, v.fail[0], v.fail[1], v.fail[2], v.fail[3],
                       v.bytes_in, v.bytes_out, v.open, v.idle,
                       ms_text(r->pool, v.p50), ms_text(r->pool, v.p99),
                       g->hcheck <= 0 ? "off"
                       : v.hc_checks == 0 ? "not yet"
                       : apr_psprintf(r->pool, "%s, %" APR_UINT64_T_FMT
                                      " of %" APR_UINT64_T_FMT " failed, "
                                      "last %" APR_TIME_T_FMT "s ago",
                                      v.hc_ok ? "passing" : "failing",
                                      v.hc_failed, v.hc_checks,
                                      apr_time_sec(now - v.hc_last)));
        }
        ap_rputs("</table>\n", r);
    }

    ap_rputs("<h2>Rules</h2>\n", r);
    ap_rputs("<table border=\"1\">\n<tr><th>Server</th><th>Rule</th>"
             "<th>Destination</th><th>Defined at</th><th>Hits</th>"
             "<th>Errors</th><th>Bytes in</th><th>Bytes out</th></tr>\n", r);
    for (i = 0; i < st.rules->nelts; i++) {
        const rule_ent *e = &APR_ARRAY_IDX(st.rules, i, rule_ent);
        revproxy_rule_stats *rs = &st.rs[e->rule->id];
        ap_rprintf(r, "<tr><td>%s</td><td>%s %s</td><td>%s</td><td>%s</td>"
                   "<td>%" APR_UINT64_T_FMT "</td>"
                   "<td>%" APR_UINT64_T_FMT "</td>"
                   "<td>%" APR_UINT64_T_FMT "</td>"
                   "<td>%" APR_UINT64_T_FMT "</td></tr>\n",
                   esc(r->pool, e->server), esc(r->pool, e->rule->directive),
                   esc(r->pool, e->rule->pattern),
                   esc(r->pool, revproxy_dest_text(e->rule->dest)),
                   esc(r->pool, e->rule->where),
                   apr_atomic_read64(&rs->hits),
                   apr_atomic_read64(&rs->errors),
                   apr_atomic_read64(&rs->bytes_in),
                   apr_atomic_read64(&rs->bytes_out));
    }
    ap_rputs("</table>\n<p>Bytes in: from backends; bytes out: to backends. "
             "Header p50/p99: time from the start of an attempt to the "
             "response head (upper end of its histogram bucket). Also as "
             "<a href=\"?json\">JSON</a> and "
             "<a href=\"?metrics\">Prometheus metrics</a>.</p>\n"
             "</body></html>\n", r);
}

/* ---------------------------------------------------------------------- */
/* JSON                                                                    */

static const char *js(apr_pool_t *p, const char *s)
{
    apr_size_t n = 2;
    const unsigned char *c;
    char *out, *o;

    s = s ? s : "";
    for (c = (const unsigned char *)s; *c; c++) {
        n += (*c < 0x20 || *c == '"' || *c == '\\') ? 6 : 1;
    }
    o = out = apr_palloc(p, n + 1);
    *o++ = '"';
    for (c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            *o++ = '\\';
            *o++ = (char)*c;
        }
        else if (*c < 0x20) {
            o += apr_snprintf(o, 7, "\\u%04x", *c);
        }
        else {
            *o++ = (char)*c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static const char *js_ms(apr_pool_t *p, double v)
{
    return v < 0 ? "null" : apr_psprintf(p, "%.3f", v);
}

static const char *js_time(apr_pool_t *p, apr_time_t t)
{
    return t ? apr_psprintf(p, "%" APR_TIME_T_FMT ".%03" APR_TIME_T_FMT,
                            apr_time_sec(t), apr_time_msec(t))
             : "null";
}

static void json_page(request_rec *r)
{
    apr_pool_t *p = r->pool;
    apr_time_t now = apr_time_now();
    const char *pids;
    int i, j;

    children(p, &pids);
    ap_rprintf(r, "{\"version\":1,\"pid\":%u,\"time\":%s,\"since\":%s,"
               "\"configurations\":%u,\"children\":[%s],"
               "\"health_check_pid\":%u,\n\"backends\":[",
               (unsigned)getpid(), js_time(p, now),
               js_time(p, (apr_time_t)st.hdr->created),
               (unsigned)st.hdr->generations + 1, pids,
               (unsigned)apr_atomic_read32(&st.hdr->hc_owner));
    for (i = 0; i < st.groups->nelts; i++) {
        const group_ent *e = &APR_ARRAY_IDX(st.groups, i, group_ent);
        const revproxy_group *g = e->group;
        revproxy_group_stats *gs = &st.gs[g->slot];

        ap_rprintf(r, "%s\n{\"name\":%s,\"server\":%s,\"where\":%s,"
                   "\"retry\":%.3f,\"max\":%d,\"hcheck\":%.3f,"
                   "\"hcheckuri\":%s,\"requests\":%" APR_UINT64_T_FMT ","
                   "\"unavailable\":%" APR_UINT64_T_FMT ",\"members\":[",
                   i ? "," : "", js(p, g->name), js(p, e->server),
                   js(p, g->where), (double)g->retry / APR_USEC_PER_SEC,
                   g->max_idle, (double)g->hcheck / APR_USEC_PER_SEC,
                   g->hcheck > 0 ? js(p, g->hcheck_uri) : "null",
                   apr_atomic_read64(&gs->requests),
                   apr_atomic_read64(&gs->unavailable));
        for (j = 0; j < g->members->nelts; j++) {
            member_view v;
            read_member(&APR_ARRAY_IDX(g->members, j, revproxy_member), &v);
            ap_rprintf(r, "%s\n {\"url\":%s,\"state\":\"%s\",\"down_by\":%s,"
                       "\"since\":%s,\"retry_in\":%s,"
                       "\"requests\":%" APR_UINT64_T_FMT ","
                       "\"failures\":{\"refused\":%" APR_UINT64_T_FMT ","
                       "\"timeout\":%" APR_UINT64_T_FMT ","
                       "\"bad\":%" APR_UINT64_T_FMT ","
                       "\"aborted\":%" APR_UINT64_T_FMT "},"
                       "\"bytes_in\":%" APR_UINT64_T_FMT ","
                       "\"bytes_out\":%" APR_UINT64_T_FMT ","
                       "\"connections\":{\"open\":%ld,\"idle\":%ld},"
                       "\"latency_ms\":{\"count\":%" APR_UINT64_T_FMT ","
                       "\"p50\":%s,\"p99\":%s},"
                       "\"health_check\":%s}",
                       j ? "," : "", js(p, v.m->url), state_name(v.state),
                       v.state == REVPROXY_MEMBER_UP ? "null"
                       : js(p, down_by(v.state)),
                       js_time(p, v.since),
                       v.state == REVPROXY_MEMBER_UP ? "null"
                       : apr_psprintf(p, "%.3f", v.down_until > now
                                      ? (double)(v.down_until - now)
                                        / APR_USEC_PER_SEC : 0.0),
                       v.requests, v.fail[0], v.fail[1], v.fail[2], v.fail[3],
                       v.bytes_in, v.bytes_out, v.open, v.idle,
                       v.lat_count, js_ms(p, v.p50), js_ms(p, v.p99),
                       g->hcheck <= 0 ? "null"
                       : apr_psprintf(p, "{\"checks\":%" APR_UINT64_T_FMT
                                      ",\"failed\":%" APR_UINT64_T_FMT
                                      ",\"last\":%s,\"ok\":%s}",
                                      v.hc_checks, v.hc_failed,
                                      js_time(p, v.hc_last),
                                      v.hc_checks == 0 ? "null"
                                      : v.hc_ok ? "true" : "false"));
        }
        ap_rputs("]}", r);
    }
    ap_rputs("],\n\"rules\":[", r);
    for (i = 0; i < st.rules->nelts; i++) {
        const rule_ent *e = &APR_ARRAY_IDX(st.rules, i, rule_ent);
        revproxy_rule_stats *rs = &st.rs[e->rule->id];
        ap_rprintf(r, "%s\n{\"server\":%s,\"directive\":%s,\"pattern\":%s,"
                   "\"destination\":%s,\"where\":%s,"
                   "\"hits\":%" APR_UINT64_T_FMT ","
                   "\"errors\":%" APR_UINT64_T_FMT ","
                   "\"bytes_in\":%" APR_UINT64_T_FMT ","
                   "\"bytes_out\":%" APR_UINT64_T_FMT "}",
                   i ? "," : "", js(p, e->server), js(p, e->rule->directive),
                   js(p, e->rule->pattern),
                   js(p, revproxy_dest_text(e->rule->dest)),
                   js(p, e->rule->where), apr_atomic_read64(&rs->hits),
                   apr_atomic_read64(&rs->errors),
                   apr_atomic_read64(&rs->bytes_in),
                   apr_atomic_read64(&rs->bytes_out));
    }
    ap_rputs("]}\n", r);
}

/* ---------------------------------------------------------------------- */
/* Prometheus text format 0.0.4                                            */

static const char *pl(apr_pool_t *p, const char *s)
{
    apr_size_t n = 0;
    const char *c;
    char *out, *o;

    s = s ? s : "";
    for (c = s; *c; c++) {
        n += (*c == '"' || *c == '\\' || *c == '\n') ? 2 : 1;
    }
    o = out = apr_palloc(p, n + 1);
    for (c = s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            *o++ = '\\';
            *o++ = *c;
        }
        else if (*c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        }
        else {
            *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

static void metric_head(request_rec *r, const char *name, const char *type,
                        const char *help)
{
    ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_page(request_rec *r)
{
    static const char *const kinds[4] = {
        "refused", "timeout", "bad", "aborted"
    };
    apr_pool_t *p = r->pool;
    int i, j, k, n = 0;
    member_view *views;
    const char **labels;

    for (i = 0; i < st.groups->nelts; i++) {
        n += APR_ARRAY_IDX(st.groups, i, group_ent).group->members->nelts;
    }
    views = apr_pcalloc(p, (n + 1) * sizeof(*views));
    labels = apr_pcalloc(p, (n + 1) * sizeof(*labels));
    n = 0;
    for (i = 0; i < st.groups->nelts; i++) {
        const group_ent *e = &APR_ARRAY_IDX(st.groups, i, group_ent);
        for (j = 0; j < e->group->members->nelts; j++, n++) {
            read_member(&APR_ARRAY_IDX(e->group->members, j,
                                       revproxy_member), &views[n]);
            labels[n] = apr_psprintf(p, "server=\"%s\",group=\"%s\","
                                     "member=\"%s\"", pl(p, e->server),
                                     pl(p, e->group->name),
                                     pl(p, views[n].m->url));
        }
    }

#define RULES(name, type, help, field) \
    metric_head(r, name, type, help); \
    for (i = 0; i < st.rules->nelts; i++) { \
        const rule_ent *e = &APR_ARRAY_IDX(st.rules, i, rule_ent); \
        ap_rprintf(r, "%s{server=\"%s\",rule=\"%s %s\",where=\"%s\"} %" \
                   APR_UINT64_T_FMT "\n", name, pl(p, e->server), \
                   pl(p, e->rule->directive), pl(p, e->rule->pattern), \
                   pl(p, e->rule->where), \
                   apr_atomic_read64(&st.rs[e->rule->id].field)); \
    }
    RULES("revproxy_rule_requests_total", "counter",
          "Requests a rule proxied.", hits)
    RULES("revproxy_rule_errors_total", "counter",
          "Requests of a rule answered with an error by the proxy, or "
          "aborted.", errors)
    RULES("revproxy_rule_received_bytes_total", "counter",
          "Bytes received from backends for a rule.", bytes_in)
    RULES("revproxy_rule_sent_bytes_total", "counter",
          "Bytes sent to backends for a rule.", bytes_out)
#undef RULES

    metric_head(r, "revproxy_group_requests_total", "counter",
                "Requests for a backend group.");
    for (i = 0; i < st.groups->nelts; i++) {
        const group_ent *e = &APR_ARRAY_IDX(st.groups, i, group_ent);
        ap_rprintf(r, "revproxy_group_requests_total{server=\"%s\","
                   "group=\"%s\"} %" APR_UINT64_T_FMT "\n", pl(p, e->server),
                   pl(p, e->group->name),
                   apr_atomic_read64(&st.gs[e->group->slot].requests));
    }
    metric_head(r, "revproxy_group_unavailable_total", "counter",
                "Requests answered 503: every member was down.");
    for (i = 0; i < st.groups->nelts; i++) {
        const group_ent *e = &APR_ARRAY_IDX(st.groups, i, group_ent);
        ap_rprintf(r, "revproxy_group_unavailable_total{server=\"%s\","
                   "group=\"%s\"} %" APR_UINT64_T_FMT "\n", pl(p, e->server),
                   pl(p, e->group->name),
                   apr_atomic_read64(&st.gs[e->group->slot].unavailable));
    }

#define MEMBERS(name, type, help, fmt, expr) \
    metric_head(r, name, type, help); \
    for (i = 0; i < n; i++) { \
        const member_view *v = &views[i]; \
        ap_rprintf(r, "%s{%s} " fmt "\n", name, labels[i], expr); \
    }
    MEMBERS("revproxy_member_up", "gauge",
            "1 when the member is in use, 0 when it is down.", "%d",
            v->state == REVPROXY_MEMBER_UP)
    MEMBERS("revproxy_member_state_since_seconds", "gauge",
            "Unix time of the member's last change of state.", "%.3f",
            (double)v->since / APR_USEC_PER_SEC)
    MEMBERS("revproxy_member_requests_total", "counter",
            "Attempts on the member, failed ones included.",
            "%" APR_UINT64_T_FMT, v->requests)
    metric_head(r, "revproxy_member_failures_total", "counter",
                "Failed attempts on the member, by kind.");
    for (i = 0; i < n; i++) {
        for (k = 0; k < 4; k++) {
            ap_rprintf(r, "revproxy_member_failures_total{%s,kind=\"%s\"} %"
                       APR_UINT64_T_FMT "\n", labels[i], kinds[k],
                       views[i].fail[k]);
        }
    }
    MEMBERS("revproxy_member_received_bytes_total", "counter",
            "Bytes received from the member.", "%" APR_UINT64_T_FMT,
            v->bytes_in)
    MEMBERS("revproxy_member_sent_bytes_total", "counter",
            "Bytes sent to the member.", "%" APR_UINT64_T_FMT, v->bytes_out)
    metric_head(r, "revproxy_member_connections", "gauge",
                "Connections to the member, summed over child processes.");
    for (i = 0; i < n; i++) {
        ap_rprintf(r, "revproxy_member_connections{%s,state=\"open\"} %ld\n"
                   "revproxy_member_connections{%s,state=\"idle\"} %ld\n",
                   labels[i], views[i].open, labels[i], views[i].idle);
    }
    metric_head(r, "revproxy_member_response_header_seconds", "summary",
                "Time from the start of an attempt to the response head.");
    for (i = 0; i < n; i++) {
        const member_view *v = &views[i];
        if (v->lat_count) {
            ap_rprintf(r, "revproxy_member_response_header_seconds{%s,"
                       "quantile=\"0.5\"} %.6f\n"
                       "revproxy_member_response_header_seconds{%s,"
                       "quantile=\"0.99\"} %.6f\n", labels[i], v->p50 / 1000,
                       labels[i], v->p99 / 1000);
        }
        ap_rprintf(r, "revproxy_member_response_header_seconds_sum{%s} %.6f\n"
                   "revproxy_member_response_header_seconds_count{%s} %"
                   APR_UINT64_T_FMT "\n", labels[i],
                   (double)v->lat_sum / APR_USEC_PER_SEC, labels[i],
                   v->lat_count);
    }
    MEMBERS("revproxy_member_health_checks_failed_total", "counter",
            "Health checks the member failed.", "%" APR_UINT64_T_FMT,
            v->hc_failed)
#undef MEMBERS
}

/* ---------------------------------------------------------------------- */
/* Handler and mod_status                                                  */

static int has_arg(const char *args, const char *name)
{
    apr_size_t n = strlen(name);

    while (args && *args) {
        if (strncmp(args, name, n) == 0
            && (args[n] == '\0' || args[n] == '&' || args[n] == '=')) {
            return 1;
        }
        args = strchr(args, '&');
        if (args) {
            args++;
        }
    }
    return 0;
}

static int status_handler(request_rec *r)
{
    int json, metrics;

    if (r->handler == NULL || strcmp(r->handler, STATUS_HANDLER) != 0) {
        return DECLINED;
    }
    r->allowed = (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (st.hdr == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RVPLOGNO(0322)
                      "revproxy-status: the counters' shared memory is "
                      "missing (see the error at startup)");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    json = has_arg(r->args, "json");
    metrics = !json && has_arg(r->args, "metrics");
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    ap_set_content_type(r, json ? "application/json"
                           : metrics ? "text/plain; version=0.0.4; "
                                       "charset=utf-8"
                           : "text/html; charset=utf-8");
    if (r->header_only) {
        return OK;
    }
    if (json) {
        json_page(r);
    }
    else if (metrics) {
        metrics_page(r);
    }
    else {
        html_page(r);
    }
    return OK;
}

static int status_hook(request_rec *r, int flags)
{
    apr_uint64_t hits = 0;
    int i, j, up = 0, total = 0;
    const char *down = "";

    if (st.hdr == NULL) {
        return OK;
    }
    for (i = 0; i < st.rules->nelts; i++) {
        const revproxy_rule *rule = APR_ARRAY_IDX(st.rules, i, rule_ent).rule;
        hits += apr_atomic_read64(&st.rs[rule->id].hits);
    }
    for (i = 0; i < st.groups->nelts; i++) {
        const revproxy_group *g = APR_ARRAY_IDX(st.groups, i, group_ent).group;
        for (j = 0; j < g->members->nelts; j++) {
            const revproxy_member *m = &APR_ARRAY_IDX(g->members, j,
                                                      revproxy_member);
            total++;
            if (apr_atomic_read32(&st.ms[m->slot].state)
                == REVPROXY_MEMBER_UP) {
                up++;
            }
            else {
                down = apr_pstrcat(r->pool, down, *down ? ", " : "",
                                   g->name, " ", m->url, NULL);
            }
        }
    }
    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "RevProxyRequests: %" APR_UINT64_T_FMT "\n"
                   "RevProxyBackendGroups: %d\nRevProxyMembersUp: %d\n"
                   "RevProxyMembersDown: %d\n", hits, st.groups->nelts, up,
                   total - up);
        return OK;
    }
    ap_rprintf(r, "<hr />\n<h2>mod_revproxy</h2>\n<p>%d rules, %"
               APR_UINT64_T_FMT " requests proxied; %d backend groups, %d "
               "of %d members up.%s%s</p>\n", st.rules->nelts, hits,
               st.groups->nelts, up, total, *down ? " Down: " : "",
               esc(r->pool, down));
    return OK;
}

void revproxy_status_register(void)
{
    ap_hook_post_config(status_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(status_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_status(status_child_status, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
