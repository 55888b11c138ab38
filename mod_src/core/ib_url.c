#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uri.h>

#include "ib_url.h"

#define IB_URL_MAX 1024

int ib_url_host_is_loopback(const char *host)
{
    if (host == NULL) {
        return 0;
    }
    /* Only literal loopback addresses: "127.attacker.example" is a DNS name. */
    struct in_addr v4;
    if (inet_pton(AF_INET, host, &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    return strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0
           || strcmp(host, "[::1]") == 0;
}

static int has_control_or_space(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == '\\') {
            return 1;
        }
    }
    return 0;
}

static int valid_port(const char *s)
{
    if (*s == '\0' || strlen(s) > 5) {
        return 0;
    }
    for (const char *c = s; *c; c++) {
        if (!apr_isdigit(*c)) {
            return 0;
        }
    }
    long v = strtol(s, NULL, 10);
    return v >= 1 && v <= 65535;
}

/* apr_uri_parse takes whatever sits between '[' and ']' for an IPv6 literal
 * ("https://[sp.example.com]/" reads as host sp.example.com, a URL no browser
 * follows) and keeps a stray bracket in the host ("https://[[1]" reads as host
 * "[1", whose origin "https://[1" does not parse again). So a bracketed host
 * must be an IPv6 address, and no other host may hold a bracket (found by
 * fuzz/fuzz_url.c). */
static int valid_host(const apr_uri_t *uri)
{
    const char *h = uri->hostinfo ? uri->hostinfo : "";
    const char *at = strrchr(h, '@');
    if (at != NULL) {
        h = at + 1;
    }
    if (*h == '[') {
        struct in6_addr v6;
        return inet_pton(AF_INET6, uri->hostname, &v6) == 1;
    }
    return strpbrk(uri->hostname, "[]") == NULL;
}

/* Shared shape checks; on success `uri` holds the parse. */
static const char *parse_absolute(apr_pool_t *p, const char *what,
                                  const char *text, apr_uri_t *uri)
{
    if (text == NULL || *text == '\0') {
        return apr_psprintf(p, "%s is empty", what);
    }
    if (strlen(text) > IB_URL_MAX) {
        return apr_psprintf(p, "%s is longer than %d characters", what, IB_URL_MAX);
    }
    if (has_control_or_space(text)) {
        return apr_psprintf(p, "%s '%s' contains a space, backslash or control "
                            "character", what, text);
    }
    if (apr_uri_parse(p, text, uri) != APR_SUCCESS || uri->scheme == NULL
        || uri->hostname == NULL || *uri->hostname == '\0') {
        return apr_psprintf(p, "%s '%s' is not an absolute URL "
                            "(expected https://host/...)", what, text);
    }
    if (!valid_host(uri)) {
        return apr_psprintf(p, "%s '%s' has an invalid host (a bracketed host must be "
                            "an IPv6 address)", what, text);
    }
    if (strcasecmp(uri->scheme, "https") != 0 && strcasecmp(uri->scheme, "http") != 0) {
        return apr_psprintf(p, "%s '%s' must use https", what, text);
    }
    if (strcasecmp(uri->scheme, "http") == 0 && !ib_url_host_is_loopback(uri->hostname)) {
        return apr_psprintf(p, "%s '%s' must use https (plain http is accepted "
                            "only for loopback test hosts)", what, text);
    }
    if (uri->user != NULL || uri->password != NULL) {
        return apr_psprintf(p, "%s '%s' must not contain user:password@", what, text);
    }
    if (uri->port_str != NULL && !valid_port(uri->port_str)) {
        return apr_psprintf(p, "%s '%s' has an invalid port", what, text);
    }
    if (uri->fragment != NULL) {
        return apr_psprintf(p, "%s '%s' must not contain a #fragment", what, text);
    }
    return NULL;
}

const char *ib_url_parse_base(apr_pool_t *p, const char *text, ib_base_url *out)
{
    apr_uri_t uri;
    const char *err = parse_absolute(p, "SP base URL", text, &uri);
    if (err != NULL) {
        return err;
    }
    if (uri.query != NULL) {
        return apr_psprintf(p, "SP base URL '%s' must not contain a ?query", text);
    }
    out->scheme = apr_pstrdup(p, uri.scheme);
    for (char *s = (char *)out->scheme; *s; s++) {
        *s = (char)apr_tolower(*s);
    }
    char *host = apr_pstrdup(p, uri.hostname);
    for (char *s = host; *s; s++) {
        *s = (char)apr_tolower(*s);
    }
    out->host = host;
    out->port = uri.port_str ? uri.port : apr_uri_port_of_scheme(out->scheme);
    int default_port = out->port == apr_uri_port_of_scheme(out->scheme);
    const char *host_part = strchr(host, ':') ? apr_pstrcat(p, "[", host, "]", NULL) : host;
    out->origin = default_port
        ? apr_pstrcat(p, out->scheme, "://", host_part, NULL)
        : apr_psprintf(p, "%s://%s:%u", out->scheme, host_part, (unsigned)out->port);

    char *prefix = apr_pstrdup(p, uri.path ? uri.path : "");
    apr_size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/') {
        prefix[--n] = '\0';
    }
    if (strcasestr(prefix, "/saml") != NULL || strstr(prefix, "//") != NULL
        || strstr(prefix, "/.") != NULL) {
        return apr_psprintf(p, "SP base URL '%s' has a path the module cannot "
                            "use; give the URL the /saml/... endpoints live "
                            "under, e.g. https://saml.example.com", text);
    }
    out->prefix = prefix;
    out->url = apr_pstrcat(p, out->origin, prefix, NULL);
    return NULL;
}

const char *ib_url_check_idp_endpoint(apr_pool_t *p, const char *text)
{
    apr_uri_t uri;
    return parse_absolute(p, "IdP endpoint URL", text, &uri);
}

const char *ib_url_join(apr_pool_t *p, const ib_base_url *base, const char *path)
{
    return apr_pstrcat(p, base->url, path, NULL);
}

static int is_local_path(const char *t)
{
    return t[0] == '/' && t[1] != '/' && t[1] != '\\';
}

const char *ib_url_check_target(apr_pool_t *p, const char *target, const ib_base_url *base,
                                const apr_array_header_t *origins)
{
    if (target == NULL || *target == '\0' || strlen(target) > IB_URL_MAX
        || has_control_or_space(target)) {
        return NULL;
    }
    if (is_local_path(target)) {
        return target;
    }
    if (base == NULL) {
        return NULL; /* only local paths wanted */
    }
    ib_base_url parsed;
    apr_uri_t uri;
    if (parse_absolute(p, "target", target, &uri) != NULL
        || ib_url_parse_base(p, apr_pstrcat(p, uri.scheme, "://", uri.hostinfo, NULL),
                             &parsed) != NULL) {
        return NULL;
    }
    if (strcmp(parsed.origin, base->origin) == 0) {
        return target;
    }
    for (int i = 0; origins && i < origins->nelts; i++) {
        if (strcmp(parsed.origin, APR_ARRAY_IDX(origins, i, const char *)) == 0) {
            return target;
        }
    }
    return NULL;
}
