/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_tls -- OpenSSL over a non-blocking socket.
 *
 * One revproxy_tls_conf (an SSL_CTX) per distinct TLS configuration,
 * made at configuration time; per connection a revproxy_tls (an SSL
 * object with SNI and host-name verification) over a socket descriptor.
 * A leaf: it never waits.  The handshake, reads and writes return
 * APR_EAGAIN with the event the socket must see first (*want), and the
 * caller waits for it, bounded by its own limit.  No httpd types here,
 * and nothing of the connection layer above.
 */
#ifndef REVPROXY_TLS_H
#define REVPROXY_TLS_H

#include "apr_pools.h"
#include "apr_network_io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct revproxy_tls_conf revproxy_tls_conf;
typedef struct revproxy_tls revproxy_tls;

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

/* The client side of a TLS connection to host:port over fd (connected,
 * non-blocking), allocated from pool, which must outlive it.  SNI is sent
 * unless host is an IP literal (brackets allowed); with verify the chain
 * and the host name (or address) are checked by the handshake.  The last
 * session of the same backend (host, port) and verification mode is
 * offered for resumption.  On failure *out is NULL (nothing to free) and
 * *why says why, allocated from p. */
apr_status_t revproxy_tls_make(revproxy_tls **out, revproxy_tls_conf *tc,
                               int fd, const char *host, apr_port_t port,
                               int verify, apr_pool_t *pool, apr_pool_t *p,
                               const char **why);

/* One step of the handshake: APR_SUCCESS when it is done; APR_EAGAIN
 * when the socket must become readable (*want = APR_POLLIN) or writable
 * (APR_POLLOUT) first, to be called again then; anything else is a
 * failure and *why says why ("TLS handshake failed: certificate
 * verification: ..."), allocated from p.  A caller that gives up waiting
 * just closes t: a handshake not done counts as failed. */
apr_status_t revproxy_tls_handshake(revproxy_tls *t, apr_int16_t *want,
                                    apr_pool_t *p, const char **why);

/* One read or write, never waiting: APR_EAGAIN with *want as for the
 * handshake.  A read returns APR_EOF when the backend closed the TLS
 * connection. */
apr_status_t revproxy_tls_read(revproxy_tls *t, char *buf, apr_size_t *len,
                               apr_int16_t *want);
apr_status_t revproxy_tls_write(revproxy_tls *t, const char *buf,
                                apr_size_t *len, apr_int16_t *want);

/* Why the last failed TLS read, write or handshake on t failed (OpenSSL's
 * error text, e.g. an alert the backend sent), or NULL when none failed.
 * Valid until revproxy_tls_close(). */
const char *revproxy_tls_error(revproxy_tls *t);

/* Bytes already decrypted and waiting in t. */
int revproxy_tls_pending(revproxy_tls *t);

/* Whether the handshake resumed an earlier session. */
int revproxy_tls_resumed(revproxy_tls *t);

/* Send close_notify (best effort, no waiting) and free the SSL object;
 * the socket stays open, the caller closes it.  A handshake not done
 * sends nothing, and its offered session is not offered again. */
void revproxy_tls_close(revproxy_tls *t);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_TLS_H */
