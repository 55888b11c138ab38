/* The operator status page (LOG-5), served like mod_status: off unless a
 * <Location> sets `SetHandler idbroker-status`, and guarded by that
 * Location's ordinary Require lines, which is why it is a `handler` hook and
 * not one of the quick_handler endpoints. The document itself is built in
 * core/ib_status.c. */
#include <httpd.h>
#include <string.h>

#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include "core/ib_clock.h"
#include "core/ib_status.h"
#include "ib_config.h"
#include "ib_error.h"
#include "ib_handlers.h"
#include "ib_idp_refresh.h"

APLOG_USE_MODULE(auth_idbroker);

int ib_handle_status(request_rec *r)
{
    if (r->handler == NULL || strcmp(r->handler, IB_STATUS_HANDLER) != 0) {
        return DECLINED;
    }
    if (r->method_number != M_GET) { /* HEAD is M_GET with header_only */
        /* httpd builds Allow from allowed_methods (r->allowed alone gives
         * "Allow: TRACE") */
        r->allowed = AP_METHOD_BIT << M_GET;
        ap_allow_methods(r, REPLACE_ALLOW, "GET", "HEAD", NULL);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    const ib_registry *reg = ib_server_conf_get(r->server)->reg;
    /* Show the IdP metadata copy on disk now, as the next sign-in would. */
    for (int i = 0; i < reg->apps->nelts; i++) {
        ib_idp_settle_for_status(r, APR_ARRAY_IDX(reg->apps, i, const ib_app *));
    }
    const cJSON *doc = ib_status_json(r->pool, reg, ib_now());
    int json = ib_status_wants_json(r->args, apr_table_get(r->headers_in, "Accept"));
    const char *body = json ? ib_status_json_text(r->pool, doc) : ib_status_html(r->pool, doc);
    if (body == NULL) {
        return ib_error_page(r, HTTP_INTERNAL_SERVER_ERROR, APLOG_ERR,
                             "Unable to Process Your Request",
                             "There was an unexpected error.",
                             "status: cannot render the status document");
    }
    ap_set_content_type(r, json ? "application/json" : "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_mergen(r->headers_out, "Vary", "Accept");
    apr_size_t len = strlen(body);
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return OK;
}
