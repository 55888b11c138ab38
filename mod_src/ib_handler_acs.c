/* The Assertion Consumer Service, /saml/acs (EP-1, RESP-1..11): turns one
 * POSTed Response into a session, or into a specific error page. Nothing is
 * written to the session store until every check has passed (SESS-6). */
#include <httpd.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>
#include <util_script.h>

#include "core/ib_clock.h"
#include "core/ib_codec.h"
#include "core/ib_metadata.h"
#include "core/ib_random.h"
#include "core/ib_store.h"
#include "ib_config.h"
#include "ib_error.h"
#include "ib_handlers.h"
#include "ib_logout.h"
#include "ib_signin.h"
#include "ib_web.h"

APLOG_USE_MODULE(auth_idbroker);

#define MAX_FORM_FIELDS 16

typedef struct {
    request_rec *r;
    ib_server_conf *sc;
    const ib_app *app;      /* the app whose ACS URL received the POST */
    const char *txid;
    const char *user;
} acs_ctx;

static int fail(acs_ctx *c, int status, const char *title, const char *message,
                const char *reason)
{
    int rc = ib_error_page(c->r, status, APLOG_NOTICE, title, message, reason);
    const char *txid = apr_table_get(c->r->notes, "idbroker-txid");
    ib_log_event(c->r, APLOG_NOTICE, txid, "signin", "rejected", c->app, c->user, reason);
    return rc;
}

static int generic_error(acs_ctx *c, const char *reason)
{
    return fail(c, HTTP_FORBIDDEN, "Unable to Process Your Request",
                "There was an unexpected error.", reason);
}

static const char *form_field(request_rec *r, apr_array_header_t *pairs, const char *name)
{
    for (int i = 0; i < pairs->nelts; i++) {
        ap_form_pair_t *f = &APR_ARRAY_IDX(pairs, i, ap_form_pair_t);
        if (strcmp(f->name, name) == 0) {
            apr_off_t len;
            apr_brigade_length(f->value, 1, &len);
            apr_size_t size = (apr_size_t)len;
            char *buf = apr_palloc(r->pool, size + 1);
            apr_brigade_flatten(f->value, buf, &size);
            buf[size] = '\0';
            return buf;
        }
    }
    return NULL;
}

static const ib_app *app_of_pending(const ib_server_conf *sc, const ib_pending *pr)
{
    const ib_tenant *t = apr_hash_get(sc->reg->by_name, pr->tenant, APR_HASH_KEY_STRING);
    if (t == NULL) {
        return NULL;
    }
    return strcmp(pr->app, IB_APP_PRIMARY) == 0 ? t->primary : t->custom_domain;
}

/* A sign-in started on the app's portal host, not here (EP-7). */
static int handed_off(const acs_ctx *c, const ib_pending *pr)
{
    return ib_app_hands_off(c->app) && strcasecmp(pr->host, c->r->hostname) != 0;
}

static int create_session(acs_ctx *c, const ib_pending *pr, const ib_saml_assertion *a,
                          const ib_identity *identity)
{
    ib_session s;
    memset(&s, 0, sizeof(s));
    s.protocol = "saml";
    s.idp = ib_app_idp(c->app)->entity_id;
    s.name_id = a->name_id;
    s.name_id_format = a->name_id_format;
    s.name_qualifier = a->name_qualifier;
    s.sp_name_qualifier = a->sp_name_qualifier;
    s.session_index = a->session_index;
    s.authn_class = a->authn_class;
    s.identity = *identity;
    if (handed_off(c, pr)) {
        return ib_signin_hand_off(c->r, c->sc, c->app, pr, &s, c->user);
    }
    return ib_signin_complete(c->r, c->sc, c->app, pr, &s, c->user,
                              apr_pstrcat(c->r->pool, c->app->sp_base.prefix, "/saml/", NULL), 1);
}

static int verdict_page(acs_ctx *c, ib_saml_verdict v, const char *reason)
{
    switch (v) {
    case IB_SAML_USER_CANCELLED:
        return fail(c, HTTP_FORBIDDEN, "Sign-in Was Cancelled",
                    "The sign-in was cancelled or refused at your identity provider. "
                    "Go back to the site to start again.", reason);
    case IB_SAML_ENCRYPTED_NO_KEY:
        return generic_error(c, reason);
    case IB_SAML_MALFORMED:
        return fail(c, HTTP_BAD_REQUEST, "Unable to Process Your Request",
                    "There was an unexpected error.", reason);
    default:
        return generic_error(c, reason);
    }
}

/* The pending request named by InResponseTo, used once (RESP-5). */
static int claim_pending(acs_ctx *c, const char *irt, const char *relay, ib_pending *pr)
{
    request_rec *r = c->r;
    const char *json;
    if (*irt == '\0') {
        return generic_error(c, "unsolicited Response (no InResponseTo): IdP-initiated "
                                "sign-in is not supported");
    }
    /* Read first, consume last: a Response that fails the browser checks
     * below must not burn the real user's pending request. */
    const char *key = ib_store_pending_key(r->pool, irt);
    apr_status_t rv = ib_cache_get(c->sc->cache, r->server, r->pool, key, &json);
    if (ib_cache_failed(rv)) {
        return ib_cache_unavailable(r, c->sc->cache, rv, "read the pending sign-in");
    }
    if (rv != APR_SUCCESS || !ib_pending_decode(r->pool, json, pr)) {
        return generic_error(c, "InResponseTo names no pending request (unknown, expired "
                                "or already used)");
    }
    const ib_app *app = app_of_pending(c->sc, pr);
    const char *acs_here = ib_url_join(r->pool, &c->app->sp_base, IB_PATH_ACS);
    /* Apps that share one SP base URL (one generic entity ID for several
     * tenants, EID-6) share this ACS: the pending request, not the URL,
     * says which app the Response answers. */
    if (app == NULL || strcmp(pr->acs_url, acs_here) != 0
        || strcmp(ib_url_join(r->pool, &app->sp_base, IB_PATH_ACS), acs_here) != 0) {
        return generic_error(c, "the Response was posted to another app's ACS than its "
                                "request named");
    }
    c->app = app;
    if (ib_now() >= pr->expires) {
        return fail(c, HTTP_FORBIDDEN, "Sign-in Expired",
                    "The sign-in took too long. Go back to the site to start again.",
                    "the pending request has expired");
    }
    if (relay != NULL && *relay != '\0' && strcmp(relay, pr->relay) != 0) {
        return generic_error(c, "RelayState does not match the pending request");
    }
    const char *state = ib_cookie_get(r, ib_state_cookie_name(r->pool, pr->request_id));
    if (handed_off(c, pr)) {
        /* The sign-in started on the portal host, whose state cookie this
         * host never sees: the portal host checks it when the browser
         * redeems the hand-off handle. The host is one of the app's. */
        if (strcasecmp(pr->host, app->portal.host) != 0) {
            return generic_error(c, "the pending request names a host that is not the "
                                    "app's portal");
        }
    } else if (state == NULL || strcmp(ib_sha256_hex(r->pool, state), pr->state_hash) != 0) {
        return generic_error(c, "the sign-in state cookie is missing or wrong: the sign-in "
                                "was not started in this browser");
    }
    rv = ib_cache_take(c->sc->cache, r->server, r->pool, key, &json);
    if (ib_cache_failed(rv)) {
        return ib_cache_unavailable(r, c->sc->cache, rv, "consume the pending sign-in");
    }
    if (rv != APR_SUCCESS) {
        return generic_error(c, "InResponseTo names no pending request (unknown, expired "
                                "or already used)");
    }
    return OK;
}

int ib_handle_acs(request_rec *r, const ib_app *app)
{
    acs_ctx c = {r, ib_server_conf_get(r->server), app, NULL, NULL};
    if (r->method_number != M_POST) {
        r->allowed = AP_METHOD_BIT << M_POST; /* httpd builds Allow from this */
        return HTTP_METHOD_NOT_ALLOWED;
    }
    apr_array_header_t *pairs = NULL;
    if (ap_parse_form_data(r, NULL, &pairs, MAX_FORM_FIELDS, IB_SAML_MAX_ENCODED + 4096)
        != OK || pairs == NULL) {
        return fail(&c, HTTP_BAD_REQUEST, "Unable to Process Your Request",
                    "There was an unexpected error.", "the POST body is not a readable form "
                    "or is larger than the limit");
    }
    const char *saml_response = form_field(r, pairs, "SAMLResponse");
    const char *relay = form_field(r, pairs, "RelayState");
    ib_saml_parsed *parsed;
    const char *irt, *reason = NULL;
    ib_saml_verdict v = ib_saml_parse_response(r->pool, saml_response, app->tenant->allow_sha1,
                                               &parsed, &irt, &reason);
    if (v != IB_SAML_OK) {
        return verdict_page(&c, v, reason);
    }
    ib_pending pr;
    int rc = claim_pending(&c, irt, relay, &pr);
    if (rc != OK) {
        return rc;
    }
    app = c.app;        /* the app the pending request names (shared ACS) */
    ib_saml_expect expect = {pr.request_id, pr.acs_url, ib_now(), app->tenant->clock_skew};
    ib_saml_assertion a;
    v = ib_saml_validate_response(r->pool, ib_saml_sp_for(c.sc, app), parsed, &expect, &a,
                                  &reason);
    c.user = a.name_id;
    if (v != IB_SAML_OK) {
        return verdict_page(&c, v, reason);
    }
    apr_status_t rv = ib_cache_add(c.sc->cache, r->server, r->pool,
                                   ib_store_replay_key(r->pool, ib_app_idp(app)->entity_id,
                                                       a.assertion_id), "1",
                                   a.not_on_or_after + app->tenant->clock_skew);
    if (ib_cache_failed(rv)) {
        return ib_cache_unavailable(r, c.sc->cache, rv, "record the assertion ID");
    }
    if (rv != APR_SUCCESS) {
        return generic_error(&c, "the assertion was already used (replay)");
    }
    if (a.used_sha1 && !app->tenant->allow_sha1) {
        /* Parsed under the first app on this host; the tenant decides. */
        return generic_error(&c, "the Response uses SHA-1, which this tenant does not allow "
                                 "(IdBrokerAllowSHA1)");
    }
    if (a.used_sha1) {
        ib_log_event(r, APLOG_WARNING, NULL, "signin", "sha1", app, c.user,
                     "the IdP signed with SHA-1 (allowed by IdBrokerAllowSHA1)");
    }
    ib_identity identity;
    apr_array_header_t *problems, *hints;
    int ok = ib_identity_build(r->pool, &app->tenant->attr_names, a.attributes, 0,
                               &identity, &problems, &hints);
    for (int i = 0; i < hints->nelts; i++) {
        ib_log_event(r, APLOG_INFO, NULL, "signin", "hint", app, c.user,
                     APR_ARRAY_IDX(hints, i, const char *));
    }
    if (!ok) {
        return ib_signin_attribute_error(r, app, c.user, problems);
    }
    if (*identity.field[IB_ATTR_UPN]) {
        c.user = identity.field[IB_ATTR_UPN];
    }
    return create_session(&c, &pr, &a, &identity);
}
