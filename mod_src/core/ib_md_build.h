/* Building SAML metadata documents with libxml2's tree API: shared by our
 * SP metadata and the IdP metadata lasso is given for pinned settings. */
#ifndef IB_MD_BUILD_H
#define IB_MD_BUILD_H

#include <apr_pools.h>
#include <libxml/tree.h>

#include "ib_keys.h"

#define IB_NS_MD "urn:oasis:names:tc:SAML:2.0:metadata"
#define IB_NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define IB_PROTOCOL_SAML2 "urn:oasis:names:tc:SAML:2.0:protocol"
#define IB_SAML_BINDING_POST "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
#define IB_SAML_BINDING_REDIRECT "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
#define IB_X(s) ((const xmlChar *)(s))

typedef struct ib_md_doc {
    xmlDocPtr doc;
    xmlNodePtr root;
    xmlNsPtr md;
    xmlNsPtr ds;
} ib_md_doc;

/* A document holding one md:EntityDescriptor for entity_id. */
void ib_md_begin(ib_md_doc *d, const char *entity_id);

/* A role descriptor (SPSSODescriptor, IDPSSODescriptor) for SAML 2.0. */
xmlNodePtr ib_md_role(ib_md_doc *d, const char *element);

/* md:KeyDescriptor use=USE with the certificate in ds:X509Certificate. */
void ib_md_add_key(ib_md_doc *d, xmlNodePtr role, const char *use, const ib_cert *cert);

/* An endpoint element with Binding and Location (and ResponseLocation). */
void ib_md_add_endpoint(ib_md_doc *d, xmlNodePtr role, const char *element,
                        const char *binding, const char *location, int with_response);

/* Serialises into pool memory and frees the document; NULL on failure. */
const char *ib_md_finish(apr_pool_t *p, ib_md_doc *d, int indent, apr_size_t *len);

#endif
