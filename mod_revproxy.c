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
#include "mod_revproxy.h"
#include "revproxy_ruleset.h"
#include "revproxy_cookie.h"

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

/* expr=: whether the rule's condition holds.  An expression that cannot
 * be evaluated for this request (a function that fails, ...) is false,
 * with one trace line: the next rule is tried, never an error answer. */
static int condition_true(const revproxy_rule *rule, request_rec *r)
{
    const char *err = NULL;
    int rc;

    if (rule->expr == NULL) {
        return 1;
    }
    rc = ap_expr_exec(r, rule->expr, &err);
    if (rc < 0 || err) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "%s \"%s\" at %s: "
                      "expr= could not be evaluated (%s): taken as false",
                      rule->directive, rule->pattern, rule->where,
                      err ? err : "error");
        return 0;
    }
    return rc > 0;
}

static int revproxy_translate(request_rec *r)
{
    revproxy_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                    &revproxy_module);
    const char *decoded_full = NULL, *raw_full = NULL, *raw = NULL;
    revproxy_ruleset_walk walk;
    int i;

    if (sc->rules == NULL || sc->rules->nelts == 0 || r->proxyreq
        || r->method_number == M_CONNECT || r->uri == NULL
        || r->uri[0] != '/') {
        return DECLINED;
    }
    /* Only the rules whose literal prefix the path starts with, and those
     * without one, in configuration order (revproxy_ruleset.c). */
    if (revproxy_ruleset_needs_raw(sc->index)) {
        raw = raw_path(r);
    }
    revproxy_ruleset_start(sc->index, &walk, r->pool, r->uri, strlen(r->uri),
                           raw, raw ? strlen(raw) : 0);
    while ((i = revproxy_ruleset_next(&walk)) >= 0) {
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
        subject = !rule->nocanon ? r->uri : raw ? raw : (raw = raw_path(r));
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
                          "%s \"%s\" (%s): matching stopped (%s) on a "
                          "%" APR_SIZE_T_FMT "-byte subject: counted as no "
                          "match, next rule tried", rule->directive,
                          rule->pattern, rule->where,
                          revproxy_regex_strerror(r->pool, rc),
                          strlen(subject));
            continue;
        }
        if (!condition_true(rule, r)) {
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
                                  rq->target.sock ? "unix:" : "",
                                  rq->target.sock ? rq->target.sock : "",
                                  rq->target.sock ? "|" : "",
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

/* Whether value starts with base: scheme and authority compared without
 * regard to case, the path exactly.  A base always has a path (made so
 * in check_config). */
static apr_size_t base_length(const char *value, const char *base)
{
    const char *auth = strstr(base, "://");
    apr_size_t n = strlen(base), a;

    a = auth ? (apr_size_t)(auth + 3 - base) : 0;
    a += strcspn(base + a, "/");
    if (strncasecmp(value, base, a) != 0
        || strncmp(value + a, base + a, n - a) != 0) {
        return 0;
    }
    return n;
}

/* The client's base followed by what came after the backend's: one '/'
 * between them when either side had one (a base ending in '/' keeps it
 * when the client's does not: RevProxyPassFullURL, a prefix "/app"). */
static const char *join_base(apr_pool_t *p, const char *client,
                             const char *rest, int base_slash)
{
    apr_size_t n = strlen(client);
    int client_slash = n > 0 && client[n - 1] == '/';

    if (client_slash && rest[0] == '/') {
        rest++;
    }
    else if (!client_slash && base_slash) {
        return apr_pstrcat(p, client, "/", rest, NULL);
    }
    return apr_pstrcat(p, client, rest, NULL);
}

/* reverse: Location, Content-Location and URI values that start with a
 * backend base of the route get it replaced by the client's base: the
 * scheme and Host the client used, then the regex's literal prefix. */
static void map_back(request_rec *r, const revproxy_req *rq,
                     apr_table_t *headers)
{
    const apr_array_header_t *bases = rq->route->reverse_bases;
    const apr_array_header_t *arr = apr_table_elts(headers);
    apr_table_entry_t *e = (apr_table_entry_t *)arr->elts;
    const char *host, *client = NULL;
    int i, j;

    if (bases == NULL) {
        return;
    }
    for (i = 0; i < arr->nelts; i++) {
        if (strcasecmp(e[i].key, "Location") != 0
            && strcasecmp(e[i].key, "Content-Location") != 0
            && strcasecmp(e[i].key, "URI") != 0) {
            continue;
        }
        for (j = 0; j < bases->nelts; j++) {
            apr_size_t n = base_length(e[i].val,
                                       APR_ARRAY_IDX(bases, j, const char *));
            if (n == 0) {
                continue;
            }
            if (client == NULL) {
                host = apr_table_get(r->headers_in, "Host");
                client = host ? apr_pstrcat(r->pool, ap_http_scheme(r), "://",
                                            host, rq->rule->client_prefix,
                                            NULL)
                              : ap_construct_url(r->pool,
                                                 rq->rule->client_prefix, r);
            }
            e[i].val = (char *)join_base(r->pool, client, e[i].val + n,
                                         e[i].val[n - 1] == '/');
            break;
        }
    }
}

/* RevProxyCookieDomain / RevProxyCookiePath on every Set-Cookie. */
static void map_cookies(request_rec *r, apr_table_t *headers)
{
    const revproxy_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                                       &revproxy_module);
    const apr_array_header_t *arr = apr_table_elts(headers);
    apr_table_entry_t *e = (apr_table_entry_t *)arr->elts;
    const apr_array_header_t *d = dc->cookie_domains, *p = dc->cookie_paths;
    int i;

    if (d == NULL && p == NULL) {
        return;
    }
    for (i = 0; i < arr->nelts; i++) {
        if (strcasecmp(e[i].key, "Set-Cookie") == 0) {
            e[i].val = (char *)revproxy_cookie_rewrite(
                           r->pool, e[i].val,
                           d ? (const revproxy_cookie_map *)d->elts : NULL,
                           d ? d->nelts : 0,
                           p ? (const revproxy_cookie_map *)p->elts : NULL,
                           p ? p->nelts : 0);
        }
    }
}

/* The fields of a backend's error answer that httpd's own answer of that
 * status keeps (err_headers_out survive ErrorDocument): a challenge, the
 * methods allowed, when to come back. */
static void keep_error_fields(request_rec *r, apr_table_t *headers)
{
    static const char *const keep[] = {
        "WWW-Authenticate", "Proxy-Authenticate", "Allow", "Retry-After",
        NULL
    };
    const apr_array_header_t *arr = apr_table_elts(headers);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i, k;

    for (i = 0; i < arr->nelts; i++) {
        for (k = 0; keep[k]; k++) {
            if (strcasecmp(e[i].key, keep[k]) == 0) {
                apr_table_addn(r->err_headers_out, e[i].key, e[i].val);
            }
        }
    }
}

/* RevProxyErrorOverride On: a backend answer of 400 or more that httpd
 * knows a status line for is answered by httpd (ErrorDocument applies);
 * its body is read and dropped, up to a bound, so that the connection
 * can be pooled when its framing allows. */
static int error_overridden(request_rec *r, revproxy_exchange *x)
{
    const revproxy_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                                       &revproxy_module);

    if (dc->error_override != 1 || x->status < 400
        || atoi(ap_get_status_line(x->status)) != x->status) {
        return 0;
    }
    keep_error_fields(r, x->resp_headers);
    revproxy_x_discard(x, REVPROXY_DISCARD_MAX);
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "backend %s answered %d: "
                  "RevProxyErrorOverride, httpd answers it",
                  revproxy_x_backend(x), x->status);
    return 1;
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
                  "tunnel to %s (%s \"%s\") ended: %s; %" APR_OFF_T_FMT
                  " bytes to the client, %" APR_OFF_T_FMT " to the backend",
                  revproxy_x_backend(x), rule->directive,
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
                  "backend %s (%s \"%s\" at %s): %s%s",
                  revproxy_x_backend(x), rule->directive, rule->pattern,
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
        r->filename = apr_pstrcat(r->pool, FILENAME_PREFIX, backend,
                                  x->addr.sock ? "|" : "", x->path, NULL);
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


/* The steps of a proxied request, for the handler and for another
 * module's revproxy_invoke: returns OK, or the status for the client. */
static int proxy_request(request_rec *r, const revproxy_req *rq)
{
    revproxy_server_conf *sc;
    const revproxy_rule *rule;
    const revproxy_route *route;
    const revproxy_group *group;
    revproxy_pick chosen = { NULL, NULL, 0, 0 };
    revproxy_exchange x;
    apr_time_t t0;
    int status;

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
    x.addr.sock = rq->target.sock;
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
    t0 = apr_time_now();
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
    /* The head's latency and the kind of connection, for the metrics. */
    revproxy_status_head(rule->counters, chosen.member
                         ? chosen.member->counters : NULL,
                         apr_time_now() - t0, x.reused);

    /* An error answer httpd gives itself (RevProxyErrorOverride). */
    if (error_overridden(r, &x)) {
        revproxy_x_finish(&x);
        count_request(rule, &chosen, &x, OK);
        return x.status;
    }

    /* Step Four: the response head goes to the client: mapped back
     * (reverse, cookies) before the RevProxyRewriteHeader rules. */
    if (rule->reverse) {
        map_back(r, rq, x.resp_headers);
    }
    map_cookies(r, x.resp_headers);
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

static int revproxy_handler(request_rec *r)
{
    revproxy_req *rq = ap_get_module_config(r->request_config,
                                            &revproxy_module);

    if (rq == NULL) {
        return DECLINED;
    }
    return proxy_request(r, rq);
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
    /* One match data per thread for every rule and header regex. */
    rv = revproxy_regex_child_init(p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, RVPLOGNO(0050)
                     "cannot create the key for per-thread regex match "
                     "data: each match allocates its own");
    }
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

/* The index of a server's rules (own, then inherited), parallel to them. */
static revproxy_ruleset *index_rules(apr_pool_t *pconf, apr_pool_t *ptemp,
                                     const apr_array_header_t *rules)
{
    revproxy_ruleset *rs = revproxy_ruleset_make(pconf, rules->nelts);
    int i;

    for (i = 0; i < rules->nelts; i++) {
        const revproxy_rule *rule = APR_ARRAY_IDX(rules, i, revproxy_rule *);
        revproxy_ruleset_add(rs, rule->pattern, rule->re,
                             rule->fullurl ? REVPROXY_SUBJECT_OTHER
                             : rule->nocanon ? REVPROXY_SUBJECT_RAW
                             : REVPROXY_SUBJECT_DECODED);
    }
    revproxy_ruleset_build(rs, ptemp);
    return rs;
}

/* DEST up to its first capture reference ($$ is a '$'). */
static const char *literal_dest(apr_pool_t *p, const char *text)
{
    char *out = apr_palloc(p, strlen(text) + 1), *o = out;

    while (*text) {
        if ((text[0] == '$' || text[0] == '\\') && apr_isdigit(text[1])) {
            break;
        }
        if (text[0] == '$' && text[1] == '$') {
            text++;
        }
        *o++ = *text++;
    }
    *o = '\0';
    return out;
}

/* reverse: the backend bases of a route (see map_back): for a plain DEST
 * its text up to the first capture (for unix:/PATH|URL, the URL's), for
 * backend://NAME/P... each member's URL followed by P... up to the first
 * capture.  A base whose scheme, host or port would come from a capture
 * cannot be known: that fails the config test.  Returns non-zero (logged)
 * on an error. */
static int reverse_bases(apr_pool_t *p, server_rec *s, revproxy_route *rt)
{
    const revproxy_rule *rule = rt->rule;
    const char *lit, *auth;
    int i;

    if (!rule->reverse || rule->dest == NULL) {
        return 0;
    }
    lit = literal_dest(p, revproxy_dest_text(rule->dest));
    if (strncmp(lit, "unix:", 5) == 0 && strchr(lit, '|')) {
        lit = strchr(lit, '|') + 1;     /* the URL the backend knows */
    }
    auth = strstr(lit, "://");
    if (auth == NULL || strchr(auth + 3, '/') == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, RVPLOGNO(0030)
                     "%s \"%s\" (%s): reverse needs a destination whose "
                     "scheme, host and port come from no capture, not '%s'",
                     rule->directive, rule->pattern, rule->where,
                     revproxy_dest_text(rule->dest));
        return 1;
    }
    rt->reverse_bases = apr_array_make(p, 2, sizeof(const char *));
    if (rt->group == NULL) {
        APR_ARRAY_PUSH(rt->reverse_bases, const char *) = lit;
        return 0;
    }
    lit = strchr(auth + 3, '/');      /* backend://NAME/P...: P... */
    for (i = 0; i < rt->group->members->nelts; i++) {
        const revproxy_member *m = &APR_ARRAY_IDX(rt->group->members, i,
                                                  revproxy_member);
        APR_ARRAY_PUSH(rt->reverse_bases, const char *) =
            apr_pstrcat(p, m->addr.https ? "https://" : "http://",
                        m->hostport, m->base, lit, NULL);
    }
    return 0;
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
                const char *err = revproxy_backend_prepare(g, pconf);
                if (err) {
                    ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                                 RVPLOGNO(0332) "%s", err);
                    return HTTP_INTERNAL_SERVER_ERROR;
                }
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
            if (reverse_bases(pconf, s, &APR_ARRAY_IDX(sc->routes, i,
                                                       revproxy_route))) {
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        sc->index = index_rules(pconf, ptemp, sc->rules);
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
            /* A group by its name, a member by its URL in it: a
             * graceful restart that keeps a member keeps its slot (its
             * counters, its state and the admin's drain/disabled) even
             * when the group's options or other members changed. */
            key = apr_psprintf(ptemp, "group|%s|%s", e->server, g->name);
            g->slot = revproxy_score_add(k, REVPROXY_SCORE_GROUP, key);
            *(revproxy_group **)apr_array_push(groups) = g;
            for (j = 0; j < g->members->nelts; j++) {
                revproxy_member *m = &APR_ARRAY_IDX(g->members, j,
                                                    revproxy_member);
                m->slot = revproxy_score_add(k, REVPROXY_SCORE_MEMBER,
                                             apr_pstrcat(ptemp, key, "|",
                                                         m->url, NULL));
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
    ix->nonce = revproxy_status_nonce(pconf, s);

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
    revproxy_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    (void)dir;
    dc->status_manage = REVPROXY_UNSET;
    dc->error_override = REVPROXY_UNSET;
    return dc;
}

/* Cookie pairs: the inner section's first, so that they win. */
static apr_array_header_t *merge_pairs(apr_pool_t *p,
                                       apr_array_header_t *base,
                                       apr_array_header_t *add)
{
    if (base && add) {
        return apr_array_append(p, add, base);
    }
    return add ? add : base;
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
    dc->status_manage = add->status_manage != REVPROXY_UNSET
                        ? add->status_manage : base->status_manage;
    dc->cookie_domains = merge_pairs(p, base->cookie_domains,
                                     add->cookie_domains);
    dc->cookie_paths = merge_pairs(p, base->cookie_paths, add->cookie_paths);
    dc->error_override = add->error_override != REVPROXY_UNSET
                         ? add->error_override : base->error_override;
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

/* reverse: the literal prefix of a RevProxyPass regex (the one the rule
 * index uses: after a leading '^' up to the first metacharacter, a
 * quantified character left out), "" when it has none. */
static const char *client_prefix(apr_pool_t *p, const char *pattern)
{
    apr_size_t len;
    const char *prefix = revproxy_regex_prefix(p, pattern, &len);

    return prefix ? prefix : "";
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
    else if (!eq && IS("reverse")) {
        rule->reverse = 1;
        rule->client_prefix = rule->fullurl ? ""
                              : client_prefix(cmd->pool, rule->pattern);
    }
    else if (eq && IS("expr")) {
        const char *err = NULL;
        rule->expr = ap_expr_parse_cmd(cmd, val, 0, &err, NULL);
        if (err) {
            return apr_psprintf(cmd->pool, "%s: cannot parse expr=%s: %s",
                                cmd->cmd->name, val, err);
        }
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

/* A member "unix:/PATH|http://HOST[/BASE]": the socket path into
 * m->addr.sock (checked as a rule's destination checks it: absolute, no
 * capture reference, http only) and *url moved past the '|'; or what is
 * wrong with it. */
static const char *member_socket(apr_pool_t *p, const char **url,
                                 revproxy_member *m)
{
    revproxy_dest *d;
    int max_group;
    const char *err = revproxy_dest_compile(p, *url, &d, &max_group);

    if (err) {
        return apr_pstrcat(p, "is not unix:/ABSOLUTE/PATH|http://HOST"
                           "[/PATH]: ", err, NULL);
    }
    m->addr.sock = revproxy_dest_socket(d);
    *url = strchr(*url, '|') + 1;
    return NULL;
}

static const char *parse_member(apr_pool_t *p, const char *url,
                                revproxy_member *m)
{
    apr_uri_t u;
    char *base;
    const char *err;
    apr_size_t len;
    long port;
    int v6;

    memset(m, 0, sizeof(*m));
    m->url = url;
    m->weight = 1;
    m->admin_conf = REVPROXY_ADMIN_ACTIVE;
    if (strncasecmp(url, "unix:", 5) == 0
        && (err = member_socket(p, &url, m)) != NULL) {
        return err;
    }
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

/* A list of statuses and ranges ("200,204,300-302"), each 100-599, into
 * out (revproxy_status_range; single statuses as ranges of one).  NULL,
 * or what is wrong. */
static const char *parse_status_list(apr_pool_t *p, const char *val,
                                     int ranges, apr_array_header_t **out)
{
    apr_array_header_t *a = apr_array_make(p, 4,
                                           sizeof(revproxy_status_range));
    const char *c = val;

    for (;;) {
        revproxy_status_range *sr = apr_array_push(a);
        char *end;
        long lo, hi;
        if (!apr_isdigit(*c)) {
            return "a status is missing";
        }
        lo = hi = strtol(c, &end, 10);
        if (ranges && *end == '-') {
            if (!apr_isdigit(end[1])) {
                return "a range lacks its end";
            }
            hi = strtol(end + 1, &end, 10);
        }
        if (lo < 100 || hi > 599 || lo > hi) {
            return "statuses are 100-599 (a range low-high)";
        }
        sr->lo = (int)lo;
        sr->hi = (int)hi;
        if (*end == '\0') {
            break;
        }
        if (*end != ',') {
            return "statuses are separated by ','";
        }
        c = end + 1;
    }
    *out = a;
    return NULL;
}

/* failonstatus=CODE[,CODE...] */
static const char *parse_failonstatus(cmd_parms *cmd, revproxy_group *g,
                                      const char *val)
{
    apr_array_header_t *ranges;
    const char *err = parse_status_list(cmd->pool, val, 0, &ranges);
    int i;

    if (err) {
        return apr_psprintf(cmd->pool, "%s %s: failonstatus= takes statuses "
                            "separated by ',' (e.g. 500,503): %s, in '%s'",
                            cmd->cmd->name, g->name, err, val);
    }
    g->failonstatus = apr_array_make(cmd->pool, ranges->nelts, sizeof(int));
    for (i = 0; i < ranges->nelts; i++) {
        *(int *)apr_array_push(g->failonstatus)
            = APR_ARRAY_IDX(ranges, i, revproxy_status_range).lo;
    }
    return NULL;
}

/* The balancer's options of RevProxyBackend; NULL when opt is not one. */
static const char *parse_lb_option(cmd_parms *cmd, revproxy_group *g,
                                   const char *opt, const char *key,
                                   const char *val, int *done)
{
    const char *who = apr_pstrcat(cmd->pool, cmd->cmd->name, " ", g->name,
                                  NULL);
    const char *err;

    *done = 1;
    if (strcasecmp(key, "lbmethod") == 0) {
        if (strcasecmp(val, "roundrobin") == 0
            || strcasecmp(val, "leastbusy") == 0) {
            g->lbmethod = strcasecmp(val, "leastbusy") == 0
                          ? REVPROXY_LB_LEASTBUSY : REVPROXY_LB_ROUNDROBIN;
            return NULL;
        }
        return apr_psprintf(cmd->pool, "%s: lbmethod= takes roundrobin or "
                            "leastbusy, not '%s'", who, val);
    }
    if (strcasecmp(key, "sticky") == 0) {
        if (*val == '\0' || *ap_scan_http_token(val) != '\0') {
            return apr_psprintf(cmd->pool, "%s: sticky= takes a cookie name, "
                                "not '%s'", who, val);
        }
        g->sticky = val;
        return NULL;
    }
    if (strcasecmp(key, "maxconns") == 0) {
        return parse_count(cmd, g, "maxconns= takes a number of requests in "
                           "flight per member", val, 0, 1000000,
                           &g->maxconns);
    }
    if (strcasecmp(key, "acquire") == 0) {
        return parse_duration(cmd, who, opt, val, &g->acquire);
    }
    if (strcasecmp(key, "failonstatus") == 0) {
        return parse_failonstatus(cmd, g, val);
    }
    if (strcasecmp(key, "failontimeout") == 0) {
        if (strcasecmp(val, "on") == 0 || strcasecmp(val, "off") == 0) {
            g->failontimeout = strcasecmp(val, "on") == 0;
            return NULL;
        }
        return apr_psprintf(cmd->pool, "%s: failontimeout= takes on or off, "
                            "not '%s'", who, val);
    }
    if (strcasecmp(key, "hcmethod") == 0) {
        if (strcmp(val, "GET") == 0 || strcmp(val, "HEAD") == 0
            || strcmp(val, "OPTIONS") == 0) {
            g->hcmethod = val;
            return NULL;
        }
        return apr_psprintf(cmd->pool, "%s: hcmethod= takes GET, HEAD or "
                            "OPTIONS, not '%s'", who, val);
    }
    if (strcasecmp(key, "hcexpect") == 0) {
        err = parse_status_list(cmd->pool, val, 1, &g->hcexpect);
        return err ? apr_psprintf(cmd->pool, "%s: hcexpect= takes statuses "
                                  "and ranges separated by ',' (e.g. "
                                  "200,204,300-302): %s, in '%s'", who, err,
                                  val)
                   : NULL;
    }
    if (strcasecmp(key, "hcfails") == 0) {
        return parse_count(cmd, g, "hcfails= takes a number of failed checks "
                           "in a row", val, 1, 1000, &g->hcfails);
    }
    if (strcasecmp(key, "hcpasses") == 0) {
        return parse_count(cmd, g, "hcpasses= takes a number of passed checks "
                           "in a row", val, 1, 1000, &g->hcpasses);
    }
    *done = 0;
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

    if (strcasecmp(opt, "stickyinsert") == 0) {
        g->stickyinsert = 1;
        return NULL;
    }
    if (eq) {
        int done;
        const char *err = parse_lb_option(cmd, g, opt,
                                          apr_pstrndup(cmd->temp_pool, opt,
                                                       klen), val, &done);
        if (done) {
            return err;
        }
    }
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

/* m, just parsed as the last of g's members, is not one of the others
 * (scheme, host, port and base path compared). */
static const char *duplicate_member(apr_pool_t *p, const revproxy_group *g,
                                    const revproxy_member *m)
{
    int i;

    for (i = 0; i < g->members->nelts - 1; i++) {
        const revproxy_member *o = &APR_ARRAY_IDX(g->members, i,
                                                  revproxy_member);
        if (o->addr.https == m->addr.https && o->addr.port == m->addr.port
            && strcmp(o->addr.host, m->addr.host) == 0
            && strcmp(o->base, m->base) == 0) {
            return apr_psprintf(p, "is already a member (%s)", o->url);
        }
    }
    return NULL;
}

/* RevProxyMember's own options. */
static const char *parse_member_option(cmd_parms *cmd,
                                       const revproxy_group *g,
                                       revproxy_member *m, const char *opt)
{
    const char *eq = strchr(opt, '=');
    const char *val = eq ? eq + 1 : "";
    apr_size_t klen = eq ? (apr_size_t)(eq - opt) : strlen(opt);

    if (strcasecmp(opt, "standby") == 0) {
        m->standby = 1;
        return NULL;
    }
#define IS(k) (eq && klen == sizeof(k) - 1 && strncasecmp(opt, k, klen) == 0)
    if (IS("weight")) {
        return parse_count(cmd, g, "weight= takes a whole number", val, 1,
                           REVPROXY_MAX_WEIGHT, &m->weight);
    }
    if (IS("maxconns")) {
        return parse_count(cmd, g, "maxconns= takes a number of requests in "
                           "flight", val, 0, 1000000, &m->maxconns);
    }
    if (IS("route")) {
        if (*val == '\0' || *ap_scan_http_token(val) != '\0'
            || strchr(val, '.')) {
            return apr_psprintf(cmd->pool, "%s %s: route= takes a token "
                                "without '.', not '%s'", cmd->cmd->name,
                                g->name, val);
        }
        m->route = val;
        return NULL;
    }
    if (IS("status")) {
        if (strcasecmp(val, "drain") == 0) {
            m->admin_conf = REVPROXY_ADMIN_DRAIN;
        }
        else if (strcasecmp(val, "disabled") == 0) {
            m->admin_conf = REVPROXY_ADMIN_DISABLED;
        }
        else {
            return apr_psprintf(cmd->pool, "%s %s: status= takes drain or "
                                "disabled, not '%s'", cmd->cmd->name,
                                g->name, val);
        }
        return NULL;
    }
#undef IS
    return apr_psprintf(cmd->pool, "%s %s: unknown option '%s' (a member "
                        "takes weight=, standby, route=, status=, "
                        "maxconns=)", cmd->cmd->name, g->name, opt);
}

/* RevProxyMember NAME URL [option ...]: one more member of group NAME,
 * defined before in this server (its slot in the scoreboard is known by
 * group and URL, see register_keys). */
static const char *add_member(cmd_parms *cmd, void *d, int argc,
                              char *const argv[])
{
    revproxy_server_conf *sc = server_conf(cmd);
    revproxy_group *g = NULL;
    revproxy_member *m;
    const char *err;
    int i;

    (void)d;
    if (argc < 2) {
        return apr_psprintf(cmd->pool, "%s needs a group name and a URL",
                            cmd->cmd->name);
    }
    for (i = 0; i < sc->groups->nelts; i++) {
        revproxy_group *o = APR_ARRAY_IDX(sc->groups, i, revproxy_group *);
        if (o->server == cmd->server && strcasecmp(o->name, argv[0]) == 0) {
            g = o;
        }
    }
    if (g == NULL) {
        return apr_psprintf(cmd->pool, "%s %s: no RevProxyBackend %s is "
                            "defined before it in this server",
                            cmd->cmd->name, argv[0], argv[0]);
    }
    if (g->members->nelts >= REVPROXY_MAX_MEMBERS) {
        return apr_psprintf(cmd->pool, "%s %s: more than %d members",
                            cmd->cmd->name, g->name, REVPROXY_MAX_MEMBERS);
    }
    m = apr_array_push(g->members);
    err = parse_member(cmd->pool, argv[1], m);
    if (err == NULL) {
        err = duplicate_member(cmd->pool, g, m);
    }
    if (err) {
        apr_array_pop(g->members);
        return apr_psprintf(cmd->pool, "%s %s: member '%s' %s",
                            cmd->cmd->name, g->name, argv[1], err);
    }
    m->route = apr_itoa(cmd->pool, g->members->nelts);
    for (i = 2; i < argc; i++) {
        if ((err = parse_member_option(cmd, g, m, argv[i])) != NULL) {
            return err;
        }
    }
    return NULL;
}

static const char *parse_group(cmd_parms *cmd, apr_array_header_t *groups,
                               int argc, char *const argv[])
{
    const revproxy_group *dup;
    revproxy_group *g;
    const char *err;
    int i;

    if (argc < 1) {
        return apr_psprintf(cmd->pool, "%s needs a name", cmd->cmd->name);
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
    g->hcmethod = "GET";
    g->hcfails = g->hcpasses = 1;
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
            if (err == NULL) {
                err = duplicate_member(cmd->pool, g, m);
            }
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
    /* A group without members fails in check_config, once the
     * RevProxyMember lines have had their say. */
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

static const char *set_status_manage(cmd_parms *cmd, void *dv, int on)
{
    (void)cmd;
    ((revproxy_dir_conf *)dv)->status_manage = on;
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Direct invocation (mod_revproxy.h: revproxy_invoke)                     */

/* The name invoked rules go by in messages and logs. */
static const command_rec invoke_cmd = {
    "revproxy_invoke", { NULL }, NULL, 0, TAKE_ARGV, ""
};

/* Options of an invoked rule: the rules' own parser (parse_option), over
 * a cmd_parms of the request.  methods= and expr= choose requests, which
 * the caller has done, and reverse maps back to a rule's regex prefix,
 * which there is none of: refused. */
static const char *invoke_options(request_rec *r, revproxy_rule *rule,
                                  const char *options)
{
    cmd_parms cmd;
    const char *w, *err;

    memset(&cmd, 0, sizeof(cmd));
    cmd.pool = cmd.temp_pool = r->pool;
    cmd.server = r->server;
    cmd.cmd = &invoke_cmd;
    while (options && *options) {
        w = ap_getword_conf(r->pool, &options);
        if (*w == '\0') {
            break;
        }
        if (strncasecmp(w, "methods=", 8) == 0
            || strncasecmp(w, "expr=", 5) == 0) {
            return apr_psprintf(r->pool, "option '%s' cannot be used here "
                                "(the caller chose the request)", w);
        }
        if (strcasecmp(w, "reverse") == 0) {
            return "option 'reverse' needs a rule's regex (the client's "
                   "base is its literal prefix)";
        }
        if ((err = parse_option(&cmd, rule, w)) != NULL) {
            return err;
        }
    }
    return NULL;
}

/* The rule, route and target of an invocation, made per request as
 * add_rule and check_config make them at start-up.  NULL, or what is
 * wrong. */
static const char *invoke_prepare(request_rec *r, const char *url,
                                  const char *options, revproxy_req *rq)
{
    revproxy_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                    &revproxy_module);
    revproxy_rule *rule = apr_pcalloc(r->pool, sizeof(*rule));
    revproxy_route *route = apr_pcalloc(r->pool, sizeof(*route));
    const revproxy_group *g = NULL;
    const char *err, *why, *name;
    int max_group = -1;

    rule->directive = invoke_cmd.name;
    rule->pattern = url;
    rule->where = invoke_cmd.name;
    rule->tlsverify = REVPROXY_UNSET;
    rule->connect_timeout = rule->timeout = rule->send_timeout
                          = rule->ttl = REVPROXY_UNSET;
    if (url == NULL) {
        return "no URL";
    }
    err = revproxy_dest_compile(r->pool, url, &rule->dest, &max_group);
    if (err) {
        return err;
    }
    if (max_group >= 0) {
        return "a URL to invoke holds no capture reference ($N, \\N)";
    }
    if ((err = invoke_options(r, rule, options)) != NULL) {
        return err;
    }
    name = revproxy_dest_backend(rule->dest);
    if (name && (g = revproxy_backend_find(sc->groups, name)) == NULL) {
        return apr_psprintf(r->pool, "no RevProxyBackend %s in this server",
                            name);
    }
    if (revproxy_dest_expand(r->pool, rule->dest, "", NULL, -1, 0, NULL,
                             &rq->target, &why) != REVPROXY_EXPAND_OK) {
        return why;
    }
    resolve_route(sc, &sc->lim, rule, g, route);
    rq->rule = rule;
    rq->route = route;
    return NULL;
}

/* mod_revproxy.h.  The same steps as a request a rule matched, with the
 * URL as DEST (the client's query is not added) and the options of a
 * rule; a bad URL or option is the caller's mistake: 500. */
static int revproxy_invoke(request_rec *r, const char *url,
                           const char *options)
{
    revproxy_req *rq = apr_pcalloc(r->pool, sizeof(*rq));
    const char *err = invoke_prepare(r, url, options, rq);

    if (err) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RVPLOGNO(0020)
                      "revproxy_invoke(\"%s\", \"%s\"): %s; answered 500, "
                      "no backend contacted", url ? url : "(null)",
                      options ? options : "", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    r->filename = apr_pstrcat(r->pool, FILENAME_PREFIX, url, NULL);
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "revproxy_invoke: %s",
                  url);
    return proxy_request(r, rq);
}

static const char *add_cookie_pair(cmd_parms *cmd, void *dv,
                                   const char *from, const char *to)
{
    revproxy_dir_conf *dc = dv;
    apr_array_header_t **list = cmd->info ? &dc->cookie_paths
                                          : &dc->cookie_domains;
    revproxy_cookie_map *m;

    if (!revproxy_cookie_value_ok(from) || !revproxy_cookie_value_ok(to)) {
        return apr_psprintf(cmd->pool, "%s: '%s' '%s': a value with ';' or "
                            "a control character cannot be a cookie "
                            "attribute", cmd->cmd->name, from, to);
    }
    if (*list == NULL) {
        *list = apr_array_make(cmd->pool, 2, sizeof(revproxy_cookie_map));
    }
    m = apr_array_push(*list);
    m->from = from;
    m->to = to;
    return NULL;
}

static const char *set_error_override(cmd_parms *cmd, void *dv, int flag)
{
    (void)cmd;
    ((revproxy_dir_conf *)dv)->error_override = flag;
    return NULL;
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
    APR_REGISTER_OPTIONAL_FN(revproxy_invoke);
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
    AP_INIT_TAKE_ARGV("RevProxyMember", add_member, NULL, RSRC_CONF,
                      "NAME URL [option ...]: one more member of the group "
                      "NAME (weight=, standby, route=, status=, maxconns=)"),
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
    AP_INIT_FLAG("RevProxyStatusManage", set_status_manage, NULL, ACCESS_CONF,
                 "On|Off: the revproxy-status page also changes members' "
                 "states on POST (Off)"),
    AP_INIT_TAKE2("RevProxyCookieDomain", add_cookie_pair, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "FROM TO: a backend's Set-Cookie Domain=FROM becomes TO"),
    AP_INIT_TAKE2("RevProxyCookiePath", add_cookie_pair, "path",
                  RSRC_CONF | ACCESS_CONF,
                  "FROM TO: a backend's Set-Cookie Path prefix FROM becomes "
                  "TO"),
    AP_INIT_FLAG("RevProxyErrorOverride", set_error_override, NULL,
                 RSRC_CONF | ACCESS_CONF,
                 "On|Off: backend answers of 400 and more are answered by "
                 "httpd, ErrorDocument applies (Off)"),
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
