/* Session index for IdP-initiated logout: (tenant, IdP, NameID) -> the
 * session keys of that user, so a LogoutRequest ends them without a scan. */
#ifndef IB_LOGOUT_H
#define IB_LOGOUT_H

#include <httpd.h>

#include "ib_config.h"

void ib_session_index_add(request_rec *r, ib_server_conf *sc, const char *tenant,
                          const char *idp, const char *name_id, const char *session_key,
                          apr_time_t expires);

#endif
