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
 * test_client.c -- unit tests of revproxy_client.c, in TAP.
 *
 * The client core alone (no httpd): revproxy_client over revproxy_conn's
 * keep-alive pool, against a backend scripted byte by byte.  The backend
 * is a forked child on a 127.0.0.1 listener of its own (a socketpair has
 * no address to connect to).  It reads request heads a byte at a time,
 * so that it never takes what follows them, answers what the test tells
 * it to, and reports what it received, and on which connection, through
 * a pipe: the test compares that log byte for byte.  Every wait is
 * bounded (poll timeouts, alarm()).
 *
 *  - a Content-Length answer: status, reason, fields (hop-by-hop ones
 *    removed, Content-Length once), the body exact; the connection pooled
 *    and the next client's request on the same connection;
 *  - chunked with trailers (dribbled, and a chunk larger than a read), a
 *    head over several reads, close-delimited, Connection: close,
 *    HTTP/1.0, Transfer-Encoding with Content-Length, HEAD, 204, 304,
 *    Content-Length: 0, a body that waits (non-blocking read), a 101
 *    handing over the bytes after its head;
 *  - bytes beyond an answer (in the same write, left on the socket after
 *    the body, or late while the connection is idle) and an idle
 *    connection the backend closed: the next request goes out on a new
 *    connection and gets its own answer;
 *  - request framing: Content-Length bodies (buckets, pieces, more
 *    buckets than one write takes), too long or too short ones refused
 *    with nothing of them written, chunked bodies, revproxy_client_wrote;
 *  - a pooled connection closed unanswered (the facts the replay rule
 *    reads), then a second attempt of the same client on a new one;
 *  - failures: refused, connect timeout, no head in time (silent,
 *    dripping), closed before/inside the head, invalid heads (status
 *    line, conflicting lengths, field count and line length), interim
 *    heads (10 taken, 11 refused), an unrequested 101, a transfer coding
 *    other than chunked, bodies cut short, invalid or stalled (never
 *    pooled).
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_buckets.h"

#include "revproxy_client.h"
#include "revproxy_http1.h"
#include "tap.h"

#define NONE    REVPROXY_FAIL_NONE
#define REFUSED REVPROXY_FAIL_REFUSED
#define TIMEOUT REVPROXY_FAIL_TIMEOUT
#define BAD     REVPROXY_FAIL_BAD

#define QUIET_MS 300            /* the backend's "nothing more came" */

static apr_bucket_alloc_t *ba;

/* ---- both sides ------------------------------------------------------- */

/* b as one printable line: CR, LF, backslash and bytes outside
 * printable ASCII escaped.  out holds 4 * n + 1 bytes. */
static char *esc(const char *b, size_t n, char *out)
{
    char *o = out;
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)b[i];

        if (ch == '\r') {
            *o++ = '\\';
            *o++ = 'r';
        }
        else if (ch == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        }
        else if (ch == '\\') {
            *o++ = '\\';
            *o++ = '\\';
        }
        else if (ch < 0x20 || ch > 0x7e) {
            o += sprintf(o, "\\x%02x", ch);
        }
        else {
            *o++ = (char)ch;
        }
    }
    *o = '\0';
    return out;
}

/* Wait up to ms for fd to be readable; 1 when it is. */
static int readable(int fd, int ms)
{
    struct pollfd pf;
    int n;

    pf.fd = fd;
    pf.events = POLLIN;
    pf.revents = 0;
    do {
        n = poll(&pf, 1, ms);
    } while (n < 0 && errno == EINTR);
    return n > 0;
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
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0
        || listen(fd, 16) != 0
        || getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        perror("listener");
        exit(1);
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ---- the backend: a forked child -------------------------------------- */

static int plog_fd = -1;        /* in the child: the log to the parent */

/* 0 when all of b went out, -1 when the other side is gone. */
static int write_all(int fd, const char *b, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

        if (w < 0 && errno == ENOTSOCK) {
            w = write(fd, b, n);
        }
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static void plog(const char *fmt, ...) TAP_PRINTF(1, 2);
static void plog(const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(line)) {
        n = (int)sizeof(line) - 1;
    }
    if (n > 0) {
        write_all(plog_fd, line, (size_t)n);
    }
}

/* "k: what\n" with what escaped. */
static void plog_bytes(const char *prefix, const char *b, size_t n,
                       const char *suffix)
{
    char *e = malloc(4 * n + 1);

    plog("%s%s%s\n", prefix, esc(b, n, e), suffix);
    free(e);
}

#define MAX_CONNS 32

typedef struct {
    int lfd;
    int fd[MAX_CONNS + 1];      /* connection k is fd[k], -1 once closed */
    int n;                      /* connections accepted */
} pstate;

/* A request head, read a byte at a time so that nothing after it is
 * taken; its length, or -1 when the connection closed (or stalled) first. */
static int read_head(int fd, char *h, size_t max)
{
    size_t n = 0;

    while (n < max - 1) {
        if (!readable(fd, 5000) || recv(fd, h + n, 1, 0) != 1) {
            return -1;
        }
        n++;
        if (n >= 4 && memcmp(h + n - 4, "\r\n\r\n", 4) == 0) {
            h[n] = '\0';
            return (int)n;
        }
    }
    return -1;
}

/* The next request head, on whichever connection it comes: a new one is
 * accepted ("accept k"), one the client closed is logged ("k: closed"),
 * the head is logged ("k: HEAD").  Connections are looked at before the
 * listener, so a close that came before a connect is logged before it.
 * Returns k, or 0 when nothing came within 5 s. */
static int p_request(pstate *s, char *h, size_t max)
{
    for (;;) {
        struct pollfd pf[MAX_CONNS + 1];
        int i, r, got = 0;

        pf[0].fd = s->lfd;
        pf[0].events = POLLIN;
        for (i = 1; i <= s->n; i++) {
            pf[i].fd = s->fd[i];
            pf[i].events = POLLIN;
        }
        do {
            r = poll(pf, (nfds_t)s->n + 1, 5000);
        } while (r < 0 && errno == EINTR);
        if (r <= 0) {
            plog("no request\n");
            return 0;
        }
        for (i = 1; i <= s->n && !got; i++) {
            int len;

            if (pf[i].fd < 0 || !pf[i].revents) {
                continue;
            }
            len = read_head(s->fd[i], h, max);
            if (len < 0) {
                plog("%d: closed\n", i);
                close(s->fd[i]);
                s->fd[i] = -1;
                got = -1;
                break;
            }
            plog("%d: ", i);
            plog_bytes("", h, (size_t)len, "");
            return i;
        }
        if (got == 0 && pf[0].revents && s->n < MAX_CONNS) {
            int one = 1, fd = accept(s->lfd, NULL, NULL);

            if (fd >= 0) {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                s->fd[++s->n] = fd;
                plog("accept %d\n", s->n);
            }
        }
    }
}

/* Whatever arrives on fd until nothing came for QUIET_MS or the client
 * closed; logged as "k body: BYTES" (" [eof]" when it closed). */
static int p_body(pstate *s, int k)
{
    static char buf[65536];
    size_t n = 0;
    int eof = 0;

    while (n < sizeof(buf) && readable(s->fd[k], QUIET_MS)) {
        ssize_t r = recv(s->fd[k], buf + n, sizeof(buf) - n, 0);
        if (r <= 0) {
            eof = 1;
            break;
        }
        n += (size_t)r;
    }
    plog("%d body: ", k);
    plog_bytes("", buf, n, eof ? " [eof]" : "");
    return eof;
}

/* Wait until the client closes connection k (at most 5 s), then close
 * it: "k: closed". */
static void p_until_closed(pstate *s, int k)
{
    char b[4096];

    while (readable(s->fd[k], 5000) && recv(s->fd[k], b, sizeof(b), 0) > 0) {
        ;
    }
    plog("%d: closed\n", k);
    close(s->fd[k]);
    s->fd[k] = -1;
}

static void p_send(pstate *s, int k, const char *b)
{
    write_all(s->fd[k], b, strlen(b));
}

/* b in pieces of step bytes, a pause of us between them; stops when the
 * client is gone. */
static void p_dribble(pstate *s, int k, const char *b, size_t step, int us)
{
    size_t n = strlen(b);

    while (n > 0) {
        size_t w = n < step ? n : step;
        if (write_all(s->fd[k], b, w) != 0) {
            return;
        }
        b += w;
        n -= w;
        usleep(us);
    }
}

static void p_close(pstate *s, int k)
{
    close(s->fd[k]);
    s->fd[k] = -1;
}

/* ---- the backend, from the test's side -------------------------------- */

typedef struct {
    pid_t pid;
    int fd;                     /* the child's log */
    int lfd;
    apr_port_t port;
    char log[65536];
    size_t len;
} peer;

static void peer_start(peer *pe, void (*script)(pstate *s))
{
    int pfd[2];

    pe->lfd = listener(&pe->port);
    if (pipe(pfd) != 0) {
        perror("pipe");
        exit(1);
    }
    fflush(stdout);
    pe->pid = fork();
    if (pe->pid == 0) {
        pstate s;
        long max = sysconf(_SC_OPEN_MAX);
        int fd;

        /* Only the listener and the log: a pooled client connection of
         * the parent held open here would hide its close. */
        if (max < 0 || max > 4096) {
            max = 4096;
        }
        for (fd = 3; fd < max; fd++) {
            if (fd != pe->lfd && fd != pfd[1]) {
                close(fd);
            }
        }
        plog_fd = pfd[1];
        alarm(20);
        memset(&s, 0, sizeof(s));
        s.lfd = pe->lfd;
        script(&s);
        _exit(0);
    }
    close(pfd[1]);
    pe->fd = pfd[0];
    pe->len = 0;
    pe->log[0] = '\0';
}

/* Read the log for up to ms; 0 at its end. */
static int peer_read(peer *pe, int ms)
{
    ssize_t n;

    if (pe->fd < 0 || !readable(pe->fd, ms)) {
        return 0;
    }
    n = read(pe->fd, pe->log + pe->len, sizeof(pe->log) - 1 - pe->len);
    if (n <= 0) {
        close(pe->fd);
        pe->fd = -1;
        return 0;
    }
    pe->len += (size_t)n;
    pe->log[pe->len] = '\0';
    return 1;
}

static int occurrences(const char *s, const char *marker)
{
    int n = 0;

    while ((s = strstr(s, marker)) != NULL) {
        n++;
        s += strlen(marker);
    }
    return n;
}

/* Wait (at most 5 s) until the log holds marker n times. */
static int peer_wait(peer *pe, const char *marker, int n)
{
    apr_time_t end = apr_time_now() + apr_time_from_sec(5);

    while (occurrences(pe->log, marker) < n && apr_time_now() < end) {
        peer_read(pe, 100);
    }
    return occurrences(pe->log, marker) >= n;
}

/* The whole log, once the child ended (killed after 10 s). */
static const char *peer_end(peer *pe)
{
    apr_time_t end = apr_time_now() + apr_time_from_sec(10);
    int st;

    while (pe->fd >= 0 && apr_time_now() < end) {
        peer_read(pe, 1000);
    }
    if (pe->fd >= 0) {
        kill(pe->pid, SIGKILL);
        close(pe->fd);
        pe->fd = -1;
    }
    waitpid(pe->pid, &st, 0);
    /* The listener stays open until the end: no later backend gets its
     * port, so no pooled connection of this one is taken for another. */
    return pe->log;
}

/* ---- the client's side ------------------------------------------------ */

static const revproxy_limits base_limits = {
    apr_time_from_sec(2),       /* connect_timeout */
    apr_time_from_sec(3),       /* timeout */
    apr_time_from_sec(3),       /* send_timeout */
    1,                          /* reuse */
    16,                         /* max_idle */
    0,                          /* idle_ttl: the default */
    0, 0                        /* max_line, max_fields: defaults */
};

static revproxy_client *client_to(apr_pool_t *p, apr_port_t port,
                                  apr_interval_time_t timeout)
{
    revproxy_addr a;
    revproxy_limits l = base_limits;

    memset(&a, 0, sizeof(a));
    a.host = "127.0.0.1";
    a.port = port;
    if (timeout > 0) {
        l.timeout = timeout;
    }
    return revproxy_client_make(p, ba, &a, &l);
}

static revproxy_client *client(apr_pool_t *p, const peer *pe)
{
    return client_to(p, pe->port, 0);
}

static const char *req_head(apr_pool_t *p, const char *method,
                            const char *path)
{
    return apr_pstrcat(p, method, " ", path, " HTTP/1.1\r\nHost: unit\r\n\r\n",
                       NULL);
}

/* What the backend logs for that head on connection k. */
static const char *req_log(apr_pool_t *p, int k, const char *method,
                           const char *path)
{
    const char *h = req_head(p, method, path);

    return apr_psprintf(p, "%d: %s\n", k,
                        esc(h, strlen(h), apr_palloc(p, 4 * strlen(h) + 1)));
}

/* Connect (reuse as given) and send a body-less request: the failure
 * kind of connect, or -1 when the write failed. */
static int request(apr_pool_t *p, revproxy_client *c, const char *method,
                   const char *path, int reuse)
{
    const char *h = req_head(p, method, path);
    int kind;

    revproxy_client_expect(c, strcmp(method, "HEAD") == 0, 0,
                           REVPROXY_BODY_NONE, 0);
    kind = revproxy_client_connect(c, reuse);
    if (kind != NONE) {
        return kind;
    }
    return revproxy_client_write(c, h, strlen(h), NULL, 1) == APR_SUCCESS
           ? NONE : -1;
}

/* read_body until it returns anything but APR_SUCCESS (returned); *out
 * the bytes it gave, *len their count. */
static apr_status_t read_all(apr_pool_t *p, revproxy_client *c,
                             const char **out, apr_size_t *len)
{
    apr_bucket_brigade *bb = apr_brigade_create(p, ba);
    char *all = apr_pcalloc(p, 1);
    apr_size_t n = 0;
    apr_status_t rv;
    int rounds = 0;

    do {
        rv = revproxy_client_read_body(c, bb, 0);
        if (!APR_BRIGADE_EMPTY(bb)) {
            char *piece, *more;
            apr_size_t plen;

            apr_brigade_pflatten(bb, &piece, &plen, p);
            more = apr_palloc(p, n + plen + 1);
            memcpy(more, all, n);
            memcpy(more + n, piece, plen);
            more[n + plen] = '\0';
            all = more;
            n += plen;
        }
        apr_brigade_cleanup(bb);
    } while (rv == APR_SUCCESS && ++rounds < 100000);
    *out = all;
    *len = n;
    return rv;
}

static int count_field(void *rec, const char *key, const char *value)
{
    (void)key;
    (void)value;
    (*(int *)rec)++;
    return 1;
}

static int nfields(apr_table_t *t, const char *name)
{
    int n = 0;

    apr_table_do(count_field, &n, t, name, NULL);
    return n;
}

static int idle_now(void)
{
    int open, idle;

    revproxy_conn_counts(&open, &idle);
    return idle;
}

static const char *why(const revproxy_client *c)
{
    const char *w = revproxy_client_why(c);

    return w ? w : "(none)";
}

/* A brigade of data pieces: each string one bucket, immortal, transient
 * or heap in turn. */
static apr_bucket_brigade *brigade(apr_pool_t *p, const char *const *s)
{
    apr_bucket_brigade *bb = apr_brigade_create(p, ba);
    int i;

    for (i = 0; s[i]; i++) {
        apr_size_t n = strlen(s[i]);
        apr_bucket *b = i % 3 == 0 ? apr_bucket_immortal_create(s[i], n, ba)
                      : i % 3 == 1 ? apr_bucket_transient_create(s[i], n, ba)
                      : apr_bucket_heap_create(s[i], n, NULL, ba);
        APR_BRIGADE_INSERT_TAIL(bb, b);
    }
    return bb;
}

/* n one-byte buckets: s[0], s[1], ... */
static apr_bucket_brigade *tiny_buckets(apr_pool_t *p, const char *s,
                                        int n)
{
    apr_bucket_brigade *bb = apr_brigade_create(p, ba);
    int i;

    for (i = 0; i < n; i++) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_immortal_create(s + i, 1, ba));
    }
    return bb;
}

/* ---- a Content-Length answer, then the pooled connection -------------- */

#define LENGTH_ANSWER \
    "HTTP/1.1 200 OK\r\n" \
    "Server: unit\r\n" \
    "Connection: keep-alive, X-Hop\r\n" \
    "X-Hop: named by Connection\r\n" \
    "Keep-Alive: timeout=5\r\n" \
    "Proxy-Connection: keep-alive\r\n" \
    "Trailer: X-Never\r\n" \
    "Upgrade: h2c\r\n" \
    "Content-Length: 11\r\n" \
    "X-Multi: 1\r\n" \
    "Content-Length: 11\r\n" \
    "X-Multi: 2\r\n" \
    "\r\n" \
    "hello world"

static void peer_length(pstate *s)
{
    char h[4096];
    int k;

    k = p_request(s, h, sizeof(h));
    p_send(s, k, LENGTH_ANSWER);
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
}

static void test_length_reuse(apr_pool_t *p)
{
    peer pe;
    revproxy_client *c, *c2;
    const revproxy_response *r;
    const char *body;
    apr_size_t blen;
    apr_status_t rv;
    int idle;

    peer_start(&pe, peer_length);
    c = client(p, &pe);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_NONE, 0);
    is_int(revproxy_client_connect(c, 1), NONE, "length: connect");
    ok(revproxy_client_conn(c) != NULL, "... a connection");
    is_int(revproxy_client_reused(c), 0, "... a new one (the pool is empty)");
    ok(revproxy_client_connect_time(c) >= 0
       && revproxy_client_connect_time(c) < apr_time_from_sec(5),
       "... connect time plausible (%" APR_TIME_T_FMT " us)",
       revproxy_client_connect_time(c));
    is_int(revproxy_client_head_time(c), -1, "... no head time yet");
    is_int(revproxy_client_wrote(c), 0, "... nothing written yet");
    rv = revproxy_client_write(c, req_head(p, "GET", "/1"),
                               strlen(req_head(p, "GET", "/1")), NULL, 1);
    is_int(rv, APR_SUCCESS, "... request written");
    is_int(revproxy_client_wrote(c), 1, "... a byte reached the connection");
    is_int(revproxy_client_bytes_out(c), strlen(req_head(p, "GET", "/1")),
           "... bytes out: the head");
    is_int(revproxy_client_read_head(c), NONE, "... head read (%s)", why(c));
    ok(revproxy_client_head_time(c) >= 0
       && revproxy_client_head_time(c) < apr_time_from_sec(5),
       "... head time plausible (%" APR_TIME_T_FMT " us)",
       revproxy_client_head_time(c));
    r = revproxy_client_response(c);
    is_int(r->status, 200, "... status");
    is_str(r->reason, "OK", "... reason");
    is_int(r->body_mode, REVPROXY_H1_BODY_LENGTH, "... Content-Length body");
    ok(revproxy_client_got_byte(c), "... got a byte");
    is_str(apr_table_get(r->headers, "Server"), "unit", "... Server kept");
    is_int(nfields(r->headers, "X-Multi"), 2,
           "... a repeated end-to-end field kept twice");
    is_int(nfields(r->headers, "Content-Length"), 1,
           "... Content-Length once, though repeated");
    is_str(apr_table_get(r->headers, "Content-Length"), "11",
           "... with its value");
    ok(!apr_table_get(r->headers, "Connection")
       && !apr_table_get(r->headers, "Keep-Alive")
       && !apr_table_get(r->headers, "Proxy-Connection")
       && !apr_table_get(r->headers, "Trailer")
       && !apr_table_get(r->headers, "Upgrade"),
       "... hop-by-hop fields removed");
    ok(!apr_table_get(r->headers, "X-Hop"),
       "... and the field Connection names");
    is_int(apr_table_elts(r->headers)->nelts, 4,
           "... nothing else (Server, X-Multi twice, Content-Length)");

    rv = read_all(p, c, &body, &blen);
    is_int(rv, APR_EOF, "... body read to APR_EOF");
    is_int(blen, 11, "... 11 bytes");
    is_str(body, "hello world", "... exact");
    is_int(revproxy_client_bytes_in(c), strlen(LENGTH_ANSWER),
           "... bytes in: head and body, nothing more");
    is_int(revproxy_client_read_body(c, apr_brigade_create(p, ba), 0), APR_EOF,
           "... read_body after the end: APR_EOF again");

    idle = idle_now();
    revproxy_client_finish(c);
    is_int(idle_now(), idle + 1, "... finish: the connection is pooled");
    ok(revproxy_client_conn(c) == NULL, "... and no longer the client's");
    revproxy_client_finish(c);
    is_int(idle_now(), idle + 1, "... finish again: nothing changes");

    c2 = client(p, &pe);
    is_int(request(p, c2, "GET", "/2", 1), NONE,
           "next client: connect with reuse, request");
    is_int(revproxy_client_reused(c2), 1, "... the pooled connection");
    is_int(revproxy_client_connect_time(c2), 0, "... no connect time");
    is_int(idle_now(), idle, "... taken from the pool");
    is_int(revproxy_client_read_head(c2), NONE, "... head (%s)", why(c2));
    is_int(read_all(p, c2, &body, &blen), APR_EOF, "... body");
    is_str(body, "second", "... its own answer");
    revproxy_client_finish(c2);
    is_int(idle_now(), idle + 1, "... pooled again");

    is_str(peer_end(&pe),
           apr_pstrcat(p, "accept 1\n", req_log(p, 1, "GET", "/1"),
                       req_log(p, 1, "GET", "/2"), NULL),
           "backend: both requests on one connection, nothing else");
}

/* ---- the idle limit (ttl=) ------------------------------------------ */

static void peer_three(pstate *s)
{
    char h[4096];
    int i, k;

    for (i = 0; i < 3; i++) {
        k = p_request(s, h, sizeof(h));
        if (k <= 0) {
            return;
        }
        p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
}

/* One request on a client with idle_ttl ttl; whether its connection came
 * from the pool. */
static int ttl_request(apr_pool_t *p, const peer *pe, const char *path,
                       apr_interval_time_t ttl)
{
    revproxy_limits l = base_limits;
    revproxy_addr a;
    revproxy_client *c;
    const char *body;
    apr_size_t blen;
    int reused;

    memset(&a, 0, sizeof(a));
    a.host = "127.0.0.1";
    a.port = pe->port;
    l.idle_ttl = ttl;
    c = revproxy_client_make(p, ba, &a, &l);
    if (request(p, c, "GET", path, 1) != NONE
        || revproxy_client_read_head(c) != NONE
        || read_all(p, c, &body, &blen) != APR_EOF) {
        return -1;
    }
    reused = revproxy_client_reused(c);
    revproxy_client_finish(c);
    return reused;
}

static void test_ttl(apr_pool_t *p)
{
    peer pe;

    peer_start(&pe, peer_three);
    is_int(ttl_request(p, &pe, "/1", apr_time_from_msec(200)), 0,
           "ttl=200ms: first request on a new connection");
    usleep(300000);
    is_int(ttl_request(p, &pe, "/2", apr_time_from_msec(200)), 0,
           "... idle 300 ms: not reused, a new connection");
    usleep(100000);
    is_int(ttl_request(p, &pe, "/3", apr_time_from_msec(200)), 1,
           "... idle 100 ms: reused");
    is_int(occurrences(peer_end(&pe), "accept "), 2,
           "backend: two connections in all");

    peer_start(&pe, peer_three);
    is_int(ttl_request(p, &pe, "/1", 0), 0,
           "default ttl: first request on a new connection");
    usleep(300000);
    is_int(ttl_request(p, &pe, "/2", 0), 1, "... idle 300 ms: reused");
    is_int(ttl_request(p, &pe, "/3", 0), 1, "... and again");
    is_int(occurrences(peer_end(&pe), "accept "), 1,
           "backend: one connection");
}

/* ---- chunked, close-delimited, no body -------------------------------- */

#define CHUNKED_ANSWER \
    "HTTP/1.1 200 OK\r\n" \
    "Transfer-Encoding: chunked\r\n" \
    "Trailer: X-Sum\r\n" \
    "X-A: b\r\n" \
    "\r\n" \
    "5\r\nhello\r\n" \
    "7;ext=1\r\n, world\r\n" \
    "0\r\n" \
    "X-Sum: 42\r\n" \
    "X-Other: 1\r\n" \
    "\r\n"

#define BIG 40000               /* more than one read of the client */

static char big[BIG + 1];

static void peer_chunked(pstate *s)
{
    char h[4096], size[32];
    int k, i;

    k = p_request(s, h, sizeof(h));
    p_dribble(s, k, CHUNKED_ANSWER, 3, 1000);
    k = p_request(s, h, sizeof(h));
    snprintf(size, sizeof(size), "%x\r\n", BIG);
    p_send(s, k, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    p_send(s, k, size);
    p_send(s, k, big);
    p_send(s, k, "\r\n0\r\n\r\n");
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n");
    p_send(s, k, big);
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\n");
    for (i = 0; i < 90; i++) {
        char field[600];

        snprintf(field, sizeof(field), "X-F%d: %.500s\r\n", i, big);
        p_send(s, k, field);
    }
    p_send(s, k, "Content-Length: 4\r\n\r\nlast");
}

static void test_chunked(apr_pool_t *p)
{
    peer pe;
    revproxy_client *c;
    const revproxy_response *r;
    const char *body;
    apr_size_t blen;
    int idle;

    peer_start(&pe, peer_chunked);
    c = client(p, &pe);
    is_int(request(p, c, "GET", "/c", 1), NONE, "chunked: request");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    r = revproxy_client_response(c);
    is_int(r->body_mode, REVPROXY_H1_BODY_CHUNKED, "... chunked body");
    ok(!apr_table_get(r->headers, "Transfer-Encoding")
       && !apr_table_get(r->headers, "Trailer")
       && !apr_table_get(r->headers, "Content-Length"),
       "... no Transfer-Encoding, Trailer or Content-Length field");
    is_str(apr_table_get(r->headers, "X-A"), "b", "... end-to-end field");
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... read to APR_EOF");
    is_str(body, "hello, world", "... body exact (dribbled, extension "
           "ignored)");
    ok(!apr_table_get(r->headers, "X-Sum"),
       "... trailers not merged into the head");
    is_int(revproxy_client_bytes_in(c), strlen(CHUNKED_ANSWER),
           "... trailers read to their end");
    idle = idle_now();
    revproxy_client_finish(c);
    is_int(idle_now(), idle + 1, "... pooled");

    c = client(p, &pe);
    is_int(request(p, c, "GET", "/big", 1), NONE, "big chunk: request");
    is_int(revproxy_client_reused(c), 1, "... on the pooled connection");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... read to APR_EOF");
    ok(blen == BIG && memcmp(body, big, BIG) == 0,
       "... %d bytes, exact (got %d)", BIG, (int)blen);
    revproxy_client_finish(c);
    is_int(idle_now(), idle + 1, "... pooled");

    c = client(p, &pe);
    is_int(request(p, c, "GET", "/biglen", 1), NONE,
           "big Content-Length body: request");
    is_int(revproxy_client_reused(c), 1, "... on the pooled connection");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... read to APR_EOF");
    ok(blen == BIG && memcmp(body, big, BIG) == 0,
       "... %d bytes, exact (got %d)", BIG, (int)blen);
    revproxy_client_finish(c);
    is_int(idle_now(), idle + 1, "... pooled");

    c = client(p, &pe);
    is_int(request(p, c, "GET", "/bighead", 1), NONE,
           "a head of 90 fields, 45 KB: request");
    is_int(revproxy_client_read_head(c), NONE, "... head over several reads "
           "(%s)", why(c));
    r = revproxy_client_response(c);
    is_int(apr_table_elts(r->headers)->nelts, 91, "... every field");
    ok(apr_table_get(r->headers, "X-F89")
       && strlen(apr_table_get(r->headers, "X-F89")) == 500
       && strncmp(apr_table_get(r->headers, "X-F89"), big, 500) == 0,
       "... the last one exact");
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... body");
    is_str(body, "last", "... exact");
    revproxy_client_finish(c);
    is_int(idle_now(), idle + 1, "... pooled");

    is_str(peer_end(&pe),
           apr_pstrcat(p, "accept 1\n", req_log(p, 1, "GET", "/c"),
                       req_log(p, 1, "GET", "/big"),
                       req_log(p, 1, "GET", "/biglen"),
                       req_log(p, 1, "GET", "/bighead"), NULL),
           "backend: one connection");
}

static void peer_close(pstate *s)
{
    char h[4096];
    int k;

    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nX-A: b\r\n\r\nuntil the end");
    usleep(50000);
    p_send(s, k, ", and more");
    p_close(s, k);
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nConnection: close\r\n"
                 "Content-Length: 2\r\n\r\nok");
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    usleep(200000);
    p_send(s, k, "later");
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n0\r\n\r\n");
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nX-A: b\r\n\r\nTUNNEL");
    p_until_closed(s, k);
}

static void test_close_delimited(apr_pool_t *p)
{
    peer pe;
    revproxy_client *c;
    const revproxy_response *r;
    const char *body;
    apr_size_t blen;
    apr_bucket_brigade *bb = apr_brigade_create(p, ba);
    apr_status_t rv;
    int idle;

    peer_start(&pe, peer_close);
    c = client(p, &pe);
    is_int(request(p, c, "GET", "/close", 1), NONE, "until close: request");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    r = revproxy_client_response(c);
    is_int(r->body_mode, REVPROXY_H1_BODY_CLOSE, "... close-delimited");
    ok(!apr_table_get(r->headers, "Content-Length"), "... no Content-Length");
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... read to APR_EOF");
    is_str(body, "until the end, and more", "... exact");
    idle = idle_now();
    revproxy_client_finish(c);
    is_int(idle_now(), idle, "... not pooled");

    c = client(p, &pe);
    is_int(request(p, c, "GET", "/cc", 1), NONE,
           "Connection: close: request");
    is_int(revproxy_client_reused(c), 0, "... on a new connection");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... body");
    is_str(body, "ok", "... exact");
    revproxy_client_finish(c);
    is_int(idle_now(), idle, "... not pooled");

    c = client(p, &pe);
    is_int(request(p, c, "GET", "/10", 1), NONE, "HTTP/1.0: request");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... body");
    is_str(body, "ok", "... exact");
    revproxy_client_finish(c);
    is_int(idle_now(), idle, "... not pooled (no keep-alive)");

    c = client(p, &pe);
    is_int(request(p, c, "GET", "/wait", 1), NONE, "a body that waits");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    rv = revproxy_client_read_body(c, bb, 1);
    ok(APR_STATUS_IS_EAGAIN(rv), "... non-blocking read: APR_EAGAIN (%d)",
       rv);
    ok(APR_BRIGADE_EMPTY(bb), "... and nothing");
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... then a blocking one");
    is_str(body, "later", "... gets it");
    revproxy_client_finish(c);
    is_int(idle_now(), idle + 1, "... pooled");

    c = client(p, &pe);
    is_int(request(p, c, "GET", "/tecl", 1), NONE,
           "Transfer-Encoding and Content-Length: request");
    is_int(revproxy_client_reused(c), 1, "... on the pooled connection");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    r = revproxy_client_response(c);
    is_int(r->body_mode, REVPROXY_H1_BODY_CHUNKED, "... chunked wins");
    ok(!apr_table_get(r->headers, "Content-Length"),
       "... Content-Length not passed on");
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... body");
    is_str(body, "hello", "... exact");
    revproxy_client_finish(c);
    is_int(idle_now(), idle, "... not pooled (ambiguous framing)");

    c = client(p, &pe);
    revproxy_client_expect(c, 0, 1, REVPROXY_BODY_NONE, 0);
    is_int(revproxy_client_connect(c, 1), NONE, "upgrade: connect");
    is_int(revproxy_client_write(c, req_head(p, "GET", "/ws"),
                                 strlen(req_head(p, "GET", "/ws")), NULL, 1),
           APR_SUCCESS, "... request");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    r = revproxy_client_response(c);
    is_int(r->status, 101, "... 101");
    is_str(apr_table_get(r->headers, "Upgrade"), "websocket",
           "... Upgrade kept");
    is_str(apr_table_get(r->headers, "Connection"), "Upgrade",
           "... Connection kept");
    ok(r->npending == 6 && memcmp(r->pending, "TUNNEL", 6) == 0,
       "... the bytes after the head are handed over");
    ok(revproxy_client_conn(c) != NULL, "... the connection, for the tunnel");
    revproxy_client_finish(c);
    is_int(idle_now(), idle, "... never pooled");

    is_str(peer_end(&pe),
           apr_pstrcat(p, "accept 1\n", req_log(p, 1, "GET", "/close"),
                       "accept 2\n", req_log(p, 2, "GET", "/cc"),
                       "2: closed\naccept 3\n", req_log(p, 3, "GET", "/10"),
                       "3: closed\naccept 4\n", req_log(p, 4, "GET", "/wait"),
                       req_log(p, 4, "GET", "/tecl"),
                       "4: closed\naccept 5\n", req_log(p, 5, "GET", "/ws"),
                       "5: closed\n", NULL),
           "backend: a connection each, the client closed those not pooled");
}

static void peer_nobody(pstate *s)
{
    char h[4096];
    int k;

    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n");
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n"
                 "Content-Length: 50\r\n\r\n");
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}

static void test_no_body(apr_pool_t *p)
{
    peer pe;
    revproxy_client *c;
    const revproxy_response *r;
    const char *body;
    apr_size_t blen;
    int idle = idle_now();

    peer_start(&pe, peer_nobody);

    c = client(p, &pe);
    is_int(request(p, c, "HEAD", "/h", 1), NONE, "HEAD: request");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    r = revproxy_client_response(c);
    is_int(r->body_mode, REVPROXY_H1_BODY_NONE, "... no body");
    is_str(apr_table_get(r->headers, "Content-Length"), "1234",
           "... Content-Length kept (the representation's)");
    revproxy_client_finish(c);
    is_int(idle_now(), idle + 1, "... pooled with no body read");

    c = client(p, &pe);
    is_int(request(p, c, "GET", "/204", 1), NONE, "204: request");
    is_int(revproxy_client_reused(c), 1, "... reused");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    r = revproxy_client_response(c);
    is_int(r->status, 204, "... status");
    is_str(r->reason, "No Content", "... reason");
    is_int(r->body_mode, REVPROXY_H1_BODY_NONE, "... no body");
    is_int(read_all(p, c, &body, &blen), APR_EOF,
           "... read_body: APR_EOF at once");
    is_int(blen, 0, "... nothing");
    revproxy_client_finish(c);
    is_int(idle_now(), idle + 1, "... pooled");

    c = client(p, &pe);
    is_int(request(p, c, "GET", "/304", 1), NONE, "304: request");
    is_int(revproxy_client_reused(c), 1, "... reused");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    r = revproxy_client_response(c);
    is_int(r->status, 304, "... status");
    is_int(r->body_mode, REVPROXY_H1_BODY_NONE, "... no body");
    is_str(apr_table_get(r->headers, "Content-Length"), "50",
           "... Content-Length kept");
    revproxy_client_finish(c);
    is_int(idle_now(), idle + 1, "... pooled");

    c = client(p, &pe);
    is_int(request(p, c, "GET", "/0", 1), NONE, "Content-Length: 0: request");
    is_int(revproxy_client_reused(c), 1, "... reused");
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... APR_EOF");
    is_int(blen, 0, "... nothing");
    revproxy_client_finish(c);
    is_int(idle_now(), idle + 1, "... pooled");

    is_str(peer_end(&pe),
           apr_pstrcat(p, "accept 1\n", req_log(p, 1, "HEAD", "/h"),
                       req_log(p, 1, "GET", "/204"),
                       req_log(p, 1, "GET", "/304"),
                       req_log(p, 1, "GET", "/0"), NULL),
           "backend: all four on one connection");
}

/* ---- bytes beyond an answer ------------------------------------------- */

#define STRAY "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG"

static void peer_stray(pstate *s)
{
    char h[4096];
    int k;

    /* In the same write as the answer. */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" STRAY);
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 204 No Content\r\n\r\n" STRAY);
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n0\r\n\r\n" STRAY);
    /* With the body's end, after the head: the client reads no further
     * than the body, the rest stays on the socket for the pool's check. */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    usleep(50000);
    p_send(s, k, "hello" STRAY);
    /* Late, while the connection is idle. */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate");
    usleep(200000);
    p_send(s, k, STRAY);
    plog("late sent\n");
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n");
    usleep(200000);
    p_send(s, k, STRAY);
    plog("late sent\n");
    /* An idle connection closed by the backend. */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbye!");
    usleep(200000);
    p_close(s, k);
    plog("closed idle\n");
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh");
}

/* One exchange on the pooled connection or a new one: checks the
 * answer is body (exactly); returns whether it came on a reused
 * connection. */
static int stray_exchange(apr_pool_t *p, peer *pe, const char *method,
                          const char *path, const char *want,
                          const char *what)
{
    revproxy_client *c = client(p, pe);
    const char *body;
    apr_size_t blen;
    int reused;

    is_int(request(p, c, method, path, 1), NONE, "%s: request", what);
    reused = revproxy_client_reused(c);
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... body");
    is_str(body, want, "... its own answer");
    revproxy_client_finish(c);
    return reused;
}

static void test_stray(apr_pool_t *p)
{
    peer pe;
    int idle = idle_now();

    peer_start(&pe, peer_stray);
    is_int(stray_exchange(p, &pe, "GET", "/1", "hello",
                          "an answer with another in the same write"), 0,
           "... on a new connection");
    is_int(stray_exchange(p, &pe, "GET", "/2", "", "next (a 204 followed "
                          "by another answer)"), 0,
           "... on a new connection, not the polluted one");
    is_int(stray_exchange(p, &pe, "GET", "/3", "hello", "next (chunked, "
                          "another answer after the last chunk)"), 0,
           "... on a new connection");
    is_int(stray_exchange(p, &pe, "GET", "/4", "hello", "next (another "
                          "answer with the body's end)"), 0,
           "... on a new connection");
    is_int(idle_now(), idle + 1, "... pooled: the bytes beyond the body "
           "were not read");
    is_int(stray_exchange(p, &pe, "GET", "/5", "late", "next (late bytes "
                          "will follow)"), 0,
           "... on a new connection");
    is_int(idle_now(), idle + 1, "... pooled: nothing beyond it yet");
    ok(peer_wait(&pe, "late sent\n", 1),
       "... then the backend sends on the idle connection");
    usleep(20000);
    is_int(stray_exchange(p, &pe, "HEAD", "/6", "", "next (HEAD, late bytes "
                          "will follow)"), 0,
           "... on a new connection");
    is_int(idle_now(), idle + 1, "... the polluted one closed, this one "
           "pooled");
    ok(peer_wait(&pe, "late sent\n", 2),
       "... then the backend sends on the idle connection");
    usleep(20000);
    is_int(stray_exchange(p, &pe, "GET", "/7", "bye!", "next (the backend "
                          "will close it)"), 0,
           "... on a new connection");
    ok(peer_wait(&pe, "closed idle\n", 1), "... the backend closes it, idle");
    usleep(20000);
    is_int(stray_exchange(p, &pe, "GET", "/8", "fresh", "next"), 0,
           "... on a new connection");
    is_int(idle_now(), idle + 1, "... pooled");

    is_str(peer_end(&pe),
           apr_pstrcat(p,
                       "accept 1\n", req_log(p, 1, "GET", "/1"),
                       "1: closed\naccept 2\n", req_log(p, 2, "GET", "/2"),
                       "2: closed\naccept 3\n", req_log(p, 3, "GET", "/3"),
                       "3: closed\naccept 4\n", req_log(p, 4, "GET", "/4"),
                       "4: closed\naccept 5\n", req_log(p, 5, "GET", "/5"),
                       "late sent\n",
                       "5: closed\naccept 6\n", req_log(p, 6, "HEAD", "/6"),
                       "late sent\n",
                       "6: closed\naccept 7\n", req_log(p, 7, "GET", "/7"),
                       "closed idle\n",
                       "accept 8\n", req_log(p, 8, "GET", "/8"),
                       NULL),
           "backend: every request after stray bytes on a new connection");
}

/* ---- request framing -------------------------------------------------- */

#define OK_ANSWER "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

/* Each request: the head, then whatever came until the client was quiet
 * or closed, answered when it did not close. */
static void peer_framing(pstate *s)
{
    char h[4096];
    int k, n;

    /* Ten clients, eight of them send a head. */
    for (n = 0; n < 8 && (k = p_request(s, h, sizeof(h))) > 0; n++) {
        if (!p_body(s, k)) {
            p_send(s, k, OK_ANSWER);
        }
        else {
            close(s->fd[k]);
            s->fd[k] = -1;
        }
    }
}

#define POST_HEAD(len) \
    "POST /f HTTP/1.1\r\nHost: unit\r\nContent-Length: " len "\r\n\r\n"
#define CHUNKED_HEAD \
    "POST /f HTTP/1.1\r\nHost: unit\r\nTransfer-Encoding: chunked\r\n\r\n"

/* What the backend logs for connection k: the head, then the body. */
static const char *sent_log(apr_pool_t *p, int k, const char *head,
                            const char *body, int eof)
{
    char *eh = apr_palloc(p, 4 * strlen(head) + 1);
    char *eb = apr_palloc(p, 4 * strlen(body) + 1);

    return apr_psprintf(p, "accept %d\n%d: %s\n%d body: %s%s\n", k, k,
                        esc(head, strlen(head), eh), k,
                        esc(body, strlen(body), eb), eof ? " [eof]" : "");
}

/* The answer to a request that went out whole: ok, and pooled. */
static void framing_answer(apr_pool_t *p, revproxy_client *c,
                           const char *what)
{
    const char *body;
    apr_size_t blen;
    int idle = idle_now();

    is_int(revproxy_client_read_head(c), NONE, "%sanswered (%s)", what,
           why(c));
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... body");
    is_str(body, "ok", "... exact");
    revproxy_client_finish(c);
    is_int(idle_now(), idle + 1, "... pooled");
}

/* A refused request: never pooled. */
static void framing_refused(revproxy_client *c)
{
    int idle = idle_now();

    is_int(revproxy_client_write_failed(c), 1, "... the write failed");
    is_int(revproxy_client_rv(c), APR_EINVAL, "... APR_EINVAL");
    revproxy_client_finish(c);
    is_int(idle_now(), idle, "... the connection is not pooled");
}

static void test_framing(apr_pool_t *p)
{
    static const char *const pieces[] = {
        "abc", "defghij", "", "klmnop", "qrs", "tuvwxyz", NULL
    };
    static const char *const hello[] = { "hello ", NULL };
    static const char *const world[] = { "world", NULL };
    static const char *const eleven[] = { "hello", " ", "world", NULL };
    static const char *const five[] = { "hello", NULL };
    static const char *const six[] = { "world!", NULL };
    static char many[301];
    const char *expect = "";
    apr_bucket_brigade *bb;
    revproxy_client *c;
    peer pe;
    int i, k = 0;

    for (i = 0; i < 300; i++) {
        many[i] = (char)('a' + i % 26);
    }
    peer_start(&pe, peer_framing);

    /* 1: one brigade of buckets of all kinds (an empty one among them). */
    c = client(p, &pe);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_LENGTH, 26);
    is_int(revproxy_client_connect(c, 0), NONE, "length body: connect");
    bb = brigade(p, pieces);
    is_int(revproxy_client_write(c, POST_HEAD("26"), strlen(POST_HEAD("26")),
                                 bb, 1), APR_SUCCESS,
           "... head and body in one write");
    ok(APR_BRIGADE_EMPTY(bb), "... the buckets are consumed");
    is_int(revproxy_client_wrote(c), 1, "... wrote");
    is_int(revproxy_client_bytes_out(c), strlen(POST_HEAD("26")) + 26,
           "... bytes out: head and body");
    framing_answer(p, c, "... ");
    expect = apr_pstrcat(p, expect, sent_log(p, ++k, POST_HEAD("26"),
                         "abcdefghijklmnopqrstuvwxyz", 0), NULL);

    /* 2: in pieces. */
    c = client(p, &pe);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_LENGTH, 11);
    is_int(revproxy_client_connect(c, 0), NONE, "length body in pieces");
    is_int(revproxy_client_write(c, POST_HEAD("11"), strlen(POST_HEAD("11")),
                                 NULL, 0), APR_SUCCESS, "... the head");
    is_int(revproxy_client_write(c, NULL, 0, brigade(p, hello), 0),
           APR_SUCCESS, "... 6 bytes");
    is_int(revproxy_client_write(c, NULL, 0, brigade(p, world), 1),
           APR_SUCCESS, "... the last 5");
    framing_answer(p, c, "... ");
    expect = apr_pstrcat(p, expect, sent_log(p, ++k, POST_HEAD("11"),
                         "hello world", 0), NULL);

    /* 3: more buckets than one write takes. */
    c = client(p, &pe);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_LENGTH, 300);
    is_int(revproxy_client_connect(c, 0), NONE, "300 one-byte buckets");
    is_int(revproxy_client_write(c, POST_HEAD("300"),
                                 strlen(POST_HEAD("300")),
                                 tiny_buckets(p, many, 300), 1),
           APR_SUCCESS, "... written");
    framing_answer(p, c, "... ");
    expect = apr_pstrcat(p, expect, sent_log(p, ++k, POST_HEAD("300"), many,
                                             0), NULL);

    /* 4: longer than announced, after the head went out. */
    c = client(p, &pe);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_LENGTH, 5);
    is_int(revproxy_client_connect(c, 0), NONE, "too long: connect");
    is_int(revproxy_client_write(c, POST_HEAD("5"), strlen(POST_HEAD("5")),
                                 NULL, 0), APR_SUCCESS, "... the head");
    bb = brigade(p, eleven);
    is_int(revproxy_client_write(c, NULL, 0, bb, 1), APR_EINVAL,
           "... 11 bytes of 5: APR_EINVAL");
    ok(APR_BRIGADE_EMPTY(bb), "... the buckets are dropped");
    is_str(revproxy_client_why(c), "the request body is longer than "
           "announced", "... why");
    is_int(revproxy_client_wrote(c), 1, "... wrote: the head");
    framing_refused(c);
    expect = apr_pstrcat(p, expect, sent_log(p, ++k, POST_HEAD("5"), "", 1),
                         NULL);

    /* 5: longer than announced, with the head: nothing goes out. */
    c = client(p, &pe);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_LENGTH, 5);
    is_int(revproxy_client_connect(c, 0), NONE, "too long with the head");
    is_int(revproxy_client_write(c, POST_HEAD("5"), strlen(POST_HEAD("5")),
                                 brigade(p, eleven), 1), APR_EINVAL,
           "... APR_EINVAL");
    is_int(revproxy_client_wrote(c), 0, "... nothing written");
    framing_refused(c);
    expect = apr_pstrcat(p, expect, apr_psprintf(p, "accept %d\n%d: closed\n",
                                                 k + 1, k + 1), NULL);
    k++;

    /* 6: a last piece short of the length, with the head. */
    c = client(p, &pe);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_LENGTH, 10);
    is_int(revproxy_client_connect(c, 0), NONE, "too short with the head");
    is_int(revproxy_client_write(c, POST_HEAD("10"), strlen(POST_HEAD("10")),
                                 brigade(p, five), 1), APR_EINVAL,
           "... APR_EINVAL");
    is_str(revproxy_client_why(c), "the request body ended short of what "
           "was announced", "... why");
    is_int(revproxy_client_wrote(c), 0, "... nothing written");
    framing_refused(c);
    expect = apr_pstrcat(p, expect, apr_psprintf(p, "accept %d\n%d: closed\n",
                                                 k + 1, k + 1), NULL);
    k++;

    /* 7: the end comes short, after a piece went out. */
    c = client(p, &pe);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_LENGTH, 10);
    is_int(revproxy_client_connect(c, 0), NONE, "ends short later");
    is_int(revproxy_client_write(c, POST_HEAD("10"), strlen(POST_HEAD("10")),
                                 brigade(p, five), 0), APR_SUCCESS,
           "... head and 5 bytes");
    is_int(revproxy_client_write(c, NULL, 0, NULL, 1), APR_EINVAL,
           "... the end after 5 of 10: APR_EINVAL");
    framing_refused(c);
    expect = apr_pstrcat(p, expect, sent_log(p, ++k, POST_HEAD("10"),
                                             "hello", 1), NULL);

    /* 8: chunked, in pieces, the last chunk on its own. */
    c = client(p, &pe);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_CHUNKED, 0);
    is_int(revproxy_client_connect(c, 0), NONE, "chunked body");
    is_int(revproxy_client_write(c, CHUNKED_HEAD, strlen(CHUNKED_HEAD),
                                 brigade(p, five), 0), APR_SUCCESS,
           "... head and a chunk");
    is_int(revproxy_client_write(c, NULL, 0, brigade(p, six), 0),
           APR_SUCCESS, "... another");
    is_int(revproxy_client_write(c, NULL, 0, apr_brigade_create(p, ba), 0),
           APR_SUCCESS, "... an empty brigade: no chunk");
    is_int(revproxy_client_write(c, NULL, 0, NULL, 1), APR_SUCCESS,
           "... the end");
    framing_answer(p, c, "... ");
    expect = apr_pstrcat(p, expect, sent_log(p, ++k, CHUNKED_HEAD,
                         "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n", 0), NULL);

    /* 9: chunked, more buckets than one write takes, the end with them. */
    c = client(p, &pe);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_CHUNKED, 0);
    is_int(revproxy_client_connect(c, 0), NONE, "chunked, 300 buckets");
    is_int(revproxy_client_write(c, CHUNKED_HEAD, strlen(CHUNKED_HEAD),
                                 tiny_buckets(p, many, 300), 1), APR_SUCCESS,
           "... written");
    framing_answer(p, c, "... ");
    expect = apr_pstrcat(p, expect, sent_log(p, ++k, CHUNKED_HEAD,
                         apr_pstrcat(p, "12c\r\n", many, "\r\n0\r\n\r\n",
                                     NULL), 0), NULL);

    /* 10: chunked, no body at all. */
    c = client(p, &pe);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_CHUNKED, 0);
    is_int(revproxy_client_connect(c, 0), NONE, "chunked, empty");
    is_int(revproxy_client_write(c, CHUNKED_HEAD, strlen(CHUNKED_HEAD), NULL,
                                 1), APR_SUCCESS, "... written");
    framing_answer(p, c, "... ");
    expect = apr_pstrcat(p, expect, sent_log(p, ++k, CHUNKED_HEAD,
                                             "0\r\n\r\n", 0), NULL);

    is_str(peer_end(&pe), expect,
           "backend: exactly the bytes announced, nothing of a refused body");
}

/* ---- a second attempt on the same client ------------------------------ */

static void peer_retry(pstate *s)
{
    char h[4096];
    int k;

    k = p_request(s, h, sizeof(h));
    p_send(s, k, OK_ANSWER);
    /* The next request on the pooled connection is read, never answered. */
    k = p_request(s, h, sizeof(h));
    p_body(s, k);
    p_close(s, k);
    k = p_request(s, h, sizeof(h));
    p_body(s, k);
    p_send(s, k, OK_ANSWER);
}

static void test_retry(apr_pool_t *p)
{
    static const char *const five[] = { "hello", NULL };
    revproxy_client *c;
    const char *body;
    apr_size_t blen;
    peer pe;

    peer_start(&pe, peer_retry);
    c = client(p, &pe);
    is_int(request(p, c, "GET", "/a", 1), NONE, "retry: a first request");
    is_int(revproxy_client_read_head(c), NONE, "... answered (%s)", why(c));
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... body");
    revproxy_client_finish(c);

    c = client(p, &pe);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_LENGTH, 5);
    is_int(revproxy_client_connect(c, 1), NONE, "a POST on the pooled "
           "connection");
    is_int(revproxy_client_reused(c), 1, "... reused");
    is_int(revproxy_client_write(c, POST_HEAD("5"), strlen(POST_HEAD("5")),
                                 brigade(p, five), 1), APR_SUCCESS,
           "... written");
    is_int(revproxy_client_read_head(c), BAD, "... the backend closed it "
           "unanswered (%s)", why(c));
    is_int(revproxy_client_got_byte(c), 0, "... no byte came");
    is_int(revproxy_client_wrote(c), 1, "... the request went out");
    is_int(revproxy_client_connect(c, 0), NONE,
           "the same client again, a new connection");
    is_int(revproxy_client_reused(c), 0, "... not reused");
    is_int(revproxy_client_wrote(c), 0, "... nothing written on it yet");
    is_int(revproxy_client_got_byte(c), 0, "... no byte yet");
    ok(revproxy_client_why(c) == NULL, "... no failure");
    is_int(revproxy_client_response(c)->status, 0, "... no response yet");
    is_int(revproxy_client_write(c, POST_HEAD("5"), strlen(POST_HEAD("5")),
                                 brigade(p, five), 1), APR_SUCCESS,
           "... the same body again: the announced length counts anew");
    is_int(revproxy_client_read_head(c), NONE, "... answered (%s)", why(c));
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... body");
    is_str(body, "ok", "... exact");
    revproxy_client_finish(c);

    is_str(peer_end(&pe),
           apr_pstrcat(p, "accept 1\n", req_log(p, 1, "GET", "/a"),
                       "1: ", esc(POST_HEAD("5"), strlen(POST_HEAD("5")),
                                  apr_palloc(p, 400)),
                       "\n1 body: hello\n",
                       sent_log(p, 2, POST_HEAD("5"), "hello", 0), NULL),
           "backend: the request twice, the second on a new connection");
}

/* A backlog that is full: the connection is never made. */
static void test_connect_timeout(apr_pool_t *p)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    revproxy_addr a;
    revproxy_limits l = base_limits;
    revproxy_client *c;
    apr_time_t t0;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[4], i, kind;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(lfd, (struct sockaddr *)&sa, sizeof(sa));
    listen(lfd, 0);
    getsockname(lfd, (struct sockaddr *)&sa, &len);
    for (i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    usleep(50000);
    memset(&a, 0, sizeof(a));
    a.host = "127.0.0.1";
    a.port = ntohs(sa.sin_port);
    l.connect_timeout = apr_time_from_msec(300);
    c = revproxy_client_make(p, ba, &a, &l);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_NONE, 0);
    t0 = apr_time_now();
    kind = revproxy_client_connect(c, 1);
    is_int(kind, TIMEOUT, "connect to a full backlog: TIMEOUT (%s)", why(c));
    ok(apr_time_now() - t0 >= apr_time_from_msec(250)
       && apr_time_now() - t0 < apr_time_from_sec(2),
       "... after %d ms (connect timeout 300 ms)",
       (int)apr_time_as_msec(apr_time_now() - t0));
    ok(APR_STATUS_IS_TIMEUP(revproxy_client_rv(c)), "... APR_TIMEUP");
    ok(revproxy_client_conn(c) == NULL, "... no connection");
    for (i = 0; i < 4; i++) {
        close(fill[i]);
    }
    close(lfd);
}

/* ---- failures --------------------------------------------------------- */

static void peer_failures(pstate *s)
{
    char h[4096];
    int k, i;

    /* 1: silent */
    k = p_request(s, h, sizeof(h));
    p_until_closed(s, k);
    /* 2: a head dripped, a byte every 50 ms */
    k = p_request(s, h, sizeof(h));
    p_dribble(s, k, "HTTP/1.1 200 OK\r\nX-Slow: 1234567890\r\n\r\n", 1,
              50000);
    p_close(s, k);
    /* 3: closed before any byte */
    k = p_request(s, h, sizeof(h));
    p_close(s, k);
    /* 4: closed inside the head */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nX-A:");
    p_close(s, k);
    /* 5: an invalid status line */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
    /* 6: 11 interim heads */
    k = p_request(s, h, sizeof(h));
    for (i = 0; i < 11; i++) {
        p_send(s, k, "HTTP/1.1 100 Continue\r\n\r\n");
    }
    p_send(s, k, OK_ANSWER);
    /* 7: 10 interim heads, then the answer */
    k = p_request(s, h, sizeof(h));
    for (i = 0; i < 8; i++) {
        p_send(s, k, "HTTP/1.1 100 Continue\r\n\r\n");
    }
    p_send(s, k, "HTTP/1.1 102 Processing\r\n\r\n");
    p_send(s, k, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n"
                 "Content-Length: 7\r\n\r\n");
    p_send(s, k, OK_ANSWER);
    /* 8: 101 to a request that asked for no upgrade */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
                 "Connection: Upgrade\r\n\r\n");
    /* 9: a coding before chunked */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                 "5\r\nhello\r\n0\r\n\r\n");
    /* 10: a Content-Length body cut short */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
    usleep(50000);
    p_close(s, k);
    /* 11: a chunked body cut short */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n");
    usleep(50000);
    p_close(s, k);
    /* 12: a body that stalls */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
    p_until_closed(s, k);
    /* 13: an invalid chunk size */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\nzz\r\n");
    p_until_closed(s, k);
    /* 14: two different lengths */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                 "Content-Length: 6\r\n\r\nhello!");
    p_until_closed(s, k);
    /* 15: 101 fields, one more than the limit */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\n");
    for (i = 0; i < 101; i++) {
        p_send(s, k, "X-F: 1\r\n");
    }
    p_send(s, k, "\r\n");
    p_until_closed(s, k);
    /* 16: a field longer than a line may be */
    k = p_request(s, h, sizeof(h));
    p_send(s, k, "HTTP/1.1 200 OK\r\nX-Long: ");
    for (i = 0; i < 9; i++) {
        p_send(s, k, big + BIG - 1000);
    }
    p_send(s, k, "\r\n\r\n");
    p_until_closed(s, k);
}

/* A request that must fail reading its head with kind. */
static revproxy_client *head_fails(apr_pool_t *p, peer *pe,
                                   apr_interval_time_t timeout, int kind,
                                   const char *what)
{
    revproxy_client *c = client_to(p, pe->port, timeout);
    int got;

    is_int(request(p, c, "GET", "/", 0), NONE, "%s: request", what);
    got = revproxy_client_read_head(c);
    is_int(got, kind, "... read_head fails (%s)", why(c));
    return c;
}

/* A body that must fail after its first bytes (hello), never pooled. */
static void body_fails(apr_pool_t *p, peer *pe, apr_interval_time_t timeout,
                       const char *want_why, const char *what)
{
    revproxy_client *c = client_to(p, pe->port, timeout);
    const char *body;
    apr_size_t blen;
    apr_status_t rv;
    int idle;

    is_int(request(p, c, "GET", "/", 0), NONE, "%s: request", what);
    is_int(revproxy_client_read_head(c), NONE, "... head (%s)", why(c));
    rv = read_all(p, c, &body, &blen);
    ok(rv != APR_SUCCESS && rv != APR_EOF, "... read_body fails (%d), not "
       "APR_EOF", rv);
    is_str(body, "hello", "... after what came");
    is_str(revproxy_client_why(c), want_why, "... why");
    idle = idle_now();
    revproxy_client_finish(c);
    is_int(idle_now(), idle, "... not pooled");
}

static void test_failures(apr_pool_t *p)
{
    revproxy_client *c;
    const revproxy_response *r;
    const char *body, *w;
    apr_size_t blen;
    apr_time_t t0;
    apr_port_t port;
    peer pe;
    int lfd, idle, i;

    /* Nobody listening. */
    lfd = listener(&port);
    close(lfd);
    c = client_to(p, port, 0);
    revproxy_client_expect(c, 0, 0, REVPROXY_BODY_NONE, 0);
    is_int(revproxy_client_connect(c, 1), REFUSED, "connect refused");
    ok(revproxy_client_conn(c) == NULL, "... no connection");
    is_str(revproxy_client_why(c),
           apr_psprintf(p, "connect to 127.0.0.1:%u failed", (unsigned)port),
           "... why");
    ok(APR_STATUS_IS_ECONNREFUSED(revproxy_client_rv(c)),
       "... ECONNREFUSED");
    revproxy_client_finish(c);

    peer_start(&pe, peer_failures);

    t0 = apr_time_now();
    c = head_fails(p, &pe, apr_time_from_msec(300), TIMEOUT, "silent");
    ok(apr_time_now() - t0 >= apr_time_from_msec(250)
       && apr_time_now() - t0 < apr_time_from_sec(2),
       "... after %d ms", (int)apr_time_as_msec(apr_time_now() - t0));
    is_str(revproxy_client_why(c), "timed out waiting for the response head",
           "... why");
    ok(APR_STATUS_IS_TIMEUP(revproxy_client_rv(c)), "... APR_TIMEUP");
    is_int(revproxy_client_got_byte(c), 0, "... no byte");
    revproxy_client_finish(c);

    t0 = apr_time_now();
    c = head_fails(p, &pe, apr_time_from_msec(400), TIMEOUT,
                   "a head dripped, a byte every 50 ms");
    ok(apr_time_now() - t0 < apr_time_from_msec(1500),
       "... the whole head within the timeout: %d ms",
       (int)apr_time_as_msec(apr_time_now() - t0));
    is_int(revproxy_client_got_byte(c), 1, "... bytes came");
    revproxy_client_finish(c);

    c = head_fails(p, &pe, 0, BAD, "closed before any byte");
    is_int(revproxy_client_got_byte(c), 0, "... got_byte 0");
    is_str(revproxy_client_why(c), "connection closed before any response "
           "byte", "... why");
    revproxy_client_finish(c);

    c = head_fails(p, &pe, 0, BAD, "closed inside the head");
    is_int(revproxy_client_got_byte(c), 1, "... got_byte 1");
    is_str(revproxy_client_why(c), "connection closed inside the response "
           "head", "... why");
    revproxy_client_finish(c);

    c = head_fails(p, &pe, 0, BAD, "invalid status line");
    w = revproxy_client_why(c);
    ok(w && strncmp(w, "invalid response: ", 18) == 0 && w[18],
       "... why: %s", why(c));
    idle = idle_now();
    revproxy_client_finish(c);
    is_int(idle_now(), idle, "... not pooled");

    c = head_fails(p, &pe, 0, BAD, "11 interim heads");
    is_str(revproxy_client_why(c), "too many interim responses", "... why");
    revproxy_client_finish(c);

    c = head_fails(p, &pe, 0, NONE, "10 interim heads");
    r = revproxy_client_response(c);
    is_int(r->status, 200, "... then the final one");
    ok(!apr_table_get(r->headers, "Link"), "... no field of an interim head");
    is_str(apr_table_get(r->headers, "Content-Length"), "2",
           "... its own Content-Length");
    is_int(read_all(p, c, &body, &blen), APR_EOF, "... body");
    is_str(body, "ok", "... exact");
    revproxy_client_finish(c);

    c = head_fails(p, &pe, 0, BAD, "unrequested 101");
    is_str(revproxy_client_why(c), "unrequested 101 response", "... why");
    revproxy_client_finish(c);

    c = head_fails(p, &pe, 0, BAD, "Transfer-Encoding: gzip, chunked");
    w = revproxy_client_why(c);
    ok(w && strncmp(w, "invalid response: ", 18) == 0 && w[18],
       "... why: %s", why(c));
    revproxy_client_finish(c);

    body_fails(p, &pe, 0, "connection closed before the end of the body",
               "Content-Length body cut short");
    body_fails(p, &pe, 0, "connection closed before the end of the body",
               "chunked body cut short");
    body_fails(p, &pe, apr_time_from_msec(300), "timed out reading the body",
               "a body that stalls");
    c = client(p, &pe);
    is_int(request(p, c, "GET", "/", 0), NONE, "invalid chunk size: request");
    is_int(revproxy_client_read_head(c), NONE, "... head");
    is_int(read_all(p, c, &body, &blen), APR_EGENERAL, "... APR_EGENERAL");
    w = revproxy_client_why(c);
    ok(w && strncmp(w, "invalid body: ", 14) == 0 && w[14], "... why: %s",
       why(c));
    idle = idle_now();
    revproxy_client_finish(c);
    is_int(idle_now(), idle, "... not pooled");

    c = head_fails(p, &pe, 0, BAD, "two different Content-Length values");
    w = revproxy_client_why(c);
    ok(w && strncmp(w, "invalid response: ", 18) == 0 && w[18],
       "... why: %s", why(c));
    revproxy_client_finish(c);
    c = head_fails(p, &pe, 0, BAD, "101 fields (limit 100)");
    w = revproxy_client_why(c);
    ok(w && strncmp(w, "invalid response: ", 18) == 0 && w[18],
       "... why: %s", why(c));
    revproxy_client_finish(c);
    c = head_fails(p, &pe, 0, BAD, "a field of 9000 bytes (limit 8190)");
    is_str(revproxy_client_why(c), "invalid response: header line too long",
           "... why");
    revproxy_client_finish(c);

    /* Connections the client closed are seen closed before the next
     * one comes; 7 is pooled; the backend closed the others itself. */
    w = "";
    for (i = 1; i <= 16; i++) {
        static const int client_closed[17] = {
            0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1
        };
        w = apr_pstrcat(p, w, apr_psprintf(p, "accept %d\n", i),
                        req_log(p, i, "GET", "/"),
                        client_closed[i] ? apr_psprintf(p, "%d: closed\n", i)
                                         : "", NULL);
    }
    is_str(peer_end(&pe), w, "backend: one connection each, and how it "
           "ended");
}

int main(void)
{
    apr_pool_t *p;
    int i;

    apr_initialize();
    apr_pool_create(&p, NULL);
    signal(SIGPIPE, SIG_IGN);
    alarm(120);
    ba = apr_bucket_alloc_create(p);
    if (revproxy_conn_child_init(p) != APR_SUCCESS) {
        printf("Bail out! no keep-alive pool\n");
        return 1;
    }
    for (i = 0; i < BIG; i++) {
        big[i] = (char)('A' + i % 53 % 26);
    }

    test_length_reuse(p);
    test_ttl(p);
    test_chunked(p);
    test_close_delimited(p);
    test_no_body(p);
    test_stray(p);
    test_framing(p);
    test_retry(p);
    test_failures(p);
    test_connect_timeout(p);

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
