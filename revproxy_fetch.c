/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/* The optional functions of mod_revproxy.h (implemented with issue 4). */

#include "revproxy_private.h"

void revproxy_fetch_register(void)
{
}
