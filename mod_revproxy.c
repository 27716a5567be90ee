/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_revproxy -- regex reverse-proxy rules per virtual host.
 *
 *   RevProxyPass        "^/app/(.*)$" "http://127.0.0.1:8080/$1" [options]
 *   RevProxyPassFullURL "^http://(.*)\.example\.org:80/(.*)$" "http://$1.int/$2"
 *
 * The translate_name hook matches the request against the rules (compiled
 * at configuration time) and records the destination in request_config;
 * the content handler then runs one exchange with the backend
 * (revproxy_upstream.c) and streams the answer back.
 *
 * This file is httpd glue only: configuration, hooks and the handler.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_hash.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "apr_optional_hooks.h"
#include "mod_status.h"

#include "revproxy_private.h"
#include "revproxy_upstream.h"
#include "revproxy_tls.h"
#include "revproxy_tunnel.h"
#include "revproxy_backend.h"
#include "revproxy_score.h"
#include "revproxy_status.h"

module AP_MODULE_DECLARE_DATA revproxy_module;

#define HANDLER_NAME    "revproxy"
#define FILENAME_PREFIX "revproxy:"

/* What translate_name found, for the handler. */
typedef struct revproxy_req {
    const revproxy_rule *rule;
    const revproxy_route *route;    /* the rule as this server uses it */
    revproxy_target target;
} revproxy_req;

/* ---------------------------------------------------------------------- */
/* Request time                                                            */

static const char *scheme_name(int scheme)
{
    return scheme == REVPROXY_SCHEME_HTTPS ? "https"
         : scheme == REVPROXY_SCHEME_BACKEND ? "backend" : "http";
}

/* The path as the client sent it (nocanon), without the query: httpd
 * decodes r->parsed_uri.path in place, so it comes from the request
 * line (an absolute-form target loses its scheme and authority). */
static const char *raw_path(request_rec *r)
{
    const char *u = r->unparsed_uri, *end;

    if (u == NULL) {
        return r->uri;
    }
    if (u[0] != '/') {
        const char *p = strstr(u, "://");
        u = p ? strchr(p + 3, '/') : NULL;
        if (u == NULL) {
            return "/";
        }
    }
    end = u + strcspn(u, "?#");
    return apr_pstrmemdup(r->pool, u, end - u);
}

/* SCHEME://HOST:PORT/PATH[?QUERY] for RevProxyPassFullURL. */
static const char *full_url(request_rec *r, const char *path)
{
    apr_port_t port = r->connection->local_addr->port;
    char *host = apr_pstrdup(r->pool, r->hostname ? r->hostname : "");

    ap_str_tolower(host);
    return apr_psprintf(r->pool, "%s://%s:%u%s%s%s", ap_http_scheme(r),
                        host, (unsigned)port, path, r->args ? "?" : "",
                        r->args ? r->args : "");
}

static int method_allowed(const revproxy_rule *rule, request_rec *r)
{
    if (rule->methods == 0) {
        return 1;
    }
    if (r->method_number < 0 || r->method_number >= 64) {
        return 0;
    }
    return (rule->methods & ((apr_uint64_t)1 << r->method_number)) != 0;
}

static int revproxy_translate(request_rec *r)
{
    revproxy_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                    &revproxy_module);
    const char *decoded_full = NULL, *raw_full = NULL;
    int i;

    if (sc->rules == NULL || sc->rules->nelts == 0 || r->proxyreq
        || r->method_number == M_CONNECT || r->uri == NULL
        || r->uri[0] != '/') {
        return DECLINED;
    }
    for (i = 0; i < sc->rules->nelts; i++) {
        const revproxy_rule *rule = APR_ARRAY_IDX(sc->rules, i,
                                                  revproxy_rule *);
        const char *subject;
        const PCRE2_SIZE *ov = NULL;
        revproxy_req *rq;
        const char *why;
        int rc;

        if (!method_allowed(rule, r)) {
            continue;
        }
        subject = rule->nocanon ? raw_path(r) : r->uri;
        if (rule->fullurl) {
            if (rule->nocanon) {
                subject = raw_full ? raw_full
                                   : (raw_full = full_url(r, subject));
            }
            else {
                subject = decoded_full ? decoded_full
                                       : (decoded_full = full_url(r, subject));
            }
        }
        rc = revproxy_regex_match(rule->re, subject, strlen(subject),
                                  r->pool, &ov);
        if (rc == 0) {
            continue;
        }
        if (rc < 0) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, RVPLOGNO(0001)
                          "%s \"%s\" (%s): matching failed (match limit?), "
                          "rule skipped", rule->directive, rule->pattern,
                          rule->where);
            continue;
        }
        if (rule->dest == NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "%s \"%s\" at %s "
                          "matched %s: \"!\", not proxied", rule->directive,
                          rule->pattern, rule->where, subject);
            return DECLINED;    /* "!": httpd serves it as usual */
        }
        rq = apr_pcalloc(r->pool, sizeof(*rq));
        rq->rule = rule;
        rq->route = &APR_ARRAY_IDX(sc->routes, i, revproxy_route);
        if (revproxy_dest_expand(r->pool, rule->dest, subject, ov,
                                 rule->re->ngroups, rule->nocanon,
                                 rule->fullurl ? NULL : r->args,
                                 &rq->target, &why) != REVPROXY_EXPAND_OK) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RVPLOGNO(0002)
                          "%s \"%s\" (%s): destination %s: %s from the "
                          "request's captures; answered 400, no backend "
                          "contacted", rule->directive, rule->pattern,
                          rule->where, revproxy_dest_text(rule->dest), why);
            revproxy_x_notes(NULL, r, 0, rule->where, 0, 0);
            return HTTP_BAD_REQUEST;
        }
        ap_set_module_config(r->request_config, &revproxy_module, rq);
        /* For %f until the handler names the backend that answered; a
         * group by its name (it has no port). */
        r->filename = apr_pstrcat(r->pool, FILENAME_PREFIX,
                                  scheme_name(rq->target.scheme), "://",
                                  rq->target.scheme == REVPROXY_SCHEME_BACKEND
                                  ? rq->target.host : rq->target.hostport,
                                  rq->target.path, NULL);
        r->handler = HANDLER_NAME;
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "%s \"%s\" at %s "
                      "matched %s: %s", rule->directive, rule->pattern,
                      rule->where, subject,
                      r->filename + sizeof(FILENAME_PREFIX) - 1);
        return OK;
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "no rule matched %s",
                  r->uri);
    return DECLINED;
}

/* Proxied requests have no file: skip the directory and file walks. */
static int revproxy_map_to_storage(request_rec *r)
{
    if (ap_get_module_config(r->request_config, &revproxy_module) != NULL) {
        return OK;
    }
    return DECLINED;
}

/* The client's field called name, unless its Connection header named it
 * (then it was hop-by-hop and is gone).  httpd joined repeated fields
 * into one. */
static const char *client_field(request_rec *r, const char *conn,
                                const char *name)
{
    const char *v = apr_table_get(r->headers_in, name);

    if (v && conn && ap_find_token(r->pool, conn, name)) {
        return NULL;
    }
    return v;
}

/* The fields we add: Host, unless turned off X-Forwarded-*, and when
 * turned on (RevProxyForwarded) an RFC 7239 Forwarded element.  The
 * client's X-Forwarded-For and Forwarded are kept and extended. */
static apr_table_t *added_fields(request_rec *r, const revproxy_req *rq,
                                 const revproxy_server_conf *sc)
{
    apr_table_t *t = apr_table_make(r->pool, 5);
    const char *host = apr_table_get(r->headers_in, "Host");
    const char *conn = apr_table_get(r->headers_in, "Connection");

    apr_table_setn(t, "Host", (rq->rule->keephost && host)
                              ? host : rq->target.hostport);
    if (sc->add_forwarded != 0) {       /* default On */
        const char *xff = client_field(r, conn, "X-Forwarded-For");
        if (xff) {
            xff = apr_pstrcat(r->pool, xff, ", ", r->useragent_ip, NULL);
        }
        apr_table_setn(t, "X-Forwarded-For", xff ? xff : r->useragent_ip);
        /* Without a Host field (HTTP/1.0), the name httpd chose: the
         * client's own X-Forwarded-Host never goes through. */
        apr_table_setn(t, "X-Forwarded-Host",
                       host ? host : ap_get_server_name(r));
        apr_table_setn(t, "X-Forwarded-Proto", ap_http_scheme(r));
    }
    if (sc->forwarded == 1) {           /* default Off */
        const char *fwd = client_field(r, conn, "Forwarded");
        const char *el = revproxy_forwarded_element(
                             r->pool, r->useragent_ip,
                             host ? host : ap_get_server_name(r),
                             ap_http_scheme(r));
        apr_table_setn(t, "Forwarded",
                       fwd ? apr_pstrcat(r->pool, fwd, ", ", el, NULL) : el);
    }
    return t;
}

static void apply_rewrites(request_rec *r, apr_table_t *headers)
{
    revproxy_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                                 &revproxy_module);
    int i;

    if (dc->rewrites == NULL) {
        return;
    }
    for (i = 0; i < dc->rewrites->nelts; i++) {
        const revproxy_rewrite *rw = &APR_ARRAY_IDX(dc->rewrites, i,
                                                    revproxy_rewrite);
        const apr_array_header_t *arr = apr_table_elts(headers);
        apr_table_entry_t *e = (apr_table_entry_t *)arr->elts;
        int j;

        for (j = 0; j < arr->nelts; j++) {
            const PCRE2_SIZE *ov;
            if (strcasecmp(e[j].key, rw->header) != 0
                || revproxy_regex_match(rw->re, e[j].val, strlen(e[j].val),
                                        r->pool, &ov) != 1) {
                continue;
            }
            e[j].val = (char *)revproxy_subst_expand(r->pool, rw->repl,
                                                     e[j].val, ov,
                                                     rw->re->ngroups);
        }
    }
}

/* Whether a Content-Type value is text/event-stream (parameters and
 * case aside). */
static int event_stream(const char *type)
{
    static const char es[] = "text/event-stream";
    apr_size_t n = sizeof(es) - 1;

    while (*type == ' ' || *type == '\t') {
        type++;
    }
    if (strncasecmp(type, es, n) != 0) {
        return 0;
    }
    type += n;
    while (*type == ' ' || *type == '\t') {
        type++;
    }
    return *type == '\0' || *type == ';';
}

/* The backend's head becomes ours.  A stream the client must see as it
 * comes (server-sent events, or a backend that says X-Accel-Buffering:
 * no, nginx's convention) is kept from compression filters, which would
 * hold its pieces back: mod_deflate and mod_brotli read no-gzip and
 * no-brotli when the first brigade reaches them, which is after this.
 * The body loop (revproxy_x_stream_to) flushes whenever the backend
 * pauses, so each event goes out before the next is awaited. */
static void set_response_head(request_rec *r, revproxy_exchange *x)
{
    const apr_array_header_t *arr;
    const apr_table_entry_t *e;
    int i, unbuffered = 0;

    apply_rewrites(r, x->resp_headers);
    r->status = x->status;
    r->status_line = NULL;
    if (x->reason && *x->reason) {
        /* httpd writes the usual reason itself; keep only others. */
        const char *usual = ap_get_status_line(x->status);
        if (atoi(usual) != x->status || strcmp(usual + 4, x->reason) != 0) {
            r->status_line = apr_psprintf(r->pool, "%d %s", x->status,
                                          x->reason);
        }
    }
    /* The backend's Date and Server are passed on, as mod_proxy does. */
    r->proxyreq = PROXYREQ_REVERSE;
    r->content_type = NULL;
    arr = apr_table_elts(x->resp_headers);
    e = (const apr_table_entry_t *)arr->elts;
    for (i = 0; i < arr->nelts; i++) {
        if (strcasecmp(e[i].key, "Content-Type") == 0) {
            unbuffered |= event_stream(e[i].val);
            ap_set_content_type(r, e[i].val);
        }
        else if (strcasecmp(e[i].key, "X-Accel-Buffering") == 0) {
            /* Meant for the proxy, never passed on. */
            unbuffered |= ap_find_token(r->pool, e[i].val, "no");
        }
        else {
            apr_table_addn(r->headers_out, e[i].key, e[i].val);
        }
    }
    if (unbuffered) {
        apr_table_setn(r->subprocess_env, "no-gzip", "1");
        apr_table_setn(r->subprocess_env, "no-brotli", "1");
    }
}

/* Whether r asks for a protocol upgrade the rule allows (upgrade=). */
static int wants_upgrade(request_rec *r, const revproxy_rule *rule)
{
    const char *upgrade, *conn;

    if (rule->upgrade == REVPROXY_UPGRADE_NONE
        || r->proto_num < HTTP_VERSION(1, 1)
        || (upgrade = apr_table_get(r->headers_in, "Upgrade")) == NULL
        || (conn = apr_table_get(r->headers_in, "Connection")) == NULL
        || !ap_find_token(r->pool, conn, "upgrade")) {
        return 0;
    }
    return rule->upgrade == REVPROXY_UPGRADE_ANY
           || ap_find_token(r->pool, upgrade, "websocket");
}

/* 101 from the backend: the client gets it, then both connections carry
 * raw bytes until either side is done or the rule's timeout passes idle. */
static void open_tunnel(request_rec *r)
{
    conn_rec *c = r->connection;

    ap_send_interim_response(r, 1);
    /* Nothing of HTTP applies to this connection any more. */
    r->output_filters = r->proto_output_filters = c->output_filters;
    r->input_filters = r->proto_input_filters = c->input_filters;
    c->keepalive = AP_CONN_CLOSE;
}

static void tunnel_ended(request_rec *r, const revproxy_rule *rule,
                         revproxy_exchange *x, apr_status_t rv,
                         const char *why, apr_off_t in, apr_off_t out)
{
    x->bytes_in += in;
    x->bytes_out += out;
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, RVPLOGNO(0007)
                  "tunnel to %s:%u (%s \"%s\") ended: %s; %" APR_OFF_T_FMT
                  " bytes to the client, %" APR_OFF_T_FMT " to the backend",
                  x->addr.host, (unsigned)x->addr.port, rule->directive,
                  rule->pattern, why, in, out);
}

static void run_tunnel(request_rec *r, const revproxy_rule *rule,
                       revproxy_exchange *x)
{
    const revproxy_response *resp;
    const char *why;
    apr_off_t in = 0, out = 0;
    apr_status_t rv;

    open_tunnel(r);
    resp = revproxy_client_response(x->client);
    rv = revproxy_tunnel_run(r, revproxy_client_conn(x->client),
                             resp->pending, resp->npending, x->lim.timeout,
                             x->lim.send_timeout, &in, &out, &why);
    tunnel_ended(r, rule, x, rv, why, in, out);
}

static void log_failure(request_rec *r, const revproxy_rule *rule,
                        const revproxy_exchange *x, int status)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, x->rv, r, RVPLOGNO(0003)
                  "backend %s://%s:%u (%s \"%s\" at %s): %s%s",
                  x->addr.https ? "https" : "http", x->addr.host,
                  (unsigned)x->addr.port, rule->directive, rule->pattern,
                  rule->where, x->why ? x->why : "failed",
                  status == HTTP_GATEWAY_TIME_OUT ? "; answered 504"
                  : status == HTTP_BAD_GATEWAY ? "; answered 502"
                  : status == DONE ? "; client connection aborted" : "");
}

/* The access-log notes and %f, once Step Three is over: the backend or
 * member that answered (or whose failure is the answer: 502, 504); none
 * for a 503 of a group with every member down, nor when the client's side
 * failed.  Set before the response goes down the output filters, so that
 * a reproxied answer (mod_reproxy_filter's fetch, revproxy_fetch.c) puts
 * its source's in their place. */
static void note_request(request_rec *r, const revproxy_route *route,
                         const revproxy_exchange *x, int status)
{
    int answered = status == OK
                   || (x->fail != REVPROXY_FAIL_CLIENT
                       && status != HTTP_SERVICE_UNAVAILABLE);
    const char *backend = revproxy_x_notes(x, r, answered,
                                           route->rule->where, 0, 0);

    /* A group's %f names the member (translate_name could only say
     * backend://NAME); a plain URL's is already the backend's. */
    if (answered && x->attempts > 0 && route->group) {
        r->filename = apr_pstrcat(r->pool, FILENAME_PREFIX, backend, x->path,
                                  NULL);
    }
}

/* The counters of the rule, and of the member that answered. */
static void count_request(const revproxy_rule *rule,
                          const revproxy_pick *chosen,
                          const revproxy_exchange *x, int status)
{
    const revproxy_member *m = chosen->member;

    revproxy_status_request(rule->counters, m ? m->counters : NULL, status,
                            x->fail == REVPROXY_FAIL_ABORTED, x->bytes_in,
                            x->bytes_out, m ? x->bytes_in - chosen->in0 : 0,
                            m ? x->bytes_out - chosen->out0 : 0);
}

/* An idle tunnel without a thread (event MPM): what Step Six needs
 * outlives the handler's frame, in r->pool. */
typedef struct {
    const revproxy_rule *rule;
    revproxy_pick chosen;
    revproxy_exchange x;
} parked_tunnel;

static void parked_tunnel_ended(request_rec *r, void *baton,
                                apr_status_t rv, const char *why,
                                apr_off_t in, apr_off_t out)
{
    parked_tunnel *pt = baton;

    tunnel_ended(r, pt->rule, &pt->x, rv, why, in, out);
    revproxy_x_finish(&pt->x);
    count_request(pt->rule, &pt->chosen, &pt->x, OK);
}

static int start_parked_tunnel(request_rec *r, const revproxy_rule *rule,
                               const revproxy_pick *chosen,
                               const revproxy_exchange *x)
{
    parked_tunnel *pt = apr_pcalloc(r->pool, sizeof(*pt));
    const revproxy_response *resp;

    pt->rule = rule;
    pt->chosen = *chosen;
    pt->x = *x;
    open_tunnel(r);
    resp = revproxy_client_response(pt->x.client);
    return revproxy_tunnel_start(r, revproxy_client_conn(pt->x.client),
                                 resp->pending, resp->npending,
                                 pt->x.lim.timeout, pt->x.lim.send_timeout,
                                 parked_tunnel_ended, pt);
}

static int revproxy_handler(request_rec *r)
{
    revproxy_req *rq = ap_get_module_config(r->request_config,
                                            &revproxy_module);
    revproxy_server_conf *sc;
    const revproxy_rule *rule;
    const revproxy_route *route;
    const revproxy_group *group;
    revproxy_pick chosen = { NULL, NULL, 0, 0 };
    revproxy_exchange x;
    int status;

    if (rq == NULL) {
        return DECLINED;
    }
    rule = rq->rule;
    sc = ap_get_module_config(r->server->module_config, &revproxy_module);

    /* Step One: where to, and how long to wait (the route, resolved at
     * start-up).  A backend:// group picks its member in Step Three. */
    route = rq->route;
    group = route->group;
    revproxy_x_init(&x, r);
    x.addr.https = (rq->target.scheme == REVPROXY_SCHEME_HTTPS);
    x.addr.host = rq->target.host;
    x.addr.port = rq->target.port;
    x.addr.tls = route->tls;
    x.addr.tls_verify = route->tls_verify;
    x.lim = route->lim;

    /* Step Two: the request head and body. */
    x.path = rq->target.path;
    x.headers = r->headers_in;
    x.own = added_fields(r, rq, sc);
    x.send_body = apr_table_get(r->headers_in, "Transfer-Encoding") != NULL
                  || apr_table_get(r->headers_in, "Content-Length") != NULL;
    x.upgrade = wants_upgrade(r, rule);

    /* Step Three: exchange with the backend up to the response head; a
     * group fails over to its next member when that is safe, and logs
     * its own failures (503 with Retry-After when every member is down). */
    if (group) {
        status = revproxy_backend_start(&x, group, rule, &chosen);
    }
    else {
        status = revproxy_x_start(&x);
        if (status != OK && x.fail != REVPROXY_FAIL_CLIENT) {
            log_failure(r, rule, &x, status);
        }
    }
    note_request(r, route, &x, status);
    if (status != OK) {
        revproxy_x_finish(&x);
        count_request(rule, &chosen, &x, status);
        return status;
    }

    /* Step Four: the response head goes to the client. */
    set_response_head(r, &x);

    /* Step Five: the body, streamed (or the tunnel of an upgrade). */
    if (x.status == HTTP_SWITCHING_PROTOCOLS
        && revproxy_tunnel_can_park(r)) {
        /* Step Six when the tunnel ends, on whichever thread. */
        return start_parked_tunnel(r, rule, &chosen, &x);
    }
    if (x.status == HTTP_SWITCHING_PROTOCOLS) {
        run_tunnel(r, rule, &x);
    }
    else if (x.body_mode == REVPROXY_H1_BODY_NONE) {
        ap_finalize_request_protocol(r);
    }
    else {
        revproxy_x_stream(&x);
        if (x.fail == REVPROXY_FAIL_ABORTED) {
            log_failure(r, rule, &x, DONE);
        }
    }

    /* Step Six: the connection goes back to the pool, or is closed; the
     * counters of the rule and the member. */
    revproxy_x_finish(&x);
    count_request(rule, &chosen, &x, OK);
    return OK;
}

static void revproxy_child_init(apr_pool_t *p, server_rec *s)
{
    revproxy_server_conf *sc = ap_get_module_config(s->module_config,
                                                    &revproxy_module);
    apr_status_t rv = revproxy_conn_child_init(p);

    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, RVPLOGNO(0004)
                     "cannot create the backend connection pool");
    }
    revproxy_tls_child_init(apr_pool_parent_get(p), p);
    /* A row of the scoreboard for this child's connection gauges. */
    if (sc->score
        && revproxy_score_child_claim(sc->score, (apr_uint32_t)getpid())
           != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, RVPLOGNO(0321)
                     "no free row for the connection counters of pid %u: "
                     "its backend connections are not counted",
                     (unsigned)getpid());
    }
}

/* The parent: a child is gone (even if it crashed), its scoreboard row is
 * free and the health checks need another owner. */
static void revproxy_child_status(server_rec *s, pid_t pid,
                                  ap_generation_t gen, int slot,
                                  mpm_child_status state)
{
    revproxy_server_conf *sc = ap_get_module_config(s->module_config,
                                                    &revproxy_module);

    (void)gen;
    (void)slot;
    if (state == MPM_CHILD_EXITED && pid > 0) {
        revproxy_score_child_exited(sc->score, (apr_uint32_t)pid);
    }
}

/* A server's own limits: its RevProxy* settings, else the defaults (its
 * Timeout, 5 s to connect, 32 idle connections kept for at most 30 s, its
 * request limits for response lines and fields). */
static revproxy_limits server_limits(server_rec *s,
                                     const revproxy_server_conf *sc)
{
    revproxy_limits lim;

    lim.connect_timeout = sc->connect_timeout >= 0 ? sc->connect_timeout
                                                   : apr_time_from_sec(5);
    lim.timeout = lim.send_timeout = sc->timeout >= 0 ? sc->timeout
                                                      : s->timeout;
    lim.reuse = 1;
    lim.max_idle = 32;
    lim.idle_ttl = REVPROXY_CONN_DEFAULT_TTL;
    lim.max_line = s->limit_req_fieldsize > 0
                   ? (apr_size_t)s->limit_req_fieldsize : 8190;
    lim.max_fields = s->limit_req_fields > 0
                     ? (unsigned)s->limit_req_fields : 65535;
    return lim;
}

/* A rule as server sc uses it: rule -> group -> server -> default, decided
 * here once.  A group's members use its server's TLS settings. */
static void resolve_route(const revproxy_server_conf *sc,
                          const revproxy_limits *server, const revproxy_rule
                          *rule, const revproxy_group *g, revproxy_route *rt)
{
    rt->rule = rule;
    rt->group = g;
    rt->lim = *server;
    rt->tls = sc->tls;
    rt->tls_verify = sc->tls_verify_on;
    if (g) {
        rt->lim.connect_timeout = g->connect_timeout >= 0
                                  ? g->connect_timeout
                                  : rt->lim.connect_timeout;
        rt->lim.timeout = g->timeout >= 0 ? g->timeout : rt->lim.timeout;
        rt->lim.send_timeout = g->send_timeout >= 0 ? g->send_timeout
                                                    : rt->lim.send_timeout;
        rt->lim.max_idle = g->max_idle;
        rt->lim.idle_ttl = g->ttl >= 0 ? g->ttl : rt->lim.idle_ttl;
        rt->tls = g->tls;
        rt->tls_verify = g->tls_verify_on;
    }
    rt->lim.connect_timeout = rule->connect_timeout >= 0
                              ? rule->connect_timeout
                              : rt->lim.connect_timeout;
    rt->lim.timeout = rule->timeout >= 0 ? rule->timeout : rt->lim.timeout;
    rt->lim.send_timeout = rule->send_timeout >= 0 ? rule->send_timeout
                                                   : rt->lim.send_timeout;
    rt->lim.idle_ttl = rule->ttl >= 0 ? rule->ttl : rt->lim.idle_ttl;
    rt->lim.reuse = !rule->nopipeline;
    if (rule->tlsverify != REVPROXY_UNSET) {
        rt->tls_verify = rule->tlsverify;
    }
}

/* Cross-directive checks, before "Syntax OK" (and before post_config):
 * the TLS settings can be used, and every backend:// names a
 * group visible from the server that uses it (its own groups, then the
 * main server's). */
static int revproxy_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                 apr_pool_t *ptemp, server_rec *s0)
{
    server_rec *s;

    (void)plog;
    (void)ptemp;
    for (s = s0; s; s = s->next) {
        revproxy_server_conf *sc = ap_get_module_config(s->module_config,
                                                        &revproxy_module);
        const char *err;

        /* The TLS contexts are made here, not in post_config, so that
         * `apachectl -t` reports an unusable CA file or client key. */
        err = revproxy_tls_conf_make(pconf, sc->tls_ca_file,
                                     sc->tls_cert_file, sc->tls_key_file,
                                     &sc->tls);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, RVPLOGNO(0005)
                         "RevProxyTLSCACertificateFile / "
                         "RevProxyTLSClientCertificate: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        sc->tls_verify_on = sc->tls_verify != 0;
    }
    for (s = s0; s; s = s->next) {
        revproxy_server_conf *sc = ap_get_module_config(s->module_config,
                                                        &revproxy_module);
        int i;

        sc->lim = server_limits(s, sc);

        for (i = 0; i < sc->groups->nelts; i++) {
            revproxy_group *g = APR_ARRAY_IDX(sc->groups, i,
                                              revproxy_group *);
            if (g->server == s) {       /* once, where it is defined */
                revproxy_backend_resolve(g, &sc->lim, sc->tls,
                                         sc->tls_verify_on);
            }
        }
        sc->routes = apr_array_make(pconf, sc->rules->nelts,
                                    sizeof(revproxy_route));
        for (i = 0; i < sc->rules->nelts; i++) {
            const revproxy_rule *rule = APR_ARRAY_IDX(sc->rules, i,
                                                      revproxy_rule *);
            const char *name = rule->dest ? revproxy_dest_backend(rule->dest)
                                          : NULL;
            const revproxy_group *g = name ? revproxy_backend_find(sc->groups,
                                                                   name)
                                           : NULL;
            if (name && !g) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, RVPLOGNO(0006)
                             "%s \"%s\" (%s): backend://%s: no "
                             "RevProxyBackend %s is defined in this server "
                             "(or, for a virtual host, the main server)",
                             rule->directive, rule->pattern, rule->where,
                             name, name);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            resolve_route(sc, &sc->lim, rule, g,
                          (revproxy_route *)apr_array_push(sc->routes));
        }
    }
    return OK;
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

/* Whether p was seen before (and it is now). */
static int seen_before(apr_hash_t *seen, const void *p)
{
    if (apr_hash_get(seen, &p, sizeof(p))) {
        return 1;
    }
    apr_hash_set(seen, apr_pmemdup(apr_hash_pool_get(seen), &p, sizeof(p)),
                 sizeof(p), p);
    return 0;
}

/* Every proxying rule and every group once, in the status page's index and
 * in the scoreboard's keys, attributed to the server that defines it: the
 * main server comes first, and a virtual host's arrays hold its own
 * entries before the inherited ones.  A key is what defines its entry, so
 * that a configuration that keeps the entry keeps its counters and state.
 * The rules and groups are also listed in rules and groups, by slot. */
static void register_keys(apr_pool_t *pconf, apr_pool_t *ptemp,
                          server_rec *s, revproxy_score_keys *k,
                          revproxy_status_index *ix,
                          apr_array_header_t *rules,
                          apr_array_header_t *groups)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    server_rec *v;
    int i, j;

    for (v = s; v; v = v->next) {
        revproxy_server_conf *sc = ap_get_module_config(v->module_config,
                                                        &revproxy_module);
        const char *label = server_label(pconf, v);
        for (i = 0; i < sc->rules->nelts; i++) {
            revproxy_rule *rule = APR_ARRAY_IDX(sc->rules, i,
                                                revproxy_rule *);
            revproxy_status_rule *e;
            int dup = 0;
            if (rule->dest == NULL || seen_before(seen, rule)) {
                continue;
            }
            /* Identical rules in one server are told apart by order. */
            for (j = 0; j < ix->rules->nelts; j++) {
                const revproxy_status_rule *o
                    = &APR_ARRAY_IDX(ix->rules, j, revproxy_status_rule);
                if (o->server == label
                    && strcmp(o->rule->pattern, rule->pattern) == 0
                    && strcmp(o->rule->directive, rule->directive) == 0) {
                    dup++;
                }
            }
            e = apr_array_push(ix->rules);
            e->server = label;
            e->rule = rule;
            revproxy_score_add(k, REVPROXY_SCORE_RULE,
                               apr_psprintf(ptemp, "rule|%s|%s|%s|%s|%d",
                                            label, rule->directive,
                                            rule->pattern,
                                            revproxy_dest_text(rule->dest),
                                            dup));
            *(revproxy_rule **)apr_array_push(rules) = rule;
        }
        for (i = 0; i < sc->groups->nelts; i++) {
            revproxy_group *g = APR_ARRAY_IDX(sc->groups, i,
                                              revproxy_group *);
            revproxy_status_group *e;
            const char *key;
            if (seen_before(seen, g)) {
                continue;
            }
            e = apr_array_push(ix->groups);
            e->server = server_label(pconf, g->server);
            e->group = g;
            key = apr_psprintf(ptemp, "group|%s|%s", e->server,
                               g->definition);
            g->slot = revproxy_score_add(k, REVPROXY_SCORE_GROUP, key);
            *(revproxy_group **)apr_array_push(groups) = g;
            for (j = 0; j < g->members->nelts; j++) {
                APR_ARRAY_IDX(g->members, j, revproxy_member).slot
                    = revproxy_score_add(k, REVPROXY_SCORE_MEMBER,
                                         apr_psprintf(ptemp, "%s#%d", key,
                                                      j));
            }
        }
    }
}

/* The scoreboard of this configuration (kept from the last one as far as
 * its keys are the same), pointed at by every rule, group, member and
 * server. */
static int revproxy_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                apr_pool_t *ptemp, server_rec *s)
{
    revproxy_status_index *ix;
    revproxy_score_keys *k;
    revproxy_score *sb;
    apr_array_header_t *rules, *groups;
    apr_time_t now = apr_time_now();
    apr_status_t rv;
    server_rec *v;
    int limit = 0, i;
    apr_uint32_t nrows;

    (void)plog;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;              /* the configuration is read again */
    }
    k = revproxy_score_keys_make(ptemp);
    revproxy_score_kind_set(k, REVPROXY_SCORE_RULE,
                            sizeof(revproxy_score_rule), NULL, 0);
    revproxy_backend_score_kinds(k, now);
    ix = apr_pcalloc(pconf, sizeof(*ix));
    ix->rules = apr_array_make(pconf, 8, sizeof(revproxy_status_rule));
    ix->groups = apr_array_make(pconf, 4, sizeof(revproxy_status_group));
    rules = apr_array_make(ptemp, 8, sizeof(revproxy_rule *));
    groups = apr_array_make(ptemp, 4, sizeof(revproxy_group *));
    register_keys(pconf, ptemp, s, k, ix, rules, groups);

    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    nrows = limit > 0 ? (apr_uint32_t)limit : 1;
    rv = revproxy_score_open(&sb, k, nrows, now, s->process->pool, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, RVPLOGNO(0320)
                     "cannot create the shared memory for the counters "
                     "(%" APR_SIZE_T_FMT " bytes): no counters, backend "
                     "members are never marked down",
                     revproxy_score_size(k, nrows));
    }
    for (i = 0; i < rules->nelts; i++) {
        APR_ARRAY_IDX(rules, i, revproxy_rule *)->counters
            = revproxy_score_block(sb, REVPROXY_SCORE_RULE, i);
    }
    for (i = 0; i < groups->nelts; i++) {
        revproxy_backend_attach(APR_ARRAY_IDX(groups, i, revproxy_group *),
                                sb);
    }
    ix->score = sb;
    for (v = s; v; v = v->next) {
        revproxy_server_conf *sc = ap_get_module_config(v->module_config,
                                                        &revproxy_module);
        sc->score = sb;
        sc->status = ix;
    }
    return OK;
}

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */

static void *create_server_conf(apr_pool_t *p, server_rec *s)
{
    revproxy_server_conf *sc = apr_pcalloc(p, sizeof(*sc));

    (void)s;
    sc->rules = apr_array_make(p, 4, sizeof(revproxy_rule *));
    sc->groups = apr_array_make(p, 2, sizeof(revproxy_group *));
    sc->connect_timeout = REVPROXY_UNSET;
    sc->timeout = REVPROXY_UNSET;
    sc->add_forwarded = REVPROXY_UNSET;
    sc->forwarded = REVPROXY_UNSET;
    sc->tls_verify = REVPROXY_UNSET;
    return sc;
}

static void *merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    revproxy_server_conf *base = basev, *add = addv;
    revproxy_server_conf *sc = apr_pcalloc(p, sizeof(*sc));

    /* A virtual host tries its own rules, then the main server's. */
    sc->rules = apr_array_append(p, add->rules, base->rules);
    /* And its own groups, then the main server's. */
    sc->groups = apr_array_append(p, add->groups, base->groups);
    sc->connect_timeout = add->connect_timeout != REVPROXY_UNSET
                          ? add->connect_timeout : base->connect_timeout;
    sc->timeout = add->timeout != REVPROXY_UNSET ? add->timeout
                                                 : base->timeout;
    sc->add_forwarded = add->add_forwarded != REVPROXY_UNSET
                        ? add->add_forwarded : base->add_forwarded;
    sc->forwarded = add->forwarded != REVPROXY_UNSET ? add->forwarded
                                                     : base->forwarded;
    sc->tls_verify = add->tls_verify != REVPROXY_UNSET ? add->tls_verify
                                                       : base->tls_verify;
    sc->tls_ca_file = add->tls_ca_file ? add->tls_ca_file : base->tls_ca_file;
    if (add->tls_cert_file) {
        sc->tls_cert_file = add->tls_cert_file;
        sc->tls_key_file = add->tls_key_file;
    }
    else {
        sc->tls_cert_file = base->tls_cert_file;
        sc->tls_key_file = base->tls_key_file;
    }
    return sc;
}

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    (void)dir;
    return apr_pcalloc(p, sizeof(revproxy_dir_conf));
}

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    revproxy_dir_conf *base = basev, *add = addv;
    revproxy_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    if (base->rewrites && add->rewrites) {
        dc->rewrites = apr_array_append(p, base->rewrites, add->rewrites);
    }
    else {
        dc->rewrites = add->rewrites ? add->rewrites : base->rewrites;
    }
    return dc;
}

/* A duration for who ("RevProxyPass", "RevProxyBackend NAME"); opt is
 * the argument as written, for the message. */
static const char *parse_duration(cmd_parms *cmd, const char *who,
                                  const char *opt, const char *val,
                                  apr_interval_time_t *out)
{
    if (revproxy_duration_parse(val, out) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: invalid duration in '%s' (a "
                            "number with an optional unit: 250ms, 2s, 1m)",
                            who, opt);
    }
    return NULL;
}

/* A time limit: a duration above 0 (0 would make every wait fail at
 * once; there is no "no limit"). */
static const char *parse_limit(cmd_parms *cmd, const char *who,
                               const char *opt, const char *val,
                               apr_interval_time_t *out)
{
    const char *err = parse_duration(cmd, who, opt, val, out);

    if (err == NULL && *out <= 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' must be more than 0", who,
                            opt);
    }
    return err;
}

static const char *parse_methods(cmd_parms *cmd, revproxy_rule *rule,
                                 const char *list)
{
    char *copy = apr_pstrdup(cmd->temp_pool, list), *last, *m;

    for (m = apr_strtok(copy, ",", &last); m; m = apr_strtok(NULL, ",",
                                                             &last)) {
        int num = ap_method_number_of(m);
        if (num == M_INVALID) {
            num = ap_method_register(cmd->pool, apr_pstrdup(cmd->pool, m));
        }
        if (num < 0 || num >= 64) {
            return apr_psprintf(cmd->pool, "%s: method '%s' cannot be used "
                                "in methods=", cmd->cmd->name, m);
        }
        rule->methods |= (apr_uint64_t)1 << num;
    }
    if (rule->methods == 0) {
        return apr_psprintf(cmd->pool, "%s: methods= needs at least one "
                            "method", cmd->cmd->name);
    }
    return NULL;
}

static const char *parse_option(cmd_parms *cmd, revproxy_rule *rule,
                                const char *opt)
{
    const char *eq = strchr(opt, '=');
    const char *val = eq ? eq + 1 : NULL;
    apr_size_t klen = eq ? (apr_size_t)(eq - opt) : strlen(opt);

#define IS(name) (klen == sizeof(name) - 1 && strncasecmp(opt, name, klen) == 0)
    if (!eq && IS("keephost")) {
        rule->keephost = 1;
    }
    else if (!eq && IS("nopipeline")) {
        rule->nopipeline = 1;
    }
    else if (!eq && IS("nocanon")) {
        rule->nocanon = 1;
    }
    else if (eq && IS("methods")) {
        return parse_methods(cmd, rule, val);
    }
    else if (eq && IS("connecttimeout")) {
        return parse_limit(cmd, cmd->cmd->name, opt, val,
                              &rule->connect_timeout);
    }
    else if (eq && IS("timeout")) {
        return parse_limit(cmd, cmd->cmd->name, opt, val, &rule->timeout);
    }
    else if (eq && IS("sendtimeout")) {
        return parse_limit(cmd, cmd->cmd->name, opt, val,
                              &rule->send_timeout);
    }
    else if (eq && IS("ttl")) {
        return parse_limit(cmd, cmd->cmd->name, opt, val, &rule->ttl);
    }
    else if (eq && IS("upgrade")) {
        if (strcasecmp(val, "websocket") == 0) {
            rule->upgrade = REVPROXY_UPGRADE_WEBSOCKET;
        }
        else if (strcmp(val, "*") == 0) {
            rule->upgrade = REVPROXY_UPGRADE_ANY;
        }
        else {
            return apr_psprintf(cmd->pool, "%s: upgrade= takes 'websocket' "
                                "or '*', not '%s'", cmd->cmd->name, val);
        }
    }
    else if (eq && IS("tlsverify")) {
        if (strcasecmp(val, "off") == 0) {
            rule->tlsverify = 0;
        }
        else if (strcasecmp(val, "on") == 0) {
            rule->tlsverify = 1;
        }
        else {
            return apr_psprintf(cmd->pool, "%s: tlsverify= takes on or off, "
                                "not '%s'", cmd->cmd->name, val);
        }
    }
    else {
        return apr_psprintf(cmd->pool, "%s: unknown option '%s'",
                            cmd->cmd->name, opt);
    }
#undef IS
    return NULL;
}

static const char *add_rule(cmd_parms *cmd, void *dummy, int argc,
                            char *const argv[])
{
    revproxy_server_conf *sc = ap_get_module_config(
                                   cmd->server->module_config,
                                   &revproxy_module);
    revproxy_rule *rule;
    const char *err;
    int i, max_group = -1;

    (void)dummy;
    if (argc < 2) {
        return apr_psprintf(cmd->pool, "%s needs a regular expression and a "
                            "destination", cmd->cmd->name);
    }
    rule = apr_pcalloc(cmd->pool, sizeof(*rule));
    rule->directive = cmd->cmd->name;
    rule->fullurl = (cmd->info != NULL);
    rule->pattern = argv[0];
    rule->tlsverify = REVPROXY_UNSET;
    rule->connect_timeout = rule->timeout = rule->send_timeout
                          = rule->ttl = REVPROXY_UNSET;
    rule->where = cmd->directive
                  ? apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                                 cmd->directive->line_num)
                  : "?";
    err = revproxy_regex_compile(cmd->pool, argv[0], &rule->re);
    if (err) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    }
    if (strcmp(argv[1], "!") != 0) {
        err = revproxy_dest_compile(cmd->pool, argv[1], &rule->dest,
                                    &max_group);
        if (err) {
            return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
        }
        if (max_group > rule->re->ngroups) {
            return apr_psprintf(cmd->pool, "%s: destination '%s' uses $%d but "
                                "'%s' has only %d capture group(s)",
                                cmd->cmd->name, argv[1], max_group, argv[0],
                                rule->re->ngroups);
        }
    }
    for (i = 2; i < argc; i++) {
        err = parse_option(cmd, rule, argv[i]);
        if (err) {
            return err;
        }
    }
    *(revproxy_rule **)apr_array_push(sc->rules) = rule;
    return NULL;
}

static revproxy_server_conf *server_conf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &revproxy_module);
}

static const char *set_connect_timeout(cmd_parms *cmd, void *d,
                                       const char *arg)
{
    (void)d;
    return parse_limit(cmd, cmd->cmd->name, arg, arg,
                          &server_conf(cmd)->connect_timeout);
}

static const char *set_timeout(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return parse_limit(cmd, cmd->cmd->name, arg, arg,
                          &server_conf(cmd)->timeout);
}

static const char *set_add_forwarded(cmd_parms *cmd, void *d, int flag)
{
    (void)d;
    server_conf(cmd)->add_forwarded = flag;
    return NULL;
}

static const char *set_forwarded(cmd_parms *cmd, void *d, int flag)
{
    (void)d;
    server_conf(cmd)->forwarded = flag;
    return NULL;
}

static const char *set_tls_verify(cmd_parms *cmd, void *d, int flag)
{
    (void)d;
    server_conf(cmd)->tls_verify = flag;
    return NULL;
}

static const char *set_tls_ca(cmd_parms *cmd, void *d, const char *arg)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t fi;

    (void)d;
    if (!path || apr_stat(&fi, path, APR_FINFO_TYPE, cmd->temp_pool)
                 != APR_SUCCESS || fi.filetype != APR_REG) {
        return apr_psprintf(cmd->pool, "%s: cannot read file '%s'",
                            cmd->cmd->name, arg);
    }
    server_conf(cmd)->tls_ca_file = path;
    return NULL;
}

static const char *set_tls_client_cert(cmd_parms *cmd, void *d,
                                       const char *cert, const char *key)
{
    revproxy_server_conf *sc = server_conf(cmd);
    apr_finfo_t fi;

    (void)d;
    sc->tls_cert_file = ap_server_root_relative(cmd->pool, cert);
    sc->tls_key_file = key ? ap_server_root_relative(cmd->pool, key)
                           : sc->tls_cert_file;
    if (!sc->tls_cert_file || !sc->tls_key_file
        || apr_stat(&fi, sc->tls_cert_file, APR_FINFO_TYPE, cmd->temp_pool)
           != APR_SUCCESS
        || apr_stat(&fi, sc->tls_key_file, APR_FINFO_TYPE, cmd->temp_pool)
           != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: cannot read '%s'%s%s",
                            cmd->cmd->name, cert, key ? " or " : "",
                            key ? key : "");
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* RevProxyBackend                                                         */

/* A path as a request target may hold it: visible ASCII, no '?' or '#'. */
static int path_ok(const char *s)
{
    for (; *s; s++) {
        if (*s <= 0x20 || *s >= 0x7f || *s == '?' || *s == '#') {
            return 0;
        }
    }
    return 1;
}

static const char *parse_member(apr_pool_t *p, const char *url,
                                revproxy_member *m)
{
    apr_uri_t u;
    char *base;
    apr_size_t len;
    long port;
    int v6;

    memset(m, 0, sizeof(*m));
    m->url = url;
    m->weight = 1;
    m->admin_conf = REVPROXY_ADMIN_ACTIVE;
    if (apr_uri_parse(p, url, &u) != APR_SUCCESS || u.scheme == NULL) {
        return "is not a URL";
    }
    if (strcasecmp(u.scheme, "https") == 0) {
        m->addr.https = 1;
    }
    else if (strcasecmp(u.scheme, "http") != 0) {
        return "must start with http:// or https://";
    }
    if (u.user || u.password) {
        return "holds user information ('@')";
    }
    if (u.query || u.fragment) {
        return "holds a query or a fragment";
    }
    v6 = u.hostinfo && u.hostinfo[0] == '[';
    if (u.hostname == NULL
        || !(v6 ? revproxy_ipv6_valid(u.hostname, strlen(u.hostname))
                : revproxy_host_name_valid(u.hostname,
                                           strlen(u.hostname)))) {
        return "has no valid host";
    }
    port = m->addr.https ? 443 : 80;
    if (u.port_str && *u.port_str) {
        apr_port_t pn;
        if (!revproxy_port_parse(u.port_str, strlen(u.port_str), &pn)) {
            return "has an invalid port";
        }
        port = pn;
    }
    m->addr.host = v6 ? apr_pstrcat(p, "[", u.hostname, "]", NULL)
                      : apr_pstrdup(p, u.hostname);
    ap_str_tolower((char *)m->addr.host);
    m->addr.port = (apr_port_t)port;
    m->hostport = (port == (m->addr.https ? 443 : 80))
                  ? m->addr.host
                  : apr_psprintf(p, "%s:%ld", m->addr.host, port);
    base = apr_pstrdup(p, u.path ? u.path : "");
    if (!path_ok(base)) {
        return "has a path with characters not allowed in a URL";
    }
    len = strlen(base);
    while (len > 0 && base[len - 1] == '/') {
        base[--len] = '\0';
    }
    m->base = base;
    return NULL;
}

/* A whole number min..max for an option. */
static const char *parse_count(cmd_parms *cmd, const revproxy_group *g,
                               const char *what, const char *val, long min,
                               long max, int *out)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(val, &end, 10);
    if (!apr_isdigit(*val) || *end || errno || n < min || n > max) {
        return apr_psprintf(cmd->pool, "%s %s: %s (%ld-%ld), not '%s'",
                            cmd->cmd->name, g->name, what, min, max, val);
    }
    *out = (int)n;
    return NULL;
}

static const char *parse_group_option(cmd_parms *cmd, revproxy_group *g,
                                      const char *opt)
{
    const char *who = apr_pstrcat(cmd->pool, cmd->cmd->name, " ", g->name,
                                  NULL);
    const char *eq = strchr(opt, '=');
    const char *val = eq ? eq + 1 : "";
    apr_size_t klen = eq ? (apr_size_t)(eq - opt) : strlen(opt);

#define IS(k) (eq && klen == sizeof(k) - 1 && strncasecmp(opt, k, klen) == 0)
    if (IS("retry")) {
        return parse_duration(cmd, who, opt, val, &g->retry);
    }
    if (IS("connecttimeout")) {
        return parse_limit(cmd, who, opt, val, &g->connect_timeout);
    }
    if (IS("timeout")) {
        return parse_limit(cmd, who, opt, val, &g->timeout);
    }
    if (IS("sendtimeout")) {
        return parse_limit(cmd, who, opt, val, &g->send_timeout);
    }
    if (IS("ttl")) {
        return parse_limit(cmd, who, opt, val, &g->ttl);
    }
    if (IS("hcheck")) {
        return parse_duration(cmd, who, opt, val, &g->hcheck);
    }
    if (IS("max")) {
        return parse_count(cmd, g, "max= takes a number of connections",
                           val, 0, 65535, &g->max_idle);
    }
    if (IS("fails")) {
        return parse_count(cmd, g, "fails= takes a number of failed "
                           "requests in a row", val, 1, 1000, &g->fails);
    }
    if (IS("maxattempts")) {
        return parse_count(cmd, g, "maxattempts= takes a number of members",
                           val, 1, REVPROXY_MAX_MEMBERS, &g->max_attempts);
    }
    if (IS("tlsverify")) {
        if (strcasecmp(val, "on") == 0 || strcasecmp(val, "off") == 0) {
            g->tlsverify = strcasecmp(val, "on") == 0;
            return NULL;
        }
        return apr_psprintf(cmd->pool, "%s %s: tlsverify= takes on or off, "
                            "not '%s'", cmd->cmd->name, g->name, val);
    }
    if (IS("hcheckuri")) {
        const char *c;
        for (c = val; *c; c++) {
            if (*c <= 0x20 || *c >= 0x7f || *c == '#') {
                break;
            }
        }
        if (val[0] != '/' || *c) {
            return apr_psprintf(cmd->pool, "%s %s: hcheckuri= takes a path "
                                "starting with '/' (visible characters, no "
                                "'#'), not '%s'", cmd->cmd->name, g->name,
                                val);
        }
        g->hcheck_uri = val;
        return NULL;
    }
#undef IS
    return apr_psprintf(cmd->pool, "%s %s: unknown option '%s'",
                        cmd->cmd->name, g->name, opt);
}

static const char *parse_group(cmd_parms *cmd, apr_array_header_t *groups,
                               int argc, char *const argv[])
{
    const revproxy_group *dup;
    revproxy_group *g;
    const char *err;
    int i;

    if (argc < 2) {
        return apr_psprintf(cmd->pool, "%s needs a name and at least one "
                            "URL", cmd->cmd->name);
    }
    if (!revproxy_host_name_valid(argv[0], strlen(argv[0]))) {
        return apr_psprintf(cmd->pool, "%s: '%s' cannot be a group name "
                            "(letters, digits, '-' and '.', as the host of "
                            "a backend:// destination)", cmd->cmd->name,
                            argv[0]);
    }
    if ((dup = revproxy_backend_find(groups, argv[0])) != NULL) {
        return apr_psprintf(cmd->pool, "%s: group '%s' is already defined "
                            "at %s", cmd->cmd->name, argv[0], dup->where);
    }
    g = apr_pcalloc(cmd->pool, sizeof(*g));
    g->name = argv[0];
    g->where = cmd->directive
               ? apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                              cmd->directive->line_num)
               : "?";
    g->server = cmd->server;
    g->members = apr_array_make(cmd->pool, argc, sizeof(revproxy_member));
    g->retry = REVPROXY_DEFAULT_RETRY;
    g->connect_timeout = g->timeout = g->send_timeout = g->ttl
                       = REVPROXY_UNSET;
    g->max_idle = REVPROXY_DEFAULT_MAX_IDLE;
    g->fails = REVPROXY_DEFAULT_FAILS;
    g->max_attempts = REVPROXY_DEFAULT_MAX_ATTEMPTS;
    g->tlsverify = REVPROXY_UNSET;
    g->hcheck_uri = "/";
    g->definition = argv[0];
    for (i = 1; i < argc; i++) {
        g->definition = apr_pstrcat(cmd->pool, g->definition, " ", argv[i],
                                    NULL);
    }
    for (i = 1; i < argc; i++) {
        if (strstr(argv[i], "://")) {
            revproxy_member *m;
            if (g->members->nelts >= REVPROXY_MAX_MEMBERS) {
                return apr_psprintf(cmd->pool, "%s %s: more than %d "
                                    "members", cmd->cmd->name, g->name,
                                    REVPROXY_MAX_MEMBERS);
            }
            m = apr_array_push(g->members);
            err = parse_member(cmd->pool, argv[i], m);
            if (err) {
                return apr_psprintf(cmd->pool, "%s %s: member '%s' %s",
                                    cmd->cmd->name, g->name, argv[i], err);
            }
            m->route = apr_itoa(cmd->pool, g->members->nelts);
        }
        else if ((err = parse_group_option(cmd, g, argv[i])) != NULL) {
            return err;
        }
    }
    if (g->members->nelts == 0) {
        return apr_psprintf(cmd->pool, "%s %s: no member URL (http://HOST"
                            "[:PORT][/PATH] or https://...)", cmd->cmd->name,
                            g->name);
    }
    *(revproxy_group **)apr_array_push(groups) = g;
    return NULL;
}

static const char *add_backend(cmd_parms *cmd, void *d, int argc,
                               char *const argv[])
{
    (void)d;
    return parse_group(cmd, server_conf(cmd)->groups, argc, argv);
}

static const char *add_rewrite(cmd_parms *cmd, void *dv, const char *header,
                               const char *regex, const char *repl)
{
    revproxy_dir_conf *dc = dv;
    revproxy_rewrite *rw;
    const char *err;
    int max_group;

    if (dc->rewrites == NULL) {
        dc->rewrites = apr_array_make(cmd->pool, 2, sizeof(revproxy_rewrite));
    }
    rw = apr_array_push(dc->rewrites);
    rw->header = header;
    err = revproxy_regex_compile(cmd->pool, regex, &rw->re);
    if (err == NULL) {
        err = revproxy_subst_compile(cmd->pool, repl, &rw->repl, &max_group);
        if (err == NULL && max_group > rw->re->ngroups) {
            err = apr_psprintf(cmd->pool, "replacement uses $%d but the "
                               "regex has only %d group(s)", max_group,
                               rw->re->ngroups);
        }
    }
    return err ? apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err)
               : NULL;
}

static void register_hooks(apr_pool_t *p)
{
    /* Before mod_alias, mod_rewrite and mod_proxy take the URL. */
    static const char *const succ[] = {
        "mod_alias.c", "mod_rewrite.c", "mod_proxy.c", "mod_userdir.c",
        "mod_vhost_alias.c", NULL
    };

    (void)p;
    ap_hook_translate_name(revproxy_translate, NULL, succ, APR_HOOK_FIRST);
    ap_hook_map_to_storage(revproxy_map_to_storage, NULL, NULL,
                           APR_HOOK_FIRST);
    ap_hook_handler(revproxy_handler, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_check_config(revproxy_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(revproxy_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(revproxy_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_status(revproxy_child_status, NULL, NULL, APR_HOOK_MIDDLE);
    /* Idle upgraded tunnels without a thread (event MPM). */
    ap_hook_child_init(revproxy_tunnel_child_init, NULL, NULL,
                       APR_HOOK_MIDDLE);
    ap_hook_suspend_connection(revproxy_tunnel_suspended, NULL, NULL,
                               APR_HOOK_MIDDLE);
    /* Last: after this child's connection pool and scoreboard row
     * (revproxy_child_init) are in place. */
    ap_hook_child_init(revproxy_backend_child_init, NULL, NULL,
                       APR_HOOK_LAST);
    /* The status page and its summary on mod_status's page. */
    ap_hook_handler(revproxy_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, revproxy_status_summary, NULL, NULL,
                      APR_HOOK_MIDDLE);
    revproxy_fetch_register();      /* optional functions, not hooks */
}

static const command_rec revproxy_cmds[] = {
    AP_INIT_TAKE_ARGV("RevProxyPass", add_rule, NULL, RSRC_CONF,
                      "REGEX DEST [option ...]: proxy requests whose path "
                      "matches REGEX to DEST ($1.. substituted)"),
    AP_INIT_TAKE_ARGV("RevProxyPassFullURL", add_rule, "full", RSRC_CONF,
                      "REGEX DEST [option ...]: like RevProxyPass, matched "
                      "against SCHEME://HOST:PORT/PATH[?QUERY]"),
    AP_INIT_TAKE_ARGV("RevProxyBackend", add_backend, NULL, RSRC_CONF,
                      "NAME URL [URL ...] [option ...]: a group of backends "
                      "for backend://NAME/PATH destinations"),
    AP_INIT_TAKE1("RevProxyConnectTimeout", set_connect_timeout, NULL,
                  RSRC_CONF, "limit for connecting to a backend (5s)"),
    AP_INIT_TAKE1("RevProxyTimeout", set_timeout, NULL, RSRC_CONF,
                  "limit for each wait on a backend (the server's Timeout)"),
    AP_INIT_FLAG("RevProxyAddForwarded", set_add_forwarded, NULL, RSRC_CONF,
                 "On|Off: add X-Forwarded-For/-Host/-Proto (On)"),
    AP_INIT_FLAG("RevProxyForwarded", set_forwarded, NULL, RSRC_CONF,
                 "On|Off: append an RFC 7239 Forwarded element (Off)"),
    AP_INIT_FLAG("RevProxyTLSVerify", set_tls_verify, NULL, RSRC_CONF,
                 "On|Off: verify HTTPS backends' certificates (On)"),
    AP_INIT_TAKE1("RevProxyTLSCACertificateFile", set_tls_ca, NULL,
                  RSRC_CONF, "PEM file of CAs trusted for HTTPS backends"),
    AP_INIT_TAKE12("RevProxyTLSClientCertificate", set_tls_client_cert, NULL,
                   RSRC_CONF, "CERT [KEY]: client certificate for HTTPS "
                   "backends"),
    AP_INIT_TAKE3("RevProxyRewriteHeader", add_rewrite, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "HEADER REGEX REPLACEMENT: rewrite a backend response "
                  "header"),
    { NULL }
};

AP_DECLARE_MODULE(revproxy) = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    merge_dir_conf,
    create_server_conf,
    merge_server_conf,
    revproxy_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
