/* mod_auth_idbroker: federated sign-in (SAML 2.0 SP, OIDC RP) in front of
 * web portals. This file holds the module record and hook registration only. */
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

#include <httpd.h>
#include <lasso/lasso.h>
#include <apr_strings.h>
#include <http_request.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <libxml/parser.h>
#include <mod_auth.h>

#include "core/ib_clock.h"
#include "core/ib_idp_source.h"
#include "ib_authn.h"
#include "ib_config.h"
#include "ib_handlers.h"
#include "ib_idp_refresh.h"
#include "ib_oidc_glue.h"
#include "ib_monitor.h"
#include "ib_proxy.h"


static int ib_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    ib_cache_pre_config(pconf);
    ib_config_pre_config(pconf);
    return OK;
}

/* ib_idp_source's hook for a new view: its LassoServers, built in the
 * thread that parsed it, the sign-in start's before the view goes in force
 * (quick), the logout one after. */
static void prepare_lasso(void *sp, const ib_idp *view, apr_time_t now, int in_force)
{
    ib_saml_sp_prepare(sp, view, now, in_force ? IB_SAML_PREPARE_FULL : IB_SAML_PREPARE_START);
}

static int ib_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s)
{
    xmlInitParser();
    /* lasso formats a local time for every log message it considers; without
     * TZ, glibc stats /etc/localtime on each call. Naming the file once lets
     * it load the zone once. */
    if (getenv("TZ") == NULL) {
        setenv("TZ", ":/etc/localtime", 0);
        tzset();
    }
    const char *err = ib_saml_library_init();
    if (err != NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "mod_auth_idbroker: %s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ib_server_conf *sc = ib_server_conf_get(s);
    if (ib_cache_post_config(sc->cache, pconf, ptemp, s) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (int i = 0; i < sc->reg->apps->nelts; i++) {
        const ib_app *app = APR_ARRAY_IDX(sc->reg->apps, i, const ib_app *);
        const char *key_err = ib_saml_sp_key_check(ptemp, app);
        if (key_err != NULL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "mod_auth_idbroker: %s", key_err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        const ib_app **key = apr_pmemdup(pconf, &app, sizeof(app));
        apr_hash_set(sc->saml_sps, key, sizeof(app), ib_saml_sp_make(pconf, app));
    }
    ib_oidc_post_config(pconf, s, sc->reg);
    int rc = ib_idp_refresh_post_config(pconf, s, sc);
    if (rc != OK) {
        return rc;
    }
    /* Set after the sources' first parse here: the parent serves no
     * request, the children build their own servers (ib_child_init). */
    for (int i = 0; i < sc->reg->apps->nelts; i++) {
        const ib_app *app = APR_ARRAY_IDX(sc->reg->apps, i, const ib_app *);
        if (app->md_source != NULL && app->oidc == NULL) {
            app->md_source->prepare = prepare_lasso;
            app->md_source->prepare_baton = ib_saml_sp_for(sc, app);
        }
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "mod_auth_idbroker: %d tenant(s), %d SAML app(s) configured",
                 sc->reg->tenants->nelts, sc->reg->apps->nelts);
    /* Cert expiry at start and on each reload (IDPCERT-2), but not in the
     * config-check pass httpd runs first: once per start is enough. */
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        ib_monitor_log(s, sc->reg, ib_now());
    }
    return OK;
}

static void ib_child_init(apr_pool_t *p, server_rec *s)
{
    ib_cache_child_init(ib_server_conf_get(s)->cache, p, s);
    /* The copy of each IdP metadata source in force now is parsed here, not
     * by this child's first request (the view inherited from the parent may
     * be older than the backing file). */
    ib_server_conf *sc = ib_server_conf_get(s);
    ib_idp_refresh_child_init(p, s, sc);
    /* And the sign-in start's LassoServers of each app's view in force
     * (about a millisecond each), which the first sign-ins of this child
     * must not wait for. */
    for (int i = 0; i < sc->reg->apps->nelts; i++) {
        const ib_app *app = APR_ARRAY_IDX(sc->reg->apps, i, const ib_app *);
        if (app->oidc == NULL) {
            ib_saml_sp_prepare(ib_saml_sp_for(sc, app), ib_app_idp(app), ib_now(),
                               IB_SAML_PREPARE_START);
        }
    }
}

/* httpd unloads and reloads every module between its two config passes and
 * on each restart. lasso registers GObject types, which glib (never
 * unloaded) refuses to register twice, so lasso and this module must stay
 * mapped for the life of the process: mark both RTLD_NODELETE. */
static void pin_in_memory(void)
{
    const void *symbols[] = {(const void *)lasso_init, (const void *)pin_in_memory};
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        Dl_info info;
        if (dladdr(symbols[i], &info) != 0 && info.dli_fname != NULL) {
            dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
        }
    }
}

static void ib_register_hooks(apr_pool_t *p)
{
    pin_in_memory();
    ap_hook_pre_config(ib_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(ib_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_header_parser(ib_strip_identity_headers, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_check_authn(ib_check_user_id, NULL, NULL, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
    ib_register_authz(p);
    ap_hook_post_config(ib_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_quick_handler(ib_endpoint_dispatch, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(ib_handle_status, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(ib_handle_signin_choice, NULL, NULL, APR_HOOK_MIDDLE);
    ib_audit_register_hooks(p);    /* IdBrokerAuditLog: open_logs, log_transaction */
    ib_proxy_register_hooks(p);    /* a trusted proxy's X-Forwarded-Host */
}

AP_DECLARE_MODULE(auth_idbroker) = {
    STANDARD20_MODULE_STUFF,
    ib_create_dir_conf,
    ib_merge_dir_conf,
    ib_create_server_conf,
    ib_merge_server_conf,
    ib_directives,
    ib_register_hooks,
    AP_MODULE_FLAG_NONE
};
