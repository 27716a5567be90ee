/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * revproxy_http1 -- a resumable HTTP/1.1 response parser.
 *
 * Free of httpd and APR types on purpose: the unit tests in t/unit and the
 * fuzzers in fuzz/ link this file alone.  The parser never allocates: the
 * caller hands it a line buffer whose size is the longest line it accepts
 * (the server's LimitRequestFieldSize).
 *
 * Two machines:
 *  - revproxy_h1_head: status line and header fields of one response
 *    (called again for each interim 1xx response);
 *  - revproxy_h1_body: the body framing (none, Content-Length, chunked with
 *    trailers, or until close), returning spans of body data in place.
 */
#ifndef REVPROXY_HTTP1_H
#define REVPROXY_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Results of the feed functions. */
#define REVPROXY_H1_AGAIN  0   /* all input consumed, need more */
#define REVPROXY_H1_DONE   1   /* the head (or the body) is complete */
#define REVPROXY_H1_DATA   2   /* body: a span of body data is returned */
#define REVPROXY_H1_ERROR -1   /* malformed or over a limit; see ->error */

/* Called for every header field of the head (not for trailers).  Name and
 * value are not NUL-terminated; the value has its surrounding whitespace
 * removed.  They point into the input being fed (a line that arrived
 * whole) or into the line buffer, and are valid during the call only.  A non-zero return stops parsing with REVPROXY_H1_ERROR and
 * error "rejected by caller". */
typedef int (*revproxy_h1_header_fn)(void *baton,
                                     const char *name, size_t nlen,
                                     const char *value, size_t vlen);

/* Framing facts gathered while parsing the head. */
#define REVPROXY_H1_CL_NONE      0
#define REVPROXY_H1_CL_VALID     1

typedef struct revproxy_h1_head {
    /* configuration, set by revproxy_h1_head_init */
    char *line;                 /* caller's buffer, max_line bytes */
    size_t max_line;            /* longest line accepted, without CRLF */
    unsigned max_fields;        /* most header lines accepted */
    revproxy_h1_header_fn header_fn;
    void *baton;

    /* parsing state (private) */
    int state;
    size_t len;                 /* bytes in line */

    /* results */
    int minor;                  /* HTTP/1.<minor> */
    int status;                 /* 100..599 */
    char reason[64];            /* the reason phrase, NUL-terminated,
                                   cut at 63 bytes */
    size_t reason_len;          /* the reason phrase's full length */
    unsigned nfields;
    int has_cl;                 /* a valid Content-Length was seen */
    uint64_t content_length;
    int has_te;                 /* Transfer-Encoding present: its only
                                   coding is chunked (any other coding,
                                   chunked twice, or none at all is an
                                   error of the head) */
    int te_chunked_last;        /* ... and chunked was seen */
    int conn_close;             /* Connection: close */
    int conn_keep_alive;        /* Connection: keep-alive (for HTTP/1.0) */
    int conn_upgrade;           /* Connection: upgrade */
    const char *error;          /* static text when REVPROXY_H1_ERROR */
} revproxy_h1_head;

/* Prepare h for a new response head.  line must hold max_line bytes. */
void revproxy_h1_head_init(revproxy_h1_head *h, char *line, size_t max_line,
                           unsigned max_fields,
                           revproxy_h1_header_fn fn, void *baton);

/* Feed len bytes.  *consumed is set to the bytes used: all of them for
 * REVPROXY_H1_AGAIN, up to and including the empty line for
 * REVPROXY_H1_DONE.  Bytes after the head belong to the body.
 * For REVPROXY_H1_ERROR, *consumed tells where the error was found.
 * DONE and ERROR are final: later feeds return them again, using 0 bytes.
 * Lines end with CRLF or a bare LF; a line over max_line bytes (without
 * its terminator) is "header line too long", status line included. */
int revproxy_h1_head_feed(revproxy_h1_head *h, const char *in, size_t len,
                          size_t *consumed);

/* Body framing modes. */
#define REVPROXY_H1_BODY_NONE    0
#define REVPROXY_H1_BODY_LENGTH  1
#define REVPROXY_H1_BODY_CHUNKED 2
#define REVPROXY_H1_BODY_CLOSE   3

/* The framing of a parsed final response (RFC 9112 section 6.3), given
 * whether the request was HEAD.  Transfer-Encoding overrides
 * Content-Length; the caller must then not reuse the connection
 * (see revproxy_h1_reusable).  A Content-Length of 0 gives
 * REVPROXY_H1_BODY_LENGTH (not NONE): the body machine is then done at
 * its first feed, even an empty one. */
int revproxy_h1_body_mode(const revproxy_h1_head *h, int head_request);

/* Whether the connection may carry another request once this response
 * is read completely (keep-alive, unambiguous framing).  Not reusable:
 * CLOSE mode, Connection: close, HTTP/1.0 without keep-alive, TE with CL,
 * TE without chunked last, and TE in an HTTP/1.0 response (RFC 9112
 * section 6.1: its framing is to be treated as faulty). */
int revproxy_h1_reusable(const revproxy_h1_head *h, int body_mode);

typedef struct revproxy_h1_body {
    int mode;
    uint64_t remaining;         /* LENGTH: body left; CHUNKED: chunk left */
    int state;                  /* private */
    unsigned digits;            /* private */
    size_t linelen;             /* private: chunk line / trailer length */
    size_t max_line;            /* longest chunk-size or trailer line */
    unsigned max_trailers, ntrailers;
    const char *error;
} revproxy_h1_body;

/* Prepare b for a body of mode; for LENGTH, length is the Content-Length.
 * max_line and max_trailers bound chunk lines and trailer fields. */
void revproxy_h1_body_init(revproxy_h1_body *b, int mode, uint64_t length,
                           size_t max_line, unsigned max_trailers);

/* Feed len bytes.  Returns
 *   REVPROXY_H1_DATA:  in[*data_off .. *data_off + *data_len) is body data;
 *                      *consumed bytes (through the end of that data) are
 *                      used; call again with the rest;
 *   REVPROXY_H1_AGAIN: all input used (no data in it), need more;
 *   REVPROXY_H1_DONE:  the body ended after *consumed bytes; anything
 *                      after it is not part of this message;
 *   REVPROXY_H1_ERROR: see b->error.
 * Chunk lines ("chunk line too long") and trailer lines ("trailer line
 * too long") are bounded by max_line without their terminator. */
int revproxy_h1_body_feed(revproxy_h1_body *b, const char *in, size_t len,
                          size_t *consumed, size_t *data_off,
                          size_t *data_len);

/* The peer closed the connection: REVPROXY_H1_DONE when that ends the
 * body properly (CLOSE mode, or nothing left), REVPROXY_H1_ERROR when the
 * body was cut short. */
int revproxy_h1_body_eof(revproxy_h1_body *b);

#ifdef __cplusplus
}
#endif

#endif /* REVPROXY_HTTP1_H */
