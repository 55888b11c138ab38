/* The configuration model: tenants, their primary and custom-domain apps
 * (CD-4), and the registry that holds every tenant of one config generation.
 * Built once when httpd (or the idbroker-tenant CLI) reads the tenant files;
 * read-only afterwards, so request threads share it without locks. */
#ifndef IB_TENANT_H
#define IB_TENANT_H

#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "ib_identity.h"
#include "ib_keys.h"
#include "ib_url.h"

typedef struct ib_tenant ib_tenant;

typedef enum { IB_BINDING_POST, IB_BINDING_REDIRECT } ib_binding;

/* Which signatures a Response must carry (RESP-1). */
typedef enum {
    IB_SIGN_EITHER, IB_SIGN_RESPONSE, IB_SIGN_ASSERTION, IB_SIGN_BOTH
} ib_sign_policy;

typedef enum { IB_AUTHN_EXACT, IB_AUTHN_MINIMUM } ib_authn_comparison;

/* How LogoutRequests go to the IdP (SLO-3). */
typedef enum {
    IB_SLO_POST, IB_SLO_REDIRECT, IB_SLO_REDIRECT_UNSIGNED
} ib_slo_binding;

#define IB_APP_PRIMARY "primary"
#define IB_APP_CUSTOM_DOMAIN "custom-domain"
#define IB_AUTHN_CLASS_UNSPECIFIED "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"

/* What the SP trusts about an app's IdP at one moment: the pinned settings,
 * merged with the IdP's metadata when the app has a metadata source. A view
 * never changes once made; a new metadata copy makes a new view. */
typedef struct ib_idp {
    const char *entity_id;
    const char *sso_url;           /* for the tenant's SSO binding */
    const char *slo_url;           /* for the tenant's SLO binding; may be NULL */
    const apr_array_header_t *certs; /* ib_cert*: pinned first, then metadata */
    unsigned long serial;          /* new per view: pooled LassoServers rebuild */
    const char *from;              /* "configuration" or the metadata copy's path */
    apr_time_t loaded_at;          /* when this process made the view */
    apr_time_t valid_until;        /* metadata validUntil, 0 = none */
} ib_idp;

typedef struct ib_idp_source ib_idp_source;
typedef struct ib_oidc_conf ib_oidc_conf;
typedef struct ib_oidc_provider ib_oidc_provider;

typedef struct ib_app {
    ib_tenant *tenant;
    const char *kind;              /* IB_APP_PRIMARY or IB_APP_CUSTOM_DOMAIN */
    const char *file;              /* where the <IdBrokerApp> section starts */
    int line;

    int has_sp_base;
    ib_base_url sp_base;           /* endpoints live under it (EP-4) */
    int has_portal;                /* IdBrokerPortalURL given */
    ib_base_url portal;            /* where the portal and its session cookie live;
                                    * the SP base URL unless set (EP-7 hand-off) */
    const char *generic_entity_id; /* configured, or derived at finalize */
    const char *scope_guid;        /* NULL for a generic app (EID-2) */
    const char *sp_entity_id;      /* generic or generic/GUID, set at finalize */
    const char *metadata_id;       /* stable SPSSODescriptor ID (MD-2) */
    apr_array_header_t *own_sp_keys;  /* ib_sp_key*; empty = the tenant's */
    const apr_array_header_t *sp_keys; /* resolved at finalize */
    apr_array_header_t *own_decrypt_keys;   /* ib_sp_key*; empty = the tenant's */
    const apr_array_header_t *decrypt_keys; /* RESP-8; may be empty */

    const char *idp_entity_id;
    const char *idp_sso_url;
    const char *idp_slo_url;       /* optional (SLO-1) */
    apr_array_header_t *idp_certs; /* ib_cert*; any valid one verifies */
    ib_idp pinned;                 /* the pinned values as a view, at finalize */
    ib_idp_source *md_source;      /* IdP metadata URL or file; NULL = pinned only */
    ib_oidc_conf *oidc;            /* an OpenID Connect connection instead of SAML */
    ib_oidc_provider *oidc_op;     /* its discovery and keys, made at post_config */
} ib_app;

struct ib_tenant {
    const char *name;
    const char *file;
    int line;
    const char *signin_id;         /* lowercase, TEN-1 */
    ib_app *primary;
    ib_app *custom_domain;         /* NULL unless configured */
    apr_array_header_t *sp_keys;   /* ib_sp_key*, shared by both apps */
    apr_array_header_t *decrypt_keys; /* ib_sp_key*, shared by both apps */

    int sign_requests;             /* AREQ-3, default on */
    ib_binding sso_binding;        /* AREQ-2, default POST */
    ib_sign_policy response_signing; /* RESP-1, default either */
    const char *authn_class;       /* AREQ-7, default unspecified */
    ib_authn_comparison authn_comparison;
    int force_authn;               /* AREQ-10 */
    int send_nameid_policy;        /* AREQ-6 */
    ib_attr_names attr_names;      /* ATTR-1 */
    apr_interval_time_t clock_skew; /* RESP-7, default 120 s */
    int allow_sha1;                /* RESP-9, default off */
    apr_interval_time_t session_max_age;  /* SESS-1, default 24 h */
    apr_interval_time_t session_idle;     /* SESS-2, 0 = off */
    ib_slo_binding slo_binding;    /* SLO-3, default signed POST */
    const char *post_logout_url;   /* SLO-8, default "/" */
    apr_array_header_t *allowed_origins; /* const char*: extra redirect targets */
    int require_signed_logout;     /* SLO-9, default on */
    apr_hash_t *seen;              /* directive name -> "file:line" (one-shot directives) */
    struct ib_tenant_pages *pages; /* error template, support contact (ib_pages.h); NULL = defaults */
};

typedef struct ib_registry {
    apr_pool_t *pool;
    apr_array_header_t *tenants;   /* ib_tenant*, in configuration order */
    apr_array_header_t *apps;      /* ib_app*, in configuration order */
    apr_hash_t *by_name;           /* tenant name -> ib_tenant* */
    apr_hash_t *by_signin_id;      /* lowercase sign-in ID -> ib_tenant* */
    apr_hash_t *by_guid;           /* scope GUID -> ib_app* */
    apr_hash_t *by_host;           /* lowercase host -> apr_array_header_t of ib_app* */
    apr_hash_t *by_portal_host;    /* portal host of apps that hand off -> ib_app* list */
} ib_registry;

ib_registry *ib_registry_make(apr_pool_t *p);

/* The IdP view in force for the app now (see ib_idp_source.h). Callers read
 * IdP settings only through it; the ib_app idp_* fields are the raw
 * configuration. */
const ib_idp *ib_app_idp(const ib_app *app);

/* 1 when the app has an IdP connection configured (IdP entity ID, SSO URL,
 * at least one certificate). Without one the app still serves metadata, so
 * operators can set up the IdP before the SP goes live (ERR-7 page otherwise). */
int ib_app_has_idp(const ib_app *app);

/* The apps whose SP base URL is on `host` (lowercase). NULL if none. */
const apr_array_header_t *ib_registry_apps_on_host(const ib_registry *reg,
                                                   const char *host);

/* 1 when the app's portal is on another origin than its SP endpoints: the
 * ACS then hands the sign-in over to the portal host (EP-7, EID-6). */
int ib_app_hands_off(const ib_app *app);

/* The app's portal base when `host` is its portal's (hand-off), else its SP
 * base: cookies and local paths belong to the host they are used on. */
const ib_base_url *ib_app_base_for_host(const ib_app *app, const char *host);

/* The apps that hand off to a portal on `host` (lowercase). NULL if none. */
const apr_array_header_t *ib_registry_apps_on_portal_host(const ib_registry *reg,
                                                          const char *host);

/* 1 when a request naming `port` (0 = none) in its Host header reaches base. */
int ib_base_port_matches(const ib_base_url *base, apr_port_t port);

/* 1 when a request naming `port` in its Host header (0 = none) reaches the
 * app's SP base URL. */
int ib_app_port_matches(const ib_app *app, apr_port_t port);

/* The app among `apps` whose endpoints serve `path` on `port`: the SP base
 * URL prefix matches and `path` continues below it. `port` is the one the
 * client named in its Host header, or 0 when it named none: then only apps
 * on their scheme's default port qualify (the usual case behind a TLS
 * terminator). *rest gets the path after the prefix (e.g. "/saml/metadata").
 * With scope_guid, only the app with that GUID qualifies; without, the first
 * app declared wins. */
const ib_app *ib_registry_app_for_path(const apr_array_header_t *apps,
                                       apr_port_t port, const char *path,
                                       const char *scope_guid, const char **rest);

#endif
