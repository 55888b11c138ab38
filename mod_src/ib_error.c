#include <httpd.h>
#include <string.h>

#include <apr_strings.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include "core/ib_clock.h"
#include "core/ib_pages.h"
#include "core/ib_random.h"
#include "ib_audit.h"
#include "ib_config.h"
#include "ib_error.h"
#include "ib_strings.h"

APLOG_USE_MODULE(auth_idbroker);

static int under_prefix(const char *uri, const char *prefix)
{
    apr_size_t n = strlen(prefix);
    return n == 0 || (strncmp(uri, prefix, n) == 0 && (uri[n] == '/' || uri[n] == '\0'));
}

/* Adds app to the candidates unless there; *tenant becomes NULL once two
 * tenants are among them, *app once two apps are. */
static void candidate(const ib_app *app, int *n, const ib_tenant **tenant,
                      const ib_app **unique)
{
    if (*n == 0) {
        *tenant = app->tenant;
        *unique = app;
    } else {
        if (*tenant != app->tenant) {
            *tenant = NULL;
        }
        if (*unique != app) {
            *unique = NULL;
        }
    }
    (*n)++;
}

/* The tenant (and, when that is certain, the app) an error page is for; see
 * ib_error.h. Never a guess among several tenants. */
static const ib_tenant *page_tenant(request_rec *r, const ib_server_conf *sc,
                                    const ib_app **app)
{
    const char *name = apr_table_get(r->notes, IB_NOTE_TENANT);
    if (name == NULL && r->per_dir_config != NULL) {
        const ib_dir_conf *dc = ap_get_module_config(r->per_dir_config, &auth_idbroker_module);
        name = dc ? dc->tenant : NULL;
    }
    const ib_tenant *named = name ? apr_hash_get(sc->reg->by_name, name, APR_HASH_KEY_STRING)
                                  : NULL;
    const ib_tenant *tenant = NULL;
    int n = 0;
    *app = NULL;
    if (r->hostname != NULL) {
        char *host = apr_pstrdup(r->pool, r->hostname);
        ap_str_tolower(host);
        apr_port_t port = r->parsed_uri.port_str ? r->parsed_uri.port : 0;
        const apr_array_header_t *apps = ib_registry_apps_on_host(sc->reg, host);
        for (int i = 0; apps && i < apps->nelts; i++) {
            const ib_app *a = APR_ARRAY_IDX(apps, i, const ib_app *);
            if ((named == NULL || a->tenant == named) && ib_app_port_matches(a, port)
                && under_prefix(r->uri, a->sp_base.prefix)) {
                candidate(a, &n, &tenant, app);
            }
        }
        apps = ib_registry_apps_on_portal_host(sc->reg, host);
        for (int i = 0; apps && i < apps->nelts; i++) {
            const ib_app *a = APR_ARRAY_IDX(apps, i, const ib_app *);
            if ((named == NULL || a->tenant == named) && ib_base_port_matches(&a->portal, port)
                && under_prefix(r->uri, a->portal.prefix)) {
                candidate(a, &n, &tenant, app);
            }
        }
    }
    if (named != NULL) {
        return named;       /* its app when the host names one of its apps */
    }
    return n > 0 ? tenant : NULL;
}

/* Headers and body of an error page: the tenant's template when it has one,
 * else the built-in page. details (ib_page_detail, may be NULL) is the
 * page's list; a template without {{details}} gets it as text after the
 * message, so no tenant's page hides what the administrator must fix. */
static int send_page(request_rec *r, int status, const ib_tenant *tenant, const char *txid,
                     const ib_page_text *text, const apr_array_header_t *details)
{
    r->status = status;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_mergen(r->headers_out, "Vary", "Accept-Language");
    ap_set_content_type(r, "text/html; charset=utf-8");
    if (r->header_only) {
        return DONE;
    }
    int has_details = details != NULL && details->nelts > 0;
    const ib_tenant_pages *pages = tenant ? tenant->pages : NULL;
    if (pages != NULL && pages->tpl != NULL) {
        char when[IB_UTC_TIME_LEN];
        ib_time_format_utc(ib_now(), when);
        const char *message = text->message;
        if (has_details && !ib_page_template_uses(pages->tpl, IB_PAGE_DETAILS)) {
            message = apr_pstrcat(r->pool, message, " ",
                                  ib_page_details_text(r->pool, details), NULL);
        }
        const char *values[IB_PAGE_N_FIELDS] = {
            [IB_PAGE_TITLE] = text->title, [IB_PAGE_MESSAGE] = message,
            [IB_PAGE_TXID] = txid, [IB_PAGE_TIME] = when,
            [IB_PAGE_REASON_CLASS] = text->page_class, [IB_PAGE_SUPPORT] = pages->support,
            [IB_PAGE_LANG] = text->lang,
        };
        ap_rputs(ib_page_render_details(r->pool, pages->tpl, values, details), r);
        return DONE;
    }
    /* title and message are fixed strings from our code, escaped anyway. */
    ap_rprintf(r,
               "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
               "<title>%s</title></head>\n<body>\n<h1>%s</h1>\n<p>%s</p>\n%s"
               "<p>%s: <code>%s</code></p>\n", text->lang,
               ap_escape_html(r->pool, text->title), ap_escape_html(r->pool, text->title),
               ap_escape_html(r->pool, text->message), ib_page_details_html(r->pool, details),
               text->txid_label, txid);
    if (pages != NULL && pages->support != NULL) {
        ap_rprintf(r, "<p>%s: %s</p>\n", text->support_label,
                   ap_escape_html(r->pool, pages->support));
    }
    ap_rputs("</body></html>\n", r);
    return DONE;
}

int ib_error_page(request_rec *r, int status, int level, const char *title,
                  const char *message, const char *reason)
{
    char txid[IB_UUID_LEN];
    if (ib_uuid_v4(txid) != APR_SUCCESS) {
        apr_cpystrn(txid, "unavailable", sizeof(txid));
    }
    ap_log_rerror(APLOG_MARK, level, 0, r, "txid=%s status=%d client=%s %s",
                  txid, status, r->useragent_ip, reason);
    apr_table_setn(r->notes, "idbroker-txid", apr_pstrdup(r->pool, txid));

    const ib_server_conf *sc = ib_server_conf_get(r->server);
    const ib_app *app = NULL;
    const ib_tenant *tenant = page_tenant(r, sc, &app);
    ib_page_text text;
    ib_page_text_for(r->pool, title, message, apr_table_get(r->headers_in, "Accept-Language"),
                     &text);
    ib_audit_page(r, txid, status, text.page_class, tenant, app, reason);
    return send_page(r, status, tenant, txid, &text, NULL);
}

int ib_error_details_page(request_rec *r, int status, const ib_tenant *tenant,
                          const char *txid, const char *title, const char *message,
                          const apr_array_header_t *details)
{
    ib_page_text text;
    ib_page_text_for(r->pool, title, message, apr_table_get(r->headers_in, "Accept-Language"),
                     &text);
    return send_page(r, status, tenant, txid, &text, details);
}
