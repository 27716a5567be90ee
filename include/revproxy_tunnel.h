/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_tunnel -- after a 101 Switching Protocols, bytes flow both ways
 * between the client connection and the backend connection as they come.
 */
#ifndef REVPROXY_TUNNEL_H
#define REVPROXY_TUNNEL_H

#include "httpd.h"
#include "revproxy_conn.h"

/* Relay between r's connection and backend until both sides closed, an
 * error, or idle (no byte either way) has passed.  pending/npending are
 * bytes already read from the backend (sent to the client first).  The
 * thread sleeps in apr_poll() between bytes, never spins.  *why says how
 * it ended; the return value is APR_SUCCESS for a clean close, APR_TIMEUP
 * for the idle limit, an error otherwise. */
apr_status_t revproxy_tunnel_run(request_rec *r, revproxy_conn *backend,
                                 const char *pending, apr_size_t npending,
                                 apr_interval_time_t idle,
                                 apr_interval_time_t send_timeout,
                                 apr_off_t *bytes_in, apr_off_t *bytes_out,
                                 const char **why);

/* How a tunnel of revproxy_tunnel_start ended (rv and why as for
 * revproxy_tunnel_run); called once, on whichever thread ended it, with r
 * still alive.  The backend connection is the callee's to close. */
typedef void revproxy_tunnel_end_fn(request_rec *r, void *baton,
                                    apr_status_t rv, const char *why,
                                    apr_off_t bytes_in, apr_off_t bytes_out);

/* Whether r's tunnel can go without a thread while idle: the event MPM
 * (this child's watcher runs), a plain HTTP/1.x connection. */
int revproxy_tunnel_can_park(request_rec *r);

/* The same relay without a thread between bytes: returns SUSPENDED, for
 * the handler to return.  Once the MPM let go of the connection, worker
 * threads relay whatever arrives; end is called when the tunnel is over,
 * then the request is finished and the client connection closed.
 * baton and everything it points to must live in r->pool. */
int revproxy_tunnel_start(request_rec *r, revproxy_conn *backend,
                          const char *pending, apr_size_t npending,
                          apr_interval_time_t idle,
                          apr_interval_time_t send_timeout,
                          revproxy_tunnel_end_fn *end, void *baton);

/* Hooks (registered by mod_revproxy.c): child_init starts the child's
 * watcher under an async MPM; suspend_connection hands a tunnel waiting
 * for it over. */
void revproxy_tunnel_child_init(apr_pool_t *pchild, server_rec *s);
void revproxy_tunnel_suspended(conn_rec *c, request_rec *r);

#endif /* REVPROXY_TUNNEL_H */
