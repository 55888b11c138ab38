/* SAML Response decoding and shape checks: ib_saml_parse_response (size
 * caps, Base64, DTD refusal, one direct-child Assertion, unique IDs,
 * signature placement and algorithms), then, for what parses,
 * ib_saml_validate_response against the fixture SP: status, decryption of
 * an EncryptedAssertion with the SP key (attacker-controlled XML Encryption,
 * before any signature is checked), issuers, lasso's signature check with
 * the pinned IdP certificate and, for seeds signed with the fixture IdP key
 * (fuzz/seeds.py), every rule after it and the identity built from the
 * attributes.
 *
 * Input: the SAMLResponse form value (Base64), or raw XML (first non-blank
 * byte '<'), which is Base64-encoded here so mutations act on the XML. */
#include <string.h>

#include "core/ib_codec.h"
#include "core/ib_identity.h"
#include "core/ib_saml.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init_saml();
    fz_saml_sp();
    return 0;
}

static void validate(apr_pool_t *p, ib_saml_parsed *parsed)
{
    const ib_app *app = fz_saml_app();
    ib_saml_expect expect = {FZ_REQUEST_ID, FZ_ACS, FZ_NOW, app->tenant->clock_skew};
    ib_saml_assertion a;
    const char *reason = NULL;
    ib_saml_verdict v = ib_saml_validate_response(p, fz_saml_sp(), parsed, &expect, &a, &reason);
    FZ_CHECK(v >= IB_SAML_OK && v <= IB_SAML_INTERNAL, "validate: verdict out of range", NULL);
    if (v != IB_SAML_OK) {
        FZ_CHECK(reason != NULL, "validate: a refusal without a reason", NULL);
        fz_trace("validate: refused", reason);
        return;
    }
    fz_trace("validate: OK", a.name_id);
    FZ_CHECK(a.assertion_id != NULL && a.attributes != NULL && a.not_on_or_after != 0,
             "validate: OK without assertion ID, attributes or replay expiry", NULL);
    ib_identity id;
    apr_array_header_t *problems, *hints;
    ib_identity_build(p, &app->tenant->attr_names, a.attributes, 0, &id, &problems, &hints);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    size_t i = 0;
    while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')) {
        i++;
    }
    const char *value = i < size && data[i] == '<'
                        ? ib_b64_encode(p, (const unsigned char *)fz_bytes(data, size), size)
                        : fz_cstr(data, size);
    for (int allow_sha1 = 0; allow_sha1 < 2; allow_sha1++) {
        ib_saml_parsed *parsed = NULL;
        const char *irt = NULL, *reason = NULL;
        ib_saml_verdict v = ib_saml_parse_response(p, value, allow_sha1, &parsed, &irt, &reason);
        if (v == IB_SAML_OK) {
            FZ_CHECK(parsed != NULL && irt != NULL, "parse: OK without a parse", NULL);
            if (!allow_sha1) {
                validate(p, parsed);
            }
        } else {
            FZ_CHECK(v == IB_SAML_MALFORMED && reason != NULL,
                     "parse: refusal other than MALFORMED, or without a reason", NULL);
            fz_trace("parse: refused", reason);
        }
    }
    fz_done();
    return 0;
}
