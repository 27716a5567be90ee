/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_rvp_invoke -- a test module for mod_revproxy's revproxy_invoke
 * (include/mod_revproxy.h), built by t/revproxy/46_invoke.t with apxs.
 *
 *   <Location "/inv">
 *       SetHandler rvp-invoke-test
 *       RvpInvoke "http://127.0.0.1:8080/x" "keephost timeout=5s"
 *   </Location>
 *
 * The handler hands the request to mod_revproxy with that URL and those
 * options and returns what revproxy_invoke returns, as a module that
 * chooses its backend in code would.
 */

#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_request.h"

#include "mod_revproxy.h"

module AP_MODULE_DECLARE_DATA rvp_invoke_module;

typedef struct {
    const char *url;
    const char *options;
} rvp_invoke_conf;

static int rvp_invoke_handler(request_rec *r)
{
    rvp_invoke_conf *dc = ap_get_module_config(r->per_dir_config,
                                               &rvp_invoke_module);
    APR_OPTIONAL_FN_TYPE(revproxy_api_version) *version =
        APR_RETRIEVE_OPTIONAL_FN(revproxy_api_version);
    APR_OPTIONAL_FN_TYPE(revproxy_invoke) *invoke =
        APR_RETRIEVE_OPTIONAL_FN(revproxy_invoke);

    if (r->handler == NULL || strcmp(r->handler, "rvp-invoke-test") != 0) {
        return DECLINED;
    }
    if (invoke == NULL || version == NULL
        || version() < REVPROXY_API_VERSION) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "rvp_invoke: mod_revproxy with revproxy_invoke is "
                      "not loaded");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return invoke(r, dc->url, dc->options);
}

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    (void)dir;
    return apr_pcalloc(p, sizeof(rvp_invoke_conf));
}

static const char *set_invoke(cmd_parms *cmd, void *dv, const char *url,
                              const char *options)
{
    rvp_invoke_conf *dc = dv;

    (void)cmd;
    dc->url = url;
    dc->options = options;
    return NULL;
}

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(rvp_invoke_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

static const command_rec rvp_invoke_cmds[] = {
    AP_INIT_TAKE12("RvpInvoke", set_invoke, NULL, ACCESS_CONF,
                   "URL [OPTIONS]: what the rvp-invoke-test handler passes "
                   "to revproxy_invoke"),
    { NULL }
};

AP_DECLARE_MODULE(rvp_invoke) = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    NULL,
    NULL,
    NULL,
    rvp_invoke_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
