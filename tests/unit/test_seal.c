/* ib_seal: AES-256-GCM sealing of shared-store entries. */
#include <string.h>
#include <sys/stat.h>

#include <apr_strings.h>

#include "core/ib_codec.h"
#include "core/ib_seal.h"
#include "test_support.h"

#define HEX_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define HEX_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define LATER (apr_time_now() + apr_time_from_sec(600))

static const char *write_key_file(const char *content, apr_size_t len, int mode)
{
    const char *path = path_in(fresh_dir(), "store.key");
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(content, 1, len, f);
    fclose(f);
    chmod(path, (mode_t)mode);
    return path;
}

static ib_seal_key *key_of(const char *id, const char *hex)
{
    ib_seal_key *k;
    const char *err = ib_seal_key_load(test_pool(), id, write_key_file(hex, strlen(hex), 0600), &k);
    ck_assert_msg(err == NULL, "%s", err);
    return k;
}

static apr_array_header_t *keys_of(ib_seal_key *a, ib_seal_key *b)
{
    apr_array_header_t *keys = apr_array_make(test_pool(), 2, sizeof(ib_seal_key *));
    APR_ARRAY_PUSH(keys, ib_seal_key *) = a;
    if (b) {
        APR_ARRAY_PUSH(keys, ib_seal_key *) = b;
    }
    return keys;
}

START_TEST(test_seal_round_trip)
{
    ib_seal_key *k = key_of("k1", HEX_A);
    apr_time_t until = LATER;
    const char *sealed = ib_seal(test_pool(), k, "s:abc", "{\"user\":\"jane\"}", until);
    ck_assert_ptr_nonnull(sealed);
    ck_assert_int_eq(strncmp(sealed, "ib1.k1.", 7), 0);
    ck_assert_ptr_null(strstr(sealed, "jane"));
    const char *value = NULL;
    apr_time_t expiry = 0;
    const char *err = ib_unseal(test_pool(), keys_of(k, NULL), "s:abc", sealed, apr_time_now(),
                                &value, &expiry);
    ck_assert_msg(err == NULL, "%s", err);
    ck_assert_str_eq(value, "{\"user\":\"jane\"}");
    /* The session memo holds a decoded entry only until the expiry sealed in. */
    ck_assert(expiry == until);
}
END_TEST

START_TEST(test_seal_is_randomised)
{
    ib_seal_key *k = key_of("k1", HEX_A);
    ck_assert_str_ne(ib_seal(test_pool(), k, "n", "v", LATER), ib_seal(test_pool(), k, "n", "v", LATER));
}
END_TEST

START_TEST(test_unseal_refuses_entry_moved_to_another_name)
{
    ib_seal_key *k = key_of("k1", HEX_A);
    const char *sealed = ib_seal(test_pool(), k, "s:victim", "x", LATER);
    const char *value = NULL;
    const char *err = ib_unseal(test_pool(), keys_of(k, NULL), "s:attacker", sealed, apr_time_now(), &value, NULL);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "moved"));
}
END_TEST

START_TEST(test_unseal_refuses_flipped_byte)
{
    ib_seal_key *k = key_of("k1", HEX_A);
    char *sealed = apr_pstrdup(test_pool(), ib_seal(test_pool(), k, "n", "hello world", LATER));
    size_t n = strlen(sealed);
    sealed[n - 6] = sealed[n - 6] == 'A' ? 'B' : 'A';
    const char *value = NULL;
    ck_assert_ptr_nonnull(ib_unseal(test_pool(), keys_of(k, NULL), "n", sealed, apr_time_now(), &value, NULL));
}
END_TEST

START_TEST(test_unseal_refuses_expired_entry)
{
    ib_seal_key *k = key_of("k1", HEX_A);
    const char *sealed = ib_seal(test_pool(), k, "n", "v", apr_time_now() - 1);
    const char *value = NULL;
    const char *err = ib_unseal(test_pool(), keys_of(k, NULL), "n", sealed, apr_time_now(), &value, NULL);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "expired"));
}
END_TEST

START_TEST(test_unseal_refuses_plain_and_unknown_key)
{
    ib_seal_key *a = key_of("k1", HEX_A);
    ib_seal_key *b = key_of("k2", HEX_B);
    const char *value = NULL;
    ck_assert_ptr_nonnull(ib_unseal(test_pool(), keys_of(a, NULL), "n", "{\"plain\":1}", apr_time_now(), &value, NULL));
    const char *by_b = ib_seal(test_pool(), b, "n", "v", LATER);
    ck_assert_ptr_nonnull(ib_unseal(test_pool(), keys_of(a, NULL), "n", by_b, apr_time_now(), &value, NULL));
    /* The same ID with other key bytes (a forged key ID) does not open either. */
    ib_seal_key *fake = key_of("k2", HEX_A);
    ck_assert_ptr_nonnull(ib_unseal(test_pool(), keys_of(fake, NULL), "n", by_b, apr_time_now(), &value, NULL));
}
END_TEST

START_TEST(test_rotation_old_key_still_opens)
{
    ib_seal_key *old = key_of("2025", HEX_A);
    ib_seal_key *new = key_of("2026", HEX_B);
    const char *sealed_old = ib_seal(test_pool(), old, "n", "from-old", LATER);
    const char *value = NULL;
    const char *err = ib_unseal(test_pool(), keys_of(new, old), "n", sealed_old, apr_time_now(), &value, NULL);
    ck_assert_msg(err == NULL, "%s", err);
    ck_assert_str_eq(value, "from-old");
}
END_TEST

START_TEST(test_key_file_forms)
{
    ib_seal_key *k;
    unsigned char raw[32];
    for (int i = 0; i < 32; i++) {
        raw[i] = (unsigned char)i;
    }
    ck_assert_ptr_null(ib_seal_key_load(test_pool(), "raw", write_key_file((char *)raw, 32, 0600), &k));
    ck_assert_int_eq(memcmp(k->bytes, raw, 32), 0);
    ck_assert_ptr_null(ib_seal_key_load(test_pool(), "hex", write_key_file(HEX_A "\n", 65, 0640), &k));
    ck_assert_int_eq(memcmp(k->bytes, raw, 32), 0);
    const char *b64 = apr_pstrcat(test_pool(), ib_b64_encode(test_pool(), raw, 32), "\n", NULL);
    ck_assert_ptr_null(ib_seal_key_load(test_pool(), "b64", write_key_file(b64, strlen(b64), 0600), &k));
    ck_assert_int_eq(memcmp(k->bytes, raw, 32), 0);
}
END_TEST

START_TEST(test_key_file_refusals)
{
    ib_seal_key *k;
    const char *err = ib_seal_key_load(test_pool(), "k", write_key_file(HEX_A, 64, 0644), &k);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "read by anyone"));
    err = ib_seal_key_load(test_pool(), "k", write_key_file("short", 5, 0600), &k);
    ck_assert_ptr_nonnull(strstr(err, "no 256-bit key"));
    err = ib_seal_key_load(test_pool(), "bad id!", write_key_file(HEX_A, 64, 0600), &k);
    ck_assert_ptr_nonnull(strstr(err, "key ID"));
    err = ib_seal_key_load(test_pool(), "k", "/nonexistent/store.key", &k);
    ck_assert_ptr_nonnull(err);
}
END_TEST

Suite *seal_suite(void)
{
    Suite *s = suite_create("seal");
    TCase *tc = test_tcase("seal");
    tcase_add_test(tc, test_seal_round_trip);
    tcase_add_test(tc, test_seal_is_randomised);
    tcase_add_test(tc, test_unseal_refuses_entry_moved_to_another_name);
    tcase_add_test(tc, test_unseal_refuses_flipped_byte);
    tcase_add_test(tc, test_unseal_refuses_expired_entry);
    tcase_add_test(tc, test_unseal_refuses_plain_and_unknown_key);
    tcase_add_test(tc, test_rotation_old_key_still_opens);
    tcase_add_test(tc, test_key_file_forms);
    tcase_add_test(tc, test_key_file_refusals);
    suite_add_tcase(s, tc);
    return s;
}
