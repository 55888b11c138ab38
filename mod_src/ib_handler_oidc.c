/* OpenID Connect sign-in (OIDC-1..8): the authorization request with state,
 * nonce and PKCE, and the redirect URI that turns the code into a checked ID
 * token and a session. The pending sign-in lives in the socache under its
 * state (single use), bound to the browser by a state cookie, exactly as a
 * SAML sign-in is; the session it ends in is the same kind of session. */
#include <httpd.h>
#include <string.h>

#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>
#include <util_script.h>

#include "core/ib_clock.h"
#include "core/ib_codec.h"
#include "core/ib_http.h"
#include "core/ib_jose.h"
#include "core/ib_oidc.h"
#include "core/ib_oidc_provider.h"
#include "core/ib_store.h"
#include "ib_error.h"
#include "ib_handlers.h"
#include "ib_oidc_glue.h"
#include "ib_signin.h"
#include "ib_web.h"

APLOG_USE_MODULE(auth_idbroker);

#define PENDING_LIFETIME apr_time_from_sec(600)
#define STATE_BYTES 24
#define TOKEN_TIMEOUT apr_time_from_sec(10)
#define TOKEN_MAX_BYTES (256 * 1024)

static const char *redirect_uri(request_rec *r, const ib_app *app)
{
    return ib_url_join(r->pool, &app->sp_base, app->oidc->redirect_path);
}

static const char *state_path(request_rec *r, const ib_app *app)
{
    return apr_pstrcat(r->pool, app->sp_base.prefix, app->oidc->redirect_path, NULL);
}

typedef struct {
    ib_oidc_provider *op;
    ib_oidc_snapshot *snap;
} held_snapshot;

static apr_status_t release_snapshot(void *data)
{
    held_snapshot *h = data;
    ib_oidc_provider_release(h->op, h->snap);
    h->snap = NULL;
    return APR_SUCCESS;
}

/* The provider's discovery and keys for this request, released with it. */
static const char *snapshot(request_rec *r, const ib_app *app, int force,
                            ib_oidc_snapshot **out)
{
    const char *fetch_err = NULL;
    const char *err = ib_oidc_provider_acquire(app->oidc_op, r->pool, ib_now(), force, out,
                                               &fetch_err);
    if (fetch_err != NULL && err == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "mod_auth_idbroker: tenant=%s "
                      "OpenID Provider refresh failed, the copy in force stays: %s",
                      app->tenant->name, fetch_err);
    }
    if (err != NULL) {
        return err;
    }
    held_snapshot *h = apr_pcalloc(r->pool, sizeof(*h));
    h->op = app->oidc_op;
    h->snap = *out;
    apr_pool_cleanup_register(r->pool, h, release_snapshot, apr_pool_cleanup_null);
    return NULL;
}

static int unavailable(request_rec *r, const ib_app *app, const char *why)
{
    apr_table_setn(r->err_headers_out, "Retry-After", "30");
    return ib_error_page(r, HTTP_SERVICE_UNAVAILABLE, APLOG_ERR, "Sign-in Is Unavailable",
                         "Sign-in is unavailable for a moment. Please try again shortly.",
                         apr_psprintf(r->pool, "tenant=%s OpenID Provider: %s",
                                      app->tenant->name, why));
}

int ib_oidc_start_signin(request_rec *r, ib_server_conf *sc, const ib_app *app,
                         const char *return_url)
{
    ib_oidc_snapshot *snap;
    const char *err = snapshot(r, app, 0, &snap);
    if (err != NULL) {
        return unavailable(r, app, err);
    }
    apr_time_t now = ib_now();
    const char *state = ib_random_hex(r->pool, STATE_BYTES);
    const char *nonce = ib_random_hex(r->pool, STATE_BYTES);
    const char *browser = ib_random_hex(r->pool, STATE_BYTES);
    const char *verifier = ib_random_hex(r->pool, 32);      /* 64 chars: RFC 7636 §4.1 */
    if (!state || !nonce || !browser || !verifier) {
        return ib_error_page(r, HTTP_INTERNAL_SERVER_ERROR, APLOG_ERR,
                             "Unable to Process Your Request", "There was an unexpected error.",
                             "the random generator failed");
    }
    ib_pending pending = {app->tenant->name, app->kind, state, redirect_uri(r, app),
                          return_url, state, ib_sha256_hex(r->pool, browser), r->hostname,
                          now + PENDING_LIFETIME, nonce, verifier};
    apr_status_t rv = ib_cache_put(sc->cache, r->server, r->pool,
                                   ib_store_pending_key(r->pool, state),
                                   ib_pending_encode(r->pool, &pending), pending.expires);
    if (rv != APR_SUCCESS) {
        return ib_cache_unavailable(r, sc->cache, rv, "store a pending sign-in");
    }
    /* The OP sends the browser back with a top-level GET: Lax cookies go along. */
    ib_cookie_set(r, app, ib_state_cookie_name(r->pool, state), browser, state_path(r, app),
                  apr_time_sec(PENDING_LIFETIME), IB_SAMESITE_LAX);
    ib_log_event(r, APLOG_INFO, NULL, "signin-start", "redirect", app, NULL, "oidc");
    apr_table_setn(r->err_headers_out, "Location",
                   ib_oidc_authorize_url(r->pool, snap->discovery, app->oidc,
                                         redirect_uri(r, app), state, nonce,
                                         ib_oidc_pkce_challenge(r->pool, verifier)));
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    return HTTP_SEE_OTHER;
}

/* ---- the redirect URI ----------------------------------------------------- */

typedef struct {
    request_rec *r;
    ib_server_conf *sc;
    const ib_app *app;
    const char *user;
} cb_ctx;

static int fail_as(cb_ctx *c, const char *title, const char *message, const char *reason)
{
    int rc = ib_error_page(c->r, HTTP_FORBIDDEN, APLOG_NOTICE, title, message, reason);
    ib_log_event(c->r, APLOG_NOTICE, apr_table_get(c->r->notes, "idbroker-txid"), "signin",
                 "rejected", c->app, c->user, reason);
    return rc;
}

static int fail(cb_ctx *c, const char *reason)
{
    return fail_as(c, "Unable to Process Your Request", "There was an unexpected error.",
                   reason);
}

static int is_hex(const char *s, apr_size_t n)
{
    if (s == NULL || strlen(s) != n) {
        return 0;
    }
    for (; *s; s++) {
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* Read, check against this browser and this app, and only then consume. */
static int take_pending(cb_ctx *c, const char *state, ib_pending *pr)
{
    request_rec *r = c->r;
    const char *key = ib_store_pending_key(r->pool, state);
    const char *json;
    apr_status_t rv = ib_cache_get(c->sc->cache, r->server, r->pool, key, &json);
    if (ib_cache_failed(rv)) {
        return ib_cache_unavailable(r, c->sc->cache, rv, "read the pending sign-in");
    }
    if (rv != APR_SUCCESS || !ib_pending_decode(r->pool, json, pr) || pr->nonce == NULL
        || pr->code_verifier == NULL) {
        return fail(c, "state names no pending sign-in (unknown, expired or already used)");
    }
    if (strcmp(pr->tenant, c->app->tenant->name) != 0 || strcmp(pr->app, c->app->kind) != 0
        || strcmp(pr->acs_url, redirect_uri(r, c->app)) != 0) {
        return fail(c, "the state belongs to another app's sign-in");
    }
    if (ib_now() >= pr->expires) {
        return fail_as(c, "Sign-in Expired",
                       "The sign-in took too long. Go back to the site to start again.",
                       "the pending sign-in has expired");
    }
    const char *cookie = ib_cookie_get(r, ib_state_cookie_name(r->pool, state));
    if (cookie == NULL || strcmp(ib_sha256_hex(r->pool, cookie), pr->state_hash) != 0) {
        return fail(c, "the sign-in state cookie is missing or wrong: the sign-in was not "
                       "started in this browser");
    }
    rv = ib_cache_take(c->sc->cache, r->server, r->pool, key, &json);
    if (ib_cache_failed(rv)) {
        return ib_cache_unavailable(r, c->sc->cache, rv, "consume the pending sign-in");
    }
    return rv == APR_SUCCESS ? OK
                             : fail(c, "state names no pending sign-in (already used)");
}

static const char *redeem_code(cb_ctx *c, const ib_oidc_snapshot *snap, const ib_pending *pr,
                               const char *code, const char **id_token,
                               const char **access_token)
{
    const ib_oidc_conf *conf = c->app->oidc;
    request_rec *r = c->r;
    ib_http_request req = {snap->discovery->token_endpoint, NULL, TOKEN_TIMEOUT,
                           TOKEN_MAX_BYTES, NULL, NULL,
                           ib_oidc_token_request_body(r->pool, conf, code,
                                                      redirect_uri(r, c->app),
                                                      pr->code_verifier),
                           conf->client_secret_post ? NULL : conf->client_id,
                           conf->client_secret_post ? NULL : conf->client_secret, NULL};
    ib_http_response res;
    const char *err = ib_http_get(r->pool, &req, &res);
    if (err != NULL) {
        return apr_pstrcat(r->pool, "the token endpoint could not be reached: ", err, NULL);
    }
    return ib_oidc_token_response(r->pool, res.status, res.body, id_token, access_token);
}

/* Verifies the ID token's signature; an unknown kid costs one JWKS refetch. */
static const char *verify_id_token(cb_ctx *c, ib_oidc_snapshot **snap, const char *id_token,
                                   ib_jws **jws)
{
    ib_jws_policy policy = {0};
    const char *err = NULL;
    ib_jws_status st = ib_jws_verify(c->r->pool, id_token, (*snap)->keys, &policy, jws, &err);
    if (st == IB_JWS_UNKNOWN_KID) {
        ib_oidc_snapshot *again;
        const char *e = snapshot(c->r, c->app, 1, &again);
        if (e == NULL && again != *snap) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r, "mod_auth_idbroker: tenant=%s "
                          "the ID token's key is unknown (%s): JWKS refetched from %s, "
                          "%d keys", c->app->tenant->name, err ? err : "-",
                          again->discovery->jwks_uri, again->keys->nelts);
            *snap = again;
            st = ib_jws_verify(c->r->pool, id_token, again->keys, &policy, jws, &err);
        }
        if (st == IB_JWS_UNKNOWN_KID) {
            return apr_psprintf(c->r->pool, "the ID token's key ID is not in the provider's "
                                "JWKS, even after a refetch: %s", err ? err : "");
        }
    }
    return st == IB_JWS_OK ? NULL
                           : apr_psprintf(c->r->pool, "the ID token's signature: %s (%s)",
                                          err ? err : "refused", ib_jws_status_name(st));
}

static const char *fetch_userinfo(cb_ctx *c, const ib_oidc_snapshot *snap,
                                  const char *access_token, cJSON *claims)
{
    request_rec *r = c->r;
    ib_http_request req = {snap->discovery->userinfo_endpoint, NULL, TOKEN_TIMEOUT,
                           TOKEN_MAX_BYTES, NULL, NULL, NULL, NULL, NULL, access_token};
    ib_http_response res;
    const char *err = ib_http_get(r->pool, &req, &res);
    if (err == NULL && res.status != 200) {
        err = apr_psprintf(r->pool, "HTTP status %ld", res.status);
    }
    if (err == NULL) {
        err = ib_oidc_merge_userinfo(r->pool, claims, res.body);
    }
    return err ? apr_pstrcat(r->pool, "userinfo: ", err, NULL) : NULL;
}

static int finish(cb_ctx *c, const ib_pending *pr, const char *id_token, cJSON *claims,
                  const char *issuer)
{
    request_rec *r = c->r;
    ib_identity identity;
    apr_array_header_t *problems, *hints;
    c->user = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(claims, "sub"));
    int ok = ib_identity_build(r->pool, &c->app->tenant->attr_names,
                               ib_oidc_claims_to_attrs(r->pool, claims), 0, &identity,
                               &problems, &hints);
    for (int i = 0; i < hints->nelts; i++) {
        ib_log_event(r, APLOG_INFO, NULL, "signin", "hint", c->app, c->user,
                     APR_ARRAY_IDX(hints, i, const char *));
    }
    if (!ok) {
        return ib_signin_attribute_error(r, c->app, c->user, problems);
    }
    if (*identity.field[IB_ATTR_UPN]) {
        c->user = identity.field[IB_ATTR_UPN];
    }
    ib_session s;
    memset(&s, 0, sizeof(s));
    s.protocol = "oidc";
    s.idp = issuer;
    s.name_id = apr_pstrdup(r->pool,
                            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(claims, "sub")));
    s.id_token = id_token;
    s.identity = identity;
    return ib_signin_complete(r, c->sc, c->app, pr, &s, c->user, state_path(r, c->app), 0);
}

int ib_handle_oidc_callback(request_rec *r, const ib_app *app)
{
    cb_ctx c = {r, ib_server_conf_get(r->server), app, NULL};
    if (r->method_number != M_GET) {
        r->allowed = AP_METHOD_BIT << M_GET;
        return HTTP_METHOD_NOT_ALLOWED;
    }
    apr_table_t *q;
    ap_args_to_table(r, &q);
    const char *state = apr_table_get(q, "state");
    if (!is_hex(state, 2 * STATE_BYTES)) {
        return fail(&c, "the redirect carries no valid state");
    }
    ib_pending pr;
    int rc = take_pending(&c, state, &pr);
    if (rc != OK) {
        return rc;
    }
    const ib_oidc_conf *conf = app->oidc;
    const char *issuer = ib_oidc_expected_issuer(r->pool, conf);
    const char *error = apr_table_get(q, "error");
    if (error != NULL) {
        const char *desc = apr_table_get(q, "error_description");
        const char *reason = apr_psprintf(r->pool, "the provider answered error=%.64s%s%.200s",
                                          error, desc ? ": " : "", desc ? desc : "");
        if (strcmp(error, "access_denied") == 0) {
            return fail_as(&c, "Sign-in Was Cancelled", "The sign-in was cancelled or refused "
                           "at your identity provider. Go back to the site to start again.",
                           reason);
        }
        return fail(&c, reason);
    }
    const char *iss = apr_table_get(q, "iss");   /* RFC 9207, when the OP sends it */
    if (iss != NULL && strcmp(iss, issuer) != 0 && conf->preset != IB_OIDC_ENTRA) {
        return fail(&c, "the iss parameter of the redirect names another issuer (mix-up)");
    }
    const char *code = apr_table_get(q, "code");
    if (code == NULL || *code == '\0' || strlen(code) > 4096) {
        return fail(&c, "the redirect carries no authorization code");
    }
    ib_oidc_snapshot *snap;
    const char *err = snapshot(r, app, 0, &snap);
    if (err != NULL) {
        return unavailable(r, app, err);
    }
    const char *id_token = NULL, *access_token = NULL;
    ib_jws *jws = NULL;
    err = redeem_code(&c, snap, &pr, code, &id_token, &access_token);
    if (err == NULL) {
        err = verify_id_token(&c, &snap, id_token, &jws);
    }
    if (err == NULL) {
        ib_oidc_expect e = {issuer, conf->client_id, pr.nonce,
                            conf->preset == IB_OIDC_ENTRA ? conf->entra_tenant : NULL,
                            ib_now(), app->tenant->clock_skew};
        err = ib_oidc_check_claims(r->pool, jws->claims, &e);
    }
    if (err == NULL && conf->userinfo) {
        err = access_token == NULL || snap->discovery->userinfo_endpoint == NULL
              ? "userinfo: no access token or no userinfo endpoint"
              : fetch_userinfo(&c, snap, access_token, jws->claims);
    }
    if (err != NULL) {
        return fail(&c, err);
    }
    return finish(&c, &pr, id_token, jws->claims, issuer);
}

static int see_other(request_rec *r, const char *url)
{
    apr_table_setn(r->err_headers_out, "Location", url);
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    return HTTP_SEE_OTHER;
}

int ib_oidc_logout(request_rec *r, const ib_app *app, const ib_session *s, const char *target)
{
    ib_oidc_snapshot *snap;
    const char *err = snapshot(r, app, 0, &snap);
    if (err == NULL && snap->discovery->end_session_endpoint == NULL) {
        err = "the provider offers no end_session_endpoint";
    }
    if (err != NULL) {
        ib_log_event(r, APLOG_NOTICE, NULL, "logout", "local-only", app, s->name_id,
                     apr_pstrcat(r->pool, "provider logout skipped: ", err, NULL));
        return see_other(r, target);
    }
    /* The provider needs an absolute URI, registered with it as is. */
    const char *back = target[0] == '/' ? apr_pstrcat(r->pool, app->sp_base.origin, target, NULL)
                                        : target;
    ib_log_event(r, APLOG_NOTICE, NULL, "logout", "sent-to-idp", app, s->name_id, "oidc");
    return see_other(r, ib_oidc_end_session_url(r->pool, snap->discovery, s->id_token, back,
                                                ib_random_hex(r->pool, STATE_BYTES)));
}

void ib_oidc_post_config(apr_pool_t *pconf, server_rec *s, const ib_registry *reg)
{
    for (int i = 0; i < reg->apps->nelts; i++) {
        ib_app *app = APR_ARRAY_IDX(reg->apps, i, ib_app *);
        if (app->oidc == NULL) {
            continue;
        }
        app->oidc_op = ib_oidc_provider_make(pconf, app->oidc);
        /* Fetched once here, before the children fork: they start with it. */
        apr_pool_t *tmp;
        apr_pool_create(&tmp, pconf);
        ib_oidc_snapshot *snap;
        const char *fetch_err;
        const char *err = ib_oidc_provider_acquire(app->oidc_op, tmp, ib_now(), 0, &snap,
                                                   &fetch_err);
        if (err != NULL) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "mod_auth_idbroker: tenant=%s "
                         "app=%s: OpenID Provider not reachable at start (retried at the "
                         "first sign-in): %s", app->tenant->name, app->kind, err);
        } else {
            ib_oidc_provider_release(app->oidc_op, snap);
        }
        apr_pool_destroy(tmp);
    }
}
