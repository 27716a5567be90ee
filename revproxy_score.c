/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * The scoreboard's segment (see revproxy_score.h).
 *
 * Layout (made by the parent, inherited by every child; anonymous, so
 * nothing is left on disk):
 *
 *   header | rule blocks | group blocks | member blocks | child rows
 *
 * A child row is a pid (claimed with a compare-and-swap, freed by the
 * parent when that child exits, even after a crash) and the gauges of
 * every slot that has some.  Nothing here takes a lock: each number is
 * read and written atomically by the blocks' owners, and a reader sees a
 * snapshot of moving numbers, as mod_status's is.
 *
 * Across configurations the segment and the keys of its blocks stay in a
 * sub-pool of the process pool (which outlives every generation and the
 * module's own unloading): same keys, same segment; other keys, a new
 * segment with the blocks of the keys still present copied over.
 */

#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/types.h>

#include "apr_strings.h"
#include "apr_shm.h"
#include "apr_hash.h"
#include "apr_atomic.h"

#include "revproxy_score.h"

#define SCORE_MAGIC     0x52565053u         /* "RVPS" */
/* What is kept in the process pool: a new key whenever keep_t changes,
 * so that a module upgraded by a graceful restart never reads another
 * module's keep_t. */
#define KEEP_KEY        "mod_revproxy:score:2"

typedef struct score_hdr {
    apr_uint32_t magic, version;
    apr_uint32_t nrows, unused;
    volatile apr_uint32_t hc_owner;     /* pid doing the health checks */
    volatile apr_uint32_t generations;  /* configurations it served - 1 */
    apr_uint64_t created;               /* apr_time_t */
} score_hdr;

typedef struct child_row {
    volatile apr_uint32_t pid;          /* 0: free */
    volatile apr_uint32_t unused;
    volatile apr_uint32_t gauges[1];    /* every slot's, kind by kind */
} child_row;

typedef struct kind_t {
    apr_size_t size;                    /* of a block, a multiple of 8 */
    const void *fresh;                  /* a new block, or NULL: zeros */
    int gauges;                         /* per slot and row */
    apr_array_header_t *keys;           /* const char *, by slot */
} kind_t;

struct revproxy_score_keys {
    apr_pool_t *pool;
    kind_t kind[REVPROXY_SCORE_KINDS];
};

/* What survives configurations, in a sub-pool of the process pool. */
typedef struct keep_t {
    apr_pool_t *pool;
    apr_shm_t *shm;
    const char *layout;         /* the blocks' version and sizes */
    const char *sig;            /* every key, the rows, the layout */
    apr_hash_t *slots[REVPROXY_SCORE_KINDS];    /* key -> slot + 1 */
    apr_size_t size[REVPROXY_SCORE_KINDS];
    apr_uint32_t n[REVPROXY_SCORE_KINDS];
} keep_t;

/* One configuration's view of the segment (and, in a child, its row). */
struct revproxy_score {
    score_hdr *hdr;
    char *block[REVPROXY_SCORE_KINDS];
    apr_size_t size[REVPROXY_SCORE_KINDS];
    apr_uint32_t n[REVPROXY_SCORE_KINDS];
    int gauges[REVPROXY_SCORE_KINDS];
    apr_size_t gauge0[REVPROXY_SCORE_KINDS];    /* a kind's first gauge in
                                                   a row */
    apr_size_t ngauges;                         /* per row */
    char *rows;
    apr_size_t row_stride;
    apr_uint32_t *my_gauges;                    /* this child's row */
    apr_uint32_t my_pid;
};

/* ---------------------------------------------------------------------- */
/* Latency histogram                                                       */

int revproxy_score_lat_bucket(apr_uint64_t us)
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

apr_uint64_t revproxy_score_lat_upper(int i)
{
    if (i < 4) {
        return (apr_uint64_t)i + 1;
    }
    return (apr_uint64_t)(5 + i % 4) << (i / 4 - 1);
}

void revproxy_score_lat_count(volatile apr_uint32_t *lat,
                              volatile apr_uint64_t *sum,
                              apr_interval_time_t t)
{
    apr_uint64_t us = t > 0 ? (apr_uint64_t)t : 0;

    apr_atomic_inc32(&lat[revproxy_score_lat_bucket(us)]);
    apr_atomic_add64(sum, us);
}

/* ---------------------------------------------------------------------- */
/* Registration                                                            */

static apr_size_t align8(apr_size_t n)
{
    return (n + 7) & ~(apr_size_t)7;
}

revproxy_score_keys *revproxy_score_keys_make(apr_pool_t *p)
{
    revproxy_score_keys *k = apr_pcalloc(p, sizeof(*k));
    int i;

    k->pool = p;
    for (i = 0; i < REVPROXY_SCORE_KINDS; i++) {
        k->kind[i].keys = apr_array_make(p, 8, sizeof(const char *));
    }
    return k;
}

void revproxy_score_kind_set(revproxy_score_keys *k, revproxy_score_kind kind,
                             apr_size_t size, const void *fresh, int gauges)
{
    kind_t *t = &k->kind[kind];

    t->size = align8(size);
    t->fresh = NULL;
    if (fresh) {
        /* As long as a block: zeros after size. */
        void *f = apr_pcalloc(k->pool, t->size);
        memcpy(f, fresh, size);
        t->fresh = f;
    }
    t->gauges = gauges > 0 ? gauges : 0;
}

int revproxy_score_add(revproxy_score_keys *k, revproxy_score_kind kind,
                       const char *key)
{
    apr_array_header_t *keys = k->kind[kind].keys;

    *(const char **)apr_array_push(keys) = apr_pstrdup(k->pool, key);
    return keys->nelts - 1;
}

/* Gauges per row. */
static apr_size_t row_gauges(const revproxy_score_keys *k)
{
    apr_size_t n = 0;
    int i;

    for (i = 0; i < REVPROXY_SCORE_KINDS; i++) {
        n += (apr_size_t)k->kind[i].keys->nelts * k->kind[i].gauges;
    }
    return n;
}

static apr_size_t row_stride(apr_size_t ngauges)
{
    return align8(APR_OFFSETOF(child_row, gauges)
                  + (ngauges ? ngauges : 1) * sizeof(apr_uint32_t));
}

apr_size_t revproxy_score_size(const revproxy_score_keys *k,
                               apr_uint32_t nrows)
{
    apr_size_t n = align8(sizeof(score_hdr));
    int i;

    for (i = 0; i < REVPROXY_SCORE_KINDS; i++) {
        n += (apr_size_t)k->kind[i].keys->nelts * k->kind[i].size;
    }
    return n + nrows * row_stride(row_gauges(k));
}

/* The blocks' version and sizes: another layout is not copied from. */
static const char *layout_of(apr_pool_t *p, const revproxy_score_keys *k)
{
    return apr_psprintf(p, "v%d %" APR_SIZE_T_FMT " %" APR_SIZE_T_FMT
                        " %" APR_SIZE_T_FMT, REVPROXY_SCORE_VERSION,
                        k->kind[REVPROXY_SCORE_RULE].size,
                        k->kind[REVPROXY_SCORE_GROUP].size,
                        k->kind[REVPROXY_SCORE_MEMBER].size);
}

/* Every key, the rows and the layout: the same signature, the same
 * segment. */
static const char *signature(apr_pool_t *p, const revproxy_score_keys *k,
                             apr_uint32_t nrows, const char *layout)
{
    apr_array_header_t *parts = apr_array_make(p, 8, sizeof(char *));
    int i;

    for (i = 0; i < REVPROXY_SCORE_KINDS; i++) {
        *(const char **)apr_array_push(parts)
            = apr_psprintf(p, "kind %d gauges %d", i, k->kind[i].gauges);
        apr_array_cat(parts, k->kind[i].keys);
    }
    *(const char **)apr_array_push(parts) = apr_psprintf(p, "rows %u",
                                                          nrows);
    *(const char **)apr_array_push(parts) = layout;
    return apr_array_pstrcat(p, parts, '\n');
}

/* ---------------------------------------------------------------------- */
/* The segment                                                             */

static void attach(revproxy_score *sb, const revproxy_score_keys *k,
                   char *base)
{
    char *p = base + align8(sizeof(score_hdr));
    apr_size_t g = 0;
    int i;

    sb->hdr = (score_hdr *)base;
    for (i = 0; i < REVPROXY_SCORE_KINDS; i++) {
        sb->block[i] = p;
        sb->size[i] = k->kind[i].size;
        sb->n[i] = (apr_uint32_t)k->kind[i].keys->nelts;
        sb->gauges[i] = k->kind[i].gauges;
        sb->gauge0[i] = g;
        g += (apr_size_t)sb->n[i] * sb->gauges[i];
        p += sb->n[i] * sb->size[i];
    }
    sb->ngauges = g;
    sb->rows = p;
    sb->row_stride = row_stride(g);
}

static child_row *row_at(const revproxy_score *sb, apr_uint32_t i)
{
    return (child_row *)(sb->rows + i * sb->row_stride);
}

/* Copy the blocks whose keys the old segment has too. */
static void carry_over(revproxy_score *sb, const revproxy_score_keys *k,
                       const keep_t *old)
{
    char *op = (char *)apr_shm_baseaddr_get(old->shm)
               + align8(sizeof(score_hdr));
    int i, j;

    for (i = 0; i < REVPROXY_SCORE_KINDS; i++) {
        for (j = 0; j < k->kind[i].keys->nelts; j++) {
            const char *key = APR_ARRAY_IDX(k->kind[i].keys, j, const char *);
            apr_size_t o = (apr_size_t)apr_hash_get(old->slots[i], key,
                                                    APR_HASH_KEY_STRING);
            if (o) {
                memcpy(sb->block[i] + j * sb->size[i],
                       op + (o - 1) * old->size[i], sb->size[i]);
            }
        }
        op += old->n[i] * old->size[i];
    }
}

apr_status_t revproxy_score_open(revproxy_score **out,
                                 const revproxy_score_keys *k,
                                 apr_uint32_t nrows, apr_time_t now,
                                 apr_pool_t *pproc, apr_pool_t *pconf)
{
    revproxy_score *sb = apr_pcalloc(pconf, sizeof(*sb));
    const char *layout = layout_of(pconf, k);
    const char *sig = signature(pconf, k, nrows, layout);
    keep_t *old = NULL, *keep;
    apr_pool_t *kp;
    apr_status_t rv;
    char *base;
    int i, j;

    *out = NULL;
    apr_pool_userdata_get((void **)&old, KEEP_KEY, pproc);
    if (old && strcmp(old->sig, sig) == 0) {
        /* The same keys: carry on with the segment as it is. */
        attach(sb, k, apr_shm_baseaddr_get(old->shm));
        apr_atomic_inc32(&sb->hdr->generations);
        *out = sb;
        return APR_SUCCESS;
    }

    rv = apr_pool_create(&kp, pproc);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_pool_tag(kp, "revproxy_score");
    keep = apr_pcalloc(kp, sizeof(*keep));
    keep->pool = kp;
    keep->sig = apr_pstrdup(kp, sig);
    keep->layout = apr_pstrdup(kp, layout);
    rv = apr_shm_create(&keep->shm, revproxy_score_size(k, nrows), NULL, kp);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(kp);
        return rv;
    }
    base = apr_shm_baseaddr_get(keep->shm);
    memset(base, 0, apr_shm_size_get(keep->shm));
    attach(sb, k, base);
    sb->hdr->magic = SCORE_MAGIC;
    sb->hdr->version = REVPROXY_SCORE_VERSION;
    sb->hdr->nrows = nrows;
    sb->hdr->created = (apr_uint64_t)now;

    /* New blocks as their owners want them; where each key lives, for
     * the next configuration. */
    for (i = 0; i < REVPROXY_SCORE_KINDS; i++) {
        keep->slots[i] = apr_hash_make(kp);
        keep->size[i] = sb->size[i];
        keep->n[i] = sb->n[i];
        for (j = 0; j < k->kind[i].keys->nelts; j++) {
            const char *key = APR_ARRAY_IDX(k->kind[i].keys, j, const char *);
            if (k->kind[i].fresh) {
                memcpy(sb->block[i] + j * sb->size[i], k->kind[i].fresh,
                       sb->size[i]);
            }
            apr_hash_set(keep->slots[i], apr_pstrdup(kp, key),
                         APR_HASH_KEY_STRING, (void *)((apr_size_t)j + 1));
        }
    }
    if (old) {
        /* Children of the old configuration keep their own mapping of
         * the old segment until they exit; the parent lets go of it. */
        if (strcmp(old->layout, layout) == 0) {
            const score_hdr *oh = apr_shm_baseaddr_get(old->shm);
            carry_over(sb, k, old);
            sb->hdr->generations = oh->generations + 1;
            sb->hdr->created = oh->created;
        }
        apr_pool_destroy(old->pool);
    }
    apr_pool_userdata_set(keep, KEEP_KEY, apr_pool_cleanup_null, pproc);
    *out = sb;
    return APR_SUCCESS;
}

void *revproxy_score_block(const revproxy_score *sb, revproxy_score_kind kind,
                           int slot)
{
    if (sb == NULL || slot < 0 || (apr_uint32_t)slot >= sb->n[kind]) {
        return NULL;
    }
    return sb->block[kind] + (apr_size_t)slot * sb->size[kind];
}

apr_time_t revproxy_score_created(const revproxy_score *sb)
{
    return sb ? (apr_time_t)sb->hdr->created : 0;
}

apr_uint32_t revproxy_score_configurations(const revproxy_score *sb)
{
    return sb ? apr_atomic_read32(&sb->hdr->generations) + 1 : 0;
}

/* ---------------------------------------------------------------------- */
/* Child rows                                                              */

apr_status_t revproxy_score_child_claim(revproxy_score *sb, apr_uint32_t pid)
{
    apr_uint32_t i;

    if (sb == NULL) {
        return APR_EINIT;
    }
    sb->my_pid = pid;
    sb->my_gauges = NULL;
    for (i = 0; i < sb->hdr->nrows; i++) {
        child_row *row = row_at(sb, i);
        if (apr_atomic_cas32(&row->pid, pid, 0) == 0) {
            memset((void *)row->gauges, 0, sb->ngauges * sizeof(apr_uint32_t));
            sb->my_gauges = (apr_uint32_t *)row->gauges;
            return APR_SUCCESS;
        }
    }
    return APR_EAGAIN;
}

void revproxy_score_child_exited(revproxy_score *sb, apr_uint32_t pid)
{
    apr_uint32_t i;

    if (sb == NULL || pid == 0) {
        return;
    }
    for (i = 0; i < sb->hdr->nrows; i++) {
        child_row *row = row_at(sb, i);
        if (apr_atomic_read32(&row->pid) == pid) {
            memset((void *)row->gauges, 0, sb->ngauges * sizeof(apr_uint32_t));
            apr_atomic_set32(&row->pid, 0);
        }
    }
    apr_atomic_cas32(&sb->hdr->hc_owner, 0, pid);
}

apr_uint32_t *revproxy_score_gauges(const revproxy_score *sb,
                                    revproxy_score_kind kind, int slot)
{
    if (sb == NULL || sb->my_gauges == NULL || sb->gauges[kind] == 0
        || slot < 0 || (apr_uint32_t)slot >= sb->n[kind]) {
        return NULL;
    }
    return sb->my_gauges + sb->gauge0[kind]
           + (apr_size_t)slot * sb->gauges[kind];
}

long revproxy_score_gauge_sum(const revproxy_score *sb,
                              revproxy_score_kind kind, int slot, int i)
{
    apr_size_t g;
    apr_uint32_t r;
    long sum = 0;

    if (sb == NULL || slot < 0 || (apr_uint32_t)slot >= sb->n[kind]
        || i < 0 || i >= sb->gauges[kind]) {
        return 0;
    }
    g = sb->gauge0[kind] + (apr_size_t)slot * sb->gauges[kind] + i;
    for (r = 0; r < sb->hdr->nrows; r++) {
        child_row *row = row_at(sb, r);
        if (apr_atomic_read32(&row->pid) != 0) {
            sum += (apr_int32_t)apr_atomic_read32(&row->gauges[g]);
        }
    }
    return sum;
}

apr_uint32_t revproxy_score_rows(const revproxy_score *sb)
{
    return sb ? sb->hdr->nrows : 0;
}

apr_uint32_t revproxy_score_row_pid(const revproxy_score *sb, apr_uint32_t i)
{
    return (sb && i < sb->hdr->nrows)
           ? apr_atomic_read32(&row_at(sb, i)->pid) : 0;
}

/* ---------------------------------------------------------------------- */
/* The health-check owner                                                  */

static int pid_alive(apr_uint32_t pid)
{
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int revproxy_score_owner(revproxy_score *sb)
{
    apr_uint32_t owner;

    if (sb == NULL || sb->my_pid == 0) {
        return 0;
    }
    owner = apr_atomic_read32(&sb->hdr->hc_owner);
    if (owner == sb->my_pid) {
        return 1;
    }
    if (owner != 0 && pid_alive(owner)) {
        return 0;
    }
    return apr_atomic_cas32(&sb->hdr->hc_owner, sb->my_pid, owner) == owner;
}

void revproxy_score_owner_release(revproxy_score *sb)
{
    if (sb && sb->my_pid) {
        apr_atomic_cas32(&sb->hdr->hc_owner, 0, sb->my_pid);
    }
}

apr_uint32_t revproxy_score_owner_pid(const revproxy_score *sb)
{
    return sb ? apr_atomic_read32(&sb->hdr->hc_owner) : 0;
}
