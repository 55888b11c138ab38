/* Shared helpers for the Check unit tests of the protocol core.
 *
 * Fixtures (keys, certificates, conf files) go below one temp directory made
 * with mkdtemp under /tmp when the runner starts and removed when it exits.
 * Generated private keys are cached on disk inside that directory, keyed by
 * (type, slot), so the forked test processes of Check share them: RSA key
 * generation is slow, certificate signing is cheap. */
#ifndef IB_TEST_SUPPORT_H
#define IB_TEST_SUPPORT_H

#include <check.h>

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "core/ib_conf.h"
#include "core/ib_keys.h"
#include "core/ib_tenant.h"

/* One Suite per test file. */
Suite *clock_suite(void);    /* test_clock.c: ib_clock and ib_random */
Suite *keys_suite(void);     /* test_keys.c */
Suite *expiry_suite(void);   /* test_expiry.c */
Suite *url_suite(void);      /* test_url.c */
Suite *conf_suite(void);     /* test_conf.c */
Suite *metadata_suite(void); /* test_metadata.c */
Suite *redirect_suite(void); /* test_redirect.c: ib_url_check_target */
Suite *identity_suite(void); /* test_identity.c */
Suite *seal_suite(void);     /* test_seal.c */
Suite *store_suite(void);    /* test_store.c: ib_store and ib_codec */
Suite *saml_suite(void);     /* test_saml.c: ib_saml_parse_response */
Suite *idp_metadata_suite(void); /* test_idp_metadata.c: IdP metadata, ib_http */
Suite *status_suite(void);   /* test_status.c: the operator status page */
Suite *jose_suite(void);     /* test_jose.c: JWKS, JWS, ib_codec base64url */
Suite *oidc_suite(void);     /* test_oidc.c: ib_oidc, the OIDC RP protocol side */

/* Called once by main(): makes the root temp dir and registers its removal. */
void test_support_init(void);

/* The root temp dir (".../ib-unit-XXXXXX"). */
const char *test_root_dir(void);

/* Checked fixture every TCase installs: a fresh pool per test, the real clock
 * before and after each test. */
void test_setup(void);
void test_teardown(void);
apr_pool_t *test_pool(void);

/* A TCase with the fixture above and a generous timeout (key generation). */
TCase *test_tcase(const char *name);

/* A new empty directory below the root, for one test's files. */
const char *fresh_dir(void);

/* dir + "/" + name, in the test pool. */
const char *path_in(const char *dir, const char *name);

/* An instant written "YYYY-MM-DDTHH:MM:SSZ", computed with sscanf + timegm
 * (independently of ib_time_parse_utc, which is under test). */
apr_time_t utc(const char *text);

/* Writes dir/NAME.key (unencrypted PKCS#8 PEM) and dir/NAME.crt (self-signed
 * PEM certificate, CN=NAME, valid exactly not_before..not_after). key_type is
 * "rsa2048", "rsa1024" or "ec256". The key is the cached key of slot 0. */
void write_keypair(const char *dir, const char *name, const char *key_type,
                   apr_time_t not_before, apr_time_t not_after);

/* The same with another cached key: different slots give different keys. */
void write_keypair_slot(const char *dir, const char *name, const char *key_type,
                        int slot, apr_time_t not_before, apr_time_t not_after);

/* Writes dir/NAME.key as a passphrase-encrypted PKCS#8 PEM key (slot 0). */
void write_encrypted_key(const char *dir, const char *name, const char *key_type);

/* Re-encodes the PEM certificate at pem_path: as binary DER, or as bare
 * Base64 of the DER with a line break every line_len characters. Returns the
 * written path. */
const char *write_cert_der(const char *dir, const char *file, const char *pem_path);
const char *write_cert_b64(const char *dir, const char *file, const char *pem_path,
                           int line_len);

/* Writes text to dir/file (created or truncated); returns the path. */
const char *write_text_file(const char *dir, const char *file, const char *text);

/* Writes dir/file holding "<IdBrokerTenant NAME>\nBODY</IdBrokerTenant>\n";
 * returns the path. */
const char *write_tenant_conf(const char *dir, const char *file,
                              const char *tenant_name, const char *body);

/* The text of a file (NUL-terminated; *len gets the size when non-NULL). */
const char *read_text_file(const char *path, apr_size_t *len);

/* ib_conf_directive with a NULL-terminated argument list. */
const char *conf_dir(ib_conf_ctx *ctx, const char *name, ...);

/* Asserts that err is non-NULL and contains needle. */
#define ck_assert_err_has(err, needle)                                          \
    do {                                                                        \
        const char *ck_e_ = (err);                                              \
        const char *ck_n_ = (needle);                                           \
        ck_assert_msg(ck_e_ != NULL, "expected an error containing \"%s\", "    \
                      "got success", ck_n_);                                    \
        ck_assert_msg(strstr(ck_e_, ck_n_) != NULL, "expected an error "        \
                      "containing \"%s\", got \"%s\"", ck_n_, ck_e_);           \
    } while (0)

/* Asserts that err is NULL, printing it otherwise. */
#define ck_assert_no_err(err)                                                   \
    do {                                                                        \
        const char *ck_e_ = (err);                                              \
        ck_assert_msg(ck_e_ == NULL, "unexpected error: %s", ck_e_);            \
    } while (0)

#endif
