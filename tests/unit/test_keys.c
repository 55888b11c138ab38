/* ib_keys: certificate and SP key loading, and the key rotation rule. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/ib_clock.h"
#include "core/ib_keys.h"
#include "test_support.h"

/* Validity windows and the fake "now" of the rotation tests. */
#define LONG_AGO utc("2000-01-01T00:00:00Z")
#define FAR_AHEAD utc("2099-01-01T00:00:00Z")
#define NOW utc("2030-06-01T00:00:00Z")
#define DAY apr_time_from_sec(86400)

static ib_cert *load_cert_ok(const char *path)
{
    ib_cert *c = NULL;
    ck_assert_no_err(ib_cert_load_file(test_pool(), path, &c));
    ck_assert_ptr_nonnull(c);
    return c;
}

static const char *load_cert_err(const char *path)
{
    ib_cert *c = NULL;
    const char *err = ib_cert_load_file(test_pool(), path, &c);
    ck_assert_ptr_null(c);
    return err;
}

/* dir/NAME.key + dir/NAME.crt, loaded as an SP key. */
static ib_sp_key *sp_key(const char *dir, const char *name)
{
    ib_sp_key *k = NULL;
    ck_assert_no_err(ib_sp_key_load(test_pool(),
                                    path_in(dir, apr_pstrcat(test_pool(), name, ".key", NULL)),
                                    path_in(dir, apr_pstrcat(test_pool(), name, ".crt", NULL)),
                                    &k));
    ck_assert_ptr_nonnull(k);
    return k;
}

static const char *sp_key_err(const char *key_path, const char *crt_path)
{
    ib_sp_key *k = NULL;
    const char *err = ib_sp_key_load(test_pool(), key_path, crt_path, &k);
    ck_assert_ptr_null(k);
    return err;
}

/* A key valid from LONG_AGO to FAR_AHEAD, optionally scheduled. */
static ib_sp_key *make_key(const char *dir, const char *name, apr_time_t activate_at)
{
    write_keypair(dir, name, "rsa2048", LONG_AGO, FAR_AHEAD);
    ib_sp_key *k = sp_key(dir, name);
    if (activate_at != 0) {
        k->has_activate_at = 1;
        k->activate_at = activate_at;
    }
    return k;
}

static ib_sp_key *make_key_valid(const char *dir, const char *name,
                                 apr_time_t not_before, apr_time_t not_after)
{
    write_keypair(dir, name, "rsa2048", not_before, not_after);
    return sp_key(dir, name);
}

static apr_array_header_t *key_list(ib_sp_key *first, ...)
{
    apr_array_header_t *a = apr_array_make(test_pool(), 4, sizeof(const ib_sp_key *));
    va_list ap;
    va_start(ap, first);
    for (ib_sp_key *k = first; k != NULL; k = va_arg(ap, ib_sp_key *)) {
        APR_ARRAY_PUSH(a, const ib_sp_key *) = k;
    }
    va_end(ap);
    return a;
}

static void assert_published(const apr_array_header_t *got, int n, ...)
{
    ck_assert_int_eq(got->nelts, n);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const ib_sp_key *want = va_arg(ap, const ib_sp_key *);
        ck_assert_msg(APR_ARRAY_IDX(got, i, const ib_sp_key *) == want,
                      "published[%d] is not the expected key (%s)", i,
                      want->cert->subject);
    }
    va_end(ap);
}

/* The DER of a PEM certificate file, Base64 on one line, computed here. */
static const char *pem_der_b64(const char *pem_path)
{
    FILE *f = fopen(pem_path, "r");
    ck_assert_ptr_nonnull(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(x);
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    ck_assert_int_gt(n, 0);
    char *b64 = apr_palloc(test_pool(), (apr_size_t)(4 * ((n + 2) / 3) + 1));
    EVP_EncodeBlock((unsigned char *)b64, der, n);
    OPENSSL_free(der);
    X509_free(x);
    return b64;
}

/* ---- ib_cert_load_file -------------------------------------------------- */

START_TEST(test_cert_load_accepts_pem)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", utc("2020-01-02T03:04:05Z"),
                  utc("2040-06-07T08:09:10Z"));
    const char *path = path_in(dir, "idp.crt");
    ib_cert *c = load_cert_ok(path);
    ck_assert_ptr_nonnull(c->x509);
    ck_assert_str_eq(c->path, path);
    ck_assert_str_eq(c->subject, "CN=idp");
    ck_assert_int_eq(c->not_before, utc("2020-01-02T03:04:05Z"));
    ck_assert_int_eq(c->not_after, utc("2040-06-07T08:09:10Z"));
    ck_assert_uint_eq(strlen(c->sha256_hex), 64);
    ck_assert_uint_eq(strlen(c->sha1_hex), 40);
    ck_assert_uint_eq(strspn(c->sha256_hex, "0123456789ABCDEFabcdef"), 64);
}
END_TEST

START_TEST(test_cert_der_b64_is_one_line_base64_of_der)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", LONG_AGO, FAR_AHEAD);
    ib_cert *c = load_cert_ok(path_in(dir, "idp.crt"));
    ck_assert_str_eq(c->der_b64, pem_der_b64(path_in(dir, "idp.crt")));
    ck_assert_ptr_null(strchr(c->der_b64, '\n'));
}
END_TEST

START_TEST(test_cert_fingerprints_match_openssl_digests)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", LONG_AGO, FAR_AHEAD);
    ib_cert *c = load_cert_ok(path_in(dir, "idp.crt"));
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];

    ck_assert_int_eq(X509_digest(c->x509, EVP_sha256(), d, &n), 1);
    for (unsigned int i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02X", d[i]);
    }
    ck_assert_str_eq(c->sha256_hex, hex);

    ck_assert_int_eq(X509_digest(c->x509, EVP_sha1(), d, &n), 1);
    for (unsigned int i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02X", d[i]);
    }
    ck_assert_str_eq(c->sha1_hex, hex);
}
END_TEST

START_TEST(test_cert_load_accepts_bare_base64_der_with_line_breaks)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", LONG_AGO, FAR_AHEAD);
    ib_cert *pem = load_cert_ok(path_in(dir, "idp.crt"));
    const char *b64_path = write_cert_b64(dir, "idp.b64", path_in(dir, "idp.crt"), 64);
    ck_assert_ptr_nonnull(strchr(read_text_file(b64_path, NULL), '\n'));
    ib_cert *b64 = load_cert_ok(b64_path);
    ck_assert_str_eq(b64->sha256_hex, pem->sha256_hex);
    ck_assert_str_eq(b64->der_b64, pem->der_b64);
}
END_TEST

START_TEST(test_cert_load_accepts_bare_base64_der_on_one_line)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", LONG_AGO, FAR_AHEAD);
    ib_cert *pem = load_cert_ok(path_in(dir, "idp.crt"));
    ib_cert *b64 = load_cert_ok(write_cert_b64(dir, "idp.b64", path_in(dir, "idp.crt"),
                                               100000));
    ck_assert_str_eq(b64->sha256_hex, pem->sha256_hex);
}
END_TEST

START_TEST(test_cert_load_accepts_bare_base64_der_with_crlf_line_breaks)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", LONG_AGO, FAR_AHEAD);
    ib_cert *pem = load_cert_ok(path_in(dir, "idp.crt"));
    const char *lf = read_text_file(write_cert_b64(dir, "lf.b64", path_in(dir, "idp.crt"),
                                                   76), NULL);
    char *crlf = apr_palloc(test_pool(), 2 * strlen(lf) + 1);
    char *w = crlf;
    for (const char *s = lf; *s; s++) {
        if (*s == '\n') {
            *w++ = '\r';
        }
        *w++ = *s;
    }
    *w = '\0';
    ib_cert *b64 = load_cert_ok(write_text_file(dir, "crlf.b64", crlf));
    ck_assert_str_eq(b64->sha256_hex, pem->sha256_hex);
}
END_TEST

START_TEST(test_cert_load_accepts_binary_der)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", LONG_AGO, FAR_AHEAD);
    ib_cert *pem = load_cert_ok(path_in(dir, "idp.crt"));
    ib_cert *der = load_cert_ok(write_cert_der(dir, "idp.der", path_in(dir, "idp.crt")));
    ck_assert_str_eq(der->sha256_hex, pem->sha256_hex);
    ck_assert_str_eq(der->sha1_hex, pem->sha1_hex);
    ck_assert_int_eq(der->not_after, FAR_AHEAD);
}
END_TEST

START_TEST(test_cert_load_accepts_ec_certificate)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "ec256", LONG_AGO, FAR_AHEAD);
    ib_cert *c = load_cert_ok(path_in(dir, "idp.crt"));
    ck_assert_str_eq(c->subject, "CN=idp");
}
END_TEST

START_TEST(test_cert_load_keeps_dates_before_2000_and_after_2050)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", utc("1999-12-31T23:59:59Z"),
                  utc("2099-12-31T23:59:59Z"));
    ib_cert *c = load_cert_ok(path_in(dir, "idp.crt"));
    ck_assert_int_eq(c->not_before, utc("1999-12-31T23:59:59Z"));
    ck_assert_int_eq(c->not_after, utc("2099-12-31T23:59:59Z"));
}
END_TEST

START_TEST(test_cert_load_rejects_file_with_private_key)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", LONG_AGO, FAR_AHEAD);
    const char *both = apr_pstrcat(test_pool(),
                                   read_text_file(path_in(dir, "idp.crt"), NULL),
                                   read_text_file(path_in(dir, "idp.key"), NULL), NULL);
    const char *err = load_cert_err(write_text_file(dir, "bundle.pem", both));
    ck_assert_err_has(err, "private key");
    ck_assert_err_has(err, "bundle.pem");
}
END_TEST

START_TEST(test_cert_load_rejects_private_key_alone)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", LONG_AGO, FAR_AHEAD);
    ck_assert_err_has(load_cert_err(path_in(dir, "idp.key")), "private key");
}
END_TEST

START_TEST(test_cert_load_rejects_two_certificates)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "a", "rsa2048", LONG_AGO, FAR_AHEAD);
    write_keypair(dir, "b", "ec256", LONG_AGO, FAR_AHEAD);
    const char *both = apr_pstrcat(test_pool(), read_text_file(path_in(dir, "a.crt"), NULL),
                                   read_text_file(path_in(dir, "b.crt"), NULL), NULL);
    const char *err = load_cert_err(write_text_file(dir, "chain.pem", both));
    ck_assert_err_has(err, "2 certificates");
}
END_TEST

START_TEST(test_cert_load_rejects_garbage)
{
    const char *dir = fresh_dir();
    ck_assert_err_has(load_cert_err(write_text_file(dir, "junk.crt",
                                                    "this is not a certificate\n")),
                      "is not a certificate in PEM, Base64 or DER form");
}
END_TEST

START_TEST(test_cert_load_rejects_base64_of_non_certificate)
{
    const char *dir = fresh_dir();
    /* "Hello world, certainly no DER here" in Base64 */
    ck_assert_err_has(load_cert_err(write_text_file(dir, "junk.b64",
                                                    "SGVsbG8gd29ybGQsIGNlcnRhaW5seSBubyBERVIgaGVyZQ==\n")),
                      "is not a certificate");
}
END_TEST

START_TEST(test_cert_load_rejects_empty_file)
{
    const char *dir = fresh_dir();
    ck_assert_err_has(load_cert_err(write_text_file(dir, "empty.crt", "")),
                      "is not a certificate");
}
END_TEST

START_TEST(test_cert_load_rejects_pem_without_certificate_block)
{
    const char *dir = fresh_dir();
    const char *err = load_cert_err(write_text_file(dir, "other.pem",
                                                    "-----BEGIN FOO-----\nAAAA\n"
                                                    "-----END FOO-----\n"));
    ck_assert_err_has(err, "no PEM CERTIFICATE block");
}
END_TEST

START_TEST(test_cert_load_rejects_der_with_trailing_bytes)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", LONG_AGO, FAR_AHEAD);
    apr_size_t n;
    const char *der = read_text_file(write_cert_der(dir, "idp.der", path_in(dir, "idp.crt")),
                                     &n);
    char *longer = apr_palloc(test_pool(), n + 4);
    memcpy(longer, der, n);
    memcpy(longer + n, "\x01\x02\x03\x04", 4);
    FILE *f = fopen(path_in(dir, "trailing.der"), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(longer, 1, n + 4, f), n + 4);
    fclose(f);
    ck_assert_err_has(load_cert_err(path_in(dir, "trailing.der")), "is not a certificate");
}
END_TEST

START_TEST(test_cert_load_rejects_truncated_der)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", LONG_AGO, FAR_AHEAD);
    apr_size_t n;
    const char *der = read_text_file(write_cert_der(dir, "idp.der", path_in(dir, "idp.crt")),
                                     &n);
    FILE *f = fopen(path_in(dir, "short.der"), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(der, 1, n - 20, f), n - 20);
    fclose(f);
    ck_assert_err_has(load_cert_err(path_in(dir, "short.der")), "is not a certificate");
}
END_TEST

START_TEST(test_cert_load_rejects_missing_file)
{
    const char *dir = fresh_dir();
    const char *missing = path_in(dir, "nope.crt");
    const char *err = load_cert_err(missing);
    ck_assert_err_has(err, "cannot read");
    ck_assert_err_has(err, missing);
}
END_TEST

START_TEST(test_cert_load_rejects_directory)
{
    const char *dir = fresh_dir();
    ck_assert_err_has(load_cert_err(dir), "is not a regular file");
}
END_TEST

START_TEST(test_cert_valid_at_covers_not_before_to_not_after)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "idp", "rsa2048", utc("2025-01-01T00:00:00Z"),
                  utc("2026-01-01T00:00:00Z"));
    ib_cert *c = load_cert_ok(path_in(dir, "idp.crt"));
    ck_assert_int_eq(ib_cert_valid_at(c, utc("2024-12-31T23:59:59Z")), 0);
    ck_assert_int_eq(ib_cert_valid_at(c, utc("2025-01-01T00:00:00Z")), 1);
    ck_assert_int_eq(ib_cert_valid_at(c, utc("2025-07-01T00:00:00Z")), 1);
    ck_assert_int_eq(ib_cert_valid_at(c, utc("2026-01-01T00:00:00Z") - 1), 1);
    ck_assert_int_eq(ib_cert_valid_at(c, utc("2026-01-02T00:00:00Z")), 0);
}
END_TEST

/* ---- ib_sp_key_load ----------------------------------------------------- */

START_TEST(test_sp_key_load_accepts_rsa2048_pair)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "sp", "rsa2048", LONG_AGO, FAR_AHEAD);
    ib_sp_key *k = sp_key(dir, "sp");
    ck_assert_ptr_nonnull(k->pkey);
    ck_assert_int_eq(EVP_PKEY_get_base_id(k->pkey), EVP_PKEY_RSA);
    ck_assert_int_eq(EVP_PKEY_get_bits(k->pkey), 2048);
    ck_assert_str_eq(k->key_path, path_in(dir, "sp.key"));
    ck_assert_str_eq(k->cert->path, path_in(dir, "sp.crt"));
    ck_assert_str_eq(k->cert->subject, "CN=sp");
    ck_assert_int_eq(k->has_activate_at, 0);
}
END_TEST

START_TEST(test_sp_key_load_accepts_ec_p256)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "sp", "ec256", LONG_AGO, FAR_AHEAD);
    ib_sp_key *k = sp_key(dir, "sp");
    ck_assert_int_eq(EVP_PKEY_get_base_id(k->pkey), EVP_PKEY_EC);
    ck_assert_int_eq(EVP_PKEY_get_bits(k->pkey), 256);
}
END_TEST

START_TEST(test_sp_key_load_rejects_cert_of_another_key)
{
    const char *dir = fresh_dir();
    write_keypair_slot(dir, "one", "rsa2048", 0, LONG_AGO, FAR_AHEAD);
    write_keypair_slot(dir, "two", "rsa2048", 1, LONG_AGO, FAR_AHEAD);
    const char *err = sp_key_err(path_in(dir, "one.key"), path_in(dir, "two.crt"));
    ck_assert_err_has(err, "does not belong");
    ck_assert_err_has(err, "two.crt");
}
END_TEST

START_TEST(test_sp_key_load_rejects_cert_of_other_key_type)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "rsa", "rsa2048", LONG_AGO, FAR_AHEAD);
    write_keypair(dir, "ec", "ec256", LONG_AGO, FAR_AHEAD);
    ck_assert_err_has(sp_key_err(path_in(dir, "ec.key"), path_in(dir, "rsa.crt")),
                      "does not belong");
}
END_TEST

START_TEST(test_sp_key_load_rejects_rsa1024)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "weak", "rsa1024", LONG_AGO, FAR_AHEAD);
    const char *err = sp_key_err(path_in(dir, "weak.key"), path_in(dir, "weak.crt"));
    ck_assert_err_has(err, "at least 2048");
    ck_assert_err_has(err, "1024-bit");
}
END_TEST

START_TEST(test_sp_key_load_rejects_encrypted_pem_key)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "sp", "rsa2048", LONG_AGO, FAR_AHEAD);
    write_encrypted_key(dir, "locked", "rsa2048");
    ck_assert_ptr_nonnull(strstr(read_text_file(path_in(dir, "locked.key"), NULL),
                                 "BEGIN ENCRYPTED PRIVATE KEY"));
    ck_assert_err_has(sp_key_err(path_in(dir, "locked.key"), path_in(dir, "sp.crt")),
                      "encrypted");
}
END_TEST

START_TEST(test_sp_key_load_rejects_certificate_as_key)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "sp", "rsa2048", LONG_AGO, FAR_AHEAD);
    ck_assert_err_has(sp_key_err(path_in(dir, "sp.crt"), path_in(dir, "sp.crt")),
                      "is not a PEM private key");
}
END_TEST

START_TEST(test_sp_key_load_rejects_missing_key_file)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "sp", "rsa2048", LONG_AGO, FAR_AHEAD);
    ck_assert_err_has(sp_key_err(path_in(dir, "missing.key"), path_in(dir, "sp.crt")),
                      "cannot read");
}
END_TEST

START_TEST(test_sp_key_load_rejects_missing_cert_file)
{
    const char *dir = fresh_dir();
    write_keypair(dir, "sp", "rsa2048", LONG_AGO, FAR_AHEAD);
    const char *err = sp_key_err(path_in(dir, "sp.key"), path_in(dir, "missing.crt"));
    ck_assert_err_has(err, "cannot read");
    ck_assert_err_has(err, "missing.crt");
}
END_TEST

/* ---- rotation: ib_sp_keys_active / ib_sp_keys_published ----------------- */

START_TEST(test_single_key_without_activation_is_active_and_published)
{
    const char *dir = fresh_dir();
    ib_sp_key *k = make_key(dir, "k", 0);
    apr_array_header_t *keys = key_list(k, NULL);
    ck_assert_ptr_eq(ib_sp_keys_active(keys, NOW), k);
    assert_published(ib_sp_keys_published(test_pool(), keys, NOW), 1, k);
}
END_TEST

START_TEST(test_advertisement_phase_keeps_first_active_and_publishes_both)
{
    const char *dir = fresh_dir();
    ib_sp_key *old = make_key(dir, "old", 0);
    ib_sp_key *next = make_key(dir, "next", NOW + DAY);
    apr_array_header_t *keys = key_list(old, next, NULL);
    ck_assert_ptr_eq(ib_sp_keys_active(keys, NOW), old);
    assert_published(ib_sp_keys_published(test_pool(), keys, NOW), 2, old, next);
}
END_TEST

START_TEST(test_active_key_switches_at_activation_instant)
{
    const char *dir = fresh_dir();
    ib_sp_key *old = make_key(dir, "old", 0);
    ib_sp_key *next = make_key(dir, "next", NOW + DAY);
    apr_array_header_t *keys = key_list(old, next, NULL);
    ck_assert_ptr_eq(ib_sp_keys_active(keys, NOW + DAY - 1), old);
    ck_assert_ptr_eq(ib_sp_keys_active(keys, NOW + DAY), next);
}
END_TEST

START_TEST(test_after_activation_only_new_key_is_published)
{
    const char *dir = fresh_dir();
    ib_sp_key *old = make_key(dir, "old", 0);
    ib_sp_key *next = make_key(dir, "next", NOW + DAY);
    apr_array_header_t *keys = key_list(old, next, NULL);
    ck_assert_ptr_eq(ib_sp_keys_active(keys, NOW + 2 * DAY), next);
    assert_published(ib_sp_keys_published(test_pool(), keys, NOW + DAY), 1, next);
    assert_published(ib_sp_keys_published(test_pool(), keys, NOW + 2 * DAY), 1, next);
}
END_TEST

START_TEST(test_rotation_follows_pinned_clock)
{
    const char *dir = fresh_dir();
    ib_sp_key *old = make_key(dir, "old", 0);
    ib_sp_key *next = make_key(dir, "next", NOW + DAY);
    apr_array_header_t *keys = key_list(old, next, NULL);
    ib_clock_pin(NOW);
    ck_assert_ptr_eq(ib_sp_keys_active(keys, ib_now()), old);
    ib_clock_pin(NOW + DAY);
    ck_assert_ptr_eq(ib_sp_keys_active(keys, ib_now()), next);
}
END_TEST

START_TEST(test_expired_only_key_is_never_active)
{
    const char *dir = fresh_dir();
    ib_sp_key *k = make_key_valid(dir, "k", LONG_AGO, utc("2020-01-01T00:00:00Z"));
    apr_array_header_t *keys = key_list(k, NULL);
    ck_assert_ptr_null(ib_sp_keys_active(keys, NOW));
    ck_assert_int_eq(ib_sp_keys_published(test_pool(), keys, NOW)->nelts, 0);
}
END_TEST

START_TEST(test_expired_newer_key_loses_to_valid_older_key)
{
    const char *dir = fresh_dir();
    ib_sp_key *old = make_key(dir, "old", 0);
    ib_sp_key *newer = make_key_valid(dir, "newer", LONG_AGO, NOW - DAY);
    newer->has_activate_at = 1;
    newer->activate_at = NOW - 10 * DAY;
    apr_array_header_t *keys = key_list(old, newer, NULL);
    ck_assert_ptr_eq(ib_sp_keys_active(keys, NOW), old);
    assert_published(ib_sp_keys_published(test_pool(), keys, NOW), 1, old);
}
END_TEST

START_TEST(test_key_is_not_active_after_cert_not_after)
{
    const char *dir = fresh_dir();
    ib_sp_key *k = make_key_valid(dir, "k", LONG_AGO, NOW);
    apr_array_header_t *keys = key_list(k, NULL);
    ck_assert_ptr_eq(ib_sp_keys_active(keys, NOW - 1), k);
    ck_assert_ptr_null(ib_sp_keys_active(keys, NOW + apr_time_from_sec(1)));
}
END_TEST

START_TEST(test_key_with_not_yet_valid_cert_is_not_active)
{
    const char *dir = fresh_dir();
    ib_sp_key *early = make_key_valid(dir, "early", NOW + DAY, FAR_AHEAD);
    ck_assert_ptr_null(ib_sp_keys_active(key_list(early, NULL), NOW));
    ib_sp_key *old = make_key(dir, "old", 0);
    ck_assert_ptr_eq(ib_sp_keys_active(key_list(old, early, NULL), NOW), old);
    ck_assert_ptr_eq(ib_sp_keys_active(key_list(old, early, NULL), NOW + DAY), early);
}
END_TEST

START_TEST(test_tie_on_activation_instant_later_entry_wins)
{
    const char *dir = fresh_dir();
    ib_sp_key *a = make_key(dir, "a", NOW - DAY);
    ib_sp_key *b = make_key(dir, "b", NOW - DAY);
    ck_assert_ptr_eq(ib_sp_keys_active(key_list(a, b, NULL), NOW), b);
    ck_assert_ptr_eq(ib_sp_keys_active(key_list(b, a, NULL), NOW), a);
}
END_TEST

START_TEST(test_tie_without_activation_later_entry_wins)
{
    const char *dir = fresh_dir();
    ib_sp_key *a = make_key(dir, "a", 0);
    ib_sp_key *b = make_key(dir, "b", 0);
    ck_assert_ptr_eq(ib_sp_keys_active(key_list(a, b, NULL), NOW), b);
    assert_published(ib_sp_keys_published(test_pool(), key_list(a, b, NULL), NOW), 1, b);
}
END_TEST

START_TEST(test_latest_activation_wins_regardless_of_list_order)
{
    const char *dir = fresh_dir();
    ib_sp_key *newest = make_key(dir, "newest", NOW - DAY);
    ib_sp_key *older = make_key(dir, "older", NOW - 10 * DAY);
    ib_sp_key *plain = make_key(dir, "plain", 0);
    ck_assert_ptr_eq(ib_sp_keys_active(key_list(newest, older, plain, NULL), NOW), newest);
}
END_TEST

START_TEST(test_future_keys_are_published_in_list_order)
{
    const char *dir = fresh_dir();
    ib_sp_key *cur = make_key(dir, "cur", 0);
    ib_sp_key *later = make_key(dir, "later", NOW + 2 * DAY);
    ib_sp_key *sooner = make_key(dir, "sooner", NOW + DAY);
    assert_published(ib_sp_keys_published(test_pool(),
                                          key_list(later, cur, sooner, NULL), NOW),
                     3, cur, later, sooner);
}
END_TEST

START_TEST(test_future_key_with_expired_cert_is_not_published)
{
    const char *dir = fresh_dir();
    ib_sp_key *cur = make_key(dir, "cur", 0);
    ib_sp_key *dead = make_key_valid(dir, "dead", LONG_AGO, NOW - DAY);
    dead->has_activate_at = 1;
    dead->activate_at = NOW + DAY;
    assert_published(ib_sp_keys_published(test_pool(), key_list(cur, dead, NULL), NOW),
                     1, cur);
}
END_TEST

START_TEST(test_only_scheduled_key_is_published_but_not_active)
{
    const char *dir = fresh_dir();
    ib_sp_key *next = make_key(dir, "next", NOW + DAY);
    apr_array_header_t *keys = key_list(next, NULL);
    ck_assert_ptr_null(ib_sp_keys_active(keys, NOW));
    assert_published(ib_sp_keys_published(test_pool(), keys, NOW), 1, next);
}
END_TEST

Suite *keys_suite(void)
{
    Suite *s = suite_create("keys");

    TCase *tc = test_tcase("cert_load");
    tcase_add_test(tc, test_cert_load_accepts_pem);
    tcase_add_test(tc, test_cert_der_b64_is_one_line_base64_of_der);
    tcase_add_test(tc, test_cert_fingerprints_match_openssl_digests);
    tcase_add_test(tc, test_cert_load_accepts_bare_base64_der_with_line_breaks);
    tcase_add_test(tc, test_cert_load_accepts_bare_base64_der_on_one_line);
    tcase_add_test(tc, test_cert_load_accepts_bare_base64_der_with_crlf_line_breaks);
    tcase_add_test(tc, test_cert_load_accepts_binary_der);
    tcase_add_test(tc, test_cert_load_accepts_ec_certificate);
    tcase_add_test(tc, test_cert_load_keeps_dates_before_2000_and_after_2050);
    tcase_add_test(tc, test_cert_load_rejects_file_with_private_key);
    tcase_add_test(tc, test_cert_load_rejects_private_key_alone);
    tcase_add_test(tc, test_cert_load_rejects_two_certificates);
    tcase_add_test(tc, test_cert_load_rejects_garbage);
    tcase_add_test(tc, test_cert_load_rejects_base64_of_non_certificate);
    tcase_add_test(tc, test_cert_load_rejects_empty_file);
    tcase_add_test(tc, test_cert_load_rejects_pem_without_certificate_block);
    tcase_add_test(tc, test_cert_load_rejects_der_with_trailing_bytes);
    tcase_add_test(tc, test_cert_load_rejects_truncated_der);
    tcase_add_test(tc, test_cert_load_rejects_missing_file);
    tcase_add_test(tc, test_cert_load_rejects_directory);
    tcase_add_test(tc, test_cert_valid_at_covers_not_before_to_not_after);
    suite_add_tcase(s, tc);

    tc = test_tcase("sp_key_load");
    tcase_add_test(tc, test_sp_key_load_accepts_rsa2048_pair);
    tcase_add_test(tc, test_sp_key_load_accepts_ec_p256);
    tcase_add_test(tc, test_sp_key_load_rejects_cert_of_another_key);
    tcase_add_test(tc, test_sp_key_load_rejects_cert_of_other_key_type);
    tcase_add_test(tc, test_sp_key_load_rejects_rsa1024);
    tcase_add_test(tc, test_sp_key_load_rejects_encrypted_pem_key);
    tcase_add_test(tc, test_sp_key_load_rejects_certificate_as_key);
    tcase_add_test(tc, test_sp_key_load_rejects_missing_key_file);
    tcase_add_test(tc, test_sp_key_load_rejects_missing_cert_file);
    suite_add_tcase(s, tc);

    tc = test_tcase("rotation");
    tcase_add_test(tc, test_single_key_without_activation_is_active_and_published);
    tcase_add_test(tc, test_advertisement_phase_keeps_first_active_and_publishes_both);
    tcase_add_test(tc, test_active_key_switches_at_activation_instant);
    tcase_add_test(tc, test_after_activation_only_new_key_is_published);
    tcase_add_test(tc, test_rotation_follows_pinned_clock);
    tcase_add_test(tc, test_expired_only_key_is_never_active);
    tcase_add_test(tc, test_expired_newer_key_loses_to_valid_older_key);
    tcase_add_test(tc, test_key_is_not_active_after_cert_not_after);
    tcase_add_test(tc, test_key_with_not_yet_valid_cert_is_not_active);
    tcase_add_test(tc, test_tie_on_activation_instant_later_entry_wins);
    tcase_add_test(tc, test_tie_without_activation_later_entry_wins);
    tcase_add_test(tc, test_latest_activation_wins_regardless_of_list_order);
    tcase_add_test(tc, test_future_keys_are_published_in_list_order);
    tcase_add_test(tc, test_future_key_with_expired_cert_is_not_published);
    tcase_add_test(tc, test_only_scheduled_key_is_published_but_not_active);
    suite_add_tcase(s, tc);
    return s;
}
