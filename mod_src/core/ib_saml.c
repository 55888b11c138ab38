#include <string.h>

#include <apr_strings.h>
#include <lasso/lasso.h>
#include <lasso/xml/saml-2.0/samlp2_authn_request.h>
#include <lasso/xml/saml-2.0/samlp2_name_id_policy.h>
#include <lasso/xml/saml-2.0/samlp2_requested_authn_context.h>
#include <libxml/tree.h>
#include <apr_escape.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "ib_codec.h"
#include "ib_md_build.h"
#include "ib_metadata.h"
#include "ib_saml.h"

#define NAMEID_UNSPECIFIED "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
#define GENERATION_KEY "ib-generation"
#define SIGNING_KEY_KEY "ib-signing-key"
#define SIGALG_RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define SIGALG_ECDSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
#define SIGALG_ECDSA_SHA384 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
#define SIGALG_ECDSA_SHA512 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"

const char *ib_saml_library_init(void)
{
    /* Once per process: the module is linked -z nodelete, so this flag
     * survives httpd's reloads just as lasso's own state does. */
    static int initialised;
    if (!initialised) {
        if (lasso_init() != 0) {
            return "lasso_init failed";
        }
        initialised = 1;
    }
    return NULL;
}

struct ib_saml_sp {
    const ib_app *app;
    apr_pool_t *pool;
    apr_thread_mutex_t *lock;
    apr_array_header_t *idle;   /* LassoServer*, ready for reuse */
};

static apr_status_t release_all(void *data)
{
    ib_saml_sp *sp = data;
    for (int i = 0; i < sp->idle->nelts; i++) {
        lasso_server_destroy(APR_ARRAY_IDX(sp->idle, i, LassoServer *));
    }
    sp->idle->nelts = 0;
    return APR_SUCCESS;
}

ib_saml_sp *ib_saml_sp_make(apr_pool_t *p, const ib_app *app)
{
    ib_saml_sp *sp = apr_pcalloc(p, sizeof(*sp));
    sp->app = app;
    sp->pool = p;
    apr_thread_mutex_create(&sp->lock, APR_THREAD_MUTEX_DEFAULT, p);
    sp->idle = apr_array_make(p, 4, sizeof(LassoServer *));
    apr_pool_cleanup_register(p, sp, release_all, apr_pool_cleanup_null);
    return sp;
}

/* What a LassoServer was built from; a different value means rebuild. */
static const char *generation(apr_pool_t *p, const ib_idp *idp, apr_time_t now,
                              const ib_sp_key *key)
{
    const char *g = apr_psprintf(p, "%s#%lu", key ? key->cert->sha256_hex : "-", idp->serial);
    for (int i = 0; i < idp->certs->nelts; i++) {
        const ib_cert *c = APR_ARRAY_IDX(idp->certs, i, const ib_cert *);
        if (ib_cert_valid_at(c, now)) {
            g = apr_pstrcat(p, g, ",", c->sha256_hex, NULL);
        }
    }
    return g;
}

/* Synthetic IdP metadata from the IdP view (pinned settings, or the checked
 * metadata merged with them): lasso learns the IdP's endpoints and keys from
 * metadata. Only certificates valid now go in, so an expired certificate can
 * never verify anything (RESP-3). */
static const char *idp_metadata(apr_pool_t *p, const ib_idp *view, apr_time_t now,
                                int *valid_certs)
{
    ib_md_doc d;
    ib_md_begin(&d, view->entity_id);
    xmlNodePtr idp = ib_md_role(&d, "IDPSSODescriptor");
    xmlNewProp(idp, IB_X("protocolSupportEnumeration"), IB_X(IB_PROTOCOL_SAML2));
    *valid_certs = 0;
    for (int i = 0; i < view->certs->nelts; i++) {
        const ib_cert *c = APR_ARRAY_IDX(view->certs, i, const ib_cert *);
        if (ib_cert_valid_at(c, now)) {
            (*valid_certs)++;
            ib_md_add_key(&d, idp, "signing", c);
        }
    }
    const char *bindings[] = {IB_SAML_BINDING_POST, IB_SAML_BINDING_REDIRECT};
    for (int b = 0; b < 2 && view->slo_url; b++) {
        ib_md_add_endpoint(&d, idp, "SingleLogoutService", bindings[b], view->slo_url, 0);
    }
    for (int b = 0; b < 2; b++) {
        ib_md_add_endpoint(&d, idp, "SingleSignOnService", bindings[b], view->sso_url, 0);
    }
    return ib_md_finish(p, &d, 0, NULL);
}

static const char *build_server(apr_pool_t *p, const ib_app *app, const ib_idp *view,
                                apr_time_t now, const ib_sp_key *key, const char *gen,
                                LassoServer **out)
{
    const char *sp_md;
    apr_size_t len;
    const char *err = ib_metadata_sp_xml(p, app, now, &sp_md, &len);
    if (err != NULL) {
        return err;
    }
    LassoServer *server = lasso_server_new_from_buffers(
        sp_md, key ? ib_pem_of_key(p, key->pkey) : NULL, NULL,
        key ? ib_pem_of_cert(p, key->cert->x509) : NULL);
    if (server == NULL) {
        return "lasso could not load the SP metadata and key";
    }
    server->signature_method = LASSO_SIGNATURE_METHOD_RSA_SHA256;
    if (app->decrypt_keys->nelts > 0) {
        /* lasso decrypts too, to verify signatures inside encrypted assertions. */
        const ib_sp_key *dk = APR_ARRAY_IDX(app->decrypt_keys, 0, const ib_sp_key *);
        lasso_server_set_encryption_private_key(server, ib_pem_of_key(p, dk->pkey));
    }
    int valid = 0;
    if (view->entity_id == NULL || view->sso_url == NULL) {
        lasso_server_destroy(server);
        return "the app has no IdP connection (entity ID and SSO URL) yet";
    }
    const char *idp_md = idp_metadata(p, view, now, &valid);
    if (lasso_server_add_provider_from_buffer(server, LASSO_PROVIDER_ROLE_IDP, idp_md,
                                              NULL, NULL) != 0) {
        lasso_server_destroy(server);
        return "lasso could not load the IdP settings";
    }
    if (key != NULL) {
        /* Without this, lasso decodes server->private_key from PEM for every
         * signature it makes (lasso_server_get_signature_context). A signing
         * key set on the IdP provider is decoded here, once per server, and
         * lasso only duplicates the loaded xmlSecKey per signature. The
         * certificate stays with it so the signature's KeyInfo carries it as
         * before (without one lasso writes the bare RSAKeyValue); lasso's
         * duplicate copies it (X509_dup), about a quarter of what a POST
         * sign-in start costs now. */
        const char *key_pem = ib_pem_of_key(p, key->pkey);
        LassoKey *lk = lasso_key_new_for_signature_from_memory(
            key_pem, strlen(key_pem), NULL, LASSO_SIGNATURE_METHOD_RSA_SHA256,
            (char *)ib_pem_of_cert(p, key->cert->x509));
        LassoProvider *idp_provider = lasso_server_get_provider(server, view->entity_id);
        if (lk == NULL || idp_provider == NULL
            || lasso_provider_set_server_signing_key(idp_provider, lk) != 0) {
            if (lk != NULL) {
                g_object_unref(lk);
            }
            lasso_server_destroy(server);
            return "lasso could not load the SP signing key";
        }
        g_object_set_data_full(G_OBJECT(server), SIGNING_KEY_KEY, lk, g_object_unref);
    }
    g_object_set_data_full(G_OBJECT(server), GENERATION_KEY, g_strdup(gen), g_free);
    *out = server;
    return NULL;
}

/* Takes a server built for the current key and certificates from the pool,
 * or builds one. The caller owns it until ib_saml_sp_put. */
static const char *sp_take(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now,
                           const ib_sp_key *key, LassoServer **out)
{
    const ib_idp *view = ib_app_idp(sp->app);
    const char *gen = generation(p, view, now, key);
    /* Servers with or without the active key are both current (an EC key
     * is given to lasso for Redirect sign-ins, never for logout): keep those
     * of the other kind for their next user instead of rebuilding. */
    const char *other = generation(p, view, now,
                                   key ? NULL : ib_sp_keys_active(sp->app->sp_keys, now));
    LassoServer *found = NULL;
    apr_array_header_t *keep = NULL;
    apr_thread_mutex_lock(sp->lock);
    while (found == NULL && sp->idle->nelts > 0) {
        LassoServer *s = *(LassoServer **)apr_array_pop(sp->idle);
        const char *g = g_object_get_data(G_OBJECT(s), GENERATION_KEY);
        if (g != NULL && strcmp(g, gen) == 0) {
            found = s;
        } else if (g != NULL && strcmp(g, other) == 0) {
            if (keep == NULL) {
                keep = apr_array_make(p, 4, sizeof(LassoServer *));
            }
            APR_ARRAY_PUSH(keep, LassoServer *) = s;
        } else {
            lasso_server_destroy(s); /* built for a key or cert no longer in force */
        }
    }
    for (int i = 0; keep != NULL && i < keep->nelts; i++) {
        APR_ARRAY_PUSH(sp->idle, LassoServer *) = APR_ARRAY_IDX(keep, i, LassoServer *);
    }
    apr_thread_mutex_unlock(sp->lock);
    if (found != NULL) {
        *out = found;
        return NULL;
    }
    return build_server(p, sp->app, view, now, key, gen, out);
}

static void sp_put(ib_saml_sp *sp, LassoServer *server)
{
    apr_thread_mutex_lock(sp->lock);
    APR_ARRAY_PUSH(sp->idle, LassoServer *) = server;
    apr_thread_mutex_unlock(sp->lock);
}

/* ---- AuthnRequest ------------------------------------------------------- */

/* Lasso objects own their strings with g_malloc. */
static void set_gstr(char **slot, const char *value)
{
    g_free(*slot);
    *slot = value ? g_strdup(value) : NULL;
}

static void set_request_options(LassoSamlp2AuthnRequest *req, const ib_tenant *t,
                                const char *acs_url)
{
    set_gstr(&req->AssertionConsumerServiceURL, acs_url);
    set_gstr(&req->ProtocolBinding, IB_SAML_BINDING_POST);
    req->ForceAuthn = t->force_authn ? TRUE : FALSE;
    if (req->NameIDPolicy != NULL) {
        /* lasso adds a NameIDPolicy by default; send one only when asked (AREQ-6). */
        g_object_unref(req->NameIDPolicy);
        req->NameIDPolicy = NULL;
    }
    if (t->send_nameid_policy) {
        LassoSamlp2NameIDPolicy *pol = LASSO_SAMLP2_NAME_ID_POLICY(lasso_samlp2_name_id_policy_new());
        set_gstr(&pol->Format, NAMEID_UNSPECIFIED);
        pol->AllowCreate = FALSE;
        req->NameIDPolicy = pol;
    }
    if (strcmp(t->authn_class, IB_AUTHN_CLASS_UNSPECIFIED) != 0) {
        LassoSamlp2RequestedAuthnContext *ctx =
            LASSO_SAMLP2_REQUESTED_AUTHN_CONTEXT(lasso_samlp2_requested_authn_context_new());
        ctx->AuthnContextClassRef = g_list_append(NULL, g_strdup(t->authn_class));
        set_gstr(&ctx->Comparison,
                            t->authn_comparison == IB_AUTHN_EXACT ? "exact" : "minimum");
        req->RequestedAuthnContext = ctx;
    }
}

/* ---- HTTP-Redirect signing ---------------------------------------------- */

/* The SigAlg for a key, and for EC keys the length of r and of s. P-256
 * signs with SHA-256; the larger curves with the hash of matching strength. */
static const char *redirect_sig_alg(EVP_PKEY *pkey, const EVP_MD **md, int *ec_half)
{
    *ec_half = 0;
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
        *md = EVP_sha256();
        return SIGALG_RSA_SHA256;
    }
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) {
        return NULL;
    }
    int bits = EVP_PKEY_get_bits(pkey);
    *ec_half = (bits + 7) / 8;
    if (bits <= 256) {
        *md = EVP_sha256();
        return SIGALG_ECDSA_SHA256;
    }
    *md = bits <= 384 ? EVP_sha384() : EVP_sha512();
    return bits <= 384 ? SIGALG_ECDSA_SHA384 : SIGALG_ECDSA_SHA512;
}

/* OpenSSL's ECDSA output is a DER Ecdsa-Sig-Value; XML Signature (and so a
 * SigAlg naming an xmldsig-more ECDSA URI) wants r || s, each left-padded to
 * the curve's byte length (XMLDSig 1.1 section 6.4.3, RFC 4050/6931). */
static int ecdsa_der_to_raw(const unsigned char *der, size_t der_len, int half,
                            unsigned char *out)
{
    const unsigned char *q = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
    if (es == NULL) {
        return -1;
    }
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    int ok = BN_bn2binpad(r, out, half) == half && BN_bn2binpad(s, out + half, half) == half;
    ECDSA_SIG_free(es);
    return ok ? 0 : -1;
}

/* SAML Bindings 3.4.4.1: the signature covers the octets
 * "SAMLRequest=...&RelayState=...&SigAlg=..." exactly as they appear in the
 * URL. lasso built the unsigned URL (sso_url, '?' or '&', then the query);
 * we add SigAlg and Signature, signing with the key already loaded at
 * startup instead of having lasso decode it from PEM per request. */
static const char *sign_redirect(apr_pool_t *p, const ib_sp_key *key, const char *sso_url,
                                 const char *unsigned_url, const char **signed_url)
{
    size_t n = strlen(sso_url);
    if (strncmp(unsigned_url, sso_url, n) != 0
        || (unsigned_url[n] != '?' && unsigned_url[n] != '&')
        || strncmp(unsigned_url + n + 1, "SAMLRequest=", 12) != 0) {
        return "lasso built a redirect URL of an unexpected form";
    }
    const EVP_MD *md;
    int half;
    const char *alg = redirect_sig_alg(key->pkey, &md, &half);
    if (alg == NULL) {
        return "the active SP key is neither RSA nor EC";
    }
    const char *octets = apr_pstrcat(p, unsigned_url + n + 1, "&SigAlg=",
                                     apr_pescape_urlencoded(p, alg), NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sig_len = 0;
    unsigned char *sig = NULL;
    int ok = ctx != NULL
             && EVP_DigestSignInit(ctx, NULL, md, NULL, key->pkey) == 1
             && EVP_DigestSign(ctx, NULL, &sig_len, (const unsigned char *)octets,
                               strlen(octets)) == 1;
    if (ok) {
        sig = apr_palloc(p, sig_len);
        ok = EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)octets,
                            strlen(octets)) == 1;
    }
    EVP_MD_CTX_free(ctx);
    if (ok && half > 0) {
        unsigned char *raw = apr_palloc(p, 2 * (apr_size_t)half);
        ok = ecdsa_der_to_raw(sig, sig_len, half, raw) == 0;
        sig = raw;
        sig_len = 2 * (size_t)half;
    }
    if (!ok) {
        ERR_clear_error();
        return "OpenSSL could not sign the AuthnRequest";
    }
    *signed_url = apr_pstrcat(p, unsigned_url, "&SigAlg=", apr_pescape_urlencoded(p, alg),
                              "&Signature=",
                              apr_pescape_urlencoded(p, ib_b64_encode(p, sig, sig_len)), NULL);
    return NULL;
}

const char *ib_saml_sp_key_check(apr_pool_t *p, const ib_app *app)
{
    const ib_tenant *t = app->tenant;
    if (!t->sign_requests || t->sso_binding == IB_BINDING_REDIRECT) {
        return NULL;
    }
    for (int i = 0; i < app->sp_keys->nelts; i++) {
        const ib_sp_key *k = APR_ARRAY_IDX(app->sp_keys, i, const ib_sp_key *);
        if (EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA) {
            return apr_psprintf(p, "tenant %s: the SP key '%s' is an EC key, which lasso "
                                "cannot use for the XML signature of an HTTP-POST "
                                "AuthnRequest; use an RSA key, IdBrokerSSOBinding redirect "
                                "(signed with EC in the query string) or "
                                "IdBrokerSignRequests Off", t->name, k->key_path);
        }
    }
    return NULL;
}

const char *ib_saml_authn_request(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now,
                                  const char *acs_url, const char *relay_state,
                                  ib_authn_request *out)
{
    const ib_app *app = sp->app;
    const ib_tenant *t = app->tenant;
    const ib_sp_key *key = ib_sp_keys_active(app->sp_keys, now);
    if (t->sign_requests && key == NULL) {
        return "no SP signing key is active (expired or not yet valid): refusing "
               "to send an unsigned request";
    }
    int redirect = t->sso_binding == IB_BINDING_REDIRECT;
    if (t->sign_requests && !redirect && EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA) {
        return "the active SP key is not RSA; lasso signs HTTP-POST AuthnRequests "
               "with RSA only (use IdBrokerSSOBinding redirect for an EC key)";
    }
    /* lasso signs POST requests (XML signature); Redirect requests it builds
     * unsigned and sign_redirect signs the query. lasso asks the server for a
     * signing key while building any request, signed or not, so the server
     * always has the active key (an EC key too: lasso never signs with it,
     * the checks above and the FORBID hint below see to that). */
    const ib_sp_key *lasso_key = key;
    const ib_idp *view = ib_app_idp(app);
    LassoServer *server;
    const char *err = sp_take(p, sp, now, lasso_key, &server);
    if (err != NULL) {
        return err;
    }
    LassoLogin *login = lasso_login_new(server);
    LassoProfile *profile = LASSO_PROFILE(login);
    LassoHttpMethod method = redirect ? LASSO_HTTP_METHOD_REDIRECT : LASSO_HTTP_METHOD_POST;
    int rc = lasso_login_init_authn_request(login, view->entity_id, method);
    if (rc == 0) {
        LassoSamlp2AuthnRequest *req = LASSO_SAMLP2_AUTHN_REQUEST(profile->request);
        set_request_options(req, t, acs_url);
        lasso_profile_set_signature_hint(profile, t->sign_requests && !redirect
                                         ? LASSO_PROFILE_SIGNATURE_HINT_FORCE
                                         : LASSO_PROFILE_SIGNATURE_HINT_FORBID);
        set_gstr(&profile->msg_relayState, relay_state);
        rc = lasso_login_build_authn_request_msg(login);
    }
    if (rc == 0) {
        LassoSamlp2RequestAbstract *req = LASSO_SAMLP2_REQUEST_ABSTRACT(profile->request);
        out->request_id = apr_pstrdup(p, req->ID);
        out->redirect = redirect;
        out->url = apr_pstrdup(p, profile->msg_url);
        out->saml_request = profile->msg_body ? apr_pstrdup(p, profile->msg_body) : NULL;
        if (redirect && t->sign_requests) {
            err = sign_redirect(p, key, view->sso_url, out->url, &out->url);
        }
    } else {
        err = apr_psprintf(p, "lasso could not build the AuthnRequest: %s",
                           lasso_strerror(rc));
    }
    g_object_unref(login);
    sp_put(sp, server);
    return err;
}

/* Used by ib_saml_response.c. */
const char *ib_saml_sp_take(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now,
                            LassoServer **out, int *valid_idp_certs);
void ib_saml_sp_put(ib_saml_sp *sp, LassoServer *server);

const char *ib_saml_sp_take(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now,
                            LassoServer **out, int *valid_idp_certs)
{
    *valid_idp_certs = 0;
    const apr_array_header_t *certs = ib_app_idp(sp->app)->certs;
    for (int i = 0; i < certs->nelts; i++) {
        if (ib_cert_valid_at(APR_ARRAY_IDX(certs, i, const ib_cert *), now)) {
            (*valid_idp_certs)++;
        }
    }
    const ib_sp_key *key = ib_sp_keys_active(sp->app->sp_keys, now);
    if (key != NULL && EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA) {
        key = NULL; /* verification needs no SP key */
    }
    return sp_take(p, sp, now, key, out);
}

void ib_saml_sp_put(ib_saml_sp *sp, LassoServer *server)
{
    sp_put(sp, server);
}

const ib_app *ib_saml_sp_app(const ib_saml_sp *sp);

const ib_app *ib_saml_sp_app(const ib_saml_sp *sp)
{
    return sp->app;
}
