/* Small libxml2 DOM helpers and the XML-signature placement rules shared by
 * everything that reads signed SAML documents (Responses, IdP metadata). */
#ifndef IB_XML_H
#define IB_XML_H

#include <apr_pools.h>
#include <libxml/tree.h>
#include <xmlsec/keys.h>

#include "ib_keys.h"

#define NS_SAMLP "urn:oasis:names:tc:SAML:2.0:protocol"
#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_MD "urn:oasis:names:tc:SAML:2.0:metadata"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"

/* 1 when n is the element {ns}name. */
int ib_xml_is_el(const xmlNode *n, const char *ns, const char *name);

/* The first child element {ns}name of parent, or NULL. */
xmlNodePtr ib_xml_child(const xmlNode *parent, const char *ns, const char *name);

/* An attribute without namespace, copied into p; NULL when absent. */
const char *ib_xml_attr(apr_pool_t *p, const xmlNode *n, const char *name);

/* All text below n, comments skipped: a NameID split by a comment reads as
 * its full value, never as the part before the comment. */
const char *ib_xml_text(apr_pool_t *p, const xmlNode *n);

/* s without leading and trailing XML white space. */
const char *ib_xml_trimmed(apr_pool_t *p, const char *s);

/* One ds:Signature element before any cryptography: it sits on its parent
 * and has exactly one Reference, to the parent's ID; canonicalization,
 * transforms, digest and signature method come from the allowlist. SHA-1 is
 * accepted only with allow_sha1, and then reported through *used_sha1.
 * Returns NULL or the reason for refusal. */
const char *ib_dsig_check_shape(apr_pool_t *p, xmlNodePtr sig, int allow_sha1, int *used_sha1);

/* Verifies sig (already shape-checked) with the public key of cert, and
 * nothing else: KeyInfo in the document is never used to pick a key. The
 * parent's ID attribute is registered as an XML ID first. The key is made
 * once per certificate per process and reused (thread-safe): decoding the
 * certificate per signature would cost about as much as the signature. For
 * SAML Responses and signed IdP metadata. Returns NULL when the signature
 * is valid. */
const char *ib_dsig_verify_with_x509(apr_pool_t *p, xmlNodePtr sig, const ib_cert *cert);

/* An xmlsec signing key: the private key of k with its certificate (for
 * the KeyInfo), as lasso loads one (xmlSecCryptoAppKeyLoadMemory and
 * xmlSecCryptoAppKeyCertLoadMemory). The caller owns it (xmlSecKeyDestroy).
 * NULL when xmlsec refuses it. */
xmlSecKeyPtr ib_dsig_signing_key(apr_pool_t *p, const ib_sp_key *k);

/* The private key of SP decryption key k as an xmlSecKey of the caller's
 * own (for a keys manager, which takes it over), copied from one made once
 * per process; NULL when xmlsec cannot hold the key. */
xmlSecKeyPtr ib_xmlsec_decryption_key(const ib_sp_key *k);

/* A keys manager holding only SP decryption key k, for one decryption by
 * one thread; hand it back with ib_xmlsec_decryption_mngr_done (kept for
 * the next one). NULL when xmlsec cannot make one. */
xmlSecKeysMngrPtr ib_xmlsec_decryption_mngr(const ib_sp_key *k);
void ib_xmlsec_decryption_mngr_done(const ib_sp_key *k, xmlSecKeysMngrPtr mngr);

/* Signs root with an enveloped XML signature as lasso makes one for a SAML
 * message: exclusive c14n, RSA-SHA256, one Reference to root's ID with the
 * enveloped-signature and exclusive c14n transforms, SHA-256 digest, the
 * key's certificate in KeyInfo; the Signature goes right after `after` (a
 * child of root: SAML puts it after the Issuer). key stays the caller's and
 * is used as is, not copied (xmlsec's copy of a key copies its certificate,
 * an X509_dup costing a quarter of an RSA-2048 signature); it must not be
 * in use by another thread meanwhile. Returns NULL or why it failed. */
const char *ib_dsig_sign_enveloped(xmlNodePtr root, xmlNodePtr after, xmlSecKeyPtr key);

#endif
