/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_tls -- OpenSSL over a revproxy_conn's non-blocking socket.
 *
 * One revproxy_tls_conf (an SSL_CTX) per distinct TLS configuration,
 * made at configuration time; per connection an SSL object with SNI and
 * host-name verification.  No httpd types here.
 */
#ifndef REVPROXY_TLS_H
#define REVPROXY_TLS_H

#include "apr_pools.h"
#include "revproxy_conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Make (or find, for identical settings) a TLS configuration.  ca_file,
 * cert_file and key_file may be NULL (system trust store, no client
 * certificate; key_file NULL: the key is in cert_file).  p is the
 * configuration pool: the configurations made from it are shared by
 * identical settings and freed with it (SSL_CTX and the TLS sessions kept
 * for resumption).  Returns NULL or an error message from p. */
const char *revproxy_tls_conf_make(apr_pool_t *p, const char *ca_file,
                                   const char *cert_file,
                                   const char *key_file,
                                   revproxy_tls_conf **out);

/* In each child (child_init): the sessions it keeps are freed when it
 * exits.  pconf is the pool revproxy_tls_conf_make was given. */
void revproxy_tls_child_init(apr_pool_t *pconf, apr_pool_t *pchild);

/* Handshake on c (already TCP-connected, non-blocking) for host, within
 * timeout (0: no limit).  SNI is sent unless host is an IP literal; with
 * verify the chain and the host name (or address) are checked.  The last
 * session of the same backend and verification mode is offered for
 * resumption.  APR_TIMEUP when the time ran out; on any failure *why says
 * why (e.g. the verification error), allocated from p, and c->tls may be
 * set: revproxy_tls_close() frees it. */
apr_status_t revproxy_tls_handshake(revproxy_conn *c, revproxy_tls_conf *tc,
                                    const char *host, int verify,
                                    apr_interval_time_t timeout,
                                    apr_pool_t *p, const char **why);

/* Like revproxy_conn_read/_writev's one step: APR_EAGAIN when the socket
 * must become readable (*want = APR_POLLIN) or writable (APR_POLLOUT). */
apr_status_t revproxy_tls_read(revproxy_conn *c, char *buf, apr_size_t *len,
                               apr_int16_t *want);
apr_status_t revproxy_tls_write(revproxy_conn *c, const char *buf,
                                apr_size_t *len, apr_int16_t *want);

/* Why the last failed TLS read, write or handshake on c failed (OpenSSL's
 * error text, e.g. an alert the backend sent), or NULL when none failed.
 * Valid until revproxy_tls_close(). */
const char *revproxy_tls_error(revproxy_conn *c);

/* Bytes already decrypted and waiting in the SSL object. */
int revproxy_tls_pending(revproxy_conn *c);

/* Send close_notify (best effort, no waiting) and free the SSL object. */
void revproxy_tls_close(revproxy_conn *c);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_TLS_H */
