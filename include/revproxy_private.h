/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_revproxy's configuration records, shared by mod_revproxy.c and the
 * revproxy_*.c files that need httpd types (status page, backends).
 * Not for other modules: their contract is mod_revproxy.h.
 */
#ifndef REVPROXY_PRIVATE_H
#define REVPROXY_PRIVATE_H

#include "httpd.h"
#include "http_config.h"
#include "ap_expr.h"

#include "revproxy_rule.h"
#include "revproxy_util.h"
#include "revproxy_conn.h"
#include "revproxy_client.h"

/* Log tags: RVPLOGNO(0001) -> "RVP0001: ".  The next free number is kept
 * in build/tag_counter. */
#define RVPLOGNO(n) "RVP" #n ": "

#define REVPROXY_UNSET   (-1)

/* upgrade= values */
#define REVPROXY_UPGRADE_NONE      0
#define REVPROXY_UPGRADE_WEBSOCKET 1
#define REVPROXY_UPGRADE_ANY       2

typedef struct revproxy_rule {
    struct revproxy_score_rule *counters;   /* in the scoreboard
                                               (post_config), or NULL */
    const char *directive;      /* "RevProxyPass" / "RevProxyPassFullURL" */
    const char *pattern;
    const char *where;          /* "file:line", for log lines */
    revproxy_regex *re;
    revproxy_dest *dest;        /* NULL: '!' exclusion */
    int fullurl;
    int nocanon;
    int keephost;
    int nopipeline;
    int upgrade;                /* REVPROXY_UPGRADE_* */
    int tlsverify;              /* REVPROXY_UNSET, 0, 1 */
    apr_uint64_t methods;       /* bit per method number; 0: all */
    apr_interval_time_t connect_timeout, timeout, send_timeout; /* -1 */
    apr_interval_time_t ttl;    /* ttl=: idle limit of a pooled
                                   connection, -1 */
    ap_expr_info_t *expr;       /* expr=: a condition, or NULL */
    int reverse;                /* reverse: map Location & co. back */
    const char *client_prefix;  /* reverse: the literal prefix of the
                                   regex, after the client's base */
} revproxy_rule;

/* A rule as one server uses it: every limit decided once, at config
 * time (check_config), rule -> group -> server -> default; a request only
 * reads it.  A server's routes run parallel to its rules. */
typedef struct revproxy_route {
    const revproxy_rule *rule;
    const struct revproxy_group *group;     /* backend://, or NULL */
    revproxy_limits lim;
    struct revproxy_tls_conf *tls;          /* for https:// (a group's:
                                               its server's settings) */
    int tls_verify;
    apr_array_header_t *reverse_bases;      /* reverse: the backend bases
                                               (const char *), made in
                                               check_config, or NULL */
} revproxy_route;

typedef struct revproxy_server_conf {
    apr_array_header_t *rules;  /* revproxy_rule *, own then inherited */
    apr_array_header_t *routes; /* revproxy_route, one per rule (made in
                                   check_config) */
    struct revproxy_ruleset *index;     /* which rules a path can match
                                           (check_config) */
    apr_array_header_t *groups; /* revproxy_group * (revproxy_backend.h),
                                   own then inherited */
    apr_interval_time_t connect_timeout;    /* -1: unset */
    apr_interval_time_t timeout;            /* -1: the server's Timeout */
    int add_forwarded;                      /* REVPROXY_UNSET, 0, 1 */
    int forwarded;                          /* RevProxyForwarded (RFC
                                               7239): REVPROXY_UNSET, 0, 1 */
    int tls_verify;                         /* REVPROXY_UNSET, 0, 1 */
    const char *tls_ca_file;
    const char *tls_cert_file;
    const char *tls_key_file;
    struct revproxy_tls_conf *tls;          /* made in check_config */
    int tls_verify_on;                      /* resolved: 0 or 1 */
    revproxy_limits lim;                    /* resolved: this server's own
                                               limits (check_config) */
    struct revproxy_score *score;           /* post_config: the scoreboard,
                                               NULL without shared memory */
    const struct revproxy_status_index *status; /* post_config: what the
                                               status page lists */
} revproxy_server_conf;

typedef struct revproxy_rewrite {
    const char *header;
    revproxy_regex *re;
    revproxy_subst *repl;
} revproxy_rewrite;

typedef struct revproxy_dir_conf {
    apr_array_header_t *rewrites;           /* revproxy_rewrite */
    int status_manage;                      /* RevProxyStatusManage:
                                               REVPROXY_UNSET, 0, 1 */
    apr_array_header_t *cookie_domains;     /* revproxy_cookie_map, the
                                               innermost section's first */
    apr_array_header_t *cookie_paths;       /* revproxy_cookie_map */
    int error_override;                     /* REVPROXY_UNSET, 0, 1 */
} revproxy_dir_conf;

/* mod_revproxy's module record, for the revproxy_*.c files. */
extern module AP_MODULE_DECLARE_DATA revproxy_module;

/* revproxy_fetch.c: registers the optional functions of mod_revproxy.h. */
void revproxy_fetch_register(void);

#endif /* REVPROXY_PRIVATE_H */
