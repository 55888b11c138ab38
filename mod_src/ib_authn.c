/* The authentication hooks: find the tenant for a protected location, accept
 * a valid session, or start a sign-in at the tenant's IdP. */
#include <httpd.h>
#include <string.h>

#include <apr_strings.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mod_auth.h>

#include "core/ib_clock.h"
#include "core/ib_codec.h"
#include "core/ib_metadata.h"
#include "core/ib_store.h"
#include "core/ib_url.h"
#include "ib_authn.h"
#include "ib_idp_refresh.h"
#include "ib_oidc_glue.h"
#include "ib_config.h"
#include "ib_error.h"
#include "ib_web.h"

APLOG_USE_MODULE(auth_idbroker);

#define IB_AUTH_TYPE "IdBroker"
#define PENDING_LIFETIME apr_time_from_sec(600)  /* time allowed at the IdP */
#define SESSION_ID_BYTES 32
#define STATE_BYTES 24
#define RELAY_BYTES 16
#define RETURN_URL_MAX 2048
#define LAST_SEEN_GRANULARITY apr_time_from_sec(60)

static ib_dir_conf *dir_conf(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &auth_idbroker_module);
}

/* Identity headers come from us only: whatever a client sends under any
 * configured prefix is dropped before anything can read it, on every path
 * (an open path of the same application must not take a forged identity
 * either). */
int ib_strip_identity_headers(request_rec *r)
{
    const apr_array_header_t *prefixes = ib_config_header_prefixes();
    if (prefixes == NULL || prefixes->nelts == 0) {
        return DECLINED;
    }
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_array_header_t *doomed = apr_array_make(r->pool, 2, sizeof(const char *));
    for (int i = 0; i < arr->nelts; i++) {
        for (int j = 0; e[i].key && j < prefixes->nelts; j++) {
            const char *prefix = APR_ARRAY_IDX(prefixes, j, const char *);
            if (strncasecmp(e[i].key, prefix, strlen(prefix)) == 0) {
                APR_ARRAY_PUSH(doomed, const char *) = e[i].key;
                break;
            }
        }
    }
    for (int i = 0; i < doomed->nelts; i++) {
        apr_table_unset(r->headers_in, APR_ARRAY_IDX(doomed, i, const char *));
    }
    return DECLINED;
}

static const ib_app *app_on_request_host(const ib_server_conf *sc, request_rec *r,
                                         const ib_tenant *only)
{
    const apr_array_header_t *apps = ib_registry_apps_on_host(sc->reg, r->hostname);
    apr_port_t port = r->parsed_uri.port_str ? r->parsed_uri.port : 0;
    for (int i = 0; apps && i < apps->nelts; i++) {
        const ib_app *app = APR_ARRAY_IDX(apps, i, const ib_app *);
        if ((only == NULL || app->tenant == only) && ib_app_port_matches(app, port)) {
            return app;
        }
    }
    /* A portal the ACS hands off to (EP-7) is the app's home too. */
    apps = ib_registry_apps_on_portal_host(sc->reg, r->hostname);
    for (int i = 0; apps && i < apps->nelts; i++) {
        const ib_app *app = APR_ARRAY_IDX(apps, i, const ib_app *);
        if ((only == NULL || app->tenant == only) && ib_base_port_matches(&app->portal, port)) {
            return app;
        }
    }
    return NULL;
}

/* IdBrokerUseTenant names the tenant; its custom-domain app serves requests
 * arriving on the custom host (CD-6). Without it the request host decides. */
static const ib_app *select_app(const ib_server_conf *sc, request_rec *r)
{
    const char *name = dir_conf(r)->tenant;
    if (name == NULL) {
        return app_on_request_host(sc, r, NULL);
    }
    const ib_tenant *t = apr_hash_get(sc->reg->by_name, name, APR_HASH_KEY_STRING);
    if (t == NULL) {
        return NULL;
    }
    const ib_app *on_host = app_on_request_host(sc, r, t);
    return on_host ? on_host : t->primary;
}

static int wants_no_redirect(request_rec *r)
{
    const char *xrw = apr_table_get(r->headers_in, "X-Requested-With");
    const char *accept = apr_table_get(r->headers_in, "Accept");
    if (xrw != NULL && strcasecmp(xrw, "XMLHttpRequest") == 0) {
        return 1;
    }
    return accept != NULL && ap_strcasestr(accept, "application/json") != NULL
           && ap_strcasestr(accept, "text/html") == NULL;
}

/* Only a local path goes into the pending request, as the one redirect
 * validator accepts it (no base: nothing absolute passes); anything else
 * comes back to the site's root. */
static const char *return_path(request_rec *r)
{
    const char *u = r->unparsed_uri;
    if (u == NULL || strlen(u) > RETURN_URL_MAX
        || ib_url_check_target(r->pool, u, NULL, NULL) == NULL) {
        return "/";
    }
    return u;
}

static void send_post_form(request_rec *r, const ib_authn_request *req, const char *relay)
{
    ap_set_content_type(r, "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rprintf(r,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Signing in</title></head>\n<body>\n"
        "<form method=\"post\" action=\"%s\">\n"
        "<input type=\"hidden\" name=\"SAMLRequest\" value=\"%s\">\n"
        "<input type=\"hidden\" name=\"RelayState\" value=\"%s\">\n"
        "<noscript><p>JavaScript is off. Press Continue to sign in.</p>"
        "<button type=\"submit\">Continue</button></noscript>\n"
        "</form>\n<script>document.forms[0].submit();</script>\n</body></html>\n",
        ap_escape_html(r->pool, req->url), ap_escape_html(r->pool, req->saml_request),
        ap_escape_html(r->pool, relay));
}

static int start_signin(request_rec *r, ib_server_conf *sc, const ib_app *app)
{
    if (app->oidc != NULL) {
        return ib_oidc_start_signin(r, sc, app, return_path(r));
    }
    apr_time_t now = ib_now();
    const char *relay = ib_random_hex(r->pool, RELAY_BYTES);
    const char *state = ib_random_hex(r->pool, STATE_BYTES);
    const char *acs = ib_url_join(r->pool, &app->sp_base, IB_PATH_ACS);
    ib_authn_request req;
    const char *err = relay && state ? ib_saml_authn_request(r->pool, ib_saml_sp_for(sc, app),
                                                             now, acs, relay, &req)
                                     : "the random generator failed";
    if (err != NULL) {
        ib_log_event(r, APLOG_ERR, NULL, "signin-start", "error", app, NULL, err);
        return ib_error_page(r, HTTP_INTERNAL_SERVER_ERROR, APLOG_ERR,
                             "Unable to Process Your Request", "There was an unexpected error.",
                             apr_psprintf(r->pool, "tenant=%s: %s", app->tenant->name, err));
    }
    ib_pending pending = {app->tenant->name, app->kind, req.request_id, acs, return_path(r),
                          relay, ib_sha256_hex(r->pool, state), r->hostname,
                          now + PENDING_LIFETIME};
    apr_status_t rv = ib_cache_put(sc->cache, r->server, r->pool,
                                   ib_store_pending_key(r->pool, req.request_id),
                                   ib_pending_encode(r->pool, &pending), pending.expires);
    if (rv != APR_SUCCESS) {
        return ib_cache_unavailable(r, sc->cache, rv, "store a pending sign-in");
    }
    /* The state cookie ties the IdP's answer to this browser (no login CSRF);
     * it must survive the IdP's cross-site POST, hence SameSite=None. */
    ib_cookie_set(r, app, ib_state_cookie_name(r->pool, req.request_id), state,
                  apr_pstrcat(r->pool, ib_app_base_for_host(app, r->hostname)->prefix,
                              "/saml/", NULL),
                  apr_time_sec(PENDING_LIFETIME), IB_SAMESITE_NONE);
    ib_log_event(r, APLOG_INFO, NULL, "signin-start", "redirect", app, NULL, req.request_id);
    if (req.redirect) {
        apr_table_setn(r->err_headers_out, "Location", req.url);
        apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
        return HTTP_SEE_OTHER;
    }
    send_post_form(r, &req, relay);
    return DONE;
}

const char ib_session_store_down[] = "the session store failed";

/* A session is worth something only on the tenant and host it was made for,
 * within its lifetimes. */
int ib_session_load(request_rec *r, ib_server_conf *sc, const ib_app *app,
                    ib_session *s, const char **why)
{
    const char *cookie = ib_cookie_get(r, IB_SESSION_COOKIE);
    if (cookie == NULL || strlen(cookie) != 2 * SESSION_ID_BYTES) {
        *why = cookie ? "malformed session cookie" : "no session cookie";
        return 0;
    }
    const char *key = ib_store_session_key(r->pool, cookie);
    apr_status_t rv = ib_cache_get_session(sc->cache, r->server, r->pool, key, s);
    if (ib_cache_failed(rv)) {
        *why = ib_session_store_down;
        return 0;
    }
    if (rv != APR_SUCCESS) {
        *why = "unknown or expired session";
        return 0;
    }
    apr_time_t now = ib_now();
    const ib_tenant *t = app->tenant;
    /* The Host header is the client's to choose; the port the connection
     * arrived on is not. Both must match where the session was made. */
    if (strcmp(s->tenant, t->name) != 0 || strcasecmp(s->host, r->hostname) != 0
        || (s->local_port && s->local_port != r->connection->local_addr->port)) {
        *why = "session belongs to another tenant, host or port";
        return 0;
    }
    if (now >= s->expires || (t->session_idle && now >= s->last_seen + t->session_idle)) {
        ib_cache_remove(sc->cache, r->server, r->pool, key);
        *why = "session timed out";
        return 0;
    }
    if (t->session_idle && now - s->last_seen > LAST_SEEN_GRANULARITY) {
        s->last_seen = now;
        ib_cache_put(sc->cache, r->server, r->pool, key, ib_session_encode(r->pool, s),
                     s->expires);
    }
    return 1;
}

int ib_check_user_id(request_rec *r)
{
    const char *type = ap_auth_type(r);
    if (type == NULL || strcasecmp(type, IB_AUTH_TYPE) != 0) {
        return DECLINED;
    }
    if (r->main != NULL && r->main->user != NULL) {
        r->user = r->main->user; /* subrequests inherit the identity */
        return OK;
    }
    ib_server_conf *sc = ib_server_conf_get(r->server);
    const ib_app *app = select_app(sc, r);
    ib_idp_sync_for_request(r, app);
    if (app == NULL || !ib_app_has_idp(app)) {
        return ib_error_page(r, HTTP_SERVICE_UNAVAILABLE, APLOG_ERR, "Sign-in Is Not Configured",
                             "Sign-in is not set up for this site yet.",
                             app ? apr_psprintf(r->pool, "tenant %s has no IdP connection",
                                                app->tenant->name)
                                 : "no tenant for this location (IdBrokerUseTenant or host)");
    }
    ib_session s;
    const char *why = NULL;
    int loaded = ib_session_load(r, sc, app, &s, &why);
    if (why == ib_session_store_down) {
        return ib_cache_unavailable(r, sc->cache, APR_EGENERAL, "read a session");
    }
    if (!loaded && ib_cookie_get(r, IB_SESSION_COOKIE) != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "tenant=%s session refused: %s",
                      app->tenant->name, why);
    }
    if (loaded) {
        ib_dir_conf *dc = dir_conf(r);
        r->ap_auth_type = apr_pstrdup(r->pool, IB_AUTH_TYPE); /* CGI's AUTH_TYPE */
        ib_export_identity(r, &s, dc->remote_user ? dc->remote_user : "cip_upn",
                           dc->header_prefix);
        return OK;
    }
    if (wants_no_redirect(r) || (r->method_number != M_GET)) {
        apr_table_setn(r->err_headers_out, "WWW-Authenticate", "IdBroker");
        return HTTP_UNAUTHORIZED;
    }
    return start_signin(r, sc, app);
}

/* Require idbroker-attr NAME VALUE...: the identity field NAME equals one of
 * the VALUEs exactly. */
static authz_status attr_check(request_rec *r, const char *require_line,
                               const void *parsed)
{
    if (r->user == NULL) {
        return AUTHZ_DENIED_NO_USER;
    }
    const char *line = require_line;
    const char *name = ap_getword_conf(r->pool, &line);
    const char *have = apr_table_get(r->subprocess_env,
                                     apr_pstrcat(r->pool, "IDBROKER_", name, NULL));
    while (have != NULL && *line) {
        const char *want = ap_getword_conf(r->pool, &line);
        if (strcmp(have, want) == 0) {
            return AUTHZ_GRANTED;
        }
    }
    return AUTHZ_DENIED;
}

static const authz_provider attr_provider = {attr_check, NULL};

void ib_register_authz(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "idbroker-attr",
                              AUTHZ_PROVIDER_VERSION, &attr_provider, AP_AUTH_INTERNAL_PER_CONF);
}
