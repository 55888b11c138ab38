#include <httpd.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>
#include <util_script.h>

#include "core/ib_clock.h"
#include "core/ib_codec.h"
#include "core/ib_pages.h"
#include "core/ib_random.h"
#include "ib_error.h"
#include "ib_logout.h"
#include "ib_signin.h"
#include "ib_strings.h"
#include "ib_web.h"

APLOG_USE_MODULE(auth_idbroker);

#define SESSION_ID_BYTES 32
#define HANDLE_BYTES 32
#define HANDOFF_LIFETIME apr_time_from_sec(60)

int ib_signin_attribute_error(request_rec *r, const ib_app *app, const char *user,
                              const apr_array_header_t *problems)
{
    apr_array_header_t *details = apr_array_make(r->pool, problems->nelts,
                                                 sizeof(ib_page_detail));
    const char *log = "";
    for (int i = 0; i < problems->nelts; i++) {
        const ib_attr_problem *pr = &APR_ARRAY_IDX(problems, i, ib_attr_problem);
        ib_page_detail *d = apr_array_push(details);
        d->name = pr->name;
        d->text = pr->reason;       /* fixed English text of the core, never a value */
        log = apr_pstrcat(r->pool, log, i ? "; " : "", pr->name, ": ", pr->reason, NULL);
    }
    char txid[IB_UUID_LEN];
    if (ib_uuid_v4(txid) != APR_SUCCESS) {
        apr_cpystrn(txid, "unavailable", sizeof(txid));
    }
    ib_log_event(r, APLOG_NOTICE, txid, "signin", "attribute-error", app, user, log);
    return ib_error_details_page(r, HTTP_FORBIDDEN, app->tenant, txid,
                                 IB_TEXT_ATTRIBUTE_TITLE, IB_TEXT_ATTRIBUTE_MESSAGE, details);
}

int ib_signin_complete(request_rec *r, ib_server_conf *sc, const ib_app *app,
                       const ib_pending *pr, ib_session *s, const char *user,
                       const char *state_path, int state_samesite_none)
{
    const ib_tenant *t = app->tenant;
    apr_time_t now = ib_now();
    s->tenant = t->name;
    s->app = app->kind;
    s->host = pr->host;
    s->local_port = r->connection->local_addr->port;
    s->created = s->last_seen = now;
    s->expires = now + t->session_max_age;
    const char *id = ib_random_hex(r->pool, SESSION_ID_BYTES);  /* fresh: no fixation */
    const char *record = ib_session_encode(r->pool, s);
    if (id == NULL || record == NULL || strlen(record) >= IB_SESSION_MAX_BYTES) {
        const char *reason = "the session record could not be built (too large?)";
        int rc = ib_error_page(r, HTTP_FORBIDDEN, APLOG_NOTICE, "Unable to Process Your Request",
                               "There was an unexpected error.", reason);
        ib_log_event(r, APLOG_NOTICE, apr_table_get(r->notes, "idbroker-txid"), "signin",
                     "rejected", app, user, reason);
        return rc;
    }
    apr_status_t rv = ib_cache_put(sc->cache, r->server, r->pool,
                                   ib_store_session_key(r->pool, id), record, s->expires);
    if (rv != APR_SUCCESS) {
        return ib_cache_unavailable(r, sc->cache, rv, "store the new session");
    }
    const char *previous = ib_cookie_get(r, IB_SESSION_COOKIE);
    if (previous != NULL) {
        /* A new sign-in in this browser ends the session it replaces. */
        ib_cache_remove(sc->cache, r->server, r->pool, ib_store_session_key(r->pool, previous));
    }
    if (s->name_id != NULL && strcmp(s->protocol, "saml") == 0) {
        ib_session_index_add(r, sc, t->name, s->idp, s->name_id,
                             ib_store_session_key(r->pool, id), s->expires);
    }
    ib_cookie_set(r, app, IB_SESSION_COOKIE, id, "/", -1, IB_SAMESITE_LAX);
    ib_cookie_set(r, app, ib_state_cookie_name(r->pool, pr->request_id), "", state_path, 0,
                  state_samesite_none ? IB_SAMESITE_NONE : IB_SAMESITE_LAX);
    ib_log_event(r, APLOG_NOTICE, NULL, "signin", "success", app, user, NULL);
    apr_table_setn(r->err_headers_out, "Location", pr->return_url);
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    return HTTP_SEE_OTHER;
}

/* ---- hand-off from the ACS host to the portal host (EP-7) ------------------ */

int ib_signin_hand_off(request_rec *r, ib_server_conf *sc, const ib_app *app,
                       const ib_pending *pr, ib_session *s, const char *user)
{
    apr_time_t now = ib_now();
    s->tenant = app->tenant->name;
    s->app = app->kind;
    s->host = pr->host;
    s->created = s->last_seen = now;
    s->expires = now + app->tenant->session_max_age;
    const char *handle = ib_random_hex(r->pool, HANDLE_BYTES);
    const char *record = ib_session_encode(r->pool, s);
    if (handle == NULL || record == NULL || strlen(record) >= IB_SESSION_MAX_BYTES) {
        return ib_error_page(r, HTTP_FORBIDDEN, APLOG_NOTICE, "Unable to Process Your Request",
                             "There was an unexpected error.",
                             "the hand-off record could not be built (too large?)");
    }
    /* The handle carries nothing but a name: the record stays in the store. */
    ib_handoff h = {app->tenant->name, app->kind, pr->request_id, pr->state_hash, pr->host,
                    pr->return_url, record, now + HANDOFF_LIFETIME};
    apr_status_t rv = ib_cache_put(sc->cache, r->server, r->pool,
                                   ib_store_handoff_key(r->pool, handle),
                                   ib_handoff_encode(r->pool, &h), h.expires);
    if (rv != APR_SUCCESS) {
        return ib_cache_unavailable(r, sc->cache, rv, "store the hand-off");
    }
    ib_log_event(r, APLOG_INFO, NULL, "signin", "handoff", app, user, pr->host);
    apr_table_setn(r->err_headers_out, "Location",
                   apr_pstrcat(r->pool, app->portal.url, "/saml/handoff?h=", handle, NULL));
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    return HTTP_SEE_OTHER;
}

static int handoff_refused(request_rec *r, const ib_app *app, const char *reason)
{
    int rc = ib_error_page(r, HTTP_FORBIDDEN, APLOG_NOTICE, "Unable to Process Your Request",
                           "There was an unexpected error.", reason);
    ib_log_event(r, APLOG_NOTICE, apr_table_get(r->notes, "idbroker-txid"), "signin",
                 "rejected", app, NULL, reason);
    return rc;
}

static int is_handle(const char *h)
{
    if (h == NULL || strlen(h) != 2 * HANDLE_BYTES) {
        return 0;
    }
    for (; *h; h++) {
        if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

int ib_handle_handoff(request_rec *r, const ib_app *app)
{
    ib_server_conf *sc = ib_server_conf_get(r->server);
    if (r->method_number != M_GET) {
        r->allowed = AP_METHOD_BIT << M_GET;
        return HTTP_METHOD_NOT_ALLOWED;
    }
    apr_table_t *q;
    ap_args_to_table(r, &q);
    const char *handle = apr_table_get(q, "h");
    if (!is_handle(handle)) {
        return handoff_refused(r, app, "hand-off without a valid handle");
    }
    /* Single use: taken before anything else, so a handle that fails a check
     * below is burnt too (a guessed or stolen one gets one try). */
    const char *json;
    apr_status_t rv = ib_cache_take(sc->cache, r->server, r->pool,
                                    ib_store_handoff_key(r->pool, handle), &json);
    if (ib_cache_failed(rv)) {
        return ib_cache_unavailable(r, sc->cache, rv, "redeem a hand-off");
    }
    ib_handoff h;
    ib_session s;
    if (rv != APR_SUCCESS || !ib_handoff_decode(r->pool, json, &h)
        || !ib_session_decode(r->pool, h.session, &s)) {
        return handoff_refused(r, app, "unknown or already redeemed hand-off handle");
    }
    if (strcmp(h.tenant, app->tenant->name) != 0 || strcmp(h.app, app->kind) != 0
        || strcasecmp(h.host, r->hostname) != 0) {
        return handoff_refused(r, app, "hand-off handle made for another tenant or host");
    }
    if (ib_now() >= h.expires) {
        return handoff_refused(r, app, "hand-off handle expired");
    }
    const char *state = ib_cookie_get(r, ib_state_cookie_name(r->pool, h.request_id));
    if (state == NULL || strcmp(ib_sha256_hex(r->pool, state), h.state_hash) != 0) {
        return handoff_refused(r, app, "the sign-in state cookie is missing or wrong: the "
                                       "sign-in was not started in this browser");
    }
    ib_pending pr;
    memset(&pr, 0, sizeof(pr));
    pr.request_id = h.request_id;
    pr.host = h.host;
    pr.return_url = h.return_url;
    const char *user = *s.identity.field[IB_ATTR_UPN] ? s.identity.field[IB_ATTR_UPN]
                                                      : s.name_id;
    return ib_signin_complete(r, sc, app, &pr, &s, user,
                              apr_pstrcat(r->pool, app->portal.prefix, "/saml/", NULL), 1);
}
