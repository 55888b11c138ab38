/* Error pages and the log line that goes with each (ERR-1, ERR-3): the
 * browser gets a plain page with a Transaction ID and nothing else; the log
 * gets the same ID with the precise reason. */
#ifndef IB_ERROR_H
#define IB_ERROR_H

#include <httpd.h>

#include "core/ib_tenant.h"

/* r->notes key: the tenant (its name) a request turned out to be for. Set by
 * ib_log_event for its app; a handler that knows the tenant before it sends
 * an error page (e.g. a shared ACS once the pending request named the app)
 * may set it too, so the page is that tenant's. */
#define IB_NOTE_TENANT "idbroker-tenant"

/* Logs "txid=... reason" at `level` and sends an HTML page with `status`, a
 * short title and message (fixed text, never request data), and the
 * Transaction ID. Returns DONE: the response is complete, whichever hook
 * (quick_handler, check_user_id) sends it.
 *
 * The texts come from the table of ib_strings.c, in the language the
 * browser prefers (title and message are its English keys). The page is the
 * tenant's IdBrokerErrorTemplate when the request's tenant is known: the
 * IB_NOTE_TENANT note, else the location's IdBrokerUseTenant, else the one
 * tenant whose apps serve the request's host, port and path. When several
 * tenants share that host and path (a shared SAML host, EID-6) and none of
 * the first two says which, the built-in page is shown: no tenant's look or
 * support contact reaches another tenant's users. */
int ib_error_page(request_rec *r, int status, int level, const char *title,
                  const char *message, const char *reason);

/* The same page, in the same language and template, with a list after the
 * message (details: ib_page_detail; the template's {{details}}), for a
 * caller that has logged and audited the attempt itself under `txid`
 * (ib_log_event): nothing is logged here. The page is `tenant`'s (the caller
 * knows it); NULL = the built-in page. Returns DONE. */
int ib_error_details_page(request_rec *r, int status, const ib_tenant *tenant,
                          const char *txid, const char *title, const char *message,
                          const apr_array_header_t *details);

#endif
