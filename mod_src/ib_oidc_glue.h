/* OpenID Connect in httpd: starting a sign-in and the provider caches. The
 * redirect URI's handler is ib_handle_oidc_callback (ib_handlers.h). */
#ifndef IB_OIDC_GLUE_H
#define IB_OIDC_GLUE_H

#include <httpd.h>

#include "core/ib_store.h"
#include "ib_config.h"

/* 303 to the provider's authorization endpoint (or an error page). */
int ib_oidc_start_signin(request_rec *r, ib_server_conf *sc, const ib_app *app,
                         const char *return_url);

/* RP-initiated logout after the local session ended: to the provider's
 * end_session_endpoint with id_token_hint and post_logout_redirect_uri, or
 * straight to target when it has none (logged). */
int ib_oidc_logout(request_rec *r, const ib_app *app, const ib_session *s, const char *target);

/* post_config: a provider cache per OIDC app, filled before the fork. */
void ib_oidc_post_config(apr_pool_t *pconf, server_rec *s, const ib_registry *reg);

#endif
