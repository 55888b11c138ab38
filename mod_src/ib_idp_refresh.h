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

/* Before a request reads an app's IdP settings: notices a changed copy and
 * has it parsed in the background (the request never waits for it). */
void ib_idp_sync_for_request(request_rec *r, const ib_app *app);

/* For the status page: as above, but waits (at most IB_STATUS_PARSE_WAIT)
 * for a parse under way in this process, so the page shows the copy on disk
 * in whichever process answers. */
#define IB_STATUS_PARSE_WAIT apr_time_from_sec(10)
void ib_idp_settle_for_status(request_rec *r, const ib_app *app);

/* child_init: loads each source's copy on disk when it is not the one
 * inherited from the parent, before the child serves requests. */
void ib_idp_refresh_child_init(apr_pool_t *pchild, server_rec *s, const ib_server_conf *sc);

/* Where IdP metadata copies and fetch state live. */
const char *ib_idp_state_dir(apr_pool_t *p, const ib_server_conf *sc);

#endif
