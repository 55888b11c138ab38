/* The end of every sign-in, whatever the protocol: the attribute error page,
 * and turning a checked identity into a session, cookie and redirect. The
 * SAML ACS and the OIDC callback both finish here, so the portal cannot tell
 * which protocol signed the user in. */
#ifndef IB_SIGNIN_H
#define IB_SIGNIN_H

#include <httpd.h>

#include "core/ib_store.h"
#include "ib_config.h"

/* 403 page listing attribute names and reasons (never values): the tenant's
 * IdBrokerErrorTemplate ({{details}}) or the built-in page, in the browser's
 * language (ib_strings.c); the reasons stay English (technical detail). */
int ib_signin_attribute_error(request_rec *r, const ib_app *app, const char *user,
                              const apr_array_header_t *problems);

/* Stores *s (the caller fills protocol fields and identity; tenant, host,
 * times are set here) under a fresh session ID, ends the session this browser
 * had, indexes SAML NameIDs for logout, sets the session cookie, clears the
 * sign-in's state cookie (at state_path) and redirects to the return URL. */
int ib_signin_complete(request_rec *r, ib_server_conf *sc, const ib_app *app,
                       const ib_pending *pr, ib_session *s, const char *user,
                       const char *state_path, int state_samesite_none);

/* The ACS lives on another host than the portal (EP-7): instead of a
 * session here, a single-use handle valid for 60 s that only the portal
 * host, in the browser that started the sign-in, can redeem. */
int ib_signin_hand_off(request_rec *r, ib_server_conf *sc, const ib_app *app,
                       const ib_pending *pr, ib_session *s, const char *user);

/* GET /saml/handoff?h=HANDLE on the portal host. */
int ib_handle_handoff(request_rec *r, const ib_app *app);

#endif
