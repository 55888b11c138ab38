/* Error pages and the log line that goes with each (ERR-1, ERR-3): the
 * browser gets a plain page with a Transaction ID and nothing else; the log
 * gets the same ID with the precise reason. */
#ifndef IB_ERROR_H
#define IB_ERROR_H

#include <httpd.h>

/* Logs "txid=... reason" at `level` and sends a plain HTML page with
 * `status`, a short title and message (fixed text, never request data), and
 * the Transaction ID. Returns DONE: the response is complete, whichever
 * hook (quick_handler, check_user_id) sends it. */
int ib_error_page(request_rec *r, int status, int level, const char *title,
                  const char *message, const char *reason);

#endif
