/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * The optional functions of mod_revproxy.h: one GET or HEAD of an
 * absolute http(s) URL on behalf of a request, with the upstream client
 * of revproxy_upstream.c (keep-alive pool, TLS, timeouts, the response
 * parser).  mod_reproxy_filter fetches its X-Reproxy-Url sources here.
 *
 * The URL is checked strictly before anything is sent, by
 * revproxy_url_parse: http or https, a host of letters, digits, '-' and
 * '.' (or an IP literal), a port 1-65535, no user info; bytes no request
 * target may hold are percent-encoded.
 */

#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"

#include "mod_revproxy.h"
#include "revproxy_private.h"
#include "revproxy_upstream.h"
#include "revproxy_url.h"

struct revproxy_fetch {
    revproxy_exchange x;
    const char *url;
    const char *why;            /* the failure, or NULL */
    int closed;
};

/* Fill x->addr, x->path and the Host field from url. */
static const char *parse_url(request_rec *r, const char *url,
                             revproxy_exchange *x, const char **hostport)
{
    revproxy_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                    &revproxy_module);
    const char *why;
    revproxy_url *u = revproxy_url_parse(r->pool, url, &why);

    if (u == NULL) {
        return why;
    }
    x->addr.https = u->https;
    x->addr.host = u->host;
    x->addr.port = u->port;
    if (x->addr.https) {
        if (sc->tls == NULL) {
            return "no TLS configuration for HTTPS";
        }
        x->addr.tls = sc->tls;
        x->addr.tls_verify = sc->tls_verify_on;
    }
    x->path = u->query ? apr_pstrcat(r->pool, u->path, "?", u->query, NULL)
                       : u->path;
    *hostport = u->hostport;
    return NULL;
}

static const char *describe(revproxy_exchange *x, const char *what)
{
    char buf[120];

    if (x->rv != APR_SUCCESS && x->rv != APR_EGENERAL && x->rv != APR_EOF
        && !APR_STATUS_IS_TIMEUP(x->rv)) {
        return apr_psprintf(x->p, "%s (%s)", what ? what : "failed",
                            apr_strerror(x->rv, buf, sizeof(buf)));
    }
    return what ? what : "failed";
}

/* The access-log notes of r for a fetch that answered or failed: its
 * source's (a reproxied answer is the source's; the last fetch of the
 * request names the one whose answer or failure the client got), with
 * revproxy-attempts counting every connection of the request: its own
 * exchange's (mod_revproxy's handler set them when it served the answer
 * the filter replaces) and each fetch's.  revproxy-rule stays the
 * handler's (unset when another handler served the answer). */
static void note_fetch(request_rec *r, const revproxy_exchange *x)
{
    const char *before = apr_table_get(r->notes, "revproxy-attempts");

    revproxy_x_notes(x, r, x->fail != REVPROXY_FAIL_CLIENT, NULL,
                     before ? atoi(before) : 0, 1);
}

static int revproxy_api_version(void)
{
    return REVPROXY_API_VERSION;
}

static apr_status_t revproxy_fetch_open(request_rec *r, const char *url,
                                        const revproxy_fetch_opts *opts,
                                        revproxy_fetch **out, int *status,
                                        apr_table_t **headers,
                                        const char **why)
{
    revproxy_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                    &revproxy_module);
    revproxy_fetch *f = apr_pcalloc(r->pool, sizeof(*f));
    revproxy_exchange *x = &f->x;
    apr_table_t *extra = apr_table_make(r->pool, 1);
    const char *hostport = NULL, *err;
    apr_interval_time_t t;
    int rc;

    *out = NULL;
    *why = NULL;
    revproxy_x_init(x, r);
    f->url = url;
    err = parse_url(r, url, x, &hostport);
    if (err) {
        *why = err;
        return APR_EINVAL;
    }
    x->method = (opts && opts->method && strcmp(opts->method, "HEAD") == 0)
                ? "HEAD" : "GET";
    x->head_request = (x->method[0] == 'H');
    x->headers = opts ? opts->headers : NULL;
    apr_table_setn(extra, "Host", hostport);
    x->own = extra;
    x->send_body = 0;
    t = (opts && opts->timeout > 0) ? opts->timeout : r->server->timeout;
    x->lim = sc->lim;
    x->lim.connect_timeout = x->lim.timeout = x->lim.send_timeout = t;

    rc = revproxy_x_start(x);
    note_fetch(r, x);
    if (rc != OK) {
        *why = describe(x, x->why);
        revproxy_x_finish(x);
        return x->rv != APR_SUCCESS ? x->rv : APR_EGENERAL;
    }
    *status = x->status;
    *headers = x->resp_headers;
    *out = f;
    return APR_SUCCESS;
}

static apr_status_t revproxy_fetch_read(revproxy_fetch *f,
                                        apr_bucket_brigade *bb, int nonblock)
{
    apr_status_t rv;

    if (f->why || f->closed) {
        return APR_EGENERAL;
    }
    rv = revproxy_x_read(&f->x, bb, nonblock);
    if (rv != APR_SUCCESS && rv != APR_EOF && !APR_STATUS_IS_EAGAIN(rv)) {
        f->why = describe(&f->x, f->x.why);
    }
    return rv;
}

static apr_status_t revproxy_fetch_stream(revproxy_fetch *f,
                                          ap_filter_t *next,
                                          apr_bucket_brigade *bb,
                                          apr_off_t expect,
                                          const char *expect_name)
{
    apr_status_t rv;

    if (f->why || f->closed) {
        return APR_EGENERAL;
    }
    rv = revproxy_x_stream_to(&f->x, next, bb, expect, expect_name);
    if (rv != APR_SUCCESS && rv != APR_ECONNABORTED) {
        f->why = describe(&f->x, f->x.why);
    }
    return rv;
}

static const char *revproxy_fetch_close(revproxy_fetch *f)
{
    if (f && !f->closed) {
        f->closed = 1;
        revproxy_x_finish(&f->x);
    }
    return f ? f->why : NULL;
}

/* The functions are static: other modules reach them by name only. */
void revproxy_fetch_register(void)
{
    APR_REGISTER_OPTIONAL_FN(revproxy_api_version);
    APR_REGISTER_OPTIONAL_FN(revproxy_fetch_open);
    APR_REGISTER_OPTIONAL_FN(revproxy_fetch_read);
    APR_REGISTER_OPTIONAL_FN(revproxy_fetch_stream);
    APR_REGISTER_OPTIONAL_FN(revproxy_fetch_close);
}
