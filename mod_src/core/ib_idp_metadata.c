#include <string.h>

#include <apr_strings.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "ib_clock.h"
#include "ib_idp_metadata.h"
#include "ib_url.h"
#include "ib_xml.h"

#define PROTOCOL_SAML2 "urn:oasis:names:tc:SAML:2.0:protocol"
#define BINDING_POST "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
#define BINDING_REDIRECT "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"

static apr_status_t free_doc(void *d)
{
    xmlFreeDoc(d);
    return APR_SUCCESS;
}

/* DTDs are refused before the parser sees them, whatever its defaults, and
 * only UTF-8 (or ASCII) input is read: another encoding could hide one. */
static const char *parse_document(apr_pool_t *p, const char *xml, apr_size_t len,
                                  xmlDocPtr *out)
{
    if (len == 0) {
        return "the metadata document is empty";
    }
    if (len > IB_IDP_MD_MAX_BYTES) {
        return apr_psprintf(p, "the metadata document is larger than %d bytes",
                            IB_IDP_MD_MAX_BYTES);
    }
    if (memmem(xml, len, "<!DOCTYPE", 9) || memmem(xml, len, "<!ENTITY", 8)) {
        return "the metadata document contains a DOCTYPE or entity declaration";
    }
    apr_size_t start = 0;
    if (len >= 3 && memcmp(xml, "\xEF\xBB\xBF", 3) == 0) {
        start = 3;      /* a UTF-8 byte order mark, as some Windows IdPs send */
    }
    while (start < len && strchr(" \t\r\n", xml[start]) != NULL) {
        start++;
    }
    if (start >= len || xml[start] != '<') {
        return "the metadata document is not UTF-8 XML";
    }
    xmlDocPtr doc = xmlReadMemory(xml + start, (int)(len - start), "metadata", "UTF-8",
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL) {
        return "the metadata document is not well-formed XML";
    }
    apr_pool_cleanup_register(p, doc, free_doc, apr_pool_cleanup_null);
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        return "the metadata document contains a DOCTYPE";
    }
    *out = doc;
    return NULL;
}

/* With a pinned signer, the document element itself must carry the one
 * signature and it must verify with that certificate: a signature deeper in
 * the tree, or one over another element, proves nothing about the rest. */
static const char *check_document_signature(apr_pool_t *p, xmlNodePtr root,
                                            const ib_cert *signer)
{
    xmlNodePtr sig = NULL;
    int count = 0;
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (ib_xml_is_el(c, NS_DS, "Signature")) {
            sig = c;
            count++;
        }
    }
    if (count == 0) {
        return "the metadata is not signed, but IdBrokerIdPMetadataSigner requires it";
    }
    if (count > 1) {
        return "the metadata document element carries more than one signature";
    }
    int used_sha1 = 0;
    const char *err = ib_dsig_check_shape(p, sig, 0, &used_sha1);
    if (err == NULL) {
        err = ib_dsig_verify_with_x509(p, sig, signer);
    }
    return err ? apr_pstrcat(p, "metadata signature: ", err, NULL) : NULL;
}

static int supports_saml2(apr_pool_t *p, const xmlNode *role)
{
    const char *list = ib_xml_attr(p, role, "protocolSupportEnumeration");
    char *last, *tok;
    char *copy = apr_pstrdup(p, list ? list : "");
    for (tok = apr_strtok(copy, " \t\r\n", &last); tok; tok = apr_strtok(NULL, " \t\r\n", &last)) {
        if (strcmp(tok, PROTOCOL_SAML2) == 0) {
            return 1;
        }
    }
    return 0;
}

static xmlNodePtr idp_role(apr_pool_t *p, const xmlNode *entity)
{
    for (xmlNodePtr c = entity->children; c; c = c->next) {
        if (ib_xml_is_el(c, NS_MD, "IDPSSODescriptor") && supports_saml2(p, c)) {
            return c;
        }
    }
    return NULL;
}

/* Every EntityDescriptor with a SAML 2.0 IdP role, through nested
 * EntitiesDescriptor groups (aggregates). */
static void collect_idps(apr_pool_t *p, xmlNodePtr n, int depth, apr_array_header_t *out)
{
    if (depth > 16) {
        return;
    }
    if (ib_xml_is_el(n, NS_MD, "EntityDescriptor")) {
        if (idp_role(p, n) != NULL) {
            APR_ARRAY_PUSH(out, xmlNodePtr) = n;
        }
        return;
    }
    if (ib_xml_is_el(n, NS_MD, "EntitiesDescriptor")) {
        for (xmlNodePtr c = n->children; c; c = c->next) {
            collect_idps(p, c, depth + 1, out);
        }
    }
}

static const char *pick_entity(apr_pool_t *p, xmlNodePtr root, const char *wanted,
                               xmlNodePtr *out)
{
    apr_array_header_t *idps = apr_array_make(p, 4, sizeof(xmlNodePtr));
    collect_idps(p, root, 0, idps);
    if (idps->nelts == 0 && wanted == NULL) {
        return "the metadata holds no SAML 2.0 IdP (an EntityDescriptor with an "
               "IDPSSODescriptor for " PROTOCOL_SAML2 ")";
    }
    if (wanted == NULL) {
        if (idps->nelts != 1) {
            return apr_psprintf(p, "the metadata holds %d SAML 2.0 IdPs; set "
                                "IdBrokerIdPEntityID to pick one", idps->nelts);
        }
        *out = APR_ARRAY_IDX(idps, 0, xmlNodePtr);
        return NULL;
    }
    for (int i = 0; i < idps->nelts; i++) {
        xmlNodePtr e = APR_ARRAY_IDX(idps, i, xmlNodePtr);
        const char *id = ib_xml_attr(p, e, "entityID");
        if (id != NULL && strcmp(id, wanted) == 0) {
            *out = e;
            return NULL;
        }
    }
    return apr_psprintf(p, "the metadata has no SAML 2.0 IdP with entityID '%s'", wanted);
}

static const char *read_endpoints(apr_pool_t *p, xmlNodePtr role, const char *kind,
                                  const char **post, const char **redirect)
{
    for (xmlNodePtr c = role->children; c; c = c->next) {
        if (!ib_xml_is_el(c, NS_MD, kind)) {
            continue;
        }
        const char *binding = ib_xml_attr(p, c, "Binding");
        const char **slot = binding == NULL ? NULL
                            : strcmp(binding, BINDING_POST) == 0 ? post
                            : strcmp(binding, BINDING_REDIRECT) == 0 ? redirect : NULL;
        if (slot == NULL || *slot != NULL) {
            continue;       /* another binding, or a later duplicate */
        }
        const char *location = ib_xml_attr(p, c, "Location");
        const char *err = ib_url_check_idp_endpoint(p, location ? location : "");
        if (err != NULL) {
            return apr_psprintf(p, "%s Location: %s", kind, err);
        }
        *slot = location;
    }
    return NULL;
}

static int has_cert(const apr_array_header_t *certs, const ib_cert *c)
{
    for (int i = 0; i < certs->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(certs, i, const ib_cert *)->sha256_hex, c->sha256_hex) == 0) {
            return 1;
        }
    }
    return 0;
}

static const char *read_signing_certs(apr_pool_t *p, xmlNodePtr role, apr_array_header_t *out)
{
    for (xmlNodePtr kd = role->children; kd; kd = kd->next) {
        if (!ib_xml_is_el(kd, NS_MD, "KeyDescriptor")) {
            continue;
        }
        const char *use = ib_xml_attr(p, kd, "use");
        if (use != NULL && strcmp(use, "signing") != 0) {
            continue;
        }
        xmlNodePtr data = ib_xml_child(ib_xml_child(kd, NS_DS, "KeyInfo"), NS_DS, "X509Data");
        for (xmlNodePtr x = data ? data->children : NULL; x; x = x->next) {
            if (!ib_xml_is_el(x, NS_DS, "X509Certificate")) {
                continue;
            }
            ib_cert *cert;
            const char *err = ib_cert_from_base64(p, "metadata KeyDescriptor",
                                                  ib_xml_text(p, x), &cert);
            if (err != NULL) {
                return err;
            }
            if (!has_cert(out, cert)) {
                APR_ARRAY_PUSH(out, ib_cert *) = cert;
            }
        }
    }
    return out->nelts ? NULL : "the IdP entity has no signing certificate";
}

/* validUntil and cacheDuration may sit on the entity and on every group
 * above it up to the document element (each limits everything below it);
 * the stricter value wins. */
static const char *read_lifetime(apr_pool_t *p, const xmlNode *n, ib_idp_md *md)
{
    const char *until = ib_xml_attr(p, n, "validUntil");
    if (until != NULL) {
        apr_time_t t;
        if (ib_time_parse_xsd(until, &t) != APR_SUCCESS) {
            return apr_psprintf(p, "validUntil '%s' is not a UTC xsd:dateTime", until);
        }
        if (md->valid_until == 0 || t < md->valid_until) {
            md->valid_until = t;
        }
    }
    const char *cache = ib_xml_attr(p, n, "cacheDuration");
    if (cache != NULL) {
        apr_interval_time_t d;
        if (ib_duration_parse_xsd(cache, &d) != APR_SUCCESS) {
            return apr_psprintf(p, "cacheDuration '%s' is not an xsd:duration", cache);
        }
        if (md->cache_duration == 0 || d < md->cache_duration) {
            md->cache_duration = d;
        }
    }
    return NULL;
}

static const char *read_entity(apr_pool_t *p, xmlNodePtr root, xmlNodePtr entity,
                               const ib_idp_md_rules *rules, ib_idp_md *md)
{
    md->entity_id = ib_xml_attr(p, entity, "entityID");
    if (md->entity_id == NULL || *md->entity_id == '\0') {
        return "the IdP entity has no entityID";
    }
    xmlNodePtr role = idp_role(p, entity);
    const char *err = NULL;
    for (xmlNodePtr n = entity; err == NULL && n != NULL && n->type == XML_ELEMENT_NODE;
         n = n == root ? NULL : n->parent) {
        err = read_lifetime(p, n, md);
    }
    if (err == NULL && rules->enforce_valid_until && md->valid_until != 0
        && md->valid_until <= rules->now) {
        char when[IB_UTC_TIME_LEN];
        ib_time_format_utc(md->valid_until, when);
        err = apr_psprintf(p, "the metadata expired at %s (validUntil)", when);
    }
    if (err == NULL) {
        err = read_endpoints(p, role, "SingleSignOnService", &md->sso_post, &md->sso_redirect);
    }
    if (err == NULL && md->sso_post == NULL && md->sso_redirect == NULL) {
        err = "the IdP offers no SingleSignOnService over HTTP-POST or HTTP-Redirect";
    }
    if (err == NULL) {
        err = read_endpoints(p, role, "SingleLogoutService", &md->slo_post, &md->slo_redirect);
    }
    if (err == NULL) {
        err = read_signing_certs(p, role, md->certs);
    }
    return err;
}

/* The result in `p`, everything else (the DOM, an aggregate's thousands of
 * attribute copies) in a scratch pool destroyed before returning: processes
 * keep one small ib_idp_md per copy, not the document it came from. */
static const char *copy_out(apr_pool_t *p, const ib_idp_md *from, ib_idp_md **out)
{
    ib_idp_md *md = apr_pmemdup(p, from, sizeof(*md));
    const char **strs[] = {&md->entity_id, &md->sso_post, &md->sso_redirect, &md->slo_post,
                           &md->slo_redirect};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        *strs[i] = *strs[i] ? apr_pstrdup(p, *strs[i]) : NULL;
    }
    md->certs = apr_array_make(p, from->certs->nelts, sizeof(ib_cert *));
    for (int i = 0; i < from->certs->nelts; i++) {
        ib_cert *c;
        const char *err = ib_cert_from_base64(p, "metadata KeyDescriptor",
                                              APR_ARRAY_IDX(from->certs, i, ib_cert *)->der_b64,
                                              &c);
        if (err != NULL) {
            return err;
        }
        APR_ARRAY_PUSH(md->certs, ib_cert *) = c;
    }
    *out = md;
    return NULL;
}

static const char *parse_in(apr_pool_t *p, const char *xml, apr_size_t len,
                            const ib_idp_md_rules *rules, ib_idp_md **out);

const char *ib_idp_md_parse(apr_pool_t *p, const char *xml, apr_size_t len,
                            const ib_idp_md_rules *rules, ib_idp_md **out)
{
    apr_pool_t *tmp;
    apr_pool_create(&tmp, p);
    ib_idp_md *md = NULL;
    const char *err = parse_in(tmp, xml, len, rules, &md);
    if (err == NULL) {
        err = copy_out(p, md, out);
    } else {
        err = apr_pstrdup(p, err);
    }
    apr_pool_destroy(tmp);
    return err;
}

static const char *parse_in(apr_pool_t *p, const char *xml, apr_size_t len,
                            const ib_idp_md_rules *rules, ib_idp_md **out)
{
    xmlDocPtr doc = NULL;
    const char *err = parse_document(p, xml, len, &doc);
    if (err != NULL) {
        return err;
    }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!ib_xml_is_el(root, NS_MD, "EntityDescriptor")
        && !ib_xml_is_el(root, NS_MD, "EntitiesDescriptor")) {
        return "the document is not SAML 2.0 metadata (EntityDescriptor or EntitiesDescriptor)";
    }
    ib_idp_md *md = apr_pcalloc(p, sizeof(*md));
    md->certs = apr_array_make(p, 2, sizeof(ib_cert *));
    if (rules->signer != NULL) {
        err = check_document_signature(p, root, rules->signer);
        if (err != NULL) {
            return err;
        }
        md->signature_verified = 1;
    }
    xmlNodePtr entity = NULL;
    err = pick_entity(p, root, rules->entity_id, &entity);
    if (err == NULL) {
        err = read_entity(p, root, entity, rules, md);
    }
    if (err != NULL) {
        return err;
    }
    *out = md;
    return NULL;
}

apr_interval_time_t ib_idp_md_refresh_delay(const ib_idp_md *md, int failures,
                                            apr_time_t now, apr_interval_time_t min,
                                            apr_interval_time_t max)
{
    apr_interval_time_t d = max;
    if (failures > 0) {
        d = min;
        for (int i = 1; i < failures && d < max; i++) {
            d *= 2;
        }
    } else if (md != NULL) {
        if (md->cache_duration > 0 && md->cache_duration < d) {
            d = md->cache_duration;
        }
        if (md->valid_until != 0) {
            /* No time left (a copy kept past its validUntil): as soon as allowed. */
            apr_interval_time_t left = md->valid_until > now ? md->valid_until - now : 0;
            if (left / 4 * 3 < d) {
                d = left / 4 * 3;
            }
        }
    }
    return d < min ? min : d > max ? max : d;
}
