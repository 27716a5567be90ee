/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/* Placeholder until HTTPS backends land (issue 3): every handshake fails. */

#include "revproxy_tls.h"

const char *revproxy_tls_conf_make(apr_pool_t *p, const char *ca_file,
                                   const char *cert_file,
                                   const char *key_file,
                                   revproxy_tls_conf **out)
{
    (void)p; (void)ca_file; (void)cert_file; (void)key_file;
    *out = NULL;
    return NULL;
}

apr_status_t revproxy_tls_handshake(revproxy_conn *c, revproxy_tls_conf *tc,
                                    const char *host, int verify,
                                    apr_interval_time_t timeout,
                                    apr_pool_t *p, const char **why)
{
    (void)c; (void)tc; (void)host; (void)verify; (void)timeout; (void)p;
    *why = "HTTPS backends are not supported yet";
    return APR_ENOTIMPL;
}

apr_status_t revproxy_tls_read(revproxy_conn *c, char *buf, apr_size_t *len,
                               apr_int16_t *want)
{
    (void)c; (void)buf; (void)want;
    *len = 0;
    return APR_ENOTIMPL;
}

apr_status_t revproxy_tls_write(revproxy_conn *c, const char *buf,
                                apr_size_t *len, apr_int16_t *want)
{
    (void)c; (void)buf; (void)want;
    *len = 0;
    return APR_ENOTIMPL;
}

int revproxy_tls_pending(revproxy_conn *c)
{
    (void)c;
    return 0;
}

void revproxy_tls_close(revproxy_conn *c)
{
    (void)c;
}
