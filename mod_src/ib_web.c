#include <httpd.h>
#include <pthread.h>
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

/* "IDBROKER_<field>" for every identity field, made once per process:
 * building them for every protected request was a measurable share of it. */
#define ENV_NAME_MAX 64
static char field_env_names[IB_ATTR_COUNT][ENV_NAME_MAX];
static pthread_once_t field_env_once = PTHREAD_ONCE_INIT;

static void make_field_env_names(void)
{
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        apr_snprintf(field_env_names[i], ENV_NAME_MAX, "IDBROKER_%s", ib_attr_field_names[i]);
    }
}

/* Where the identity goes. Every name we export is distinct (ignoring
 * case); when a table holds none under our prefix yet, adding is setting and
 * skips apr_table_setn's scan, which compares every "IDBROKER_..." entry
 * (they share apr_table's four-character checksum). Otherwise set semantics:
 * any earlier value goes. The values live in r->pool (the session was loaded
 * there), so the tables take them without a copy. */
typedef struct exporter {
    request_rec *r;
    const char *header_prefix;
    int env_fresh;
    int headers_fresh;
} exporter;

static int holds_prefix(const apr_table_t *t, const char *prefix)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_size_t n = strlen(prefix);
    for (int i = 0; i < arr->nelts; i++) {
        if (e[i].key != NULL && strncasecmp(e[i].key, prefix, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static void export_named(const exporter *x, const char *env_name, const char *name,
                         const char *value)
{
    request_rec *r = x->r;
    if (value == NULL) {
        value = "";
    }
    (x->env_fresh ? apr_table_addn : apr_table_setn)(r->subprocess_env, env_name, value);
    if (x->header_prefix != NULL) {
        (x->headers_fresh ? apr_table_addn : apr_table_setn)(
            r->headers_in, apr_pstrcat(r->pool, x->header_prefix, name, NULL), value);
    }
}

/* For a literal name: its environment name made by the compiler. */
#define export_one(x, name, value) export_named((x), "IDBROKER_" name, (name), (value))

void ib_export_identity(request_rec *r, const ib_session *s, const char *remote_user_field,
                        const char *header_prefix)
{
    const char *user = NULL;
    pthread_once(&field_env_once, make_field_env_names);
    exporter x = {r, header_prefix, !holds_prefix(r->subprocess_env, "IDBROKER_"),
                  header_prefix == NULL || !holds_prefix(r->headers_in, header_prefix)};
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        export_named(&x, field_env_names[i], ib_attr_field_names[i], s->identity.field[i]);
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
    export_one(&x, "tenant", s->tenant);
    export_one(&x, "protocol", s->protocol);
    export_one(&x, "idp", s->idp);
    export_one(&x, "nameid", s->name_id);
    export_one(&x, "nameid_format", s->name_id_format);
    if (s->identity.azuread) {
        export_one(&x, "cip_directory", "azuread");
        export_one(&x, "cip_fed_upn", s->identity.fed_upn);
    }
}
