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
 * tap.h -- a tiny Test Anything Protocol helper for the C unit tests.
 *
 * Include it in exactly one file (the test program).  Typical use:
 *
 *     ok(x == 1, "x is one");
 *     is_int(got, 200, "status");
 *     is_str(err, "invalid status line", "error");
 *     return done_testing();
 *
 * done_testing() prints the plan "1..N" (unless plan() announced it) and
 * returns the exit status: 0 when every test passed, 1 otherwise, so that
 * both prove and a plain shell see failures.
 */
#ifndef REVPROXY_TAP_H
#define REVPROXY_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
#define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TAP_PRINTF(f, a)
#endif

static int tap_run;             /* tests run so far */
static int tap_failed;          /* ... of which failed */
static int tap_planned = -1;    /* plan() count, or -1 */

static inline void tap_vline(int pass, const char *fmt, va_list ap)
{
    printf("%sok %d - ", pass ? "" : "not ", ++tap_run);
    vprintf(fmt, ap);
    printf("\n");
    if (!pass) {
        tap_failed++;
    }
}

/* Diagnostics go to stderr, which prove shows next to the failure. */
static inline void diag(const char *fmt, ...) TAP_PRINTF(1, 2);
static inline void diag(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "# ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}

static inline void plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
}

static inline int tap_ok(int pass, const char *file, int line,
                         const char *fmt, ...) TAP_PRINTF(4, 5);
static inline int tap_ok(int pass, const char *file, int line,
                         const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tap_vline(pass, fmt, ap);
    va_end(ap);
    if (!pass) {
        diag("  Failed test at %s line %d.", file, line);
    }
    return pass;
}

static inline int tap_is_int(long long got, long long want, const char *file,
                             int line, const char *fmt, ...) TAP_PRINTF(5, 6);
static inline int tap_is_int(long long got, long long want, const char *file,
                             int line, const char *fmt, ...)
{
    va_list ap;
    int pass = got == want;

    va_start(ap, fmt);
    tap_vline(pass, fmt, ap);
    va_end(ap);
    if (!pass) {
        diag("  Failed test at %s line %d.", file, line);
        diag("         got: %lld", got);
        diag("    expected: %lld", want);
    }
    return pass;
}

/* NULL compares equal to NULL only. */
static inline int tap_is_str(const char *got, const char *want,
                             const char *file, int line, const char *fmt, ...)
    TAP_PRINTF(5, 6);
static inline int tap_is_str(const char *got, const char *want,
                             const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int pass = (got == NULL || want == NULL) ? got == want
                                             : strcmp(got, want) == 0;

    va_start(ap, fmt);
    tap_vline(pass, fmt, ap);
    va_end(ap);
    if (!pass) {
        diag("  Failed test at %s line %d.", file, line);
        diag("         got: %s%s%s", got ? "'" : "", got ? got : "NULL",
             got ? "'" : "");
        diag("    expected: %s%s%s", want ? "'" : "", want ? want : "NULL",
             want ? "'" : "");
    }
    return pass;
}

static inline int done_testing(void)
{
    if (tap_planned < 0) {
        printf("1..%d\n", tap_run);
    }
    else if (tap_planned != tap_run) {
        diag("Planned %d tests but ran %d.", tap_planned, tap_run);
        return 1;
    }
    fflush(stdout);
    return tap_failed ? 1 : 0;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) \
    tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, \
               __VA_ARGS__)
#define is_str(got, want, ...) \
    tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)

#endif /* REVPROXY_TAP_H */
