/* OpenID Connect relying party, protocol side (OIDC-1..8): the connection's
 * settings, the discovery document, the authorization request with state,
 * nonce and PKCE S256, the token request, and the ID token's claims rules.
 * JWS signatures are ib_jose's; fetching is ib_http's; the claims become the
 * same raw attributes a SAML assertion gives, so one identity code path
 * (ib_identity) serves both protocols. */
#ifndef IB_OIDC_H
#define IB_OIDC_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <cjson/cJSON.h>

typedef enum {
    IB_OIDC_GENERIC, IB_OIDC_OKTA, IB_OIDC_ENTRA, IB_OIDC_GOOGLE
} ib_oidc_preset;

typedef struct ib_oidc_conf {
    ib_oidc_preset preset;
    const char *issuer;            /* compared byte for byte (OIDC-4) */
    const char *discovery_url;     /* default: issuer + /.well-known/openid-configuration */
    const char *client_id;
    const char *client_secret;     /* from a file or the environment; never logged */
    const char *secret_source;     /* "file PATH" or "env NAME", for messages */
    const char *scopes;            /* default "openid profile email" */
    const char *redirect_path;     /* default /oidc/callback, below the SP base URL */
    int client_secret_post;        /* 0 = client_secret_basic (default) */
    int userinfo;                  /* call the userinfo endpoint and merge */
    const char *entra_tenant;      /* Entra: the tenant ID `tid` must carry */
} ib_oidc_conf;

typedef struct ib_oidc_discovery {
    const char *issuer;            /* as the document says (Entra: may hold {tenantid}) */
    const char *authorization_endpoint;
    const char *token_endpoint;
    const char *jwks_uri;
    const char *userinfo_endpoint; /* may be NULL */
    const char *end_session_endpoint; /* may be NULL: logout is then local only */
} ib_oidc_discovery;

/* The default discovery URL for an issuer (OpenID Connect Discovery §4). */
const char *ib_oidc_default_discovery_url(apr_pool_t *p, const char *issuer);

/* Applies a preset's rules to the settings at config time: the issuer's form
 * (Okta https://<org>.okta.com and friends or a custom https domain; Entra
 * https://login.microsoftonline.com/<tenant>/v2.0; Google
 * https://accounts.google.com). NULL or the reason. */
const char *ib_oidc_conf_check(apr_pool_t *p, const ib_oidc_conf *conf);

/* Parses the discovery document and checks it against the settings: the
 * issuer it names must equal the configured one exactly (Entra's
 * multi-tenant documents name https://login.microsoftonline.com/{tenantid}/v2.0),
 * endpoints absolute https (http only on loopback). */
const char *ib_oidc_discovery_parse(apr_pool_t *p, const char *json, const ib_oidc_conf *conf,
                                    ib_oidc_discovery **out);

/* The `iss` an ID token must carry: the configured issuer, or for Entra's
 * organizations/common endpoints the tenant-specific one. */
const char *ib_oidc_expected_issuer(apr_pool_t *p, const ib_oidc_conf *conf);

/* PKCE S256 code_challenge of a verifier (RFC 7636). */
const char *ib_oidc_pkce_challenge(apr_pool_t *p, const char *verifier);

/* The authorization request URL (code flow, PKCE S256, state and nonce). */
const char *ib_oidc_authorize_url(apr_pool_t *p, const ib_oidc_discovery *d,
                                  const ib_oidc_conf *conf, const char *redirect_uri,
                                  const char *state, const char *nonce, const char *challenge);

/* x-www-form-urlencoded body for the token request; with client_secret_post
 * it carries the client credentials too. */
const char *ib_oidc_token_request_body(apr_pool_t *p, const ib_oidc_conf *conf,
                                       const char *code, const char *redirect_uri,
                                       const char *code_verifier);

/* Reads the token endpoint's JSON answer: the id_token (required) and the
 * access_token (for userinfo; may be NULL), or the OAuth error it reports. */
const char *ib_oidc_token_response(apr_pool_t *p, long http_status, const char *json,
                                   const char **id_token, const char **access_token);

typedef struct ib_oidc_expect {
    const char *issuer;            /* from ib_oidc_expected_issuer */
    const char *client_id;
    const char *nonce;
    const char *entra_tenant;      /* NULL unless Entra with a tenant */
    apr_time_t now;
    apr_interval_time_t skew;
} ib_oidc_expect;

/* Every claims rule of an ID token (OIDC-3..5): iss, aud (and azp), exp,
 * iat, nbf with skew, nonce, sub, and Entra's tid. NULL or the reason. */
const char *ib_oidc_check_claims(apr_pool_t *p, const cJSON *claims, const ib_oidc_expect *e);

/* Userinfo claims join the ID token's where it has none; the userinfo `sub`
 * must be the ID token's (OpenID Connect Core §5.3.2). */
const char *ib_oidc_merge_userinfo(apr_pool_t *p, cJSON *claims, const char *userinfo_json);

/* Claims as raw attributes (ib_raw_attr): strings, numbers and booleans as
 * one value, arrays of those as several; objects are skipped. */
apr_array_header_t *ib_oidc_claims_to_attrs(apr_pool_t *p, const cJSON *claims);

/* The end_session URL with id_token_hint, post_logout_redirect_uri and state. */
const char *ib_oidc_end_session_url(apr_pool_t *p, const ib_oidc_discovery *d,
                                    const char *id_token, const char *post_logout_uri,
                                    const char *state);

#endif
