/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * Shared small checks and conversions (see include/revproxy_util.h).
 */

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>

#include "apr_strings.h"
#include "apr_lib.h"

#include "revproxy_util.h"

#define MAX_HOST 255

/* "250ms", "2s", "1m", "1h" or a bare number of seconds (the contract's
 * durations; httpd's ap_timeout_parameter_parse spells minutes "mi"). */
apr_status_t revproxy_duration_parse(const char *s, apr_interval_time_t *out)
{
    char *end;
    apr_int64_t n;

    if (!apr_isdigit(*s)) {
        return APR_EINVAL;
    }
    errno = 0;
    n = apr_strtoi64(s, &end, 10);
    if (errno == ERANGE || n > APR_INT64_C(100000000)) {
        return APR_EINVAL;
    }
    if (strcasecmp(end, "ms") == 0) {
        *out = apr_time_from_msec(n);
    }
    else if (*end == '\0' || strcasecmp(end, "s") == 0) {
        *out = apr_time_from_sec(n);
    }
    else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "min") == 0
             || strcasecmp(end, "mi") == 0) {
        *out = apr_time_from_sec(n * 60);
    }
    else if (strcasecmp(end, "h") == 0) {
        *out = apr_time_from_sec(n * 3600);
    }
    else {
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

int revproxy_host_name_valid(const char *s, apr_size_t len)
{
    apr_size_t i;

    if (len == 0 || len > MAX_HOST || s[0] == '.' || s[0] == '-') {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!apr_isalnum(s[i]) && s[i] != '-' && s[i] != '.') {
            return 0;
        }
        if (s[i] == '.' && i + 1 < len && s[i + 1] == '.') {
            return 0;
        }
    }
    return 1;
}

int revproxy_ipv6_valid(const char *s, apr_size_t len)
{
    char buf[64];
    struct in6_addr a;

    if (len == 0 || len >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

int revproxy_host_valid(const char *s, apr_size_t len)
{
    if (len > 2 && s[0] == '[') {
        return s[len - 1] == ']' && revproxy_ipv6_valid(s + 1, len - 2);
    }
    return revproxy_host_name_valid(s, len);
}

int revproxy_port_parse(const char *s, apr_size_t len, apr_port_t *port)
{
    apr_size_t i;
    long v = 0;

    if (len == 0 || len > 5) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!apr_isdigit(s[i])) {
            return 0;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535) {
        return 0;
    }
    *port = (apr_port_t)v;
    return 1;
}

/* RFC 3986 pchar without pct-encoded, plus '/': what a capture may keep
 * unencoded in a path or query. */
static int is_pchar_or_slash(unsigned char c)
{
    if (apr_isalnum(c)) {
        return 1;
    }
    return c != '\0' && strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

/* Bytes that no request target may ever hold. */
static int is_forbidden(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f || c == '#';
}

apr_size_t revproxy_url_encode(char *out, const char *src, apr_size_t len,
                               int set)
{
    static const char hex[] = "0123456789ABCDEF";
    apr_size_t i, o = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        int keep = (set == 'r') ? !is_forbidden(c) : is_pchar_or_slash(c);
        if (keep) {
            out[o++] = (char)c;
        }
        else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    return o;
}
