#include <httpd.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <http_log.h>

#include "ib_config.h"

APLOG_USE_MODULE(auth_idbroker);

void *ib_create_server_conf(apr_pool_t *p, server_rec *s)
{
    ib_server_conf *sc = apr_pcalloc(p, sizeof(*sc));
    sc->reg = ib_registry_make(p);
    sc->cache = apr_pcalloc(p, sizeof(ib_cache));
    sc->saml_sps = apr_hash_make(p);
    ib_conf_init(&sc->parse, p, sc->reg);
    return sc;
}

void *ib_merge_server_conf(apr_pool_t *p, void *base, void *add)
{
    /* Tenants are global (GLOBAL_ONLY below): every vhost sees the main
     * server's registry and routes by the SP base URL's host. */
    ib_server_conf *merged = apr_pmemdup(p, add, sizeof(ib_server_conf));
    merged->reg = ((ib_server_conf *)base)->reg;
    merged->cache = ((ib_server_conf *)base)->cache;
    merged->saml_sps = ((ib_server_conf *)base)->saml_sps;
    merged->state_dir = ((ib_server_conf *)base)->state_dir;
    merged->audit = ((ib_server_conf *)base)->audit;
    return merged;
}

ib_server_conf *ib_server_conf_get(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &auth_idbroker_module);
}

static void log_config_warning(ib_conf_ctx *ctx, const char *message)
{
    server_rec *s = ctx->warn_baton;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "%s:%d: %s",
                 ctx->file ? ctx->file : "?", ctx->line, message);
}

/* Points the core's reader state at the directive being applied, so its
 * messages and relative paths refer to the right file and line. */
static ib_conf_ctx *reader_at(cmd_parms *cmd)
{
    ib_server_conf *sc = ib_server_conf_get(cmd->server);
    sc->parse.pool = cmd->pool;
    sc->parse.file = cmd->directive->filename;
    sc->parse.line = cmd->directive->line_num;
    sc->parse.warn = log_config_warning;
    sc->parse.warn_baton = cmd->server;
    return &sc->parse;
}

/* "<IdBrokerTenant acme>" arrives as "acme>". */
static const char *section_argument(cmd_parms *cmd, const char *arg, const char **out)
{
    const char *end = ap_strrchr_c(arg, '>');
    if (end == NULL) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, "> section lacks its closing '>'", NULL);
    }
    const char *inner = apr_pstrndup(cmd->temp_pool, arg, (apr_size_t)(end - arg));
    *out = ap_getword_conf(cmd->temp_pool, &inner);
    if (*inner != '\0') {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, "> takes one name", NULL);
    }
    return NULL;
}

static const char *walk_section(cmd_parms *cmd, ib_conf_ctx *ctx)
{
    const char *err = ap_walk_config(cmd->directive->first_child, cmd, cmd->context);
    if (err != NULL) {
        ctx->tenant = NULL; /* leave no half-read tenant for the next section */
        ctx->app = NULL;
    }
    return err;
}

static const char *cmd_tenant_section(cmd_parms *cmd, void *mconfig, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *name = NULL;
    if (err == NULL) {
        err = section_argument(cmd, arg, &name);
    }
    if (err != NULL) {
        return err;
    }
    ib_conf_ctx *ctx = reader_at(cmd);
    err = ib_conf_begin_tenant(ctx, name);
    if (err == NULL) {
        err = walk_section(cmd, ctx);
    }
    if (err == NULL) {
        reader_at(cmd);
        err = ib_conf_end_tenant(ctx);
    }
    return err;
}

static const char *cmd_app_section(cmd_parms *cmd, void *mconfig, const char *arg)
{
    const char *kind = NULL;
    const char *err = section_argument(cmd, arg, &kind);
    if (err != NULL) {
        return err;
    }
    ib_conf_ctx *ctx = reader_at(cmd);
    err = ib_conf_begin_app(ctx, kind);
    if (err == NULL) {
        err = walk_section(cmd, ctx);
    }
    if (err == NULL) {
        reader_at(cmd);
        err = ib_conf_end_app(ctx);
    }
    return err;
}

static const char *cmd_tenant_directive(cmd_parms *cmd, void *mconfig,
                                        int argc, char *const argv[])
{
    ib_conf_ctx *ctx = reader_at(cmd);
    return ib_conf_directive(ctx, cmd->cmd->name, argc, (const char *const *)argv);
}

ib_saml_sp *ib_saml_sp_for(const ib_server_conf *sc, const ib_app *app)
{
    return apr_hash_get(sc->saml_sps, &app, sizeof(app));
}

void *ib_create_dir_conf(apr_pool_t *p, char *dir)
{
    ib_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));
    dc->section = dir ? apr_pstrdup(p, dir) : NULL;
    return dc;
}

void *ib_merge_dir_conf(apr_pool_t *p, void *base_, void *add_)
{
    ib_dir_conf *base = base_, *add = add_;
    ib_dir_conf *m = apr_pcalloc(p, sizeof(*m));
    m->section = add->section ? add->section : base->section;
    m->tenant = add->tenant ? add->tenant : base->tenant;
    m->remote_user = add->remote_user ? add->remote_user : base->remote_user;
    m->header_prefix_set = add->header_prefix_set || base->header_prefix_set;
    m->header_prefix = add->header_prefix_set ? add->header_prefix : base->header_prefix;
    return m;
}

static const char *cmd_session_cache(cmd_parms *cmd, void *mconfig, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err != NULL) {
        return err;
    }
    return ib_cache_configure(cmd->pool, ib_server_conf_get(cmd->server)->cache, arg);
}

static const char *cmd_store_key(cmd_parms *cmd, void *mconfig, const char *id,
                                 const char *path)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err != NULL) {
        return err;
    }
    return ib_cache_add_seal_key(cmd->pool, ib_server_conf_get(cmd->server)->cache, id,
                                 ap_server_root_relative(cmd->pool, path));
}

static const char *cmd_state_dir(cmd_parms *cmd, void *mconfig, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err != NULL) {
        return err;
    }
    ib_server_conf_get(cmd->server)->state_dir = ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

static const char *cmd_use_tenant(cmd_parms *cmd, void *mconfig, const char *arg)
{
    ((ib_dir_conf *)mconfig)->tenant = arg;
    return NULL;
}

static const char *cmd_remote_user(cmd_parms *cmd, void *mconfig, const char *arg)
{
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        if (strcmp(arg, ib_attr_field_names[i]) == 0) {
            ((ib_dir_conf *)mconfig)->remote_user = ib_attr_field_names[i];
            return NULL;
        }
    }
    return apr_psprintf(cmd->pool, "IdBrokerRemoteUser: '%s' is not an identity field", arg);
}

/* Every IdBrokerHeaderPrefix of the configuration, wherever it is set: a
 * client's header under any of them is dropped on every request, protected
 * or not, so an application that also serves open paths cannot be fed a
 * forged identity there. Rebuilt from scratch by each configuration read. */
static apr_array_header_t *every_header_prefix;

static const char *cmd_header_prefix(cmd_parms *cmd, void *mconfig, const char *arg)
{
    ib_dir_conf *dc = mconfig;
    dc->header_prefix_set = 1;
    if (strcasecmp(arg, "off") == 0) {
        dc->header_prefix = NULL;
        return NULL;
    }
    for (const char *c = arg; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_') {
            return "IdBrokerHeaderPrefix may contain only letters, digits, '-' and '_'";
        }
    }
    dc->header_prefix = arg;
    APR_ARRAY_PUSH(every_header_prefix, const char *) = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

void ib_config_pre_config(apr_pool_t *pconf)
{
    every_header_prefix = apr_array_make(pconf, 2, sizeof(const char *));
}

const apr_array_header_t *ib_config_header_prefixes(void)
{
    return every_header_prefix;
}

#define IB_DIRECTIVE(name, where, min, max, setter, help) \
    AP_INIT_TAKE_ARGV(name, cmd_tenant_directive, NULL, RSRC_CONF, help),

const command_rec ib_directives[] = {
    AP_INIT_RAW_ARGS("<" IB_SECTION_TENANT, cmd_tenant_section, NULL, RSRC_CONF,
                     "<IdBrokerTenant NAME>: one tenant's sign-in configuration"),
    AP_INIT_RAW_ARGS("<" IB_SECTION_APP, cmd_app_section, NULL, RSRC_CONF,
                     "<IdBrokerApp primary|custom-domain>: one SAML app of a tenant"),
#include "core/ib_directives.def"
    AP_INIT_TAKE1("IdBrokerSessionCache", cmd_session_cache, NULL, RSRC_CONF,
                  "socache provider[:args] for sessions and sign-in state (default shmcb)"),
    AP_INIT_TAKE2("IdBrokerStoreKey", cmd_store_key, NULL, RSRC_CONF,
                  "ID FILE: a 256-bit key that seals cache entries (AES-256-GCM); the first "
                  "seals, all open; required for shared stores (redis, memcache)"),
    AP_INIT_TAKE1("IdBrokerStateDir", cmd_state_dir, NULL, RSRC_CONF,
                  "directory for IdP metadata backing copies; should survive reboots "
                  "(default: the runtime directory's idbroker/)"),
    AP_INIT_TAKE1("IdBrokerUseTenant", cmd_use_tenant, NULL, OR_AUTHCFG,
                  "the tenant that protects this location (default: by host)"),
    AP_INIT_TAKE1("IdBrokerRemoteUser", cmd_remote_user, NULL, OR_AUTHCFG,
                  "the identity field used as REMOTE_USER (default cip_upn)"),
    AP_INIT_TAKE1("IdBrokerHeaderPrefix", cmd_header_prefix, NULL, OR_AUTHCFG,
                  "pass the identity as request headers with this prefix (default Off)"),
    AP_INIT_TAKE12("IdBrokerAuditLog", ib_audit_cmd_log, NULL, RSRC_CONF,
                   "FILE, \"|COMMAND\", syslog[:FACILITY] or off, then format=kv or "
                   "format=json: one line per sign-in, sign-out and rejected attempt "
                   "(default off; format=kv)"),
    AP_INIT_ITERATE("IdBrokerTrustedProxy", ib_audit_cmd_trusted_proxy, NULL, RSRC_CONF,
                    "ADDRESS[/BITS] ...: proxies whose X-Forwarded-For names the client in the "
                    "audit log and whose X-Forwarded-Host names the public host of a tenant "
                    "app (default: none, the connection's peer is the client)"),
    {NULL}
};
#undef IB_DIRECTIVE
