/* Routing of the fixed SP endpoints. They are served from quick_handler:
 * they must answer on the SP base URL whatever <Location> protection the
 * portal has (the ACS cannot require a session it is about to create), and
 * they need nothing from the later request phases. */
#include <httpd.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>

#include "core/ib_metadata.h"
#include "core/ib_random.h"
#include "ib_config.h"
#include "ib_error.h"
#include "core/ib_oidc.h"
#include "ib_handlers.h"
#include "ib_signin.h"
#include "ib_idp_refresh.h"

APLOG_USE_MODULE(auth_idbroker);

#define IB_SAML_PREFIX "/saml/"
#define IB_PATH_HANDOFF "/saml/handoff"
#define IB_ENTITY_PARAM "entity="

/* "entity=<GUID>" in the query picks one scoped app among several on a host
 * (MD-5). Returns NULL when absent; "" when present but not a GUID. */
static const char *requested_scope(request_rec *r)
{
    if (r->args == NULL) {
        return NULL;
    }
    char *args = apr_pstrdup(r->pool, r->args);
    char *state;
    for (char *kv = apr_strtok(args, "&", &state); kv; kv = apr_strtok(NULL, "&", &state)) {
        if (strncmp(kv, IB_ENTITY_PARAM, strlen(IB_ENTITY_PARAM)) == 0) {
            const char *guid = kv + strlen(IB_ENTITY_PARAM);
            return ib_is_lowercase_guid(guid) ? guid : "";
        }
    }
    return NULL;
}

/* EP-3: "https://sp/<GUID>/saml/acs" means an IdP took the scoped entity ID
 * for the base URL. Never served; answered 404 with a hint in the log. */
static int is_scoped_id_as_base(const char *path)
{
    if (path[0] != '/' || strlen(path) < 1 + 36 + 6) {
        return 0;
    }
    char guid[IB_UUID_LEN];
    apr_cpystrn(guid, path + 1, sizeof(guid));
    for (char *s = guid; *s; s++) {
        *s = (char)apr_tolower(*s);
    }
    return ib_is_lowercase_guid(guid) && strncmp(path + 37, IB_SAML_PREFIX, 6) == 0;
}

static apr_port_t requested_port(request_rec *r)
{
    return r->parsed_uri.port_str ? r->parsed_uri.port : 0;
}

/* An OpenID Connect app's redirect URI: its own path below the SP base URL. */
static int oidc_dispatch(request_rec *r, const apr_array_header_t *apps)
{
    const char *rest = NULL;
    const ib_app *app = ib_registry_app_for_path(apps, requested_port(r), r->uri, NULL, &rest);
    if (app == NULL || app->oidc == NULL || strcmp(rest, app->oidc->redirect_path) != 0) {
        return DECLINED;
    }
    return ib_handle_oidc_callback(r, app);
}

/* On a portal host the ACS hands off to (EP-7): the hand-off redemption and
 * the sign-out page, since the session cookie lives there. */
static int portal_dispatch(request_rec *r, const ib_server_conf *sc)
{
    const apr_array_header_t *apps = ib_registry_apps_on_portal_host(sc->reg, r->hostname);
    for (int i = 0; apps && i < apps->nelts; i++) {
        const ib_app *app = APR_ARRAY_IDX(apps, i, const ib_app *);
        if (!ib_base_port_matches(&app->portal, requested_port(r))) {
            continue;
        }
        const char *prefix = app->portal.prefix;
        apr_size_t n = strlen(prefix);
        if (strncmp(r->uri, prefix, n) != 0) {
            continue;
        }
        if (strcmp(r->uri + n, IB_PATH_HANDOFF) == 0) {
            return ib_handle_handoff(r, app);
        }
        if (strcmp(r->uri + n, IB_PATH_LOGOUT) == 0) {
            return ib_handle_logout(r, app);
        }
    }
    return DECLINED;
}

int ib_endpoint_dispatch(request_rec *r, int lookup_uri)
{
    if (lookup_uri || r->main != NULL || r->hostname == NULL) {
        return DECLINED;
    }
    ib_server_conf *sc = ib_server_conf_get(r->server);
    int portal = portal_dispatch(r, sc);
    if (portal != DECLINED) {
        return portal;
    }
    const apr_array_header_t *apps = ib_registry_apps_on_host(sc->reg, r->hostname);
    if (apps == NULL) {
        return DECLINED;
    }
    if (strstr(r->uri, IB_SAML_PREFIX) == NULL) {
        return oidc_dispatch(r, apps);
    }
    const char *scope = requested_scope(r);
    if (scope != NULL && *scope == '\0') {
        return ib_error_page(r, HTTP_NOT_FOUND, APLOG_INFO, "Not Found",
                             "No SAML service provider is configured at this address.",
                             "metadata: the entity parameter is not a lowercase GUID");
    }
    const char *rest = NULL;
    const ib_app *app = ib_registry_app_for_path(apps, requested_port(r), r->uri,
                                                 scope, &rest);
    if (app == NULL || strncmp(rest, IB_SAML_PREFIX, strlen(IB_SAML_PREFIX)) != 0) {
        if (app != NULL && is_scoped_id_as_base(rest)) {
            return ib_error_page(r, HTTP_NOT_FOUND, APLOG_WARNING, "Not Found",
                                 "No SAML service provider is configured at this address.",
                                 apr_psprintf(r->pool, "path %s: scoped entity ID used "
                                              "as base URL; the IdP must use %s as its "
                                              "base URL and the scoped ID only as the "
                                              "SP entity ID", r->uri, app->sp_base.url));
        }
        if (app == NULL && scope != NULL) {
            return ib_error_page(r, HTTP_NOT_FOUND, APLOG_INFO, "Not Found",
                                 "No SAML service provider is configured at this address.",
                                 apr_psprintf(r->pool, "metadata: no app with scope %s "
                                              "on host %s", scope, r->hostname));
        }
        return DECLINED;
    }
    ib_idp_sync_for_request(r, app);
    if (strcmp(rest, IB_PATH_METADATA) == 0 || strcmp(rest, IB_PATH_METADATA_XML) == 0) {
        return ib_handle_metadata(r, app);
    }
    if (strcmp(rest, IB_PATH_ACS) == 0) {
        return ib_handle_acs(r, app);
    }
    if (strcmp(rest, IB_PATH_LOGOUT) == 0) {
        return ib_handle_logout(r, app);
    }
    if (strcmp(rest, IB_PATH_SLO) == 0) {
        return ib_handle_logout_callback(r, app);
    }
    return DECLINED;
}
