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
 * fuzz_http1.c -- libFuzzer harness for revproxy_http1.c.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *              fuzz/fuzz_http1.c revproxy_http1.c -o fuzz_http1
 * Run:   ./fuzz_http1 -max_total_time=180 fuzz/corpus/http1
 *
 * Input: one configuration byte, then the response stream.
 *   bit 0     the request was HEAD
 *   bits 1-2  max_line: 8, 40, 256 or 8192
 *   bits 3-4  max_fields: 0, 2, 16 or 100
 *   bits 5-6  max_trailers: 0, 1, 4 or 64
 *   bit 7     the peer closes after the stream (revproxy_h1_body_eof)
 *
 * The stream goes through the head machine (again for each 1xx), then
 * the body machine, once in one piece and once in slices whose sizes
 * come from a generator seeded with a hash of the input (zero-length
 * slices included), and byte by byte for short inputs.  Every call is
 * checked (consumed <= len, AGAIN uses all, data spans inside the input,
 * calls bounded so that nothing loops), and the outcomes of all runs
 * must be identical.  A broken invariant aborts.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revproxy_http1.h"

#define LINE_MAX_ALL 8192

typedef struct {
    int rv;
    const char *err;
    int status, minor, interim, mode, reusable;
    unsigned nfields;
    uint64_t fields_hash;       /* over the names and values seen */
    uint64_t body_hash, body_len;
    size_t used;
} outcome;

typedef struct {
    const uint8_t *in;
    size_t len;
    int head_request, eof;
    size_t max_line;
    unsigned max_fields, max_trailers;
} setup;

typedef struct {
    outcome *o;
    const char *line;           /* the head's line buffer */
    size_t max_line;
    const char *in;             /* the slice being fed */
    size_t inlen;
} fieldctx;

static char line_buf[LINE_MAX_ALL];

#define CHECK(cond) do { \
    if (!(cond)) { \
        fprintf(stderr, "invariant broken at %s:%d: %s\n", \
                __FILE__, __LINE__, #cond); \
        abort(); \
    } \
} while (0)

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;

    while (n--) {
        h = (h ^ *c++) * 0x100000001b3ULL;
    }
    return h;
}

static uint64_t next_rand(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A span lies wholly inside [base, base + len). */
static int inside(const char *s, size_t n, const char *base, size_t len)
{
    return base != NULL && s >= base && s + n <= base + len;
}

/* header_fn: names are tokens, values trimmed, both inside one line that
 * is either in the line buffer or in the slice being fed. */
static int on_field(void *baton, const char *name, size_t nlen,
                    const char *value, size_t vlen)
{
    fieldctx *fc = baton;
    size_t i;

    CHECK(nlen > 0);
    CHECK(inside(name, nlen, fc->line, fc->max_line)
          || inside(name, nlen, fc->in, fc->inlen));
    CHECK(value >= name + nlen + 1);
    CHECK(inside(name, (size_t)(value - name) + vlen, fc->line, fc->max_line)
          || inside(name, (size_t)(value - name) + vlen, fc->in, fc->inlen));
    for (i = 0; i < nlen; i++) {
        CHECK(tchar((unsigned char)name[i]));
    }
    CHECK(name[nlen] == ':');
    if (vlen) {
        CHECK(value[0] != ' ' && value[0] != '\t');
        CHECK(value[vlen - 1] != ' ' && value[vlen - 1] != '\t');
    }
    for (i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)value[i];

        CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
    }
    fc->o->nfields++;
    fc->o->fields_hash = fnv(fc->o->fields_hash, name, nlen);
    fc->o->fields_hash = fnv(fc->o->fields_hash, "\0", 1);
    fc->o->fields_hash = fnv(fc->o->fields_hash, value, vlen);
    fc->o->fields_hash = fnv(fc->o->fields_hash, "\n", 1);
    return 0;
}

/* how: 0 whole, 1 byte by byte, 2 random slices from seed. */
static size_t slice(int how, uint64_t *seed, size_t left)
{
    uint64_t r;

    if (how == 0) {
        return left;
    }
    if (how == 1) {
        return left ? 1 : 0;
    }
    r = next_rand(seed);
    switch (r & 3) {
    case 0:
        r = 0;                  /* empty feeds must be harmless */
        break;
    case 1:
        r = (r >> 8) % 4;
        break;
    case 2:
        r = (r >> 8) % 64;
        break;
    default:
        r = (r >> 8) % (left + 1);
        break;
    }
    return r < left ? (size_t)r : left;
}

static void run(const setup *s, int how, uint64_t seed, outcome *o)
{
    revproxy_h1_head h;
    revproxy_h1_body b;
    fieldctx fc;
    int phase = 0;              /* 0 head, 1 body, 2 finished */
    size_t pos = 0, calls = 0, zero_slices = 0;
    uint64_t body_total = 0;

    memset(o, 0, sizeof(*o));
    o->rv = REVPROXY_H1_AGAIN;
    o->mode = -1;
    o->reusable = -1;
    o->fields_hash = o->body_hash = 0xcbf29ce484222325ULL;
    fc.o = o;
    fc.line = line_buf;
    fc.max_line = s->max_line;
    revproxy_h1_head_init(&h, line_buf, s->max_line, s->max_fields,
                          on_field, &fc);

    while (phase < 2 && pos < s->len) {
        const char *p = (const char *)s->in + pos;
        size_t n = slice(how, &seed, s->len - pos), off = 0;

        if (n == 0) {
            /* Bound the empty feeds, then force progress. */
            if (++zero_slices > 64) {
                n = 1;
            }
        }
        while (phase < 2) {
            size_t used = (size_t)-1, doff = (size_t)-1, dlen = (size_t)-1;
            int rv;

            CHECK(++calls <= 4 * s->len + 1024);
            if (phase == 0) {
                fc.in = p + off;
                fc.inlen = n - off;
                rv = revproxy_h1_head_feed(&h, p + off, n - off, &used);
                CHECK(used <= n - off);
                off += used;
                if (rv == REVPROXY_H1_AGAIN) {
                    CHECK(off == n);
                    CHECK(h.len <= h.max_line);
                    break;
                }
                if (rv == REVPROXY_H1_ERROR) {
                    CHECK(h.error != NULL);
                    /* Errors are sticky. */
                    CHECK(revproxy_h1_head_feed(&h, p, n, &used)
                          == REVPROXY_H1_ERROR && used == 0);
                    o->rv = rv;
                    o->err = h.error;
                    phase = 2;
                    break;
                }
                CHECK(rv == REVPROXY_H1_DONE);
                CHECK(h.status >= 100 && h.status <= 599);
                CHECK(h.minor == 0 || h.minor == 1);
                CHECK(h.nfields <= h.max_fields);
                CHECK(!h.te_chunked_last || h.has_te);
                CHECK(!h.has_cl || h.content_length <= INT64_MAX);
                if (h.status < 200) {
                    o->interim++;
                    revproxy_h1_head_init(&h, line_buf, s->max_line,
                                          s->max_fields, on_field, &fc);
                    continue;
                }
                o->status = h.status;
                o->minor = h.minor;
                o->mode = revproxy_h1_body_mode(&h, s->head_request);
                o->reusable = revproxy_h1_reusable(&h, o->mode);
                CHECK(o->mode >= REVPROXY_H1_BODY_NONE
                      && o->mode <= REVPROXY_H1_BODY_CLOSE);
                CHECK(o->reusable == 0 || o->reusable == 1);
                CHECK(!(o->reusable && o->mode == REVPROXY_H1_BODY_CLOSE));
                revproxy_h1_body_init(&b, o->mode, h.content_length,
                                      s->max_line, s->max_trailers);
                phase = 1;
                continue;
            }
            rv = revproxy_h1_body_feed(&b, p + off, n - off, &used,
                                       &doff, &dlen);
            CHECK(used <= n - off);
            if (rv == REVPROXY_H1_DATA) {
                /* The span lies inside this input and ends the used part. */
                CHECK(dlen > 0);
                CHECK(doff <= used && dlen <= used - doff);
                CHECK(doff + dlen == used);
                CHECK(p + off + doff >= (const char *)s->in
                      && p + off + doff + dlen <= (const char *)s->in + s->len);
                o->body_hash = fnv(o->body_hash, p + off + doff, dlen);
                o->body_len += dlen;
                body_total += dlen;
                if (o->mode == REVPROXY_H1_BODY_LENGTH) {
                    CHECK(body_total <= h.content_length);
                }
                off += used;
                continue;
            }
            off += used;
            if (rv == REVPROXY_H1_AGAIN) {
                CHECK(off == n);
                break;
            }
            CHECK(rv == REVPROXY_H1_DONE || rv == REVPROXY_H1_ERROR);
            CHECK(rv == REVPROXY_H1_DONE || b.error != NULL);
            if (rv == REVPROXY_H1_DONE) {
                CHECK(o->mode != REVPROXY_H1_BODY_CLOSE);
                if (o->mode == REVPROXY_H1_BODY_LENGTH) {
                    CHECK(body_total == h.content_length);
                }
                if (o->mode == REVPROXY_H1_BODY_NONE) {
                    CHECK(used == 0 && body_total == 0);
                }
                CHECK(revproxy_h1_body_eof(&b) == REVPROXY_H1_DONE);
            }
            /* DONE and ERROR are final: nothing more is used. */
            CHECK(revproxy_h1_body_feed(&b, p, n, &used, &doff, &dlen)
                  == rv && used == 0);
            o->rv = rv;
            o->err = b.error;
            phase = 2;
        }
        pos += off;
    }
    if (phase == 1) {
        size_t used, doff, dlen;

        /* An empty feed at the end changes nothing. */
        o->rv = revproxy_h1_body_feed(&b, "", 0, &used, &doff, &dlen);
        CHECK(o->rv != REVPROXY_H1_DATA && used == 0);
        if (s->eof && o->rv == REVPROXY_H1_AGAIN) {
            o->rv = revproxy_h1_body_eof(&b);
            CHECK(o->rv == REVPROXY_H1_DONE || o->rv == REVPROXY_H1_ERROR);
            CHECK(o->rv == REVPROXY_H1_DONE
                  || o->mode != REVPROXY_H1_BODY_CLOSE);
        }
        o->err = b.error;
    }
    o->used = pos;
}

static void same(const outcome *a, const outcome *b)
{
    CHECK(a->rv == b->rv);
    CHECK((a->err == NULL) == (b->err == NULL));
    CHECK(a->err == NULL || strcmp(a->err, b->err) == 0);
    CHECK(a->status == b->status && a->minor == b->minor);
    CHECK(a->interim == b->interim);
    CHECK(a->nfields == b->nfields && a->fields_hash == b->fields_hash);
    CHECK(a->mode == b->mode && a->reusable == b->reusable);
    CHECK(a->body_len == b->body_len && a->body_hash == b->body_hash);
    CHECK(a->used == b->used);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t lines[4] = { 8, 40, 256, LINE_MAX_ALL };
    static const unsigned fields[4] = { 0, 2, 16, 100 };
    static const unsigned trailers[4] = { 0, 1, 4, 64 };
    setup s;
    outcome whole, sliced;
    uint64_t seed;

    if (size < 1) {
        return 0;
    }
    s.head_request = data[0] & 1;
    s.max_line = lines[(data[0] >> 1) & 3];
    s.max_fields = fields[(data[0] >> 3) & 3];
    s.max_trailers = trailers[(data[0] >> 5) & 3];
    s.eof = (data[0] >> 7) & 1;
    s.in = data + 1;
    s.len = size - 1;

    run(&s, 0, 0, &whole);
    seed = fnv(0xcbf29ce484222325ULL, data, size);
    run(&s, 2, seed, &sliced);
    same(&whole, &sliced);
    if (s.len <= 4096) {
        run(&s, 1, 0, &sliced);
        same(&whole, &sliced);
    }
    return 0;
}
