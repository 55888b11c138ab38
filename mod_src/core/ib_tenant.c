#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <apr_uri.h>

#include "ib_tenant.h"

ib_registry *ib_registry_make(apr_pool_t *p)
{
    ib_registry *reg = apr_pcalloc(p, sizeof(*reg));
    reg->pool = p;
    reg->tenants = apr_array_make(p, 8, sizeof(ib_tenant *));
    reg->apps = apr_array_make(p, 8, sizeof(ib_app *));
    reg->by_name = apr_hash_make(p);
    reg->by_signin_id = apr_hash_make(p);
    reg->by_guid = apr_hash_make(p);
    reg->by_host = apr_hash_make(p);
    reg->by_portal_host = apr_hash_make(p);
    return reg;
}

int ib_app_has_idp(const ib_app *app)
{
    if (app->oidc != NULL) {
        return 1;       /* complete by construction: checked at finalize */
    }
    const ib_idp *idp = ib_app_idp(app);
    return idp->entity_id != NULL && idp->sso_url != NULL && idp->certs->nelts > 0;
}

const apr_array_header_t *ib_registry_apps_on_host(const ib_registry *reg,
                                                   const char *host)
{
    if (host == NULL) {
        return NULL;
    }
    return apr_hash_get(reg->by_host, host, APR_HASH_KEY_STRING);
}

/* Called by ib_conf when a tenant section closes: the registry indexes the
 * finished apps by host so requests find them with one hash lookup. */
void ib_registry_index_app(ib_registry *reg, ib_app *app);

static void index_under(ib_registry *reg, apr_hash_t *index, const char *key, ib_app *app)
{
    apr_array_header_t *list = apr_hash_get(index, key, APR_HASH_KEY_STRING);
    if (list == NULL) {
        list = apr_array_make(reg->pool, 2, sizeof(ib_app *));
        apr_hash_set(index, key, APR_HASH_KEY_STRING, list);
    }
    APR_ARRAY_PUSH(list, ib_app *) = app;
}

int ib_app_hands_off(const ib_app *app)
{
    return strcmp(app->portal.origin, app->sp_base.origin) != 0;
}

const ib_base_url *ib_app_base_for_host(const ib_app *app, const char *host)
{
    return ib_app_hands_off(app) && host && strcasecmp(host, app->portal.host) == 0
           ? &app->portal : &app->sp_base;
}

const apr_array_header_t *ib_registry_apps_on_portal_host(const ib_registry *reg,
                                                          const char *host)
{
    return host ? apr_hash_get(reg->by_portal_host, host, APR_HASH_KEY_STRING) : NULL;
}

void ib_registry_index_app(ib_registry *reg, ib_app *app)
{
    index_under(reg, reg->by_host, app->sp_base.host, app);
    if (ib_app_hands_off(app)) {
        index_under(reg, reg->by_portal_host, app->portal.host, app);
    }
    APR_ARRAY_PUSH(reg->apps, ib_app *) = app;
    if (app->scope_guid != NULL) {
        apr_hash_set(reg->by_guid, app->scope_guid, APR_HASH_KEY_STRING, app);
    }
}

int ib_base_port_matches(const ib_base_url *base, apr_port_t port)
{
    if (port == 0) {
        return base->port == apr_uri_port_of_scheme(base->scheme);
    }
    return base->port == port;
}

int ib_app_port_matches(const ib_app *app, apr_port_t port)
{
    return ib_base_port_matches(&app->sp_base, port);
}

const ib_app *ib_registry_app_for_path(const apr_array_header_t *apps,
                                       apr_port_t port, const char *path,
                                       const char *scope_guid, const char **rest)
{
    if (apps == NULL || path == NULL) {
        return NULL;
    }
    for (int i = 0; i < apps->nelts; i++) {
        const ib_app *app = APR_ARRAY_IDX(apps, i, const ib_app *);
        const char *prefix = app->sp_base.prefix;
        apr_size_t n = strlen(prefix);
        if (!ib_app_port_matches(app, port) || strncmp(path, prefix, n) != 0
            || path[n] != '/') {
            continue;
        }
        if (scope_guid != NULL
            && (app->scope_guid == NULL || strcmp(app->scope_guid, scope_guid) != 0)) {
            continue;
        }
        *rest = path + n;
        return app;
    }
    return NULL;
}
