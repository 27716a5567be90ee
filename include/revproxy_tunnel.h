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

#endif /* REVPROXY_TUNNEL_H */
