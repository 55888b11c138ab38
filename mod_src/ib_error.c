#include <httpd.h>
#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include "core/ib_random.h"
#include "ib_config.h"
#include "ib_error.h"

APLOG_USE_MODULE(auth_idbroker);

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

    r->status = status;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    ap_set_content_type(r, "text/html; charset=utf-8");
    if (r->header_only) {
        return DONE;
    }
    /* title and message are fixed strings from our code, escaped anyway. */
    ap_rprintf(r,
               "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>%s</title></head>\n<body>\n<h1>%s</h1>\n<p>%s</p>\n"
               "<p>Transaction ID: <code>%s</code></p>\n</body></html>\n",
               ap_escape_html(r->pool, title), ap_escape_html(r->pool, title),
               ap_escape_html(r->pool, message), txid);
    return DONE;
}
