/* Small HTTP helpers for the glue: cookies with the attributes the SPEC
 * asks for (SESS-6), the sign-in log line (LOG-4), identity export. */
#ifndef IB_WEB_H
#define IB_WEB_H

#include <httpd.h>

#include "core/ib_store.h"
#include "core/ib_tenant.h"

#define IB_SESSION_COOKIE "idbroker_session"
#define IB_STATE_COOKIE_PREFIX "idbroker_state_"

typedef enum { IB_SAMESITE_LAX, IB_SAMESITE_NONE } ib_samesite;

const char *ib_cookie_get(request_rec *r, const char *name);

/* Host-only, HttpOnly; Secure when the app's base URL is https. max_age < 0
 * makes a browser-session cookie, 0 deletes it. SameSite=None needs Secure,
 * so on a plain-http (loopback test) base it degrades to Lax. */
void ib_cookie_set(request_rec *r, const ib_app *app, const char *name, const char *value,
                   const char *path, long max_age, ib_samesite samesite);

/* The state cookie's name for a request ID: one per sign-in in flight, so
 * two tabs signing in at once do not overwrite each other. */
const char *ib_state_cookie_name(apr_pool_t *p, const char *request_id);

/* One structured line per sign-in attempt or logout (LOG-4, ERR-3), in the
 * error log always and, with IdBrokerAuditLog, in the audit log (ib_audit.h;
 * detail outcomes such as "hint" stay out of it). */
void ib_log_event(request_rec *r, int level, const char *txid, const char *event,
                  const char *outcome, const ib_app *app, const char *user,
                  const char *reason);

/* REMOTE_USER, IDBROKER_* variables and, with a prefix, request headers. */
void ib_export_identity(request_rec *r, const ib_session *s, const char *remote_user_field,
                        const char *header_prefix);

#endif
