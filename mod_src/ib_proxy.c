/* The host a trusted proxy was asked for (X-Forwarded-Host), so that the
 * module routes requests by their public host behind a TLS-terminating
 * proxy that rewrites Host. The list of trusted proxies is the audit log's
 * (IdBrokerTrustedProxy), which already decides whose X-Forwarded-For counts. */
#include <httpd.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_network_io.h>
#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include "core/ib_tenant.h"
#include "ib_audit.h"
#include "ib_config.h"
#include "ib_proxy.h"

APLOG_USE_MODULE(auth_idbroker);

/* 1 when an app's SP base URL or hand-off portal is on host:port (0: none). */
static int serves(const ib_registry *reg, const char *host, apr_port_t port)
{
    if (reg == NULL) {
        return 0;
    }
    const apr_array_header_t *apps = ib_registry_apps_on_host(reg, host);
    for (int i = 0; apps && i < apps->nelts; i++) {
        if (ib_app_port_matches(APR_ARRAY_IDX(apps, i, const ib_app *), port)) {
            return 1;
        }
    }
    apps = ib_registry_apps_on_portal_host(reg, host);
    for (int i = 0; apps && i < apps->nelts; i++) {
        if (ib_base_port_matches(&APR_ARRAY_IDX(apps, i, const ib_app *)->portal, port)) {
            return 1;
        }
    }
    return 0;
}

/* Behind a TLS-terminating proxy with ProxyPreserveHost Off (httpd's
 * default), the Host header names the backend (127.0.0.1:8080), so no app's
 * SP base URL matches the request and sign-in "is not configured". A proxy
 * listed in IdBrokerTrustedProxy says the Host it was asked for in
 * X-Forwarded-Host (mod_proxy_http, nginx, HAProxy); its right-most element
 * is the one the nearest proxy added, so a client cannot choose it. The
 * request is then served as with ProxyPreserveHost On: r->hostname and the
 * port come from there (the Host header itself is left as sent), but only
 * when an app serves that host and port, so other sites of this httpd keep
 * their view. From anyone else the header is ignored. */
static int forwarded_host(request_rec *r)
{
    const char *xfh = apr_table_get(r->headers_in, "X-Forwarded-Host");
    if (xfh == NULL || !ib_audit_peer_is_trusted_proxy(r)) {
        return DECLINED;
    }
    const char *last = strrchr(xfh, ',');
    last = last ? last + 1 : xfh;
    while (apr_isspace(*last)) {
        last++;
    }
    char *value = apr_pstrdup(r->pool, last), *host = NULL, *scope = NULL;
    for (char *end = value + strlen(value); end > value && apr_isspace(end[-1]); ) {
        *--end = '\0';
    }
    apr_port_t port = 0;
    int ok = *value != '\0' && apr_parse_addr_port(&host, &scope, &port, value, r->pool)
                                == APR_SUCCESS && host != NULL && scope == NULL;
    for (const char *c = host; ok && *c; c++) {
        ok = apr_isalnum(*c) || *c == '.' || *c == '-' || *c == ':';
    }
    if (!ok) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "X-Forwarded-Host '%s' of a trusted "
                      "proxy is not HOST[:PORT]; the Host header is used",
                      ap_escape_logitem(r->pool, value));
        return DECLINED;
    }
    ap_str_tolower(host);
    if (!serves(ib_server_conf_get(r->server)->reg, host, port)) {
        return DECLINED;        /* not an SP or portal host: httpd's view stays */
    }
    r->hostname = host;
    r->parsed_uri.port_str = port ? apr_itoa(r->pool, port) : NULL;
    r->parsed_uri.port = port ? port : ap_default_port(r);
    return DECLINED;
}

void ib_proxy_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_read_request(forwarded_host, NULL, NULL, APR_HOOK_MIDDLE);
}
