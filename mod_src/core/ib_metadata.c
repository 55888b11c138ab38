#include <string.h>

#include <apr_strings.h>
#include <libxml/tree.h>

#include "ib_metadata.h"

#define NS_MD "urn:oasis:names:tc:SAML:2.0:metadata"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define PROTOCOL_SAML2 "urn:oasis:names:tc:SAML:2.0:protocol"
#define BINDING_POST "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
#define BINDING_REDIRECT "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
#define NAMEID_UNSPECIFIED "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

#define X(s) ((const xmlChar *)(s))

static void add_key_descriptor(xmlNodePtr sp, xmlNsPtr md, xmlNsPtr ds,
                               const char *use, const ib_cert *cert)
{
    xmlNodePtr kd = xmlNewChild(sp, md, X("KeyDescriptor"), NULL);
    xmlNewProp(kd, X("use"), X(use));
    xmlNodePtr ki = xmlNewChild(kd, ds, X("KeyInfo"), NULL);
    xmlNodePtr x509data = xmlNewChild(ki, ds, X("X509Data"), NULL);
    xmlNewTextChild(x509data, ds, X("X509Certificate"), X(cert->der_b64));
}

static void add_endpoint(xmlNodePtr sp, xmlNsPtr md, const char *element,
                         const char *binding, const char *location, int with_response)
{
    xmlNodePtr e = xmlNewChild(sp, md, X(element), NULL);
    xmlNewProp(e, X("Binding"), X(binding));
    xmlNewProp(e, X("Location"), X(location));
    if (with_response) {
        xmlNewProp(e, X("ResponseLocation"), X(location));
    }
}

static int wants_assertions_signed(const ib_tenant *t)
{
    return t->response_signing == IB_SIGN_ASSERTION || t->response_signing == IB_SIGN_BOTH;
}

const char *ib_metadata_sp_xml(apr_pool_t *p, const ib_app *app, apr_time_t now,
                               const char **xml, apr_size_t *len)
{
    const ib_tenant *t = app->tenant;
    xmlDocPtr doc = xmlNewDoc(X("1.0"));
    xmlNodePtr root = xmlNewNode(NULL, X("EntityDescriptor"));
    xmlDocSetRootElement(doc, root);
    xmlNsPtr md = xmlNewNs(root, X(NS_MD), X("md"));
    xmlNsPtr ds = xmlNewNs(root, X(NS_DS), X("ds"));
    xmlSetNs(root, md);
    xmlNewProp(root, X("entityID"), X(app->sp_entity_id));

    xmlNodePtr sp = xmlNewChild(root, md, X("SPSSODescriptor"), NULL);
    xmlNewProp(sp, X("ID"), X(app->metadata_id));
    xmlNewProp(sp, X("AuthnRequestsSigned"), X(t->sign_requests ? "true" : "false"));
    xmlNewProp(sp, X("WantAssertionsSigned"), X(wants_assertions_signed(t) ? "true" : "false"));
    xmlNewProp(sp, X("protocolSupportEnumeration"), X(PROTOCOL_SAML2));

    /* MD-3: the active key and every key in its advertisement phase, each in
     * its own KeyDescriptor, so IdPs holding several certs roll over cleanly. */
    apr_array_header_t *keys = ib_sp_keys_published(p, app->sp_keys, now);
    for (int i = 0; i < keys->nelts; i++) {
        const ib_sp_key *k = APR_ARRAY_IDX(keys, i, const ib_sp_key *);
        add_key_descriptor(sp, md, ds, "signing", k->cert);
    }

    /* RESP-8: an encryption key only when the SP can decrypt. */
    for (int i = 0; app->decrypt_keys && i < app->decrypt_keys->nelts; i++) {
        const ib_sp_key *k = APR_ARRAY_IDX(app->decrypt_keys, i, const ib_sp_key *);
        if (now <= k->cert->not_after) {
            add_key_descriptor(sp, md, ds, "encryption", k->cert);
        }
    }

    /* EP-3: endpoints hang off the SP base URL, never off the scoped ID. */
    const char *slo = ib_url_join(p, &app->sp_base, IB_PATH_SLO);
    add_endpoint(sp, md, "SingleLogoutService", BINDING_POST, slo, 1);
    add_endpoint(sp, md, "SingleLogoutService", BINDING_REDIRECT, slo, 1);
    xmlNewTextChild(sp, md, X("NameIDFormat"), X(NAMEID_UNSPECIFIED));
    xmlNodePtr acs = xmlNewChild(sp, md, X("AssertionConsumerService"), NULL);
    xmlNewProp(acs, X("Binding"), X(BINDING_POST));
    xmlNewProp(acs, X("Location"), X(ib_url_join(p, &app->sp_base, IB_PATH_ACS)));
    xmlNewProp(acs, X("index"), X("0"));
    xmlNewProp(acs, X("isDefault"), X("true"));

    xmlChar *out = NULL;
    int out_len = 0;
    xmlDocDumpFormatMemoryEnc(doc, &out, &out_len, "UTF-8", 1);
    xmlFreeDoc(doc);
    if (out == NULL) {
        return "could not serialise the SP metadata";
    }
    *xml = apr_pstrmemdup(p, (const char *)out, (apr_size_t)out_len);
    *len = (apr_size_t)out_len;
    xmlFree(out);
    return NULL;
}
