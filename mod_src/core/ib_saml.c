#include <string.h>

#include <apr_strings.h>
#include <lasso/lasso.h>
#include <lasso/xml/saml-2.0/samlp2_authn_request.h>
#include <lasso/xml/saml-2.0/samlp2_name_id_policy.h>
#include <lasso/xml/saml-2.0/samlp2_requested_authn_context.h>
#include <libxml/tree.h>

#include "ib_md_build.h"
#include "ib_metadata.h"
#include "ib_saml.h"

#define NAMEID_UNSPECIFIED "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
#define GENERATION_KEY "ib-generation"

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
    LassoServer *found = NULL;
    apr_thread_mutex_lock(sp->lock);
    while (found == NULL && sp->idle->nelts > 0) {
        LassoServer *s = *(LassoServer **)apr_array_pop(sp->idle);
        const char *g = g_object_get_data(G_OBJECT(s), GENERATION_KEY);
        if (g != NULL && strcmp(g, gen) == 0) {
            found = s;
        } else {
            lasso_server_destroy(s); /* built for a key or cert no longer in force */
        }
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
    if (t->sign_requests && EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA) {
        return "the active SP key is not RSA; lasso signs SAML requests with RSA only";
    }
    LassoServer *server;
    const char *err = sp_take(p, sp, now, key, &server);
    if (err != NULL) {
        return err;
    }
    LassoLogin *login = lasso_login_new(server);
    LassoProfile *profile = LASSO_PROFILE(login);
    LassoHttpMethod method = t->sso_binding == IB_BINDING_REDIRECT
                             ? LASSO_HTTP_METHOD_REDIRECT : LASSO_HTTP_METHOD_POST;
    int rc = lasso_login_init_authn_request(login, ib_app_idp(app)->entity_id, method);
    if (rc == 0) {
        LassoSamlp2AuthnRequest *req = LASSO_SAMLP2_AUTHN_REQUEST(profile->request);
        set_request_options(req, t, acs_url);
        lasso_profile_set_signature_hint(profile, t->sign_requests
                                         ? LASSO_PROFILE_SIGNATURE_HINT_FORCE
                                         : LASSO_PROFILE_SIGNATURE_HINT_FORBID);
        set_gstr(&profile->msg_relayState, relay_state);
        rc = lasso_login_build_authn_request_msg(login);
    }
    if (rc == 0) {
        LassoSamlp2RequestAbstract *req = LASSO_SAMLP2_REQUEST_ABSTRACT(profile->request);
        out->request_id = apr_pstrdup(p, req->ID);
        out->redirect = method == LASSO_HTTP_METHOD_REDIRECT;
        out->url = apr_pstrdup(p, profile->msg_url);
        out->saml_request = profile->msg_body ? apr_pstrdup(p, profile->msg_body) : NULL;
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
