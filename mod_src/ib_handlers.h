/* The SP endpoints (EP-1), one handler per endpoint family. Each receives the
 * app the request's host and path selected. */
#ifndef IB_HANDLERS_H
#define IB_HANDLERS_H

#include <httpd.h>

#include "core/ib_tenant.h"

int ib_handle_metadata(request_rec *r, const ib_app *app);
int ib_handle_acs(request_rec *r, const ib_app *app);
int ib_handle_logout(request_rec *r, const ib_app *app);
int ib_handle_logout_callback(request_rec *r, const ib_app *app);
int ib_handle_oidc_callback(request_rec *r, const ib_app *app);

/* The operator status page: an ordinary `handler` hook (so <Location> and
 * Require apply), active only where SetHandler idbroker-status is set. */
#define IB_STATUS_HANDLER "idbroker-status"
int ib_handle_status(request_rec *r);

/* Tenant choice before sign-in (/go/<identifier> and the identifier form):
 * a `handler` hook, active where SetHandler idbroker-signin is set. */
#define IB_SIGNIN_HANDLER "idbroker-signin"
int ib_handle_signin_choice(request_rec *r);

/* The quick_handler hook: finds whether a request is for one of our
 * endpoints and dispatches it; DECLINED for everything else. */
int ib_endpoint_dispatch(request_rec *r, int lookup_uri);

#endif
