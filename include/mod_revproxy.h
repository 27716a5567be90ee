/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_revproxy.h -- what mod_revproxy offers other modules.
 *
 * Other modules can also hand the current request to mod_revproxy
 * (revproxy_invoke, at the end), as a rule would.
 *
 * mod_reproxy_filter fetches X-Reproxy-Url sources with mod_revproxy's
 * upstream client (keep-alive pool, HTTPS, timeouts, the same response
 * parser and streaming loop) through these optional functions over an
 * opaque handle -- open, read (a first piece before committing), stream,
 * close:
 *
 *   APR_OPTIONAL_FN_TYPE(revproxy_fetch_open) *open =
 *       APR_RETRIEVE_OPTIONAL_FN(revproxy_fetch_open);
 *
 * A NULL pointer means mod_revproxy is not loaded.  Check
 * revproxy_api_version() before use: a module built against a newer
 * header refuses an older mod_revproxy.
 */
#ifndef MOD_REVPROXY_H
#define MOD_REVPROXY_H

#include "httpd.h"
#include "apr_optional.h"
#include "apr_buckets.h"
#include "util_filter.h"

/* 2: revproxy_fetch_*; 3: revproxy_invoke */
#define REVPROXY_API_VERSION 3

typedef struct revproxy_fetch revproxy_fetch;

typedef struct revproxy_fetch_opts {
    const char *method;             /* "GET" or "HEAD" */
    apr_table_t *headers;           /* fields to send; Host comes from the
                                       URL; hop-by-hop ones are dropped */
    apr_interval_time_t timeout;    /* connect limit and each wait */
} revproxy_fetch_opts;

/* The version of this interface mod_revproxy implements. */
APR_DECLARE_OPTIONAL_FN(int, revproxy_api_version, (void));

/* Fetch url (http:// or https://) for r: connect (or reuse a pooled
 * connection), send the request and read the response head.  On
 * APR_SUCCESS, *f is open and *status / *headers (hop-by-hop removed,
 * allocated from r->pool) describe the answer.  Otherwise *why says what
 * failed (e.g. "connect to 10.0.0.1:80 failed", "timed out"). */
APR_DECLARE_OPTIONAL_FN(apr_status_t, revproxy_fetch_open,
                        (request_rec *r, const char *url,
                         const revproxy_fetch_opts *opts, revproxy_fetch **f,
                         int *status, apr_table_t **headers,
                         const char **why));

/* Append the next piece of the body to bb (bucket memory of
 * r->connection, no copy).  nonblock: APR_EAGAIN when nothing is ready.
 * APR_EOF when the body is complete (bb may hold its last data); any
 * other status is a failure, and revproxy_fetch_close returns its text.
 * Without nonblock, each wait is bounded by opts->timeout. */
APR_DECLARE_OPTIONAL_FN(apr_status_t, revproxy_fetch_read,
                        (revproxy_fetch *f, apr_bucket_brigade *bb,
                         int nonblock));

/* Stream the rest of the body to next (the filter after the caller's),
 * the way mod_revproxy's handler streams its answers: bb's data first,
 * then what arrives, FLUSH when the source pauses, EOS at the end.  With
 * expect >= 0 the body must be that long in all, else it is a failure
 * ("body of N bytes contradicts <expect_name> M").  When the source fails
 * the response ends with an error bucket, so the client connection is
 * aborted.  Returns APR_SUCCESS, APR_ECONNABORTED when the client went
 * away, or another status for a failure of the source (see
 * revproxy_fetch_close). */
APR_DECLARE_OPTIONAL_FN(apr_status_t, revproxy_fetch_stream,
                        (revproxy_fetch *f, ap_filter_t *next,
                         apr_bucket_brigade *bb, apr_off_t expect,
                         const char *expect_name));

/* Close f: the connection returns to the pool when the body was read to
 * its end, and is closed otherwise.  Returns the failure text of the
 * fetch, or NULL when it ended cleanly. */
APR_DECLARE_OPTIONAL_FN(const char *, revproxy_fetch_close,
                        (revproxy_fetch *f));

/* Proxy r to url as a RevProxyPass rule would: url is a DEST without
 * capture references (http://, https://, backend://NAME/PATH or
 * unix:/PATH|http://HOST/PATH; the client's query is not added), options
 * those of a rule, separated by spaces ("keephost timeout=5s"; methods=
 * and expr= are refused).  Call it from a content handler, at most once
 * per request, before anything was sent to the client or read of its
 * body.  The backend's answer is streamed to the client as the handler
 * streams it.  Returns OK when an answer went out (the backend's, even if
 * its body failed midway: the connection is then aborted), or an HTTP
 * status for the caller to return from its handler: 500 for a bad url or
 * option (logged, no backend contacted), 502/503/504 as for a rule. */
APR_DECLARE_OPTIONAL_FN(int, revproxy_invoke,
                        (request_rec *r, const char *url,
                         const char *options));

#endif /* MOD_REVPROXY_H */
