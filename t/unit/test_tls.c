/* Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/*
 * test_tls.c -- unit tests of revproxy_tls.c, in TAP.
 *
 * The TLS layer is driven directly: a non-blocking socket of our own,
 * and our own apr_poll on whatever the handshake, reads and writes say
 * they want (revproxy_tls.c never waits).  Then the same through
 * revproxy_conn.c, which owns that wait for the proxy (the handshake
 * under the connect timeout).  Certificates are made in memory with
 * OpenSSL and written to a temporary directory; the TLS server is a
 * forked child on 127.0.0.1 with a blocking socket.
 *
 *  - one configuration per distinct (CA, certificate, key), per pool;
 *  - configuration errors: unreadable CA file, key/certificate mismatch,
 *    encrypted key (refused, never a passphrase prompt);
 *  - handshake: verified name, wrong name, wrong IP, no trust, a silent
 *    peer (timeout); session resumption on the next connection; reads,
 *    writes and close;
 *  - through revproxy_conn: a handshake, an exchange and the error text
 *    it gives, a verification failure, a silent peer within the connect
 *    timeout.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_portable.h"
#include "apr_poll.h"

#include "revproxy_conn.h"
#include "revproxy_tls.h"
#include "tap.h"

static char dir[] = "/tmp/rvp-unit-tls-XXXXXX";

static const char *path(apr_pool_t *p, const char *name)
{
    return apr_pstrcat(p, dir, "/", name, NULL);
}

/* A self-signed certificate for san ("DNS:x" / "IP:1.2.3.4"), written to
 * NAME.crt and NAME.key (encrypted with pass when given). */
static void make_cert(apr_pool_t *p, const char *name, const char *san,
                      const char *pass)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *n;
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    FILE *f;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)getpid());
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                               (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, key, EVP_sha256());

    f = fopen(path(p, apr_pstrcat(p, name, ".crt", NULL)), "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(path(p, apr_pstrcat(p, name, ".key", NULL)), "w");
    if (pass) {
        PEM_write_PrivateKey(f, key, EVP_aes_128_cbc(), NULL, 0, NULL,
                             (void *)pass);
    }
    else {
        PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    }
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* ---- a TLS server in a child process --------------------------------- */

/* Serves nconn connections on the listening socket with NAME.crt: reads a
 * line, answers "pong reused=R\n", closes.  silent: accepts and never
 * answers. */
static pid_t server(apr_pool_t *p, int lfd, const char *name, int nconn,
                    int silent)
{
    pid_t pid = fork();
    SSL_CTX *ctx;
    int i;

    if (pid != 0) {
        return pid;
    }
    alarm(20);
    ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_file(ctx, path(p, apr_pstrcat(p, name, ".crt",
                                                          NULL)),
                                 SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(ctx, path(p, apr_pstrcat(p, name, ".key",
                                                         NULL)),
                                SSL_FILETYPE_PEM);
    for (i = 0; i < nconn; i++) {
        int fd = accept(lfd, NULL, NULL);
        char line[256];
        SSL *ssl;
        int n;

        if (fd < 0) {
            break;
        }
        if (silent) {
            while (read(fd, line, sizeof(line)) > 0) {
                ;
            }
            close(fd);
            continue;
        }
        ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1
            && (n = SSL_read(ssl, line, sizeof(line) - 1)) > 0) {
            char out[64];
            int len = snprintf(out, sizeof(out), "pong reused=%d\n",
                               SSL_session_reused(ssl));
            SSL_write(ssl, out, len);
            SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        close(fd);
    }
    _exit(0);
}

/* A listening socket on 127.0.0.1; *port set. */
static int listener(apr_port_t *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    listen(fd, 16);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A connected, non-blocking socket, as revproxy_conn.c makes it for
 * TLS, and its TLS side once made. */
typedef struct {
    apr_pool_t *pool;
    apr_socket_t *sock;
    apr_pollfd_t pfd;
    int fd;
    apr_port_t port;
    revproxy_tls *tls;
} tconn;

static tconn *connect_to(apr_port_t port)
{
    apr_pool_t *cp;
    apr_sockaddr_t *sa;
    apr_os_sock_t fd;
    tconn *c;

    apr_pool_create_unmanaged_ex(&cp, NULL, NULL);
    c = apr_pcalloc(cp, sizeof(*c));
    c->pool = cp;
    c->port = port;
    apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, port, 0, cp);
    apr_socket_create(&c->sock, APR_INET, SOCK_STREAM, APR_PROTO_TCP, cp);
    apr_socket_timeout_set(c->sock, apr_time_from_sec(5));
    if (apr_socket_connect(c->sock, sa) != APR_SUCCESS) {
        return NULL;
    }
    apr_socket_timeout_set(c->sock, 0);
    apr_os_sock_get(&fd, c->sock);
    c->fd = fd;
    c->pfd.p = cp;
    c->pfd.desc_type = APR_POLL_SOCKET;
    c->pfd.desc.s = c->sock;
    return c;
}

static void conn_close(tconn *c)
{
    if (c->tls) {
        revproxy_tls_close(c->tls);
    }
    apr_socket_close(c->sock);
    apr_pool_destroy(c->pool);
}

/* Our own wait for what the TLS layer wants: APR_TIMEUP when the time
 * (-1: no limit) ran out first. */
static apr_status_t wait_for(tconn *c, apr_int16_t want,
                             apr_interval_time_t timeout)
{
    apr_int32_t n = 0;
    apr_status_t rv;

    c->pfd.reqevents = want;
    c->pfd.rtnevents = 0;
    do {
        rv = apr_poll(&c->pfd, 1, &n, timeout);
    } while (APR_STATUS_IS_EINTR(rv));
    return rv == APR_SUCCESS && n == 0 ? APR_TIMEUP : rv;
}

/* Make c's TLS side for host and run the handshake step by step, waiting
 * for what each step wants, within timeout (0: no limit). */
static apr_status_t handshake(tconn *c, revproxy_tls_conf *tc,
                              const char *host, int verify,
                              apr_interval_time_t timeout, apr_pool_t *p,
                              const char **why)
{
    apr_time_t deadline = timeout > 0 ? apr_time_now() + timeout : 0;
    apr_status_t rv;

    rv = revproxy_tls_make(&c->tls, tc, c->fd, host, c->port, verify,
                           c->pool, p, why);
    while (rv == APR_SUCCESS) {
        apr_int16_t want = 0;
        apr_interval_time_t left = -1;

        rv = revproxy_tls_handshake(c->tls, &want, p, why);
        if (!APR_STATUS_IS_EAGAIN(rv)) {
            break;
        }
        if (deadline) {
            left = deadline - apr_time_now();
            if (left <= 0) {
                rv = APR_TIMEUP;
                break;
            }
        }
        rv = wait_for(c, want, left);
    }
    if (APR_STATUS_IS_TIMEUP(rv)) {
        *why = "no handshake within the time given";
    }
    return rv;
}

/* Send "ping\n", return the answer line (or an error text). */
static const char *exchange(tconn *c, apr_pool_t *p)
{
    const char *msg = "ping\n";
    apr_size_t n = strlen(msg);
    char buf[256];
    apr_size_t got = 0;
    apr_int16_t want;
    apr_status_t rv;

    for (;;) {
        apr_size_t len = n;
        rv = revproxy_tls_write(c->tls, msg, &len, &want);
        if (rv == APR_SUCCESS && len == n) {
            break;
        }
        if (!APR_STATUS_IS_EAGAIN(rv)
            || wait_for(c, want, apr_time_from_sec(5))) {
            return apr_psprintf(p, "write failed: %d", rv);
        }
    }
    while (got < sizeof(buf) - 1) {
        apr_size_t len = sizeof(buf) - 1 - got;
        rv = revproxy_tls_read(c->tls, buf + got, &len, &want);
        if (rv == APR_SUCCESS) {
            got += len;
            if (memchr(buf, '\n', got)) {
                break;
            }
            continue;
        }
        if (!APR_STATUS_IS_EAGAIN(rv)
            || wait_for(c, want, apr_time_from_sec(5))) {
            return apr_psprintf(p, "read failed: %d", rv);
        }
    }
    /* Then the server's close_notify: a clean EOF. */
    for (;;) {
        apr_size_t len = 1;
        char b;
        rv = revproxy_tls_read(c->tls, &b, &len, &want);
        if (!APR_STATUS_IS_EAGAIN(rv)
            || wait_for(c, want, apr_time_from_sec(5))) {
            break;
        }
    }
    if (rv != APR_EOF) {
        return apr_psprintf(p, "no EOF after the answer: %d", rv);
    }
    return apr_pstrmemdup(p, buf, got);
}

static void reap(pid_t pid)
{
    int st;

    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
}

/* ---- tests ------------------------------------------------------------ */

static void test_conf(apr_pool_t *p)
{
    revproxy_tls_conf *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    const char *err;
    const char *ca = path(p, "good.crt");
    apr_pool_t *p2;

    err = revproxy_tls_conf_make(p, NULL, NULL, NULL, &a);
    ok(err == NULL && a != NULL, "system store configuration");
    revproxy_tls_conf_make(p, NULL, NULL, NULL, &b);
    ok(a == b, "... identical settings share it");
    err = revproxy_tls_conf_make(p, ca, NULL, NULL, &c);
    ok(err == NULL && c != NULL && c != a, "a CA file: another one");
    revproxy_tls_conf_make(p, apr_pstrdup(p, ca), NULL, NULL, &d);
    ok(d == c, "... the same CA file (another string): shared");
    err = revproxy_tls_conf_make(p, ca, path(p, "good.crt"),
                                 path(p, "good.key"), &d);
    ok(err == NULL && d != c && d != a, "client certificate: another one");
    if (err) {
        diag("%s", err);
    }

    err = revproxy_tls_conf_make(p, path(p, "garbage.pem"), NULL, NULL, &d);
    ok(err && strstr(err, "cannot load CA certificates from")
       && strstr(err, "garbage.pem"), "unusable CA file: %s",
       err ? err : "(no error)");
    ok(d == NULL, "... no configuration");
    err = revproxy_tls_conf_make(p, NULL, path(p, "good.crt"),
                                 path(p, "other.key"), &d);
    ok(err && strstr(err, "does not match"), "key of another certificate: %s",
       err ? err : "(no error)");
    err = revproxy_tls_conf_make(p, NULL, path(p, "locked.crt"),
                                 path(p, "locked.key"), &d);
    ok(err && strstr(err, "is encrypted"),
       "encrypted key refused, no prompt: %s", err ? err : "(no error)");

    /* Another configuration pool (a restart): a list of its own, and the
     * old one's cleanup frees its contexts (ASan would tell). */
    apr_pool_create(&p2, NULL);
    revproxy_tls_conf_make(p2, NULL, NULL, NULL, &d);
    ok(d != NULL, "a new configuration pool builds its own");
    apr_pool_destroy(p2);
}

static void test_handshakes(apr_pool_t *p)
{
    revproxy_tls_conf *tc = NULL, *none = NULL;
    tconn *c;
    const char *why = NULL, *ans;
    apr_port_t port;
    apr_status_t rv;
    apr_time_t t0;
    int lfd = listener(&port);
    pid_t pid;

    revproxy_tls_conf_make(p, path(p, "good.crt"), NULL, NULL, &tc);
    revproxy_tls_conf_make(p, path(p, "other.crt"), NULL, NULL, &none);

    /* 1: verified; 2: resumed; 3: wrong name; 4: wrong IP; 5: not
     * trusted; 6: verification off */
    pid = server(p, lfd, "good", 6, 0);

    c = connect_to(port);
    rv = handshake(c, tc, "unit.test", 1, apr_time_from_sec(5), p, &why);
    is_int(rv, APR_SUCCESS, "handshake, verified name (%s)", why ? why : "");
    ans = exchange(c, p);
    is_str(ans, "pong reused=0\n", "... request and answer, clean EOF");
    conn_close(c);

    c = connect_to(port);
    rv = handshake(c, tc, "unit.test", 1, apr_time_from_sec(5), p, &why);
    is_int(rv, APR_SUCCESS, "second connection");
    ok(c->tls && revproxy_tls_resumed(c->tls), "... resumes the session");
    ans = exchange(c, p);
    is_str(ans, "pong reused=1\n", "... the server agrees");
    conn_close(c);

    c = connect_to(port);
    rv = handshake(c, tc, "wrong.test", 1, apr_time_from_sec(5), p, &why);
    ok(rv != APR_SUCCESS && why && strstr(why, "hostname mismatch"),
       "wrong name: %s", why ? why : "(none)");
    conn_close(c);

    c = connect_to(port);
    rv = handshake(c, tc, "127.0.0.1", 1, apr_time_from_sec(5), p, &why);
    ok(rv != APR_SUCCESS && why && strstr(why, "IP address mismatch"),
       "IP literal: %s", why ? why : "(none)");
    conn_close(c);

    c = connect_to(port);
    rv = handshake(c, none, "unit.test", 1, apr_time_from_sec(5), p, &why);
    ok(rv != APR_SUCCESS && why && strstr(why, "certificate verification"),
       "untrusted: %s", why ? why : "(none)");
    conn_close(c);

    c = connect_to(port);
    rv = handshake(c, none, "unit.test", 0, apr_time_from_sec(5), p, &why);
    is_int(rv, APR_SUCCESS, "untrusted, verification off: handshake done");
    ok(!revproxy_tls_resumed(c->tls),
       "... the verified session is not offered without verification");
    is_str(exchange(c, p), "pong reused=0\n", "... answer");
    conn_close(c);
    reap(pid);

    /* A peer that never answers the handshake. */
    pid = server(p, lfd, "good", 1, 1);
    c = connect_to(port);
    t0 = apr_time_now();
    rv = handshake(c, tc, "unit.test", 1, apr_time_from_msec(300), p, &why);
    ok(APR_STATUS_IS_TIMEUP(rv), "silent peer: APR_TIMEUP (%s)",
       why ? why : "");
    ok(apr_time_now() - t0 < apr_time_from_sec(2), "... after %d ms",
       (int)apr_time_as_msec(apr_time_now() - t0));
    conn_close(c);
    reap(pid);
    close(lfd);

    {
        revproxy_tls *t = NULL;
        rv = revproxy_tls_make(&t, NULL, 0, "x", 443, 1, p, p, &why);
        ok(rv != APR_SUCCESS && why && t == NULL,
           "no configuration: an error, nothing allocated");
    }
}

/* Send "ping\n" through revproxy_conn, return the answer line (or an
 * error text) once the server's close_notify came. */
static const char *conn_exchange(revproxy_conn *c, apr_pool_t *p)
{
    char msg[] = "ping\n", buf[256], b;
    struct iovec v;
    apr_size_t got = 0, len;
    apr_status_t rv;

    v.iov_base = msg;
    v.iov_len = strlen(msg);
    rv = revproxy_conn_writev(c, &v, 1, apr_time_from_sec(5));
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "write failed: %d", rv);
    }
    while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
        len = sizeof(buf) - 1 - got;
        rv = revproxy_conn_read(c, buf + got, &len, apr_time_from_sec(5));
        if (rv != APR_SUCCESS) {
            return apr_psprintf(p, "read failed: %d", rv);
        }
        got += len;
    }
    len = 1;
    rv = revproxy_conn_read(c, &b, &len, apr_time_from_sec(5));
    if (rv != APR_EOF) {
        return apr_psprintf(p, "no EOF after the answer: %d", rv);
    }
    return apr_pstrmemdup(p, buf, got);
}

/* The same through revproxy_conn.c, which waits for what the TLS layer
 * wants (the handshake within the connect timeout) and passes its error
 * text on. */
static void test_conn(apr_pool_t *p)
{
    revproxy_tls_conf *tc = NULL, *none = NULL;
    revproxy_addr a;
    revproxy_conn *c = NULL;
    const char *why = NULL;
    apr_port_t port;
    apr_status_t rv;
    apr_time_t t0;
    int lfd = listener(&port), reused;
    pid_t pid;

    revproxy_tls_conf_make(p, path(p, "good.crt"), NULL, NULL, &tc);
    revproxy_tls_conf_make(p, path(p, "other.crt"), NULL, NULL, &none);
    memset(&a, 0, sizeof(a));
    a.https = 1;
    a.host = "127.0.0.1";
    a.port = port;

    /* 1: verified against the address; 2: verification off */
    pid = server(p, lfd, "good", 2, 0);
    a.tls = tc;
    a.tls_verify = 1;
    rv = revproxy_conn_acquire(&a, 0, apr_time_from_sec(5), p, &c, &reused,
                               &why);
    ok(rv != APR_SUCCESS && why
       && strstr(why, "TLS handshake failed: certificate verification: "
                      "IP address mismatch"),
       "conn: the handshake's failure: %s", why ? why : "(none)");

    a.tls = none;
    a.tls_verify = 0;
    rv = revproxy_conn_acquire(&a, 0, apr_time_from_sec(5), p, &c, &reused,
                               &why);
    is_int(rv, APR_SUCCESS, "conn: handshake, verification off (%s)",
           why ? why : "");
    if (rv == APR_SUCCESS) {
        ok(revproxy_conn_error(c) == NULL, "... no error text yet");
        is_str(conn_exchange(c, p), "pong reused=0\n",
               "... request and answer, clean EOF");
        is_str(revproxy_conn_error(c), "the backend closed the TLS connection",
               "... the TLS layer's word for it");
        revproxy_conn_release(c, 0, 0, 0);
    }
    reap(pid);

    /* A peer that never answers the handshake. */
    pid = server(p, lfd, "good", 1, 1);
    a.tls = tc;
    a.tls_verify = 1;
    t0 = apr_time_now();
    rv = revproxy_conn_acquire(&a, 0, apr_time_from_msec(300), p, &c,
                               &reused, &why);
    ok(APR_STATUS_IS_TIMEUP(rv), "conn: silent peer: APR_TIMEUP");
    is_str(why, "TLS handshake not done within the connect timeout",
           "... and why");
    ok(apr_time_now() - t0 < apr_time_from_sec(2), "... after %d ms",
       (int)apr_time_as_msec(apr_time_now() - t0));
    reap(pid);

    /* Plain TCP has no words of its own (the backlog accepts it). */
    a.https = 0;
    a.tls = NULL;
    rv = revproxy_conn_acquire(&a, 0, apr_time_from_sec(5), p, &c, &reused,
                               &why);
    is_int(rv, APR_SUCCESS, "conn: plain TCP");
    if (rv == APR_SUCCESS) {
        ok(revproxy_conn_error(c) == NULL, "... no error text");
        revproxy_conn_release(c, 0, 0, 0);
    }
    close(lfd);
}

int main(void)
{
    apr_pool_t *p;
    FILE *f;

    apr_initialize();
    apr_pool_create(&p, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    make_cert(p, "good", "DNS:unit.test", NULL);
    make_cert(p, "other", "DNS:other.test", NULL);
    make_cert(p, "locked", "DNS:locked.test", "secret");
    f = fopen(path(p, "garbage.pem"), "w");
    fputs("not a certificate\n", f);
    fclose(f);

    test_conf(p);
    test_handshakes(p);
    test_conn(p);

    apr_pool_destroy(p);
    apr_terminate();
    if (fork() == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(1);
    }
    wait(NULL);
    return done_testing();
}
