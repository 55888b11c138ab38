/* Applying tenant directives to the model, shared by httpd's config reader
 * (mod_src glue) and the idbroker-tenant CLI's file reader, so both accept and
 * refuse exactly the same files with the same messages. */
#ifndef IB_CONF_H
#define IB_CONF_H

#include "ib_tenant.h"

typedef struct ib_conf_ctx ib_conf_ctx;

/* Receives non-fatal findings (e.g. an expired key), for the log or stderr. */
typedef void ib_conf_warn_fn(ib_conf_ctx *ctx, const char *message);

struct ib_conf_ctx {
    apr_pool_t *pool;        /* lifetime of the configuration */
    ib_registry *reg;
    ib_tenant *tenant;       /* the open <IdBrokerTenant>, or NULL */
    ib_app *app;             /* the open <IdBrokerApp>, or NULL */
    const char *file;        /* position of the directive being applied: */
    int line;                /* relative paths resolve against file's dir */
    ib_conf_warn_fn *warn;
    void *warn_baton;
};

/* Where a directive may appear. */
#define IB_IN_TENANT 1
#define IB_IN_APP 2

#define IB_SECTION_TENANT "IdBrokerTenant"
#define IB_SECTION_APP "IdBrokerApp"

void ib_conf_init(ib_conf_ctx *ctx, apr_pool_t *p, ib_registry *reg);

/* Each returns NULL or a message saying what is wrong and how to fix it. */
const char *ib_conf_begin_tenant(ib_conf_ctx *ctx, const char *name);
const char *ib_conf_end_tenant(ib_conf_ctx *ctx);
const char *ib_conf_begin_app(ib_conf_ctx *ctx, const char *kind);
const char *ib_conf_end_app(ib_conf_ctx *ctx);
const char *ib_conf_directive(ib_conf_ctx *ctx, const char *name,
                              int argc, const char *const *argv);

/* 1 when name is one of the tenant directives in ib_directives.def. */
int ib_conf_is_tenant_directive(const char *name);

/* Reads one tenant conf file (the CLI's path; httpd uses its own reader).
 * Errors come back as "FILE:LINE: message". */
const char *ib_conf_read_file(ib_conf_ctx *ctx, const char *path);

#endif
