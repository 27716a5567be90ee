/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_head -- the request head sent to a backend, and the hop-by-hop
 * rules (RFC 9110 section 7.6.1) that both directions follow.
 *
 * The head is built in one allocation, whatever the number of fields: the
 * proxy's own fields (Host, X-Forwarded-*, framing) always go out, and a
 * client field of the same name never does.  No method, target or field
 * with a CR, LF, NUL or other control byte is ever written.
 *
 * APR only, no httpd types, so that fuzz/fuzz_head.c and t/unit link this
 * file alone.
 */
#ifndef REVPROXY_HEAD_H
#define REVPROXY_HEAD_H

#include "apr_pools.h"
#include "apr_tables.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hop-by-hop field names, told apart by length first. */
#define REVPROXY_HOP_NONE       0
#define REVPROXY_HOP_DROP       1   /* Keep-Alive, Proxy-Connection, TE,
                                       Trailer, Transfer-Encoding */
#define REVPROXY_HOP_UPGRADE    2
#define REVPROXY_HOP_CONNECTION 3

/* How name (n bytes, not NUL-terminated) counts as a hop-by-hop field. */
int revproxy_hop_field(const char *name, apr_size_t n);

/* Whether token (case-insensitive) is an element of the comma list value. */
int revproxy_has_token(const char *value, const char *token);

/* Whether the comma list value holds no element but a and b. */
int revproxy_only_tokens(const char *value, const char *a, const char *b);

/* Remove hop-by-hop fields from t, including those its Connection fields
 * name; keep_upgrade leaves Connection and Upgrade in place (a tunnel). */
void revproxy_strip_hop_by_hop(apr_table_t *t, int keep_upgrade);

/* One RFC 7239 Forwarded element, allocated from p:
 * for=CLIENT;host=HOST;proto=PROTO (host= left out when host is NULL or
 * empty).  An IPv6 client is written in brackets and quoted
 * (for="[2001:db8::1]"); any other value that is not a token is quoted,
 * with '"' and '\' escaped and control bytes left out (a quoted-string
 * may not carry them). */
char *revproxy_forwarded_element(apr_pool_t *p, const char *client,
                                 const char *host, const char *proto);

/* The request body's framing, as announced to the backend. */
#define REVPROXY_BODY_NONE     0
#define REVPROXY_BODY_LENGTH   1   /* Content-Length: length */
#define REVPROXY_BODY_CHUNKED  2   /* Transfer-Encoding: chunked */

typedef struct revproxy_head_spec {
    const char *method;
    const char *target;         /* "/path?query" */
    const apr_table_t *client;  /* the client's fields, or NULL: hop-by-hop
                                   ones, those its Connection names, Host,
                                   Expect, the framing fields and any field
                                   own has are left out */
    const apr_table_t *own;     /* the proxy's fields (Host, X-Forwarded-*),
                                   written as they are; may be NULL */
    int body;                   /* REVPROXY_BODY_* */
    apr_off_t length;           /* REVPROXY_BODY_LENGTH */
    int upgrade;                /* pass the client's Upgrade, and send
                                   Connection: Upgrade */
    int close;                  /* Connection: close (no keep-alive) */
} revproxy_head_spec;

/* The head, NUL-terminated, *len bytes, allocated from p; NULL when the
 * method or the target is empty or holds a byte no request line may
 * hold (control bytes, space, DEL). */
char *revproxy_head_build(apr_pool_t *p, const revproxy_head_spec *s,
                          apr_size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_HEAD_H */
