#include <string.h>

#include <apr_strings.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <pthread.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/templates.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>

#include "ib_xml.h"

int ib_xml_is_el(const xmlNode *n, const char *ns, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href
           && strcmp((const char *)n->ns->href, ns) == 0
           && strcmp((const char *)n->name, name) == 0;
}

xmlNodePtr ib_xml_child(const xmlNode *parent, const char *ns, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next) {
        if (ib_xml_is_el(c, ns, name)) {
            return c;
        }
    }
    return NULL;
}

const char *ib_xml_attr(apr_pool_t *p, const xmlNode *n, const char *name)
{
    xmlChar *v = n ? xmlGetNoNsProp(n, (const xmlChar *)name) : NULL;
    if (v == NULL) {
        return NULL;
    }
    const char *s = apr_pstrdup(p, (const char *)v);
    xmlFree(v);
    return s;
}

const char *ib_xml_text(apr_pool_t *p, const xmlNode *n)
{
    xmlChar *v = n ? xmlNodeGetContent(n) : NULL;
    if (v == NULL) {
        return NULL;
    }
    const char *s = apr_pstrdup(p, (const char *)v);
    xmlFree(v);
    return s;
}

static int xml_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

const char *ib_xml_trimmed(apr_pool_t *p, const char *s)
{
    if (s == NULL) {
        return NULL;
    }
    while (xml_space(*s)) {
        s++;
    }
    apr_size_t n = strlen(s);
    while (n > 0 && xml_space(s[n - 1])) {
        n--;
    }
    return apr_pstrndup(p, s, n);
}

static int algorithm_allowed(const char *alg, const char *const *list)
{
    for (; alg && *list; list++) {
        if (strcmp(alg, *list) == 0) {
            return 1;
        }
    }
    return 0;
}

static const char *const C14N_ALGS[] = {
    "http://www.w3.org/2001/10/xml-exc-c14n#", NULL};
static const char *const TRANSFORM_ALGS[] = {
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#", NULL};
static const char *const SIG_ALGS[] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", NULL};
static const char *const DIGEST_ALGS[] = {
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512", NULL};
#define SIG_RSA_SHA1 "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
#define DIGEST_SHA1 "http://www.w3.org/2000/09/xmldsig#sha1"

/* One signature: placed on its parent, one Reference to the parent's ID,
 * algorithms from the allowlist (RESP-9, SEC-7). */
const char *ib_dsig_check_shape(apr_pool_t *p, xmlNodePtr sig, int allow_sha1,
                                   int *used_sha1)
{
    xmlNodePtr parent = sig->parent;
    xmlNodePtr si = ib_xml_child(sig, NS_DS, "SignedInfo");
    const char *parent_id = ib_xml_attr(p, parent, "ID");
    if (si == NULL || parent_id == NULL) {
        return "a signature without SignedInfo, or on an element without an ID";
    }
    const char *c14n = ib_xml_attr(p, ib_xml_child(si, NS_DS, "CanonicalizationMethod"), "Algorithm");
    const char *method = ib_xml_attr(p, ib_xml_child(si, NS_DS, "SignatureMethod"), "Algorithm");
    if (!algorithm_allowed(c14n, C14N_ALGS)) {
        return apr_psprintf(p, "canonicalization '%s' is not allowed", c14n ? c14n : "");
    }
    int references = 0;
    for (xmlNodePtr r = si->children; r; r = r->next) {
        if (!ib_xml_is_el(r, NS_DS, "Reference")) {
            continue;
        }
        references++;
        const char *uri = ib_xml_attr(p, r, "URI");
        if (uri == NULL || uri[0] != '#' || strcmp(uri + 1, parent_id) != 0) {
            return "a signature references another element than the one it sits in";
        }
        for (xmlNodePtr t = ib_xml_child(ib_xml_child(r, NS_DS, "Transforms"), NS_DS, "Transform"); t; t = t->next) {
            if (t->type == XML_ELEMENT_NODE
                && !algorithm_allowed(ib_xml_attr(p, t, "Algorithm"), TRANSFORM_ALGS)) {
                return apr_psprintf(p, "transform '%s' is not allowed", ib_xml_attr(p, t, "Algorithm"));
            }
        }
        const char *digest = ib_xml_attr(p, ib_xml_child(r, NS_DS, "DigestMethod"), "Algorithm");
        if (digest && strcmp(digest, DIGEST_SHA1) == 0 && allow_sha1) {
            *used_sha1 = 1;
        } else if (!algorithm_allowed(digest, DIGEST_ALGS)) {
            return apr_psprintf(p, "digest '%s' is not allowed", digest ? digest : "");
        }
    }
    if (references != 1) {
        return "a signature must have exactly one Reference";
    }
    if (method && strcmp(method, SIG_RSA_SHA1) == 0 && allow_sha1) {
        *used_sha1 = 1;
    } else if (!algorithm_allowed(method, SIG_ALGS)) {
        return apr_psprintf(p, "signature method '%s' is not allowed", method ? method : "");
    }
    return NULL;
}


/* xmlsec resolves "#ID" references through the document's ID table, which
 * knows no SAML ID attributes unless told. */
static const char *register_parent_id(xmlNodePtr parent)
{
    xmlAttrPtr id = xmlHasProp(parent, (const xmlChar *)"ID");
    if (id == NULL || id->children == NULL) {
        return "the signed element has no ID";
    }
    xmlChar *value = xmlNodeListGetString(parent->doc, id->children, 1);
    if (value == NULL) {
        return "the signed element has no ID";
    }
    xmlAttrPtr known = xmlGetID(parent->doc, value);
    if (known == NULL) {
        xmlAddID(NULL, parent->doc, value, id);
    }
    xmlFree(value);
    return known == NULL || known == id ? NULL : "the signed element's ID occurs twice";
}

/* Verifies sig with key and nothing else (KeyInfo in the document is never
 * read: the key is set before verifying); takes the key over. */
static const char *verify_with_key(xmlNodePtr sig, xmlSecKeyPtr key)
{
    const char *err = register_parent_id(sig->parent);
    xmlSecDSigCtxPtr ctx = err == NULL ? xmlSecDSigCtxCreate(NULL) : NULL;
    if (ctx == NULL) {
        if (key != NULL) {
            xmlSecKeyDestroy(key);
        }
        return err ? err : "xmlsec could not make a signature context";
    }
    ctx->enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
    ctx->signKey = key;
    if (ctx->signKey == NULL) {
        err = "xmlsec could not use the pinned certificate's key";
    } else if (xmlSecDSigCtxVerify(ctx, sig) < 0) {
        err = "the signature could not be processed";
    } else if (ctx->status != xmlSecDSigStatusSucceeded) {
        err = "the signature does not verify with the pinned certificate";
    }
    xmlSecDSigCtxDestroy(ctx);
    return err;
}

/* ---- xmlsec keys, made once per certificate or key per process ---------- */

/* xmlSecKeys made from keys OpenSSL already holds, by the SHA-256 of the
 * certificate they belong to: a verification key per IdP certificate (only
 * its public key) and a decryption key per SP decryption key. Loading them
 * per message (xmlSecCryptoAppKeyLoadMemory) decodes PEM each time, and a
 * key loaded from a certificate carries that certificate, which every
 * duplicate copies again; duplicating a bare EVP key is a reference count.
 * Entries are never removed: a process sees few such keys in its life, and
 * a table stops caching (each call makes its own key) once full. */
#define CACHED_KEYS_MAX 64
typedef struct {
    char sha256_hex[65];
    xmlSecKeyPtr key;
} cached_key;

typedef struct {
    cached_key entries[CACHED_KEYS_MAX];
    int n;
    pthread_mutex_t lock;
} key_table;

static key_table verify_keys = {.lock = PTHREAD_MUTEX_INITIALIZER};
static key_table decrypt_keys = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* An xmlSecKey holding pkey (one more reference to it). */
static xmlSecKeyPtr key_of_evp(EVP_PKEY *pkey)
{
    if (pkey == NULL || EVP_PKEY_up_ref(pkey) != 1) {
        return NULL;
    }
    xmlSecKeyDataPtr data = xmlSecOpenSSLEvpKeyAdopt(pkey);
    if (data == NULL) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    xmlSecKeyPtr key = xmlSecKeyCreate();
    if (key == NULL || xmlSecKeySetValue(key, data) < 0) {
        xmlSecKeyDataDestroy(data);
        xmlSecKeyDestroy(key);
        return NULL;
    }
    return key;
}

static xmlSecKeyPtr public_key_of(EVP_PKEY *unused, const ib_cert *cert)
{
    (void)unused;
    EVP_PKEY *pub = X509_get0_pubkey(cert->x509);
    return key_of_evp(pub);
}

static xmlSecKeyPtr private_key_of(EVP_PKEY *pkey, const ib_cert *cert)
{
    (void)cert;
    return key_of_evp(pkey);
}

/* A key of the caller's own (xmlsec destroys a context's key, or a keys
 * manager's, with it), duplicated from the cached one. */
static xmlSecKeyPtr cached_copy(key_table *t, const ib_cert *cert, EVP_PKEY *pkey,
                                xmlSecKeyPtr (*make)(EVP_PKEY *, const ib_cert *))
{
    xmlSecKeyPtr copy = NULL;
    int found = 0;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < t->n && !found; i++) {
        if (strcmp(t->entries[i].sha256_hex, cert->sha256_hex) == 0) {
            copy = xmlSecKeyDuplicate(t->entries[i].key);
            found = 1;
        }
    }
    if (!found && t->n < CACHED_KEYS_MAX) {
        xmlSecKeyPtr key = make(pkey, cert);
        if (key != NULL) {
            memcpy(t->entries[t->n].sha256_hex, cert->sha256_hex, sizeof(t->entries[0].sha256_hex));
            t->entries[t->n++].key = key;
            copy = xmlSecKeyDuplicate(key);
        }
        found = 1;
    }
    pthread_mutex_unlock(&t->lock);
    return found ? copy : make(pkey, cert);
}

static xmlSecKeyPtr verify_key_for(const ib_cert *cert)
{
    return cached_copy(&verify_keys, cert, NULL, public_key_of);
}

xmlSecKeyPtr ib_xmlsec_decryption_key(const ib_sp_key *k)
{
    return cached_copy(&decrypt_keys, k->cert, k->pkey, private_key_of);
}

/* ---- keys managers for decryption, kept per key per process ----------- */

/* xmlsec finds the key that unwraps an EncryptedKey through a keys manager.
 * One made with xmlsec's defaults has an X509 store, which loads the system
 * CA bundle (X509_STORE_set_default_paths) when made: about 15 ms on 2
 * cores, per EncryptedAssertion when a manager was made per message. They
 * are kept instead: idle ones per decryption key, each used by one thread at
 * a time (xmlsec does not promise a manager is safe to share), as many as
 * decryptions ran at once, up to IDLE_MNGRS_MAX per key. */
#define IDLE_MNGRS_MAX 8
typedef struct {
    char sha256_hex[65];
    xmlSecKeysMngrPtr idle[IDLE_MNGRS_MAX];
    int n_idle;
} mngr_slot;

static mngr_slot mngr_slots[CACHED_KEYS_MAX];
static int mngr_slots_n;
static pthread_mutex_t mngr_lock = PTHREAD_MUTEX_INITIALIZER;

/* With mngr_lock held: k's slot, added when new; NULL once the table is
 * full (managers are then made and destroyed per message). */
static mngr_slot *mngr_slot_locked(const ib_sp_key *k)
{
    for (int i = 0; i < mngr_slots_n; i++) {
        if (strcmp(mngr_slots[i].sha256_hex, k->cert->sha256_hex) == 0) {
            return &mngr_slots[i];
        }
    }
    if (mngr_slots_n == CACHED_KEYS_MAX) {
        return NULL;
    }
    mngr_slot *slot = &mngr_slots[mngr_slots_n++];
    memcpy(slot->sha256_hex, k->cert->sha256_hex, sizeof(slot->sha256_hex));
    slot->n_idle = 0;
    return slot;
}

xmlSecKeysMngrPtr ib_xmlsec_decryption_mngr(const ib_sp_key *k)
{
    xmlSecKeysMngrPtr mngr = NULL;
    pthread_mutex_lock(&mngr_lock);
    mngr_slot *slot = mngr_slot_locked(k);
    if (slot != NULL && slot->n_idle > 0) {
        mngr = slot->idle[--slot->n_idle];
    }
    pthread_mutex_unlock(&mngr_lock);
    if (mngr != NULL) {
        return mngr;
    }
    mngr = xmlSecKeysMngrCreate();
    xmlSecKeyPtr key = mngr != NULL ? ib_xmlsec_decryption_key(k) : NULL;
    if (key == NULL || xmlSecCryptoAppDefaultKeysMngrInit(mngr) < 0
        || xmlSecCryptoAppDefaultKeysMngrAdoptKey(mngr, key) < 0) {
        if (key != NULL) {
            xmlSecKeyDestroy(key);
        }
        xmlSecKeysMngrDestroy(mngr);
        return NULL;
    }
    return mngr;
}

void ib_xmlsec_decryption_mngr_done(const ib_sp_key *k, xmlSecKeysMngrPtr mngr)
{
    pthread_mutex_lock(&mngr_lock);
    mngr_slot *slot = mngr_slot_locked(k);
    int kept = slot != NULL && slot->n_idle < IDLE_MNGRS_MAX;
    if (kept) {
        slot->idle[slot->n_idle++] = mngr;
    }
    pthread_mutex_unlock(&mngr_lock);
    if (!kept) {
        xmlSecKeysMngrDestroy(mngr);
    }
}

const char *ib_dsig_verify_with_x509(apr_pool_t *p, xmlNodePtr sig, const ib_cert *cert)
{
    (void)p;
    return verify_with_key(sig, verify_key_for(cert));
}

/* ---- signing with a key loaded once ------------------------------------ */

xmlSecKeyPtr ib_dsig_signing_key(apr_pool_t *p, const ib_sp_key *k)
{
    const char *key_pem = ib_pem_of_key(p, k->pkey);
    const char *cert_pem = ib_pem_of_cert(p, k->cert->x509);
    if (key_pem == NULL || cert_pem == NULL) {
        return NULL;
    }
    xmlSecKeyPtr key = xmlSecCryptoAppKeyLoadMemory((const xmlSecByte *)key_pem,
                                                    (xmlSecSize)strlen(key_pem),
                                                    xmlSecKeyDataFormatPem, NULL, NULL, NULL);
    if (key != NULL
        && xmlSecCryptoAppKeyCertLoadMemory(key, (const xmlSecByte *)cert_pem,
                                            (xmlSecSize)strlen(cert_pem),
                                            xmlSecKeyDataFormatPem) < 0) {
        xmlSecKeyDestroy(key);
        key = NULL;
    }
    return key;
}

const char *ib_dsig_sign_enveloped(xmlNodePtr root, xmlNodePtr after, xmlSecKeyPtr key)
{
    xmlAttrPtr id_attr = xmlHasProp(root, (const xmlChar *)"ID");
    xmlChar *id = id_attr ? xmlNodeListGetString(root->doc, id_attr->children, 1) : NULL;
    if (id == NULL || root->doc == NULL || after == NULL || after->parent != root) {
        xmlFree(id);
        return "the element to sign has no ID, document or Issuer";
    }
    const char *err = NULL;
    xmlChar *uri = xmlStrncatNew((const xmlChar *)"#", id, -1);
    xmlNodePtr sig = xmlSecTmplSignatureCreate(root->doc, xmlSecTransformExclC14NId,
                                               xmlSecTransformRsaSha256Id, NULL);
    xmlNodePtr ref = sig ? xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, NULL,
                                                           uri, NULL) : NULL;
    xmlNodePtr key_info = sig ? xmlSecTmplSignatureEnsureKeyInfo(sig, NULL) : NULL;
    if (ref == NULL || key_info == NULL
        || xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) == NULL
        || xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId) == NULL
        || xmlSecTmplKeyInfoAddX509Data(key_info) == NULL) {
        err = "xmlsec could not make the signature template";
        xmlFreeNode(sig);
        sig = NULL;
    }
    if (err == NULL) {
        xmlAddNextSibling(after, sig);
        if (xmlGetID(root->doc, id) == NULL) {
            xmlAddID(NULL, root->doc, id, id_attr);
        }
    }
    xmlSecDSigCtxPtr ctx = err == NULL ? xmlSecDSigCtxCreate(NULL) : NULL;
    if (err == NULL && ctx == NULL) {
        err = "xmlsec could not make a signature context";
    }
    if (ctx != NULL) {
        ctx->signKey = key;
        if (xmlSecDSigCtxSign(ctx, sig) < 0 || ctx->status != xmlSecDSigStatusSucceeded) {
            err = "xmlsec could not sign";
        }
        ctx->signKey = NULL;     /* the caller's: not destroyed with the context */
        xmlSecDSigCtxDestroy(ctx);
    }
    xmlFree(uri);
    xmlFree(id);
    return err;
}
