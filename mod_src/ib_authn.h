#ifndef IB_AUTHN_H
#define IB_AUTHN_H

#include <httpd.h>

int ib_strip_identity_headers(request_rec *r);
int ib_check_user_id(request_rec *r);
void ib_register_authz(apr_pool_t *p);

#include "core/ib_store.h"
#include "ib_config.h"

/* The request's session for `app` (its tenant, host and port), or 0 with
 * the reason. Expired sessions are removed. */
/* *why of ib_session_load when the store itself failed (503, not sign-in). */
extern const char ib_session_store_down[];

int ib_session_load(request_rec *r, ib_server_conf *sc, const ib_app *app,
                    ib_session *s, const char **why);

#endif
