/* IdP metadata sources in httpd (IDPCERT-7): backing files under
 * IdBrokerStateDir, a child-singleton watchdog that refreshes them on
 * schedule and runs the daily expiry check, and the per-request sync that
 * makes every process use a new copy from its next request on. */
#ifndef IB_IDP_REFRESH_H
#define IB_IDP_REFRESH_H

#include <httpd.h>

#include "ib_config.h"

/* post_config: prepares every source, loads the copies on disk, registers
 * the watchdog. Returns OK or an httpd error status (already logged). */
int ib_idp_refresh_post_config(apr_pool_t *pconf, server_rec *s, ib_server_conf *sc);

/* Before a request reads an app's IdP settings: loads a changed copy. */
void ib_idp_sync_for_request(request_rec *r, const ib_app *app);

/* Where IdP metadata copies and fetch state live. */
const char *ib_idp_state_dir(apr_pool_t *p, const ib_server_conf *sc);

#endif
