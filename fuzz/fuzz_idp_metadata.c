/* IdP metadata documents (fetched from a URL or read from a file):
 * ib_idp_md_parse (size cap, DOCTYPE/entity refusal, encoding check, the
 * document signature with a pinned signer, IdP selection through nested
 * EntitiesDescriptor groups, endpoints, signing certificates, validUntil and
 * cacheDuration at every level), then ib_idp_md_refresh_delay on the result.
 *
 * Input: byte 0 chooses the rules, the rest is the document (not
 * NUL-terminated: the parser gets its length).
 *   bit 0: pin the fixture IdP certificate as metadata signer (seeds signed
 *          with that key verify, see fuzz/seeds.py);
 *   bit 1: ask for entity ID FZ_IDP_ENTITY (else: the document's only IdP);
 *   bit 2: enforce validUntil at FZ_NOW.
 *
 * Invariants: a parsed document has an entity ID, at least one SSO endpoint
 * and one certificate, every endpoint passes ib_url_check_idp_endpoint,
 * signature_verified is set exactly when a signer was pinned, and the
 * refresh delay stays within [min, max]. */
#include <string.h>

#include <apr_strings.h>

#include "core/ib_idp_metadata.h"
#include "core/ib_url.h"
#include "fuzz_common.h"

static ib_cert *signer;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init_saml(); /* xmlsec verifies the metadata signature */
    apr_pool_t *g = fz_global_pool();
    const char *err = ib_cert_load_file(g, apr_pstrcat(g, fz_fixture_dir(), "/idp.crt", NULL),
                                        &signer);
    if (err != NULL) {
        fz_fail("cannot load the fixture IdP certificate", err);
    }
    return 0;
}

static void check_url(apr_pool_t *p, const char *url)
{
    if (url != NULL) {
        FZ_CHECK(ib_url_check_idp_endpoint(p, url) == NULL,
                 "metadata: an endpoint that ib_url_check_idp_endpoint refuses", url);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    apr_pool_t *p = fz_pool();
    ib_idp_md_rules rules = {(data[0] & 2) ? FZ_IDP_ENTITY : NULL,
                             (data[0] & 1) ? signer : NULL, FZ_NOW, (data[0] & 4) != 0};
    ib_idp_md *md = NULL;
    const char *err = ib_idp_md_parse(p, fz_bytes(data + 1, size - 1), size - 1, &rules, &md);
    fz_trace("metadata", err ? err : "OK");
    if (err == NULL) {
        FZ_CHECK(md != NULL && md->entity_id != NULL && *md->entity_id != '\0',
                 "metadata: parsed without an entity ID", NULL);
        FZ_CHECK(md->sso_post != NULL || md->sso_redirect != NULL,
                 "metadata: parsed without an SSO endpoint", NULL);
        FZ_CHECK(md->certs != NULL && md->certs->nelts > 0, "metadata: parsed without a cert",
                 NULL);
        FZ_CHECK(md->signature_verified == (rules.signer != NULL),
                 "metadata: signature_verified disagrees with the rules", NULL);
        if (rules.entity_id != NULL) {
            FZ_CHECK(strcmp(md->entity_id, rules.entity_id) == 0,
                     "metadata: another entity than the one asked for", md->entity_id);
        }
        if (rules.enforce_valid_until && md->valid_until != 0) {
            FZ_CHECK(md->valid_until > FZ_NOW, "metadata: expired document accepted", NULL);
        }
        check_url(p, md->sso_post);
        check_url(p, md->sso_redirect);
        check_url(p, md->slo_post);
        check_url(p, md->slo_redirect);
        for (int i = 0; i < md->certs->nelts; i++) {
            FZ_CHECK(APR_ARRAY_IDX(md->certs, i, ib_cert *)->x509 != NULL,
                     "metadata: a certificate without X509", NULL);
        }
        apr_interval_time_t min = apr_time_from_sec(600), max = apr_time_from_sec(14400);
        for (int failures = 0; failures < 40; failures += 13) {
            apr_interval_time_t d = ib_idp_md_refresh_delay(md, failures, FZ_NOW, min, max);
            FZ_CHECK(d >= min && d <= max, "metadata: refresh delay outside [min, max]", NULL);
        }
    } else {
        FZ_CHECK(md == NULL, "metadata: a refusal that still set *out", err);
    }
    fz_done();
    return 0;
}
