/* Choosing a tenant before sign-in (TEN-1, TEN-2): `/go/<identifier>`, and a
 * small form that asks for the identifier. Enabled where the operator puts
 * `SetHandler idbroker-signin` (e.g. <Location /go>). A known identifier
 * sends the browser to its tenant's portal, which starts the sign-in; an
 * unknown one gets the same page whatever was typed, so the page tells
 * nobody which tenants exist. */
#include <httpd.h>
#include <string.h>

#include <apr_strings.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <util_script.h>

#include "ib_config.h"
#include "ib_error.h"
#include "ib_handlers.h"

APLOG_USE_MODULE(auth_idbroker);

#define IDENTIFIER_MAX 64

static int form_page(request_rec *r, const char *action, int status, const char *notice)
{
    r->status = status;
    ap_set_content_type(r, "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rprintf(r, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>Sign in with your company account</title></head>\n<body>\n"
               "<h1>Sign in with your company account</h1>\n%s"
               "<form method=\"post\" action=\"%s\">\n"
               "<label for=\"identifier\">Sign-in identifier</label>\n"
               "<input id=\"identifier\" name=\"identifier\" maxlength=\"%d\" "
               "autocomplete=\"organization\" required>\n"
               "<button type=\"submit\">Continue</button>\n</form>\n</body></html>\n",
               notice ? notice : "", ap_escape_html(r->pool, action), IDENTIFIER_MAX);
    return OK;
}

static const ib_tenant *tenant_of(const ib_server_conf *sc, apr_pool_t *p, const char *id)
{
    if (id == NULL || *id == '\0' || strlen(id) > IDENTIFIER_MAX) {
        return NULL;
    }
    char *lower = apr_pstrdup(p, id);
    ap_str_tolower(lower);
    return apr_hash_get(sc->reg->by_signin_id, lower, APR_HASH_KEY_STRING);
}

static int go(request_rec *r, const char *action, const char *identifier)
{
    const ib_server_conf *sc = ib_server_conf_get(r->server);
    const ib_tenant *t = tenant_of(sc, r->pool, identifier);
    if (t == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "mod_auth_idbroker: sign-in identifier "
                      "not found (%" APR_SIZE_T_FMT " characters)", identifier ? strlen(identifier) : 0);
        return form_page(r, action, HTTP_NOT_FOUND,
                         "<p role=\"alert\">We could not find a sign-in for that "
                         "identifier. Check it with your administrator.</p>\n");
    }
    /* The portal's protected pages start the sign-in at the tenant's IdP. */
    apr_table_setn(r->headers_out, "Location",
                   apr_pstrcat(r->pool, t->primary->portal.url, "/", NULL));
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    return HTTP_SEE_OTHER;
}

static const char *posted_identifier(request_rec *r)
{
    apr_array_header_t *pairs = NULL;
    if (ap_parse_form_data(r, NULL, &pairs, 4, 1024) != OK || pairs == NULL) {
        return NULL;
    }
    for (int i = 0; i < pairs->nelts; i++) {
        ap_form_pair_t *f = &APR_ARRAY_IDX(pairs, i, ap_form_pair_t);
        if (strcmp(f->name, "identifier") != 0) {
            continue;
        }
        apr_off_t len = 0;
        apr_brigade_length(f->value, 1, &len);
        if (len < 0 || len > IDENTIFIER_MAX + 16) {
            return NULL;
        }
        apr_size_t size = (apr_size_t)len;
        char *buf = apr_palloc(r->pool, size + 1);
        apr_brigade_flatten(f->value, buf, &size);
        buf[size] = '\0';
        char *trimmed = apr_palloc(r->pool, size + 1);
        apr_collapse_spaces(trimmed, buf);     /* people paste with spaces */
        return trimmed;
    }
    return NULL;
}

int ib_handle_signin_choice(request_rec *r)
{
    if (r->handler == NULL || strcmp(r->handler, IB_SIGNIN_HANDLER) != 0) {
        return DECLINED;
    }
    ib_dir_conf *dc = ap_get_module_config(r->per_dir_config, &auth_idbroker_module);
    const char *base = dc && dc->section ? dc->section : "/go";
    apr_size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/') {
        n--;
    }
    const char *rest = strncmp(r->uri, base, n) == 0 ? r->uri + n : "";
    const char *action = apr_pstrndup(r->pool, base, n);
    if (r->method_number == M_POST) {
        return go(r, action, posted_identifier(r));
    }
    if (r->method_number != M_GET) {
        r->allowed = (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (*rest == '/') {
        rest++;
    }
    if (*rest == '\0') {
        return form_page(r, action, HTTP_OK, NULL);
    }
    if (strchr(rest, '/') != NULL) {
        return go(r, action, NULL);
    }
    return go(r, action, rest);
}
