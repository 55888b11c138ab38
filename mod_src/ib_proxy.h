/* Behind a TLS-terminating proxy: a trusted proxy's X-Forwarded-Host names
 * the request's host and port when a tenant app serves them
 * (ProxyPreserveHost Off, mod_proxy's default). */
#ifndef IB_PROXY_H
#define IB_PROXY_H

#include <apr_pools.h>

/* post_read_request hook. */
void ib_proxy_register_hooks(apr_pool_t *p);

#endif
