/* Single logout (SLO-1..13): /saml/logout ends the local session first, then
 * tells the IdP; /saml/logout/callback takes the IdP's LogoutResponse, or an
 * IdP-initiated LogoutRequest that ends sessions on every process (they live
 * in the socache) and is answered over the binding the IdP used. */
#include <httpd.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>
#include <util_script.h>

#include "core/ib_clock.h"
#include "core/ib_codec.h"
#include "core/ib_metadata.h"
#include "core/ib_random.h"
#include "core/ib_saml_logout.h"
#include "core/ib_store.h"
#include "ib_authn.h"
#include "ib_config.h"
#include "ib_error.h"
#include "ib_handlers.h"
#include "ib_oidc_glue.h"
#include "ib_logout.h"
#include "ib_web.h"

APLOG_USE_MODULE(auth_idbroker);

#define LOGOUT_PENDING_LIFETIME apr_time_from_sec(600)
#define RELAY_BYTES 16
#define TOKEN_HEX 32
#define MAX_FORM_FIELDS 8
#define MAX_FORM_BYTES (512 * 1024)
#define INDEX_MAX_SESSIONS 64

/* ---- session index ------------------------------------------------------ */

static const char *index_append(apr_pool_t *p, const char *old, void *baton)
{
    const char *key = baton;
    if (old == NULL || *old == '\0') {
        return key;
    }
    /* Keep the newest INDEX_MAX_SESSIONS: expired ones fall off the front. */
    const char *list = apr_pstrcat(p, old, " ", key, NULL);
    int n = 0;
    for (const char *c = list; *c; c++) {
        n += *c == ' ';
    }
    while (n-- >= INDEX_MAX_SESSIONS) {
        list = strchr(list, ' ') + 1;
    }
    return list;
}

void ib_session_index_add(request_rec *r, ib_server_conf *sc, const char *tenant,
                          const char *idp, const char *name_id, const char *session_key,
                          apr_time_t expires)
{
    ib_cache_update(sc->cache, r->server, r->pool,
                    ib_store_nameid_key(r->pool, tenant, idp, name_id), index_append,
                    (void *)session_key, expires);
}

typedef struct {
    request_rec *r;
    ib_server_conf *sc;
    const ib_app *app;
    const char *name_id;        /* of the LogoutRequest (for the log) */
    int ended;
    apr_hash_t *drop;           /* session keys to take out of the index */
} end_ctx;

#define NAMEID_UNSPECIFIED "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

/* One NameID attribute of the session against the LogoutRequest's. */
static int same_or_absent(const char *session, const char *request)
{
    return session == NULL || request == NULL || strcmp(session, request) == 0;
}

/* SAML core 3.7.3.1: the LogoutRequest's NameID must match the principal.
 * The value (plus tenant and IdP, through the index) always has to; a Format,
 * NameQualifier or SPNameQualifier counts when both the sign-in assertion and
 * the LogoutRequest carry one: two different Formats (or qualifiers) are two
 * different name spaces, so "jane" as a transient ID is not "jane" as a
 * persistent one, and that session stays. One side without the attribute is
 * no mismatch (ADFS sends no Format at all, IdPs often drop the qualifiers
 * on logout), and neither is the unspecified Format, which by SAML core 8.3.1
 * names no name space of its own (Okta signs in with it). */
static int name_id_matches(const ib_session *s, const ib_session *who)
{
    if (s->name_id == NULL || strcmp(s->name_id, who->name_id) != 0) {
        return 0;
    }
    int fmt = s->name_id_format == NULL || who->name_id_format == NULL
              || strcmp(s->name_id_format, NAMEID_UNSPECIFIED) == 0
              || strcmp(who->name_id_format, NAMEID_UNSPECIFIED) == 0
              || strcmp(s->name_id_format, who->name_id_format) == 0;
    return fmt && same_or_absent(s->name_qualifier, who->name_qualifier)
           && same_or_absent(s->sp_name_qualifier, who->sp_name_qualifier);
}

static int session_matches(const ib_session *s, const ib_slo_request *req)
{
    if (strcmp(s->tenant, req->who.tenant) != 0 || !name_id_matches(s, &req->who)) {
        return 0;
    }
    /* With SessionIndexes, only those sign-ins end (SLO-9): every one listed. */
    if (req->session_indexes->nelts == 0 || s->session_index == NULL) {
        return 1;
    }
    for (int i = 0; i < req->session_indexes->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(req->session_indexes, i, const char *),
                   s->session_index) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Runs under the cache lock: no cache call in here (the lock is not
 * recursive; a nested ib_cache_get would deadlock the whole cache). */
static const char *index_drop(apr_pool_t *p, const char *old, void *baton)
{
    end_ctx *e = baton;
    const char *kept = NULL;
    char *state, *list = apr_pstrdup(p, old ? old : "");
    for (char *key = apr_strtok(list, " ", &state); key; key = apr_strtok(NULL, " ", &state)) {
        if (apr_hash_get(e->drop, key, APR_HASH_KEY_STRING) == NULL) {
            kept = kept ? apr_pstrcat(p, kept, " ", key, NULL) : key;
        }
    }
    return kept;
}

/* The replay cache entry of an IdP LogoutRequest, by (IdP entity ID, request
 * ID). The "logout:" prefix keeps it apart from the assertion IDs of the ACS
 * (an xs:ID has no colon, so no assertion ID can look like it). */
static const char *logout_replay_key(apr_pool_t *p, const ib_slo_request *req)
{
    return ib_store_replay_key(p, req->who.idp, apr_pstrcat(p, "logout:", req->id, NULL));
}

static int end_sessions(void *baton, const ib_slo_request *req, const char **refused)
{
    end_ctx *e = baton;
    request_rec *r = e->r;
    const ib_session *who = &req->who;
    e->name_id = who->name_id;
    e->drop = apr_hash_make(r->pool);
    /* Each LogoutRequest ends sessions once: a copy replayed while it would
     * still pass the time checks (a user who signed in again right after an
     * IdP logout, a stolen form) is refused. */
    apr_status_t rv = ib_cache_add(e->sc->cache, r->server, r->pool,
                                   logout_replay_key(r->pool, req), "1",
                                   req->replay_until + apr_time_from_sec(1));
    if (rv == APR_EEXIST) {
        *refused = apr_psprintf(r->pool, "the LogoutRequest %s was already processed (replay)",
                                ap_escape_logitem(r->pool, req->id));
        return -1;
    }
    if (rv != APR_SUCCESS) {
        /* Ending sessions is the safe side: without the cache the request is
         * still honoured, and the log says replays could not be caught. */
        char txid[IB_UUID_LEN];
        ib_uuid_v4(txid);
        ib_log_event(r, APLOG_WARNING, txid, "logout", "replay-unchecked", e->app,
                     who->name_id, apr_psprintf(r->pool, "the LogoutRequest ID could not be "
                                                "stored in the replay cache (status %d)", rv));
    }
    const char *index_key = ib_store_nameid_key(r->pool, who->tenant, who->idp, who->name_id);
    const char *index;
    if (ib_cache_get(e->sc->cache, r->server, r->pool, index_key, &index) != APR_SUCCESS) {
        return 0;
    }
    char *state, *list = apr_pstrdup(r->pool, index);
    for (char *key = apr_strtok(list, " ", &state); key; key = apr_strtok(NULL, " ", &state)) {
        const char *json;
        ib_session s;
        if (ib_cache_get(e->sc->cache, r->server, r->pool, key, &json) != APR_SUCCESS
            || !ib_session_decode(r->pool, json, &s)) {
            apr_hash_set(e->drop, key, APR_HASH_KEY_STRING, key); /* gone already */
        } else if (session_matches(&s, req)) {
            ib_cache_remove(e->sc->cache, r->server, r->pool, key);
            apr_hash_set(e->drop, key, APR_HASH_KEY_STRING, key);
            e->ended++;
        }
    }
    if (apr_hash_count(e->drop) > 0) {
        /* Only the keys looked at go: a sign-in indexed meanwhile stays. */
        ib_cache_update(e->sc->cache, r->server, r->pool, index_key, index_drop, e,
                        ib_now() + apr_time_from_sec(86400 * 7));
    }
    return e->ended;
}

/* ---- helpers ------------------------------------------------------------ */

static const char *form_value(request_rec *r, apr_array_header_t *pairs, const char *name)
{
    for (int i = 0; pairs && i < pairs->nelts; i++) {
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

static int send_outgoing(request_rec *r, const ib_saml_outgoing *m, const char *relay)
{
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    if (m->redirect) {
        apr_table_setn(r->err_headers_out, "Location", m->url);
        return HTTP_SEE_OTHER;
    }
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rprintf(r, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>Signing out</title></head>\n<body>\n"
               "<form method=\"post\" action=\"%s\">\n"
               "<input type=\"hidden\" name=\"%s\" value=\"%s\">\n%s"
               "<noscript><p>JavaScript is off. Press Continue to finish signing out.</p>"
               "<button type=\"submit\">Continue</button></noscript>\n</form>\n"
               "<script>document.forms[0].submit();</script>\n</body></html>\n",
               ap_escape_html(r->pool, m->url), m->field, ap_escape_html(r->pool, m->value),
               relay ? apr_psprintf(r->pool, "<input type=\"hidden\" name=\"RelayState\" "
                                    "value=\"%s\">\n", ap_escape_html(r->pool, relay)) : "");
    return DONE;
}

static int redirect_to(request_rec *r, const char *target)
{
    apr_table_setn(r->err_headers_out, "Location", target);
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    return HTTP_SEE_OTHER;
}

/* The logout form's token: derived from the session cookie, so another site
 * can neither read nor guess it (cross-site logout, SLO-1). */
static const char *logout_token(request_rec *r, const char *cookie)
{
    return apr_pstrndup(r->pool, ib_sha256_hex(r->pool, apr_pstrcat(r->pool, "logout\n",
                                                                     cookie, NULL)), TOKEN_HEX);
}

static int foreign_origin(request_rec *r, const ib_app *app)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    return origin != NULL && strcmp(origin, "null") != 0
           && strcasecmp(origin, ib_app_base_for_host(app, r->hostname)->origin) != 0;
}

static int confirm_page(request_rec *r, const char *token)
{
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rprintf(r, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>Sign out</title></head>\n<body>\n<h1>Sign out</h1>\n"
               "<form method=\"post\" action=\"%s\">\n"
               "<input type=\"hidden\" name=\"token\" value=\"%s\">\n"
               "<button type=\"submit\">Sign out</button>\n</form>\n</body></html>\n",
               IB_PATH_LOGOUT, token);
    return DONE;
}

/* ---- /saml/logout --------------------------------------------------------- */

static int start_idp_logout(request_rec *r, ib_server_conf *sc, const ib_app *app,
                            const ib_session *s, const char *target)
{
    const char *relay = ib_random_hex(r->pool, RELAY_BYTES);
    ib_saml_outgoing m;
    const char *err = ib_saml_logout_request(r->pool, ib_saml_sp_for(sc, app), ib_now(), s,
                                             relay, &m);
    if (err != NULL) {
        ib_log_event(r, APLOG_ERR, NULL, "logout", "local-only", app, s->name_id,
                     apr_pstrcat(r->pool, "IdP logout skipped: ", err, NULL));
        return redirect_to(r, target);
    }
    ib_pending pending = {app->tenant->name, app->kind, m.id,
                          ib_url_join(r->pool, &app->sp_base, IB_PATH_SLO), target, relay,
                          "-", r->hostname, ib_now() + LOGOUT_PENDING_LIFETIME};
    ib_cache_put(sc->cache, r->server, r->pool, ib_store_logout_key(r->pool, m.id),
                 ib_pending_encode(r->pool, &pending), pending.expires);
    ib_log_event(r, APLOG_NOTICE, NULL, "logout", "sent-to-idp", app, s->name_id, m.id);
    return send_outgoing(r, &m, m.redirect ? NULL : relay);
}

int ib_handle_logout(request_rec *r, const ib_app *app)
{
    ib_server_conf *sc = ib_server_conf_get(r->server);
    const ib_tenant *t = app->tenant;
    if (r->method_number != M_GET && r->method_number != M_POST) {
        r->allowed = (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    ib_session s;
    const char *why = NULL;
    const char *cookie = ib_cookie_get(r, IB_SESSION_COOKIE);
    if (!ib_session_load(r, sc, app, &s, &why)) {
        if (why == ib_session_store_down) {
            /* Saying "signed out" would leave the session alive in the store. */
            return ib_cache_unavailable(r, sc->cache, APR_EGENERAL, "end a session");
        }
        return redirect_to(r, t->post_logout_url); /* nothing to end */
    }
    if (r->method_number == M_GET) {
        return confirm_page(r, logout_token(r, cookie));
    }
    apr_array_header_t *pairs = NULL;
    ap_parse_form_data(r, NULL, &pairs, MAX_FORM_FIELDS, 8192);
    const char *token = form_value(r, pairs, "token");
    if (foreign_origin(r, app) || token == NULL
        || strcmp(token, logout_token(r, cookie)) != 0) {
        return ib_error_page(r, HTTP_FORBIDDEN, APLOG_NOTICE, "Sign-out Could Not Be Confirmed",
                             "Use the sign-out button of the site to sign out.",
                             "logout POST without a valid token or from another origin");
    }
    const ib_base_url *here = ib_app_base_for_host(app, r->hostname);
    const char *asked = form_value(r, pairs, "return");
    const char *target = ib_url_check_target(r->pool, asked, here, t->allowed_origins);
    if (target == NULL && asked != NULL && *asked != '\0') {
        /* Sign-out goes on (the user asked for it); the operator learns why
         * the page they come back to is not the one the form named. */
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "tenant=%s logout return target refused (not a local path or an "
                      "allowed origin): %s; using the post-logout URL",
                      t->name, ap_escape_logitem(r->pool, asked));
    }
    target = target ? target : t->post_logout_url;
    if (target[0] == '/' && here != &app->sp_base) {
        /* The IdP's answer comes back to the SP host: a local path means the
         * portal's, so it travels as an absolute URL. */
        target = apr_pstrcat(r->pool, here->origin, target, NULL);
    }
    /* SLO-8: the local session ends before anything else can fail. */
    ib_cache_remove(sc->cache, r->server, r->pool, ib_store_session_key(r->pool, cookie));
    ib_cookie_set(r, app, IB_SESSION_COOKIE, "", "/", 0, IB_SAMESITE_LAX);
    if (app->oidc != NULL) {
        return ib_oidc_logout(r, app, &s, target);
    }
    if (ib_app_idp(app)->slo_url == NULL || s.name_id == NULL) {
        ib_log_event(r, APLOG_NOTICE, NULL, "logout", "local-only", app, s.name_id,
                     ib_app_idp(app)->slo_url ? "IdP logout skipped: no NameID in session"
                                      : "IdP logout skipped: no IdP logout URL");
        return redirect_to(r, target);
    }
    return start_idp_logout(r, sc, app, &s, target);
}

/* ---- /saml/logout/callback ------------------------------------------------ */

static int logout_response(request_rec *r, ib_server_conf *sc, const ib_app *app,
                           const char *message)
{
    const char *irt = "", *reason = NULL;
    ib_slo_verdict v = ib_saml_logout_response(r->pool, ib_saml_sp_for(sc, app), ib_now(),
                                               message, app->tenant->require_signed_logout,
                                               &irt, &reason);
    const char *json;
    ib_pending pending;
    if (v != IB_SLO_INVALID
        && (*irt == '\0'
            || ib_cache_take(sc->cache, r->server, r->pool, ib_store_logout_key(r->pool, irt),
                             &json) != APR_SUCCESS
            || !ib_pending_decode(r->pool, json, &pending)
            || strcmp(pending.tenant, app->tenant->name) != 0
            || strcmp(pending.app, app->kind) != 0)) {
        v = IB_SLO_INVALID;
        reason = "the LogoutResponse answers no pending logout (unknown, expired or used)";
    }
    if (v == IB_SLO_INVALID) {
        return ib_error_page(r, HTTP_FORBIDDEN, APLOG_NOTICE, "Unable to Process Your Request",
                             "You are signed out of this site; the identity provider's "
                             "answer could not be verified.", reason);
    }
    if (v == IB_SLO_STATUS_FAILED) {
        char txid[IB_UUID_LEN];
        ib_uuid_v4(txid);
        ib_log_event(r, APLOG_WARNING, txid, "logout", "idp-failed", app, NULL, reason);
    } else {
        ib_log_event(r, APLOG_NOTICE, NULL, "logout", "success", app, NULL, irt);
    }
    return redirect_to(r, pending.return_url);
}

static int logout_request(request_rec *r, ib_server_conf *sc, const ib_app *app,
                          const char *message)
{
    end_ctx e = {r, sc, app, NULL, 0, NULL};
    ib_saml_outgoing m;
    const char *err = ib_saml_idp_logout(r->pool, ib_saml_sp_for(sc, app), ib_now(), message,
                                         app->tenant->require_signed_logout, end_sessions, &e,
                                         &m);
    if (err != NULL) {
        /* Invalid, stale, misaddressed or replayed: an error page, no
         * LogoutResponse. A replay is refused like a bad signature rather
         * than answered with a failure status: the IdP had its answer to the
         * original, and a signed answer to a copy would only give whoever
         * replayed it a message of ours to carry around. One outcome for all
         * refusals also keeps them in one place for operators (the page's
         * Transaction ID leads to the precise reason in the log). */
        return ib_error_page(r, HTTP_FORBIDDEN, APLOG_NOTICE, "Unable to Process Your Request",
                             "The sign-out request could not be verified.", err);
    }
    ib_log_event(r, APLOG_NOTICE, NULL, "logout", e.ended ? "idp-initiated" : "no-session",
                 app, e.name_id,
                 apr_psprintf(r->pool, "%d session(s) ended", e.ended));
    /* A POSTed RelayState goes back with the response (Redirect: lasso adds it). */
    return send_outgoing(r, &m, m.redirect ? NULL : apr_table_get(r->notes, "idbroker-relay"));
}

int ib_handle_logout_callback(request_rec *r, const ib_app *app)
{
    ib_server_conf *sc = ib_server_conf_get(r->server);
    const char *request = NULL, *response = NULL;
    if (r->method_number == M_GET) {
        const char *q = r->args ? r->args : "";
        if (strncmp(q, "SAMLRequest=", 12) == 0 || strstr(q, "&SAMLRequest=")) {
            request = q;
        } else if (strncmp(q, "SAMLResponse=", 13) == 0 || strstr(q, "&SAMLResponse=")) {
            response = q;
        }
    } else if (r->method_number == M_POST) {
        apr_array_header_t *pairs = NULL;
        ap_parse_form_data(r, NULL, &pairs, MAX_FORM_FIELDS, MAX_FORM_BYTES);
        request = form_value(r, pairs, "SAMLRequest");
        response = form_value(r, pairs, "SAMLResponse");
        const char *relay = form_value(r, pairs, "RelayState");
        if (relay != NULL && strlen(relay) <= 80) {
            apr_table_setn(r->notes, "idbroker-relay", relay);
        }
    } else {
        r->allowed = (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (response != NULL) {
        return logout_response(r, sc, app, response);
    }
    if (request != NULL) {
        return logout_request(r, sc, app, request);
    }
    return ib_error_page(r, HTTP_BAD_REQUEST, APLOG_INFO, "Unable to Process Your Request",
                         "There was an unexpected error.",
                         "logout callback without SAMLRequest or SAMLResponse");
}
