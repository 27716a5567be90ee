/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_reproxy_filter -- perlbal-style reproxying.
 *
 *   <Location "/downloads">
 *       AllowReproxy On
 *       PreserveHeaders Content-Type Content-Disposition
 *       ReproxyAllow "^http://storage[0-9]+\.internal(:[0-9]+)?/"
 *   </Location>
 *
 * Where AllowReproxy is On, every request carries
 * "X-Proxy-Capabilities: reproxy-file" to whatever serves it (a client's
 * own copy is always removed).  The output filter REPROXY looks at the
 * first brigade of the response: a 2xx carrying X-Reproxy-File and/or
 * X-Reproxy-Url is replaced by the first of those sources that works.
 * The original body is swallowed, up to and including its EOS; the
 * chosen source's status, headers and body are streamed instead, with
 * the original's PreserveHeaders on top.  URLs are fetched with
 * mod_revproxy's client (mod_revproxy.h), files are served as httpd's
 * default handler would serve them.
 *
 * Every fetch carries X-Reproxy-Fetch with a random token of this
 * generation: a fetch that reaches this server again (any virtual host)
 * is recognised by it, gets no X-Proxy-Capabilities, and its answer's
 * X-Reproxy-* fields are dropped, so a URL pointing back here costs one
 * fetch instead of nesting.  Clients never get to send the field.
 *
 * This file is httpd glue only: configuration, hooks and the filter.
 */

#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_optional.h"
#include "apr_portable.h"
#include "apr_general.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "ap_regex.h"

#include "mod_revproxy.h"
#include "revproxy_util.h"
#include "revproxy_url.h"
#include "reproxy_private.h"

/* Sent with each fetch unless ReproxyForwardHeaders says otherwise. */
static const char *const default_forward[] = {
    "Range", "If-Range", "If-Modified-Since", "If-None-Match", NULL
};

/* Never sent with a fetch: credentials, our own marker, and the fields
 * that describe the client's connection or message rather than the
 * resource. */
static const char *const never_forward[] = {
    "Cookie", "Authorization", "Proxy-Authorization", CAPABILITIES, H_FETCH,
    "Host",
    "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
    "Proxy-Connection", "TE", "Trailer", "Upgrade", "Expect", NULL
};

/* Never taken from the original: they describe its body, not ours. */
static const char *const never_preserve[] = {
    "Content-Length", "Transfer-Encoding", "Content-Range", "Connection",
    "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade", NULL
};

/* mod_revproxy's client, when it is loaded (check_config). */
APR_OPTIONAL_FN_TYPE(revproxy_fetch_open) *reproxy_fetch_open;
APR_OPTIONAL_FN_TYPE(revproxy_fetch_read) *reproxy_fetch_read;
APR_OPTIONAL_FN_TYPE(revproxy_fetch_stream) *reproxy_fetch_stream;
APR_OPTIONAL_FN_TYPE(revproxy_fetch_close) *reproxy_fetch_close;
static int fetch_ready;

/* Where "AllowReproxy On" first appears in the main configuration, for
 * the check that mod_revproxy is loaded.  Reset by pre_config. */
static const char *allow_on_at;

static ap_filter_rec_t *reproxy_filter_handle;
static ap_filter_rec_t *strip_filter_handle;

/* mod_headers' output filter, NULL when it is not loaded (post_config). */
static ap_filter_rec_t *headers_filter_handle;

/* This generation's loop marker, in hex (post_config); the parent makes
 * it before the children start, so all of them send and know the same. */
static char fetch_marker[2 * MARKER_BYTES + 1];

/* Per request (r->request_config) when the request is one of our own
 * fetches. */
typedef struct reproxy_req {
    int own_fetch;
} reproxy_req;

/* The filter's state. */
#define ST_DECIDE 0                 /* first brigade not seen yet */
#define ST_SINK   1                 /* triggered: the original is dropped */

typedef struct reproxy_ctx {
    int state;
    /* The head as it was when the handler was about to run: what other
     * modules set there for every response, which the reproxied answer
     * keeps.  NULL: empty. */
    apr_table_t *before_out;
    apr_table_t *before_err;
    int headers_filter;             /* mod_headers' filter is in the chain */
} reproxy_ctx;

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */

static int in_list(const char *name, const char *const *list)
{
    for (; *list; list++) {
        if (strcasecmp(name, *list) == 0) {
            return 1;
        }
    }
    return 0;
}

static int is_reserved(const char *name)
{
    return strncasecmp(name, RESERVED_PREFIX, sizeof(RESERVED_PREFIX) - 1)
           == 0;
}

/* Remove every X-Reproxy-* field from t. */
static void strip_reserved(apr_table_t *t)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    for (i = arr->nelts - 1; i >= 0; i--) {
        if (e[i].key && is_reserved(e[i].key)) {
            apr_table_unset(t, e[i].key);
            arr = apr_table_elts(t);
            e = (const apr_table_entry_t *)arr->elts;
            if (i > arr->nelts) {
                i = arr->nelts;
            }
        }
    }
}

static int push_value(void *rec, const char *key, const char *value)
{
    (void)key;
    *(const char **)apr_array_push((apr_array_header_t *)rec) = value;
    return 1;
}

/* Every value of name in headers_out and err_headers_out (where CGI
 * leaves its fields). */
static apr_array_header_t *values_of(request_rec *r, const char *name)
{
    apr_array_header_t *v = apr_array_make(r->pool, 2, sizeof(char *));

    apr_table_do(push_value, v, r->headers_out, name, NULL);
    apr_table_do(push_value, v, r->err_headers_out, name, NULL);
    return v;
}

/* The first value of name that is not empty, trimmed; NULL if none. */
static const char *first_value(request_rec *r, const char *name)
{
    apr_array_header_t *v = values_of(r, name);
    int i;

    for (i = 0; i < v->nelts; i++) {
        const char *s = APR_ARRAY_IDX(v, i, const char *), *e;
        while (apr_isspace(*s)) {
            s++;
        }
        e = s + strlen(s);
        while (e > s && apr_isspace(e[-1])) {
            e--;
        }
        if (e > s) {
            return apr_pstrmemdup(r->pool, s, e - s);
        }
    }
    return NULL;
}

/* The URLs of every X-Reproxy-Url value, split on whitespace.  Repeated
 * fields that httpd joined with ", " (as CGI's are) split back apart. */
static void collect_urls(reproxy_run *rr)
{
    apr_array_header_t *v = values_of(rr->r, H_URL);
    int i;

    for (i = 0; i < v->nelts; i++) {
        const char *value = APR_ARRAY_IDX(v, i, const char *);
        rr->urls_dropped += revproxy_url_split(rr->r->pool, value, rr->urls,
                                               MAX_URLS);
    }
}

const char *reproxy_failures_text(reproxy_run *rr)
{
    return apr_array_pstrcat(rr->r->pool, rr->failures, ';');
}

void reproxy_fail(reproxy_run *rr, const char *source, const char *why)
{
    *(const char **)apr_array_push(rr->failures) =
        apr_psprintf(rr->r->pool, " %s: %s", source, why);
}

/* ---------------------------------------------------------------------- */
/* URLs: ReproxyAllow sees the normal form (revproxy_url.c) that is fetched */

/* url must match one entry of every ReproxyAllow list set along the way
 * (none set: any URL): an inner section or .htaccess can only narrow. */
int reproxy_allowed(const reproxy_dir_conf *dc, const char *url)
{
    int i, j;

    for (i = 0; dc->allow_lists && i < dc->allow_lists->nelts; i++) {
        const apr_array_header_t *list =
            APR_ARRAY_IDX(dc->allow_lists, i, const apr_array_header_t *);

        for (j = 0; j < list->nelts; j++) {
            if (ap_regexec(APR_ARRAY_IDX(list, j, ap_regex_t *), url, 0,
                           NULL, 0) == 0) {
                break;
            }
        }
        if (j == list->nelts) {
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------------- */
/* The response head                                                       */

/* Set aside the original's PreserveHeaders before it is dropped. */
static void keep_preserved(reproxy_run *rr)
{
    request_rec *r = rr->r;
    apr_array_header_t *pr = rr->dc->preserve;
    int i, j;

    rr->keep = apr_table_make(r->pool, 4);
    for (i = 0; pr && i < pr->nelts; i++) {
        const char *name = APR_ARRAY_IDX(pr, i, const char *);
        apr_array_header_t *v;

        if (strcasecmp(name, "Content-Type") == 0) {
            const char *ct = r->content_type
                             ? r->content_type
                             : apr_table_get(r->headers_out, name);
            if (ct) {
                apr_table_setn(rr->keep, name, ct);
            }
            continue;
        }
        v = values_of(r, name);
        if (v->nelts == 0 && strcasecmp(name, "Content-Encoding") == 0
            && r->content_encoding) {
            *(const char **)apr_array_push(v) = r->content_encoding;
        }
        if (v->nelts == 0 && strcasecmp(name, "Content-Language") == 0
            && r->content_languages && r->content_languages->nelts) {
            *(const char **)apr_array_push(v) =
                apr_array_pstrcat(r->pool, r->content_languages, ',');
        }
        for (j = 0; j < v->nelts; j++) {
            apr_table_addn(rr->keep, name, APR_ARRAY_IDX(v, j, const char *));
        }
    }
}

static int copy_field(void *rec, const char *key, const char *value)
{
    apr_table_addn((apr_table_t *)rec, key, value);
    return 1;
}

/* The original response is gone: start a head with what other modules
 * had set before the handler ran (as httpd keeps err_headers_out when an
 * error replaces a response) and nothing of the original's own. */
void reproxy_reset_head(reproxy_run *rr, int status)
{
    request_rec *r = rr->r;
    reproxy_ctx *ctx = rr->f->ctx;

    apr_table_clear(r->headers_out);
    apr_table_clear(r->err_headers_out);
    if (ctx->before_out) {
        apr_table_do(copy_field, r->headers_out, ctx->before_out, NULL);
        strip_reserved(r->headers_out);
    }
    if (ctx->before_err) {
        apr_table_do(copy_field, r->err_headers_out, ctx->before_err, NULL);
        strip_reserved(r->err_headers_out);
    }
    r->content_type = NULL;
    r->content_encoding = NULL;
    r->content_languages = NULL;
    r->clength = 0;
    r->status = status;
    r->status_line = NULL;
    /* Our response, not a proxied one: httpd writes Date and Server. */
    r->proxyreq = PROXYREQ_NONE;
}

static int put_preserved(void *rec, const char *key, const char *value)
{
    request_rec *r = rec;

    if (strcasecmp(key, "Content-Type") == 0) {
        set_type(r, value, 0);
    }
    else {
        apr_table_addn(r->headers_out, key, value);
    }
    return 1;
}

/* The original's PreserveHeaders replace the new response's. */
void reproxy_apply_preserved(reproxy_run *rr)
{
    const apr_array_header_t *arr = apr_table_elts(rr->keep);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        apr_table_unset(rr->r->headers_out, e[i].key);
    }
    apr_table_do(put_preserved, rr->r, rr->keep, NULL);
}

/* The fields of a source that never reach the client: its X-Reproxy-*
 * (a reproxied answer is not followed) and its cookies, which would be
 * set under the application's origin by a storage server. */
static int source_only(const char *name)
{
    return is_reserved(name) || strcasecmp(name, "Set-Cookie") == 0
           || strcasecmp(name, "Set-Cookie2") == 0;
}

/* A fetched answer's head becomes ours: its fields replace those of the
 * same name set before the handler, then PreserveHeaders replace its. */
void reproxy_set_head(reproxy_run *rr, int status, apr_table_t *h)
{
    request_rec *r = rr->r;
    const apr_array_header_t *arr = apr_table_elts(h);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    reproxy_reset_head(rr, status);
    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key && !source_only(e[i].key)) {
            apr_table_unset(r->headers_out, e[i].key);
        }
    }
    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key == NULL || source_only(e[i].key)) {
            continue;
        }
        if (strcasecmp(e[i].key, "Content-Type") == 0) {
            set_type(r, e[i].val, 0);
        }
        else {
            apr_table_addn(r->headers_out, e[i].key, e[i].val);
        }
    }
    reproxy_apply_preserved(rr);
}

/* The head that goes out is ours now.  mod_headers applied the admin's
 * Header directives to the original's head (its filter runs before ours,
 * so that "Header set X-Reproxy-Url" can ask for reproxying), and that
 * head is gone: its filter goes in again after ours to apply them to this
 * one, as to any other response, followed by ours that removes whatever
 * X-Reproxy-* field they set again. */
void reproxy_admin_fields_again(reproxy_run *rr)
{
    request_rec *r = rr->r;
    reproxy_ctx *ctx = rr->f->ctx;

    if (ctx->headers_filter && headers_filter_handle) {
        ap_add_output_filter_handle(headers_filter_handle, NULL, r,
                                    r->connection);
    }
    ap_add_output_filter_handle(strip_filter_handle, NULL, r, r->connection);
}

/* ---------------------------------------------------------------------- */
/* Sending                                                                 */

/* After an error bucket made httpd answer through ap_die(), the output
 * chain starts at the protocol filters again: put a sink in front so
 * that whatever the handler still passes of the original body is
 * dropped rather than written after the error page. */
static void ensure_sink(ap_filter_t *f)
{
    request_rec *r = f->r;
    ap_filter_t *g;
    reproxy_ctx *ctx;

    for (g = r->output_filters; g; g = g->next) {
        if (g == f) {
            return;
        }
    }
    ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    ctx->state = ST_SINK;
    ap_add_output_filter_handle(reproxy_filter_handle, ctx, r, r->connection);
}

/* An error response through httpd's error path (ErrorDocument and all).
 * ap_die() directly, as httpd's header filter would for an error bucket:
 * that filter first folds err_headers_out into the response it then
 * abandons, which would lose the fields other modules set for every
 * response (they are in err_headers_out again after reset_head). */
apr_status_t reproxy_send_error(reproxy_run *rr, int status)
{
    request_rec *r = rr->r;

    apr_brigade_cleanup(rr->bb);
    reproxy_reset_head(rr, HTTP_OK);
    ap_die(status, r);
    ensure_sink(rr->f);
    return AP_FILTER_ERROR;
}

/* ---------------------------------------------------------------------- */
/* The filter                                                              */

/* The client's fields named by ReproxyForwardHeaders. */
static void forward_fields(reproxy_run *rr)
{
    request_rec *r = rr->r;
    apr_array_header_t *names = rr->dc->forward;
    const char *const *dflt = default_forward;
    int i;

    rr->fwd = apr_table_make(r->pool, 4);
    for (i = 0; names ? i < names->nelts : dflt[i] != NULL; i++) {
        const char *name = names ? APR_ARRAY_IDX(names, i, const char *)
                                 : dflt[i];
        if (in_list(name, never_forward) || apr_table_get(rr->fwd, name)) {
            continue;
        }
        apr_table_do(copy_field, rr->fwd, r->headers_in, name, NULL);
    }
    /* The loop marker: this server, reached again, knows the fetch. */
    apr_table_setn(rr->fwd, H_FETCH, fetch_marker);
    rr->fwd_conditional = apr_table_get(rr->fwd, "If-None-Match") != NULL
                       || apr_table_get(rr->fwd, "If-Modified-Since") != NULL;
    rr->fwd_range = apr_table_get(rr->fwd, "Range") != NULL;
}

/* The original response asked for reproxying: produce exactly one
 * response from its sources. */
static apr_status_t reproxy(reproxy_run *rr)
{
    request_rec *r = rr->r;
    int i;

    /* Step One: what to send with each fetch; what survives of the
     * original. */
    forward_fields(rr);
    keep_preserved(rr);
    if (rr->urls_dropped) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, REPROXYLOGNO(0207)
                      H_URL " has more than %d URLs; %d ignored", MAX_URLS,
                      rr->urls_dropped);
    }

    /* Step Two: X-Reproxy-File first, as perlbal does. */
    if (rr->file) {
        if (reproxy_try_file(rr) == SRC_DONE) {
            return APR_SUCCESS;
        }
    }

    /* Step Three: each URL in turn. */
    for (i = 0; i < rr->urls->nelts; i++) {
        const char *url = APR_ARRAY_IDX(rr->urls, i, const char *);
        if (!fetch_ready) {
            reproxy_fail(rr, url, "mod_revproxy is not loaded");
            continue;
        }
        if (reproxy_try_url(rr, url) == SRC_DONE) {
            return APR_SUCCESS;
        }
    }

    /* Step Four: nothing worked. */
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, REPROXYLOGNO(0200)
                  "reproxy of %s failed, answered 502; every source "
                  "failed:%s", r->uri, reproxy_failures_text(rr));
    return reproxy_send_error(rr, HTTP_BAD_GATEWAY);
}

static apr_status_t reproxy_out_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    reproxy_ctx *ctx = f->ctx;
    reproxy_run *rr;
    apr_status_t rv;

    if (ctx == NULL) {
        ctx = f->ctx = apr_pcalloc(r->pool, sizeof(*ctx));
        ctx->state = ST_DECIDE;
    }
    if (ctx->state == ST_SINK) {
        /* Everything of the original after the first brigade, its EOS
         * included: the client gets one response, ours. */
        apr_brigade_cleanup(bb);
        return r->connection->aborted ? APR_ECONNABORTED : APR_SUCCESS;
    }

    /* The first brigade: the head is complete, decide now. */
    rr = apr_pcalloc(r->pool, sizeof(*rr));
    rr->r = r;
    rr->f = f;
    rr->dc = ap_get_module_config(r->per_dir_config, &reproxy_filter_module);
    rr->urls = apr_array_make(r->pool, 4, sizeof(const char *));
    rr->failures = apr_array_make(r->pool, 4, sizeof(const char *));
    rr->expected = -1;
    if (ap_is_HTTP_SUCCESS(r->status)) {
        const char *size = first_value(r, H_EXPECTED);
        rr->file = first_value(r, H_FILE);
        collect_urls(rr);
        if (size && !ap_parse_strict_length(&rr->expected, size)) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, REPROXYLOGNO(0208)
                          "ignoring invalid " H_EXPECTED " '%s'", size);
            rr->expected = -1;
        }
    }
    /* Never to the client, whatever happens next. */
    strip_reserved(r->headers_out);
    strip_reserved(r->err_headers_out);

    if (rr->file == NULL && rr->urls->nelts == 0) {
        ap_remove_output_filter(f);
        return ap_pass_brigade(f->next, bb);
    }

    /* Triggered: the original body is dropped, now and later. */
    ctx->state = ST_SINK;
    apr_brigade_cleanup(bb);
    rr->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    rv = reproxy(rr);
    apr_brigade_destroy(rr->bb);
    return rv;
}

/* Only the X-Reproxy-* fields removed: for error responses (ap_die skips
 * the content filters), and for the answers to our own fetches, which are
 * never reproxied. */
static apr_status_t reproxy_strip_filter(ap_filter_t *f,
                                         apr_bucket_brigade *bb)
{
    strip_reserved(f->r->headers_out);
    strip_reserved(f->r->err_headers_out);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* ---------------------------------------------------------------------- */
/* Hooks                                                                   */

static reproxy_dir_conf *dir_conf(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &reproxy_filter_module);
}

/* Whether value is this generation's marker; the time taken does not
 * depend on where a guess goes wrong (apr_crypto_equals would need
 * APU_HAVE_CRYPTO). */
static int is_marker(const char *value)
{
    unsigned char diff = 0;
    apr_size_t i;

    if (strlen(value) != sizeof(fetch_marker) - 1) {
        return 0;
    }
    for (i = 0; i < sizeof(fetch_marker) - 1; i++) {
        diff |= (unsigned char)(value[i] ^ fetch_marker[i]);
    }
    return diff == 0;
}

/* Whether r is one of our own fetches, also after an internal redirect
 * (the marker was noted on the request as it was read). */
static int own_fetch(request_rec *r)
{
    reproxy_req *rq;

    for (;;) {
        if (r->main) {
            r = r->main;
        }
        else if (r->prev) {
            r = r->prev;
        }
        else {
            break;
        }
    }
    rq = ap_get_module_config(r->request_config, &reproxy_filter_module);
    return rq && rq->own_fetch;
}

/* A client can claim neither capabilities nor to be one of our fetches:
 * both fields go, after the marker was noted.  Nothing behind this
 * server ever sees the marker either. */
static int reproxy_post_read_request(request_rec *r)
{
    const char *marker = apr_table_get(r->headers_in, H_FETCH);

    if (marker) {
        if (is_marker(marker)) {
            reproxy_req *rq = apr_pcalloc(r->pool, sizeof(*rq));
            rq->own_fetch = 1;
            ap_set_module_config(r->request_config, &reproxy_filter_module,
                                 rq);
        }
        apr_table_unset(r->headers_in, H_FETCH);
    }
    apr_table_unset(r->headers_in, CAPABILITIES);
    return DECLINED;
}

/* Once the per-directory configuration is known (after an internal
 * redirect too), tell the handler, whatever it is, what we can do.  Not
 * on our own fetches: what they get is never reproxied. */
static int reproxy_header_parser(request_rec *r)
{
    apr_table_unset(r->headers_in, CAPABILITIES);
    if (dir_conf(r)->allow == 1 && fetch_ready && !own_fetch(r)) {
        apr_table_setn(r->headers_in, CAPABILITIES, CAPABILITY_VALUE);
    }
    return DECLINED;
}

/* Where reproxying is On, the answer to one of our own fetches only loses
 * its X-Reproxy-* fields: following them would nest one fetch in another
 * for as long as the URLs lead back here. */
static void reproxy_insert_filter(request_rec *r)
{
    reproxy_ctx *ctx;
    ap_filter_t *f;

    if (r->main || dir_conf(r)->allow != 1) {
        return;
    }
    if (own_fetch(r)) {
        ap_add_output_filter_handle(strip_filter_handle, NULL, r,
                                    r->connection);
        return;
    }
    /* The handler is about to run: what the head holds now was set by
     * other modules for every response, not by the origin. */
    ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    ctx->state = ST_DECIDE;
    if (!apr_is_empty_table(r->headers_out)) {
        ctx->before_out = apr_table_copy(r->pool, r->headers_out);
    }
    if (!apr_is_empty_table(r->err_headers_out)) {
        ctx->before_err = apr_table_copy(r->pool, r->err_headers_out);
    }
    for (f = r->output_filters; f && headers_filter_handle; f = f->next) {
        if (f->frec == headers_filter_handle) {
            ctx->headers_filter = 1;
            break;
        }
    }
    ap_add_output_filter_handle(reproxy_filter_handle, ctx, r,
                                r->connection);
}

static void reproxy_insert_error_filter(request_rec *r)
{
    if (r->main == NULL && dir_conf(r)->allow == 1) {
        ap_add_output_filter_handle(strip_filter_handle, NULL, r,
                                    r->connection);
    }
}

static void retrieve_fetch_fns(void)
{
    APR_OPTIONAL_FN_TYPE(revproxy_api_version) *version =
        APR_RETRIEVE_OPTIONAL_FN(revproxy_api_version);

    reproxy_fetch_open = APR_RETRIEVE_OPTIONAL_FN(revproxy_fetch_open);
    reproxy_fetch_read = APR_RETRIEVE_OPTIONAL_FN(revproxy_fetch_read);
    reproxy_fetch_stream = APR_RETRIEVE_OPTIONAL_FN(revproxy_fetch_stream);
    reproxy_fetch_close = APR_RETRIEVE_OPTIONAL_FN(revproxy_fetch_close);
    fetch_ready = version && version() >= REVPROXY_API_VERSION
                  && reproxy_fetch_open && reproxy_fetch_read && reproxy_fetch_stream && reproxy_fetch_close;
}

static void reproxy_optional_fn_retrieve(void)
{
    retrieve_fetch_fns();
}

static int reproxy_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp)
{
    (void)pconf;
    (void)plog;
    (void)ptemp;
    allow_on_at = NULL;
    return OK;
}

/* AllowReproxy On needs mod_revproxy's client: fail the config test. */
static int reproxy_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf;
    (void)plog;
    (void)ptemp;
    retrieve_fetch_fns();
    if (allow_on_at && !fetch_ready) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, REPROXYLOGNO(0210)
                     "AllowReproxy On (%s) needs mod_revproxy, which is not "
                     "loaded (or is older than this module): add "
                     "\"LoadModule revproxy_module modules/mod_revproxy.so\"",
                     allow_on_at);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* A new loop marker for each generation, made in the parent: every child
 * of the generation sends and recognises the same one. */
static int reproxy_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    unsigned char raw[MARKER_BYTES];
    apr_status_t rv;

    (void)pconf;
    (void)plog;
    (void)ptemp;
    rv = apr_generate_random_bytes(raw, sizeof(raw));
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, REPROXYLOGNO(0211)
                     "cannot make the random marker of reproxy fetches");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_bin2hex(raw, sizeof(raw), fetch_marker);

    headers_filter_handle = ap_get_output_filter_handle(HEADERS_FILTER_NAME);
    return OK;
}

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    reproxy_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    (void)dir;
    dc->allow = UNSET;
    dc->max_redirects = UNSET;
    dc->timeout = UNSET;
    return dc;
}

/* ReproxyAllow lists along the way: the outer ones, then the inner ones.
 * add may be a merge of several sections itself (httpd merges the
 * <Location>s of a request before it merges them into the rest), so this
 * is concatenation, which gives the same lists in any grouping; a list
 * already there (the same section merged twice) is not repeated. */
static apr_array_header_t *merge_lists(apr_pool_t *p,
                                       apr_array_header_t *base,
                                       apr_array_header_t *add)
{
    apr_array_header_t *all;
    int i, j;

    if (base == NULL || add == NULL) {
        return base ? base : add;
    }
    all = apr_array_copy(p, base);
    for (i = 0; i < add->nelts; i++) {
        void *list = APR_ARRAY_IDX(add, i, void *);
        for (j = 0; j < base->nelts; j++) {
            if (APR_ARRAY_IDX(base, j, void *) == list) {
                break;
            }
        }
        if (j == base->nelts) {
            APR_ARRAY_PUSH(all, void *) = list;
        }
    }
    return all;
}

/* An inner section inherits what it does not set; a list it sets
 * replaces the inherited one, except ReproxyAllow's, which add up. */
static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    reproxy_dir_conf *base = basev, *add = addv;
    reproxy_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    dc->allow = add->allow != UNSET ? add->allow : base->allow;
    dc->preserve = add->preserve ? add->preserve : base->preserve;
    dc->allow_lists = merge_lists(p, base->allow_lists, add->allow_lists);
    dc->max_redirects = add->max_redirects != UNSET ? add->max_redirects
                                                    : base->max_redirects;
    dc->forward = add->forward ? add->forward : base->forward;
    dc->timeout = add->timeout != UNSET ? add->timeout : base->timeout;
    dc->roots = add->roots ? add->roots : base->roots;
    return dc;
}

static int in_htaccess(cmd_parms *cmd)
{
    return cmd->pool == cmd->temp_pool;
}

static const char *set_allow(cmd_parms *cmd, void *dv, int flag)
{
    reproxy_dir_conf *dc = dv;

    dc->allow = flag;
    if (flag && allow_on_at == NULL && !in_htaccess(cmd)) {
        allow_on_at = cmd->directive
                      ? apr_psprintf(cmd->pool, "%s:%d",
                                     cmd->directive->filename,
                                     cmd->directive->line_num)
                      : "?";
    }
    return NULL;
}

static int token_ok(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (; *s; s++) {
        if (*s <= 0x20 || *s >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *s)) {
            return 0;
        }
    }
    return 1;
}

static const char *add_preserve(cmd_parms *cmd, void *dv, const char *name)
{
    reproxy_dir_conf *dc = dv;

    if (!token_ok(name)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a header name",
                            cmd->cmd->name, name);
    }
    if (is_reserved(name) || in_list(name, never_preserve)) {
        return apr_psprintf(cmd->pool, "%s: %s cannot be preserved (it "
                            "describes the original message or is ours)",
                            cmd->cmd->name, name);
    }
    if (dc->preserve == NULL) {
        dc->preserve = apr_array_make(cmd->pool, 4, sizeof(const char *));
    }
    *(const char **)apr_array_push(dc->preserve) = name;
    return NULL;
}

static const char *add_allow_re(cmd_parms *cmd, void *dv, const char *re)
{
    reproxy_dir_conf *dc = dv;
    ap_regex_t *compiled = ap_pregcomp(cmd->pool, re, 0);
    apr_array_header_t *list;

    if (compiled == NULL) {
        return apr_psprintf(cmd->pool, "%s: cannot compile regular "
                            "expression '%s'", cmd->cmd->name, re);
    }
    /* The directives of one section form one list: any entry will do. */
    if (dc->allow_lists == NULL) {
        dc->allow_lists = apr_array_make(cmd->pool, 1,
                                         sizeof(apr_array_header_t *));
        APR_ARRAY_PUSH(dc->allow_lists, apr_array_header_t *) =
            apr_array_make(cmd->pool, 4, sizeof(ap_regex_t *));
    }
    list = APR_ARRAY_IDX(dc->allow_lists, 0, apr_array_header_t *);
    APR_ARRAY_PUSH(list, ap_regex_t *) = compiled;
    return NULL;
}

static const char *set_max_redirects(cmd_parms *cmd, void *dv,
                                     const char *arg)
{
    reproxy_dir_conf *dc = dv;
    const char *s = arg;
    int n = 0;

    for (; *s; s++) {
        if (!apr_isdigit(*s) || n > MAX_REDIRECTS_LIMIT) {
            break;
        }
        n = n * 10 + (*s - '0');
    }
    if (*arg == '\0' || *s || n > MAX_REDIRECTS_LIMIT) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a number from 0 to "
                            "%d", cmd->cmd->name, arg, MAX_REDIRECTS_LIMIT);
    }
    dc->max_redirects = n;
    return NULL;
}

static const char *add_forward(cmd_parms *cmd, void *dv, const char *name)
{
    reproxy_dir_conf *dc = dv;

    /* Repeated directives add; "none" alone means no field at all. */
    if (dc->forward == NULL) {
        dc->forward = apr_array_make(cmd->pool, 4, sizeof(const char *));
    }
    if (strcasecmp(name, "none") == 0) {
        if (dc->forward->nelts) {
            return apr_psprintf(cmd->pool, "%s: 'none' cannot be combined "
                                "with header names", cmd->cmd->name);
        }
        return NULL;
    }
    if (!token_ok(name)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a header name",
                            cmd->cmd->name, name);
    }
    if (in_list(name, never_forward)) {
        return apr_psprintf(cmd->pool, "%s: %s is never forwarded",
                            cmd->cmd->name, name);
    }
    *(const char **)apr_array_push(dc->forward) = name;
    return NULL;
}

static const char *set_timeout(cmd_parms *cmd, void *dv, const char *arg)
{
    reproxy_dir_conf *dc = dv;
    apr_interval_time_t t;

    if (revproxy_duration_parse(arg, &t) != APR_SUCCESS || t <= 0) {
        return apr_psprintf(cmd->pool, "%s: invalid duration '%s' (a number "
                            "with an optional unit: 250ms, 2s, 1m)",
                            cmd->cmd->name, arg);
    }
    dc->timeout = t;
    return NULL;
}

static const char *add_root(cmd_parms *cmd, void *dv, const char *arg)
{
    reproxy_dir_conf *dc = dv;
    const char *path = ap_server_root_relative(cmd->temp_pool, arg);
    char *resolved;
    const char *root;
    apr_finfo_t fi;

    if (path == NULL || (resolved = realpath(path, NULL)) == NULL) {
        char buf[120];
        return apr_psprintf(cmd->pool, "%s: cannot resolve '%s' (%s)",
                            cmd->cmd->name, arg,
                            apr_strerror(errno, buf, sizeof(buf)));
    }
    root = apr_pstrdup(cmd->pool, resolved);
    free(resolved);
    if (apr_stat(&fi, root, APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS
        || fi.filetype != APR_DIR) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a directory",
                            cmd->cmd->name, arg);
    }
    if (dc->roots == NULL) {
        dc->roots = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    *(const char **)apr_array_push(dc->roots) = root;
    return NULL;
}

static void reproxy_register_hooks(apr_pool_t *p)
{
    /* After mod_headers has put its filter in: "Header set X-Reproxy-Url"
     * on a static file must be seen by ours, and ours notes whether it is
     * there, to put it in again for a reproxied head. */
    static const char *const after_headers[] = { "mod_headers.c", NULL };

    (void)p;
    reproxy_filter_handle = ap_register_output_filter(FILTER_NAME,
                                                      reproxy_out_filter,
                                                      NULL,
                                                      AP_FTYPE_CONTENT_SET);
    strip_filter_handle = ap_register_output_filter(FILTER_NAME "_STRIP",
                                                    reproxy_strip_filter,
                                                    NULL,
                                                    AP_FTYPE_CONTENT_SET);
    ap_hook_post_read_request(reproxy_post_read_request, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
    ap_hook_header_parser(reproxy_header_parser, NULL, NULL,
                          APR_HOOK_REALLY_FIRST);
    ap_hook_insert_filter(reproxy_insert_filter, after_headers, NULL,
                          APR_HOOK_LAST);
    ap_hook_insert_error_filter(reproxy_insert_error_filter, after_headers,
                                NULL, APR_HOOK_LAST);
    ap_hook_pre_config(reproxy_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(reproxy_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(reproxy_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_optional_fn_retrieve(reproxy_optional_fn_retrieve, NULL, NULL,
                                 APR_HOOK_MIDDLE);
}

static const command_rec reproxy_cmds[] = {
    AP_INIT_FLAG("AllowReproxy", set_allow, NULL, OR_FILEINFO,
                 "On|Off: replace responses carrying X-Reproxy-Url or "
                 "X-Reproxy-File by what they point to (Off)"),
    AP_INIT_ITERATE("PreserveHeaders", add_preserve, NULL, OR_FILEINFO,
                    "NAME [NAME ...]: headers of the original response that "
                    "replace the reproxied one's"),
    AP_INIT_TAKE1("ReproxyAllow", add_allow_re, NULL, OR_FILEINFO,
                  "REGEX: reproxy URLs (and redirect hops) must match one "
                  "of these (repeatable)"),
    AP_INIT_TAKE1("ReproxyMaxRedirects", set_max_redirects, NULL,
                  OR_FILEINFO, "N: redirects followed per reproxy URL (5)"),
    AP_INIT_ITERATE("ReproxyForwardHeaders", add_forward, NULL, OR_FILEINFO,
                    "NAME [NAME ...] | none: client headers sent with each "
                    "fetch (Range If-Range If-Modified-Since If-None-Match)"),
    AP_INIT_TAKE1("ReproxyTimeout", set_timeout, NULL, OR_FILEINFO,
                  "D: connect limit and limit for each wait, per fetch "
                  "(30s)"),
    /* Not in .htaccess (httpd refuses it there as it refuses what
     * AllowOverride does not permit): it reaches into the file system
     * past httpd's own access control, which is the admin's to grant. */
    AP_INIT_TAKE1("ReproxyFileRoot", add_root, NULL, ACCESS_CONF | RSRC_CONF,
                  "DIR: X-Reproxy-File may serve files below DIR "
                  "(repeatable; not in .htaccess)"),
    { NULL }
};

AP_DECLARE_MODULE(reproxy_filter) = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    merge_dir_conf,
    NULL,                       /* create per-server config */
    NULL,                       /* merge per-server config */
    reproxy_cmds,
    reproxy_register_hooks,
    AP_MODULE_FLAG_NONE
};
