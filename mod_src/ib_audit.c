#include <httpd.h>
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include <apr_lib.h>
#include <apr_network_io.h>
#include <apr_strings.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>

#include "core/ib_audit_line.h"
#include "core/ib_metadata.h"
#include "core/ib_oidc.h"
#include "ib_audit.h"
#include "ib_config.h"

APLOG_USE_MODULE(auth_idbroker);

#define IB_AUTH_TYPE "IdBroker"
#define PENDING_KEY "idbroker-audit"
#define XFF_MAX_HOPS 32

typedef enum { AUDIT_OFF, AUDIT_FILE, AUDIT_PIPE, AUDIT_SYSLOG } audit_kind;

struct ib_audit_conf {
    audit_kind kind;
    const char *target;             /* the file (ServerRoot-relative) or "|command" */
    ib_audit_format format;
    int facility;                   /* syslog */
    const char *where;              /* "FILE:LINE" of IdBrokerAuditLog */
    apr_array_header_t *trusted;    /* apr_ipsubnet_t*: IdBrokerTrustedProxy */
    apr_file_t *out;                /* the file or the pipe, opened by the parent */
};

/* ---- configuration -------------------------------------------------------- */

static ib_audit_conf *conf_for_cmd(cmd_parms *cmd)
{
    ib_server_conf *sc = ib_server_conf_get(cmd->server);
    if (sc->audit == NULL) {
        sc->audit = apr_pcalloc(cmd->pool, sizeof(*sc->audit));
        sc->audit->trusted = apr_array_make(cmd->pool, 4, sizeof(apr_ipsubnet_t *));
    }
    return sc->audit;
}

static const struct { const char *name; int facility; } facilities[] = {
    {"authpriv", LOG_AUTHPRIV}, {"auth", LOG_AUTH}, {"daemon", LOG_DAEMON},
    {"user", LOG_USER}, {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
    {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

static const char *parse_target(cmd_parms *cmd, ib_audit_conf *ac, const char *arg)
{
    if (strcasecmp(arg, "off") == 0) {
        ac->kind = AUDIT_OFF;
        return NULL;
    }
    if (strncasecmp(arg, "syslog", 6) == 0 && (arg[6] == '\0' || arg[6] == ':')) {
        ac->kind = AUDIT_SYSLOG;
        ac->facility = LOG_AUTHPRIV;
        if (arg[6] == '\0') {
            return NULL;
        }
        for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
            if (strcasecmp(arg + 7, facilities[i].name) == 0) {
                ac->facility = facilities[i].facility;
                return NULL;
            }
        }
        return apr_psprintf(cmd->pool, "IdBrokerAuditLog: '%s' is no syslog facility "
                            "(authpriv, auth, daemon, user, local0 ... local7)", arg + 7);
    }
    if (arg[0] == '|') {
        if (arg[1] == '\0' || (strchr("|$", arg[1]) && arg[2] == '\0')) {
            return "IdBrokerAuditLog: a pipe needs a command after '|'";
        }
        ac->kind = AUDIT_PIPE;
        ac->target = arg;
        return NULL;
    }
    ac->kind = AUDIT_FILE;
    ac->target = ap_server_root_relative(cmd->pool, arg);
    if (ac->target == NULL) {
        return apr_psprintf(cmd->pool, "IdBrokerAuditLog: '%s' is not a valid path", arg);
    }
    return NULL;
}

const char *ib_audit_cmd_log(cmd_parms *cmd, void *mconfig, const char *target,
                             const char *option)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err != NULL) {
        return err;
    }
    ib_audit_conf *ac = conf_for_cmd(cmd);
    if (ac->where != NULL) {
        return apr_psprintf(cmd->pool, "IdBrokerAuditLog is given twice (first at %s)",
                            ac->where);
    }
    ac->where = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                             cmd->directive->line_num);
    ac->format = IB_AUDIT_KV;
    if (option != NULL) {
        if (strcasecmp(option, "format=json") == 0) {
            ac->format = IB_AUDIT_JSON;
        } else if (strcasecmp(option, "format=kv") != 0) {
            return apr_psprintf(cmd->pool, "IdBrokerAuditLog: unknown option '%s' (expected "
                                "format=kv or format=json)", option);
        }
    }
    return parse_target(cmd, ac, target);
}

const char *ib_audit_cmd_trusted_proxy(cmd_parms *cmd, void *mconfig, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err != NULL) {
        return err;
    }
    char *ip = apr_pstrdup(cmd->temp_pool, arg);
    char *mask = strchr(ip, '/');
    if (mask != NULL) {
        *mask++ = '\0';
    }
    apr_ipsubnet_t *subnet;
    apr_status_t rv = apr_ipsubnet_create(&subnet, ip, mask, cmd->pool);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "IdBrokerTrustedProxy: '%s' is not an IP address or "
                            "network (like 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32)", arg);
    }
    APR_ARRAY_PUSH(conf_for_cmd(cmd)->trusted, apr_ipsubnet_t *) = subnet;
    return NULL;
}

/* ---- opening, in the parent ------------------------------------------------ */

static int audit_open_logs(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    ib_audit_conf *ac = ib_server_conf_get(s)->audit;
    if (ac == NULL || (ac->kind != AUDIT_FILE && ac->kind != AUDIT_PIPE)) {
        return OK;
    }
    ac->out = NULL;
    if (ac->kind == AUDIT_PIPE) {
        const char *cmd = ac->target + 1;
        apr_cmdtype_e type = APR_PROGRAM_ENV;
        if (*cmd == '$') {
            type = APR_SHELLCMD_ENV;
            cmd++;
        } else if (*cmd == '|') {
            cmd++;
        }
        piped_log *pl = ap_open_piped_log_ex(pconf, cmd, type);
        if (pl == NULL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "IdBrokerAuditLog (%s): cannot start "
                         "the audit log program '%s'", ac->where, cmd);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        ac->out = ap_piped_log_write_fd(pl);
        return OK;
    }
    /* O_APPEND, unbuffered: each line is one write() at the end of the file,
     * which keeps the lines of all children whole (they are < PIPE_BUF). */
    apr_status_t rv = apr_file_open(&ac->out, ac->target,
                                    APR_FOPEN_WRITE | APR_FOPEN_APPEND | APR_FOPEN_CREATE
                                    | APR_FOPEN_LARGEFILE,
                                    APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD,
                                    pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "IdBrokerAuditLog (%s): cannot open "
                     "'%s' for appending", ac->where, ac->target);
        ac->out = NULL;
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* ---- the client address ---------------------------------------------------- */

static int trusted(const ib_audit_conf *ac, apr_sockaddr_t *sa)
{
    for (int i = 0; ac != NULL && i < ac->trusted->nelts; i++) {
        if (apr_ipsubnet_test(APR_ARRAY_IDX(ac->trusted, i, apr_ipsubnet_t *), sa)) {
            return 1;
        }
    }
    return 0;
}

int ib_audit_peer_is_trusted_proxy(request_rec *r)
{
    return trusted(ib_server_conf_get(r->server)->audit, r->connection->client_addr);
}

/* One X-Forwarded-For element as an address: "192.0.2.1", "2001:db8::1",
 * "[2001:db8::1]:443" or "192.0.2.1:8080"; NULL when it is none (never a
 * DNS lookup: only numeric addresses are accepted). */
static apr_sockaddr_t *forwarded_addr(apr_pool_t *p, char *el)
{
    while (apr_isspace(*el)) {
        el++;
    }
    char *end = el + strlen(el);
    while (end > el && apr_isspace(end[-1])) {
        *--end = '\0';
    }
    if (*el == '[') {
        char *close = strchr(el, ']');
        if (close == NULL) {
            return NULL;
        }
        *close = '\0';
        el++;
    } else if (strchr(el, '.') != NULL && strchr(el, ':') != NULL) {
        *strchr(el, ':') = '\0';        /* IPv4 with a port */
    }
    unsigned char buf[sizeof(struct in6_addr)];
    int family = inet_pton(AF_INET, el, buf) == 1 ? APR_INET
                 : inet_pton(AF_INET6, el, buf) == 1 ? APR_INET6 : APR_UNSPEC;
    apr_sockaddr_t *sa;
    if (family == APR_UNSPEC || apr_sockaddr_info_get(&sa, el, family, 0, 0, p) != APR_SUCCESS) {
        return NULL;
    }
    return sa;
}

static const char *addr_text(apr_pool_t *p, apr_sockaddr_t *sa)
{
    char *ip = NULL;
    return apr_sockaddr_ip_get(&ip, sa) == APR_SUCCESS && ip ? apr_pstrdup(p, ip) : "-";
}

const char *ib_audit_client_ip(request_rec *r)
{
    conn_rec *c = r->connection;
    ib_audit_conf *ac = ib_server_conf_get(r->server)->audit;
    const char *xff = apr_table_get(r->headers_in, "X-Forwarded-For");
    if (xff == NULL || !trusted(ac, c->client_addr)) {
        return c->client_ip;
    }
    /* Right to left: each hop a trusted proxy added names the one before;
     * the first address that is not a trusted proxy is the client. */
    apr_array_header_t *hops = apr_array_make(r->pool, 4, sizeof(char *));
    char *list = apr_pstrdup(r->pool, xff), *state;
    for (char *el = apr_strtok(list, ",", &state); el; el = apr_strtok(NULL, ",", &state)) {
        APR_ARRAY_PUSH(hops, char *) = el;
    }
    apr_sockaddr_t *client = c->client_addr;
    for (int i = hops->nelts - 1, n = 0; i >= 0 && n < XFF_MAX_HOPS; i--, n++) {
        apr_sockaddr_t *sa = forwarded_addr(r->pool, APR_ARRAY_IDX(hops, i, char *));
        if (sa == NULL) {
            break;              /* garbage: the last trusted hop is all we know */
        }
        client = sa;
        if (!trusted(ac, sa)) {
            break;
        }
    }
    return client == c->client_addr ? c->client_ip : addr_text(r->pool, client);
}

/* ---- one line per attempt ---------------------------------------------------- */

typedef struct {
    apr_pool_t *pool;           /* the main request's: values are copied there */
    apr_time_t time;
    const char *txid;
    int has_event;
    const char *event, *outcome, *user, *reason;
    const ib_app *app;
    const ib_tenant *tenant;    /* of a page when its app is ambiguous */
    int has_page;
    int status;
    const char *page_class;
} pending;

static ib_audit_conf *active_conf(request_rec *r)
{
    ib_audit_conf *ac = ib_server_conf_get(r->server)->audit;
    return ac != NULL && ac->kind != AUDIT_OFF ? ac : NULL;
}

/* Kept on the main request's pool (subrequests and internal redirects
 * report to the same attempt); log_transaction writes it. */
static pending *pending_of(request_rec *r, int create)
{
    while (r->main != NULL) {
        r = r->main;
    }
    void *data = NULL;
    apr_pool_userdata_get(&data, PENDING_KEY, r->pool);
    if (data == NULL && create) {
        data = apr_pcalloc(r->pool, sizeof(pending));
        apr_pool_userdata_setn(data, PENDING_KEY, NULL, r->pool);
    }
    if (data != NULL) {
        ((pending *)data)->pool = r->pool;
    }
    return data;
}

/* An error page alone says which attempt failed by the endpoint it answered. */
static const char *event_of_request(request_rec *r, const ib_app *app)
{
    static const char *const signin[] = {IB_PATH_ACS, "/saml/handoff"};
    static const char *const logout[] = {IB_PATH_LOGOUT, IB_PATH_SLO};
    apr_size_t n = strlen(r->uri);
    for (size_t i = 0; i < 2; i++) {
        apr_size_t l = strlen(signin[i]);
        if (n >= l && strcmp(r->uri + n - l, signin[i]) == 0) {
            return "signin";
        }
        l = strlen(logout[i]);
        if (n >= l && strcmp(r->uri + n - l, logout[i]) == 0) {
            return "logout";
        }
    }
    if (app != NULL && app->oidc != NULL && app->oidc->redirect_path != NULL) {
        apr_size_t l = strlen(app->oidc->redirect_path);
        if (n >= l && strcmp(r->uri + n - l, app->oidc->redirect_path) == 0) {
            return "signin";
        }
    }
    const char *type = ap_auth_type(r);
    if (type != NULL && strcasecmp(type, IB_AUTH_TYPE) == 0) {
        return "signin-start";      /* a protected location: no session yet */
    }
    return NULL;                    /* metadata, status page, ...: no attempt */
}

static void write_line(request_rec *r, ib_audit_conf *ac, const char *line)
{
    apr_size_t len = strlen(line);
    if (ac->kind == AUDIT_SYSLOG) {
        syslog(ac->facility | LOG_INFO, "%.*s", (int)len - 1, line);
        return;
    }
    if (ac->out == NULL) {
        return;
    }
    apr_size_t n = len;
    apr_status_t rv = apr_file_write(ac->out, line, &n);   /* one write() */
    if (rv != APR_SUCCESS || n != len) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, "IdBrokerAuditLog: writing a line "
                      "to %s failed (%" APR_SIZE_T_FMT " of %" APR_SIZE_T_FMT " bytes)",
                      ac->target, n, len);
    }
}

static void flush_pending(request_rec *r, pending *pd)
{
    ib_audit_conf *ac = active_conf(r);
    const char *event = pd->event, *outcome = pd->outcome;
    if (ac != NULL && !pd->has_event && pd->has_page) {
        event = event_of_request(r, pd->app);
        outcome = pd->status >= 500 ? "error" : "rejected";
    }
    if (ac != NULL && event != NULL) {
        const ib_app *app = pd->app;
        const ib_tenant *tenant = app ? app->tenant : pd->tenant;
        const char *idp = app == NULL ? NULL
                          : app->oidc ? app->oidc->issuer : ib_app_idp(app)->entity_id;
        ib_audit_record rec = {
            pd->time ? pd->time : apr_time_now(), pd->txid, event, outcome,
            tenant ? tenant->name : NULL, app ? app->kind : NULL,
            app ? (app->oidc ? "oidc" : "saml") : NULL, idp, pd->user,
            ib_audit_client_ip(r),
            ib_audit_reason_code(outcome, pd->has_page ? pd->page_class : NULL, pd->reason),
        };
        const char *line = ib_audit_format_line(r->pool, &rec, ac->format);
        if (line != NULL) {
            write_line(r, ac, line);
        }
    }
    apr_pool_t *pool = pd->pool;
    memset(pd, 0, sizeof(*pd));
    pd->pool = pool;
}

static const char *keep(const pending *pd, const char *s)
{
    return s ? apr_pstrdup(pd->pool, s) : NULL;
}

void ib_audit_event(request_rec *r, const char *txid, const char *event, const char *outcome,
                    const ib_app *app, const char *user, const char *reason)
{
    if (active_conf(r) == NULL || ib_audit_outcome_is_detail(outcome)) {
        return;
    }
    pending *pd = pending_of(r, 1);
    if (pd->has_event) {
        flush_pending(r, pd);       /* a second attempt in one request */
    }
    pd->has_event = 1;
    pd->time = pd->time ? pd->time : apr_time_now();
    pd->event = keep(pd, event);
    pd->outcome = keep(pd, outcome);
    pd->app = app ? app : pd->app;
    pd->user = keep(pd, user);
    pd->reason = reason ? keep(pd, reason) : pd->reason;
    pd->txid = txid ? keep(pd, txid) : pd->txid;
}

void ib_audit_page(request_rec *r, const char *txid, int status, const char *page_class,
                   const ib_tenant *tenant, const ib_app *app, const char *reason)
{
    if (active_conf(r) == NULL) {
        return;
    }
    pending *pd = pending_of(r, 1);
    if (pd->has_page) {
        flush_pending(r, pd);
    }
    pd->has_page = 1;
    pd->time = pd->time ? pd->time : apr_time_now();
    pd->status = status;
    pd->page_class = keep(pd, page_class);
    pd->txid = pd->txid ? pd->txid : keep(pd, txid);
    pd->reason = pd->reason ? pd->reason : keep(pd, reason);
    if (pd->app == NULL) {
        pd->app = app;
        pd->tenant = tenant;
    }
}

static int audit_log_transaction(request_rec *r)
{
    pending *pd = active_conf(r) ? pending_of(r, 0) : NULL;
    if (pd != NULL && (pd->has_event || pd->has_page)) {
        flush_pending(r, pd);
    }
    return DECLINED;
}

void ib_audit_register_hooks(apr_pool_t *p)
{
    ap_hook_open_logs(audit_open_logs, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(audit_log_transaction, NULL, NULL, APR_HOOK_MIDDLE);
}
