/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * The status page's writers: a snapshot (revproxy_status_page.h) as HTML,
 * JSON, Prometheus text format 0.0.4, or the summary on mod_status's page.
 */

#include <string.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_protocol.h"
#include "util_time.h"

#include "revproxy_status_page.h"

/* Member failures by kind, in the order of the view's fail[]. */
static const char *const fail_kinds[4] = {
    "refused", "timeout", "bad", "aborted"
};

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

/* Member states, as the page, the JSON and the metrics name them. */
static const char *const member_states[4] = {
    "up", "down", "drain", "disabled"
};

/* The state cell's first words: a drained or disabled member that is
 * also down says both. */
static const char *state_text(const revproxy_status_member_view *v)
{
    if (v->up || strcmp(v->state, "down") == 0) {
        return v->state;
    }
    return strcmp(v->state, "drain") == 0 ? "drain, down" : "disabled, down";
}

static void html_member(request_rec *r, const revproxy_status_group_view *g,
                        const revproxy_status_member_view *v, apr_time_t now)
{
    apr_pool_t *p = r->pool;

    ap_rprintf(r, "<tr><td>%s</td><td>%s%s</td><td>%s</td>"
               "<td>%" APR_UINT64_T_FMT "</td>"
               "<td>%" APR_UINT64_T_FMT "</td>"
               "<td>%" APR_UINT64_T_FMT "</td>"
               "<td>%" APR_UINT64_T_FMT "</td>"
               "<td>%" APR_UINT64_T_FMT "</td>"
               "<td>%" APR_UINT64_T_FMT "</td>"
               "<td>%" APR_UINT64_T_FMT "</td>"
               "<td>%ld</td><td>%ld</td><td>%ld</td><td>%s</td><td>%s</td>"
               "<td>%s</td></tr>\n",
               esc(p, v->url), state_text(v),
               v->up ? ""
               : apr_psprintf(p, " (by %s; retry in %" APR_TIME_T_FMT "s)",
                              v->down_by, v->down_until > now
                              ? apr_time_sec(v->down_until - now
                                             + APR_USEC_PER_SEC - 1)
                              : 0),
               esc(p, when(p, v->since, now)),
               v->requests, v->fail[0], v->fail[1], v->fail[2], v->fail[3],
               v->bytes_in, v->bytes_out, v->open, v->idle, v->inflight,
               ms_text(p, v->p50), ms_text(p, v->p99),
               g->hcheck <= 0 ? "off"
               : v->hc_checks == 0 ? "not yet"
               : apr_psprintf(p, "%s, %" APR_UINT64_T_FMT " of %"
                              APR_UINT64_T_FMT " failed, last %"
                              APR_TIME_T_FMT "s ago",
                              v->hc_ok ? "passing" : "failing",
                              v->hc_failed, v->hc_checks,
                              apr_time_sec(now - v->hc_last)));
}

static void html_group(request_rec *r, const revproxy_status_group_view *g,
                       apr_time_t now)
{
    apr_pool_t *p = r->pool;
    int j;

    ap_rprintf(r, "<h3>%s</h3>\n<p>Server %s, defined at %s: "
               "retry=%s max=%d%s; %" APR_UINT64_T_FMT " requests, %"
               APR_UINT64_T_FMT " answered 503.</p>\n",
               esc(p, g->name), esc(p, g->server), esc(p, g->where),
               dur(p, g->retry), g->max_idle,
               g->hcheck > 0
               ? esc(p, apr_pstrcat(p, " hcheck=", dur(p, g->hcheck),
                                    " hcheckuri=", g->hcheck_uri, NULL))
               : "",
               g->requests, g->unavailable);
    ap_rputs("<table border=\"1\">\n<tr><th>Member</th><th>State</th>"
             "<th>Since</th><th>Requests</th><th>Refused</th>"
             "<th>Timeout</th><th>Bad response</th><th>Aborted</th>"
             "<th>Bytes in</th><th>Bytes out</th><th>Open conns</th>"
             "<th>Idle conns</th><th>In flight</th><th>Header p50</th><th>Header p99</th>"
             "<th>Health check</th></tr>\n", r);
    for (j = 0; j < g->nmembers; j++) {
        html_member(r, g, &g->members[j], now);
    }
    ap_rputs("</table>\n", r);
}

/* The manager's forms (RevProxyStatusManage On): one per member, its
 * buttons POST the state they name with this generation's nonce. */
static void html_manage(request_rec *r, const revproxy_status_group_view *g,
                        const revproxy_status_snapshot *s)
{
    apr_pool_t *p = r->pool;
    int j, k;

    ap_rprintf(r, "<table border=\"1\">\n<tr><th>Member of %s</th>"
               "<th>State</th><th>Set state</th></tr>\n", esc(p, g->name));
    for (j = 0; j < g->nmembers; j++) {
        const revproxy_status_member_view *v = &g->members[j];
        ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>"
                   "<form method=\"post\" action=\"%s\">"
                   "<input type=\"hidden\" name=\"server\" value=\"%s\">"
                   "<input type=\"hidden\" name=\"group\" value=\"%s\">"
                   "<input type=\"hidden\" name=\"member\" value=\"%s\">"
                   "<input type=\"hidden\" name=\"nonce\" value=\"%s\">",
                   esc(p, v->url), esc(p, state_text(v)), esc(p, s->action),
                   esc(p, g->server), esc(p, g->name), esc(p, v->url),
                   esc(p, s->nonce));
        for (k = 0; k < 4; k++) {
            if (k != 1) {       /* "down" is not the admin's to set */
                ap_rprintf(r, "<button type=\"submit\" name=\"state\" "
                           "value=\"%s\">%s</button>", member_states[k],
                           member_states[k]);
            }
        }
        ap_rputs("</form></td></tr>\n", r);
    }
    ap_rputs("</table>\n", r);
}

void revproxy_status_html(request_rec *r, const revproxy_status_snapshot *s)
{
    apr_pool_t *p = r->pool;
    int i;

    ap_rputs(DOCTYPE_HTML_4_01
             "<html><head>\n<title>mod_revproxy status</title>\n"
             "</head><body>\n<h1>mod_revproxy status</h1>\n", r);
    ap_rprintf(r, "<p>Server time: %s<br>\nCounters kept since: %s, over "
               "%u configuration(s)<br>\nChild processes counted: %d (%s); "
               "this page: pid %u<br>\nHealth checks run in: %s</p>\n",
               esc(p, ap_ht_time(p, s->now, "%Y-%m-%d %H:%M:%S %Z", 0)),
               esc(p, when(p, s->created, s->now)), s->configurations,
               s->nchildren, s->children, s->pid,
               s->hc_owner ? apr_psprintf(p, "pid %u", s->hc_owner) : "-");

    ap_rputs("<h2>Backend groups</h2>\n", r);
    if (s->ngroups == 0) {
        ap_rputs("<p>No RevProxyBackend is defined.</p>\n", r);
    }
    for (i = 0; i < s->ngroups; i++) {
        html_group(r, &s->groups[i], s->now);
        if (s->nonce) {
            html_manage(r, &s->groups[i], s);
        }
    }

    ap_rputs("<h2>Rules</h2>\n", r);
    ap_rputs("<table border=\"1\">\n<tr><th>Server</th><th>Rule</th>"
             "<th>Destination</th><th>Defined at</th><th>Hits</th>"
             "<th>Errors</th><th>Bytes in</th><th>Bytes out</th></tr>\n", r);
    for (i = 0; i < s->nrules; i++) {
        const revproxy_status_rule_view *v = &s->rules[i];
        ap_rprintf(r, "<tr><td>%s</td><td>%s %s</td><td>%s</td><td>%s</td>"
                   "<td>%" APR_UINT64_T_FMT "</td>"
                   "<td>%" APR_UINT64_T_FMT "</td>"
                   "<td>%" APR_UINT64_T_FMT "</td>"
                   "<td>%" APR_UINT64_T_FMT "</td></tr>\n",
                   esc(p, v->server), esc(p, v->directive),
                   esc(p, v->pattern), esc(p, v->destination),
                   esc(p, v->where), v->hits, v->errors, v->bytes_in,
                   v->bytes_out);
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

static void json_member(request_rec *r, const revproxy_status_group_view *g,
                        const revproxy_status_member_view *v, int first,
                        apr_time_t now)
{
    apr_pool_t *p = r->pool;

    ap_rprintf(r, "%s\n {\"url\":%s,\"state\":\"%s\",\"down_by\":%s,"
               "\"since\":%s,\"retry_in\":%s,"
               "\"requests\":%" APR_UINT64_T_FMT ","
               "\"failures\":{\"refused\":%" APR_UINT64_T_FMT ","
               "\"timeout\":%" APR_UINT64_T_FMT ","
               "\"bad\":%" APR_UINT64_T_FMT ","
               "\"aborted\":%" APR_UINT64_T_FMT "},"
               "\"bytes_in\":%" APR_UINT64_T_FMT ","
               "\"bytes_out\":%" APR_UINT64_T_FMT ","
               "\"connections\":{\"open\":%ld,\"idle\":%ld},\"in_flight\":%ld,"
               "\"latency_ms\":{\"count\":%" APR_UINT64_T_FMT ","
               "\"p50\":%s,\"p99\":%s},"
               "\"health_check\":%s}",
               first ? "" : ",", js(p, v->url), v->state,
               v->up ? "null" : js(p, v->down_by),
               js_time(p, v->since),
               v->up ? "null"
               : apr_psprintf(p, "%.3f", v->down_until > now
                              ? (double)(v->down_until - now)
                                / APR_USEC_PER_SEC : 0.0),
               v->requests, v->fail[0], v->fail[1], v->fail[2], v->fail[3],
               v->bytes_in, v->bytes_out, v->open, v->idle, v->inflight,
               v->lat_count, js_ms(p, v->p50), js_ms(p, v->p99),
               g->hcheck <= 0 ? "null"
               : apr_psprintf(p, "{\"checks\":%" APR_UINT64_T_FMT
                              ",\"failed\":%" APR_UINT64_T_FMT
                              ",\"last\":%s,\"ok\":%s}",
                              v->hc_checks, v->hc_failed,
                              js_time(p, v->hc_last),
                              v->hc_checks == 0 ? "null"
                              : v->hc_ok ? "true" : "false"));
}

void revproxy_status_json(request_rec *r, const revproxy_status_snapshot *s)
{
    apr_pool_t *p = r->pool;
    int i, j;

    if (s->nonce) {
        /* Only where RevProxyStatusManage is on: the manager's. */
        ap_rprintf(r, "{\"nonce\":%s,", js(p, s->nonce));
    }
    ap_rprintf(r, "%s\"version\":1,\"pid\":%u,\"time\":%s,\"since\":%s,"
               "\"configurations\":%u,\"children\":[%s],"
               "\"health_check_pid\":%u,\n\"backends\":[",
               s->nonce ? "" : "{", s->pid, js_time(p, s->now),
               js_time(p, s->created), s->configurations, s->children,
               s->hc_owner);
    for (i = 0; i < s->ngroups; i++) {
        const revproxy_status_group_view *g = &s->groups[i];
        ap_rprintf(r, "%s\n{\"name\":%s,\"server\":%s,\"where\":%s,"
                   "\"retry\":%.3f,\"max\":%d,\"hcheck\":%.3f,"
                   "\"hcheckuri\":%s,\"requests\":%" APR_UINT64_T_FMT ","
                   "\"unavailable\":%" APR_UINT64_T_FMT ",\"members\":[",
                   i ? "," : "", js(p, g->name), js(p, g->server),
                   js(p, g->where), (double)g->retry / APR_USEC_PER_SEC,
                   g->max_idle, (double)g->hcheck / APR_USEC_PER_SEC,
                   g->hcheck > 0 ? js(p, g->hcheck_uri) : "null",
                   g->requests, g->unavailable);
        for (j = 0; j < g->nmembers; j++) {
            json_member(r, g, &g->members[j], j == 0, s->now);
        }
        ap_rputs("]}", r);
    }
    ap_rputs("],\n\"rules\":[", r);
    for (i = 0; i < s->nrules; i++) {
        const revproxy_status_rule_view *v = &s->rules[i];
        ap_rprintf(r, "%s\n{\"server\":%s,\"directive\":%s,\"pattern\":%s,"
                   "\"destination\":%s,\"where\":%s,"
                   "\"hits\":%" APR_UINT64_T_FMT ","
                   "\"errors\":%" APR_UINT64_T_FMT ","
                   "\"bytes_in\":%" APR_UINT64_T_FMT ","
                   "\"bytes_out\":%" APR_UINT64_T_FMT "}",
                   i ? "," : "", js(p, v->server), js(p, v->directive),
                   js(p, v->pattern), js(p, v->destination),
                   js(p, v->where), v->hits, v->errors, v->bytes_in,
                   v->bytes_out);
    }
    ap_rputs("]}\n", r);
}

/* ---------------------------------------------------------------------- */
/* Prometheus text format 0.0.4                                            */

/* A label value: '"', '\' and newline escaped. */
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

/* Microseconds as seconds, the shortest exact way ("0.0025", "1", "60"):
 * a bucket's le stays the same text from scrape to scrape. */
static const char *seconds_text(apr_pool_t *p, apr_uint64_t us)
{
    char frac[8];
    int n;

    if (us % APR_USEC_PER_SEC == 0) {
        return apr_psprintf(p, "%" APR_UINT64_T_FMT, us / APR_USEC_PER_SEC);
    }
    apr_snprintf(frac, sizeof(frac), "%06u",
                 (unsigned)(us % APR_USEC_PER_SEC));
    for (n = 6; frac[n - 1] == '0'; n--) {
        frac[n - 1] = '\0';
    }
    return apr_psprintf(p, "%" APR_UINT64_T_FMT ".%s", us / APR_USEC_PER_SEC,
                        frac);
}

/* A histogram's series for one set of labels: the cumulative buckets,
 * +Inf (every sample), the sum (seconds) and the count. */
static void histogram(request_rec *r, const char *name, const char *labels,
                      const apr_uint64_t *le, apr_uint64_t count,
                      apr_uint64_t sum_us)
{
    static const apr_uint64_t bound[REVPROXY_STATUS_LE]
        = REVPROXY_STATUS_LE_US;
    int i;

    for (i = 0; i < REVPROXY_STATUS_LE; i++) {
        ap_rprintf(r, "%s_bucket{%s,le=\"%s\"} %" APR_UINT64_T_FMT "\n",
                   name, labels, seconds_text(r->pool, bound[i]), le[i]);
    }
    ap_rprintf(r, "%s_bucket{%s,le=\"+Inf\"} %" APR_UINT64_T_FMT "\n"
               "%s_sum{%s} %.6f\n%s_count{%s} %" APR_UINT64_T_FMT "\n",
               name, labels, count, name, labels,
               (double)sum_us / APR_USEC_PER_SEC, name, labels, count);
}

/* A counter of response heads by the kind of connection that brought
 * them. */
static void conn_kinds(request_rec *r, const char *name, const char *labels,
                       apr_uint64_t fresh, apr_uint64_t reused)
{
    ap_rprintf(r, "%s{%s,connection=\"new\"} %" APR_UINT64_T_FMT "\n"
               "%s{%s,connection=\"reused\"} %" APR_UINT64_T_FMT "\n",
               name, labels, fresh, name, labels, reused);
}

/* Every member once, in page order, with its labels. */
typedef struct member_line {
    const revproxy_status_member_view *v;
    const char *labels;
} member_line;

static member_line *member_lines(apr_pool_t *p,
                                 const revproxy_status_snapshot *s, int *n)
{
    member_line *l;
    int i, j, k = 0;

    for (i = 0; i < s->ngroups; i++) {
        k += s->groups[i].nmembers;
    }
    l = apr_pcalloc(p, (k + 1) * sizeof(*l));
    for (i = 0, k = 0; i < s->ngroups; i++) {
        const revproxy_status_group_view *g = &s->groups[i];
        for (j = 0; j < g->nmembers; j++, k++) {
            l[k].v = &g->members[j];
            l[k].labels = apr_psprintf(p, "server=\"%s\",group=\"%s\","
                                       "member=\"%s\"", pl(p, g->server),
                                       pl(p, g->name),
                                       pl(p, g->members[j].url));
        }
    }
    *n = k;
    return l;
}

static const char *rule_labels(apr_pool_t *p,
                               const revproxy_status_rule_view *v)
{
    return apr_psprintf(p, "server=\"%s\",rule=\"%s %s\",where=\"%s\"",
                        pl(p, v->server), pl(p, v->directive),
                        pl(p, v->pattern), pl(p, v->where));
}

/* A rule's response heads: latency from its first attempt (failovers
 * included), and the kind of connection that brought them. */
static void metrics_rule_heads(request_rec *r,
                               const revproxy_status_snapshot *s)
{
    const char **labels = apr_pcalloc(r->pool,
                                      (s->nrules + 1) * sizeof(*labels));
    int i;

    for (i = 0; i < s->nrules; i++) {
        labels[i] = rule_labels(r->pool, &s->rules[i]);
    }
    metric_head(r, "revproxy_rule_response_header_seconds", "histogram",
                "Time from a request's first attempt on a backend to the "
                "response head it got.");
    for (i = 0; i < s->nrules; i++) {
        const revproxy_status_rule_view *v = &s->rules[i];
        histogram(r, "revproxy_rule_response_header_seconds", labels[i],
                  v->le, v->lat_count, v->lat_sum);
    }
    metric_head(r, "revproxy_rule_backend_connections_total", "counter",
                "Response heads for a rule, by whether their connection "
                "was new or reused from the pool.");
    for (i = 0; i < s->nrules; i++) {
        conn_kinds(r, "revproxy_rule_backend_connections_total", labels[i],
                   s->rules[i].conn_new, s->rules[i].conn_reused);
    }
}

static void metrics_rules(request_rec *r, const revproxy_status_snapshot *s)
{
    apr_pool_t *p = r->pool;
    int i;

#define RULES(name, type, help, field) \
    metric_head(r, name, type, help); \
    for (i = 0; i < s->nrules; i++) { \
        const revproxy_status_rule_view *v = &s->rules[i]; \
        ap_rprintf(r, "%s{server=\"%s\",rule=\"%s %s\",where=\"%s\"} %" \
                   APR_UINT64_T_FMT "\n", name, pl(p, v->server), \
                   pl(p, v->directive), pl(p, v->pattern), \
                   pl(p, v->where), v->field); \
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
    metrics_rule_heads(r, s);
}

static void metrics_groups(request_rec *r, const revproxy_status_snapshot *s)
{
    apr_pool_t *p = r->pool;
    int i;

    metric_head(r, "revproxy_group_requests_total", "counter",
                "Requests for a backend group.");
    for (i = 0; i < s->ngroups; i++) {
        ap_rprintf(r, "revproxy_group_requests_total{server=\"%s\","
                   "group=\"%s\"} %" APR_UINT64_T_FMT "\n",
                   pl(p, s->groups[i].server), pl(p, s->groups[i].name),
                   s->groups[i].requests);
    }
    metric_head(r, "revproxy_group_unavailable_total", "counter",
                "Requests answered 503: every member was down.");
    for (i = 0; i < s->ngroups; i++) {
        ap_rprintf(r, "revproxy_group_unavailable_total{server=\"%s\","
                   "group=\"%s\"} %" APR_UINT64_T_FMT "\n",
                   pl(p, s->groups[i].server), pl(p, s->groups[i].name),
                   s->groups[i].unavailable);
    }
}

static void metrics_members(request_rec *r, const revproxy_status_snapshot *s)
{
    int i, k, n;
    member_line *l = member_lines(r->pool, s, &n);

#define MEMBERS(name, type, help, fmt, expr) \
    metric_head(r, name, type, help); \
    for (i = 0; i < n; i++) { \
        const revproxy_status_member_view *v = l[i].v; \
        ap_rprintf(r, "%s{%s} " fmt "\n", name, l[i].labels, expr); \
    }
    MEMBERS("revproxy_member_up", "gauge",
            "1 when the member is in use, 0 when it is down.", "%d",
            v->up)
    metric_head(r, "revproxy_member_state", "gauge",
                "1 for the member's state: up, down (failures or health "
                "check), or the admin's drain or disabled.");
    for (i = 0; i < n; i++) {
        for (k = 0; k < 4; k++) {
            ap_rprintf(r, "revproxy_member_state{%s,state=\"%s\"} %d\n",
                       l[i].labels, member_states[k],
                       strcmp(l[i].v->state, member_states[k]) == 0);
        }
    }
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
                       APR_UINT64_T_FMT "\n", l[i].labels, fail_kinds[k],
                       l[i].v->fail[k]);
        }
    }
    MEMBERS("revproxy_member_received_bytes_total", "counter",
            "Bytes received from the member.", "%" APR_UINT64_T_FMT,
            v->bytes_in)
    MEMBERS("revproxy_member_sent_bytes_total", "counter",
            "Bytes sent to the member.", "%" APR_UINT64_T_FMT, v->bytes_out)
    MEMBERS("revproxy_member_requests_in_flight", "gauge",
            "Requests in flight to the member, summed over child processes.",
            "%ld", v->inflight)
    metric_head(r, "revproxy_member_connections", "gauge",
                "Connections to the member, summed over child processes.");
    for (i = 0; i < n; i++) {
        ap_rprintf(r, "revproxy_member_connections{%s,state=\"open\"} %ld\n"
                   "revproxy_member_connections{%s,state=\"idle\"} %ld\n",
                   l[i].labels, l[i].v->open, l[i].labels, l[i].v->idle);
    }
    metric_head(r, "revproxy_member_response_header_seconds", "histogram",
                "Time from the start of an attempt on the member to its "
                "response head.");
    for (i = 0; i < n; i++) {
        const revproxy_status_member_view *v = l[i].v;
        histogram(r, "revproxy_member_response_header_seconds", l[i].labels,
                  v->le, v->lat_count, v->lat_sum);
    }
    metric_head(r, "revproxy_member_backend_connections_total", "counter",
                "Response heads from the member, by whether their "
                "connection was new or reused from the pool.");
    for (i = 0; i < n; i++) {
        conn_kinds(r, "revproxy_member_backend_connections_total",
                   l[i].labels, l[i].v->conn_new, l[i].v->conn_reused);
    }
    MEMBERS("revproxy_member_health_checks_failed_total", "counter",
            "Health checks the member failed.", "%" APR_UINT64_T_FMT,
            v->hc_failed)
#undef MEMBERS
}

void revproxy_status_metrics(request_rec *r,
                             const revproxy_status_snapshot *s)
{
    metrics_rules(r, s);
    metrics_groups(r, s);
    metrics_members(r, s);
}

/* ---------------------------------------------------------------------- */
/* mod_status                                                              */

/* Members by state for mod_status: counts[] in member_states' order, and
 * the names of those not up, per state. */
static void members_by_state(apr_pool_t *p, const revproxy_status_snapshot *s,
                             int counts[4], const char *names[4])
{
    int i, j, k;

    for (k = 0; k < 4; k++) {
        counts[k] = 0;
        names[k] = "";
    }
    for (i = 0; i < s->ngroups; i++) {
        const revproxy_status_group_view *g = &s->groups[i];
        for (j = 0; j < g->nmembers; j++) {
            for (k = 0; k < 3 && strcmp(g->members[j].state,
                                        member_states[k]) != 0; k++) {
            }
            counts[k]++;
            if (k > 0) {
                names[k] = apr_pstrcat(p, names[k], *names[k] ? ", " : "",
                                       g->name, " ", g->members[j].url,
                                       NULL);
            }
        }
    }
}

void revproxy_status_mod_status(request_rec *r,
                                const revproxy_status_snapshot *s, int brief)
{
    apr_uint64_t hits = 0;
    int i, n[4];
    const char *names[4];

    for (i = 0; i < s->nrules; i++) {
        hits += s->rules[i].hits;
    }
    members_by_state(r->pool, s, n, names);
    if (brief) {
        ap_rprintf(r, "RevProxyRequests: %" APR_UINT64_T_FMT "\n"
                   "RevProxyBackendGroups: %d\nRevProxyMembersUp: %d\n"
                   "RevProxyMembersDown: %d\nRevProxyMembersDrain: %d\n"
                   "RevProxyMembersDisabled: %d\n", hits, s->ngroups, n[0],
                   n[1], n[2], n[3]);
        return;
    }
    ap_rprintf(r, "<hr />\n<h2>mod_revproxy</h2>\n<p>%d rules, %"
               APR_UINT64_T_FMT " requests proxied; %d backend groups, %d "
               "of %d members up.%s%s%s%s%s%s</p>\n", s->nrules, hits,
               s->ngroups, n[0], n[0] + n[1] + n[2] + n[3],
               *names[1] ? " Down: " : "", esc(r->pool, names[1]),
               *names[2] ? " Draining: " : "", esc(r->pool, names[2]),
               *names[3] ? " Disabled: " : "", esc(r->pool, names[3]));
}
