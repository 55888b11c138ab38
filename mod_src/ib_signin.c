#include <httpd.h>
#include <string.h>

#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>

#include "core/ib_clock.h"
#include "core/ib_codec.h"
#include "core/ib_random.h"
#include "ib_error.h"
#include "ib_logout.h"
#include "ib_signin.h"
#include "ib_web.h"

APLOG_USE_MODULE(auth_idbroker);

#define SESSION_ID_BYTES 32

int ib_signin_attribute_error(request_rec *r, const ib_app *app, const char *user,
                              const apr_array_header_t *problems)
{
    const char *list = "", *log = "";
    for (int i = 0; i < problems->nelts; i++) {
        const ib_attr_problem *pr = &APR_ARRAY_IDX(problems, i, ib_attr_problem);
        list = apr_pstrcat(r->pool, list, "<li><code>", ap_escape_html(r->pool, pr->name),
                           "</code>: ", ap_escape_html(r->pool, pr->reason), "</li>\n", NULL);
        log = apr_pstrcat(r->pool, log, i ? "; " : "", pr->name, ": ", pr->reason, NULL);
    }
    char txid[IB_UUID_LEN];
    ib_uuid_v4(txid);
    ib_log_event(r, APLOG_NOTICE, txid, "signin", "attribute-error", app, user, log);
    r->status = HTTP_FORBIDDEN;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rprintf(r, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>Sign-in Attribute Error</title></head>\n<body>\n"
               "<h1>Sign-in Attribute Error</h1>\n<p>Your identity provider signed you in, "
               "but these attributes could not be used. Ask your administrator to check "
               "them:</p>\n<ul>\n%s</ul>\n<p>Transaction ID: <code>%s</code></p>\n"
               "</body></html>\n", list, txid);
    return DONE;
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
