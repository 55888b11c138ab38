#include <httpd.h>
#include <string.h>

#include <apr_strings.h>
#include <http_core.h>
#include <http_log.h>
#include <util_cookies.h>

#include "ib_audit.h"
#include "ib_error.h"
#include "ib_web.h"

APLOG_USE_MODULE(auth_idbroker);

const char *ib_cookie_get(request_rec *r, const char *name)
{
    const char *value = NULL;
    if (ap_cookie_read(r, name, &value, 0) != APR_SUCCESS) {
        return NULL;
    }
    return value;
}

void ib_cookie_set(request_rec *r, const ib_app *app, const char *name, const char *value,
                   const char *path, long max_age, ib_samesite samesite)
{
    int secure = strcmp(ib_app_base_for_host(app, r->hostname)->scheme, "https") == 0;
    const char *site = samesite == IB_SAMESITE_NONE && secure ? "None" : "Lax";
    const char *cookie = apr_psprintf(r->pool, "%s=%s; Path=%s; HttpOnly; SameSite=%s%s%s",
                                      name, value, path, site, secure ? "; Secure" : "",
                                      max_age >= 0 ? apr_psprintf(r->pool, "; Max-Age=%ld",
                                                                  max_age) : "");
    apr_table_addn(r->err_headers_out, "Set-Cookie", cookie);
}

const char *ib_state_cookie_name(apr_pool_t *p, const char *request_id)
{
    return apr_pstrcat(p, IB_STATE_COOKIE_PREFIX,
                       apr_pstrndup(p, ib_sha256_hex(p, request_id), 16), NULL);
}

void ib_log_event(request_rec *r, int level, const char *txid, const char *event,
                  const char *outcome, const ib_app *app, const char *user,
                  const char *reason)
{
    ap_log_rerror(APLOG_MARK, level, 0, r,
                  "txid=%s event=%s outcome=%s tenant=%s app=%s idp=\"%s\" client=%s "
                  "user=\"%s\" reason=\"%s\"", txid ? txid : "-", event, outcome,
                  app ? app->tenant->name : "-", app ? app->kind : "-",
                  app && ib_app_idp(app)->entity_id ? ib_app_idp(app)->entity_id : "-", r->useragent_ip,
                  user ? ap_escape_logitem(r->pool, user) : "-",
                  reason ? ap_escape_logitem(r->pool, reason) : "-");
    if (app != NULL) {
        /* An error page later in this request is the tenant's (ib_error.h). */
        apr_table_setn(r->notes, IB_NOTE_TENANT, app->tenant->name);
    }
    ib_audit_event(r, txid, event, outcome, app, user, reason);
}

static void export_one(request_rec *r, const char *name, const char *value,
                       const char *header_prefix)
{
    if (value == NULL) {
        value = "";
    }
    apr_table_set(r->subprocess_env, apr_pstrcat(r->pool, "IDBROKER_", name, NULL), value);
    if (header_prefix != NULL) {
        apr_table_set(r->headers_in, apr_pstrcat(r->pool, header_prefix, name, NULL), value);
    }
}

void ib_export_identity(request_rec *r, const ib_session *s, const char *remote_user_field,
                        const char *header_prefix)
{
    const char *user = NULL;
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        export_one(r, ib_attr_field_names[i], s->identity.field[i], header_prefix);
        if (remote_user_field && strcmp(remote_user_field, ib_attr_field_names[i]) == 0) {
            user = s->identity.field[i];
        }
    }
    if (user == NULL || *user == '\0') {
        /* A SID-only identity still needs a stable user name. */
        user = *s->identity.field[IB_ATTR_UPN] ? s->identity.field[IB_ATTR_UPN]
               : *s->identity.field[IB_ATTR_SID] ? s->identity.field[IB_ATTR_SID]
               : s->identity.fed_upn ? s->identity.fed_upn : s->name_id;
    }
    r->user = apr_pstrdup(r->pool, user ? user : "");
    export_one(r, "tenant", s->tenant, header_prefix);
    export_one(r, "protocol", s->protocol, header_prefix);
    export_one(r, "idp", s->idp, header_prefix);
    export_one(r, "nameid", s->name_id, header_prefix);
    export_one(r, "nameid_format", s->name_id_format, header_prefix);
    if (s->identity.azuread) {
        export_one(r, "cip_directory", "azuread", header_prefix);
        export_one(r, "cip_fed_upn", s->identity.fed_upn, header_prefix);
    }
}
