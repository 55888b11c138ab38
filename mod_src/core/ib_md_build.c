#include <apr_strings.h>

#include "ib_md_build.h"

void ib_md_begin(ib_md_doc *d, const char *entity_id)
{
    d->doc = xmlNewDoc(IB_X("1.0"));
    d->root = xmlNewNode(NULL, IB_X("EntityDescriptor"));
    xmlDocSetRootElement(d->doc, d->root);
    d->md = xmlNewNs(d->root, IB_X(IB_NS_MD), IB_X("md"));
    d->ds = xmlNewNs(d->root, IB_X(IB_NS_DS), IB_X("ds"));
    xmlSetNs(d->root, d->md);
    xmlNewProp(d->root, IB_X("entityID"), IB_X(entity_id));
}

xmlNodePtr ib_md_role(ib_md_doc *d, const char *element)
{
    return xmlNewChild(d->root, d->md, IB_X(element), NULL);
}

void ib_md_add_key(ib_md_doc *d, xmlNodePtr role, const char *use, const ib_cert *cert)
{
    xmlNodePtr kd = xmlNewChild(role, d->md, IB_X("KeyDescriptor"), NULL);
    xmlNewProp(kd, IB_X("use"), IB_X(use));
    xmlNodePtr ki = xmlNewChild(kd, d->ds, IB_X("KeyInfo"), NULL);
    xmlNodePtr x509data = xmlNewChild(ki, d->ds, IB_X("X509Data"), NULL);
    xmlNewTextChild(x509data, d->ds, IB_X("X509Certificate"), IB_X(cert->der_b64));
}

void ib_md_add_endpoint(ib_md_doc *d, xmlNodePtr role, const char *element,
                        const char *binding, const char *location, int with_response)
{
    xmlNodePtr e = xmlNewChild(role, d->md, IB_X(element), NULL);
    xmlNewProp(e, IB_X("Binding"), IB_X(binding));
    xmlNewProp(e, IB_X("Location"), IB_X(location));
    if (with_response) {
        xmlNewProp(e, IB_X("ResponseLocation"), IB_X(location));
    }
}

const char *ib_md_finish(apr_pool_t *p, ib_md_doc *d, int indent, apr_size_t *len)
{
    xmlChar *out = NULL;
    int n = 0;
    xmlDocDumpFormatMemoryEnc(d->doc, &out, &n, "UTF-8", indent);
    xmlFreeDoc(d->doc);
    d->doc = NULL;
    if (out == NULL) {
        return NULL;
    }
    const char *text = apr_pstrmemdup(p, (const char *)out, (apr_size_t)n);
    xmlFree(out);
    if (len != NULL) {
        *len = (apr_size_t)n;
    }
    return text;
}
