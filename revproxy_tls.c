/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * HTTPS backends: OpenSSL over a non-blocking socket.
 *
 * Configuration time: one revproxy_tls_conf (an SSL_CTX) per distinct
 * (CA file, client certificate, key) triple, shared by every server that
 * names the same files; the list lives in the configuration pool, so a
 * restart builds it anew.  The children inherit the contexts.
 *
 * Request time: a revproxy_tls (an SSL object) per connection, on the
 * connection's socket, with SNI and host-name verification.  Handshake,
 * reads and writes never block inside OpenSSL and never wait here:
 * WANT_READ / WANT_WRITE become APR_EAGAIN and the event to wait for,
 * and the caller (revproxy_conn.c) waits with apr_poll, bounded by its
 * timeout.
 *
 * Session resumption: OpenSSL's client side has no useful internal cache
 * (it cannot know which server a session is for), so each conf keeps the
 * newest session per backend (host, port, verification mode) itself,
 * filled from the new-session callback -- TLS 1.3 tickets arrive after
 * the handshake, while the response is read -- and offered to the next
 * new connection to the same backend.  Verification mode is part of the
 * key: a session made without verification must never let a verifying
 * connection skip it.
 */

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <arpa/inet.h>

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "apr_strings.h"
#include "apr_hash.h"
#include "apr_poll.h"
#include "apr_thread_mutex.h"

#include "revproxy_tls.h"

/* Sessions kept per conf: backends can come from captures, so bounded
 * like the connection pool's endpoints.  Beyond it new backends get full
 * handshakes only. */
#define MAX_SESSIONS 1024

/* Error queue entries quoted in a failure message. */
#define MAX_ERR_TEXTS 4

/* TLS protocol failures (alerts, bad records, verification) have no
 * errno of their own; "Protocol error" reads right in the log's rv slot. */
#define TLS_EPROTO APR_FROM_OS_ERROR(EPROTO)

struct revproxy_tls_conf {
    SSL_CTX *ctx;
    const char *ca_file, *cert_file, *key_file;     /* NULL: none */
    revproxy_tls_conf *next;    /* in the configuration pool's list */

    /* the session cache, under mutex; its own pool, since it grows in
     * the children while other threads use the configuration pool */
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;
#endif
    apr_pool_t *cache_pool;
    apr_hash_t *sessions;       /* key -> tls_cached */
};

typedef struct tls_cached {
    const char *key;
    SSL_SESSION *sess;
} tls_cached;

/* Per connection, in the connection's pool; the SSL object's app data,
 * for the callbacks. */
struct revproxy_tls {
    SSL *ssl;
    revproxy_tls_conf *tc;
    const char *key;            /* session cache key */
    SSL_SESSION *offered;       /* the session offered for resumption, with
                                   a reference, until the handshake ends */
    int verify;
    int broken;                 /* fatal error: no close_notify */
    int verify_err;             /* first verification error seen */
    int verify_depth;
    char subject[256];          /* of the certificate it concerns */
    char error[512];            /* the last failure, revproxy_tls_error() */
};

#define REGISTRY_KEY "revproxy_tls_confs"

#if APR_HAS_THREADS
#define CACHE_LOCK(tc)   apr_thread_mutex_lock((tc)->mutex)
#define CACHE_UNLOCK(tc) apr_thread_mutex_unlock((tc)->mutex)
#else
#define CACHE_LOCK(tc)   APR_SUCCESS
#define CACHE_UNLOCK(tc) APR_SUCCESS
#endif

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* OpenSSL's error queue as text into buf ("error:0A000086:SSL
 * routines::certificate verify failed; ..."), emptied.  Returns 0 when
 * it was empty. */
static int err_to_buf(char *buf, apr_size_t size)
{
    apr_size_t used = 0;
    unsigned long e;
    int n = 0;

    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        if (n++ >= MAX_ERR_TEXTS || used + 3 >= size) {
            continue;           /* drain the rest */
        }
        if (used) {
            memcpy(buf + used, "; ", 3);
            used += 2;
        }
        ERR_error_string_n(e, buf + used, size - used);
        used += strlen(buf + used);
    }
    return n > 0;
}

/* The same, from p; NULL when the queue was empty. */
static const char *err_text(apr_pool_t *p)
{
    char buf[512];

    return err_to_buf(buf, sizeof(buf)) ? apr_pstrdup(p, buf) : NULL;
}

/* An encrypted key would make OpenSSL prompt on the terminal: refuse. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf; (void)size; (void)rwflag; (void)u;
    return -1;
}

/* Record the first failure, for the log line; the verdict is OpenSSL's. */
static int verify_cb(int ok, X509_STORE_CTX *sctx)
{
    SSL *ssl;
    revproxy_tls *t;
    X509 *cert;

    if (ok) {
        return ok;
    }
    ssl = X509_STORE_CTX_get_ex_data(sctx,
                                     SSL_get_ex_data_X509_STORE_CTX_idx());
    t = ssl ? SSL_get_app_data(ssl) : NULL;
    if (t && t->verify_err == 0) {
        t->verify_err = X509_STORE_CTX_get_error(sctx);
        t->verify_depth = X509_STORE_CTX_get_error_depth(sctx);
        cert = X509_STORE_CTX_get_current_cert(sctx);
        if (cert) {
            X509_NAME_oneline(X509_get_subject_name(cert), t->subject,
                              sizeof(t->subject));
        }
    }
    return ok;
}

/* ---------------------------------------------------------------------- */
/* Session cache                                                           */

/* A new session for the connection's backend (after a full handshake, and
 * for each TLS 1.3 ticket): it replaces the one kept.  Returns 1: we keep
 * the reference. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    revproxy_tls *t = SSL_get_app_data(ssl);
    revproxy_tls_conf *tc;
    tls_cached *e;
    int kept = 0;

    if (t == NULL || t->key == NULL || !SSL_SESSION_is_resumable(sess)) {
        return 0;
    }
    tc = t->tc;
    CACHE_LOCK(tc);
    e = apr_hash_get(tc->sessions, t->key, APR_HASH_KEY_STRING);
    if (e == NULL && apr_hash_count(tc->sessions) < MAX_SESSIONS) {
        e = apr_pcalloc(tc->cache_pool, sizeof(*e));
        e->key = apr_pstrdup(tc->cache_pool, t->key);
        apr_hash_set(tc->sessions, e->key, APR_HASH_KEY_STRING, e);
    }
    if (e) {
        if (e->sess) {
            SSL_SESSION_free(e->sess);
        }
        e->sess = sess;
        kept = 1;
    }
    CACHE_UNLOCK(tc);
    return kept;
}

/* The session kept for key, with a reference for the caller, or NULL. */
static SSL_SESSION *session_get(revproxy_tls_conf *tc, const char *key)
{
    tls_cached *e;
    SSL_SESSION *sess = NULL;

    CACHE_LOCK(tc);
    e = apr_hash_get(tc->sessions, key, APR_HASH_KEY_STRING);
    if (e && e->sess) {
        sess = e->sess;
        SSL_SESSION_up_ref(sess);
    }
    CACHE_UNLOCK(tc);
    return sess;
}

/* Forget sess for key (a resumption that failed), unless replaced. */
static void session_drop(revproxy_tls_conf *tc, const char *key,
                         SSL_SESSION *sess)
{
    tls_cached *e;

    CACHE_LOCK(tc);
    e = apr_hash_get(tc->sessions, key, APR_HASH_KEY_STRING);
    if (e && e->sess == sess) {
        SSL_SESSION_free(e->sess);
        e->sess = NULL;
    }
    CACHE_UNLOCK(tc);
}

/* Children make the sessions, and exit without destroying the
 * configuration pool: free what they kept when they go. */
static apr_status_t free_child_sessions(void *data)
{
    revproxy_tls_conf *tc;

    for (tc = *(revproxy_tls_conf **)data; tc; tc = tc->next) {
        apr_hash_index_t *hi;

        CACHE_LOCK(tc);
        for (hi = apr_hash_first(NULL, tc->sessions); hi;
             hi = apr_hash_next(hi)) {
            tls_cached *e = apr_hash_this_val(hi);
            if (e->sess) {
                SSL_SESSION_free(e->sess);
                e->sess = NULL;
            }
        }
        CACHE_UNLOCK(tc);
    }
    return APR_SUCCESS;
}

void revproxy_tls_child_init(apr_pool_t *pconf, apr_pool_t *pchild)
{
    revproxy_tls_conf **head = NULL;

    apr_pool_userdata_get((void **)&head, REGISTRY_KEY, pconf);
    if (head) {
        apr_pool_cleanup_register(pchild, head, free_child_sessions,
                                  apr_pool_cleanup_null);
    }
}

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */

static apr_status_t conf_cleanup(void *data)
{
    revproxy_tls_conf *tc = data;
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(NULL, tc->sessions); hi; hi = apr_hash_next(hi)) {
        tls_cached *e = apr_hash_this_val(hi);
        if (e->sess) {
            SSL_SESSION_free(e->sess);
            e->sess = NULL;
        }
    }
    apr_pool_destroy(tc->cache_pool);
    SSL_CTX_free(tc->ctx);
    return APR_SUCCESS;
}

/* Why the client key could not be used, from the error queue. */
static const char *key_error(apr_pool_t *p, revproxy_tls_conf *tc)
{
    int mismatch = 0, locked = 0;
    unsigned long e;

    while ((e = ERR_peek_error()) != 0) {
        if (ERR_GET_LIB(e) == ERR_LIB_X509
            && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
            mismatch = 1;
        }
        if (ERR_GET_REASON(e) == ERR_R_INTERRUPTED_OR_CANCELLED) {
            locked = 1;     /* our callback refused to give a passphrase */
        }
        if (mismatch || locked) {
            break;
        }
        ERR_get_error();
    }
    ERR_clear_error();
    if (mismatch) {
        return apr_psprintf(p, "the key in %s does not match the "
                            "certificate in %s", tc->key_file,
                            tc->cert_file);
    }
    if (locked) {
        return apr_psprintf(p, "the key in %s is encrypted; encrypted keys "
                            "are not supported", tc->key_file);
    }
    return apr_psprintf(p, "cannot load the client key from %s (a PEM "
                        "private key is expected)", tc->key_file);
}

static const char *ctx_make(apr_pool_t *p, revproxy_tls_conf *tc)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX *ctx;
    const char *e;

    ERR_clear_error();
    ctx = tc->ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        e = err_text(p);
        return apr_psprintf(p, "cannot create an SSL context: %s",
                            e ? e : "unknown error");
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* No SSL_OP_IGNORE_UNEXPECTED_EOF: a close without close_notify is
     * an error, not an end.  Where the HTTP framing (Content-Length,
     * chunked) says what is complete, the proxy never reads that far; a
     * close-delimited body that ends this way was cut short. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                          /* pooled idle connections keep no buffers */
                          | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    SSL_CTX_set_default_passwd_cb(ctx, no_password);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT
                                        | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session_cb);

    if (tc->ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, tc->ca_file, NULL) != 1) {
            e = err_text(p);
            return apr_psprintf(p, "cannot load CA certificates from %s: %s",
                                tc->ca_file, e ? e : "no certificate in it");
        }
    }
    else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        e = err_text(p);
        return apr_psprintf(p, "cannot use the system trust store: %s",
                            e ? e : "unknown error");
    }

    if (tc->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, tc->cert_file) != 1) {
            e = err_text(p);
            return apr_psprintf(p, "cannot load the client certificate "
                                "from %s: %s", tc->cert_file,
                                e ? e : "unknown error");
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, tc->key_file,
                                        SSL_FILETYPE_PEM) != 1) {
            return key_error(p, tc);
        }
        /* A TLS 1.3 backend may ask for it after the handshake (as
         * mod_ssl does for a per-directory SSLVerifyClient). */
        SSL_CTX_set_post_handshake_auth(ctx, 1);
        if (SSL_CTX_check_private_key(ctx) != 1) {
            e = err_text(p);
            return apr_psprintf(p, "the key in %s does not match the "
                                "certificate in %s: %s", tc->key_file,
                                tc->cert_file, e ? e : "mismatch");
        }
    }
    return NULL;
}

const char *revproxy_tls_conf_make(apr_pool_t *p, const char *ca_file,
                                   const char *cert_file,
                                   const char *key_file,
                                   revproxy_tls_conf **out)
{
    revproxy_tls_conf **head = NULL, *tc;
    const char *err;
    apr_status_t rv;

    *out = NULL;
    if (cert_file && key_file == NULL) {
        key_file = cert_file;
    }

    /* Identical settings share one context (and its sessions). */
    apr_pool_userdata_get((void **)&head, REGISTRY_KEY, p);
    if (head == NULL) {
        head = apr_pcalloc(p, sizeof(*head));
        apr_pool_userdata_setn(head, REGISTRY_KEY, NULL, p);
    }
    for (tc = *head; tc; tc = tc->next) {
        if (same(tc->ca_file, ca_file) && same(tc->cert_file, cert_file)
            && same(tc->key_file, key_file)) {
            *out = tc;
            return NULL;
        }
    }

    tc = apr_pcalloc(p, sizeof(*tc));
    tc->ca_file = ca_file ? apr_pstrdup(p, ca_file) : NULL;
    tc->cert_file = cert_file ? apr_pstrdup(p, cert_file) : NULL;
    tc->key_file = key_file ? apr_pstrdup(p, key_file) : NULL;
    rv = apr_pool_create_unmanaged_ex(&tc->cache_pool, NULL, NULL);
    if (rv != APR_SUCCESS) {
        return "out of memory";
    }
    tc->sessions = apr_hash_make(tc->cache_pool);
#if APR_HAS_THREADS
    rv = apr_thread_mutex_create(&tc->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(tc->cache_pool);
        return "cannot create the TLS session cache mutex";
    }
#endif
    /* From here on the cleanup frees whatever was made, on error too. */
    apr_pool_cleanup_register(p, tc, conf_cleanup, apr_pool_cleanup_null);
    err = ctx_make(p, tc);
    if (err) {
        return err;
    }
    tc->next = *head;
    *head = tc;
    *out = tc;
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Connections                                                             */

/* Map a failed SSL call on t to an APR status; t->error says why. */
static apr_status_t ssl_failure(revproxy_tls *t, int ret, apr_int16_t *want)
{
    int err = SSL_get_error(t->ssl, ret);
    apr_status_t rv;

    switch (err) {
    case SSL_ERROR_WANT_READ:
        *want = APR_POLLIN;
        return APR_EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want = APR_POLLOUT;
        return APR_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        apr_cpystrn(t->error, "the backend closed the TLS connection",
                    sizeof(t->error));
        return APR_EOF;
    case SSL_ERROR_SYSCALL:
        rv = apr_get_netos_error();
        t->broken = 1;
        if (err_to_buf(t->error, sizeof(t->error))) {
            return rv != APR_SUCCESS ? rv : TLS_EPROTO;
        }
        if (rv == APR_SUCCESS) {
            apr_cpystrn(t->error, "the backend closed the connection",
                        sizeof(t->error));
            return APR_EOF;
        }
        apr_strerror(rv, t->error, sizeof(t->error));
        return rv;
    default:
        t->broken = 1;
        if (ERR_GET_REASON(ERR_peek_error())
            == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            apr_cpystrn(t->error, "the backend closed the connection "
                        "without TLS close_notify (truncated)",
                        sizeof(t->error));
            return TLS_EPROTO;
        }
        if (!err_to_buf(t->error, sizeof(t->error))) {
            apr_cpystrn(t->error, "TLS error", sizeof(t->error));
        }
        return TLS_EPROTO;
    }
}

/* host without IPv6 brackets; whether it is an IP literal. */
static const char *bare_host(const char *host, apr_pool_t *p, int *is_ip)
{
    apr_size_t hl = strlen(host);
    unsigned char addr[16];

    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        host = apr_pstrmemdup(p, host + 1, hl - 2);
    }
    *is_ip = inet_pton(AF_INET, host, addr) == 1
             || inet_pton(AF_INET6, host, addr) == 1;
    return host;
}

/* The handshake ended (or was given up): the offered session is let go,
 * and forgotten by the cache when it did not serve. */
static void offered_done(revproxy_tls *t, int failed)
{
    if (t->offered) {
        if (failed) {
            session_drop(t->tc, t->key, t->offered);
        }
        SSL_SESSION_free(t->offered);
        t->offered = NULL;
    }
}

/* SNI and what verification checks, for host (bare) on t->ssl.  Returns
 * NULL or why not, from p. */
static const char *set_host(revproxy_tls *t, const char *host, int is_ip,
                            apr_pool_t *p)
{
    SSL *ssl = t->ssl;
    const char *e;

    if (!is_ip && SSL_set_tlsext_host_name(ssl, host) != 1) {
        e = err_text(p);
        return apr_pstrcat(p, "cannot set up the TLS connection: ",
                           e ? e : "unknown error", NULL);
    }
    if (!t->verify) {
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
        return NULL;
    }
    SSL_set_verify(ssl, SSL_VERIFY_PEER, verify_cb);
    if (is_ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1) {
            ERR_clear_error();
            return apr_psprintf(p, "cannot verify against address %s", host);
        }
        return NULL;
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, host) != 1) {
        ERR_clear_error();
        return apr_psprintf(p, "cannot verify against name %s", host);
    }
    return NULL;
}

apr_status_t revproxy_tls_make(revproxy_tls **out, revproxy_tls_conf *tc,
                               int fd, const char *host, apr_port_t port,
                               int verify, apr_pool_t *pool, apr_pool_t *p,
                               const char **why)
{
    revproxy_tls *t;
    SSL *ssl;
    int is_ip;

    *out = NULL;
    *why = NULL;
    if (tc == NULL || tc->ctx == NULL) {
        *why = "no TLS configuration for HTTPS backends";
        return APR_EINIT;
    }
    if (fd < 0) {
        *why = "cannot get the socket";
        return APR_EBADF;
    }
    host = bare_host(host, p, &is_ip);

    ERR_clear_error();
    ssl = SSL_new(tc->ctx);
    if (ssl == NULL) {
        const char *e = err_text(p);
        *why = apr_pstrcat(p, "cannot create the TLS connection: ",
                           e ? e : "out of memory", NULL);
        return APR_ENOMEM;
    }
    t = apr_pcalloc(pool, sizeof(*t));
    t->ssl = ssl;
    t->tc = tc;
    t->verify = verify ? 1 : 0;
    t->key = apr_psprintf(pool, "%s|%u|%d", host, (unsigned)port, t->verify);
    SSL_set_app_data(ssl, t);

    if (SSL_set_fd(ssl, fd) != 1) {
        const char *e = err_text(p);
        *why = apr_pstrcat(p, "cannot set up the TLS connection: ",
                           e ? e : "unknown error", NULL);
    }
    else {
        *why = set_host(t, host, is_ip, p);
    }
    if (*why) {
        ERR_clear_error();
        SSL_free(ssl);
        return APR_EGENERAL;
    }
    t->offered = session_get(tc, t->key);
    if (t->offered) {
        SSL_set_session(ssl, t->offered);   /* takes its own reference */
    }
    SSL_set_connect_state(ssl);
    *out = t;
    return APR_SUCCESS;
}

/* Why the handshake failed: the verification error when there was one
 * (the certificate it concerns), else OpenSSL's text. */
static const char *handshake_failure(revproxy_tls *t, apr_pool_t *p)
{
    long vr = t->verify ? SSL_get_verify_result(t->ssl) : X509_V_OK;
    int ve;

    if (vr == X509_V_OK && t->verify_err == 0) {
        return apr_pstrcat(p, "TLS handshake failed: ", t->error, NULL);
    }
    ve = vr != X509_V_OK ? (int)vr : t->verify_err;
    return apr_psprintf(p, "TLS handshake failed: certificate "
                        "verification: %s (%s%s, depth %d)",
                        X509_verify_cert_error_string(ve),
                        t->subject[0] ? "certificate " : "no certificate",
                        t->subject, t->verify_depth);
}

apr_status_t revproxy_tls_handshake(revproxy_tls *t, apr_int16_t *want,
                                    apr_pool_t *p, const char **why)
{
    apr_status_t rv;
    int ret;

    *why = NULL;
    ERR_clear_error();
    errno = 0;
    ret = SSL_do_handshake(t->ssl);
    if (ret == 1) {
        offered_done(t, 0);
        ERR_clear_error();
        return APR_SUCCESS;
    }
    rv = ssl_failure(t, ret, want);
    if (APR_STATUS_IS_EAGAIN(rv)) {
        ERR_clear_error();
        return rv;
    }
    *why = handshake_failure(t, p);
    offered_done(t, 1);
    ERR_clear_error();
    return rv;
}

apr_status_t revproxy_tls_read(revproxy_tls *t, char *buf, apr_size_t *len,
                               apr_int16_t *want)
{
    int n, ret;

    n = *len > INT_MAX ? INT_MAX : (int)*len;
    *len = 0;
    ERR_clear_error();
    errno = 0;
    ret = SSL_read(t->ssl, buf, n);
    if (ret > 0) {
        *len = (apr_size_t)ret;
        return APR_SUCCESS;
    }
    return ssl_failure(t, ret, want);
}

apr_status_t revproxy_tls_write(revproxy_tls *t, const char *buf,
                                apr_size_t *len, apr_int16_t *want)
{
    int n, ret;

    n = *len > INT_MAX ? INT_MAX : (int)*len;
    *len = 0;
    if (n == 0) {
        return APR_SUCCESS;
    }
    ERR_clear_error();
    errno = 0;
    ret = SSL_write(t->ssl, buf, n);
    if (ret > 0) {
        *len = (apr_size_t)ret;
        return APR_SUCCESS;
    }
    return ssl_failure(t, ret, want);
}

const char *revproxy_tls_error(revproxy_tls *t)
{
    return t && t->error[0] ? t->error : NULL;
}

int revproxy_tls_pending(revproxy_tls *t)
{
    return t && t->ssl ? SSL_pending(t->ssl) : 0;
}

int revproxy_tls_resumed(revproxy_tls *t)
{
    return t && t->ssl ? SSL_session_reused(t->ssl) : 0;
}

void revproxy_tls_close(revproxy_tls *t)
{
    if (t == NULL || t->ssl == NULL) {
        return;
    }
    /* A handshake given up half way: its session did not serve, and no
     * close_notify goes out. */
    if (t->offered) {
        t->broken = 1;
        offered_done(t, 1);
    }
    /* close_notify if it can go out now; the socket is non-blocking and
     * closed right after, so nothing waits for the peer's. */
    if (!t->broken && SSL_is_init_finished(t->ssl)) {
        ERR_clear_error();
        SSL_shutdown(t->ssl);
    }
    ERR_clear_error();
    SSL_free(t->ssl);
    t->ssl = NULL;
}
