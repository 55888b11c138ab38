/* mod_auth_idbroker: federated sign-in (SAML 2.0 SP, OIDC RP) in front of
 * web portals. This file holds the module record and hook registration only. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <libxml/parser.h>

#include "ib_config.h"
#include "ib_handlers.h"


static int ib_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s)
{
    xmlInitParser();
    ib_server_conf *sc = ib_server_conf_get(s);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "mod_auth_idbroker: %d tenant(s), %d SAML app(s) configured",
                 sc->reg->tenants->nelts, sc->reg->apps->nelts);
    return OK;
}

static void ib_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(ib_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_quick_handler(ib_endpoint_dispatch, NULL, NULL, APR_HOOK_FIRST);
}

AP_DECLARE_MODULE(auth_idbroker) = {
    STANDARD20_MODULE_STUFF,
    NULL,                  /* per-directory config: added with the auth hooks */
    NULL,
    ib_create_server_conf,
    ib_merge_server_conf,
    ib_directives,
    ib_register_hooks,
    AP_MODULE_FLAG_NONE
};
