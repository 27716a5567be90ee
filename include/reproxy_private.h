/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_reproxy_filter's own records, shared by its glue
 * (mod_reproxy_filter.c: configuration, hooks, the filter's decide/sink
 * state machine and the response head) and its sources
 * (reproxy_source.c: X-Reproxy-Url fetches and X-Reproxy-File).
 * Not for other modules.
 */
#ifndef REPROXY_PRIVATE_H
#define REPROXY_PRIVATE_H

#include "httpd.h"
#include "http_config.h"
#include "util_filter.h"

#include "mod_revproxy.h"

extern module AP_MODULE_DECLARE_DATA reproxy_filter_module;

/* Log tags: REPROXYLOGNO(0200) -> "RVP0200: " (RVP0200..RVP0299). */
#define REPROXYLOGNO(n) "RVP" #n ": "

#define FILTER_NAME       "REPROXY"
#define CAPABILITIES      "X-Proxy-Capabilities"
#define CAPABILITY_VALUE  "reproxy-file"
#define H_URL             "X-Reproxy-Url"
#define H_FILE            "X-Reproxy-File"
#define H_EXPECTED        "X-Reproxy-Expected-Size"
#define H_FETCH           "X-Reproxy-Fetch"
#define RESERVED_PREFIX   "X-Reproxy-"

#define MAX_URLS              16
#define MAX_REDIRECTS_LIMIT   20
#define REPROXY_REDIRECTS_DFLT 5
#define REPROXY_TIMEOUT_DFLT   apr_time_from_sec(30)
#define MARKER_BYTES           16

/* mod_headers' output filter: Header set/add/append/unset/edit, "always"
 * or not, applied to the head as it passes. */
#define HEADERS_FILTER_NAME    "FIXUP_HEADERS_OUT"

#define UNSET (-1)

#if AP_MODULE_MAGIC_AT_LEAST(20120211, 132)
#define set_type(r, ct, trusted) ap_set_content_type_ex((r), (ct), (trusted))
#else
#define set_type(r, ct, trusted) ap_set_content_type((r), (ct))
#endif

typedef struct reproxy_dir_conf {
    int allow;                      /* AllowReproxy: UNSET, 0, 1 */
    apr_array_header_t *preserve;   /* PreserveHeaders: const char * */
    /* ReproxyAllow: one list (apr_array_header_t * of ap_regex_t *) per
     * section that set one, outermost first; a URL must match an entry of
     * every list.  A section's own directives fill its one list. */
    apr_array_header_t *allow_lists;
    int max_redirects;              /* UNSET or 0..MAX_REDIRECTS_LIMIT */
    apr_array_header_t *forward;    /* ReproxyForwardHeaders; NULL: unset */
    apr_interval_time_t timeout;    /* UNSET or > 0 */
    apr_array_header_t *roots;      /* ReproxyFileRoot: resolved dirs */
} reproxy_dir_conf;

/* Per-request state of one reproxy run. */
typedef struct reproxy_run {
    request_rec *r;
    ap_filter_t *f;
    reproxy_dir_conf *dc;
    const char *file;               /* X-Reproxy-File, or NULL */
    apr_array_header_t *urls;       /* X-Reproxy-Url, const char * */
    int urls_dropped;               /* beyond MAX_URLS */
    apr_off_t expected;             /* X-Reproxy-Expected-Size, or -1 */
    apr_table_t *keep;              /* PreserveHeaders values found */
    apr_table_t *fwd;               /* fields sent with each fetch */
    int fwd_conditional;            /* If-None-Match/-Modified-Since sent */
    int fwd_range;                  /* Range sent */
    apr_array_header_t *failures;   /* "SOURCE: why" */
    apr_bucket_brigade *bb;
} reproxy_run;

/* Outcomes of trying one source. */
#define SRC_FAILED 0                /* nothing sent: try the next one */
#define SRC_DONE   1                /* a response went out (or tried to) */


/* mod_revproxy's client (mod_reproxy_filter.c sets them in check_config,
 * when mod_revproxy is loaded). */
extern APR_OPTIONAL_FN_TYPE(revproxy_fetch_open) *reproxy_fetch_open;
extern APR_OPTIONAL_FN_TYPE(revproxy_fetch_read) *reproxy_fetch_read;
extern APR_OPTIONAL_FN_TYPE(revproxy_fetch_stream) *reproxy_fetch_stream;
extern APR_OPTIONAL_FN_TYPE(revproxy_fetch_close) *reproxy_fetch_close;

/* mod_reproxy_filter.c, for the sources: */

/* Note that source failed and why (for the 502's log line). */
void reproxy_fail(reproxy_run *rr, const char *source, const char *why);

/* The failures noted so far, as one line. */
const char *reproxy_failures_text(reproxy_run *rr);

/* Whether url passes every ReproxyAllow list along the way. */
int reproxy_allowed(const reproxy_dir_conf *dc, const char *url);

/* The head for a new answer: the fields set before the handler, status. */
void reproxy_reset_head(reproxy_run *rr, int status);

/* A fetched answer's head becomes ours (its fields over those set before
 * the handler, then PreserveHeaders over its). */
void reproxy_set_head(reproxy_run *rr, int status, apr_table_t *h);

/* PreserveHeaders of the original over the head set so far. */
void reproxy_apply_preserved(reproxy_run *rr);

/* The admin's Header directives again, for the head that goes out. */
void reproxy_admin_fields_again(reproxy_run *rr);

/* An error response through httpd's error path (ErrorDocument). */
apr_status_t reproxy_send_error(reproxy_run *rr, int status);

/* reproxy_source.c, for the glue: try one source.  SRC_DONE when a
 * response went out (or tried to), SRC_FAILED (noted) otherwise. */
int reproxy_try_url(reproxy_run *rr, const char *url);
int reproxy_try_file(reproxy_run *rr);

#endif /* REPROXY_PRIVATE_H */
