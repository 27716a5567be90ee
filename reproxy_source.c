/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_reproxy_filter's sources: an X-Reproxy-Url (fetched with
 * mod_revproxy's client, redirects followed within ReproxyMaxRedirects,
 * every hop checked against ReproxyAllow, its body streamed with
 * mod_revproxy's streaming loop) and an X-Reproxy-File (below a
 * ReproxyFileRoot, opened without blocking, regular files only, served as
 * httpd's default handler serves files).  The glue in mod_reproxy_filter.c
 * decides which to try and owns the response head.
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
#include "apr_portable.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "revproxy_url.h"
#include "reproxy_private.h"

APLOG_USE_MODULE(reproxy_filter);

/* Stream a fetched body with mod_revproxy's streaming loop (pass what
 * arrived, FLUSH when the source pauses, an error bucket when it fails
 * after the head went out).  bb holds what the first read returned.
 * check: the body length X-Reproxy-Expected-Size demands when no
 * Content-Length told it beforehand, or -1. */
static void stream(reproxy_run *rr, const char *url, revproxy_fetch *fh,
                   apr_off_t check)
{
    request_rec *r = rr->r;
    apr_status_t rv = reproxy_fetch_stream(fh, rr->f->next, rr->bb, check,
                                   H_EXPECTED);
    const char *why = reproxy_fetch_close(fh);

    apr_brigade_cleanup(rr->bb);
    if (rv == APR_ECONNABORTED) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, REPROXYLOGNO(0205)
                      "client went away while reproxying %s", url);
    }
    else if (rv != APR_SUCCESS) {
        r->no_cache = 1;
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, REPROXYLOGNO(0204)
                      "reproxy source %s failed after the response head "
                      "went out: %s; client connection aborted", url,
                      why ? why : "failed");
    }
}

/* ---------------------------------------------------------------------- */
/* Sources                                                                 */

/* Whether X-Reproxy-Expected-Size contradicts what the answer announces;
 * *check is set to the body length still to be verified, or -1. */
static const char *size_conflict(reproxy_run *rr, int status, apr_table_t *h,
                                 apr_off_t *check)
{
    request_rec *r = rr->r;
    const char *v;
    apr_off_t n;

    *check = -1;
    if (rr->expected < 0 || status == HTTP_NOT_MODIFIED
        || status == HTTP_NO_CONTENT) {
        return NULL;
    }
    if (status == HTTP_PARTIAL_CONTENT
        || status == HTTP_RANGE_NOT_SATISFIABLE) {
        /* The complete length is after the '/' of Content-Range. */
        v = apr_table_get(h, "Content-Range");
        v = v ? strrchr(v, '/') : NULL;
        if (v && ap_parse_strict_length(&n, v + 1) && n != rr->expected) {
            return apr_psprintf(r->pool, "Content-Range length %"
                                APR_OFF_T_FMT " contradicts " H_EXPECTED " %"
                                APR_OFF_T_FMT, n, rr->expected);
        }
        return NULL;
    }
    v = apr_table_get(h, "Content-Length");
    if (v) {
        if (!ap_parse_strict_length(&n, v) || n != rr->expected) {
            return apr_psprintf(r->pool, "Content-Length %s contradicts "
                                H_EXPECTED " %" APR_OFF_T_FMT, v,
                                rr->expected);
        }
        return NULL;
    }
    if (!r->header_only) {
        *check = rr->expected;
    }
    return NULL;
}

static int is_redirect(int status)
{
    return status == HTTP_MOVED_PERMANENTLY || status == HTTP_MOVED_TEMPORARILY
        || status == HTTP_SEE_OTHER || status == HTTP_TEMPORARY_REDIRECT
        || status == HTTP_PERMANENT_REDIRECT;
}

/* Try one X-Reproxy-Url, following redirects.  Written as numbered steps
 * in one loop (one turn per redirect hop), as httpd's handlers are: the
 * order of the checks is the security argument (every hop is parsed and
 * checked against ReproxyAllow before anything is sent). */
int reproxy_try_url(reproxy_run *rr, const char *text)
{
    request_rec *r = rr->r;
    reproxy_dir_conf *dc = rr->dc;
    int max_redirects = dc->max_redirects == UNSET ? REPROXY_REDIRECTS_DFLT
                                                   : dc->max_redirects;
    revproxy_fetch_opts opts;
    const char *current = text, *why = NULL;
    int hops;

    opts.method = r->header_only ? "HEAD" : "GET";
    opts.headers = rr->fwd;
    opts.timeout = dc->timeout == UNSET ? REPROXY_TIMEOUT_DFLT : dc->timeout;

    for (hops = 0; ; hops++) {
        revproxy_url *u;
        revproxy_fetch *fh = NULL;
        apr_table_t *h = NULL;
        const char *loc;
        apr_off_t check;
        apr_status_t rv;
        int status = 0;

        /* Step One: a URL we may fetch (every hop is checked). */
        u = revproxy_url_parse(r->pool, current, &why);
        if (u == NULL || !reproxy_allowed(dc, u->full)) {
            if (u) {
                why = "refused by ReproxyAllow";
            }
            break;
        }

        /* Step Two: the request and the answer's head. */
        rv = reproxy_fetch_open(r, u->full, &opts, &fh, &status, &h, &why);
        if (rv != APR_SUCCESS) {
            break;
        }

        /* Step Three: a redirect is followed, within the limit. */
        if (is_redirect(status)) {
            reproxy_fetch_close(fh);
            loc = apr_table_get(h, "Location");
            if (loc == NULL || *loc == '\0') {
                why = apr_psprintf(r->pool, "answered %d without Location",
                                   status);
                break;
            }
            if (hops >= max_redirects) {
                why = apr_psprintf(r->pool, "answered %d to %s: more than "
                                   "%d redirect(s) (ReproxyMaxRedirects)",
                                   status, loc, max_redirects);
                break;
            }
            current = revproxy_url_resolve(r->pool, u, loc);
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, REPROXYLOGNO(0206)
                          "reproxy %s: %d redirect to %s", u->full, status,
                          current);
            continue;
        }

        /* Step Four: a usable answer? */
        if (!((status >= 200 && status < 300)
              || (status == HTTP_NOT_MODIFIED && rr->fwd_conditional)
              || (status == HTTP_RANGE_NOT_SATISFIABLE && rr->fwd_range))) {
            reproxy_fetch_close(fh);
            why = apr_psprintf(r->pool, "answered %d", status);
            break;
        }
        why = size_conflict(rr, status, h, &check);
        if (why) {
            reproxy_fetch_close(fh);
            break;
        }

        /* Step Five: the first piece of the body before committing, so
         * that a source that dies right away still lets the next one
         * answer. */
        rv = reproxy_fetch_read(fh, rr->bb, 0);
        if (rv != APR_SUCCESS && rv != APR_EOF) {
            why = reproxy_fetch_close(fh);
            apr_brigade_cleanup(rr->bb);
            break;
        }

        /* Step Six: our response is this one; stream it. */
        reproxy_set_head(rr, status, h);
        reproxy_admin_fields_again(rr);
        if (rr->failures->nelts) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, REPROXYLOGNO(0203)
                          "reproxy served by %s after failed sources:%s",
                          u->full, reproxy_failures_text(rr));
        }
        stream(rr, u->full, fh, check);
        return SRC_DONE;
    }
    if (hops > 0 && current != text) {
        why = apr_psprintf(r->pool, "%s (after %d redirect(s), at %s)",
                           why ? why : "failed", hops, current);
    }
    reproxy_fail(rr, text, why ? why : "failed");
    return SRC_FAILED;
}

static int under_root(const char *path, const char *root)
{
    apr_size_t n = strlen(root);

    if (n == 1 && root[0] == '/') {
        return path[0] == '/' && path[1] != '\0';
    }
    return strncmp(path, root, n) == 0 && path[n] == '/';
}

/* Content-Type (and encoding, languages) as mod_mime gives them. */
static void file_type(request_rec *r, const char *path)
{
    request_rec *sub = ap_sub_req_lookup_file(path, r, NULL);

    if (sub->content_type == NULL) {
        /* An access check stopped the lookup before the type checkers;
         * ReproxyFileRoot is what authorizes the file, so ask them. */
        ap_run_type_checker(sub);
    }
    if (sub->content_type) {
        set_type(r, apr_pstrdup(r->pool, sub->content_type), 1);
    }
    if (sub->content_encoding) {
        r->content_encoding = apr_pstrdup(r->pool, sub->content_encoding);
    }
    if (sub->content_languages && sub->content_languages->nelts) {
        r->content_languages = apr_array_copy(r->pool,
                                              sub->content_languages);
    }
    ap_destroy_sub_req(sub);
}

/* Whether fd is the file at path: a symlink swapped into the path
 * between realpath() and open() must not lead outside the root. */
static int opened_as(apr_file_t *fd, const char *path)
{
#ifdef __linux__
    apr_os_file_t os;
    char link[64], target[PATH_MAX + 1];
    ssize_t n;

    if (apr_os_file_get(&os, fd) != APR_SUCCESS) {
        return 0;
    }
    apr_snprintf(link, sizeof(link), "/proc/self/fd/%d", os);
    n = readlink(link, target, sizeof(target) - 1);
    if (n < 0) {
        return 1;               /* no /proc: realpath() has to do */
    }
    target[n] = '\0';
    return strcmp(target, path) == 0;
#else
    (void)fd;
    (void)path;
    return 1;
#endif
}

/* A descriptor handed to APR by apr_os_file_put has no cleanup of its
 * own: close it with the request, unless it was closed already. */
static apr_status_t close_file(void *data)
{
    apr_file_t *fd = data;
    apr_os_file_t os;

    if (apr_os_file_get(&os, fd) == APR_SUCCESS && os >= 0) {
        return apr_file_close(fd);
    }
    return APR_SUCCESS;
}

/* Open path for reading, a regular file only, without ever blocking: a
 * FIFO swapped in for the file after any check by path would hold open(2)
 * until some writer came, and the worker with it.  With O_NONBLOCK open
 * returns at once whatever the path is; the descriptor itself is then
 * examined, so what is served is what was checked.  Returns why it
 * failed, or NULL with *out open in blocking mode again (sendfile, reads)
 * and *finfo describing it. */
static const char *open_regular(request_rec *r, const char *path,
                                apr_int32_t flags, apr_file_t **out,
                                apr_finfo_t *finfo)
{
    apr_os_file_t os;
    apr_status_t rv;
    struct stat st;
    int fl;
    char buf[120];

    *out = NULL;
    os = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (os < 0) {
        rv = errno;
        return apr_psprintf(r->pool, "cannot open it (%s)",
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    if (fstat(os, &st) != 0) {
        rv = errno;
        close(os);
        return apr_psprintf(r->pool, "cannot examine it (%s)",
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    if (!S_ISREG(st.st_mode)) {
        close(os);
        return "not a regular file";
    }
    if ((fl = fcntl(os, F_GETFL)) == -1
        || fcntl(os, F_SETFL, fl & ~O_NONBLOCK) == -1) {
        rv = errno;
        close(os);
        return apr_psprintf(r->pool, "cannot make it blocking (%s)",
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    apr_os_file_put(out, &os, flags, r->pool);
    apr_pool_cleanup_register(r->pool, *out, close_file,
                              apr_pool_cleanup_null);
    rv = apr_file_info_get(finfo, APR_FINFO_NORM, *out);
    if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
        apr_file_close(*out);
        *out = NULL;
        return apr_psprintf(r->pool, "cannot examine it (%s)",
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    finfo->fname = path;
    return NULL;
}

/* Try X-Reproxy-File: serve it as the default handler would (sendfile,
 * conditionals; Range by the BYTERANGE filter downstream).  Numbered steps
 * in one function: the path is resolved and checked against the roots,
 * then opened without blocking and checked again, in that order. */
int reproxy_try_file(reproxy_run *rr)
{
    request_rec *r = rr->r;
    conn_rec *c = r->connection;
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    apr_array_header_t *roots = rr->dc->roots;
    const char *why = NULL;
    char *resolved, *real = NULL;
    apr_file_t *fd = NULL;
    apr_finfo_t finfo;
    int i, cond;

    /* Step One: the real path, below a ReproxyFileRoot. */
    if (rr->file[0] != '/') {
        why = "not an absolute path";
    }
    else if ((resolved = realpath(rr->file, NULL)) == NULL) {
        char buf[120];
        why = apr_psprintf(r->pool, "cannot resolve it (%s)",
                           apr_strerror(errno, buf, sizeof(buf)));
    }
    else {
        real = apr_pstrdup(r->pool, resolved);
        free(resolved);
        for (i = 0; roots && i < roots->nelts; i++) {
            if (under_root(real, APR_ARRAY_IDX(roots, i, const char *))) {
                break;
            }
        }
        if (roots == NULL || roots->nelts == 0) {
            why = "no ReproxyFileRoot is configured here";
        }
        else if (i == roots->nelts) {
            why = strcmp(real, rr->file) == 0
                  ? "outside every ReproxyFileRoot"
                  : apr_pstrcat(r->pool, "resolves to ", real,
                                ", outside every ReproxyFileRoot", NULL);
        }
    }

    /* Step Two: open it, a regular file only, never blocking. */
    if (why == NULL) {
        why = open_regular(r, real, APR_FOPEN_READ | APR_FOPEN_BINARY
#if APR_HAS_SENDFILE
                           | AP_SENDFILE_ENABLED(core->enable_sendfile)
#endif
                           , &fd, &finfo);
        if (why == NULL && !opened_as(fd, real)) {
            why = "it was replaced while being opened";
        }
    }
    if (why) {
        if (fd) {
            apr_file_close(fd);
        }
        reproxy_fail(rr, rr->file, why);
        return SRC_FAILED;
    }
    (void)core;

    /* Step Three: the head, as the default handler makes it. */
    reproxy_reset_head(rr, HTTP_OK);
    r->filename = real;
    r->finfo = finfo;
    file_type(r, real);
    r->mtime = 0;
    ap_update_mtime(r, finfo.mtime);
    ap_set_last_modified(r);
    ap_set_etag_fd(r, fd);
    ap_set_accept_ranges(r);
    ap_set_content_length(r, finfo.size);
    reproxy_apply_preserved(rr);
    if (rr->failures->nelts) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, REPROXYLOGNO(0203)
                      "reproxy served by file %s after failed sources:%s",
                      real, reproxy_failures_text(rr));
    }

    /* Step Four: conditionals, then the body. */
    cond = ap_meets_conditions(r);
    if (cond != OK) {
        apr_file_close(fd);
        if (cond == HTTP_NOT_MODIFIED) {
            r->status = HTTP_NOT_MODIFIED;
            reproxy_admin_fields_again(rr);
            APR_BRIGADE_INSERT_TAIL(rr->bb, apr_bucket_eos_create(
                                                c->bucket_alloc));
            ap_pass_brigade(rr->f->next, rr->bb);
            apr_brigade_cleanup(rr->bb);
            return SRC_DONE;
        }
        reproxy_send_error(rr, cond);
        return SRC_DONE;
    }
    reproxy_admin_fields_again(rr);
    if (finfo.size > 0) {
        apr_brigade_insert_file(rr->bb, fd, 0, finfo.size, r->pool);
    }
    APR_BRIGADE_INSERT_TAIL(rr->bb, apr_bucket_eos_create(c->bucket_alloc));
    ap_pass_brigade(rr->f->next, rr->bb);
    apr_brigade_cleanup(rr->bb);
    return SRC_DONE;
}
