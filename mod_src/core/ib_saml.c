#include <string.h>

#include <apr_strings.h>
#include <lasso/lasso.h>
#include <lasso/xml/saml-2.0/samlp2_authn_request.h>
#include <lasso/xml/saml-2.0/samlp2_name_id_policy.h>
#include <lasso/xml/saml-2.0/samlp2_requested_authn_context.h>
#include <libxml/tree.h>
#include <apr_escape.h>
#include <apr_lib.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "ib_codec.h"
#include "ib_md_build.h"
#include "ib_metadata.h"
#include "ib_saml.h"
#include "ib_xml.h"

#define NAMEID_UNSPECIFIED "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
#define GENERATION_KEY "ib-generation"
#define SIGNING_KEY_KEY "ib-signing-key"
#define SERIAL_KEY "ib-view-serial"
#define XMLSEC_KEY_KEY "ib-xmlsec-signing-key"
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
    int full_used;              /* a logout took a full server (behind lock) */
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

/* Two kinds of server. A sign-in start only has lasso build an unsigned
 * AuthnRequest to the IdP's SSO endpoint (ib_saml_authn_request signs it),
 * so its server knows no key at all: no SP key, no KeyDescriptor in either
 * metadata. lasso reads each KeyDescriptor through an xmlsec key manager
 * that loads the system CA bundle (X509_STORE_set_default_paths), about
 * 50-100 ms each on 2 cores, which made a start server cost a few hundred
 * ms to build; a keyless one costs about a millisecond. Logout (lasso signs
 * and verifies there) gets a full server: SP key, decryption key, the IdP's
 * valid certificates. */
typedef enum { SERVER_START, SERVER_FULL } server_kind;

/* The key of a start server: only for HTTP-POST with IdBrokerSignRequests
 * On, whose XML signature sign_post makes with the xmlsec key built with
 * the server (lasso never sees it). */
static const ib_sp_key *start_key(const ib_app *app, apr_time_t now)
{
    const ib_tenant *t = app->tenant;
    if (!t->sign_requests || t->sso_binding == IB_BINDING_REDIRECT) {
        return NULL;
    }
    return ib_sp_keys_active(app->sp_keys, now);
}

/* The key of a full (logout) server: the active key when it is RSA, for
 * lasso's logout signatures and decryption. */
static const ib_sp_key *full_key(const ib_app *app, apr_time_t now)
{
    const ib_sp_key *key = ib_sp_keys_active(app->sp_keys, now);
    return key != NULL && EVP_PKEY_get_base_id(key->pkey) == EVP_PKEY_RSA ? key : NULL;
}

static const ib_sp_key *kind_key(const ib_app *app, server_kind kind, apr_time_t now)
{
    return kind == SERVER_START ? start_key(app, now) : full_key(app, now);
}

/* What a LassoServer was built from; a different value means rebuild. A
 * start server depends on no IdP certificate. */
static const char *generation(apr_pool_t *p, const ib_idp *idp, apr_time_t now,
                              const ib_sp_key *key, server_kind kind)
{
    const char *g = apr_psprintf(p, "%s:%s#%lu", kind == SERVER_START ? "start" : "full",
                                 key ? key->cert->sha256_hex : "-", idp->serial);
    for (int i = 0; kind == SERVER_FULL && i < idp->certs->nelts; i++) {
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
 * never verify anything (RESP-3); none at all with_keys = 0. */
static const char *idp_metadata(apr_pool_t *p, const ib_idp *view, apr_time_t now,
                                int with_keys)
{
    ib_md_doc d;
    ib_md_begin(&d, view->entity_id);
    xmlNodePtr idp = ib_md_role(&d, "IDPSSODescriptor");
    xmlNewProp(idp, IB_X("protocolSupportEnumeration"), IB_X(IB_PROTOCOL_SAML2));
    for (int i = 0; with_keys && i < view->certs->nelts; i++) {
        const ib_cert *c = APR_ARRAY_IDX(view->certs, i, const ib_cert *);
        if (ib_cert_valid_at(c, now)) {
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

/* The SP metadata (what /saml/metadata serves) without its KeyDescriptors,
 * for a start server. NULL if libxml2 fails. */
static const char *without_keys(apr_pool_t *p, const char *md, apr_size_t len)
{
    xmlDocPtr doc = xmlReadMemory(md, (int)len, NULL, NULL, XML_PARSE_NONET);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    for (xmlNodePtr role = root ? root->children : NULL; role != NULL; role = role->next) {
        xmlNodePtr next;
        for (xmlNodePtr c = role->children; c != NULL; c = next) {
            next = c->next;
            if (ib_xml_is_el(c, NS_MD, "KeyDescriptor")) {
                xmlUnlinkNode(c);
                xmlFreeNode(c);
            }
        }
    }
    xmlChar *out = NULL;
    int out_len = 0;
    if (root != NULL) {
        xmlDocDumpMemory(doc, &out, &out_len);
    }
    const char *copy = out ? apr_pstrmemdup(p, (const char *)out, (apr_size_t)out_len) : NULL;
    xmlFree(out);
    xmlFreeDoc(doc);
    return copy;
}

static const char *build_server(apr_pool_t *p, const ib_app *app, const ib_idp *view,
                                apr_time_t now, server_kind kind, const char *gen,
                                LassoServer **out)
{
    const ib_sp_key *key = kind_key(app, kind, now);
    const char *sp_md;
    apr_size_t len;
    const char *err = ib_metadata_sp_xml(p, app, now, &sp_md, &len);
    if (err != NULL) {
        return err;
    }
    if (view->entity_id == NULL || view->sso_url == NULL) {
        return "the app has no IdP connection (entity ID and SSO URL) yet";
    }
    int full = kind == SERVER_FULL;
    if (!full && (sp_md = without_keys(p, sp_md, len)) == NULL) {
        return "libxml2 could not read the SP metadata";
    }
    LassoServer *server = lasso_server_new_from_buffers(
        sp_md, full && key ? ib_pem_of_key(p, key->pkey) : NULL, NULL,
        full && key ? ib_pem_of_cert(p, key->cert->x509) : NULL);
    if (server == NULL) {
        return "lasso could not load the SP metadata and key";
    }
    server->signature_method = LASSO_SIGNATURE_METHOD_RSA_SHA256;
    if (full && app->decrypt_keys->nelts > 0) {
        /* lasso decrypts too (an encrypted NameID in a LogoutRequest). */
        const ib_sp_key *dk = APR_ARRAY_IDX(app->decrypt_keys, 0, const ib_sp_key *);
        lasso_server_set_encryption_private_key(server, ib_pem_of_key(p, dk->pkey));
    }
    const char *idp_md = idp_metadata(p, view, now, full);
    if (lasso_server_add_provider_from_buffer(server, LASSO_PROVIDER_ROLE_IDP, idp_md,
                                              NULL, NULL) != 0) {
        lasso_server_destroy(server);
        return "lasso could not load the IdP settings";
    }
    if (full && key != NULL) {
        /* Without this, lasso decodes server->private_key from PEM for every
         * signature it makes (lasso_server_get_signature_context). A signing
         * key set on the IdP provider is decoded here, once per server, and
         * lasso only duplicates the loaded xmlSecKey per signature. The
         * certificate stays with it so the signature's KeyInfo carries it as
         * before (without one lasso writes the bare RSAKeyValue). */
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
    if (!full && key != NULL) {
        /* For the XML signature of HTTP-POST AuthnRequests, made with xmlsec
         * over this key as is (see sign_post). */
        xmlSecKeyPtr xk = ib_dsig_signing_key(p, key);
        if (xk == NULL) {
            lasso_server_destroy(server);
            return "xmlsec could not load the SP signing key";
        }
        g_object_set_data_full(G_OBJECT(server), XMLSEC_KEY_KEY, xk,
                               (GDestroyNotify)xmlSecKeyDestroy);
    }
    g_object_set_data_full(G_OBJECT(server), GENERATION_KEY, g_strdup(gen), g_free);
    g_object_set_data(G_OBJECT(server), SERIAL_KEY, GSIZE_TO_POINTER((gsize)view->serial));
    *out = server;
    return NULL;
}

static unsigned long view_serial_of(LassoServer *s)
{
    return (unsigned long)GPOINTER_TO_SIZE(g_object_get_data(G_OBJECT(s), SERIAL_KEY));
}

/* Takes a server of the kind built for the current view and key from the
 * pool, or builds one. The caller owns it until sp_put. */
static const char *sp_take(apr_pool_t *p, ib_saml_sp *sp, apr_time_t now, server_kind kind,
                           LassoServer **out)
{
    const ib_app *app = sp->app;
    const ib_idp *view = ib_app_idp(app);
    const char *gen = generation(p, view, now, kind_key(app, kind, now), kind);
    /* Current servers of the other kind stay for their next user, as do
     * those built ahead for a view not yet in force. */
    server_kind other_kind = kind == SERVER_START ? SERVER_FULL : SERVER_START;
    const char *other = generation(p, view, now, kind_key(app, other_kind, now), other_kind);
    LassoServer *found = NULL;
    apr_array_header_t *keep = NULL;
    apr_thread_mutex_lock(sp->lock);
    sp->full_used |= kind == SERVER_FULL;
    while (found == NULL && sp->idle->nelts > 0) {
        LassoServer *s = *(LassoServer **)apr_array_pop(sp->idle);
        const char *g = g_object_get_data(G_OBJECT(s), GENERATION_KEY);
        if (g != NULL && strcmp(g, gen) == 0) {
            found = s;
        } else if ((g != NULL && strcmp(g, other) == 0) || view_serial_of(s) > view->serial) {
            if (keep == NULL) {
                keep = apr_array_make(p, 4, sizeof(LassoServer *));
            }
            APR_ARRAY_PUSH(keep, LassoServer *) = s;
        } else {
            lasso_server_destroy(s); /* built for a view, key or cert no longer in force */
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
    return build_server(p, app, view, now, kind, gen, out);
}

static void sp_put(ib_saml_sp *sp, LassoServer *server)
{
    apr_thread_mutex_lock(sp->lock);
    APR_ARRAY_PUSH(sp->idle, LassoServer *) = server;
    apr_thread_mutex_unlock(sp->lock);
}

/* Idle servers of one generation in the pool now. */
static int idle_count(ib_saml_sp *sp, const char *gen)
{
    int n = 0;
    apr_thread_mutex_lock(sp->lock);
    for (int i = 0; i < sp->idle->nelts; i++) {
        const char *g = g_object_get_data(G_OBJECT(APR_ARRAY_IDX(sp->idle, i, LassoServer *)),
                                          GENERATION_KEY);
        n += g != NULL && strcmp(g, gen) == 0;
    }
    apr_thread_mutex_unlock(sp->lock);
    return n;
}

void ib_saml_sp_prepare(ib_saml_sp *sp, const ib_idp *view, apr_time_t now, int what)
{
    const ib_app *app = sp->app;
    if (app->oidc != NULL || view == NULL || view->entity_id == NULL || view->sso_url == NULL) {
        return;
    }
    /* Its own pool and allocator: this may run in a thread of its own. */
    apr_pool_t *p;
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) {
        return;
    }
    const ib_idp *in_force = ib_app_idp(app);
    for (server_kind kind = SERVER_START; kind <= SERVER_FULL; kind++) {
        if (kind == SERVER_START && !(what & IB_SAML_PREPARE_START)) {
            continue;
        }
        if (kind == SERVER_FULL && !(what & IB_SAML_PREPARE_FULL)) {
            continue;
        }
        apr_thread_mutex_lock(sp->lock);
        int full_used = sp->full_used;
        apr_thread_mutex_unlock(sp->lock);
        if (kind == SERVER_FULL && !full_used) {
            continue;    /* no logout here yet: none built for nothing */
        }
        const ib_sp_key *key = kind_key(app, kind, now);
        /* Start servers: as many as the pool holds for the view in force
         * (the concurrency it has seen), 1 to IB_SAML_PREPARE_MAX. One
         * logout server. */
        int want = 1;
        if (kind == SERVER_START && in_force != view) {
            want = idle_count(sp, generation(p, in_force, now, key, kind));
            want = want < 1 ? 1 : want > IB_SAML_PREPARE_MAX ? IB_SAML_PREPARE_MAX : want;
        }
        const char *gen = generation(p, view, now, key, kind);
        for (int have = idle_count(sp, gen); have < want; have++) {
            LassoServer *server;
            if (build_server(p, app, view, now, kind, gen, &server) != NULL) {
                break;    /* a request building it will report why */
            }
            sp_put(sp, server);
        }
    }
    apr_pool_destroy(p);
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

/* Percent-encoding for the query we sign, with upper-case hex digits as RFC
 * 3986 2.1 recommends and as lasso writes SAMLRequest: an IdP verifies the
 * octets it receives, and clients and proxies that normalise "%3a" to "%3A"
 * (python-requests does) would otherwise break the signature. */
static const char *query_escape(apr_pool_t *p, const char *value)
{
    char *out = apr_pstrdup(p, apr_pescape_urlencoded(p, value));
    for (char *c = out; *c; c++) {
        if (*c == '%' && c[1] && c[2]) {
            c[1] = (char)apr_toupper(c[1]);
            c[2] = (char)apr_toupper(c[2]);
            c += 2;
        }
    }
    return out;
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
                                     query_escape(p, alg), NULL);
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
    *signed_url = apr_pstrcat(p, unsigned_url, "&SigAlg=", query_escape(p, alg),
                              "&Signature=",
                              query_escape(p, ib_b64_encode(p, sig, sig_len)), NULL);
    return NULL;
}

/* ---- HTTP-POST signing -------------------------------------------------- */

/* lasso built the AuthnRequest unsigned; this signs lasso's own XML of it
 * (lasso_node_get_xmlNode, what lasso would have signed) with the server's
 * xmlsec key, in lasso's form (ib_dsig_sign_enveloped), and encodes it as
 * lasso_node_export_to_base64 does. lasso signing it itself copies the key
 * twice per request (into the request's signature context, then into
 * xmlsec's), each copy an X509_dup of the certificate: together about 40 %
 * of an RSA-2048 signature. */
static const char *sign_post(apr_pool_t *p, LassoServer *server, LassoNode *request,
                             const char **saml_request)
{
    xmlSecKeyPtr key = g_object_get_data(G_OBJECT(server), XMLSEC_KEY_KEY);
    if (key == NULL) {
        return "no signing key loaded for the AuthnRequest";
    }
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr root = lasso_node_get_xmlNode(request, FALSE);
    if (doc == NULL || root == NULL) {
        xmlFreeNode(root);
        xmlFreeDoc(doc);
        return "lasso could not give the AuthnRequest as XML";
    }
    xmlDocSetRootElement(doc, root);
    const char *err = ib_dsig_sign_enveloped(root, ib_xml_child(root, NS_SAML, "Issuer"), key);
    if (err == NULL) {
        xmlBufferPtr buf = xmlBufferCreate();
        if (buf != NULL && xmlNodeDump(buf, doc, root, 0, 0) > 0) {
            *saml_request = ib_b64_encode(p, xmlBufferContent(buf),
                                          (apr_size_t)xmlBufferLength(buf));
        } else {
            err = "libxml2 could not serialise the signed AuthnRequest";
        }
        xmlBufferFree(buf);
    }
    xmlFreeDoc(doc);
    return err;
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
    /* lasso builds every AuthnRequest unsigned: sign_redirect signs a
     * Redirect query with OpenSSL, sign_post lasso's XML of a POST request
     * with xmlsec, both over keys loaded once. lasso itself would copy the
     * server's key into every request it initialises (an X509_dup of the
     * certificate, about 1.4M instructions) unless the signature hint says
     * FORBID already when lasso_login_init_authn_request runs
     * (lasso_profile_saml20_setup_message_signature): so it is set first. */
    int post_signed = t->sign_requests && !redirect;
    const ib_idp *view = ib_app_idp(app);
    LassoServer *server;
    const char *err = sp_take(p, sp, now, SERVER_START, &server);
    if (err != NULL) {
        return err;
    }
    LassoLogin *login = lasso_login_new(server);
    LassoProfile *profile = LASSO_PROFILE(login);
    LassoHttpMethod method = redirect ? LASSO_HTTP_METHOD_REDIRECT : LASSO_HTTP_METHOD_POST;
    lasso_profile_set_signature_hint(profile, LASSO_PROFILE_SIGNATURE_HINT_FORBID);
    int rc = lasso_login_init_authn_request(login, view->entity_id, method);
    if (rc == 0) {
        LassoSamlp2AuthnRequest *req = LASSO_SAMLP2_AUTHN_REQUEST(profile->request);
        set_request_options(req, t, acs_url);
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
        } else if (post_signed) {
            err = sign_post(p, server, profile->request, &out->saml_request);
        }
    } else {
        err = apr_psprintf(p, "lasso could not build the AuthnRequest: %s",
                           lasso_strerror(rc));
    }
    g_object_unref(login);
    sp_put(sp, server);
    return err;
}

/* Used by ib_saml_logout.c: a full server. */
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
    return sp_take(p, sp, now, SERVER_FULL, out);
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
