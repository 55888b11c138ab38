/* idbroker-tenant: operator tooling for tenant conf files.
 *
 *   idbroker-tenant new NAME --sp-base URL [--scoped] [--signin-id ID] [--dir DIR]
 *   idbroker-tenant metadata FILE [--app primary|custom-domain] [--at YYYY-MM-DDTHH:MM:SSZ]
 *   idbroker-tenant oidc-check FILE [--app primary|custom-domain]
 *   idbroker-tenant add-app FILE custom-domain --sp-base URL [--scoped]
 *   idbroker-tenant rotate-key FILE --at YYYY-MM-DDTHH:MM:SSZ [--dir DIR]
 *   idbroker-tenant show FILE [--app primary|custom-domain]
 *   idbroker-tenant check FILE
 *
 * `new` makes what a tenant needs before its IdP is set up: a scope GUID when
 * asked, an RSA-3072 SP key with a one-year self-signed certificate, and a
 * commented conf file. `metadata` prints the SP metadata the server would
 * serve for that file, so the IdP side can be configured before the SP is
 * live; `show` prints the same facts as the values an IdP console asks for.
 * `add-app` and `rotate-key` edit an existing file: they insert their lines
 * and keep every other byte, and the result replaces the file only once it
 * reads back cleanly. `check` validates a file on its own. All of them read
 * files with the module's own core, so they accept and refuse exactly what
 * httpd does. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <libxml/parser.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "core/ib_clock.h"
#include "core/ib_conf.h"
#include "core/ib_expiry.h"
#include "core/ib_http.h"
#include "core/ib_jose.h"
#include "core/ib_metadata.h"
#include "core/ib_oidc.h"
#include "core/ib_oidc_provider.h"
#include "core/ib_random.h"

#define SP_KEY_BITS 3072
#define SP_CERT_DAYS 365
#define SP_CERT_LIFETIME ((long)SP_CERT_DAYS * 24 * 3600)
#define CONF_FILE_MAX (1024 * 1024) /* what the module's reader accepts, too */
#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fputs("usage:\n"
          "  idbroker-tenant new NAME --sp-base URL [--scoped] [--signin-id ID] [--dir DIR]\n"
          "  idbroker-tenant metadata FILE [--app primary|custom-domain]"
          " [--at YYYY-MM-DDTHH:MM:SSZ]\n"
          "  idbroker-tenant oidc-check FILE [--app primary|custom-domain]\n"
          "  idbroker-tenant add-app FILE custom-domain --sp-base URL [--scoped]\n"
          "  idbroker-tenant rotate-key FILE --at YYYY-MM-DDTHH:MM:SSZ [--dir DIR]\n"
          "  idbroker-tenant show FILE [--app primary|custom-domain]\n"
          "  idbroker-tenant check FILE\n", out);
}

static int fail(const char *msg)
{
    fprintf(stderr, "idbroker-tenant: %s\n", msg);
    return 1;
}

/* ---- new ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    const char *sp_base;
    const char *signin_id;
    const char *dir;
    int scoped;
} new_args;

/* A self-signed certificate for key, valid from now for `lifetime` seconds. */
static X509 *self_signed_cert(EVP_PKEY *key, const char *common_name, long lifetime)
{
    X509 *x = X509_new();
    unsigned char serial[16];
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f; /* a positive serial number */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), lifetime);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               (const unsigned char *)common_name, -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               (const unsigned char *)"mod_auth_idbroker SP signing",
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (X509_sign(x, key, EVP_sha256()) == 0) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int write_pem_files(const char *key_path, const char *cert_path,
                           EVP_PKEY *key, X509 *cert)
{
    mode_t old = umask(077); /* the private key is readable by its owner only */
    FILE *f = fopen(key_path, "wx");
    umask(old);
    if (f == NULL) {
        return 0;
    }
    int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    ok = (fclose(f) == 0) && ok;
    f = fopen(cert_path, "wx");
    if (f == NULL) {
        return 0;
    }
    ok = PEM_write_X509(f, cert) && ok;
    return (fclose(f) == 0) && ok;
}

static const char *conf_text(apr_pool_t *p, const new_args *a, const ib_base_url *base,
                             const char *guid, const char *key_rel, const char *cert_rel)
{
    const char *scope_line = guid
        ? apr_psprintf(p, "        # Scoped SP entity ID (EID-2): %s/%s\n"
                          "        # Keep this GUID: the IdP app is registered under it.\n"
                          "        IdBrokerSPEntityScope %s\n", base->origin, guid, guid)
        : "        # Generic SP entity ID (the SP base URL's scheme://host). To give\n"
          "        # this app its own entity ID: IdBrokerSPEntityScope <GUID>\n";
    return apr_psprintf(p,
        "# Tenant '%s', written by idbroker-tenant. Include it from httpd.conf:\n"
        "#     Include %s/*.conf\n"
        "# Relative paths below are relative to this file's directory.\n"
        "<IdBrokerTenant %s>\n"
        "    # Sign-in identifier: users may start at /go/%s\n"
        "    IdBrokerSignInID %s\n"
        "\n"
        "    # SP signing keys, oldest first. To rotate, add the next key with\n"
        "    # activate-at=YYYY-MM-DDTHH:MM:SSZ: the metadata advertises it at once\n"
        "    # and requests are signed with it from that instant on.\n"
        "    IdBrokerSPKey %s %s\n"
        "\n"
        "    # Defaults, shown for reference:\n"
        "    # IdBrokerSignRequests On\n"
        "    # IdBrokerSSOBinding post\n"
        "    # IdBrokerResponseSigning either\n"
        "    # IdBrokerAuthnContext unspecified exact\n"
        "\n"
        "    <IdBrokerApp primary>\n"
        "        IdBrokerSPBaseURL %s\n"
        "%s"
        "\n"
        "        # The IdP connection. Give the IdP this tenant's metadata first:\n"
        "        #     idbroker-tenant metadata <this file>\n"
        "        # or %s/saml/metadata%s once the server runs, then fill in:\n"
        "        # IdBrokerIdPEntityID https://idp.example.com/entity\n"
        "        # IdBrokerIdPSSOURL   https://idp.example.com/sso\n"
        "        # IdBrokerIdPSLOURL   https://idp.example.com/slo\n"
        "        # IdBrokerIdPCert     idp-signing.pem\n"
        "    </IdBrokerApp>\n"
        "</IdBrokerTenant>\n",
        a->name, a->dir, a->name, a->signin_id, a->signin_id, key_rel, cert_rel,
        base->url, scope_line, base->url,
        guid ? apr_pstrcat(p, "?entity=", guid, NULL) : "");
}

static int write_new_conf(apr_pool_t *p, const char *path, const char *text)
{
    FILE *f = fopen(path, "wx");
    if (f == NULL) {
        return 0;
    }
    int ok = fputs(text, f) >= 0;
    return (fclose(f) == 0) && ok;
}

static int cmd_new(apr_pool_t *p, const new_args *a)
{
    ib_base_url base;
    const char *err = ib_url_parse_base(p, a->sp_base, &base);
    if (err != NULL) {
        return fail(err);
    }
    /* Validate name and sign-in ID with the real rules before writing anything. */
    ib_conf_ctx ctx;
    ib_conf_init(&ctx, p, ib_registry_make(p));
    const char *argv[] = {a->signin_id};
    if ((err = ib_conf_begin_tenant(&ctx, a->name)) != NULL
        || (err = ib_conf_directive(&ctx, "IdBrokerSignInID", 1, argv)) != NULL) {
        return fail(err);
    }
    const char *conf_path = apr_pstrcat(p, a->dir, "/", a->name, ".conf", NULL);
    const char *key_dir_rel = apr_pstrcat(p, a->name, "-keys", NULL);
    const char *key_dir = apr_pstrcat(p, a->dir, "/", key_dir_rel, NULL);
    apr_finfo_t fi;
    if (apr_stat(&fi, conf_path, APR_FINFO_TYPE, p) == APR_SUCCESS) {
        return fail(apr_psprintf(p, "%s exists; choose another name or remove it",
                                 conf_path));
    }
    if (apr_dir_make_recursive(key_dir, APR_FPROT_OS_DEFAULT, p) != APR_SUCCESS) {
        return fail(apr_psprintf(p, "cannot create %s", key_dir));
    }
    char guid[IB_UUID_LEN];
    if (a->scoped && ib_uuid_v4(guid) != APR_SUCCESS) {
        return fail("the random generator failed");
    }
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)SP_KEY_BITS);
    X509 *cert = key ? self_signed_cert(key, base.host, SP_CERT_LIFETIME) : NULL;
    const char *key_rel = apr_pstrcat(p, key_dir_rel, "/sp-signing.key", NULL);
    const char *cert_rel = apr_pstrcat(p, key_dir_rel, "/sp-signing.crt", NULL);
    int ok = cert != NULL
             && write_pem_files(apr_pstrcat(p, a->dir, "/", key_rel, NULL),
                                apr_pstrcat(p, a->dir, "/", cert_rel, NULL), key, cert);
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) {
        return fail(apr_psprintf(p, "cannot write the SP key pair into %s (does it "
                                 "exist already?)", key_dir));
    }
    const char *text = conf_text(p, a, &base, a->scoped ? guid : NULL, key_rel, cert_rel);
    if (!write_new_conf(p, conf_path, text)) {
        return fail(apr_psprintf(p, "cannot write %s", conf_path));
    }
    printf("%s\n", conf_path);
    if (a->scoped) {
        printf("scoped SP entity ID: %s/%s\n", base.origin, guid);
    }
    return 0;
}

/* ---- reading tenant files ------------------------------------------------ */

/* Warnings go to stderr as FILE:LINE: message. While a command validates a
 * temporary copy, warn_baton holds the name of the file the copy replaces, so
 * messages name the operator's file, not the copy. */
static void print_warning(ib_conf_ctx *ctx, const char *message)
{
    const char *file = ctx->warn_baton ? (const char *)ctx->warn_baton : ctx->file;
    fprintf(stderr, "idbroker-tenant: warning: %s:%d: %s\n", file, ctx->line, message);
}

/* Reads FILE with the module's reader; it must hold exactly one tenant.
 * With quiet, warnings are dropped (a command that re-reads its result
 * reports them once, then). */
static const char *load_tenant(apr_pool_t *p, const char *file, int quiet, ib_conf_ctx *ctx,
                               const ib_tenant **out)
{
    ib_conf_init(ctx, p, ib_registry_make(p));
    ctx->warn = quiet ? NULL : print_warning;
    const char *err = ib_conf_read_file(ctx, file);
    if (err != NULL) {
        return err;
    }
    if (ctx->reg->tenants->nelts != 1) {
        return apr_psprintf(p, "%s defines %d tenants; give a file with exactly one", file,
                            ctx->reg->tenants->nelts);
    }
    *out = APR_ARRAY_IDX(ctx->reg->tenants, 0, const ib_tenant *);
    return NULL;
}

static const ib_app *app_of_kind(const ib_tenant *t, const char *app_kind)
{
    return strcmp(app_kind, IB_APP_PRIMARY) == 0 ? t->primary
           : strcmp(app_kind, IB_APP_CUSTOM_DOMAIN) == 0 ? t->custom_domain : NULL;
}

/* Reads FILE (exactly one tenant) and picks its app of kind app_kind. */
static const char *load_app(apr_pool_t *p, const char *file, const char *app_kind,
                            const ib_app **out)
{
    ib_conf_ctx ctx;
    const ib_tenant *t;
    const char *err = load_tenant(p, file, 0, &ctx, &t);
    if (err != NULL) {
        return err;
    }
    *out = app_of_kind(t, app_kind);
    return *out ? NULL : apr_psprintf(p, "tenant '%s' has no %s app", t->name, app_kind);
}

/* ---- metadata ------------------------------------------------------------- */

static int cmd_metadata(apr_pool_t *p, const char *file, const char *app_kind,
                        const char *at)
{
    if (at != NULL) {
        apr_time_t t;
        if (ib_time_parse_utc(at, &t) != APR_SUCCESS) {
            return fail("--at takes a UTC instant like 2024-03-23T17:00:00Z");
        }
        ib_clock_pin(t);
    }
    const ib_app *app;
    const char *err = load_app(p, file, app_kind, &app);
    if (err != NULL) {
        return fail(err);
    }
    const char *xml;
    apr_size_t len;
    if ((err = ib_metadata_sp_xml(p, app, ib_now(), &xml, &len)) != NULL) {
        return fail(err);
    }
    return fwrite(xml, 1, len, stdout) == len ? 0 : 1;
}

/* ---- oidc-check (OIDC-7) ------------------------------------------------------ */

/* Fetches the provider's discovery document and JWKS the way httpd will and
 * says what is wrong, before users find out. */
static int cmd_oidc_check(apr_pool_t *p, const char *file, const char *app_kind)
{
    const ib_app *app;
    const char *err = load_app(p, file, app_kind, &app);
    if (err != NULL) {
        return fail(err);
    }
    if (app->oidc == NULL) {
        return fail(apr_psprintf(p, "the %s app of tenant '%s' is not an OpenID Connect "
                                 "connection (no IdBrokerOIDCIssuer)", app->kind,
                                 app->tenant->name));
    }
    const ib_oidc_conf *c = app->oidc;
    ib_http_global_init();
    ib_oidc_provider *op = ib_oidc_provider_make(p, c);
    ib_oidc_snapshot *snap;
    const char *fetch_err;
    printf("discovery: %s\n", c->discovery_url);
    err = ib_oidc_provider_acquire(op, p, ib_now(), 0, &snap, &fetch_err);
    if (err != NULL) {
        return fail(err);
    }
    const ib_oidc_discovery *d = snap->discovery;
    printf("issuer: %s (matches)\nexpected iss: %s\nauthorization_endpoint: %s\n"
           "token_endpoint: %s\njwks_uri: %s\n", d->issuer, ib_oidc_expected_issuer(p, c),
           d->authorization_endpoint, d->token_endpoint, d->jwks_uri);
    for (int i = 0; i < snap->keys->nelts; i++) {
        const ib_jwk *k = &APR_ARRAY_IDX(snap->keys, i, ib_jwk);
        printf("key: kid=%s kty=%s alg=%s bits=%d\n", k->kid ? k->kid : "-", k->kty,
               k->alg ? k->alg : "-", k->bits);
    }
    printf("redirect URI to register: %s%s\n", app->sp_base.url, c->redirect_path);
    printf("client secret: from %s\n", c->secret_source);
    int rc = 0;
    if (d->end_session_endpoint == NULL) {
        printf("warning: no end_session_endpoint: sign-out will be local only\n");
    }
    if (c->userinfo && d->userinfo_endpoint == NULL) {
        printf("error: IdBrokerOIDCUserinfo On, but the provider has no userinfo_endpoint\n");
        rc = 1;
    }
    ib_oidc_provider_release(op, snap);
    printf("%s\n", rc ? "problems found" : "OK");
    return rc;
}

/* ---- main ----------------------------------------------------------------- */

static int parse_new(int argc, const char *const *argv, apr_pool_t *p, new_args *a)
{
    memset(a, 0, sizeof(*a));
    a->dir = ".";
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--scoped") == 0) {
            a->scoped = 1;
        } else if (strcmp(argv[i], "--sp-base") == 0 && i + 1 < argc) {
            a->sp_base = argv[++i];
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            a->dir = argv[++i];
        } else if (strcmp(argv[i], "--signin-id") == 0 && i + 1 < argc) {
            a->signin_id = argv[++i];
        } else if (argv[i][0] != '-' && a->name == NULL) {
            a->name = argv[i];
        } else {
            return 0;
        }
    }
    if (a->name == NULL || a->sp_base == NULL) {
        return 0;
    }
    if (a->signin_id == NULL) {
        a->signin_id = a->name;
    }
    return 1;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&p, NULL);
    xmlInitParser();
    int rc = EXIT_USAGE;
    if (argc >= 2 && strcmp(argv[1], "new") == 0) {
        new_args a;
        if (parse_new(argc, argv, p, &a)) {
            rc = cmd_new(p, &a);
        }
    } else if (argc >= 3 && strcmp(argv[1], "metadata") == 0) {
        const char *app = IB_APP_PRIMARY, *at = NULL;
        rc = 0;
        for (int i = 3; i < argc && rc == 0; i++) {
            if (strcmp(argv[i], "--app") == 0 && i + 1 < argc) {
                app = argv[++i];
            } else if (strcmp(argv[i], "--at") == 0 && i + 1 < argc) {
                at = argv[++i];
            } else {
                rc = EXIT_USAGE;
            }
        }
        if (rc == 0) {
            rc = cmd_metadata(p, argv[2], app, at);
        }
    } else if (argc >= 3 && strcmp(argv[1], "oidc-check") == 0) {
        const char *app = IB_APP_PRIMARY;
        rc = 0;
        if (argc == 5 && strcmp(argv[3], "--app") == 0) {
            app = argv[4];
        } else if (argc != 3) {
            rc = EXIT_USAGE;
        }
        if (rc == 0) {
            rc = cmd_oidc_check(p, argv[2], app);
        }
    } else if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        rc = 0;
    }
    if (rc == EXIT_USAGE) {
        usage(stderr);
    }
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
