/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_rule.c -- libFuzzer harness for revproxy_rule.c: destination
 * templates and their expansion with hostile captures.
 *
 * Input: "TEMPLATE\nSUBJECT\nARGS" (missing parts are empty).  The
 * template is compiled against the fixed regex "^(.*?)/(.*)/(.*)$" (three
 * groups) -- compilation may refuse it, that is fine -- and expanded with
 * the subject's captures, raw and canonical.  Whatever the subject holds,
 * an expansion that succeeds must give a host of name characters (or a
 * bracketed literal), a port 1-65535, and a path that starts with '/' and
 * holds no byte a request line may not carry (CTL, space, DEL, '#',
 * non-ASCII).  A broken invariant aborts.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "revproxy_rule.h"

static apr_pool_t *root;
static revproxy_regex *re;

static void check_target(const revproxy_target *t)
{
    const unsigned char *s;

    if (t->scheme != REVPROXY_SCHEME_BACKEND) {
        if (t->port < 1) {
            abort();
        }
    }
    for (s = (const unsigned char *)t->host; *s; s++) {
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z')
            && !(*s >= '0' && *s <= '9') && !strchr("-.[]:", *s)) {
            abort();
        }
    }
    if (t->path[0] != '/') {
        abort();
    }
    for (s = (const unsigned char *)t->path; *s; s++) {
        if (*s <= 0x20 || *s >= 0x7f || *s == '#') {
            abort();
        }
    }
    for (s = (const unsigned char *)t->hostport; *s; s++) {
        if (*s <= 0x20 || *s >= 0x7f || *s == '@' || *s == '/') {
            abort();
        }
    }
}

static void fini(void)
{
    apr_pool_destroy(root);
    apr_terminate();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *parts[3] = { "", "", "" };
    char *copy, *s, *nl;
    revproxy_dest *d;
    const PCRE2_SIZE *ov;
    int i, maxg, raw;

    if (root == NULL) {
        apr_initialize();
        apr_pool_create(&root, NULL);
        atexit(fini);
        if (revproxy_regex_compile(root, "^(.*?)/(.*)/(.*)$", &re)) {
            abort();
        }
    }
    apr_pool_create(&p, root);
    copy = apr_pstrmemdup(p, (const char *)data, size);
    s = copy;
    for (i = 0; i < 3 && s; i++) {
        nl = (i < 2) ? strchr(s, '\n') : NULL;
        if (nl) {
            *nl = '\0';
        }
        parts[i] = s;
        s = nl ? nl + 1 : NULL;
    }
    if (revproxy_dest_compile(p, parts[0], &d, &maxg) == NULL
        && maxg <= re->ngroups
        && revproxy_regex_match(re, parts[1], strlen(parts[1]), p, &ov) == 1) {
        for (raw = 0; raw < 2; raw++) {
            revproxy_target t;
            const char *why;
            if (revproxy_dest_expand(p, d, parts[1], ov, re->ngroups, raw,
                                     *parts[2] ? parts[2] : NULL, &t, &why)
                == REVPROXY_EXPAND_OK) {
                check_target(&t);
                /* A socket path is the template's, never the request's. */
                if (t.sock != revproxy_dest_socket(d)
                    || (t.sock && (t.sock[0] != '/' || strchr(t.sock, '|')))) {
                    abort();
                }
            }
        }
    }
    apr_pool_destroy(p);
    return 0;
}
