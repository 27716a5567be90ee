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
 * test_http1.c -- unit tests of revproxy_http1.c, in TAP.
 *
 * Build: gcc -std=gnu99 -Wall -Wextra -Werror -Iinclude \
 *            t/unit/test_http1.c revproxy_http1.c -o test_http1
 *
 * Most tests are vectors: a whole response stream with the outcome it
 * must have.  Each vector is parsed in one piece, byte by byte and with
 * random splits (zero-length feeds included), and all the outcomes must
 * be identical, since the parser is resumable at any byte.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "revproxy_http1.h"
#include "tap.h"

#define AGAIN   REVPROXY_H1_AGAIN
#define DONE    REVPROXY_H1_DONE
#define DATA    REVPROXY_H1_DATA
#define ERROR   REVPROXY_H1_ERROR
#define NONE    REVPROXY_H1_BODY_NONE
#define LENGTH  REVPROXY_H1_BODY_LENGTH
#define CHUNKED REVPROXY_H1_BODY_CHUNKED
#define CLOSE   REVPROXY_H1_BODY_CLOSE

#define DEF_MAX_LINE     256
#define DEF_MAX_FIELDS   50
#define DEF_MAX_TRAILERS 10
#define RANDOM_SPLITS    25

/* ------------------------------------------------------------------ */
/* The driver: head machine(s), then the body machine, like the module. */

#define OUT_MAX 4096

typedef struct {
    int rv;                     /* last result: DONE, ERROR or AGAIN */
    const char *err;            /* head or body error */
    int status, minor;          /* final response */
    int interim;                /* 1xx responses seen before it */
    char fields[OUT_MAX];       /* "name=value\n" per header field */
    size_t flen;
    int mode, reusable;
    char body[OUT_MAX];
    size_t blen;
    size_t used;                /* bytes of the input that were used */
    const char *bad;            /* a broken invariant */
} outcome;

typedef struct {
    const char *in;
    size_t len;
    int head_request;
    size_t max_line;
    unsigned max_fields, max_trailers;
    int eof;                    /* the peer closes after the input */
} setup;

static void append(char *buf, size_t *len, const char *s, size_t n)
{
    if (*len + n > OUT_MAX) {
        n = OUT_MAX - *len;
    }
    memcpy(buf + *len, s, n);
    *len += n;
}

/* header_fn: records the fields; refuses "X-Reject". */
static int record(void *baton, const char *name, size_t nlen,
                  const char *value, size_t vlen)
{
    outcome *o = baton;

    append(o->fields, &o->flen, name, nlen);
    append(o->fields, &o->flen, "=", 1);
    append(o->fields, &o->flen, value, vlen);
    append(o->fields, &o->flen, "\n", 1);
    return nlen == 8 && memcmp(name, "X-Reject", 8) == 0;
}

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* The size of the next piece: how 0 = all, 1 = one byte, 2 = random. */
static size_t piece(int how, uint32_t *seed, size_t left)
{
    size_t n;

    if (how == 0) {
        return left;
    }
    if (how == 1) {
        return 1;
    }
    n = xorshift(seed) % 8 == 0 ? xorshift(seed) % (left + 1)
                                : xorshift(seed) % 7;
    return n < left ? n : left;
}

static char linebuf[65536];

static void run(const setup *s, int how, uint32_t seed, outcome *o)
{
    revproxy_h1_head h;
    revproxy_h1_body b;
    size_t max_line = s->max_line ? s->max_line : DEF_MAX_LINE;
    unsigned max_fields = s->max_fields ? s->max_fields : DEF_MAX_FIELDS;
    unsigned max_tr = s->max_trailers ? s->max_trailers : DEF_MAX_TRAILERS;
    int phase = 0;              /* 0 head, 1 body, 2 finished */
    size_t pos = 0, calls = 0;

    memset(o, 0, sizeof(*o));
    o->rv = AGAIN;
    o->mode = -1;
    o->reusable = -1;
    seed = seed * 2654435761u + 1;
    revproxy_h1_head_init(&h, linebuf, max_line, max_fields, record, o);

    while (phase < 2 && pos < s->len) {
        const char *p = s->in + pos;
        size_t n = piece(how, &seed, s->len - pos), off = 0;

        while (phase < 2) {
            size_t used = 0, doff, dlen;
            int rv;

            if (++calls > 10 * s->len + 1000) {
                o->bad = "too many calls";
                return;
            }
            if (phase == 0) {
                rv = revproxy_h1_head_feed(&h, p + off, n - off, &used);
                if (used > n - off) {
                    o->bad = "head consumed too much";
                    return;
                }
                off += used;
                if (rv == AGAIN) {
                    if (off != n) {
                        o->bad = "head AGAIN without using all";
                    }
                    break;
                }
                if (rv == ERROR) {
                    o->rv = ERROR;
                    o->err = h.error;
                    phase = 2;
                    break;
                }
                if (rv != DONE) {
                    o->bad = "head returned junk";
                    return;
                }
                if (h.status < 200) {
                    o->interim++;
                    revproxy_h1_head_init(&h, linebuf, max_line, max_fields,
                                          record, o);
                    continue;
                }
                o->status = h.status;
                o->minor = h.minor;
                o->mode = revproxy_h1_body_mode(&h, s->head_request);
                o->reusable = revproxy_h1_reusable(&h, o->mode);
                revproxy_h1_body_init(&b, o->mode, h.content_length,
                                      max_line, max_tr);
                phase = 1;
                continue;
            }
            rv = revproxy_h1_body_feed(&b, p + off, n - off, &used,
                                       &doff, &dlen);
            if (used > n - off) {
                o->bad = "body consumed too much";
                return;
            }
            if (rv == DATA) {
                if (dlen == 0 || doff + dlen != used) {
                    o->bad = "bad data span";
                    return;
                }
                append(o->body, &o->blen, p + off + doff, dlen);
                off += used;
                continue;
            }
            off += used;
            if (rv == AGAIN) {
                if (off != n) {
                    o->bad = "body AGAIN without using all";
                }
                break;
            }
            o->rv = rv;
            o->err = b.error;
            phase = 2;
        }
        pos += off;
    }
    if (phase == 1) {
        if (s->eof) {
            o->rv = revproxy_h1_body_eof(&b);
            o->err = b.error;
        }
        else {
            /* Input ended: feeding nothing must not change a thing. */
            size_t used, doff, dlen;

            o->rv = revproxy_h1_body_feed(&b, "", 0, &used, &doff, &dlen);
            o->err = b.error;
            if (o->rv == DATA || used) {
                o->bad = "empty feed used something";
            }
        }
    }
    o->used = pos;
}

static const char *differ(const outcome *a, const outcome *b)
{
    if (a->bad || b->bad) {
        return a->bad ? a->bad : b->bad;
    }
    if (a->rv != b->rv) {
        return "result";
    }
    if ((a->err == NULL) != (b->err == NULL)
        || (a->err && strcmp(a->err, b->err) != 0)) {
        return "error";
    }
    if (a->status != b->status || a->minor != b->minor
        || a->interim != b->interim) {
        return "status";
    }
    if (a->flen != b->flen || memcmp(a->fields, b->fields, a->flen) != 0) {
        return "fields";
    }
    if (a->mode != b->mode || a->reusable != b->reusable) {
        return "framing";
    }
    if (a->blen != b->blen || memcmp(a->body, b->body, a->blen) != 0) {
        return "body";
    }
    if (a->used != b->used) {
        return "used";
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Vectors. */

struct vec {
    const char *name;
    const char *in;
    size_t len;                 /* 0: strlen(in) */
    int head_request, eof;
    size_t max_line;            /* 0: the defaults above */
    unsigned max_fields, max_trailers;
    /* expected */
    const char *err;            /* ERROR with this text, else DONE ... */
    int again;                  /* ... or AGAIN (input ends mid-body) */
    int status;                 /* 0: do not check the framing */
    int mode, reusable;
    const char *body;
    size_t left;                /* bytes after the message */
    int interim;
    const char *fields;         /* NULL: do not check */
};

#define H11 "HTTP/1.1 200 OK\r\n"
#define TE  "Transfer-Encoding: chunked\r\n"

static const struct vec vecs[] = {
    /* --- plain responses */
    { .name = "200 with Content-Length",
      .in = H11 "Content-Length: 5\r\nServer: x\r\n\r\nhello",
      .status = 200, .mode = LENGTH, .reusable = 1, .body = "hello",
      .fields = "Content-Length=5\nServer=x\n" },
    { .name = "data after the body is not consumed",
      .in = H11 "Content-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n",
      .status = 200, .mode = LENGTH, .reusable = 1, .body = "hello",
      .left = 17 },
    { .name = "Content-Length 0 is LENGTH, done at once",
      .in = H11 "Content-Length: 0\r\n\r\nNEXT",
      .status = 200, .mode = LENGTH, .reusable = 1, .body = "", .left = 4 },
    { .name = "LF-only lines",
      .in = "HTTP/1.1 200 OK\nContent-Length: 3\nA: b\n\nabc",
      .status = 200, .mode = LENGTH, .reusable = 1, .body = "abc",
      .fields = "Content-Length=3\nA=b\n" },
    { .name = "mixed CRLF and LF",
      .in = "HTTP/1.1 200 OK\nA: b\r\nContent-Length: 1\n\r\nz",
      .status = 200, .mode = LENGTH, .reusable = 1, .body = "z" },
    { .name = "status line without reason",
      .in = "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
      .status = 200, .mode = LENGTH, .reusable = 1, .body = "" },
    { .name = "status line with empty reason",
      .in = "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n",
      .status = 599, .mode = LENGTH, .reusable = 1, .body = "" },
    { .name = "values are trimmed, inner whitespace and obs-text kept",
      .in = H11 "A: \t a \t b\t \r\nB:\r\nC: caf\xc3\xa9\r\n"
            "Content-Length: 0\r\n\r\n",
      .status = 200, .mode = LENGTH, .reusable = 1, .body = "",
      .fields = "A=a \t b\nB=\nC=caf\xc3\xa9\nContent-Length=0\n" },
    { .name = "no framing: read until close",
      .in = H11 "\r\nall of it", .eof = 1,
      .status = 200, .mode = CLOSE, .reusable = 0, .body = "all of it" },
    { .name = "close-delimited body waits for more without eof",
      .in = H11 "\r\nsome", .again = 1,
      .status = 200, .mode = CLOSE, .reusable = 0, .body = "some" },

    /* --- interim responses, no-body responses */
    { .name = "1xx responses, then the final one",
      .in = "HTTP/1.1 100 Continue\r\n\r\n"
            "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            H11 "Content-Length: 2\r\n\r\nok",
      .status = 200, .mode = LENGTH, .reusable = 1, .body = "ok",
      .interim = 2, .fields = "Link=</a>\nContent-Length=2\n" },
    { .name = "204 has no body despite Content-Length",
      .in = "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\nNEXT",
      .status = 204, .mode = NONE, .reusable = 1, .body = "", .left = 4 },
    { .name = "304 has no body despite chunked",
      .in = "HTTP/1.1 304 Not Modified\r\n" TE "\r\nNEXT",
      .status = 304, .mode = NONE, .reusable = 1, .body = "", .left = 4 },
    { .name = "response to HEAD has no body",
      .in = H11 "Content-Length: 10\r\n\r\n", .head_request = 1,
      .status = 200, .mode = NONE, .reusable = 1, .body = "" },

    /* --- chunked */
    { .name = "chunked with extensions and trailers",
      .in = H11 TE "\r\n5;foo=bar\r\nhello\r\n6 ; a=\"b;c\"\r\n world\r\n"
            "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n"
            "0;last\r\nX-T: 1\r\nY-T:2\r\n\r\nNEXT",
      .status = 200, .mode = CHUNKED, .reusable = 1,
      .body = "hello world0123456789abcdefghijk", .left = 4 },
    { .name = "chunked, LF only",
      .in = "HTTP/1.1 200 OK\n" "Transfer-Encoding: chunked\n\n"
            "3\nabc\n0\nT: x\n\n",
      .status = 200, .mode = CHUNKED, .reusable = 1, .body = "abc" },
    { .name = "chunk size with leading zeros",
      .in = H11 TE "\r\n0000000000000000000000005\r\nhello\r\n000\r\n\r\n",
      .status = 200, .mode = CHUNKED, .reusable = 1, .body = "hello" },
    { .name = "chunk size with whitespace before the line end",
      .in = H11 TE "\r\n5 \t\r\nhello\r\n0  \r\n\r\n",
      .status = 200, .mode = CHUNKED, .reusable = 1, .body = "hello" },
    { .name = "CL with TE: chunked wins, not reusable",
      .in = H11 "Content-Length: 3\r\n" TE "\r\n5\r\nhello\r\n0\r\n\r\n",
      .status = 200, .mode = CHUNKED, .reusable = 0, .body = "hello" },
    { .name = "TE gzip, chunked is refused",
      .in = H11 "Transfer-Encoding: gzip, CHUNKED\r\n\r\n1\r\nz\r\n0\r\n\r\n",
      .err = "unsupported transfer coding" },
    { .name = "TE over two lines with gzip is refused",
      .in = H11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
            "\r\n1\r\nz\r\n0\r\n\r\n",
      .err = "unsupported transfer coding" },
    { .name = "TE chunked, gzip is refused",
      .in = H11 "Transfer-Encoding: chunked, gzip\r\n\r\n1\r\nz\r\n0\r\n\r\n",
      .err = "unsupported transfer coding" },
    { .name = "TE chunked twice is refused",
      .in = H11 TE "Transfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
      .err = "chunked applied more than once" },
    { .name = "TE with a parameter is refused",
      .in = H11 "Transfer-Encoding: foo;p=\"a, chunked\r\n\r\nxyz",
      .err = "unsupported transfer coding" },
    { .name = "TE without a coding is refused",
      .in = H11 "Transfer-Encoding: ,\r\n\r\nxyz",
      .err = "Transfer-Encoding without a coding" },
    { .name = "TE chunked with empty list elements",
      .in = H11 "Transfer-Encoding: , CHUNKED ,\r\n\r\n1\r\nz\r\n0\r\n\r\n",
      .status = 200, .mode = CHUNKED, .reusable = 1, .body = "z" },

    /* --- Content-Length forms */
    { .name = "Content-Length list of identical values",
      .in = H11 "Content-Length: 5, 5\r\n\r\nhello",
      .status = 200, .mode = LENGTH, .reusable = 1, .body = "hello" },
    { .name = "repeated identical Content-Length fields",
      .in = H11 "Content-Length: 5\r\ncontent-length: 5\r\n\r\nhello",
      .status = 200, .mode = LENGTH, .reusable = 1, .body = "hello" },
    { .name = "Content-Length 5, 6",
      .in = H11 "Content-Length: 5, 6\r\n\r\nhello",
      .err = "conflicting Content-Length" },
    { .name = "Content-Length fields 5 and 6",
      .in = H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
      .err = "conflicting Content-Length" },
    { .name = "Content-Length +5",
      .in = H11 "Content-Length: +5\r\n\r\nhello",
      .err = "invalid Content-Length" },
    { .name = "Content-Length -1",
      .in = H11 "Content-Length: -1\r\n\r\n",
      .err = "invalid Content-Length" },
    { .name = "Content-Length 5 5",
      .in = H11 "Content-Length: 5 5\r\n\r\nhello",
      .err = "invalid Content-Length" },
    { .name = "Content-Length empty",
      .in = H11 "Content-Length: \r\n\r\n",
      .err = "invalid Content-Length" },
    { .name = "Content-Length 5,",
      .in = H11 "Content-Length: 5,\r\n\r\nhello",
      .err = "invalid Content-Length" },
    { .name = "Content-Length 0x5",
      .in = H11 "Content-Length: 0x5\r\n\r\nhello",
      .err = "invalid Content-Length" },
    { .name = "Content-Length 2^63",
      .in = H11 "Content-Length: 9223372036854775808\r\n\r\n",
      .err = "invalid Content-Length" },
    { .name = "Content-Length 2^63 - 1",
      .in = H11 "Content-Length: 9223372036854775807\r\n\r\nabc", .again = 1,
      .status = 200, .mode = LENGTH, .reusable = 1, .body = "abc" },

    /* --- connection reuse */
    { .name = "Connection: close",
      .in = H11 "Connection: Close\r\nContent-Length: 1\r\n\r\nx",
      .status = 200, .mode = LENGTH, .reusable = 0, .body = "x" },
    { .name = "HTTP/1.0 without keep-alive",
      .in = "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
      .status = 200, .mode = LENGTH, .reusable = 0, .body = "x" },
    { .name = "HTTP/1.0 with keep-alive",
      .in = "HTTP/1.0 200 OK\r\nConnection: foo, Keep-Alive\r\n"
            "Content-Length: 1\r\n\r\nx",
      .status = 200, .mode = LENGTH, .reusable = 1, .body = "x" },
    { .name = "HTTP/1.0 keep-alive but no length",
      .in = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nabc",
      .eof = 1, .status = 200, .mode = CLOSE, .reusable = 0, .body = "abc" },
    { .name = "HTTP/1.0 with chunked is not reusable",
      .in = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n" TE
            "\r\n1\r\nz\r\n0\r\n\r\n",
      .status = 200, .mode = CHUNKED, .reusable = 0, .body = "z" },

    /* --- status line errors */
    { .name = "HTTP/2.0", .in = "HTTP/2.0 200 OK\r\n\r\n",
      .err = "invalid status line" },
    { .name = "HTTP/1.2", .in = "HTTP/1.2 200 OK\r\n\r\n",
      .err = "invalid status line" },
    { .name = "HTTP/1.10", .in = "HTTP/1.10 200 OK\r\n\r\n",
      .err = "invalid status line" },
    { .name = "lower-case http", .in = "http/1.1 200 OK\r\n\r\n",
      .err = "invalid status line" },
    { .name = "leading whitespace", .in = " HTTP/1.1 200 OK\r\n\r\n",
      .err = "invalid status line" },
    { .name = "leading empty line", .in = "\r\nHTTP/1.1 200 OK\r\n\r\n",
      .err = "invalid status line" },
    { .name = "no space after the code", .in = "HTTP/1.1 200OK\r\n\r\n",
      .err = "invalid status line" },
    { .name = "two spaces before the code", .in = "HTTP/1.1  200 OK\r\n\r\n",
      .err = "invalid status line" },
    { .name = "tab before the code", .in = "HTTP/1.1\t200 OK\r\n\r\n",
      .err = "invalid status line" },
    { .name = "status 099", .in = "HTTP/1.1 099 X\r\n\r\n",
      .err = "invalid status line" },
    { .name = "status 600", .in = "HTTP/1.1 600 X\r\n\r\n",
      .err = "invalid status line" },
    { .name = "status 20", .in = "HTTP/1.1 20 OK\r\n\r\n",
      .err = "invalid status line" },
    { .name = "status 2000", .in = "HTTP/1.1 2000 OK\r\n\r\n",
      .err = "invalid status line" },
    { .name = "control character in reason",
      .in = "HTTP/1.1 200 O\x01K\r\n\r\n", .err = "invalid status line" },
    { .name = "bare CR in reason",
      .in = "HTTP/1.1 200 O\rK\r\n\r\n", .err = "invalid status line" },
    { .name = "NUL in status line",
      .in = "HTTP/1.1 200 O\0K\r\n\r\n", .len = 20,
      .err = "invalid status line" },

    /* --- header errors */
    { .name = "obs-fold", .in = H11 "A: b\r\n c\r\n\r\n",
      .err = "obs-fold in header" },
    { .name = "obs-fold with HTAB", .in = H11 "A: b\r\n\tc\r\n\r\n",
      .err = "obs-fold in header" },
    { .name = "whitespace before the colon", .in = H11 "A : b\r\n\r\n",
      .err = "invalid header name" },
    { .name = "empty name", .in = H11 ": b\r\n\r\n",
      .err = "invalid header name" },
    { .name = "no colon", .in = H11 "A b\r\n\r\n",
      .err = "invalid header name" },
    { .name = "non-token name", .in = H11 "A(b): c\r\n\r\n",
      .err = "invalid header name" },
    { .name = "bare CR in name", .in = H11 "A\r: b\r\n\r\n",
      .err = "invalid header name" },
    { .name = "bare CR in value", .in = H11 "A: b\rc\r\n\r\n",
      .err = "invalid character in header value" },
    { .name = "CR CR LF", .in = H11 "A: b\r\r\n\r\n",
      .err = "invalid character in header value" },
    { .name = "NUL in value", .in = H11 "A: b\0c\r\n\r\n", .len = 27,
      .err = "invalid character in header value" },
    { .name = "DEL in value", .in = H11 "A: b\x7f\r\n\r\n",
      .err = "invalid character in header value" },
    { .name = "ESC in value", .in = H11 "A: \x1b[0m\r\n\r\n",
      .err = "invalid character in header value" },
    { .name = "refused by header_fn", .in = H11 "X-Reject: 1\r\n\r\n",
      .err = "rejected by caller" },

    /* --- head limits (max_line 20) */
    { .name = "status line of max_line bytes",
      .in = "HTTP/1.1 200 OKOKOKO\r\n\r\n", .max_line = 20, .eof = 1,
      .status = 200, .mode = CLOSE, .reusable = 0, .body = "" },
    { .name = "status line of max_line + 1 bytes",
      .in = "HTTP/1.1 200 OKOKOKOK\r\n\r\n", .max_line = 20,
      .err = "header line too long" },
    { .name = "header line of max_line bytes",
      .in = H11 "X-A: 0123456789abcde\r\n\r\n", .max_line = 20, .eof = 1,
      .status = 200, .mode = CLOSE, .reusable = 0, .body = "" },
    { .name = "header line of max_line + 1 bytes",
      .in = H11 "X-A: 0123456789abcdef\r\n\r\n", .max_line = 20,
      .err = "header line too long" },
    { .name = "trailing whitespace counts towards max_line",
      .in = H11 "X-A: 0123456789abcde \r\n\r\n", .max_line = 20,
      .err = "header line too long" },
    { .name = "max_fields header lines",
      .in = H11 "A: 1\r\nB: 2\r\n\r\n", .max_fields = 2, .eof = 1,
      .status = 200, .mode = CLOSE, .reusable = 0, .body = "" },
    { .name = "max_fields + 1 header lines",
      .in = H11 "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", .max_fields = 2,
      .err = "too many header fields" },

    /* --- chunked errors and limits */
    { .name = "non-hex chunk size", .in = H11 TE "\r\nx\r\n",
      .err = "invalid chunk size" },
    { .name = "empty chunk size", .in = H11 TE "\r\n\r\n",
      .err = "invalid chunk size" },
    { .name = "whitespace before chunk size", .in = H11 TE "\r\n 5\r\n",
      .err = "invalid chunk size" },
    { .name = "junk after chunk size", .in = H11 TE "\r\n5x\r\nhello",
      .err = "invalid chunk size" },
    { .name = "negative chunk size", .in = H11 TE "\r\n-5\r\n",
      .err = "invalid chunk size" },
    { .name = "bare CR after chunk size", .in = H11 TE "\r\n5\rhello",
      .err = "invalid chunk size" },
    { .name = "chunk size of 18 hex digits",
      .in = H11 TE "\r\nffffffffffffffffff\r\n",
      .err = "chunk size overflow" },
    { .name = "chunk size 2^64",
      .in = H11 TE "\r\n10000000000000000\r\n", .err = "chunk size overflow" },
    { .name = "control character in chunk extension",
      .in = H11 TE "\r\n5;a=\x01\r\nhello\r\n0\r\n\r\n",
      .err = "invalid chunk extension" },
    { .name = "chunk line of max_line bytes",
      .in = H11 TE "\r\n1;aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
            "z\r\n0\r\n\r\n",
      .max_line = 30, .status = 200, .mode = CHUNKED, .reusable = 1,
      .body = "z" },
    { .name = "chunk line of max_line + 1 bytes",
      .in = H11 TE "\r\n1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
      .max_line = 30, .err = "chunk line too long" },
    { .name = "leading zeros count towards max_line",
      .in = H11 TE "\r\n0000000000000000000000000000001\r\n",
      .max_line = 30, .err = "chunk line too long" },
    { .name = "chunk data without CRLF",
      .in = H11 TE "\r\n5\r\nhelloX\r\n0\r\n\r\n",
      .err = "missing CRLF after chunk data" },
    { .name = "chunk data with CR but no LF",
      .in = H11 TE "\r\n5\r\nhello\rX\r\n0\r\n\r\n",
      .err = "missing CRLF after chunk data" },
    { .name = "max_trailers trailers",
      .in = H11 TE "\r\n0\r\nA: 1\r\nB: 2\r\n\r\n", .max_trailers = 2,
      .status = 200, .mode = CHUNKED, .reusable = 1, .body = "" },
    { .name = "max_trailers + 1 trailers",
      .in = H11 TE "\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", .max_trailers = 2,
      .err = "too many trailer fields" },
    { .name = "trailer with whitespace before the colon",
      .in = H11 TE "\r\n0\r\nA : 1\r\n\r\n", .err = "invalid trailer" },
    { .name = "trailer obs-fold",
      .in = H11 TE "\r\n0\r\nA: 1\r\n 2\r\n\r\n", .err = "invalid trailer" },
    { .name = "trailer without colon",
      .in = H11 TE "\r\n0\r\nA\r\n\r\n", .err = "invalid trailer" },
    { .name = "control character in trailer",
      .in = H11 TE "\r\n0\r\nA: \x01\r\n\r\n", .err = "invalid trailer" },
    { .name = "bare CR in trailer",
      .in = H11 TE "\r\n0\r\nA: 1\r2\r\n\r\n", .err = "invalid trailer" },
    { .name = "bare CR as the last line",
      .in = H11 TE "\r\n0\r\n\rX", .err = "invalid trailer" },
    { .name = "trailer line of max_line bytes",
      .in = H11 TE "\r\n0\r\nA: 0123456789abcdefghijklmnopq\r\n\r\n",
      .max_line = 30, .status = 200, .mode = CHUNKED, .reusable = 1,
      .body = "" },
    { .name = "trailer line of max_line + 1 bytes",
      .in = H11 TE "\r\n0\r\nA: 0123456789abcdefghijklmnopqr\r\n"
            "\r\n",
      .max_line = 30, .err = "trailer line too long" },

    /* --- cut short */
    { .name = "Content-Length body cut short",
      .in = H11 "Content-Length: 10\r\n\r\nhello", .eof = 1,
      .err = "body cut short", .status = 200, .mode = LENGTH, .reusable = 1,
      .body = "hello" },
    { .name = "chunk data cut short",
      .in = H11 TE "\r\na\r\nhello", .eof = 1,
      .err = "body cut short", .status = 200, .mode = CHUNKED, .reusable = 1,
      .body = "hello" },
    { .name = "chunked cut short in the trailers",
      .in = H11 TE "\r\n1\r\nz\r\n0\r\nA: 1\r\n", .eof = 1,
      .err = "body cut short", .status = 200, .mode = CHUNKED, .reusable = 1,
      .body = "z" },
    { .name = "chunked waits for the last CRLF",
      .in = H11 TE "\r\n1\r\nz\r\n0\r\n\r", .again = 1,
      .status = 200, .mode = CHUNKED, .reusable = 1, .body = "z" },
};

static void test_vector(const struct vec *v)
{
    setup s;
    outcome whole, other;
    const char *why = NULL;
    int i;

    memset(&s, 0, sizeof(s));
    s.in = v->in;
    s.len = v->len ? v->len : strlen(v->in);
    s.head_request = v->head_request;
    s.eof = v->eof;
    s.max_line = v->max_line;
    s.max_fields = v->max_fields;
    s.max_trailers = v->max_trailers;

    run(&s, 0, 0, &whole);
    if (whole.bad) {
        ok(0, "%s: invariant: %s", v->name, whole.bad);
        return;
    }
    is_int(whole.rv, v->err ? ERROR : v->again ? AGAIN : DONE,
           "%s: result", v->name);
    is_str(whole.err, v->err, "%s: error", v->name);
    if (v->status) {
        is_int(whole.status, v->status, "%s: status", v->name);
        is_int(whole.mode, v->mode, "%s: body mode", v->name);
        is_int(whole.reusable, v->reusable, "%s: reusable", v->name);
        ok(whole.blen == strlen(v->body)
           && memcmp(whole.body, v->body, whole.blen) == 0,
           "%s: body", v->name);
        is_int(whole.interim, v->interim, "%s: interim responses", v->name);
        if (!v->err && !v->again) {
            is_int(s.len - whole.used, v->left, "%s: bytes left", v->name);
        }
    }
    if (v->fields) {
        ok(whole.flen == strlen(v->fields)
           && memcmp(whole.fields, v->fields, whole.flen) == 0,
           "%s: fields", v->name);
    }

    run(&s, 1, 0, &other);
    why = differ(&whole, &other);
    ok(why == NULL, "%s: byte by byte", v->name);
    if (why) {
        diag("differs in %s", why);
    }
    for (i = 0; i < RANDOM_SPLITS && !why; i++) {
        run(&s, 2, (uint32_t)i, &other);
        why = differ(&whole, &other);
    }
    ok(why == NULL, "%s: random splits", v->name);
    if (why) {
        diag("split %d differs in %s", i - 1, why);
    }
}

/* ------------------------------------------------------------------ */
/* Direct tests of the API. */

static int count_fn(void *baton, const char *name, size_t nlen,
                    const char *value, size_t vlen)
{
    (void)name;
    (void)nlen;
    (void)value;
    (void)vlen;
    (*(int *)baton)++;
    return 0;
}

/* Parse a whole head in one feed into h. */
static int head(revproxy_h1_head *h, char *line, size_t max_line,
                const char *in, size_t *consumed)
{
    revproxy_h1_head_init(h, line, max_line, 20, NULL, NULL);
    return revproxy_h1_head_feed(h, in, strlen(in), consumed);
}

static void test_head_api(void)
{
    revproxy_h1_head h;
    char line[128];
    const char *in;
    size_t used;
    int rv, n = 0;

    /* The reason phrase stays in the line until the next line arrives. */
    revproxy_h1_head_init(&h, line, sizeof(line), 20, NULL, NULL);
    in = "HTTP/1.0 404 Not Found\r\n";
    rv = revproxy_h1_head_feed(&h, in, strlen(in), &used);
    is_int(rv, AGAIN, "status line alone: AGAIN");
    is_int(used, strlen(in), "status line alone: all used");
    is_int(h.status, 404, "status 404");
    is_int(h.minor, 0, "minor 0");
    ok(h.reason_len == 9 && strcmp(h.reason, "Not Found") == 0,
       "reason phrase");
    rv = revproxy_h1_head_feed(&h, "X: y\r\n", 6, &used);
    is_str(h.reason, "Not Found", "reason copy survives header lines");
    rv = revproxy_h1_head_feed(&h, "\r\nrest", 6, &used);
    is_int(rv, DONE, "empty line: DONE");
    is_int(used, 2, "DONE uses through the empty line only");
    rv = revproxy_h1_head_feed(&h, "rest", 4, &used);
    ok(rv == DONE && used == 0, "feeding after DONE: DONE, nothing used");

    rv = head(&h, line, sizeof(line), "HTTP/1.1 200\r\n\r\n", &used);
    ok(rv == DONE && h.reason_len == 0, "no reason: empty reason");

    /* Errors are sticky. */
    rv = head(&h, line, sizeof(line), "HTTP/1.1 200 OK\r\nA : b\r\n", &used);
    is_int(rv, ERROR, "error");
    rv = revproxy_h1_head_feed(&h, "\r\n", 2, &used);
    ok(rv == ERROR && used == 0
       && strcmp(h.error, "invalid header name") == 0,
       "feeding after ERROR: ERROR, nothing used, same error");

    /* max_fields 0 allows no field at all. */
    revproxy_h1_head_init(&h, line, sizeof(line), 0, NULL, NULL);
    in = "HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
    rv = revproxy_h1_head_feed(&h, in, strlen(in), &used);
    ok(rv == ERROR && strcmp(h.error, "too many header fields") == 0,
       "max_fields 0");

    /* The callback sees every field; nfields counts them. */
    revproxy_h1_head_init(&h, line, sizeof(line), 20, count_fn, &n);
    in = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nA: 3\r\n\r\n";
    rv = revproxy_h1_head_feed(&h, in, strlen(in), &used);
    ok(rv == DONE && n == 3 && h.nfields == 3, "header_fn per field");

    rv = head(&h, line, sizeof(line),
              "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n",
              &used);
    ok(rv == DONE && h.has_cl
       && h.content_length == (uint64_t)9223372036854775807ULL,
       "Content-Length 2^63 - 1");
    rv = head(&h, line, sizeof(line),
              "HTTP/1.1 200 OK\r\nContent-Length: 0000000000000000000000042"
              "\r\n\r\n", &used);
    ok(rv == DONE && h.content_length == 42, "Content-Length leading zeros");
    rv = head(&h, line, sizeof(line),
              "HTTP/1.1 200 OK\r\n"
              "Content-Length: 99999999999999999999\r\n\r\n", &used);
    ok(rv == ERROR && strcmp(h.error, "invalid Content-Length") == 0,
       "Content-Length far beyond 2^63");

    rv = head(&h, line, sizeof(line),
              "HTTP/1.1 101 Switching Protocols\r\n"
              "Connection: Upgrade , keep-alive\r\nconnection:CLOSE\r\n\r\n",
              &used);
    ok(rv == DONE && h.conn_upgrade && h.conn_keep_alive && h.conn_close,
       "Connection tokens, any case, over several fields");
    rv = head(&h, line, sizeof(line),
              "HTTP/1.1 200 OK\r\nConnection: closed, upgrades\r\n\r\n",
              &used);
    ok(rv == DONE && !h.conn_upgrade && !h.conn_close,
       "Connection tokens match whole");

    rv = head(&h, line, sizeof(line),
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
              "Transfer-Encoding: \r\n\r\n", &used);
    ok(rv == DONE && h.has_te && h.te_chunked_last,
       "an empty TE field adds no coding");
    rv = head(&h, line, sizeof(line),
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
              &used);
    ok(rv == ERROR, "chunked with a parameter is not chunked: refused");
}

static void test_framing_api(void)
{
    revproxy_h1_head h;
    char line[16];

    revproxy_h1_head_init(&h, line, sizeof(line), 20, NULL, NULL);
    h.minor = 1;
    h.status = 100;
    is_int(revproxy_h1_body_mode(&h, 0), NONE, "1xx: no body");
    h.status = 200;
    is_int(revproxy_h1_body_mode(&h, 0), CLOSE, "no framing: CLOSE");
    ok(!revproxy_h1_reusable(&h, CLOSE), "CLOSE is not reusable");
    h.has_cl = 1;
    h.content_length = 0;
    is_int(revproxy_h1_body_mode(&h, 0), LENGTH, "CL 0: LENGTH");
    ok(revproxy_h1_reusable(&h, LENGTH), "CL on HTTP/1.1: reusable");
    is_int(revproxy_h1_body_mode(&h, 1), NONE, "HEAD: no body");
    ok(revproxy_h1_reusable(&h, NONE), "HEAD with CL: reusable");
    h.has_te = 1;
    is_int(revproxy_h1_body_mode(&h, 0), CLOSE, "TE not chunked: CLOSE");
    h.te_chunked_last = 1;
    is_int(revproxy_h1_body_mode(&h, 0), CHUNKED, "TE chunked over CL");
    ok(!revproxy_h1_reusable(&h, CHUNKED), "TE with CL: not reusable");
    ok(!revproxy_h1_reusable(&h, NONE), "TE with CL, HEAD: not reusable");
    h.has_cl = 0;
    ok(revproxy_h1_reusable(&h, CHUNKED), "chunked alone: reusable");
    h.te_chunked_last = 0;
    ok(!revproxy_h1_reusable(&h, NONE), "TE not chunked, 304: not reusable");
    h.has_te = 0;
    h.has_cl = 1;
    h.minor = 0;
    ok(!revproxy_h1_reusable(&h, LENGTH), "HTTP/1.0: not reusable");
    h.conn_keep_alive = 1;
    ok(revproxy_h1_reusable(&h, LENGTH), "HTTP/1.0 keep-alive: reusable");
    h.conn_close = 1;
    ok(!revproxy_h1_reusable(&h, LENGTH), "close wins over keep-alive");
}

static void test_body_api(void)
{
    revproxy_h1_body b;
    const char *in;
    size_t used, off, len;
    int rv;

    /* LENGTH */
    revproxy_h1_body_init(&b, LENGTH, 0, 64, 4);
    rv = revproxy_h1_body_feed(&b, "", 0, &used, &off, &len);
    ok(rv == DONE && used == 0, "LENGTH 0: first empty feed is DONE");
    ok(revproxy_h1_body_eof(&b) == DONE, "LENGTH 0: eof is fine");

    revproxy_h1_body_init(&b, LENGTH, 5, 64, 4);
    rv = revproxy_h1_body_feed(&b, "", 0, &used, &off, &len);
    ok(rv == AGAIN && used == 0, "LENGTH: empty feed is AGAIN");
    in = "helXYZ";
    rv = revproxy_h1_body_feed(&b, in, 3, &used, &off, &len);
    ok(rv == DATA && used == 3 && off == 0 && len == 3, "LENGTH: first span");
    rv = revproxy_h1_body_feed(&b, "loEXTRA", 7, &used, &off, &len);
    ok(rv == DATA && used == 2 && off == 0 && len == 2
       && b.remaining == 0, "LENGTH: span stops at the length");
    rv = revproxy_h1_body_feed(&b, "EXTRA", 5, &used, &off, &len);
    ok(rv == DONE && used == 0, "LENGTH: extra data not consumed");

    revproxy_h1_body_init(&b, LENGTH, 5, 64, 4);
    rv = revproxy_h1_body_feed(&b, "he", 2, &used, &off, &len);
    rv = revproxy_h1_body_eof(&b);
    ok(rv == ERROR && strcmp(b.error, "body cut short") == 0,
       "LENGTH: eof early is an error");

    /* CLOSE */
    revproxy_h1_body_init(&b, CLOSE, 0, 64, 4);
    rv = revproxy_h1_body_feed(&b, "", 0, &used, &off, &len);
    ok(rv == AGAIN && used == 0, "CLOSE: empty feed is AGAIN");
    rv = revproxy_h1_body_feed(&b, "abc", 3, &used, &off, &len);
    ok(rv == DATA && used == 3 && len == 3, "CLOSE: all is data");
    ok(revproxy_h1_body_eof(&b) == DONE, "CLOSE: eof ends it");
    rv = revproxy_h1_body_feed(&b, "abc", 3, &used, &off, &len);
    ok(rv == DONE && used == 0, "CLOSE: DONE after eof");

    /* NONE */
    revproxy_h1_body_init(&b, NONE, 7, 64, 4);
    rv = revproxy_h1_body_feed(&b, "abc", 3, &used, &off, &len);
    ok(rv == DONE && used == 0, "NONE: DONE at once, nothing used");
    ok(revproxy_h1_body_eof(&b) == DONE, "NONE: eof is fine");

    /* CHUNKED */
    revproxy_h1_body_init(&b, CHUNKED, 0, 64, 4);
    in = "3;x\r\nabc\r\n0\r\n\r\nNEXT";
    rv = revproxy_h1_body_feed(&b, in, strlen(in), &used, &off, &len);
    ok(rv == DATA && off == 5 && len == 3 && used == 8,
       "CHUNKED: span points into the input after the chunk line");
    in += used;
    rv = revproxy_h1_body_feed(&b, in, strlen(in), &used, &off, &len);
    ok(rv == DONE && used == 7 && strcmp(in + used, "NEXT") == 0,
       "CHUNKED: DONE after the last CRLF, the rest not consumed");

    revproxy_h1_body_init(&b, CHUNKED, 0, 64, 4);
    in = "ffffffffffffffff\r\n";
    rv = revproxy_h1_body_feed(&b, in, strlen(in), &used, &off, &len);
    ok(rv == AGAIN && b.remaining == UINT64_MAX,
       "CHUNKED: 16 hex digits fit");
    ok(revproxy_h1_body_eof(&b) == ERROR, "CHUNKED: eof mid-chunk");

    revproxy_h1_body_init(&b, CHUNKED, 0, 64, 4);
    in = "aBcD\r\n";
    rv = revproxy_h1_body_feed(&b, in, strlen(in), &used, &off, &len);
    ok(rv == AGAIN && b.remaining == 0xabcd, "CHUNKED: hex in any case");

    revproxy_h1_body_init(&b, CHUNKED, 0, 64, 4);
    in = "ffffffffffffffffff\r\n";
    rv = revproxy_h1_body_feed(&b, in, strlen(in), &used, &off, &len);
    ok(rv == ERROR && strcmp(b.error, "chunk size overflow") == 0,
       "CHUNKED: ffffffffffffffffff overflows");
    rv = revproxy_h1_body_feed(&b, "0\r\n\r\n", 5, &used, &off, &len);
    ok(rv == ERROR && used == 0, "CHUNKED: errors are sticky");

    revproxy_h1_body_init(&b, CHUNKED, 0, 64, 0);
    in = "0\r\nA: 1\r\n\r\n";
    rv = revproxy_h1_body_feed(&b, in, strlen(in), &used, &off, &len);
    ok(rv == ERROR && strcmp(b.error, "too many trailer fields") == 0,
       "CHUNKED: max_trailers 0 refuses any trailer");
}

int main(void)
{
    size_t i;

    for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
        test_vector(&vecs[i]);
    }
    test_head_api();
    test_framing_api();
    test_body_api();
    return done_testing();
}
