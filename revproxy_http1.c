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
 * revproxy_http1.c -- a resumable HTTP/1.1 response parser.
 *
 * See include/revproxy_http1.h for the contract.  Both machines take their
 * input one byte at a time where framing matters, and keep all the state
 * they need between calls in the caller's structures, so that feeding a
 * response in one piece or split at any byte boundary (even between CR
 * and LF) gives the same results.  Nothing here allocates: the head keeps
 * the current line in the caller's buffer, and the body machine validates
 * chunk lines and trailers on the fly without keeping them.
 *
 * Choices worth knowing:
 *  - A line ends with CRLF or a bare LF.  A CR that is not followed by LF
 *    is kept in the line, where the line checks reject it as a control
 *    character; that keeps the outcome independent of where input splits.
 *  - On REVPROXY_H1_ERROR, *consumed tells where the error was found.
 *  - Content-Length values above 2^63 - 1 are invalid, so that they fit
 *    the signed 64-bit offsets of the caller (apr_off_t).
 *  - A Content-Length of 0 gives REVPROXY_H1_BODY_LENGTH (not NONE): the
 *    body machine then answers REVPROXY_H1_DONE to its first feed.  This
 *    keeps body_mode a plain reading of the framing headers.
 *  - A chunk size may be followed by whitespace before the extensions or
 *    the line end (as httpd and nginx accept); extensions are skipped.
 *  - Trailer fields are checked like header lines and dropped.
 */

#include <string.h>

#include "revproxy_http1.h"

/* Head states. */
#define HS_STATUS      0    /* reading the status line */
#define HS_STATUS_CR   1    /* ... a CR was seen, LF expected */
#define HS_FIELD       2    /* reading a header line */
#define HS_FIELD_CR    3    /* ... a CR was seen, LF expected */
#define HS_DONE        4
#define HS_ERROR       5

/* Body states. */
#define BS_DATA        0    /* body bytes: LENGTH, CLOSE or chunk data */
#define BS_SIZE0       1    /* chunk line, no hex digit yet */
#define BS_SIZE        2    /* chunk line, in the hex digits */
#define BS_SIZE_WS     3    /* chunk line, whitespace after the size */
#define BS_EXT         4    /* chunk line, in the extensions */
#define BS_SIZE_CR     5    /* chunk line, CR seen */
#define BS_DATA_END    6    /* CRLF expected after chunk data */
#define BS_DATA_LF     7    /* ... its CR seen */
#define BS_TR_START    8    /* start of a trailer or of the last line */
#define BS_TR_NAME     9    /* trailer name */
#define BS_TR_VALUE   10    /* trailer value */
#define BS_TR_CR      11    /* trailer line, CR seen */
#define BS_END_CR     12    /* final empty line, CR seen */
#define BS_DONE       13
#define BS_ERROR      14

/* The largest Content-Length accepted: 2^63 - 1. */
#define CL_MAX ((uint64_t)0x7fffffffffffffffULL)

/* Character classes, one table lookup per byte:
 *  C_TCHAR  tchar of RFC 9110 section 5.6.2 (field names);
 *  C_VCHAR  field-vchar, SP or HTAB (RFC 9110 section 5.5): obs-text is
 *           allowed; NUL, CR, LF, DEL and the other controls are not. */
#define C_TCHAR 1
#define C_VCHAR 2

static const unsigned char cclass[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,   /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 0x10 */
    2, 3, 2, 3, 3, 3, 3, 3, 2, 2, 3, 3, 2, 3, 3, 2,   /* 0x20 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2,   /* 0x30 */
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,   /* 0x40 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3, 3,   /* 0x50 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,   /* 0x60 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3, 0,   /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,   /* 0x80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,   /* 0x90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,   /* 0xa0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,   /* 0xb0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,   /* 0xc0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,   /* 0xd0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,   /* 0xe0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,   /* 0xf0 */
};

#define tchar(c) ((cclass[(unsigned char)(c)] & C_TCHAR) != 0)
#define vchar(c) ((cclass[(unsigned char)(c)] & C_VCHAR) != 0)

static int ows(char c)
{
    return c == ' ' || c == '\t';
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Case-insensitive (ASCII only, no locale) comparison of s[0..n) with the
 * lower-case literal lit. */
static int ieq(const char *s, size_t n, const char *lit)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (lit[i] == '\0') {
            return 0;
        }
        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c - 'A' + 'a');
        }
        if (c != (unsigned char)lit[i]) {
            return 0;
        }
    }
    return lit[n] == '\0';
}

/* The next non-empty element of a comma-separated list (RFC 9110 section
 * 5.6.1) at or after *pos, without its surrounding whitespace.  A comma
 * inside a quoted string (a transfer-parameter) does not split, so that
 * such a parameter can never pass for a coding of its own.  Returns 0 at
 * the end of the list. */
static int elt(const char *v, size_t n, size_t *pos, size_t *s, size_t *e)
{
    size_t i = *pos;
    int quoted = 0;

    while (i < n && (ows(v[i]) || v[i] == ',')) {
        i++;
    }
    if (i == n) {
        *pos = i;
        return 0;
    }
    *s = i;
    while (i < n && (quoted || v[i] != ',')) {
        if (quoted && v[i] == '\\' && i + 1 < n) {
            i++;
        }
        else if (v[i] == '"') {
            quoted = !quoted;
        }
        i++;
    }
    *pos = i;
    while (i > *s && ows(v[i - 1])) {
        i--;
    }
    *e = i;
    return 1;
}

/* Content-Length: 1*DIGIT, or a list of identical such values, which
 * some intermediaries produce by combining duplicate fields (RFC 9110
 * section 8.6).  Signs, empty elements and anything else are invalid. */
static const char *parse_cl(const char *v, size_t n, uint64_t *out)
{
    size_t i = 0;
    int seen = 0;
    uint64_t first = 0;

    for (;;) {
        uint64_t val = 0;
        size_t start;

        while (i < n && ows(v[i])) {
            i++;
        }
        start = i;
        while (i < n && v[i] >= '0' && v[i] <= '9') {
            unsigned d = (unsigned)(v[i] - '0');

            if (val > (CL_MAX - d) / 10) {
                return "invalid Content-Length";
            }
            val = val * 10 + d;
            i++;
        }
        if (i == start) {
            return "invalid Content-Length";
        }
        while (i < n && ows(v[i])) {
            i++;
        }
        if (i < n && v[i] != ',') {
            return "invalid Content-Length";
        }
        if (seen && val != first) {
            return "conflicting Content-Length";
        }
        first = val;
        seen = 1;
        if (i == n) {
            break;
        }
        i++;                    /* the comma */
    }
    *out = first;
    return NULL;
}

/* Record what the framing headers say.  Returns an error or NULL. */
static const char *framing(revproxy_h1_head *h, const char *name,
                           size_t nlen, const char *v, size_t vlen)
{
    size_t pos = 0, s, e;

    if (nlen != 14 && nlen != 17 && nlen != 10) {
        return NULL;            /* none of the three below */
    }
    if (ieq(name, nlen, "content-length")) {
        uint64_t cl;
        const char *err = parse_cl(v, vlen, &cl);

        if (err) {
            return err;
        }
        /* Repeated fields must agree, like the elements of one field. */
        if (h->has_cl && h->content_length != cl) {
            return "conflicting Content-Length";
        }
        h->has_cl = 1;
        h->content_length = cl;
    }
    else if (ieq(name, nlen, "transfer-encoding")) {
        /* Several fields form one list (RFC 9110 section 5.3).  A proxy
         * cannot pass any coding but chunked on (it would have to tell
         * the client about it in a field httpd rewrites), so anything
         * else, or chunked twice, is an invalid response. */
        h->has_te = 1;
        while (elt(v, vlen, &pos, &s, &e)) {
            if (!ieq(v + s, e - s, "chunked")) {
                return "unsupported transfer coding";
            }
            if (h->te_chunked_last) {
                return "chunked applied more than once";
            }
            h->te_chunked_last = 1;
        }
    }
    else if (ieq(name, nlen, "connection")) {
        while (elt(v, vlen, &pos, &s, &e)) {
            if (ieq(v + s, e - s, "close")) {
                h->conn_close = 1;
            }
            else if (ieq(v + s, e - s, "keep-alive")) {
                h->conn_keep_alive = 1;
            }
            else if (ieq(v + s, e - s, "upgrade")) {
                h->conn_upgrade = 1;
            }
        }
    }
    return NULL;
}

static int head_fail(revproxy_h1_head *h, const char *error)
{
    h->error = error;
    h->state = HS_ERROR;
    return REVPROXY_H1_ERROR;
}

/* "HTTP/1.x SSS [reason]": exactly one SP on either side of the status
 * code, which has three digits; the reason may be missing or empty. */
static int parse_status(revproxy_h1_head *h, const char *p, size_t n)
{
    size_t i;

    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0
        || (p[7] != '0' && p[7] != '1') || p[8] != ' '
        || p[9] < '1' || p[9] > '5'
        || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9'
        || (n > 12 && p[12] != ' ')) {
        return head_fail(h, "invalid status line");
    }
    for (i = 13; i < n; i++) {
        if (!vchar(p[i])) {
            return head_fail(h, "invalid status line");
        }
    }
    h->minor = p[7] - '0';
    h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    h->reason_len = n > 12 ? n - 13 : 0;
    i = h->reason_len < sizeof(h->reason) ? h->reason_len
                                          : sizeof(h->reason) - 1;
    memcpy(h->reason, p + 13, i);
    h->reason[i] = '\0';
    return REVPROXY_H1_AGAIN;
}

/* One header line p[0..n), without its terminator. */
static int parse_field(revproxy_h1_head *h, const char *p, size_t n)
{
    const char *err;
    size_t i = 0, nlen, vs, ve;

    /* obs-fold (or whitespace before the first field): RFC 9112 allows
     * a proxy to reject it, which is safer than guessing. */
    if (ows(p[0])) {
        return head_fail(h, "obs-fold in header");
    }
    if (h->nfields >= h->max_fields) {
        return head_fail(h, "too many header fields");
    }
    while (i < n && tchar(p[i])) {
        i++;
    }
    /* No whitespace before the colon (RFC 9112 section 5.1). */
    if (i == 0 || i == n || p[i] != ':') {
        return head_fail(h, "invalid header name");
    }
    nlen = i;
    vs = i + 1;
    ve = n;
    while (vs < ve && ows(p[vs])) {
        vs++;
    }
    while (ve > vs && ows(p[ve - 1])) {
        ve--;
    }
    for (i = vs; i < ve; i++) {
        if (!vchar(p[i])) {
            return head_fail(h, "invalid character in header value");
        }
    }
    h->nfields++;
    err = framing(h, p, nlen, p + vs, ve - vs);
    if (err) {
        return head_fail(h, err);
    }
    if (h->header_fn && h->header_fn(h->baton, p, nlen, p + vs, ve - vs)) {
        return head_fail(h, "rejected by caller");
    }
    return REVPROXY_H1_AGAIN;
}

/* A line of the head, p[0..n) without its terminator, is complete: in
 * the caller's input or in h->line. */
static int line_end(revproxy_h1_head *h, const char *p, size_t n)
{
    int rv;

    h->len = 0;
    if (h->state == HS_STATUS) {
        rv = parse_status(h, p, n);
        if (rv == REVPROXY_H1_AGAIN) {
            h->state = HS_FIELD;
        }
        return rv;
    }
    if (n == 0) {
        if (h->has_te && !h->te_chunked_last) {
            return head_fail(h, "Transfer-Encoding without a coding");
        }
        h->state = HS_DONE;
        return REVPROXY_H1_DONE;
    }
    return parse_field(h, p, n);
}

void revproxy_h1_head_init(revproxy_h1_head *h, char *line, size_t max_line,
                           unsigned max_fields,
                           revproxy_h1_header_fn fn, void *baton)
{
    memset(h, 0, sizeof(*h));
    h->line = line;
    h->max_line = max_line;
    h->max_fields = max_fields;
    h->header_fn = fn;
    h->baton = baton;
    h->state = HS_STATUS;
    h->error = NULL;
}

/* Long on purpose: the fast paths (a line whole in the input, parsed where
 * it lies) and the byte-wise state machine they fall back to must agree
 * byte for byte, which is easiest to see -- and to fuzz -- in one place. */
int revproxy_h1_head_feed(revproxy_h1_head *h, const char *in, size_t len,
                          size_t *consumed)
{
    size_t i = 0;
    int rv;

    if (h->state == HS_DONE || h->state == HS_ERROR) {
        *consumed = 0;
        return h->state == HS_DONE ? REVPROXY_H1_DONE : REVPROXY_H1_ERROR;
    }
    while (i < len) {
        char c;

        /* Fast paths, with the same outcome as byte by byte: a whole
         * line in the input is parsed where it is; otherwise the run of
         * ordinary bytes up to the next CR or LF goes into h->line in
         * one copy. */
        if (h->state == HS_STATUS || h->state == HS_FIELD) {
            const char *s = in + i, *stop, *cr;
            size_t run;

            stop = memchr(s, '\n', len - i);
            run = stop ? (size_t)(stop - s) : 0;
            if (run > 0 && s[run - 1] == '\r') {
                run--;          /* CRLF; any other CR stays, and fails */
            }
            /* (A line too long takes the byte-wise way, which tells
             * where exactly the limit was crossed.) */
            if (stop != NULL && h->len == 0 && run <= h->max_line) {
                i += (size_t)(stop - s) + 1;
                rv = line_end(h, s, run);
                if (rv != REVPROXY_H1_AGAIN) {
                    *consumed = i;
                    return rv;
                }
                continue;
            }
            if (stop == NULL) {
                stop = in + len;
            }
            cr = memchr(s, '\r', (size_t)(stop - s));
            if (cr != NULL) {
                stop = cr;
            }
            run = (size_t)(stop - s);
            if (run > 0) {
                if (run > h->max_line - h->len) {
                    *consumed = i + (h->max_line - h->len) + 1;
                    return head_fail(h, "header line too long");
                }
                memcpy(h->line + h->len, s, run);
                h->len += run;
                i += run;
                if (i == len) {
                    break;
                }
            }
        }
        c = in[i++];

        if (h->state == HS_STATUS_CR || h->state == HS_FIELD_CR) {
            h->state = (h->state == HS_STATUS_CR) ? HS_STATUS : HS_FIELD;
            if (c != '\n') {
                /* A bare CR: keep it, the line checks reject it. */
                if (h->len >= h->max_line) {
                    *consumed = i;
                    return head_fail(h, "header line too long");
                }
                h->line[h->len++] = '\r';
            }
        }
        if (c == '\n') {
            rv = line_end(h, h->line, h->len);
            if (rv != REVPROXY_H1_AGAIN) {
                *consumed = i;
                return rv;
            }
        }
        else if (c == '\r') {
            h->state = (h->state == HS_STATUS) ? HS_STATUS_CR : HS_FIELD_CR;
        }
        else {
            if (h->len >= h->max_line) {
                *consumed = i;
                return head_fail(h, "header line too long");
            }
            h->line[h->len++] = c;
        }
    }
    *consumed = len;
    return REVPROXY_H1_AGAIN;
}

int revproxy_h1_body_mode(const revproxy_h1_head *h, int head_request)
{
    if (head_request || h->status < 200 || h->status == 204
        || h->status == 304) {
        return REVPROXY_H1_BODY_NONE;
    }
    if (h->has_te) {
        /* RFC 9112 section 6.3: Transfer-Encoding overrides
         * Content-Length.  (The head parser lets no other coding
         * through; a head built by hand may have one: until close.) */
        return h->te_chunked_last ? REVPROXY_H1_BODY_CHUNKED
                                  : REVPROXY_H1_BODY_CLOSE;
    }
    if (h->has_cl) {
        return REVPROXY_H1_BODY_LENGTH;
    }
    return REVPROXY_H1_BODY_CLOSE;
}

int revproxy_h1_reusable(const revproxy_h1_head *h, int body_mode)
{
    if (body_mode == REVPROXY_H1_BODY_CLOSE || h->conn_close) {
        return 0;
    }
    if (h->minor == 0 && !h->conn_keep_alive) {
        return 0;
    }
    /* Ambiguous framing (a smuggling vector): TE with CL, TE without
     * chunked last, or TE in an HTTP/1.0 message (RFC 9112 section 6.1
     * says to treat its framing as faulty and close). */
    if (h->has_te && (h->has_cl || !h->te_chunked_last || h->minor == 0)) {
        return 0;
    }
    return 1;
}

void revproxy_h1_body_init(revproxy_h1_body *b, int mode, uint64_t length,
                           size_t max_line, unsigned max_trailers)
{
    memset(b, 0, sizeof(*b));
    b->mode = mode;
    b->max_line = max_line;
    b->max_trailers = max_trailers;
    b->error = NULL;
    switch (mode) {
    case REVPROXY_H1_BODY_NONE:
        b->state = BS_DONE;
        break;
    case REVPROXY_H1_BODY_LENGTH:
        b->remaining = length;
        b->state = length ? BS_DATA : BS_DONE;
        break;
    case REVPROXY_H1_BODY_CLOSE:
        b->state = BS_DATA;
        break;
    case REVPROXY_H1_BODY_CHUNKED:
        b->state = BS_SIZE0;
        break;
    default:
        b->state = BS_ERROR;
        b->error = "invalid body mode";
        break;
    }
}

/* Count one byte of a chunk or trailer line against max_line. */
static const char *count(revproxy_h1_body *b, const char *error)
{
    if (b->linelen >= b->max_line) {
        return error;
    }
    b->linelen++;
    return NULL;
}

/* A chunk line is complete: data follows, or the trailer section. */
static void chunk_line_end(revproxy_h1_body *b)
{
    b->linelen = 0;
    b->state = b->remaining ? BS_DATA : BS_TR_START;
}

static void next_chunk(revproxy_h1_body *b)
{
    b->state = BS_SIZE0;
    b->linelen = 0;
    b->digits = 0;
    b->remaining = 0;
}

/* A byte after the hex digits of a chunk size: whitespace, which httpd
 * and nginx accept there too, the start of the extensions or the line
 * end. */
static const char *after_size(revproxy_h1_body *b, unsigned char c)
{
    if (c == '\r') {
        b->state = BS_SIZE_CR;
    }
    else if (c == '\n') {
        chunk_line_end(b);
    }
    else if (ows((char)c) || c == ';') {
        if (count(b, "chunk line too long")) {
            return "chunk line too long";
        }
        b->state = c == ';' ? BS_EXT : BS_SIZE_WS;
    }
    else {
        return "invalid chunk size";
    }
    return NULL;
}

/* Advance the chunked framing by one byte outside chunk data.  Returns an
 * error or NULL.  One switch over every state of RFC 9112 7.1 (size,
 * extension, CRLF, trailer fields), kept whole so that each byte costs one
 * dispatch and every transition can be read against the grammar. */
static const char *cbyte(revproxy_h1_body *b, unsigned char c)
{
    int d;

    switch (b->state) {
    case BS_SIZE0:
    case BS_SIZE:
        d = hexval(c);
        if (d >= 0) {
            if (count(b, "chunk line too long")) {
                return "chunk line too long";
            }
            b->state = BS_SIZE;
            /* Leading zeros are not significant, so they do not count
             * towards the 16 digits that fit in 64 bits. */
            if (b->remaining == 0 && d == 0) {
                return NULL;
            }
            if (b->digits >= 16) {
                return "chunk size overflow";
            }
            b->digits++;
            b->remaining = (b->remaining << 4) | (uint64_t)d;
            return NULL;
        }
        if (b->state == BS_SIZE0) {
            return "invalid chunk size";
        }
        return after_size(b, c);
    case BS_SIZE_WS:
        return after_size(b, c);
    case BS_EXT:
        if (c == '\r') {
            b->state = BS_SIZE_CR;
        }
        else if (c == '\n') {
            chunk_line_end(b);
        }
        else if (!vchar(c)) {
            return "invalid chunk extension";
        }
        else if (count(b, "chunk line too long")) {
            return "chunk line too long";
        }
        return NULL;
    case BS_SIZE_CR:
        if (c != '\n') {
            return "invalid chunk size";
        }
        chunk_line_end(b);
        return NULL;
    case BS_DATA_END:
        /* CRLF, or a bare LF, ends the chunk data. */
        if (c == '\r') {
            b->state = BS_DATA_LF;
            return NULL;
        }
        if (c != '\n') {
            return "missing CRLF after chunk data";
        }
        next_chunk(b);
        return NULL;
    case BS_DATA_LF:
        if (c != '\n') {
            return "missing CRLF after chunk data";
        }
        next_chunk(b);
        return NULL;
    case BS_TR_START:
        if (c == '\r') {
            b->state = BS_END_CR;
            return NULL;
        }
        if (c == '\n') {
            b->state = BS_DONE;
            return NULL;
        }
        if (!tchar(c)) {
            /* includes obs-fold, rejected as in the head */
            return "invalid trailer";
        }
        if (b->ntrailers >= b->max_trailers) {
            return "too many trailer fields";
        }
        b->ntrailers++;
        b->linelen = 0;
        b->state = BS_TR_NAME;
        return count(b, "trailer line too long");
    case BS_TR_NAME:
        if (c == ':') {
            b->state = BS_TR_VALUE;
        }
        else if (!tchar(c)) {
            return "invalid trailer";
        }
        return count(b, "trailer line too long");
    case BS_TR_VALUE:
        if (c == '\r') {
            b->state = BS_TR_CR;
            return NULL;
        }
        if (c == '\n') {
            b->state = BS_TR_START;
            return NULL;
        }
        if (!vchar(c)) {
            return "invalid trailer";
        }
        return count(b, "trailer line too long");
    case BS_TR_CR:
        if (c != '\n') {
            return "invalid trailer";
        }
        b->state = BS_TR_START;
        return NULL;
    case BS_END_CR:
        if (c != '\n') {
            return "invalid trailer";
        }
        b->state = BS_DONE;
        return NULL;
    default:
        return "invalid parser state";
    }
}

int revproxy_h1_body_feed(revproxy_h1_body *b, const char *in, size_t len,
                          size_t *consumed, size_t *data_off,
                          size_t *data_len)
{
    size_t i = 0;
    const char *err;

    *data_off = 0;
    *data_len = 0;
    for (;;) {
        switch (b->state) {
        case BS_DONE:
            *consumed = i;
            return REVPROXY_H1_DONE;
        case BS_ERROR:
            *consumed = i;
            return REVPROXY_H1_ERROR;
        case BS_DATA:
            if (b->mode == REVPROXY_H1_BODY_LENGTH && b->remaining == 0) {
                b->state = BS_DONE;
                continue;
            }
            if (i == len) {
                *consumed = len;
                return REVPROXY_H1_AGAIN;
            }
            *data_off = i;
            *data_len = len - i;
            if (b->mode != REVPROXY_H1_BODY_CLOSE) {
                if (*data_len > b->remaining) {
                    *data_len = (size_t)b->remaining;
                }
                b->remaining -= *data_len;
                if (b->mode == REVPROXY_H1_BODY_CHUNKED
                    && b->remaining == 0) {
                    b->state = BS_DATA_END;
                }
            }
            *consumed = i + *data_len;
            return REVPROXY_H1_DATA;
        default:
            if (i == len) {
                *consumed = len;
                return REVPROXY_H1_AGAIN;
            }
            err = cbyte(b, (unsigned char)in[i++]);
            if (err) {
                b->error = err;
                b->state = BS_ERROR;
                *consumed = i;
                return REVPROXY_H1_ERROR;
            }
            break;
        }
    }
}

int revproxy_h1_body_eof(revproxy_h1_body *b)
{
    if (b->state == BS_ERROR) {
        return REVPROXY_H1_ERROR;
    }
    if (b->state == BS_DONE || b->mode == REVPROXY_H1_BODY_CLOSE) {
        b->state = BS_DONE;
        return REVPROXY_H1_DONE;
    }
    b->error = "body cut short";
    b->state = BS_ERROR;
    return REVPROXY_H1_ERROR;
}
