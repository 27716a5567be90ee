/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/* mod_reproxy_filter: registers only, until its own issue lands. */

#include "httpd.h"
#include "http_config.h"

module AP_MODULE_DECLARE_DATA reproxy_filter_module;

static void register_hooks(apr_pool_t *p)
{
    (void)p;
}

AP_DECLARE_MODULE(reproxy_filter) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
