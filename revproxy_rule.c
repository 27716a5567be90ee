/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * Regexes and destination templates for mod_revproxy.
 *
 * A destination such as "http://$1.example.org:$2/app/$3?x=$4" is cut at
 * configuration time into segments that each know the URL part they land
 * in (host, port, path, query).  Expansion then encodes every capture for
 * its part: path and query captures are percent-encoded outside RFC 3986
 * pchar, host and port captures are validated and never encoded, so that
 * nothing a client sends can change the backend, split the request line
 * or inject a header.
 */

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_thread_proc.h"

#include "revproxy_rule.h"
#include "revproxy_util.h"

/* Which part of the URL a segment belongs to. */
#define PART_HOST  0
#define PART_PORT  1
#define PART_PATH  2
#define PART_QUERY 3

typedef struct {
    int part;
    int group;                  /* -1: literal */
    const char *text;           /* literal text */
    apr_size_t len;
} seg_t;

struct revproxy_dest {
    const char *text;
    const char *sock;           /* unix:/path|http://...: the path */
    int scheme;
    apr_array_header_t *segs;   /* of seg_t */
    int dynamic_authority;      /* a capture in host or port */
    int has_query;              /* the template has a '?' */
    /* precomputed when the authority is static */
    const char *host;
    apr_port_t port;
    const char *hostport;
};

struct revproxy_subst {
    apr_array_header_t *segs;   /* of seg_t, part unused */
};

/* ---------------------------------------------------------------------- */
/* Regexes                                                                 */

/* Every match runs under these limits (set in a match context made at the
 * first compile, at configuration time), so that no subject a client
 * sends can make one regex run long or use much memory, with or without
 * JIT: a match that hits one fails with a negative code, and the caller
 * counts it as no match.  The interpreter keeps its backtracking frames
 * in the thread's match data (below): REVPROXY_REGEX_HEAP_KIB is the most
 * it grows to.  JIT code has no heap: it runs on PCRE2's default 32 KiB
 * JIT stack, and the match limit counts its steps too. */
static pcre2_match_context *limits;

/* The match data of each thread, sized for the regex with the most
 * groups; reused by every match in the thread. */
static apr_threadkey_t *md_key;
static uint32_t most_pairs = 1;

static apr_status_t free_limits(void *data)
{
    (void)data;
    pcre2_match_context_free(limits);
    limits = NULL;
    return APR_SUCCESS;
}

/* Made with the first regex of a configuration, freed with its pool (the
 * module may be unloaded at a restart). */
static void make_limits(apr_pool_t *p)
{
    if (limits != NULL) {
        return;
    }
    limits = pcre2_match_context_create(NULL);
    if (limits == NULL) {
        return;
    }
    pcre2_set_match_limit(limits, REVPROXY_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(limits, REVPROXY_REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(limits, REVPROXY_REGEX_HEAP_KIB);
    apr_pool_cleanup_register(p, NULL, free_limits, apr_pool_cleanup_null);
}

static apr_status_t free_code(void *data)
{
    pcre2_code_free((pcre2_code *)data);
    return APR_SUCCESS;
}

const char *revproxy_regex_compile(apr_pool_t *p, const char *pattern,
                                   revproxy_regex **out)
{
    int err;
    PCRE2_SIZE off;
    uint32_t n;
    pcre2_code *code;
    revproxy_regex *re;

    /* httpd's own regex defaults (RegexDefaultOptions): '.' matches
     * any byte, a decoded path may hold %0A; '$' only at the very end. */
    code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                         PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY, &err, &off,
                         NULL);
    if (code == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        return apr_psprintf(p, "bad regular expression '%s' at offset %lu: %s",
                            pattern, (unsigned long)off, (char *)msg);
    }
    apr_pool_cleanup_register(p, code, free_code, apr_pool_cleanup_null);
    /* JIT is an optimisation only: without it PCRE2 interprets. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &n);
    if (n + 1 > most_pairs) {
        most_pairs = n + 1;
    }
    make_limits(p);

    re = apr_pcalloc(p, sizeof(*re));
    re->code = code;
    re->ngroups = (int)n;
    *out = re;
    return NULL;
}

static void free_thread_md(void *data)
{
    pcre2_match_data_free((pcre2_match_data *)data);
}

apr_status_t revproxy_regex_child_init(apr_pool_t *pchild)
{
    return apr_threadkey_private_create(&md_key, free_thread_md, pchild);
}

static apr_status_t free_md(void *data)
{
    pcre2_match_data_free((pcre2_match_data *)data);
    return APR_SUCCESS;
}

/* Match data with room for pairs offset pairs: the thread's (made or
 * made larger on first need), or, where no thread key was made (unit
 * tests, fuzzers), one from p. */
static pcre2_match_data *match_data(uint32_t pairs, apr_pool_t *p)
{
    pcre2_match_data *md = NULL;
    void *v = NULL;

    if (md_key && apr_threadkey_private_get(&v, md_key) == APR_SUCCESS) {
        md = v;
        if (md && pcre2_get_ovector_count(md) >= pairs) {
            return md;
        }
        if (md) {
            pcre2_match_data_free(md);
        }
        md = pcre2_match_data_create(pairs > most_pairs ? pairs : most_pairs,
                                     NULL);
        if (apr_threadkey_private_set(md, md_key) != APR_SUCCESS) {
            pcre2_match_data_free(md);
            return NULL;
        }
        return md;
    }
    md = pcre2_match_data_create(pairs, NULL);
    if (md) {
        apr_pool_cleanup_register(p, md, free_md, apr_pool_cleanup_null);
    }
    return md;
}

int revproxy_regex_match(const revproxy_regex *re, const char *subject,
                         apr_size_t len, apr_pool_t *p,
                         const PCRE2_SIZE **ovector)
{
    pcre2_match_data *md = match_data((uint32_t)re->ngroups + 1, p);
    int rc;

    if (md == NULL) {
        return PCRE2_ERROR_NOMEMORY;
    }
    rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, md, limits);
    if (rc == PCRE2_ERROR_NOMATCH) {
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    /* The match data is the thread's and the next match overwrites it
     * (an ap_expr condition may run a sub-request, whose rule walk
     * matches on this thread): the caller gets its own copy. */
    *ovector = apr_pmemdup(p, pcre2_get_ovector_pointer(md),
                           2 * ((apr_size_t)re->ngroups + 1)
                           * sizeof(PCRE2_SIZE));
    return 1;
}

const char *revproxy_regex_strerror(apr_pool_t *p, int rc)
{
    PCRE2_UCHAR msg[128];

    if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0) {
        return apr_psprintf(p, "PCRE2 error %d", rc);
    }
    return apr_pstrdup(p, (const char *)msg);
}

/* ---------------------------------------------------------------------- */
/* Encoding                                                                */

/* ---------------------------------------------------------------------- */
/* Templates                                                               */

static void add_seg(apr_array_header_t *segs, int part, int group,
                    const char *text, apr_size_t len)
{
    seg_t *s;

    /* Merge adjacent literals of one part. */
    if (group < 0 && segs->nelts > 0) {
        s = &APR_ARRAY_IDX(segs, segs->nelts - 1, seg_t);
        if (s->group < 0 && s->part == part && s->text + s->len == text) {
            s->len += len;
            return;
        }
    }
    s = apr_array_push(segs);
    s->part = part;
    s->group = group;
    s->text = text;
    s->len = len;
}

/* Read a capture reference at *pp ("$N", "\N") or a "$$" escape.
 * Returns the group number, -2 for a literal '$', -1 for no reference. */
static int capture_ref(const char **pp)
{
    const char *s = *pp;

    if ((s[0] == '$' || s[0] == '\\') && apr_isdigit(s[1])) {
        *pp = s + 2;
        return s[1] - '0';
    }
    if (s[0] == '$' && s[1] == '$') {
        *pp = s + 2;
        return -2;
    }
    return -1;
}

static const char *make_hostport(apr_pool_t *p, int scheme, const char *host,
                                 apr_port_t port)
{
    apr_port_t dflt = (scheme == REVPROXY_SCHEME_HTTPS) ? 443 : 80;

    if (port == dflt) {
        return host;
    }
    return apr_psprintf(p, "%s:%u", host, (unsigned)port);
}

/* "unix:/ABS/PATH|http://...": the socket path into d->sock, *rest to
 * the URL after the '|'.  The path comes from the configuration alone (a
 * socket path a request could choose is CVE-2021-40438): a capture
 * reference in it is an error, not a literal; so is a relative path, one
 * too long for sun_path, or https after the '|' (no TLS over a socket). */
static const char *compile_unix(apr_pool_t *p, revproxy_dest *d,
                                const char *text, const char **rest)
{
    struct sockaddr_un sun;
    const char *path = text + 5, *bar = strchr(path, '|'), *s;

    if (bar == NULL) {
        return apr_psprintf(p, "destination '%s': a unix: destination is "
                            "unix:/PATH|http://HOST/PATH", text);
    }
    if (path[0] != '/') {
        return apr_psprintf(p, "destination '%s': the socket path must be "
                            "absolute", text);
    }
    if ((apr_size_t)(bar - path) >= sizeof(sun.sun_path)) {
        return apr_psprintf(p, "destination '%s': the socket path is longer "
                            "than %d bytes", text,
                            (int)sizeof(sun.sun_path) - 1);
    }
    for (s = path; s < bar; s++) {
        if ((s[0] == '$' || s[0] == '\\') && apr_isdigit(s[1])) {
            return apr_psprintf(p, "destination '%s': the socket path cannot "
                                "hold a capture reference (%.2s): it comes "
                                "from the configuration only", text, s);
        }
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return apr_psprintf(p, "destination '%s': the socket path holds "
                                "a control character", text);
        }
    }
    if (strncasecmp(bar + 1, "http://", 7) != 0) {
        return apr_psprintf(p, "destination '%s': only http:// can follow "
                            "the socket path (no https over a Unix-domain "
                            "socket)", text);
    }
    d->sock = apr_pstrmemdup(p, path, bar - path);
    *rest = bar + 1;
    return NULL;
}

/* Long because it is one left-to-right walk over DEST that knows, at each
 * byte, which URL part (scheme, host, port, path, query) it is in: that
 * part decides how a capture placed there is checked or encoded. */
const char *revproxy_dest_compile(apr_pool_t *p, const char *text,
                                  revproxy_dest **out, int *max_group)
{
    revproxy_dest *d = apr_pcalloc(p, sizeof(*d));
    const char *s, *url = text;     /* url: after a "unix:/PATH|" */
    int part = PART_HOST, in_bracket = 0, has_host = 0, has_path = 0, i;

    *max_group = -1;
    d->text = text;
    if (strncasecmp(url, "unix:", 5) == 0) {
        const char *err = compile_unix(p, d, text, &url);
        if (err) {
            return err;
        }
    }
    if (strncasecmp(url, "http://", 7) == 0) {
        d->scheme = REVPROXY_SCHEME_HTTP;
        s = url + 7;
    }
    else if (strncasecmp(url, "https://", 8) == 0) {
        d->scheme = REVPROXY_SCHEME_HTTPS;
        s = url + 8;
    }
    else if (strncasecmp(url, "backend://", 10) == 0) {
        d->scheme = REVPROXY_SCHEME_BACKEND;
        s = url + 10;
    }
    else {
        return apr_psprintf(p, "destination '%s' must start with http://, "
                            "https://, backend:// or unix:", text);
    }

    d->segs = apr_array_make(p, 8, sizeof(seg_t));
    while (*s) {
        const char *at = s;
        unsigned char c = (unsigned char)*s;
        int group = capture_ref(&s);

        if (group >= 0) {
            if (part == PART_HOST || part == PART_PORT) {
                if (d->scheme == REVPROXY_SCHEME_BACKEND) {
                    return apr_psprintf(p, "destination '%s': a backend name "
                                        "cannot hold a capture", text);
                }
                d->dynamic_authority = 1;
                has_host = has_host || part == PART_HOST;
            }
            if (group > *max_group) {
                *max_group = group;
            }
            add_seg(d->segs, part, group, NULL, 0);
            continue;
        }
        if (group == -2) {
            add_seg(d->segs, part, -1, at, 1);   /* the first '$' of "$$" */
            continue;
        }
        if (c <= 0x20 || c >= 0x7f || c == '#') {
            return apr_psprintf(p, "destination '%s' holds a character not "
                                "allowed in a URL (0x%02x)", text, c);
        }
        s++;
        if (part == PART_HOST || part == PART_PORT) {
            if (c == '@') {
                return apr_psprintf(p, "destination '%s': user information "
                                    "('@') is not allowed", text);
            }
            if (c == '[' && part == PART_HOST) {
                in_bracket = 1;
            }
            else if (c == ']') {
                in_bracket = 0;
            }
            else if (c == ':' && !in_bracket && part == PART_HOST) {
                part = PART_PORT;
                continue;
            }
            else if (c == '/' || c == '?') {
                part = (c == '/') ? PART_PATH : PART_QUERY;
                if (c == '?') {
                    add_seg(d->segs, PART_PATH, -1, "/", 1);
                    d->has_query = 1;
                }
                has_path = 1;
                add_seg(d->segs, part, -1, at, 1);
                continue;
            }
            if (part == PART_HOST) {
                has_host = 1;
            }
        }
        else if (part == PART_PATH && c == '?') {
            part = PART_QUERY;
            d->has_query = 1;
        }
        add_seg(d->segs, part, -1, at, 1);
    }
    if (!has_host) {
        return apr_psprintf(p, "destination '%s' has no host", text);
    }
    if (d->scheme == REVPROXY_SCHEME_BACKEND) {
        for (i = 0; i < d->segs->nelts; i++) {
            if (APR_ARRAY_IDX(d->segs, i, seg_t).part == PART_PORT) {
                return apr_psprintf(p, "destination '%s': a backend:// "
                                    "destination has no port", text);
            }
        }
    }
    if (!has_path) {
        add_seg(d->segs, PART_PATH, -1, "/", 1);
    }

    if (!d->dynamic_authority) {
        /* Resolve and check the authority once, here. */
        revproxy_target t;
        const char *why;
        if (revproxy_dest_expand(p, d, "", NULL, -1, 0, NULL, &t, &why)
            != REVPROXY_EXPAND_OK) {
            return apr_psprintf(p, "destination '%s': %s", text, why);
        }
        d->host = t.host;
        d->port = t.port;
        d->hostport = t.hostport;
    }
    *out = d;
    return NULL;
}

const char *revproxy_dest_text(const revproxy_dest *d)
{
    return d->text;
}

const char *revproxy_dest_socket(const revproxy_dest *d)
{
    return d->sock;
}

int revproxy_dest_scheme(const revproxy_dest *d)
{
    return d->scheme;
}

const char *revproxy_dest_backend(const revproxy_dest *d)
{
    return d->scheme == REVPROXY_SCHEME_BACKEND ? d->host : NULL;
}

/* The text of capture n, or an empty string when it did not take part. */
static const char *capture(const char *subject, const PCRE2_SIZE *ov,
                           int ngroups, int n, apr_size_t *len)
{
    if (ov == NULL || n > ngroups || ov[2 * n] == PCRE2_UNSET) {
        *len = 0;
        return "";
    }
    *len = ov[2 * n + 1] - ov[2 * n];
    return subject + ov[2 * n];
}

/* Append the host or port part of d to buf (no encoding: checked after). */
static int expand_authority(const revproxy_dest *d, int part,
                            const char *subject, const PCRE2_SIZE *ov,
                            int ngroups, char *buf, apr_size_t *len)
{
    int i;

    *len = 0;
    for (i = 0; i < d->segs->nelts; i++) {
        const seg_t *s = &APR_ARRAY_IDX(d->segs, i, seg_t);
        const char *v = s->text;
        apr_size_t n = s->len, k;

        if (s->part != part) {
            continue;
        }
        if (s->group >= 0) {
            v = capture(subject, ov, ngroups, s->group, &n);
            /* A capture can only add name characters: never '@', ':',
             * '/', CR, LF... that would move the request elsewhere. */
            for (k = 0; k < n; k++) {
                unsigned char c = (unsigned char)v[k];
                if (!apr_isalnum(c) && c != '-' && c != '.') {
                    return 0;
                }
            }
        }
        memcpy(buf + *len, v, n);
        *len += n;
    }
    return 1;
}

/* One pass over the compiled segments, measuring and writing in the same
 * loop: kept together so the bound on the output (3 bytes per input byte
 * in the worst encoding) is checked where the bytes are written. */
int revproxy_dest_expand(apr_pool_t *p, const revproxy_dest *d,
                         const char *subject, const PCRE2_SIZE *ovector,
                         int ngroups, int raw, const char *args,
                         revproxy_target *t, const char **why)
{
    apr_size_t need = 2, n, o = 0, hlen, plen;
    char *buf, *path;
    int i;

    /* Room for the worst case: every capture byte encoded. */
    for (i = 0; i < d->segs->nelts; i++) {
        const seg_t *s = &APR_ARRAY_IDX(d->segs, i, seg_t);
        if (s->group >= 0) {
            capture(subject, ovector, ngroups, s->group, &n);
            need += 3 * n;
        }
        else {
            need += s->len;
        }
    }
    if (args != NULL) {
        need += 3 * strlen(args) + 1;   /* '?' or '&', then encoded */
    }

    t->scheme = d->scheme;
    t->sock = d->sock;
    if (d->dynamic_authority || d->host == NULL) {
        char *host = apr_palloc(p, need), *port = apr_palloc(p, need);

        if (!expand_authority(d, PART_HOST, subject, ovector, ngroups,
                              host, &hlen)
            || !revproxy_host_valid(host, hlen)) {
            *why = "invalid host name";
            return REVPROXY_EXPAND_BADHOST;
        }
        host[hlen] = '\0';
        if (!expand_authority(d, PART_PORT, subject, ovector, ngroups,
                              port, &plen)) {
            *why = "invalid port";
            return REVPROXY_EXPAND_BADPORT;
        }
        t->host = host;
        if (d->scheme == REVPROXY_SCHEME_BACKEND) {
            t->port = 0;
        }
        else if (plen == 0) {
            t->port = (d->scheme == REVPROXY_SCHEME_HTTPS) ? 443 : 80;
        }
        else if (!revproxy_port_parse(port, plen, &t->port)) {
            *why = "invalid port";
            return REVPROXY_EXPAND_BADPORT;
        }
        t->hostport = make_hostport(p, d->scheme, t->host, t->port);
    }
    else {
        t->host = d->host;
        t->port = d->port;
        t->hostport = d->hostport;
    }

    path = buf = apr_palloc(p, need);
    for (i = 0; i < d->segs->nelts; i++) {
        const seg_t *s = &APR_ARRAY_IDX(d->segs, i, seg_t);
        if (s->part != PART_PATH && s->part != PART_QUERY) {
            continue;
        }
        if (s->group < 0) {
            memcpy(buf + o, s->text, s->len);
            o += s->len;
        }
        else {
            const char *v = capture(subject, ovector, ngroups, s->group, &n);
            o += revproxy_url_encode(buf + o, v, n, raw ? 'r' : 'p');
        }
    }
    if (args != NULL && *args) {
        buf[o++] = d->has_query ? '&' : '?';
        /* The query as received; httpd never lets CTLs or spaces in, and
         * the 'r' set keeps that true whatever fills r->args. */
        o += revproxy_url_encode(buf + o, args, strlen(args), 'r');
    }
    buf[o] = '\0';
    t->path = path;
    return REVPROXY_EXPAND_OK;
}

/* ---------------------------------------------------------------------- */
/* Plain substitution (response header rewriting)                         */

const char *revproxy_subst_compile(apr_pool_t *p, const char *text,
                                   revproxy_subst **out, int *max_group)
{
    revproxy_subst *sb = apr_pcalloc(p, sizeof(*sb));
    const char *s = text;

    *max_group = -1;
    sb->segs = apr_array_make(p, 4, sizeof(seg_t));
    while (*s) {
        const char *at = s;
        int group = capture_ref(&s);
        if (group >= 0) {
            if (group > *max_group) {
                *max_group = group;
            }
            add_seg(sb->segs, 0, group, NULL, 0);
        }
        else if (group == -2) {
            add_seg(sb->segs, 0, -1, at, 1);
        }
        else {
            if (*s == '\r' || *s == '\n') {
                return "replacement holds CR or LF";
            }
            add_seg(sb->segs, 0, -1, at, 1);
            s++;
        }
    }
    *out = sb;
    return NULL;
}

const char *revproxy_subst_expand(apr_pool_t *p, const revproxy_subst *sb,
                                  const char *subject,
                                  const PCRE2_SIZE *ovector, int ngroups)
{
    apr_size_t need = 1, n, o = 0, k;
    char *buf;
    int i;

    for (i = 0; i < sb->segs->nelts; i++) {
        const seg_t *s = &APR_ARRAY_IDX(sb->segs, i, seg_t);
        if (s->group >= 0) {
            capture(subject, ovector, ngroups, s->group, &n);
            need += n;
        }
        else {
            need += s->len;
        }
    }
    buf = apr_palloc(p, need);
    for (i = 0; i < sb->segs->nelts; i++) {
        const seg_t *s = &APR_ARRAY_IDX(sb->segs, i, seg_t);
        const char *v = s->text;
        n = s->len;
        if (s->group >= 0) {
            v = capture(subject, ovector, ngroups, s->group, &n);
        }
        for (k = 0; k < n; k++) {
            if (v[k] != '\r' && v[k] != '\n' && v[k] != '\0') {
                buf[o++] = v[k];
            }
        }
    }
    buf[o] = '\0';
    return buf;
}
