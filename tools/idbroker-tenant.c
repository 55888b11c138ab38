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
#define CONF_FILE_MAX (1024 * 1024) /* tenant files are a few KiB; refuse anything absurd */
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

static int warnings_printed;

/* Warnings go to stderr as FILE:LINE: message. While a command validates a
 * temporary copy, warn_baton holds the name of the file the copy replaces, so
 * messages name the operator's file, not the copy. */
static void print_warning(ib_conf_ctx *ctx, const char *message)
{
    const char *file = ctx->warn_baton ? (const char *)ctx->warn_baton : ctx->file;
    fprintf(stderr, "idbroker-tenant: warning: %s:%d: %s\n", file, ctx->line, message);
    warnings_printed++;
}

/* s with every occurrence of `from` replaced by `to`. */
static const char *replace_all(apr_pool_t *p, const char *s, const char *from, const char *to)
{
    const char *out = "";
    const char *hit;
    apr_size_t n = strlen(from);
    while (n > 0 && (hit = strstr(s, from)) != NULL) {
        out = apr_pstrcat(p, out, apr_pstrndup(p, s, (apr_size_t)(hit - s)), to, NULL);
        s = hit + n;
    }
    return apr_pstrcat(p, out, s, NULL);
}

/* Reads FILE with the module's reader; it must hold exactly one tenant.
 * shown_as (or NULL) names FILE in messages: commands that validate a
 * temporary copy report the original's name. With quiet, warnings are
 * dropped (a command that re-reads its result reports them then, once). */
static const char *load_tenant(apr_pool_t *p, const char *file, const char *shown_as,
                               int quiet, ib_conf_ctx *ctx, const ib_tenant **out)
{
    ib_conf_init(ctx, p, ib_registry_make(p));
    ctx->warn = quiet ? NULL : print_warning;
    ctx->warn_baton = (void *)shown_as;
    const char *err = ib_conf_read_file(ctx, file);
    if (err == NULL && ctx->reg->tenants->nelts != 1) {
        err = apr_psprintf(p, "%s defines %d tenants; give a file with exactly one", file,
                           ctx->reg->tenants->nelts);
    }
    if (err != NULL) {
        return shown_as ? replace_all(p, err, file, shown_as) : err;
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
    const char *err = load_tenant(p, file, NULL, 0, &ctx, &t);
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

/* ---- editing a tenant file in place ------------------------------------- */

/* The whole file, NUL-terminated. */
static const char *read_conf_bytes(apr_pool_t *p, const char *path, char **data,
                                   apr_size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return apr_psprintf(p, "%s: cannot open the file", path);
    }
    char *buf = apr_palloc(p, CONF_FILE_MAX + 1);
    apr_size_t n = fread(buf, 1, CONF_FILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > CONF_FILE_MAX) {
        return apr_psprintf(p, "%s: cannot read the file (or it is larger than %d bytes)",
                            path, CONF_FILE_MAX);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return NULL;
}

/* One logical line of a conf file as the module's reader sees it (physical
 * lines ending in '\' joined), with where its bytes are. */
typedef struct {
    const char *start;   /* its first byte */
    const char *end;     /* past its last line ending */
    const char *eol;     /* that ending: "\n", "\r\n", or "" at the end of the file */
    const char *indent;  /* the blanks it starts with */
    char *text;          /* trimmed, continuations joined */
    int number;          /* line number of its first physical line */
} conf_line;

static char *trim_blanks(char *s)
{
    while (apr_isspace(*s)) {
        s++;
    }
    char *end = s + strlen(s);
    while (end > s && apr_isspace(end[-1])) {
        *--end = '\0';
    }
    return s;
}

/* The next logical line from *pos; 0 at the end of the bytes. */
static int next_line(apr_pool_t *p, const char **pos, const char *limit, int *number,
                     conf_line *l)
{
    const char *s = *pos;
    if (s >= limit) {
        return 0;
    }
    l->start = s;
    l->number = *number + 1;
    const char *blank = s;
    while (blank < limit && (*blank == ' ' || *blank == '\t')) {
        blank++;
    }
    l->indent = apr_pstrndup(p, s, (apr_size_t)(blank - s));
    const char *text = "";
    for (;;) {
        const char *nl = memchr(s, '\n', (apr_size_t)(limit - s));
        const char *content_end = nl ? nl : limit;
        l->eol = nl == NULL ? "" : (nl > s && nl[-1] == '\r') ? "\r\n" : "\n";
        char *piece = trim_blanks(apr_pstrndup(p, s, (apr_size_t)(content_end - s)));
        s = nl ? nl + 1 : limit;
        (*number)++;
        apr_size_t n = strlen(piece);
        if (n > 0 && piece[n - 1] == '\\' && s < limit) {
            piece[n - 1] = '\0';
            text = apr_pstrcat(p, text, piece, " ", NULL);
            continue;
        }
        l->text = apr_pstrcat(p, text, piece, NULL);
        break;
    }
    l->end = s;
    *pos = s;
    return 1;
}

/* 1 when the line opens (closing: closes) a <name> section. */
static int is_section(const char *text, const char *name, int closing)
{
    if (*text++ != '<' || (closing && *text++ != '/')) {
        return 0;
    }
    apr_size_t n = strlen(name);
    return strncasecmp(text, name, n) == 0 && (text[n] == '>' || apr_isspace(text[n]));
}

static int is_directive(const char *text, const char *name)
{
    apr_size_t n = strlen(name);
    return strncasecmp(text, name, n) == 0 && (text[n] == '\0' || apr_isspace(text[n]));
}

static int write_all(int fd, const char *data, apr_size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return 0;
        }
        data += n;
        len -= (apr_size_t)n;
    }
    return 1;
}

/* Replaces `path` by `text` once the text reads back as a valid tenant file.
 * The text goes to a temporary file beside the original (same directory, so
 * relative paths resolve alike; a name no `Include *.conf` matches), is read
 * with the module's reader, and is renamed over the original only then: on
 * any error the original is untouched and the copy removed. The new file
 * keeps the original's mode (and, for root, its owner). *out gets the tenant
 * as read back; warnings about it are printed under the original's name. */
static const char *replace_conf(apr_pool_t *p, const char *path, const char *text,
                                const ib_tenant **out)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return apr_psprintf(p, "%s: %s", path, strerror(errno));
    }
    if (S_ISLNK(st.st_mode)) {
        return apr_psprintf(p, "%s is a symbolic link; give the file it points to", path);
    }
    char *tmp = apr_pstrcat(p, path, ".tmp-XXXXXX", NULL);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        return apr_psprintf(p, "cannot create a temporary file beside %s: %s", path,
                            strerror(errno));
    }
    int ok = write_all(fd, text, strlen(text)) && fchmod(fd, st.st_mode & 0777) == 0;
    if (ok && geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) != 0) {
        ok = 0;
    }
    ok = fsync(fd) == 0 && ok;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        unlink(tmp);
        return apr_psprintf(p, "cannot write %s: %s", tmp, strerror(errno));
    }
    ib_conf_ctx ctx;
    const char *err = load_tenant(p, tmp, path, 0, &ctx, out);
    if (err != NULL) {
        unlink(tmp);
        return apr_pstrcat(p, err, "\n(the change would make the file invalid; ", path,
                           " is unchanged)", NULL);
    }
    if (rename(tmp, path) != 0) {
        err = apr_psprintf(p, "cannot replace %s: %s", path, strerror(errno));
        unlink(tmp);
        return err;
    }
    return NULL;
}

static const char *dir_of(apr_pool_t *p, const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash == NULL ? "." : slash == path ? "/"
                                : apr_pstrndup(p, path, (apr_size_t)(slash - path));
}

/* ---- add-app ---------------------------------------------------------------- */

/* The lines of a new custom-domain section, each ending with eol. */
static const char *custom_domain_section(apr_pool_t *p, const char *in, const char *eol,
                                         const ib_base_url *base, const char *generic_id,
                                         const char *guid)
{
    const char *in2 = apr_pstrcat(p, in, *in ? in : "    ", NULL);
    const char *entity = guid
        ? apr_pstrcat(p, in2, "# Scoped SP entity ID: ", generic_id, "/", guid, eol,
                      in2, "# Keep this GUID: the IdP app is registered under it.", eol,
                      in2, "IdBrokerSPEntityScope ", guid, eol, NULL)
        : apr_pstrcat(p, in2, "# SP entity ID: the primary app's generic one, ", generic_id,
                      ". IdPs that", eol, in2, "# refuse one entity ID in two apps (Entra ID, "
                      "ADFS, PingFederate)", eol, in2, "# need a scoped one here: "
                      "IdBrokerSPEntityScope <new GUID>", eol, NULL);
    return apr_pstrcat(p,
        in, "# The same tenant on its own domain, added by idbroker-tenant add-app.", eol,
        in, "# What the IdP needs: idbroker-tenant show <this file> --app custom-domain", eol,
        in, "<IdBrokerApp custom-domain>", eol,
        in2, "IdBrokerSPBaseURL ", base->url, eol,
        entity, eol,
        in2, "# This domain's IdP connection. Until it is filled in, the domain serves", eol,
        in2, "# its metadata and its sign-in says 'not configured':", eol,
        in2, "# IdBrokerIdPEntityID https://idp.example.com/entity", eol,
        in2, "# IdBrokerIdPSSOURL   https://idp.example.com/sso", eol,
        in2, "# IdBrokerIdPSLOURL   https://idp.example.com/slo", eol,
        in2, "# IdBrokerIdPCert     idp-signing.pem", eol,
        in, "</IdBrokerApp>", eol, NULL);
}

static int cmd_add_app(apr_pool_t *p, const char *file, const char *kind, const char *sp_base,
                       int scoped)
{
    if (strcmp(kind, IB_APP_CUSTOM_DOMAIN) != 0 && strcmp(kind, IB_APP_PRIMARY) != 0) {
        return fail(apr_psprintf(p, "an app is primary or custom-domain, not '%s'", kind));
    }
    ib_base_url base;
    const char *err = ib_url_parse_base(p, sp_base, &base);
    if (err != NULL) {
        return fail(apr_pstrcat(p, "--sp-base: ", err, NULL));
    }
    ib_conf_ctx ctx;
    const ib_tenant *t;
    if ((err = load_tenant(p, file, NULL, 1, &ctx, &t)) != NULL) {
        return fail(err);
    }
    const ib_app *existing = app_of_kind(t, kind);
    if (existing != NULL) {
        return fail(apr_psprintf(p, "tenant '%s' already has a %s app (%s:%d); %s is "
                                 "unchanged", t->name, kind, existing->file, existing->line,
                                 file));
    }
    char guid[IB_UUID_LEN];
    do { /* a fresh GUID never repeats in practice; the check costs nothing */
        if (scoped && ib_uuid_v4(guid) != APR_SUCCESS) {
            return fail("the random generator failed");
        }
    } while (scoped && t->primary->scope_guid && strcmp(guid, t->primary->scope_guid) == 0);

    char *data;
    apr_size_t len;
    if ((err = read_conf_bytes(p, file, &data, &len)) != NULL) {
        return fail(err);
    }
    /* The section goes right before </IdBrokerTenant>, indented like the
     * primary app's, with the file's line endings. */
    const char *pos = data, *limit = data + len, *insert_at = NULL;
    const char *indent = NULL, *eol = "\n";
    int number = 0, prev_blank = 1;
    conf_line l;
    while (insert_at == NULL && next_line(p, &pos, limit, &number, &l)) {
        if (indent == NULL && is_section(l.text, IB_SECTION_APP, 0)) {
            indent = l.indent;
        }
        if (is_section(l.text, IB_SECTION_TENANT, 1)) {
            insert_at = l.start;
        } else {
            prev_blank = *l.text == '\0';
            eol = *l.eol ? l.eol : eol;
        }
    }
    if (insert_at == NULL) {
        return fail(apr_psprintf(p, "%s: no </%s> line found", file, IB_SECTION_TENANT));
    }
    const char *section = custom_domain_section(p, indent ? indent : "    ", eol, &base,
                                                t->primary->generic_entity_id,
                                                scoped ? guid : NULL);
    const char *text = apr_pstrcat(p, apr_pstrndup(p, data, (apr_size_t)(insert_at - data)),
                                   prev_blank ? "" : eol, section, insert_at, NULL);
    const ib_tenant *after;
    if ((err = replace_conf(p, file, text, &after)) != NULL) {
        return fail(err);
    }
    const ib_app *app = after->custom_domain;
    printf("%s: added <%s %s> with SP base URL %s\n", file, IB_SECTION_APP, kind,
           app->sp_base.url);
    printf("%sSP entity ID: %s\n", scoped ? "scoped " : "", app->sp_entity_id);
    printf("next: fill in its IdP connection in %s; what the IdP needs:\n"
           "    idbroker-tenant show %s --app %s\n"
           "then reload httpd (apachectl -t && apachectl graceful)\n", file, file, kind);
    return 0;
}

/* ---- rotate-key ------------------------------------------------------------- */

/* Where the new key goes, as a directory to write to and as the prefix of
 * the paths written into the conf file (relative to its directory when the
 * key lives below it, so the tenant directory can still move as a whole). */
static const char *key_location(apr_pool_t *p, const char *file, const char *last_key_arg,
                                const char *dir, const char **fs_dir, const char **conf_prefix)
{
    const char *conf_dir = dir_of(p, file);
    if (dir == NULL) {
        /* Beside the key in force, written the way that key is. */
        const char *slash = strrchr(last_key_arg, '/');
        if (slash == NULL) {
            *conf_prefix = "";
            *fs_dir = conf_dir;
            return NULL;
        }
        apr_size_t n = (apr_size_t)(slash - last_key_arg);
        *conf_prefix = apr_pstrndup(p, last_key_arg, n + 1);
        *fs_dir = last_key_arg[0] == '/' ? (n ? apr_pstrndup(p, last_key_arg, n) : "/")
                  : apr_pstrcat(p, conf_dir, "/", apr_pstrndup(p, last_key_arg, n), NULL);
        return NULL;
    }
    if (apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT, p) != APR_SUCCESS) {
        return apr_psprintf(p, "cannot create %s", dir);
    }
    char real_dir[PATH_MAX], real_conf[PATH_MAX];
    if (realpath(dir, real_dir) == NULL || realpath(conf_dir, real_conf) == NULL) {
        return apr_psprintf(p, "cannot resolve %s: %s", dir, strerror(errno));
    }
    apr_size_t n = strlen(real_conf);
    *fs_dir = dir;
    if (strcmp(real_dir, real_conf) == 0) {
        *conf_prefix = "";
    } else if (strncmp(real_dir, real_conf, n) == 0 && real_dir[n] == '/') {
        *conf_prefix = apr_pstrcat(p, real_dir + n + 1, "/", NULL);
    } else {
        *conf_prefix = apr_pstrcat(p, real_dir, "/", NULL);
    }
    return NULL;
}

/* A path as a conf-file argument (quoted when it holds blanks). */
static const char *conf_arg(apr_pool_t *p, const char *path)
{
    return strpbrk(path, " \t") ? apr_pstrcat(p, "\"", path, "\"", NULL) : path;
}

typedef struct {
    const char *after;       /* insert after this byte (end of the last key line) */
    const char *indent, *eol;
    const char *key_arg;     /* that line's KEY argument as written */
    int line;                /* its line number */
} key_line;

/* The last IdBrokerSPKey line at tenant level (not inside an app). */
static int find_last_tenant_key(apr_pool_t *p, const char *data, apr_size_t len, key_line *k)
{
    const char *pos = data, *limit = data + len;
    int number = 0, in_tenant = 0, in_app = 0, found = 0;
    conf_line l;
    while (next_line(p, &pos, limit, &number, &l)) {
        if (is_section(l.text, IB_SECTION_TENANT, 0) || is_section(l.text, IB_SECTION_TENANT, 1)) {
            in_tenant = !in_tenant;
        } else if (is_section(l.text, IB_SECTION_APP, 0) || is_section(l.text, IB_SECTION_APP, 1)) {
            in_app = !in_app;
        } else if (in_tenant && !in_app && is_directive(l.text, "IdBrokerSPKey")) {
            char **argv;
            apr_tokenize_to_argv(l.text, &argv, p);
            if (argv[1] == NULL) {
                continue;
            }
            k->after = l.end;
            k->indent = l.indent;
            k->eol = l.eol;
            k->key_arg = argv[1];
            k->line = l.number;
            found = 1;
        }
    }
    return found;
}

static void print_next_steps(apr_pool_t *p, const char *file, const ib_tenant *t,
                             const char *at_text, const char *cert_path)
{
    printf("next:\n"
           "  1. Reload httpd (apachectl -t && apachectl graceful). From then on the SP\n"
           "     metadata publishes the current key and the new one.\n"
           "  2. Before %s, give the IdP the new metadata:\n", at_text);
    const ib_app *apps[] = {t->primary, t->custom_domain};
    for (int i = 0; i < 2; i++) {
        if (apps[i] == NULL || apps[i]->own_sp_keys->nelts > 0) {
            continue;
        }
        printf("       idbroker-tenant metadata %s%s%s > %s-sp-metadata.xml\n"
               "       (or let the IdP poll %s%s%s)\n", file,
               i ? " --app " : "", i ? apps[i]->kind : "", apps[i]->kind,
               ib_url_join(p, &apps[i]->sp_base, IB_PATH_METADATA),
               apps[i]->scope_guid ? "?entity=" : "",
               apps[i]->scope_guid ? apps[i]->scope_guid : "");
    }
    printf("     or add %s as a further SP signing (verification) certificate.\n"
           "     IdPs that hold one SP certificate only (Okta) get it at the instant instead.\n"
           "  3. At %s every httpd process signs with the new key by itself, without a\n"
           "     reload. Remove the old IdBrokerSPKey line at your next change.\n",
           cert_path, at_text);
}

static int cmd_rotate_key(apr_pool_t *p, const char *file, const char *at_text, const char *dir)
{
    apr_time_t at, now = ib_now();
    if (ib_time_parse_utc(at_text, &at) != APR_SUCCESS) {
        return fail("--at takes a UTC instant like 2026-03-23T17:00:00Z");
    }
    if (at <= now) {
        return fail(apr_psprintf(p, "--at %s is not in the future: the IdP must learn the "
                                 "new key before it signs; pick an instant some days ahead",
                                 at_text));
    }
    ib_conf_ctx ctx;
    const ib_tenant *t;
    const char *err = load_tenant(p, file, NULL, 1, &ctx, &t);
    if (err != NULL) {
        return fail(err);
    }
    for (int i = 0; i < t->sp_keys->nelts; i++) {
        const ib_sp_key *k = APR_ARRAY_IDX(t->sp_keys, i, const ib_sp_key *);
        if (k->has_activate_at && k->activate_at >= at) {
            char when[IB_UTC_TIME_LEN];
            ib_time_format_utc(k->activate_at, when);
            return fail(apr_psprintf(p, "key %s is already scheduled for %s; --at must come "
                                     "after it (or remove that line first)", k->key_path,
                                     when));
        }
    }
    char *data;
    apr_size_t len;
    key_line last = {NULL, NULL, NULL, NULL, 0};
    if ((err = read_conf_bytes(p, file, &data, &len)) != NULL) {
        return fail(err);
    }
    if (t->sp_keys->nelts == 0 || !find_last_tenant_key(p, data, len, &last)) {
        return fail(apr_psprintf(p, "tenant '%s' has no IdBrokerSPKey at tenant level (its "
                                 "apps have their own); add the next key to each app by "
                                 "hand", t->name));
    }
    const char *fs_dir, *prefix;
    if ((err = key_location(p, file, last.key_arg, dir, &fs_dir, &prefix)) != NULL) {
        return fail(err);
    }
    char canonical_at[IB_UTC_TIME_LEN];
    ib_time_format_utc(at, canonical_at);
    char stamp[IB_UTC_TIME_LEN];
    apr_size_t n = 0;
    for (const char *c = canonical_at; *c; c++) {
        if (*c != '-' && *c != ':') {
            stamp[n++] = *c;
        }
    }
    stamp[n] = '\0';
    const char *name = apr_pstrcat(p, "sp-signing-", stamp, NULL);
    const char *key_fs = apr_pstrcat(p, fs_dir, "/", name, ".key", NULL);
    const char *cert_fs = apr_pstrcat(p, fs_dir, "/", name, ".crt", NULL);
    apr_finfo_t fi;
    if (apr_stat(&fi, key_fs, APR_FINFO_TYPE, p) == APR_SUCCESS
        || apr_stat(&fi, cert_fs, APR_FINFO_TYPE, p) == APR_SUCCESS) {
        return fail(apr_psprintf(p, "%s or %s exists already; %s is unchanged", key_fs,
                                 cert_fs, file));
    }
    /* Valid from now (the metadata publishes it at once) until a year after
     * it takes over. */
    long lifetime = (long)apr_time_sec(at - now) + SP_CERT_LIFETIME;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)SP_KEY_BITS);
    X509 *cert = key ? self_signed_cert(key, t->primary->sp_base.host, lifetime) : NULL;
    int ok = cert != NULL && write_pem_files(key_fs, cert_fs, key, cert);
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) {
        unlink(key_fs);
        unlink(cert_fs);
        return fail(apr_psprintf(p, "cannot write the new key pair into %s", fs_dir));
    }
    const char *eol = *last.eol ? last.eol : "\n";
    const char *lines = apr_pstrcat(p, *last.eol ? "" : eol,
        last.indent, "# Next SP key, added by idbroker-tenant rotate-key: it signs from ",
        canonical_at, ".", eol,
        last.indent, "IdBrokerSPKey ", conf_arg(p, apr_pstrcat(p, prefix, name, ".key", NULL)),
        " ", conf_arg(p, apr_pstrcat(p, prefix, name, ".crt", NULL)),
        " activate-at=", canonical_at, eol, NULL);
    const char *text = apr_pstrcat(p, apr_pstrndup(p, data, (apr_size_t)(last.after - data)),
                                   lines, last.after, NULL);
    const ib_tenant *after;
    if ((err = replace_conf(p, file, text, &after)) != NULL) {
        unlink(key_fs);
        unlink(cert_fs);
        return fail(err);
    }
    const ib_sp_key *added = APR_ARRAY_IDX(after->sp_keys, after->sp_keys->nelts - 1,
                                           const ib_sp_key *);
    char until[IB_UTC_TIME_LEN];
    ib_time_format_utc(added->cert->not_after, until);
    printf("new SP key: %s (mode 0600)\ncertificate: %s (valid until %s, SHA-256 %s, "
           "SHA-1 %s)\n%s: the new key follows line %d, activate-at=%s\n", key_fs, cert_fs,
           until, added->cert->sha256_hex, added->cert->sha1_hex, file, last.line,
           canonical_at);
    const ib_app *apps[] = {after->primary, after->custom_domain};
    for (int i = 0; i < 2; i++) {
        if (apps[i] != NULL && apps[i]->own_sp_keys->nelts > 0) {
            fprintf(stderr, "idbroker-tenant: warning: the %s app has IdBrokerSPKey lines of "
                    "its own, which this does not rotate; add its next key by hand\n",
                    apps[i]->kind);
        }
    }
    print_next_steps(p, file, after, canonical_at, cert_fs);
    return 0;
}

/* ---- show ------------------------------------------------------------------- */

static void print_cert(apr_pool_t *p, const char *label, const ib_cert *c)
{
    char until[IB_UTC_TIME_LEN];
    ib_time_format_utc(c->not_after, until);
    printf("%s: valid until %s, SHA-256 %s, SHA-1 %s\n%s", label, until, c->sha256_hex,
           c->sha1_hex, ib_pem_of_cert(p, c->x509));
}

static void show_saml(apr_pool_t *p, const ib_app *app)
{
    static const char *const signing[] = {"either", "response", "assertion", "both"};
    const ib_tenant *t = app->tenant;
    printf("protocol: SAML 2.0\n"
           "SP entity ID: %s\n"
           "ACS URL: %s\n"
           "SLO URL: %s\n"
           "metadata URL: %s%s%s\n"
           "signed AuthnRequests: %s\n"
           "SSO binding: %s\n"
           "SLO binding: %s\n"
           "response signing required: %s\n",
           app->sp_entity_id, ib_url_join(p, &app->sp_base, IB_PATH_ACS),
           ib_url_join(p, &app->sp_base, IB_PATH_SLO),
           ib_url_join(p, &app->sp_base, IB_PATH_METADATA),
           app->scope_guid ? "?entity=" : "", app->scope_guid ? app->scope_guid : "",
           t->sign_requests ? "yes" : "no",
           t->sso_binding == IB_BINDING_POST ? "HTTP-POST" : "HTTP-Redirect",
           t->slo_binding == IB_SLO_POST ? "HTTP-POST, signed"
           : t->slo_binding == IB_SLO_REDIRECT ? "HTTP-Redirect, signed"
                                               : "HTTP-Redirect, unsigned",
           signing[t->response_signing]);
    apr_time_t now = ib_now();
    const ib_sp_key *active = ib_sp_keys_active(app->sp_keys, now);
    if (active != NULL) {
        print_cert(p, "SP signing certificate (active)", active->cert);
    } else {
        printf("SP signing certificate (active): none is active now\n");
    }
    const apr_array_header_t *published = ib_sp_keys_published(p, app->sp_keys, now);
    for (int i = 0; i < published->nelts; i++) {
        const ib_sp_key *k = APR_ARRAY_IDX(published, i, const ib_sp_key *);
        if (k != active && k->has_activate_at && k->activate_at > now) {
            char when[IB_UTC_TIME_LEN];
            ib_time_format_utc(k->activate_at, when);
            print_cert(p, apr_psprintf(p, "next SP signing certificate (active from %s)",
                                       when), k->cert);
        }
    }
    for (int i = 0; i < app->decrypt_keys->nelts; i++) {
        print_cert(p, "SP encryption certificate",
                   APR_ARRAY_IDX(app->decrypt_keys, i, const ib_sp_key *)->cert);
    }
}

static void show_oidc(apr_pool_t *p, const ib_app *app)
{
    const ib_oidc_conf *c = app->oidc;
    const char *logout = app->tenant->post_logout_url;
    /* The module sends a local target as an absolute URL on the SP origin. */
    const char *post_logout = logout[0] == '/'
        ? apr_pstrcat(p, app->sp_base.origin, logout, NULL) : logout;
    printf("protocol: OpenID Connect\n"
           "redirect URI: %s%s\n"
           "post-logout redirect URI: %s\n"
           "issuer: %s\n"
           "client ID: %s\n"
           "client secret: from the %s (not shown)\n"
           "client authentication: %s\n"
           "scopes: %s\n",
           app->sp_base.url, c->redirect_path, post_logout, c->issuer, c->client_id,
           c->secret_source, c->client_secret_post ? "client_secret_post"
                                                   : "client_secret_basic",
           c->scopes);
}

static int cmd_show(apr_pool_t *p, const char *file, const char *app_kind)
{
    const ib_app *app;
    const char *err = load_app(p, file, app_kind, &app);
    if (err != NULL) {
        return fail(err);
    }
    printf("tenant: %s\napp: %s\nsign-in ID: %s\n", app->tenant->name, app->kind,
           app->tenant->signin_id);
    if (ib_app_hands_off(app)) {
        /* Some consoles ask for it (Entra's "Sign on URL"). */
        printf("portal URL: %s\n", app->portal.url);
    }
    if (app->oidc != NULL) {
        show_oidc(p, app);
    } else {
        show_saml(p, app);
    }
    return 0;
}

/* ---- check ------------------------------------------------------------------ */

/* Private keys and secrets that every local user may read. */
static void check_private_file(apr_pool_t *p, const char *file, const char *what,
                               const char *path)
{
    apr_finfo_t fi;
    if (apr_stat(&fi, path, APR_FINFO_PROT, p) == APR_SUCCESS
        && (fi.protection & (APR_WREAD | APR_WWRITE))) {
        fprintf(stderr, "idbroker-tenant: warning: %s: %s %s is readable by every local "
                "user; chmod 600 it\n", file, what, path);
        warnings_printed++;
    }
}

static void check_key_files(apr_pool_t *p, const char *file, const apr_array_header_t *keys,
                            const char *what)
{
    for (int i = 0; i < keys->nelts; i++) {
        check_private_file(p, file, what, APR_ARRAY_IDX(keys, i, const ib_sp_key *)->key_path);
    }
}

static int cmd_check(apr_pool_t *p, const char *file)
{
    ib_conf_ctx ctx;
    const ib_tenant *t;
    const char *err = load_tenant(p, file, NULL, 0, &ctx, &t);
    if (err != NULL) {
        return fail(err);
    }
    /* What httpd logs at start about certificates, said now. */
    const apr_array_header_t *findings = ib_expiry_check(p, ctx.reg, ib_now());
    for (int i = 0; i < findings->nelts; i++) {
        const ib_expiry_finding *f = &APR_ARRAY_IDX(findings, i, ib_expiry_finding);
        fprintf(stderr, "idbroker-tenant: warning: %s: tenant=%s app=%s: %s\n", file,
                f->tenant, f->app, f->message);
        warnings_printed++;
    }
    check_key_files(p, file, t->sp_keys, "SP signing key");
    check_key_files(p, file, t->decrypt_keys, "SP decryption key");
    const char *summary = "";
    const ib_app *apps[] = {t->primary, t->custom_domain};
    for (int i = 0; i < 2; i++) {
        const ib_app *app = apps[i];
        if (app == NULL) {
            continue;
        }
        check_key_files(p, file, app->own_sp_keys, "SP signing key");
        check_key_files(p, file, app->own_decrypt_keys, "SP decryption key");
        if (app->oidc && strncmp(app->oidc->secret_source, "file ", 5) == 0) {
            check_private_file(p, file, "client secret", app->oidc->secret_source + 5);
        }
        summary = apr_psprintf(p, "%s%s%s app (%s)", summary, i ? ", " : "", app->kind,
                               app->oidc ? "OpenID Connect" : "SAML");
    }
    printf("%s: OK: tenant '%s', %s; %d warning%s\n", file, t->name, summary,
           warnings_printed, warnings_printed == 1 ? "" : "s");
    return 0;
}

/* ---- main ----------------------------------------------------------------- */

typedef struct {
    const char *name;    /* e.g. "--app" */
    const char **value;  /* takes a value, or */
    int *flag;           /* is a flag */
} cli_opt;

/* argv[first..]: exactly npos positional arguments and any of opts (ended by
 * a NULL name). 0 on anything else. */
static int parse_args(int argc, const char *const *argv, int first, const char **pos,
                      int npos, const cli_opt *opts)
{
    int got = 0;
    for (int i = first; i < argc; i++) {
        const cli_opt *o = opts;
        while (o->name != NULL && strcmp(o->name, argv[i]) != 0) {
            o++;
        }
        if (o->name != NULL && o->value != NULL) {
            if (i + 1 >= argc) {
                return 0;
            }
            *o->value = argv[++i];
        } else if (o->name != NULL) {
            *o->flag = 1;
        } else if (argv[i][0] != '-' && got < npos) {
            pos[got++] = argv[i];
        } else {
            return 0;
        }
    }
    return got == npos;
}

/* The commands that edit or inspect one file. EXIT_USAGE when the
 * arguments do not fit; -1 when `cmd` is none of them. */
static int run_file_command(apr_pool_t *p, const char *cmd, int argc, const char *const *argv)
{
    const char *pos[2] = {NULL, NULL};
    const char *app = IB_APP_PRIMARY, *sp_base = NULL, *at = NULL, *dir = NULL;
    int scoped = 0;
    if (strcmp(cmd, "add-app") == 0) {
        const cli_opt opts[] = {{"--sp-base", &sp_base, NULL}, {"--scoped", NULL, &scoped},
                                {NULL, NULL, NULL}};
        return parse_args(argc, argv, 2, pos, 2, opts) && sp_base
               ? cmd_add_app(p, pos[0], pos[1], sp_base, scoped) : EXIT_USAGE;
    }
    if (strcmp(cmd, "rotate-key") == 0) {
        const cli_opt opts[] = {{"--at", &at, NULL}, {"--dir", &dir, NULL}, {NULL, NULL, NULL}};
        return parse_args(argc, argv, 2, pos, 1, opts) && at
               ? cmd_rotate_key(p, pos[0], at, dir) : EXIT_USAGE;
    }
    if (strcmp(cmd, "show") == 0) {
        const cli_opt opts[] = {{"--app", &app, NULL}, {NULL, NULL, NULL}};
        return parse_args(argc, argv, 2, pos, 1, opts) ? cmd_show(p, pos[0], app) : EXIT_USAGE;
    }
    if (strcmp(cmd, "check") == 0) {
        const cli_opt opts[] = {{NULL, NULL, NULL}};
        return parse_args(argc, argv, 2, pos, 1, opts) ? cmd_check(p, pos[0]) : EXIT_USAGE;
    }
    return -1;
}
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
    } else if (argc >= 2 && (rc = run_file_command(p, argv[1], argc, argv)) != -1) {
        /* done */
    } else if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        rc = 0;
    }
    if (rc == -1) {
        rc = EXIT_USAGE;
    }
    if (rc == EXIT_USAGE) {
        usage(stderr);
    }
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
