#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <apr_file_info.h>
#include <openssl/evp.h>

#include "ib_clock.h"
#include "ib_conf.h"
#include "ib_idp_source.h"
#include "ib_oidc.h"
#include "ib_pages.h"
#include "ib_random.h"

void ib_registry_index_app(ib_registry *reg, ib_app *app);

#define IB_ID_MAX 64
#define IB_ENTITY_ID_MAX 1024
#define IB_ACTIVATE_AT "activate-at="

typedef const char *ib_setter(ib_conf_ctx *ctx, int argc, const char *const *argv);

/* ---- small helpers ------------------------------------------------------ */

static const char *conf_path(ib_conf_ctx *ctx, const char *arg)
{
    /* Relative paths are relative to the conf file that names them, so a
     * tenant directory (conf + keys) can move as a whole, and the CLI and
     * httpd resolve the same file. */
    if (arg[0] == '/' || ctx->file == NULL) {
        return arg;
    }
    const char *slash = strrchr(ctx->file, '/');
    if (slash == NULL) {
        return arg;
    }
    return apr_pstrcat(ctx->pool, apr_pstrndup(ctx->pool, ctx->file,
                                               (apr_size_t)(slash - ctx->file)),
                       "/", arg, NULL);
}

static const char *parse_flag(ib_conf_ctx *ctx, const char *name,
                              const char *arg, int *out)
{
    if (strcasecmp(arg, "on") == 0) {
        *out = 1;
    } else if (strcasecmp(arg, "off") == 0) {
        *out = 0;
    } else {
        return apr_psprintf(ctx->pool, "%s takes On or Off, not '%s'", name, arg);
    }
    return NULL;
}

static int is_id_char(char c)
{
    return apr_isalnum(c) || c == '-';
}

static void warn(ib_conf_ctx *ctx, const char *msg)
{
    if (ctx->warn != NULL) {
        ctx->warn(ctx, msg);
    }
}

/* ---- tenant-level setters ----------------------------------------------- */

static const char *set_signin_id(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    const char *id = argv[0];
    apr_size_t n = strlen(id);
    if (n == 0 || n > IB_ID_MAX) {
        return apr_psprintf(ctx->pool, "IdBrokerSignInID must be 1 to %d characters",
                            IB_ID_MAX);
    }
    for (apr_size_t i = 0; i < n; i++) {
        if (!is_id_char(id[i])) {
            return apr_psprintf(ctx->pool, "IdBrokerSignInID '%s' may contain only "
                                "letters, digits and '-' (it becomes part of the "
                                "sign-in URL /go/<id>)", id);
        }
    }
    char *lower = apr_pstrdup(ctx->pool, id);
    for (char *s = lower; *s; s++) {
        *s = (char)apr_tolower(*s);
    }
    ib_tenant *other = apr_hash_get(ctx->reg->by_signin_id, lower, APR_HASH_KEY_STRING);
    if (other != NULL) {
        return apr_psprintf(ctx->pool, "IdBrokerSignInID '%s' is already used by "
                            "tenant '%s' (%s:%d); sign-in identifiers must be "
                            "unique, ignoring case", id, other->name, other->file,
                            other->line);
    }
    ctx->tenant->signin_id = lower;
    return NULL;
}

static const char *set_sp_key(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    ib_sp_key *key;
    const char *err = ib_sp_key_load(ctx->pool, conf_path(ctx, argv[0]),
                                     conf_path(ctx, argv[1]), &key);
    if (err != NULL) {
        return apr_pstrcat(ctx->pool, "IdBrokerSPKey: ", err, NULL);
    }
    if (argc == 3) {
        const char *opt = argv[2];
        if (strncmp(opt, IB_ACTIVATE_AT, strlen(IB_ACTIVATE_AT)) != 0) {
            return apr_psprintf(ctx->pool, "IdBrokerSPKey: unknown option '%s' "
                                "(expected activate-at=YYYY-MM-DDTHH:MM:SSZ)", opt);
        }
        const char *when = opt + strlen(IB_ACTIVATE_AT);
        if (ib_time_parse_utc(when, &key->activate_at) != APR_SUCCESS) {
            return apr_psprintf(ctx->pool, "IdBrokerSPKey: activate-at '%s' is not "
                                "a UTC instant of the form 2024-03-23T17:00:00Z", when);
        }
        key->has_activate_at = 1;
    }
    apr_array_header_t *list = ctx->app ? ctx->app->own_sp_keys : ctx->tenant->sp_keys;
    APR_ARRAY_PUSH(list, ib_sp_key *) = key;
    return NULL;
}

static const char *set_decryption_key(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    ib_sp_key *key;
    const char *err = ib_sp_key_load(ctx->pool, conf_path(ctx, argv[0]),
                                     conf_path(ctx, argv[1]), &key);
    if (err != NULL) {
        return apr_pstrcat(ctx->pool, "IdBrokerSPDecryptionKey: ", err, NULL);
    }
    if (EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA) {
        return "IdBrokerSPDecryptionKey: IdPs encrypt to RSA keys only; give an RSA key";
    }
    apr_array_header_t *list = ctx->app ? ctx->app->own_decrypt_keys : ctx->tenant->decrypt_keys;
    APR_ARRAY_PUSH(list, ib_sp_key *) = key;
    return NULL;
}

static const char *set_sign_requests(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    return parse_flag(ctx, "IdBrokerSignRequests", argv[0], &ctx->tenant->sign_requests);
}

static const char *set_force_authn(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    return parse_flag(ctx, "IdBrokerForceAuthn", argv[0], &ctx->tenant->force_authn);
}

static const char *set_send_nameid_policy(ib_conf_ctx *ctx, int argc,
                                          const char *const *argv)
{
    return parse_flag(ctx, "IdBrokerSendNameIDPolicy", argv[0],
                      &ctx->tenant->send_nameid_policy);
}

static const char *set_sso_binding(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    if (strcasecmp(argv[0], "post") == 0) {
        ctx->tenant->sso_binding = IB_BINDING_POST;
    } else if (strcasecmp(argv[0], "redirect") == 0) {
        ctx->tenant->sso_binding = IB_BINDING_REDIRECT;
    } else {
        return apr_psprintf(ctx->pool, "IdBrokerSSOBinding takes post or redirect, "
                            "not '%s'", argv[0]);
    }
    return NULL;
}

static const char *set_response_signing(ib_conf_ctx *ctx, int argc,
                                        const char *const *argv)
{
    static const struct { const char *name; ib_sign_policy v; } names[] = {
        {"either", IB_SIGN_EITHER}, {"response", IB_SIGN_RESPONSE},
        {"assertion", IB_SIGN_ASSERTION}, {"both", IB_SIGN_BOTH},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(argv[0], names[i].name) == 0) {
            ctx->tenant->response_signing = names[i].v;
            return NULL;
        }
    }
    return apr_psprintf(ctx->pool, "IdBrokerResponseSigning takes either, response, "
                        "assertion or both, not '%s'", argv[0]);
}

static const char *set_authn_context(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    const char *cls = argv[0];
    if (strcasecmp(cls, "unspecified") == 0) {
        cls = IB_AUTHN_CLASS_UNSPECIFIED;
    } else if (strncmp(cls, "urn:", 4) != 0 && strncmp(cls, "http", 4) != 0) {
        /* Short names for the SAML 2.0 classes, e.g. PasswordProtectedTransport. */
        for (const char *s = cls; *s; s++) {
            if (!apr_isalnum(*s)) {
                return apr_psprintf(ctx->pool, "IdBrokerAuthnContext: '%s' is neither "
                                    "a URI nor a SAML 2.0 class name", cls);
            }
        }
        cls = apr_pstrcat(ctx->pool, "urn:oasis:names:tc:SAML:2.0:ac:classes:", cls, NULL);
    }
    ctx->tenant->authn_class = apr_pstrdup(ctx->pool, cls);
    if (argc == 2) {
        if (strcasecmp(argv[1], "exact") == 0) {
            ctx->tenant->authn_comparison = IB_AUTHN_EXACT;
        } else if (strcasecmp(argv[1], "minimum") == 0) {
            ctx->tenant->authn_comparison = IB_AUTHN_MINIMUM;
        } else {
            return apr_psprintf(ctx->pool, "IdBrokerAuthnContext: the comparison is "
                                "exact or minimum, not '%s'", argv[1]);
        }
    }
    return NULL;
}

static const char *set_attribute(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        if (strcmp(argv[0], ib_attr_field_names[i]) == 0) {
            ctx->tenant->attr_names.name[i] = strcmp(argv[1], "-") == 0
                ? NULL : apr_pstrdup(ctx->pool, argv[1]);
            return NULL;
        }
    }
    return apr_psprintf(ctx->pool, "IdBrokerAttribute: '%s' is not an identity field "
                        "(cip_upn, cip_sid, cip_oid, cip_email, displayName, firstName, "
                        "lastName, cip_forest, cip_domain)", argv[0]);
}

static const char *parse_seconds(ib_conf_ctx *ctx, const char *name, const char *arg,
                                 long min, long max, apr_interval_time_t *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || v < min || v > max) {
        return apr_psprintf(ctx->pool, "%s takes a number of seconds from %ld to %ld, "
                            "not '%s'", name, min, max, arg);
    }
    *out = apr_time_from_sec(v);
    return NULL;
}

static const char *set_clock_skew(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    return parse_seconds(ctx, "IdBrokerClockSkew", argv[0], 0, 600, &ctx->tenant->clock_skew);
}

static const char *set_allow_sha1(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    return parse_flag(ctx, "IdBrokerAllowSHA1", argv[0], &ctx->tenant->allow_sha1);
}

static const char *set_session_max_age(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    return parse_seconds(ctx, "IdBrokerSessionMaxAge", argv[0], 60, 604800,
                         &ctx->tenant->session_max_age);
}

static const char *set_session_idle(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    if (strcasecmp(argv[0], "off") == 0) {
        ctx->tenant->session_idle = 0;
        return NULL;
    }
    /* SESS-2: from 10 minutes to 12 hours. */
    return parse_seconds(ctx, "IdBrokerSessionIdleTimeout", argv[0], 600, 43200,
                         &ctx->tenant->session_idle);
}

static const char *set_slo_binding(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    if (strcasecmp(argv[0], "post") == 0) {
        ctx->tenant->slo_binding = IB_SLO_POST;
    } else if (strcasecmp(argv[0], "redirect") == 0) {
        ctx->tenant->slo_binding = IB_SLO_REDIRECT;
    } else if (strcasecmp(argv[0], "redirect-unsigned") == 0) {
        ctx->tenant->slo_binding = IB_SLO_REDIRECT_UNSIGNED;
    } else {
        return apr_psprintf(ctx->pool, "IdBrokerSLOBinding takes post, redirect or "
                            "redirect-unsigned, not '%s'", argv[0]);
    }
    return NULL;
}

static const char *set_allowed_origin(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    ib_base_url origin;
    const char *err = ib_url_parse_base(ctx->pool, argv[0], &origin);
    if (err != NULL || *origin.prefix != '\0') {
        return apr_psprintf(ctx->pool, "IdBrokerAllowedOrigin '%s' must be an origin like "
                            "https://portal.example.com (no path)%s%s", argv[0],
                            err ? ": " : "", err ? err : "");
    }
    APR_ARRAY_PUSH(ctx->tenant->allowed_origins, const char *) = origin.origin;
    return NULL;
}

static const char *set_post_logout_url(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    /* Checked against the allowed origins when the tenant section closes. */
    ctx->tenant->post_logout_url = apr_pstrdup(ctx->pool, argv[0]);
    return NULL;
}

static const char *set_require_signed_logout(ib_conf_ctx *ctx, int argc,
                                             const char *const *argv)
{
    return parse_flag(ctx, "IdBrokerRequireSignedLogout", argv[0],
                      &ctx->tenant->require_signed_logout);
}

/* ---- app-level setters -------------------------------------------------- */

static const char *set_sp_base_url(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    const char *err = ib_url_parse_base(ctx->pool, argv[0], &ctx->app->sp_base);
    if (err != NULL) {
        return apr_pstrcat(ctx->pool, "IdBrokerSPBaseURL: ", err, NULL);
    }
    ctx->app->has_sp_base = 1;
    return NULL;
}

static const char *set_portal_url(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    const char *err = ib_url_parse_base(ctx->pool, argv[0], &ctx->app->portal);
    if (err != NULL) {
        return apr_pstrcat(ctx->pool, "IdBrokerPortalURL: ", err, NULL);
    }
    ctx->app->has_portal = 1;
    return NULL;
}

static const char *check_entity_id(ib_conf_ctx *ctx, const char *what, const char *id)
{
    apr_size_t n = strlen(id);
    if (n == 0 || n > IB_ENTITY_ID_MAX) {
        return apr_psprintf(ctx->pool, "%s must be 1 to %d characters", what,
                            IB_ENTITY_ID_MAX);
    }
    for (const char *s = id; *s; s++) {
        if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == '"' || *s == '<'
            || *s == '>') {
            return apr_psprintf(ctx->pool, "%s '%s' contains a space, quote, angle "
                                "bracket or control character", what, id);
        }
    }
    if (strncmp(id, "https://", 8) != 0 && strncmp(id, "http://", 7) != 0
        && strncmp(id, "urn:", 4) != 0) {
        return apr_psprintf(ctx->pool, "%s '%s' must be an absolute URI "
                            "(https://..., http://... or urn:...)", what, id);
    }
    return NULL;
}

static const char *set_sp_entity_id(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    const char *err = check_entity_id(ctx, "IdBrokerSPEntityID", argv[0]);
    if (err != NULL) {
        return err;
    }
    ctx->app->generic_entity_id = apr_pstrdup(ctx->pool, argv[0]);
    return NULL;
}

static const char *set_sp_entity_scope(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    const char *guid = argv[0];
    if (!ib_is_lowercase_guid(guid)) {
        return apr_psprintf(ctx->pool, "IdBrokerSPEntityScope '%s' is not a "
                            "lowercase GUID like 67338f11-4996-4980-8339-535f76d0c8fb "
                            "(idbroker-tenant new --scoped makes one)", guid);
    }
    const ib_app *other = apr_hash_get(ctx->reg->by_guid, guid, APR_HASH_KEY_STRING);
    ib_tenant *t = ctx->tenant;
    const ib_app *sibling = ctx->app == t->primary ? t->custom_domain : t->primary;
    if (other == NULL && sibling != NULL && sibling->scope_guid != NULL
        && strcmp(sibling->scope_guid, guid) == 0) {
        other = sibling;
    }
    if (other != NULL) {
        return apr_psprintf(ctx->pool, "IdBrokerSPEntityScope %s is already used by "
                            "the %s app of tenant '%s' (%s:%d); every scoped app "
                            "needs its own GUID", guid, other->kind,
                            other->tenant->name, other->file, other->line);
    }
    ctx->app->scope_guid = apr_pstrdup(ctx->pool, guid);
    return NULL;
}

static const char *set_idp_entity_id(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    const char *err = check_entity_id(ctx, "IdBrokerIdPEntityID", argv[0]);
    if (err != NULL) {
        return err;
    }
    ctx->app->idp_entity_id = apr_pstrdup(ctx->pool, argv[0]);
    return NULL;
}

static const char *set_idp_url(ib_conf_ctx *ctx, const char *name, const char *arg,
                               const char **slot)
{
    const char *err = ib_url_check_idp_endpoint(ctx->pool, arg);
    if (err != NULL) {
        return apr_pstrcat(ctx->pool, name, ": ", err, NULL);
    }
    *slot = apr_pstrdup(ctx->pool, arg);
    return NULL;
}

static const char *set_idp_sso_url(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    return set_idp_url(ctx, "IdBrokerIdPSSOURL", argv[0], &ctx->app->idp_sso_url);
}

static const char *set_idp_slo_url(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    return set_idp_url(ctx, "IdBrokerIdPSLOURL", argv[0], &ctx->app->idp_slo_url);
}

static const char *set_idp_cert(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    ib_cert *cert;
    const char *err = ib_cert_load_file(ctx->pool, conf_path(ctx, argv[0]), &cert);
    if (err != NULL) {
        return apr_pstrcat(ctx->pool, "IdBrokerIdPCert: ", err, NULL);
    }
    apr_time_t now = ib_now();
    if (now >= cert->not_after) {
        char when[IB_UTC_TIME_LEN];
        ib_time_format_utc(cert->not_after, when);
        warn(ctx, apr_psprintf(ctx->pool, "IdP certificate '%s' (SHA-256 %s) expired "
                               "at %s; it will verify nothing", cert->path,
                               cert->sha256_hex, when));
    }
    APR_ARRAY_PUSH(ctx->app->idp_certs, ib_cert *) = cert;
    return NULL;
}

/* ---- IdP metadata source (IDPCERT-7) ------------------------------------ */

static ib_idp_source *md_source(ib_conf_ctx *ctx)
{
    ib_app *app = ctx->app;
    if (app->md_source == NULL) {
        ib_idp_source *src = apr_pcalloc(ctx->pool, sizeof(*src));
        src->min_refresh = IB_MD_REFRESH_MIN_DEFAULT;
        src->max_refresh = IB_MD_REFRESH_MAX_DEFAULT;
        src->timeout = IB_MD_TIMEOUT_DEFAULT;
        src->conf_file = apr_pstrdup(ctx->pool, ctx->file ? ctx->file : "?");
        src->conf_line = ctx->line;
        app->md_source = src;
    }
    return app->md_source;
}

static const char *set_idp_metadata_url(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    apr_uri_t u;
    const char *url = argv[0];
    if (apr_uri_parse(ctx->pool, url, &u) != APR_SUCCESS || u.scheme == NULL
        || u.hostname == NULL || *u.hostname == '\0' || u.user != NULL || u.fragment != NULL
        || (strcasecmp(u.scheme, "https") != 0 && strcasecmp(u.scheme, "http") != 0)) {
        return apr_psprintf(ctx->pool, "IdBrokerIdPMetadataURL '%s' is not an absolute "
                            "https:// (or signed http://) URL without user info or fragment",
                            url);
    }
    ib_idp_source *src = md_source(ctx);
    if (src->file != NULL) {
        return "IdBrokerIdPMetadataURL and IdBrokerIdPMetadataFile exclude each other";
    }
    src->url = apr_pstrdup(ctx->pool, url);
    return NULL;
}

static const char *set_idp_metadata_file(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    ib_idp_source *src = md_source(ctx);
    if (src->url != NULL) {
        return "IdBrokerIdPMetadataURL and IdBrokerIdPMetadataFile exclude each other";
    }
    src->file = conf_path(ctx, argv[0]);
    return NULL;
}

static const char *set_idp_metadata_signer(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    ib_cert *cert;
    const char *err = ib_cert_load_file(ctx->pool, conf_path(ctx, argv[0]), &cert);
    if (err != NULL) {
        return apr_pstrcat(ctx->pool, "IdBrokerIdPMetadataSigner: ", err, NULL);
    }
    md_source(ctx)->signer = cert;
    return NULL;
}

static const char *set_idp_metadata_ca(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    const char *path = conf_path(ctx, argv[0]);
    apr_finfo_t fi;
    if (apr_stat(&fi, path, APR_FINFO_TYPE, ctx->pool) != APR_SUCCESS || fi.filetype != APR_REG) {
        return apr_psprintf(ctx->pool, "IdBrokerIdPMetadataCA: '%s' is not a readable file "
                            "of PEM CA certificates", path);
    }
    md_source(ctx)->ca_file = path;
    return NULL;
}

static const char *set_idp_metadata_refresh(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    ib_idp_source *src = md_source(ctx);
    const char *err = parse_seconds(ctx, "IdBrokerIdPMetadataRefresh", argv[0], 1, 604800,
                                    &src->min_refresh);
    if (err == NULL) {
        err = parse_seconds(ctx, "IdBrokerIdPMetadataRefresh", argv[1], 1, 604800,
                            &src->max_refresh);
    }
    if (err == NULL && src->max_refresh < src->min_refresh) {
        err = "IdBrokerIdPMetadataRefresh MIN MAX: MAX must not be below MIN";
    }
    return err;
}

static const char *set_idp_metadata_timeout(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    return parse_seconds(ctx, "IdBrokerIdPMetadataTimeout", argv[0], 1, 120,
                         &md_source(ctx)->timeout);
}

/* A source without a document, or plain http without a signature to vouch
 * for what travelled in the clear, is a configuration error. */
static const char *finalize_md_source(ib_conf_ctx *ctx, ib_app *app)
{
    ib_idp_source *src = app->md_source;
    if (src == NULL) {
        return NULL;
    }
    if (src->url == NULL && src->file == NULL) {
        return apr_psprintf(ctx->pool, "the %s app of tenant '%s' sets IdP metadata options "
                            "(%s:%d) but neither IdBrokerIdPMetadataURL nor "
                            "IdBrokerIdPMetadataFile", app->kind, app->tenant->name,
                            src->conf_file, src->conf_line);
    }
    if (src->url != NULL && strncasecmp(src->url, "http:", 5) == 0 && src->signer == NULL) {
        return apr_psprintf(ctx->pool, "the %s app of tenant '%s': IdBrokerIdPMetadataURL %s "
                            "is plain http; add IdBrokerIdPMetadataSigner CERT (the IdP's "
                            "metadata-signing certificate) or use https", app->kind,
                            app->tenant->name, src->url);
    }
    if (src->file != NULL && (src->ca_file != NULL)) {
        return apr_psprintf(ctx->pool, "the %s app of tenant '%s': IdBrokerIdPMetadataCA "
                            "applies to IdBrokerIdPMetadataURL only", app->kind,
                            app->tenant->name);
    }
    return NULL;
}

/* ---- OpenID Connect connection ------------------------------------------ */

static ib_oidc_conf *oidc_conf(ib_conf_ctx *ctx)
{
    if (ctx->app->oidc == NULL) {
        ib_oidc_conf *c = apr_pcalloc(ctx->pool, sizeof(*c));
        c->scopes = "openid profile email";
        c->redirect_path = "/oidc/callback";
        ctx->app->oidc = c;
    }
    return ctx->app->oidc;
}

static const char *set_oidc_issuer(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    oidc_conf(ctx)->issuer = apr_pstrdup(ctx->pool, argv[0]);
    return NULL;
}

static const char *set_oidc_provider(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    static const char *const names[] = {"generic", "okta", "entra", "google"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(argv[0], names[i]) == 0) {
            oidc_conf(ctx)->preset = (ib_oidc_preset)i;
            return NULL;
        }
    }
    return apr_psprintf(ctx->pool, "IdBrokerOIDCProvider takes okta, entra, google or "
                        "generic, not '%s'", argv[0]);
}

static const char *set_oidc_discovery(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    const char *err = ib_url_check_idp_endpoint(ctx->pool, argv[0]);
    if (err != NULL) {
        return apr_pstrcat(ctx->pool, "IdBrokerOIDCDiscoveryURL: ", err, NULL);
    }
    oidc_conf(ctx)->discovery_url = apr_pstrdup(ctx->pool, argv[0]);
    return NULL;
}

static const char *set_oidc_client_id(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    oidc_conf(ctx)->client_id = apr_pstrdup(ctx->pool, argv[0]);
    return NULL;
}

/* file:PATH or env:NAME; the secret itself never appears in a message. */
static const char *set_oidc_client_secret(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    ib_oidc_conf *c = oidc_conf(ctx);
    const char *arg = argv[0];
    if (strncmp(arg, "env:", 4) == 0 && arg[4] != '\0') {
        const char *v = getenv(arg + 4);
        if (v == NULL || *v == '\0') {
            return apr_psprintf(ctx->pool, "IdBrokerOIDCClientSecret: the environment "
                                "variable %s is not set", arg + 4);
        }
        c->client_secret = apr_pstrdup(ctx->pool, v);
        c->secret_source = apr_pstrcat(ctx->pool, "environment variable ", arg + 4, NULL);
        return NULL;
    }
    if (strncmp(arg, "file:", 5) != 0 || arg[5] == '\0') {
        return "IdBrokerOIDCClientSecret takes file:PATH or env:NAME (never the secret itself)";
    }
    const char *path = conf_path(ctx, arg + 5);
    char *data;
    apr_size_t len;
    const char *err = ib_read_small_file(ctx->pool, path, &data, &len);
    if (err != NULL) {
        return apr_pstrcat(ctx->pool, "IdBrokerOIDCClientSecret: ", err, NULL);
    }
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' ')) {
        data[--len] = '\0';
    }
    if (len == 0 || strlen(data) != len) {
        return apr_psprintf(ctx->pool, "IdBrokerOIDCClientSecret: '%s' holds no secret "
                            "(one line of text)", path);
    }
    c->client_secret = data;
    c->secret_source = apr_pstrcat(ctx->pool, "file ", path, NULL);
    return NULL;
}

static const char *set_oidc_scopes(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    const char *scopes = "";
    for (int i = 0; i < argc; i++) {
        for (const char *c = argv[i]; *c; c++) {
            if (*c <= ' ' || *c == '"' || *c == '\\' || (unsigned char)*c > 0x7e) {
                return apr_psprintf(ctx->pool, "IdBrokerOIDCScopes: '%s' is not a scope",
                                    argv[i]);
            }
        }
        scopes = apr_pstrcat(ctx->pool, scopes, i ? " " : "", argv[i], NULL);
    }
    oidc_conf(ctx)->scopes = scopes;
    return NULL;
}

static const char *set_oidc_redirect_path(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    const char *path = argv[0];
    if (path[0] != '/' || path[1] == '/' || strpbrk(path, "?#\\ ") != NULL
        || strncmp(path, "/saml/", 6) == 0) {
        return apr_psprintf(ctx->pool, "IdBrokerOIDCRedirectPath '%s' must be a path like "
                            "/oidc/callback (no query, not below /saml/)", path);
    }
    oidc_conf(ctx)->redirect_path = apr_pstrdup(ctx->pool, path);
    return NULL;
}

static const char *set_oidc_client_auth(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    if (strcmp(argv[0], "client_secret_basic") == 0 || strcmp(argv[0], "client_secret_post") == 0) {
        oidc_conf(ctx)->client_secret_post = strcmp(argv[0], "client_secret_post") == 0;
        return NULL;
    }
    return "IdBrokerOIDCClientAuth takes client_secret_basic or client_secret_post";
}

static const char *set_oidc_userinfo(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    return parse_flag(ctx, "IdBrokerOIDCUserinfo", argv[0], &oidc_conf(ctx)->userinfo);
}

static const char *set_oidc_entra_tenant(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    for (const char *c = argv[0]; *c; c++) {
        if (!apr_isxdigit(*c) && *c != '-') {
            return "IdBrokerOIDCEntraTenant takes the tenant ID (a GUID)";
        }
    }
    oidc_conf(ctx)->entra_tenant = apr_pstrdup(ctx->pool, argv[0]);
    return NULL;
}

/* ---- error pages (ib_pages.h) ------------------------------------------- */

static const char *set_error_template(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    const char *err = ib_pages_set_template(ctx->pool, ctx->tenant, conf_path(ctx, argv[0]));
    if (err == NULL && !ib_page_template_uses(ctx->tenant->pages->tpl, IB_PAGE_TXID)) {
        warn(ctx, apr_psprintf(ctx->pool, "tenant '%s': IdBrokerErrorTemplate %s has no "
                               "{{txid}}: users cannot quote the Transaction ID",
                               ctx->tenant->name, argv[0]));
    }
    return err;
}

static const char *set_support_contact(ib_conf_ctx *ctx, int argc, const char *const *argv)
{
    return ib_pages_set_support(ctx->pool, ctx->tenant, argc, argv);
}

static const char *finalize_oidc(ib_conf_ctx *ctx, ib_app *app)
{
    ib_oidc_conf *c = app->oidc;
    if (c == NULL) {
        return NULL;
    }
    const char *err = ib_oidc_conf_check(ctx->pool, c);
    if (err == NULL && (app->idp_entity_id || app->idp_sso_url || app->idp_certs->nelts
                        || app->md_source)) {
        err = "an app is either SAML (IdBrokerIdP...) or OpenID Connect (IdBrokerOIDC...), "
              "not both";
    }
    if (err != NULL) {
        return apr_psprintf(ctx->pool, "the %s app of tenant '%s': %s", app->kind,
                            app->tenant->name, err);
    }
    if (c->discovery_url == NULL) {
        c->discovery_url = ib_oidc_default_discovery_url(ctx->pool, c->issuer);
    }
    return NULL;
}

/* ---- the directive table ------------------------------------------------ */

typedef struct {
    const char *name;
    int where;
    int min_args;
    int max_args;
    ib_setter *set;
} ib_directive;

#define IB_DIRECTIVE(name, where, min, max, setter, help) {name, where, min, max, setter},
static const ib_directive directives[] = {
#include "ib_directives.def"
};
#undef IB_DIRECTIVE

#define IB_N_DIRECTIVES (sizeof(directives) / sizeof(directives[0]))

/* Directives that may appear once per section; the rest repeat. */
static int repeatable(const char *name)
{
    return strcasecmp(name, "IdBrokerSPKey") == 0 || strcasecmp(name, "IdBrokerIdPCert") == 0
           || strcasecmp(name, "IdBrokerSPDecryptionKey") == 0
           || strcasecmp(name, "IdBrokerAttribute") == 0
           || strcasecmp(name, "IdBrokerAllowedOrigin") == 0;
}

static const ib_directive *find_directive(const char *name)
{
    for (size_t i = 0; i < IB_N_DIRECTIVES; i++) {
        if (strcasecmp(directives[i].name, name) == 0) {
            return &directives[i];
        }
    }
    return NULL;
}

int ib_conf_is_tenant_directive(const char *name)
{
    return find_directive(name) != NULL;
}

void ib_conf_init(ib_conf_ctx *ctx, apr_pool_t *p, ib_registry *reg)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->pool = p;
    ctx->reg = reg;
}

static const char *check_once(ib_conf_ctx *ctx, const ib_directive *d)
{
    if (repeatable(d->name)) {
        return NULL;
    }
    const char *key = apr_pstrcat(ctx->pool, ctx->app ? ctx->app->kind : "", "/",
                                  d->name, NULL);
    const char *first = apr_hash_get(ctx->tenant->seen, key, APR_HASH_KEY_STRING);
    if (first != NULL) {
        return apr_psprintf(ctx->pool, "%s is given twice in this %s section "
                            "(first at %s)", d->name,
                            ctx->app ? IB_SECTION_APP : IB_SECTION_TENANT, first);
    }
    apr_hash_set(ctx->tenant->seen, key, APR_HASH_KEY_STRING,
                 apr_psprintf(ctx->pool, "%s:%d", ctx->file ? ctx->file : "?", ctx->line));
    return NULL;
}

const char *ib_conf_directive(ib_conf_ctx *ctx, const char *name,
                              int argc, const char *const *argv)
{
    const ib_directive *d = find_directive(name);
    if (d == NULL) {
        return apr_psprintf(ctx->pool, "unknown directive '%s'", name);
    }
    if (ctx->tenant == NULL) {
        return apr_psprintf(ctx->pool, "%s belongs inside an <%s NAME> section",
                            d->name, IB_SECTION_TENANT);
    }
    if (ctx->app != NULL && !(d->where & IB_IN_APP)) {
        return apr_psprintf(ctx->pool, "%s applies to the whole tenant; move it out "
                            "of <%s %s> into <%s %s>", d->name, IB_SECTION_APP,
                            ctx->app->kind, IB_SECTION_TENANT, ctx->tenant->name);
    }
    if (ctx->app == NULL && !(d->where & IB_IN_TENANT)) {
        return apr_psprintf(ctx->pool, "%s belongs inside an <%s primary> or <%s "
                            "custom-domain> section", d->name, IB_SECTION_APP,
                            IB_SECTION_APP);
    }
    if (argc < d->min_args || argc > d->max_args) {
        return apr_psprintf(ctx->pool, "%s takes %d%s%s argument%s, got %d", d->name,
                            d->min_args, d->max_args > d->min_args ? " to " : "",
                            d->max_args > d->min_args
                                ? apr_itoa(ctx->pool, d->max_args) : "",
                            d->max_args == 1 ? "" : "s", argc);
    }
    const char *err = check_once(ctx, d);
    return err != NULL ? err : d->set(ctx, argc, argv);
}

/* ---- sections ----------------------------------------------------------- */

const char *ib_conf_begin_tenant(ib_conf_ctx *ctx, const char *name)
{
    if (ctx->tenant != NULL) {
        return apr_psprintf(ctx->pool, "<%s> sections cannot be nested",
                            IB_SECTION_TENANT);
    }
    apr_size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > IB_ID_MAX) {
        return apr_psprintf(ctx->pool, "<%s NAME> needs a name of 1 to %d letters, "
                            "digits, '-', '_' or '.'", IB_SECTION_TENANT, IB_ID_MAX);
    }
    for (apr_size_t i = 0; i < n; i++) {
        if (!apr_isalnum(name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.') {
            return apr_psprintf(ctx->pool, "tenant name '%s' may contain only letters, "
                                "digits, '-', '_' and '.'", name);
        }
    }
    ib_tenant *other = apr_hash_get(ctx->reg->by_name, name, APR_HASH_KEY_STRING);
    if (other != NULL) {
        return apr_psprintf(ctx->pool, "tenant '%s' is already defined at %s:%d",
                            name, other->file, other->line);
    }
    ib_tenant *t = apr_pcalloc(ctx->pool, sizeof(*t));
    t->name = apr_pstrdup(ctx->pool, name);
    t->file = apr_pstrdup(ctx->pool, ctx->file ? ctx->file : "?");
    t->line = ctx->line;
    t->sp_keys = apr_array_make(ctx->pool, 2, sizeof(ib_sp_key *));
    t->decrypt_keys = apr_array_make(ctx->pool, 1, sizeof(ib_sp_key *));
    t->sign_requests = 1;
    t->sso_binding = IB_BINDING_POST;
    t->response_signing = IB_SIGN_EITHER;
    t->authn_class = IB_AUTHN_CLASS_UNSPECIFIED;
    t->authn_comparison = IB_AUTHN_EXACT;
    t->seen = apr_hash_make(ctx->pool);
    ib_attr_names_default(&t->attr_names);
    t->clock_skew = apr_time_from_sec(120);
    t->session_max_age = apr_time_from_sec(86400);
    t->slo_binding = IB_SLO_POST;
    t->post_logout_url = "/";
    t->allowed_origins = apr_array_make(ctx->pool, 2, sizeof(const char *));
    t->require_signed_logout = 1;
    ctx->tenant = t;
    return NULL;
}

const char *ib_conf_begin_app(ib_conf_ctx *ctx, const char *kind)
{
    ib_tenant *t = ctx->tenant;
    if (t == NULL) {
        return apr_psprintf(ctx->pool, "<%s> belongs inside an <%s NAME> section",
                            IB_SECTION_APP, IB_SECTION_TENANT);
    }
    if (ctx->app != NULL) {
        return apr_psprintf(ctx->pool, "<%s> sections cannot be nested", IB_SECTION_APP);
    }
    ib_app **slot;
    if (kind != NULL && strcasecmp(kind, IB_APP_PRIMARY) == 0) {
        slot = &t->primary;
        kind = IB_APP_PRIMARY;
    } else if (kind != NULL && strcasecmp(kind, IB_APP_CUSTOM_DOMAIN) == 0) {
        slot = &t->custom_domain;
        kind = IB_APP_CUSTOM_DOMAIN;
    } else {
        return apr_psprintf(ctx->pool, "<%s %s>: the app is 'primary' or "
                            "'custom-domain'", IB_SECTION_APP, kind ? kind : "");
    }
    if (*slot != NULL) {
        return apr_psprintf(ctx->pool, "tenant '%s' already has a %s app (%s:%d)",
                            t->name, kind, (*slot)->file, (*slot)->line);
    }
    ib_app *app = apr_pcalloc(ctx->pool, sizeof(*app));
    app->tenant = t;
    app->kind = kind;
    app->file = apr_pstrdup(ctx->pool, ctx->file ? ctx->file : "?");
    app->line = ctx->line;
    app->own_sp_keys = apr_array_make(ctx->pool, 2, sizeof(ib_sp_key *));
    app->own_decrypt_keys = apr_array_make(ctx->pool, 1, sizeof(ib_sp_key *));
    app->idp_certs = apr_array_make(ctx->pool, 2, sizeof(ib_cert *));
    *slot = app;
    ctx->app = app;
    return NULL;
}

const char *ib_conf_end_app(ib_conf_ctx *ctx)
{
    ib_app *app = ctx->app;
    if (app == NULL) {
        return apr_psprintf(ctx->pool, "</%s> without <%s>", IB_SECTION_APP, IB_SECTION_APP);
    }
    ctx->app = NULL;
    if (!app->has_sp_base) {
        return apr_psprintf(ctx->pool, "the %s app of tenant '%s' has no "
                            "IdBrokerSPBaseURL; add the URL its /saml/... endpoints "
                            "live under", app->kind, app->tenant->name);
    }
    int any_idp = app->idp_entity_id || app->idp_sso_url || app->idp_slo_url
                  || app->idp_certs->nelts > 0;
    int pinned_complete = app->idp_entity_id && app->idp_sso_url && app->idp_certs->nelts > 0;
    /* With a metadata source, pinned values only add to (or override) it. */
    if (any_idp && !pinned_complete && app->md_source == NULL) {
        return apr_psprintf(ctx->pool, "the %s app of tenant '%s' has an incomplete IdP "
                            "connection; missing:%s%s%s", app->kind, app->tenant->name,
                            app->idp_entity_id ? "" : " IdBrokerIdPEntityID",
                            app->idp_sso_url ? "" : " IdBrokerIdPSSOURL",
                            app->idp_certs->nelts ? "" : " IdBrokerIdPCert");
    }
    return NULL;
}

/* A stable ID for the SPSSODescriptor (MD-2): the same config yields the same
 * document in httpd and in the CLI, so IdPs that poll see no spurious change. */
static const char *metadata_id(apr_pool_t *p, const ib_app *app)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    const char *seed = apr_pstrcat(p, app->sp_entity_id, "\n", app->sp_base.url, NULL);
    EVP_Digest(seed, strlen(seed), d, &n, EVP_sha256(), NULL);
    return apr_psprintf(p, "_%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                        "%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2], d[3], d[4], d[5],
                        d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]);
}

static const char *finalize_app(ib_conf_ctx *ctx, ib_app *app, const ib_app *primary)
{
    if (app->generic_entity_id == NULL) {
        /* EID-1: the region host URL; the custom-domain app shares the primary's
         * generic ID (CD-3), never the custom host (EP-5). */
        app->generic_entity_id = primary && primary != app
            ? primary->generic_entity_id : app->sp_base.origin;
    }
    if (app->scope_guid != NULL) {
        apr_size_t n = strlen(app->generic_entity_id);
        if (n > 0 && app->generic_entity_id[n - 1] == '/') {
            return apr_psprintf(ctx->pool, "the %s app of tenant '%s': a scoped "
                                "IdBrokerSPEntityID must not end with '/' ('%s')",
                                app->kind, app->tenant->name, app->generic_entity_id);
        }
        app->sp_entity_id = apr_pstrcat(ctx->pool, app->generic_entity_id, "/",
                                        app->scope_guid, NULL);
    } else {
        app->sp_entity_id = app->generic_entity_id;
    }
    app->sp_keys = app->own_sp_keys->nelts ? app->own_sp_keys : app->tenant->sp_keys;
    app->decrypt_keys = app->own_decrypt_keys->nelts ? app->own_decrypt_keys
                                                     : app->tenant->decrypt_keys;
    if (app->sp_keys->nelts == 0) {
        return apr_psprintf(ctx->pool, "the %s app of tenant '%s' has no SP signing "
                            "key; add IdBrokerSPKey KEY.pem CERT.pem (idbroker-tenant "
                            "new makes a pair)", app->kind, app->tenant->name);
    }
    app->metadata_id = metadata_id(ctx->pool, app);
    apr_time_t now = ib_now();
    if (ib_sp_keys_active(app->sp_keys, now) == NULL) {
        warn(ctx, apr_psprintf(ctx->pool, "tenant '%s', %s app: no SP key is active "
                               "now (each is expired, not yet valid or scheduled "
                               "later); signed requests will fail until one is",
                               app->tenant->name, app->kind));
    }
    if (!app->has_portal) {
        app->portal = app->sp_base;
    } else if (app->oidc != NULL && ib_app_hands_off(app)) {
        return apr_psprintf(ctx->pool, "the %s app of tenant '%s': IdBrokerPortalURL (a "
                            "hand-off from a shared SAML host) is for SAML apps; an OpenID "
                            "Connect app's redirect URI lives on its portal host",
                            app->kind, app->tenant->name);
    } else if (ib_app_hands_off(app)) {
        /* The portal's own origin is a fine place to return to. */
        APR_ARRAY_PUSH(app->tenant->allowed_origins, const char *) = app->portal.origin;
    }
    const char *md_err = finalize_oidc(ctx, app);
    if (md_err != NULL) {
        return md_err;
    }
    md_err = finalize_md_source(ctx, app);
    if (md_err != NULL) {
        return md_err;
    }
    app->pinned = *ib_idp_view_make(ctx->pool, app, NULL, "configuration", now);
    if (!ib_app_has_idp(app) && app->md_source == NULL && app->oidc == NULL) {
        warn(ctx, apr_psprintf(ctx->pool, "tenant '%s', %s app: no IdP connection "
                               "configured yet; metadata is served, sign-in shows "
                               "'not configured'", app->tenant->name, app->kind));
    }
    return NULL;
}

const char *ib_conf_end_tenant(ib_conf_ctx *ctx)
{
    ib_tenant *t = ctx->tenant;
    if (t == NULL) {
        return apr_psprintf(ctx->pool, "</%s> without <%s>", IB_SECTION_TENANT,
                            IB_SECTION_TENANT);
    }
    if (ctx->app != NULL) {
        return apr_psprintf(ctx->pool, "<%s %s> is not closed", IB_SECTION_APP,
                            ctx->app->kind);
    }
    ctx->tenant = NULL;
    if (t->signin_id == NULL) {
        return apr_psprintf(ctx->pool, "tenant '%s' has no IdBrokerSignInID; add its "
                            "URL-friendly sign-in identifier", t->name);
    }
    if (t->primary == NULL) {
        return apr_psprintf(ctx->pool, "tenant '%s' has no <%s primary> section",
                            t->name, IB_SECTION_APP);
    }
    const char *err = finalize_app(ctx, t->primary, t->primary);
    if (err == NULL && t->custom_domain != NULL) {
        if (strcmp(t->custom_domain->sp_base.url, t->primary->sp_base.url) == 0) {
            return apr_psprintf(ctx->pool, "tenant '%s': the custom-domain app needs "
                                "its own IdBrokerSPBaseURL (both apps use %s)",
                                t->name, t->primary->sp_base.url);
        }
        err = finalize_app(ctx, t->custom_domain, t->primary);
    }
    if (err == NULL && ib_url_check_target(ctx->pool, t->post_logout_url, &t->primary->sp_base,
                                           t->allowed_origins) == NULL) {
        err = apr_psprintf(ctx->pool, "tenant '%s': IdBrokerPostLogoutURL '%s' is neither a "
                           "local path nor on the SP base URL's origin or an "
                           "IdBrokerAllowedOrigin", t->name, t->post_logout_url);
    }
    if (err != NULL) {
        return err;
    }
    APR_ARRAY_PUSH(ctx->reg->tenants, ib_tenant *) = t;
    apr_hash_set(ctx->reg->by_name, t->name, APR_HASH_KEY_STRING, t);
    apr_hash_set(ctx->reg->by_signin_id, t->signin_id, APR_HASH_KEY_STRING, t);
    ib_registry_index_app(ctx->reg, t->primary);
    if (t->custom_domain != NULL) {
        ib_registry_index_app(ctx->reg, t->custom_domain);
    }
    return NULL;
}
