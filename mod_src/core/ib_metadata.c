#include <string.h>

#include <apr_strings.h>

#include "ib_md_build.h"
#include "ib_metadata.h"

#define NAMEID_UNSPECIFIED "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

static int wants_assertions_signed(const ib_tenant *t)
{
    return t->response_signing == IB_SIGN_ASSERTION || t->response_signing == IB_SIGN_BOTH;
}

const char *ib_metadata_sp_xml(apr_pool_t *p, const ib_app *app, apr_time_t now,
                               const char **xml, apr_size_t *len)
{
    const ib_tenant *t = app->tenant;
    ib_md_doc d;
    ib_md_begin(&d, app->sp_entity_id);
    xmlNodePtr sp = ib_md_role(&d, "SPSSODescriptor");
    xmlNewProp(sp, IB_X("ID"), IB_X(app->metadata_id));
    xmlNewProp(sp, IB_X("AuthnRequestsSigned"), IB_X(t->sign_requests ? "true" : "false"));
    xmlNewProp(sp, IB_X("WantAssertionsSigned"),
               IB_X(wants_assertions_signed(t) ? "true" : "false"));
    xmlNewProp(sp, IB_X("protocolSupportEnumeration"), IB_X(IB_PROTOCOL_SAML2));

    /* MD-3: the active key and every key in its advertisement phase, each in
     * its own KeyDescriptor, so IdPs holding several certs roll over cleanly. */
    apr_array_header_t *keys = ib_sp_keys_published(p, app->sp_keys, now);
    for (int i = 0; i < keys->nelts; i++) {
        ib_md_add_key(&d, sp, "signing", APR_ARRAY_IDX(keys, i, const ib_sp_key *)->cert);
    }
    /* RESP-8: an encryption key only when the SP can decrypt. */
    for (int i = 0; app->decrypt_keys && i < app->decrypt_keys->nelts; i++) {
        const ib_sp_key *k = APR_ARRAY_IDX(app->decrypt_keys, i, const ib_sp_key *);
        if (now <= k->cert->not_after) {
            ib_md_add_key(&d, sp, "encryption", k->cert);
        }
    }

    /* EP-3: endpoints hang off the SP base URL, never off the scoped ID. */
    const char *slo = ib_url_join(p, &app->sp_base, IB_PATH_SLO);
    ib_md_add_endpoint(&d, sp, "SingleLogoutService", IB_SAML_BINDING_POST, slo, 1);
    ib_md_add_endpoint(&d, sp, "SingleLogoutService", IB_SAML_BINDING_REDIRECT, slo, 1);
    xmlNewTextChild(sp, d.md, IB_X("NameIDFormat"), IB_X(NAMEID_UNSPECIFIED));
    xmlNodePtr acs = xmlNewChild(sp, d.md, IB_X("AssertionConsumerService"), NULL);
    xmlNewProp(acs, IB_X("Binding"), IB_X(IB_SAML_BINDING_POST));
    xmlNewProp(acs, IB_X("Location"), IB_X(ib_url_join(p, &app->sp_base, IB_PATH_ACS)));
    xmlNewProp(acs, IB_X("index"), IB_X("0"));
    xmlNewProp(acs, IB_X("isDefault"), IB_X("true"));

    *xml = ib_md_finish(p, &d, 1, len);
    return *xml ? NULL : "could not serialise the SP metadata";
}
