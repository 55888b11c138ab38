#include <apr_strings.h>

#include "ib_clock.h"
#include "ib_expiry.h"

#define DAY apr_time_from_sec(86400)

/* Where findings go, and whom they concern. */
typedef struct {
    apr_pool_t *p;
    apr_array_header_t *out;
    apr_time_t now;
    const char *tenant;
    const char *app;
} report;

static void add(report *r, ib_expiry_level level, const char *message)
{
    ib_expiry_finding *f = apr_array_push(r->out);
    f->level = level;
    f->tenant = r->tenant;
    f->app = r->app;
    f->message = message;
}

/* The IdP signing certificates of an app (ib_cert*). The only place that
 * knows where they come from: today the IdBrokerIdPCert lines, soon a list
 * refreshed from the IdP's metadata. */
static const apr_array_header_t *idp_certs_of(const ib_app *app)
{
    return ib_app_idp(app)->certs;   /* pinned and, with a source, from metadata */
}

typedef const apr_array_header_t *key_list_fn(const ib_app *app);

static const apr_array_header_t *signing_keys_of(const ib_app *app)
{
    return app->sp_keys;
}

static const apr_array_header_t *decryption_keys_of(const ib_app *app)
{
    return app->decrypt_keys;
}

/* What an operator needs to find the certificate, here and at the IdP
 * (whose consoles show SHA-1 thumbprints). */
static const char *cert_details(apr_pool_t *p, const ib_cert *c)
{
    return apr_psprintf(p, "subject '%s', file %s, SHA-256 %s, SHA-1 %s",
                        c->subject, c->path, c->sha256_hex, c->sha1_hex);
}

static const char *time_left(apr_pool_t *p, apr_time_t now, apr_time_t until)
{
    long days = (long)((until - now) / DAY);
    if (days == 0) {
        return "less than a day";
    }
    return apr_psprintf(p, "%ld day%s", days, days == 1 ? "" : "s");
}

static int expired(const ib_cert *c, apr_time_t now)
{
    return now > c->not_after;   /* notAfter itself is still valid (RFC 5280) */
}

static int expires_soon(const ib_cert *c, apr_time_t now)
{
    return !expired(c, now) && c->not_after - now <= IB_EXPIRY_WARN_SPAN;
}

/* One certificate: an error once expired (`dead` says what that breaks), a
 * warning within the span (`hint`, may be NULL, says what to do). */
static void check_cert(report *r, const char *what, const ib_cert *c,
                       const char *dead, const char *hint)
{
    char when[IB_UTC_TIME_LEN];
    ib_time_format_utc(c->not_after, when);
    if (expired(c, r->now)) {
        add(r, IB_EXPIRY_ERROR, apr_psprintf(r->p, "%s expired at %s; %s: %s", what,
                                             when, dead, cert_details(r->p, c)));
    } else if (expires_soon(c, r->now)) {
        add(r, IB_EXPIRY_WARNING,
            apr_psprintf(r->p, "%s expires at %s (in %s): %s%s%s", what, when,
                         time_left(r->p, r->now, c->not_after), cert_details(r->p, c),
                         hint ? "; " : "", hint ? hint : ""));
    }
}

static void check_idp_certs(report *r, const ib_app *app)
{
    const apr_array_header_t *certs = idp_certs_of(app);
    for (int i = 0; certs != NULL && i < certs->nelts; i++) {
        check_cert(r, "IdP certificate", APR_ARRAY_IDX(certs, i, const ib_cert *),
                   "it verifies nothing",
                   "add the IdP's next certificate with another IdBrokerIdPCert line");
    }
}

/* SPKEY-8: the active key must have a successor before it expires, or
 * SP-signed requests (AuthnRequest, LogoutRequest) fail closed. */
static void check_rotation(report *r, const apr_array_header_t *keys)
{
    const ib_sp_key *active = ib_sp_keys_active(keys, r->now);
    if (active == NULL) {
        add(r, IB_EXPIRY_ERROR, "no SP signing key is active (each is expired, not yet "
            "valid or scheduled later): SP-signed requests fail closed; add an "
            "IdBrokerSPKey whose certificate is valid now");
        return;
    }
    const ib_cert *c = active->cert;
    if (!expires_soon(c, r->now)) {
        return;
    }
    /* A successor: some key that signs right after the active cert expires. */
    if (ib_sp_keys_active(keys, c->not_after + apr_time_from_sec(1)) != NULL) {
        return;
    }
    char when[IB_UTC_TIME_LEN];
    ib_time_format_utc(c->not_after, when);
    add(r, IB_EXPIRY_WARNING,
        apr_psprintf(r->p, "the active SP signing key %s expires at %s (in %s) and no "
                     "successor is configured, so SP-signed requests will fail closed "
                     "then; add IdBrokerSPKey NEW.key NEW.crt activate-at=<an instant "
                     "before %s>, publish the new metadata to the IdP", active->key_path,
                     when, time_left(r->p, r->now, c->not_after), when));
}

static void check_signing_keys(report *r, const apr_array_header_t *keys)
{
    const ib_sp_key *active = ib_sp_keys_active(keys, r->now);
    for (int i = 0; i < keys->nelts; i++) {
        const ib_sp_key *k = APR_ARRAY_IDX(keys, i, const ib_sp_key *);
        const char *what = apr_psprintf(r->p, "the certificate of %sSP signing key %s",
                                        k == active ? "the active " : "", k->key_path);
        check_cert(r, what, k->cert, "it signs nothing", NULL);
    }
    check_rotation(r, keys);
}

static void check_decryption_keys(report *r, const apr_array_header_t *keys)
{
    for (int i = 0; i < keys->nelts; i++) {
        const ib_sp_key *k = APR_ARRAY_IDX(keys, i, const ib_sp_key *);
        const char *what = apr_psprintf(r->p, "the certificate of SP decryption key %s",
                                        k->key_path);
        check_cert(r, what, k->cert, "the metadata no longer offers it for encryption",
                   NULL);
    }
}

/* Apps share their tenant's key list (the same array): report such a list
 * once, at the first app using it, labelled with every app that does. */
static const char *list_users(apr_pool_t *p, const ib_app *const *apps, int n, int i,
                              key_list_fn *list_of)
{
    const apr_array_header_t *mine = list_of(apps[i]);
    for (int j = 0; j < i; j++) {
        if (list_of(apps[j]) == mine) {
            return NULL;
        }
    }
    const char *label = apps[i]->kind;
    for (int j = i + 1; j < n; j++) {
        if (list_of(apps[j]) == mine) {
            label = apr_pstrcat(p, label, ",", apps[j]->kind, NULL);
        }
    }
    return label;
}

static void check_tenant(report *r, const ib_tenant *t)
{
    const ib_app *apps[2];
    int n = 0;
    if (t->primary != NULL) {
        apps[n++] = t->primary;
    }
    if (t->custom_domain != NULL) {
        apps[n++] = t->custom_domain;
    }
    r->tenant = t->name;
    for (int i = 0; i < n; i++) {
        r->app = apps[i]->kind;
        check_idp_certs(r, apps[i]);
        const char *users;
        if (signing_keys_of(apps[i]) != NULL
            && (users = list_users(r->p, apps, n, i, signing_keys_of)) != NULL) {
            r->app = users;
            check_signing_keys(r, signing_keys_of(apps[i]));
        }
        if (decryption_keys_of(apps[i]) != NULL
            && (users = list_users(r->p, apps, n, i, decryption_keys_of)) != NULL) {
            r->app = users;
            check_decryption_keys(r, decryption_keys_of(apps[i]));
        }
    }
}

apr_array_header_t *ib_expiry_check(apr_pool_t *p, const ib_registry *reg,
                                    apr_time_t now)
{
    report r = {p, apr_array_make(p, 4, sizeof(ib_expiry_finding)), now, NULL, NULL};
    for (int i = 0; i < reg->tenants->nelts; i++) {
        check_tenant(&r, APR_ARRAY_IDX(reg->tenants, i, const ib_tenant *));
    }
    return r.out;
}
