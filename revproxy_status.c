/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * The status page's handler and its snapshot, and the counters of the
 * requests the handler served.
 *
 * A page reads the scoreboard once, without a lock, into a snapshot of
 * plain values (each number is read atomically; the page as a whole is a
 * snapshot of moving numbers, as mod_status's is), which
 * revproxy_status_page.c writes as HTML, JSON or Prometheus text, or as
 * the summary on mod_status's page.
 */

#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "apr_strings.h"
#include "apr_atomic.h"
#include "apr_general.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_core.h"
#include "http_request.h"
#include "mod_status.h"

#include "revproxy_private.h"
#include "revproxy_backend.h"
#include "revproxy_score.h"
#include "revproxy_status.h"
#include "revproxy_status_page.h"

APLOG_USE_MODULE(revproxy);

#define STATUS_HANDLER  "revproxy-status"

/* The manager's POST body: four short fields; more is refused (413). */
#define MANAGE_BODY_MAX 4096
#define NONCE_BYTES     16
#define FORM_TYPE       "application/x-www-form-urlencoded"

/* ---------------------------------------------------------------------- */
/* Counting                                                                */

void revproxy_status_request(revproxy_score_rule *rc,
                             revproxy_score_member *mc, int status,
                             int aborted, apr_off_t in, apr_off_t out,
                             apr_off_t member_in, apr_off_t member_out)
{
    if (rc) {
        apr_atomic_inc64(&rc->hits);
        apr_atomic_add64(&rc->bytes_in, (apr_uint64_t)in);
        apr_atomic_add64(&rc->bytes_out, (apr_uint64_t)out);
        if (status != OK || aborted) {
            apr_atomic_inc64(&rc->errors);
        }
    }
    if (mc) {
        apr_atomic_add64(&mc->bytes_in, (apr_uint64_t)member_in);
        apr_atomic_add64(&mc->bytes_out, (apr_uint64_t)member_out);
        if (aborted) {
            apr_atomic_inc64(&mc->fail[REVPROXY_SCORE_ABORTED]);
        }
    }
}

static void count_conn(volatile apr_uint64_t *fresh,
                       volatile apr_uint64_t *reused, int was_reused)
{
    apr_atomic_inc64(was_reused ? reused : fresh);
}

void revproxy_status_head(revproxy_score_rule *rc, revproxy_score_member *mc,
                          apr_interval_time_t t, int reused)
{
    if (rc) {
        revproxy_score_lat_count(rc->lat, &rc->lat_sum, t);
        count_conn(&rc->conn_new, &rc->conn_reused, reused);
    }
    if (mc) {
        count_conn(&mc->conn_new, &mc->conn_reused, reused);
    }
}

/* ---------------------------------------------------------------------- */
/* The snapshot                                                            */

/* A latency histogram of the scoreboard, read once into c; returns the
 * number of samples. */
static apr_uint64_t read_lat(volatile apr_uint32_t *lat,
                             apr_uint32_t *c)
{
    apr_uint64_t n = 0;
    int k;

    for (k = 0; k < REVPROXY_LAT_BUCKETS; k++) {
        c[k] = apr_atomic_read32(&lat[k]);
        n += c[k];
    }
    return n;
}

/* The fine histogram c as the metrics' cumulative counts at their bounds:
 * a bucket counts under the first bound that every value it holds is at
 * or below (a bucket straddling a bound counts under the next one: the
 * counts err on the slow side by at most a bucket's width, 25%). */
static void to_bounds(const apr_uint32_t *c, apr_uint64_t *le)
{
    static const apr_uint64_t bound[REVPROXY_STATUS_LE]
        = REVPROXY_STATUS_LE_US;
    int i, j = 0;

    memset(le, 0, REVPROXY_STATUS_LE * sizeof(*le));
    for (i = 0; i < REVPROXY_LAT_BUCKETS; i++) {
        /* Bucket i holds [upper(i - 1), upper(i)) microseconds. */
        apr_uint64_t top = revproxy_score_lat_upper(i) - 1;
        while (j < REVPROXY_STATUS_LE && bound[j] < top) {
            j++;
        }
        if (j < REVPROXY_STATUS_LE) {
            le[j] += c[i];
        }
    }
    for (j = 1; j < REVPROXY_STATUS_LE; j++) {
        le[j] += le[j - 1];
    }
}

/* Quantile q of a latency histogram, in milliseconds (the upper end of
 * its bucket); -1 without samples. */
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
            return (double)revproxy_score_lat_upper(i) / 1000.0;
        }
    }
    return (double)revproxy_score_lat_upper(REVPROXY_LAT_BUCKETS - 1)
           / 1000.0;
}

/* What the page shows of a member: the admin's drain or disabled over
 * up/down (a drained member may be down too: the page says so beside). */
static const char *shown_state(apr_uint32_t admin, int up)
{
    return admin == REVPROXY_ADMIN_DRAIN ? "drain"
         : admin == REVPROXY_ADMIN_DISABLED ? "disabled"
         : up ? "up" : "down";
}

static void read_member(const revproxy_score *sb, const revproxy_group *g,
                        const revproxy_member *m,
                        revproxy_status_member_view *v)
{
    revproxy_member_state *ms = m->state;
    revproxy_score_member *mc = m->counters;
    apr_uint32_t c[REVPROXY_LAT_BUCKETS], state = REVPROXY_MEMBER_UP;
    int k;

    memset(v, 0, sizeof(*v));
    v->url = m->url;
    if (ms) {
        state = apr_atomic_read32(&ms->state);
        v->since = (apr_time_t)apr_atomic_read64(&ms->since);
        v->down_until = (apr_time_t)apr_atomic_read64(&ms->down_until);
        v->hc_last = (apr_time_t)apr_atomic_read64(&ms->hc_last);
        v->hc_ok = (int)apr_atomic_read32(&ms->hc_ok);
        v->hc_checks = apr_atomic_read64(&ms->hc_checks);
        v->hc_failed = apr_atomic_read64(&ms->hc_failed);
    }
    v->up = state == REVPROXY_MEMBER_UP;
    v->state = shown_state(ms ? apr_atomic_read32(&ms->admin)
                              : REVPROXY_ADMIN_ACTIVE, v->up);
    v->down_by = state == REVPROXY_MEMBER_DOWN ? "request"
               : state == REVPROXY_MEMBER_HCDOWN ? "health check" : "";
    v->p50 = v->p99 = -1;
    if (mc) {
        v->requests = apr_atomic_read64(&mc->requests);
        for (k = 0; k < 4; k++) {
            v->fail[k] = apr_atomic_read64(&mc->fail[k]);
        }
        v->bytes_in = apr_atomic_read64(&mc->bytes_in);
        v->bytes_out = apr_atomic_read64(&mc->bytes_out);
        v->lat_sum = apr_atomic_read64(&mc->lat_sum);
        v->lat_count = read_lat(mc->lat, c);
        to_bounds(c, v->le);
        v->conn_new = apr_atomic_read64(&mc->conn_new);
        v->conn_reused = apr_atomic_read64(&mc->conn_reused);
        v->p50 = quantile(c, v->lat_count, 0.50);
        v->p99 = quantile(c, v->lat_count, 0.99);
    }
    v->open = revproxy_score_gauge_sum(sb, REVPROXY_SCORE_MEMBER, m->slot, 0);
    v->idle = revproxy_score_gauge_sum(sb, REVPROXY_SCORE_MEMBER, m->slot, 1);
    v->inflight = revproxy_backend_inflight(g, m);
}

static void read_group(apr_pool_t *p, const revproxy_score *sb,
                       const revproxy_status_group *e,
                       revproxy_status_group_view *v)
{
    const revproxy_group *g = e->group;
    int j;

    v->name = g->name;
    v->server = e->server;
    v->where = g->where;
    v->retry = g->retry;
    v->max_idle = g->max_idle;
    v->hcheck = g->hcheck;
    v->hcheck_uri = g->hcheck_uri;
    if (g->counters) {
        v->requests = apr_atomic_read64(&g->counters->requests);
        v->unavailable = apr_atomic_read64(&g->counters->unavailable);
    }
    v->nmembers = g->members->nelts;
    v->members = apr_pcalloc(p, (v->nmembers + 1) * sizeof(*v->members));
    for (j = 0; j < v->nmembers; j++) {
        read_member(sb, g, &APR_ARRAY_IDX(g->members, j, revproxy_member),
                    &v->members[j]);
    }
}

static void read_rule_heads(revproxy_score_rule *rc,
                            revproxy_status_rule_view *v)
{
    apr_uint32_t c[REVPROXY_LAT_BUCKETS];

    v->lat_sum = apr_atomic_read64(&rc->lat_sum);
    v->lat_count = read_lat(rc->lat, c);
    to_bounds(c, v->le);
    v->conn_new = apr_atomic_read64(&rc->conn_new);
    v->conn_reused = apr_atomic_read64(&rc->conn_reused);
}

static void read_rule(const revproxy_status_rule *e,
                      revproxy_status_rule_view *v)
{
    const revproxy_rule *rule = e->rule;

    v->server = e->server;
    v->directive = rule->directive;
    v->pattern = rule->pattern;
    v->destination = revproxy_dest_text(rule->dest);
    v->where = rule->where;
    if (rule->counters) {
        v->hits = apr_atomic_read64(&rule->counters->hits);
        v->errors = apr_atomic_read64(&rule->counters->errors);
        v->bytes_in = apr_atomic_read64(&rule->counters->bytes_in);
        v->bytes_out = apr_atomic_read64(&rule->counters->bytes_out);
        read_rule_heads(rule->counters, v);
    }
}

static revproxy_status_snapshot *snapshot(apr_pool_t *p,
                                          const revproxy_status_index *ix)
{
    revproxy_status_snapshot *s = apr_pcalloc(p, sizeof(*s));
    const revproxy_score *sb = ix->score;
    apr_uint32_t i, n = revproxy_score_rows(sb);
    int k;

    s->now = apr_time_now();
    s->created = revproxy_score_created(sb);
    s->configurations = revproxy_score_configurations(sb);
    s->pid = (unsigned)getpid();
    s->hc_owner = revproxy_score_owner_pid(sb);
    s->children = "";
    for (i = 0; i < n; i++) {
        apr_uint32_t pid = revproxy_score_row_pid(sb, i);
        if (pid) {
            s->children = apr_psprintf(p, "%s%s%u", s->children,
                                       s->nchildren ? ", " : "",
                                       (unsigned)pid);
            s->nchildren++;
        }
    }
    s->ngroups = ix->groups->nelts;
    s->groups = apr_pcalloc(p, (s->ngroups + 1) * sizeof(*s->groups));
    for (k = 0; k < s->ngroups; k++) {
        read_group(p, sb, &APR_ARRAY_IDX(ix->groups, k, revproxy_status_group),
                   &s->groups[k]);
    }
    s->nrules = ix->rules->nelts;
    s->rules = apr_pcalloc(p, (s->nrules + 1) * sizeof(*s->rules));
    for (k = 0; k < s->nrules; k++) {
        read_rule(&APR_ARRAY_IDX(ix->rules, k, revproxy_status_rule),
                  &s->rules[k]);
    }
    return s;
}

/* ---------------------------------------------------------------------- */
/* Handler and mod_status                                                  */

static const revproxy_status_index *index_of(server_rec *s)
{
    revproxy_server_conf *sc = ap_get_module_config(s->module_config,
                                                    &revproxy_module);
    return sc->status;
}

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

/* ---------------------------------------------------------------------- */
/* The manager (RevProxyStatusManage On)                                   */

const char *revproxy_status_nonce(apr_pool_t *p, server_rec *s)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[NONCE_BYTES];
    char *out = apr_palloc(p, 2 * NONCE_BYTES + 1);
    apr_status_t rv = apr_generate_random_bytes(b, sizeof(b));
    int i;

    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, RVPLOGNO(0351)
                     "cannot make the nonce of the status page's manager: "
                     "RevProxyStatusManage refuses every change");
        return NULL;
    }
    for (i = 0; i < NONCE_BYTES; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * NONCE_BYTES] = '\0';
    return out;
}

static int manage_on(const request_rec *r)
{
    const revproxy_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                                       &revproxy_module);
    return dc && dc->status_manage == 1;
}

/* What a POST asks: the first value of each field, percent-decoded. */
typedef struct manage_req {
    const char *server;         /* optional: the group's server label */
    const char *group, *member, *state, *nonce;
} manage_req;

static int form_type(const request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    apr_size_t n = sizeof(FORM_TYPE) - 1;

    return ct && strncasecmp(ct, FORM_TYPE, n) == 0
           && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The body, at most MANAGE_BODY_MAX bytes, NUL-terminated. */
static int read_form(request_rec *r, char **out)
{
    char *buf = apr_palloc(r->pool, MANAGE_BODY_MAX + 2);
    apr_size_t len = 0;
    long n = 0;
    int rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);

    if (rc != OK) {
        return rc;
    }
    if (ap_should_client_block(r)) {
        while (len <= MANAGE_BODY_MAX
               && (n = ap_get_client_block(r, buf + len,
                                           MANAGE_BODY_MAX + 1 - len)) > 0) {
            len += (apr_size_t)n;
        }
        if (n < 0) {
            return HTTP_BAD_REQUEST;
        }
        if (len > MANAGE_BODY_MAX) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        return HTTP_BAD_REQUEST;
    }
    *out = buf;
    return OK;
}

static void parse_form(char *body, manage_req *q)
{
    char *last, *pair;

    memset(q, 0, sizeof(*q));
    for (pair = apr_strtok(body, "&", &last); pair;
         pair = apr_strtok(NULL, "&", &last)) {
        char *val = strchr(pair, '=');
        const char **slot;
        if (val == NULL) {
            continue;
        }
        *val++ = '\0';
        if (ap_unescape_urlencoded(pair) != OK
            || ap_unescape_urlencoded(val) != OK) {
            continue;           /* as if absent: 403 or 400 below */
        }
        slot = strcmp(pair, "group") == 0 ? &q->group
             : strcmp(pair, "member") == 0 ? &q->member
             : strcmp(pair, "state") == 0 ? &q->state
             : strcmp(pair, "nonce") == 0 ? &q->nonce
             : strcmp(pair, "server") == 0 ? &q->server : NULL;
        if (slot && *slot == NULL) {
            *slot = val;
        }
    }
}

/* The generation's nonce, compared in constant time. */
static int nonce_ok(const char *want, const char *got)
{
    apr_size_t n, i;
    unsigned char d = 0;

    if (want == NULL || got == NULL || strlen(got) != (n = strlen(want))) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        d |= (unsigned char)(want[i] ^ got[i]);
    }
    return d == 0;
}

/* The group a POST names: with server=, that server's; else the one the
 * page's own server sees under that name; else the first so named. */
static const revproxy_status_group *find_group(request_rec *r,
                                               const revproxy_status_index *ix,
                                               const manage_req *q)
{
    const revproxy_server_conf *sc = ap_get_module_config(
        r->server->module_config, &revproxy_module);
    const revproxy_group *own = q->server ? NULL
                                : revproxy_backend_find(sc->groups, q->group);
    const revproxy_status_group *first = NULL;
    int i;

    for (i = 0; i < ix->groups->nelts; i++) {
        const revproxy_status_group *e
            = &APR_ARRAY_IDX(ix->groups, i, revproxy_status_group);
        if (strcasecmp(e->group->name, q->group) != 0
            || (q->server && strcmp(e->server, q->server) != 0)) {
            continue;
        }
        if (own == NULL || e->group == own) {
            return e;
        }
        if (first == NULL) {
            first = e;
        }
    }
    return first;
}

static const revproxy_member *find_member(const revproxy_group *g,
                                          const char *url)
{
    int j;

    for (j = 0; j < g->members->nelts; j++) {
        const revproxy_member *m = &APR_ARRAY_IDX(g->members, j,
                                                  revproxy_member);
        if (strcmp(m->url, url) == 0) {
            return m;
        }
    }
    return NULL;
}

static int admin_of(const char *state, apr_uint32_t *admin)
{
    *admin = strcmp(state, "up") == 0 ? REVPROXY_ADMIN_ACTIVE
           : strcmp(state, "drain") == 0 ? REVPROXY_ADMIN_DRAIN
           : strcmp(state, "disabled") == 0 ? REVPROXY_ADMIN_DISABLED
           : 99;
    return *admin != 99;
}

/* A POST to the manager: the member's admin state set in its slot (so
 * every child sees it at once) and logged; the status to answer, or OK
 * when the page follows. */
static int manage(request_rec *r, const revproxy_status_index *ix)
{
    const revproxy_status_group *e;
    const revproxy_member *m;
    revproxy_member_state *ms;
    apr_uint32_t admin, old;
    manage_req q;
    char *body = NULL;
    int rc, up;

    if (!form_type(r)) {
        return HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    rc = read_form(r, &body);
    if (rc != OK) {
        return rc;
    }
    parse_form(body, &q);
    if (!nonce_ok(ix->nonce, q.nonce)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RVPLOGNO(0352)
                      "revproxy-status: client %s posted a %s nonce: "
                      "refused", r->useragent_ip,
                      q.nonce ? "wrong" : "missing");
        return HTTP_FORBIDDEN;
    }
    if (q.group == NULL || q.member == NULL || q.state == NULL
        || (e = find_group(r, ix, &q)) == NULL
        || (m = find_member(e->group, q.member)) == NULL
        || !admin_of(q.state, &admin)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RVPLOGNO(0353)
                      "revproxy-status: client %s asked for group %s, "
                      "member %s, state %s: unknown", r->useragent_ip,
                      q.group ? q.group : "(none)",
                      q.member ? q.member : "(none)",
                      q.state ? q.state : "(none)");
        return HTTP_BAD_REQUEST;
    }
    ms = m->state;
    if (ms == NULL) {
        return HTTP_SERVICE_UNAVAILABLE;    /* no shared memory */
    }
    old = apr_atomic_xchg32(&ms->admin, admin);
    up = apr_atomic_read32(&ms->state) == REVPROXY_MEMBER_UP;
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, RVPLOGNO(0350)
                  "revproxy-status: client %s set member %s of group %s "
                  "(server %s) from %s to %s%s", r->useragent_ip, m->url,
                  e->group->name, e->server, shown_state(old, 1),
                  shown_state(admin, 1),
                  up ? "" : "; it stays down (failures or health check) "
                            "until a retry or a check passes");
    return OK;
}

int revproxy_status_handler(request_rec *r)
{
    const revproxy_status_index *ix;
    revproxy_status_snapshot *s;
    int json, metrics, managed, rc;

    /* Step One: ours, and a method the location takes. */
    if (r->handler == NULL || strcmp(r->handler, STATUS_HANDLER) != 0) {
        return DECLINED;
    }
    managed = manage_on(r);
    r->allowed = (AP_METHOD_BIT << M_GET)
                 | (managed ? (AP_METHOD_BIT << M_POST) : 0);
    ap_allow_methods(r, REPLACE_ALLOW, "GET", managed ? "POST" : NULL,
                     NULL);     /* the Allow header of a 405 */
    if (r->method_number != M_GET
        && !(managed && r->method_number == M_POST)) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    ix = index_of(r->server);
    if (ix == NULL || ix->score == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RVPLOGNO(0322)
                      "revproxy-status: the counters' shared memory is "
                      "missing (see the error at startup)");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    json = has_arg(r->args, "json");
    metrics = !json && has_arg(r->args, "metrics");

    /* Step Two: a change of state, then back to the page (303), or the
     * new JSON for ?json. */
    if (r->method_number == M_POST) {
        rc = manage(r, ix);
        if (rc != OK) {
            return rc;
        }
        if (!json) {
            apr_table_setn(r->headers_out, "Location",
                           ap_construct_url(r->pool, r->uri, r));
            return HTTP_SEE_OTHER;
        }
        metrics = 0;
    }

    /* Step Three: the page. */
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    ap_set_content_type(r, json ? "application/json"
                           : metrics ? "text/plain; version=0.0.4; "
                                       "charset=utf-8"
                           : "text/html; charset=utf-8");
    if (r->header_only) {
        return OK;
    }
    s = snapshot(r->pool, ix);
    if (managed) {
        s->nonce = ix->nonce;
        s->action = r->uri;
    }
    if (json) {
        revproxy_status_json(r, s);
    }
    else if (metrics) {
        revproxy_status_metrics(r, s);
    }
    else {
        revproxy_status_html(r, s);
    }
    return OK;
}

int revproxy_status_summary(request_rec *r, int flags)
{
    const revproxy_status_index *ix = index_of(r->server);

    if (ix && ix->score) {
        revproxy_status_mod_status(r, snapshot(r->pool, ix),
                                   (flags & AP_STATUS_SHORT) != 0);
    }
    return OK;
}
