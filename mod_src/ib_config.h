/* httpd side of the configuration: the module's server config and the
 * directive table. Tenant semantics live in core/ib_conf.c. */
#ifndef IB_CONFIG_H
#define IB_CONFIG_H

#include <httpd.h>
#include <http_config.h>

#include "core/ib_conf.h"
#include "core/ib_saml.h"
#include "ib_audit.h"
#include "ib_cache.h"

typedef struct ib_server_conf {
    ib_registry *reg;     /* shared by the main server and every vhost */
    ib_conf_ctx parse;    /* reader state while the config is being read */
    ib_cache *cache;      /* shared by the main server and every vhost */
    apr_hash_t *saml_sps; /* ib_app* -> ib_saml_sp*, made at post_config */
    const char *state_dir; /* IdBrokerStateDir; NULL = runtime dir default */
    ib_audit_conf *audit;  /* IdBrokerAuditLog, IdBrokerTrustedProxy; NULL = none */
} ib_server_conf;

/* Per-directory settings for protected locations. */
typedef struct ib_dir_conf {
    const char *section;        /* the <Location>/<Directory> path it came from */
    const char *tenant;         /* IdBrokerUseTenant; NULL = by host */
    const char *remote_user;    /* identity field for REMOTE_USER */
    const char *header_prefix;  /* NULL = no identity headers */
    int header_prefix_set;
} ib_dir_conf;

void *ib_create_dir_conf(apr_pool_t *p, char *dir);
void *ib_merge_dir_conf(apr_pool_t *p, void *base, void *add);
ib_saml_sp *ib_saml_sp_for(const ib_server_conf *sc, const ib_app *app);

extern module AP_MODULE_DECLARE_DATA auth_idbroker_module;
extern const command_rec ib_directives[];

void *ib_create_server_conf(apr_pool_t *p, server_rec *s);
void *ib_merge_server_conf(apr_pool_t *p, void *base, void *add);

ib_server_conf *ib_server_conf_get(const server_rec *s);

/* Resets the list of IdBrokerHeaderPrefix values before a configuration read. */
void ib_config_pre_config(apr_pool_t *pconf);
/* Every IdBrokerHeaderPrefix value of the configuration (const char *). */
const apr_array_header_t *ib_config_header_prefixes(void);

#endif
