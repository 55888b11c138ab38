#include <httpd.h>
#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>

#include "core/ib_clock.h"
#include "core/ib_metadata.h"
#include "ib_config.h"
#include "ib_error.h"
#include "ib_handlers.h"

APLOG_USE_MODULE(auth_idbroker);

/* Long enough that polling IdPs are not a load, short enough that a key in
 * its advertisement phase (30 days) is picked up many times over (MD-7). */
#define IB_METADATA_MAX_AGE "public, max-age=3600"

int ib_handle_metadata(request_rec *r, const ib_app *app)
{
    if (r->method_number != M_GET) { /* HEAD is M_GET with header_only */
        r->allowed = AP_METHOD_BIT << M_GET; /* httpd builds Allow from this */
        return HTTP_METHOD_NOT_ALLOWED;
    }
    const char *xml;
    apr_size_t len;
    const char *err = ib_metadata_sp_xml(r->pool, app, ib_now(), &xml, &len);
    if (err != NULL) {
        return ib_error_page(r, HTTP_INTERNAL_SERVER_ERROR, APLOG_ERR,
                             "Unable to Process Your Request",
                             "There was an unexpected error.",
                             apr_psprintf(r->pool, "tenant=%s app=%s metadata: %s",
                                          app->tenant->name, app->kind, err));
    }
    ap_set_content_type(r, IB_METADATA_CONTENT_TYPE);
    apr_table_setn(r->headers_out, "Cache-Control", IB_METADATA_MAX_AGE);
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(xml, (int)len, r);
    }
    return OK;
}
