/* httpd side of the configuration: the module's server config and the
 * directive table. Tenant semantics live in core/ib_conf.c. */
#ifndef IB_CONFIG_H
#define IB_CONFIG_H

#include <httpd.h>
#include <http_config.h>

#include "core/ib_conf.h"

typedef struct ib_server_conf {
    ib_registry *reg;     /* shared by the main server and every vhost */
    ib_conf_ctx parse;    /* reader state while the config is being read */
} ib_server_conf;

extern module AP_MODULE_DECLARE_DATA auth_idbroker_module;
extern const command_rec ib_directives[];

void *ib_create_server_conf(apr_pool_t *p, server_rec *s);
void *ib_merge_server_conf(apr_pool_t *p, void *base, void *add);

ib_server_conf *ib_server_conf_get(const server_rec *s);

#endif
