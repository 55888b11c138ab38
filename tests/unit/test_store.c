/* ib_store (session and pending records, cache keys, SHA-256) and ib_codec
 * (Base64, random hex). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "core/ib_codec.h"
#include "core/ib_store.h"
#include "test_support.h"

#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- fixtures ------------------------------------------------------------- */

static ib_session full_session(void)
{
    ib_session s;
    memset(&s, 0, sizeof(s));
    s.tenant = "acme";
    s.app = "primary";
    s.host = "saml.example.com";
    s.created = utc("2024-04-01T10:00:00Z");
    s.last_seen = utc("2024-04-01T10:05:00Z");
    s.expires = utc("2024-04-01T18:00:00Z");
    s.protocol = "saml";
    s.idp = "http://adfs.example.com/adfs/services/trust";
    s.name_id = "  CORP\\jdoe \"quoted\" \xc3\xa9 ";
    s.name_id_format = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
    s.name_qualifier = "http://adfs.example.com/adfs/services/trust";
    s.sp_name_qualifier = "https://saml.example.com";
    s.session_index = "_5f1c2d3e-0000-1111-2222-333344445555";
    s.authn_class = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
    s.identity.field[IB_ATTR_UPN] = "jdoe@corp.example.com";
    s.identity.field[IB_ATTR_SID] = "S-1-5-21-1111111111-2222222222-3333333333-1104";
    s.identity.field[IB_ATTR_OID] = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
    s.identity.field[IB_ATTR_EMAIL] = "john.doe@example.com";
    s.identity.field[IB_ATTR_DISPLAY_NAME] = "John Doe";
    s.identity.field[IB_ATTR_FIRST_NAME] = "John";
    s.identity.field[IB_ATTR_LAST_NAME] = "Doe";
    s.identity.field[IB_ATTR_FOREST] = "corp.example.com";
    s.identity.field[IB_ATTR_DOMAIN] = "CORP";
    return s;
}

static ib_pending full_pending(void)
{
    ib_pending r;
    memset(&r, 0, sizeof(r));
    r.tenant = "acme";
    r.app = "primary";
    r.request_id = "_0123456789abcdef0123456789abcdef";
    r.acs_url = "https://saml.example.com/idbroker/saml/acs";
    r.return_url = "/portal/start?x=1&y=2";
    r.relay = "fedcba9876543210fedcba9876543210";
    r.state_hash = SHA256_ABC;
    r.host = "saml.example.com";
    r.expires = utc("2024-04-01T10:10:00Z");
    return r;
}

static ib_session decoded_session(const char *json)
{
    ib_session out;
    memset(&out, 0xA5, sizeof(out));
    ck_assert_msg(ib_session_decode(test_pool(), json, &out) == 1,
                  "ib_session_decode refused %s", json);
    return out;
}

static void assert_session_refused(const char *json)
{
    ib_session out;
    ck_assert_msg(ib_session_decode(test_pool(), json, &out) == 0,
                  "ib_session_decode accepted %s", json ? json : "(null)");
}

static void assert_pending_refused(const char *json)
{
    ib_pending out;
    ck_assert_msg(ib_pending_decode(test_pool(), json, &out) == 0,
                  "ib_pending_decode accepted %s", json ? json : "(null)");
}

static int is_lower_hex(const char *s, size_t len)
{
    if (strlen(s) != len) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) {
            return 0;
        }
    }
    return 1;
}

/* ---- sessions --------------------------------------------------------------- */

START_TEST(test_session_round_trip_keeps_every_field)
{
    ib_session s = full_session();
    ib_session d = decoded_session(ib_session_encode(test_pool(), &s));
    ck_assert_str_eq(d.tenant, "acme");
    ck_assert_str_eq(d.app, "primary");
    ck_assert_str_eq(d.host, "saml.example.com");
    ck_assert_int_eq(d.created, utc("2024-04-01T10:00:00Z"));
    ck_assert_int_eq(d.last_seen, utc("2024-04-01T10:05:00Z"));
    ck_assert_int_eq(d.expires, utc("2024-04-01T18:00:00Z"));
    ck_assert_str_eq(d.protocol, "saml");
    ck_assert_str_eq(d.idp, s.idp);
    ck_assert_str_eq(d.name_id, s.name_id);
    ck_assert_str_eq(d.name_id_format, s.name_id_format);
    ck_assert_str_eq(d.name_qualifier, s.name_qualifier);
    ck_assert_str_eq(d.sp_name_qualifier, "https://saml.example.com");
    ck_assert_str_eq(d.session_index, "_5f1c2d3e-0000-1111-2222-333344445555");
    ck_assert_str_eq(d.authn_class, s.authn_class);
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        ck_assert_str_eq(d.identity.field[i], s.identity.field[i]);
    }
    ck_assert_int_eq(d.identity.azuread, 0);
    ck_assert_ptr_null(d.identity.fed_upn);
}
END_TEST

START_TEST(test_session_round_trip_keeps_azuread_identity)
{
    ib_session s = full_session();
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        s.identity.field[i] = "";
    }
    s.identity.field[IB_ATTR_DISPLAY_NAME] = "John Doe";
    s.identity.azuread = 1;
    s.identity.fed_upn = "jdoe@contoso.com";
    ib_session d = decoded_session(ib_session_encode(test_pool(), &s));
    ck_assert_int_eq(d.identity.azuread, 1);
    ck_assert_str_eq(d.identity.fed_upn, "jdoe@contoso.com");
    ck_assert_str_eq(d.identity.field[IB_ATTR_UPN], "");
    ck_assert_str_eq(d.identity.field[IB_ATTR_DISPLAY_NAME], "John Doe");
}
END_TEST

START_TEST(test_session_round_trip_keeps_absent_optional_strings_absent)
{
    ib_session s;
    memset(&s, 0, sizeof(s));
    s.tenant = "acme";
    s.host = "saml.example.com";
    s.expires = utc("2024-04-01T18:00:00Z");
    ib_session d = decoded_session(ib_session_encode(test_pool(), &s));
    ck_assert_ptr_null(d.app);
    ck_assert_ptr_null(d.name_id);
    ck_assert_ptr_null(d.session_index);
    ck_assert_int_eq(d.created, 0);
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        ck_assert_str_eq(d.identity.field[i], "");
    }
}
END_TEST

START_TEST(test_session_times_keep_whole_seconds)
{
    ib_session s = full_session();
    s.last_seen = utc("2024-04-01T10:05:00Z") + 999999;
    ib_session d = decoded_session(ib_session_encode(test_pool(), &s));
    ck_assert_int_eq(d.last_seen, utc("2024-04-01T10:05:00Z"));
}
END_TEST

START_TEST(test_session_encode_is_one_line_json_with_version_1)
{
    ib_session s = full_session();
    const char *json = ib_session_encode(test_pool(), &s);
    ck_assert_ptr_nonnull(json);
    ck_assert_int_eq(json[0], '{');
    ck_assert_ptr_null(strchr(json, '\n'));
    ck_assert_ptr_nonnull(strstr(json, "\"v\":1"));
    ck_assert_uint_lt(strlen(json), IB_SESSION_MAX_BYTES);
}
END_TEST

START_TEST(test_session_decode_rejects_garbage_json)
{
    assert_session_refused("");
    assert_session_refused("not json");
    assert_session_refused("{\"v\":1,\"t\":\"acme\"");
    assert_session_refused("[1,2,3]");
    assert_session_refused("null");
    assert_session_refused("\"v\"");
}
END_TEST

START_TEST(test_session_decode_rejects_wrong_version)
{
    static const char tail[] = "\"t\":\"acme\",\"h\":\"saml.example.com\",\"x\":1711990800}";
    assert_session_refused(apr_pstrcat(test_pool(), "{\"v\":2,", tail, NULL));
    assert_session_refused(apr_pstrcat(test_pool(), "{\"v\":0,", tail, NULL));
    assert_session_refused(apr_pstrcat(test_pool(), "{\"v\":\"1\",", tail, NULL));
    assert_session_refused(apr_pstrcat(test_pool(), "{", tail, NULL));
    /* the same record with version 1 is fine */
    ib_session d = decoded_session(apr_pstrcat(test_pool(), "{\"v\":1,", tail, NULL));
    ck_assert_str_eq(d.tenant, "acme");
    ck_assert_int_eq(d.expires, apr_time_from_sec(1711990800));
}
END_TEST

START_TEST(test_session_decode_rejects_missing_tenant)
{
    ib_session s = full_session();
    s.tenant = NULL;
    assert_session_refused(ib_session_encode(test_pool(), &s));
}
END_TEST

START_TEST(test_session_decode_rejects_missing_host)
{
    ib_session s = full_session();
    s.host = NULL;
    assert_session_refused(ib_session_encode(test_pool(), &s));
}
END_TEST

START_TEST(test_session_decode_rejects_missing_expires)
{
    ib_session s = full_session();
    s.expires = 0;
    assert_session_refused(ib_session_encode(test_pool(), &s));
    assert_session_refused("{\"v\":1,\"t\":\"acme\",\"h\":\"saml.example.com\"}");
}
END_TEST

START_TEST(test_session_decode_rejects_wrongly_typed_fields)
{
    assert_session_refused("{\"v\":1,\"t\":7,\"h\":\"saml.example.com\",\"x\":1711990800}");
    assert_session_refused("{\"v\":1,\"t\":\"acme\",\"h\":\"saml.example.com\",\"x\":\"soon\"}");
}
END_TEST

/* ---- pending requests -------------------------------------------------------- */

START_TEST(test_pending_round_trip_keeps_every_field)
{
    ib_pending r = full_pending();
    ib_pending d;
    memset(&d, 0xA5, sizeof(d));
    ck_assert_int_eq(ib_pending_decode(test_pool(), ib_pending_encode(test_pool(), &r), &d), 1);
    ck_assert_str_eq(d.tenant, "acme");
    ck_assert_str_eq(d.app, "primary");
    ck_assert_str_eq(d.request_id, "_0123456789abcdef0123456789abcdef");
    ck_assert_str_eq(d.acs_url, "https://saml.example.com/idbroker/saml/acs");
    ck_assert_str_eq(d.return_url, "/portal/start?x=1&y=2");
    ck_assert_str_eq(d.relay, "fedcba9876543210fedcba9876543210");
    ck_assert_str_eq(d.state_hash, SHA256_ABC);
    ck_assert_str_eq(d.host, "saml.example.com");
    ck_assert_int_eq(d.expires, utc("2024-04-01T10:10:00Z"));
}
END_TEST

/* Each field the ACS needs, removed in turn. */
START_TEST(test_pending_decode_rejects_incomplete_records)
{
    for (int field = 0; field < 6; field++) {
        ib_pending r = full_pending();
        switch (field) {
        case 0: r.tenant = NULL; break;
        case 1: r.app = NULL; break;
        case 2: r.request_id = NULL; break;
        case 3: r.acs_url = NULL; break;
        case 4: r.return_url = NULL; break;
        default: r.state_hash = NULL; break;
        }
        assert_pending_refused(ib_pending_encode(test_pool(), &r));
    }
}
END_TEST

START_TEST(test_pending_decode_rejects_record_without_relay)
{
    /* The ACS compares the posted RelayState with pr->relay unconditionally
     * (strcmp), so a record without "rs" must not decode. */
    ib_pending r = full_pending();
    r.relay = NULL;
    assert_pending_refused(ib_pending_encode(test_pool(), &r));
}
END_TEST

START_TEST(test_pending_decode_rejects_garbage_and_wrong_version)
{
    assert_pending_refused("");
    assert_pending_refused("{{");
    ib_pending r = full_pending();
    const char *json = ib_pending_encode(test_pool(), &r);
    const char *v = strstr(json, "\"v\":1");
    ck_assert_ptr_nonnull(v);
    char *bumped = apr_pstrdup(test_pool(), json);
    bumped[v - json + 4] = '2';
    assert_pending_refused(bumped);
}
END_TEST

START_TEST(test_session_record_is_not_a_pending_record)
{
    ib_session s = full_session();
    assert_pending_refused(ib_session_encode(test_pool(), &s));
}
END_TEST

/* ---- keys and digests ------------------------------------------------------ */

START_TEST(test_sha256_hex_of_abc_is_known_digest)
{
    ck_assert_str_eq(ib_sha256_hex(test_pool(), "abc"), SHA256_ABC);
}
END_TEST

START_TEST(test_sha256_hex_of_empty_string_is_known_digest)
{
    ck_assert_str_eq(ib_sha256_hex(test_pool(), ""), SHA256_EMPTY);
}
END_TEST

START_TEST(test_session_key_is_prefix_and_hash_of_cookie)
{
    /* SHA256_ABC starts ba: 0xba & 0x3f = 0x3a, '0' + 0x3a = 'j' */
    ck_assert_str_eq(ib_store_session_key(test_pool(), "abc"), "j.idb:s:" SHA256_ABC);
}
END_TEST

START_TEST(test_session_key_does_not_contain_cookie_value)
{
    const char *cookie = "c00k1e-VALUE-0123456789abcdef";
    const char *key = ib_store_session_key(test_pool(), cookie);
    ck_assert_ptr_null(strstr(key, cookie));
    ck_assert_ptr_null(strstr(key, "c00k1e"));
    ck_assert_uint_eq(strlen(key), 8 + 64);
}
END_TEST

START_TEST(test_store_keys_are_deterministic)
{
    ck_assert_str_eq(ib_store_session_key(test_pool(), "cookie-1"),
                     ib_store_session_key(test_pool(), "cookie-1"));
    ck_assert_str_eq(ib_store_pending_key(test_pool(), "_req1"),
                     ib_store_pending_key(test_pool(), "_req1"));
    ck_assert_str_eq(ib_store_replay_key(test_pool(), "https://idp", "_a1"),
                     ib_store_replay_key(test_pool(), "https://idp", "_a1"));
}
END_TEST

START_TEST(test_store_keys_differ_per_input)
{
    ck_assert_str_ne(ib_store_session_key(test_pool(), "cookie-1"),
                     ib_store_session_key(test_pool(), "cookie-2"));
    ck_assert_str_ne(ib_store_pending_key(test_pool(), "_req1"),
                     ib_store_pending_key(test_pool(), "_req2"));
    ck_assert_str_ne(ib_store_replay_key(test_pool(), "https://idp", "_a1"),
                     ib_store_replay_key(test_pool(), "https://idp", "_a2"));
    ck_assert_str_ne(ib_store_replay_key(test_pool(), "https://idp1", "_a1"),
                     ib_store_replay_key(test_pool(), "https://idp2", "_a1"));
}
END_TEST

START_TEST(test_store_key_kinds_have_distinct_prefixes)
{
    const char *s = ib_store_session_key(test_pool(), "x");
    const char *r = ib_store_pending_key(test_pool(), "x");
    const char *a = ib_store_replay_key(test_pool(), "x", "x");
    ck_assert_int_eq(strncmp(s + 1, ".idb:s:", 7), 0);
    ck_assert_int_eq(strncmp(r + 1, ".idb:r:", 7), 0);
    ck_assert_int_eq(strncmp(a + 1, ".idb:a:", 7), 0);
    ck_assert_str_eq(s + 8, r + 8); /* same hash, different kind */
    ck_assert_str_ne(s, r);
    ck_assert_int_eq(is_lower_hex(a + 8, 64), 1);
}
END_TEST

START_TEST(test_store_keys_spread_over_shmcb_subcaches)
{
    /* shmcb picks subcache (first byte & (n - 1)); with 8 subcaches, 4096
     * session keys must fill every one, none with more than twice its share. */
    int counts[8] = {0};
    for (int i = 0; i < 4096; i++) {
        const char *k = ib_store_session_key(test_pool(), apr_psprintf(test_pool(), "c%d", i));
        counts[(unsigned char)k[0] & 7]++;
    }
    for (int i = 0; i < 8; i++) {
        ck_assert_int_gt(counts[i], 256);
        ck_assert_int_lt(counts[i], 1024);
    }
}
END_TEST

START_TEST(test_replay_key_separates_idp_from_assertion_id)
{
    ck_assert_str_ne(ib_store_replay_key(test_pool(), "ab", "c"),
                     ib_store_replay_key(test_pool(), "a", "bc"));
}
END_TEST

/* ---- ib_codec: Base64 ------------------------------------------------------ */

START_TEST(test_b64_decode_known_value)
{
    unsigned char *out = NULL;
    ck_assert_int_eq(ib_b64_decode(test_pool(), "aGVsbG8=", 100, &out), 5);
    ck_assert_int_eq(memcmp(out, "hello", 5), 0);
    ck_assert_int_eq(out[5], '\0');
}
END_TEST

START_TEST(test_b64_decode_keeps_nul_bytes)
{
    unsigned char *out = NULL;
    ck_assert_int_eq(ib_b64_decode(test_pool(), "AAEA/w==", 100, &out), 4);
    ck_assert_int_eq(out[0], 0x00);
    ck_assert_int_eq(out[1], 0x01);
    ck_assert_int_eq(out[2], 0x00);
    ck_assert_int_eq(out[3], 0xff);
}
END_TEST

START_TEST(test_b64_decode_accepts_line_breaks)
{
    unsigned char *out = NULL;
    ck_assert_int_eq(ib_b64_decode(test_pool(), "aGVs\nbG8=", 100, &out), 5);
    ck_assert_str_eq((const char *)out, "hello");
    ck_assert_int_eq(ib_b64_decode(test_pool(), "aGVs\r\nbG8=\r\n", 100, &out), 5);
    ck_assert_str_eq((const char *)out, "hello");
    ck_assert_int_eq(ib_b64_decode(test_pool(), "aGVsbG8g\nd29y\nbGQ=\n", 100, &out), 11);
    ck_assert_str_eq((const char *)out, "hello world");
}
END_TEST

START_TEST(test_b64_decode_rejects_invalid_input)
{
    unsigned char *out = NULL;
    ck_assert_int_eq(ib_b64_decode(test_pool(), "", 100, &out), -1);
    ck_assert_int_eq(ib_b64_decode(test_pool(), "!!!!", 100, &out), -1);
    ck_assert_int_eq(ib_b64_decode(test_pool(), "aGVs*G8=", 100, &out), -1);
    ck_assert_int_eq(ib_b64_decode(test_pool(), "aGVsbG8", 100, &out), -1);
    ck_assert_int_eq(ib_b64_decode(test_pool(), "aGVsbG8=aGVs", 100, &out), -1);
    ck_assert_int_eq(ib_b64_decode(test_pool(), "====", 100, &out), -1);
    ck_assert_int_eq(ib_b64_decode(test_pool(), "aGVs\xc3\xa9G8=", 100, &out), -1);
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_b64_decode_rejects_output_beyond_max_len)
{
    unsigned char *out = NULL;
    ck_assert_int_eq(ib_b64_decode(test_pool(), "aGVsbG8=", 4, &out), -1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(ib_b64_decode(test_pool(), "aGVsbG8=", 5, &out), 5);
    ck_assert_str_eq((const char *)out, "hello");
}
END_TEST

START_TEST(test_b64_decode_rejects_long_input_beyond_max_len)
{
    /* 4000 characters decode to 3000 bytes. */
    char *in = apr_palloc(test_pool(), 4001);
    memset(in, 'A', 4000);
    in[4000] = '\0';
    unsigned char *out = NULL;
    ck_assert_int_eq(ib_b64_decode(test_pool(), in, 2999, &out), -1);
    ck_assert_int_eq(ib_b64_decode(test_pool(), in, 3000, &out), 3000);
}
END_TEST

START_TEST(test_b64_decode_accepts_max_len_with_line_breaks)
{
    /* 240 bytes, CRLF after every 64 characters (MIME style): the decoded
     * size is exactly max_len, so it must be accepted. */
    unsigned char data[240];
    for (int i = 0; i < 240; i++) {
        data[i] = (unsigned char)i;
    }
    const char *flat = ib_b64_encode(test_pool(), data, sizeof(data));
    size_t n = strlen(flat);
    char *wrapped = apr_palloc(test_pool(), n + n / 64 * 2 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        wrapped[o++] = flat[i];
        if ((i + 1) % 64 == 0) {
            wrapped[o++] = '\r';
            wrapped[o++] = '\n';
        }
    }
    wrapped[o] = '\0';
    unsigned char *out = NULL;
    ck_assert_int_eq(ib_b64_decode(test_pool(), wrapped, 240, &out), 240);
    ck_assert_int_eq(memcmp(out, data, 240), 0);
}
END_TEST

START_TEST(test_b64_decode_rejects_text_after_a_dash)
{
    /* OpenSSL's decoder stops at '-' (a PEM boundary); the bytes after it
     * must not be silently dropped. */
    unsigned char *out = NULL;
    long n = ib_b64_decode(test_pool(), "aGVs-bG8=", 100, &out);
    ck_assert_msg(n == -1, "\"aGVs-bG8=\" decoded to %ld bytes", n);
    n = ib_b64_decode(test_pool(), "aGVsbG8=-junk", 100, &out);
    ck_assert_msg(n == -1, "\"aGVsbG8=-junk\" decoded to %ld bytes", n);
}
END_TEST

START_TEST(test_b64_encode_known_values)
{
    ck_assert_str_eq(ib_b64_encode(test_pool(), (const unsigned char *)"hello", 5), "aGVsbG8=");
    ck_assert_str_eq(ib_b64_encode(test_pool(), (const unsigned char *)"hell", 4), "aGVsbA==");
    ck_assert_str_eq(ib_b64_encode(test_pool(), (const unsigned char *)"hel", 3), "aGVs");
    ck_assert_str_eq(ib_b64_encode(test_pool(), (const unsigned char *)"", 0), "");
}
END_TEST

START_TEST(test_b64_encode_is_one_line)
{
    unsigned char data[300];
    memset(data, 0x5a, sizeof(data));
    const char *e = ib_b64_encode(test_pool(), data, sizeof(data));
    ck_assert_uint_eq(strlen(e), 400);
    ck_assert_ptr_null(strchr(e, '\n'));
}
END_TEST

START_TEST(test_b64_round_trip_of_every_byte_value_and_length)
{
    unsigned char data[256];
    for (int i = 0; i < 256; i++) {
        data[i] = (unsigned char)(255 - i);
    }
    for (apr_size_t len = 1; len <= sizeof(data); len++) {
        const char *e = ib_b64_encode(test_pool(), data, len);
        unsigned char *out = NULL;
        ck_assert_int_eq(ib_b64_decode(test_pool(), e, len, &out), (long)len);
        ck_assert_int_eq(memcmp(out, data, len), 0);
    }
}
END_TEST

/* ---- ib_codec: random hex -------------------------------------------------- */

START_TEST(test_random_hex_has_twice_the_length_in_lowercase_hex)
{
    ck_assert_int_eq(is_lower_hex(ib_random_hex(test_pool(), 16), 32), 1);
    ck_assert_int_eq(is_lower_hex(ib_random_hex(test_pool(), 1), 2), 1);
    ck_assert_int_eq(is_lower_hex(ib_random_hex(test_pool(), 64), 128), 1);
    ck_assert_str_eq(ib_random_hex(test_pool(), 0), "");
}
END_TEST

START_TEST(test_random_hex_two_calls_differ)
{
    ck_assert_str_ne(ib_random_hex(test_pool(), 16), ib_random_hex(test_pool(), 16));
}
END_TEST

START_TEST(test_random_hex_refuses_more_than_64_bytes)
{
    ck_assert_ptr_null(ib_random_hex(test_pool(), 65));
}
END_TEST

/* ---- the per-process session memo ------------------------------------------ */

#define MEMO_NOW ((apr_time_t)1700000000 * APR_USEC_PER_SEC)

static int memo_get(ib_session_memo *m, const char *key, const char *record, ib_session *out)
{
    return ib_session_memo_lookup(m, test_pool(), key, record, strlen(record), MEMO_NOW, out);
}

static void memo_put(ib_session_memo *m, const char *key, const char *record,
                     const ib_session *s)
{
    ib_session_memo_store(m, key, record, strlen(record), 0, s);
}

START_TEST(test_memo_gives_back_every_field_for_the_same_record)
{
    ib_session_memo *m = ib_session_memo_create(test_pool(), 16);
    ib_session s = full_session();
    s.identity.azuread = 1;
    s.identity.fed_upn = "jdoe@corp.onmicrosoft.com";
    const char *rec = ib_session_encode(test_pool(), &s);
    memo_put(m, "k1", rec, &s);
    ib_session d;
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(memo_get(m, "k1", rec, &d), 1);
    ck_assert_str_eq(d.tenant, s.tenant);
    ck_assert_str_eq(d.host, s.host);
    ck_assert_str_eq(d.name_id, s.name_id);
    ck_assert_str_eq(d.authn_class, s.authn_class);
    ck_assert_ptr_null(d.id_token);
    ck_assert_str_eq(d.identity.fed_upn, s.identity.fed_upn);
    ck_assert_int_eq(d.identity.azuread, 1);
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        ck_assert_str_eq(d.identity.field[i], s.identity.field[i]);
    }
    ck_assert_int_eq(d.expires, s.expires);
    ck_assert_int_eq(d.last_seen, s.last_seen);
    /* A copy owned by the caller: changing it leaves the memo's alone. */
    d.last_seen = 0;
    ((char *)d.tenant)[0] = 'X';
    ib_session again;
    ck_assert_int_eq(memo_get(m, "k1", rec, &again), 1);
    ck_assert_str_eq(again.tenant, "acme");
    ck_assert_int_eq(again.last_seen, s.last_seen);
}
END_TEST

START_TEST(test_memo_misses_when_the_record_bytes_change)
{
    ib_session_memo *m = ib_session_memo_create(test_pool(), 16);
    ib_session s = full_session();
    const char *rec = ib_session_encode(test_pool(), &s);
    memo_put(m, "k1", rec, &s);
    ib_session d;
    /* One byte different (a newer last_seen, a forged record), one byte
     * shorter or longer: all decoded afresh by the caller. */
    char *changed = apr_pstrdup(test_pool(), rec);
    changed[strlen(changed) / 2] ^= 1;
    ck_assert_int_eq(memo_get(m, "k1", changed, &d), 0);
    ck_assert_int_eq(memo_get(m, "k1", apr_pstrndup(test_pool(), rec, strlen(rec) - 1), &d), 0);
    ck_assert_int_eq(memo_get(m, "k1", apr_pstrcat(test_pool(), rec, " ", NULL), &d), 0);
    /* The same bytes under another key (a record moved) are no hit either. */
    ck_assert_int_eq(memo_get(m, "k2", rec, &d), 0);
    /* Storing the new version replaces the old one. */
    memo_put(m, "k1", changed, &s);
    ck_assert_int_eq(memo_get(m, "k1", rec, &d), 0);
    ck_assert_int_eq(memo_get(m, "k1", changed, &d), 1);
    ck_assert_uint_eq(ib_session_memo_count(m), 1);
}
END_TEST

START_TEST(test_memo_forgets_a_removed_key)
{
    ib_session_memo *m = ib_session_memo_create(test_pool(), 16);
    ib_session s = full_session();
    memo_put(m, "k1", "rec", &s);
    memo_put(m, "k2", "rec", &s);
    ib_session_memo_forget(m, "k1");
    ib_session d;
    ck_assert_int_eq(memo_get(m, "k1", "rec", &d), 0);
    ck_assert_int_eq(memo_get(m, "k2", "rec", &d), 1);
    ck_assert_uint_eq(ib_session_memo_count(m), 1);
}
END_TEST

START_TEST(test_memo_entry_ends_at_its_valid_until)
{
    ib_session_memo *m = ib_session_memo_create(test_pool(), 16);
    ib_session s = full_session();
    ib_session_memo_store(m, "k1", "rec", 3, MEMO_NOW + 1, &s);
    ib_session d;
    ck_assert_int_eq(ib_session_memo_lookup(m, test_pool(), "k1", "rec", 3, MEMO_NOW, &d), 1);
    ck_assert_int_eq(ib_session_memo_lookup(m, test_pool(), "k1", "rec", 3, MEMO_NOW + 1, &d),
                     0);
}
END_TEST

START_TEST(test_memo_is_bounded_and_evicts_the_least_recently_used)
{
    /* One set: IB_MEMO_WAYS entries at most. */
    ib_session_memo *m = ib_session_memo_create(test_pool(), 1);
    ib_session s = full_session();
    ib_session d;
    ck_assert_int_ge(IB_MEMO_WAYS, 2);
    for (int i = 0; i < IB_MEMO_WAYS; i++) {
        memo_put(m, apr_psprintf(test_pool(), "k%d", i), "rec", &s);
    }
    ck_assert_uint_eq(ib_session_memo_count(m), IB_MEMO_WAYS);
    ck_assert_int_eq(memo_get(m, "k0", "rec", &d), 1);   /* k0 now the most recent */
    memo_put(m, "new", "rec", &s);
    ck_assert_uint_eq(ib_session_memo_count(m), IB_MEMO_WAYS);
    ck_assert_int_eq(memo_get(m, "new", "rec", &d), 1);
    ck_assert_int_eq(memo_get(m, "k0", "rec", &d), 1);
    ck_assert_int_eq(memo_get(m, "k1", "rec", &d), 0);   /* the least recently used went */
    /* Many keys in a larger memo: never more than its capacity. */
    ib_session_memo *big = ib_session_memo_create(test_pool(), 8);
    for (int i = 0; i < 500; i++) {
        memo_put(big, apr_psprintf(test_pool(), "key-%d", i), "rec", &s);
    }
    ck_assert_uint_le(ib_session_memo_count(big), 8 * IB_MEMO_WAYS);
    ck_assert_int_eq(memo_get(big, "key-499", "rec", &d), 1);
}
END_TEST

#if APR_HAS_THREADS
#include <apr_thread_proc.h>

typedef struct memo_worker {
    ib_session_memo *m;
    int id;
    int wrong;      /* a hit that gave another record's session */
} memo_worker;

/* Each thread stores and reads records whose tenant names their key and
 * version; a hit must give exactly that session back, whatever the other
 * threads replace or evict meanwhile in the same sets. */
static void *APR_THREAD_FUNC memo_hammer(apr_thread_t *t, void *data)
{
    memo_worker *w = data;
    apr_pool_t *p;
    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    ib_session s = full_session();
    for (int i = 0; i < 4000; i++) {
        apr_pool_clear(p);
        int k = (i * 7 + w->id) % 24;
        int version = i % 3;
        const char *key = apr_psprintf(p, "key-%d", k);
        const char *rec = apr_psprintf(p, "rec-%d-%d", k, version);
        s.tenant = rec;
        ib_session d;
        if (ib_session_memo_lookup(w->m, p, key, rec, strlen(rec), MEMO_NOW, &d)) {
            w->wrong += strcmp(d.tenant, rec) != 0;
        } else if (i % 5 == 0) {
            ib_session_memo_forget(w->m, key);
        } else {
            ib_session_memo_store(w->m, key, rec, strlen(rec), 0, &s);
        }
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

START_TEST(test_memo_is_safe_across_threads)
{
    ib_session_memo *m = ib_session_memo_create(test_pool(), 4);
    memo_worker w[4];
    apr_thread_t *t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (memo_worker){m, i, 0};
        ck_assert_int_eq(apr_thread_create(&t[i], NULL, memo_hammer, &w[i], test_pool()),
                         APR_SUCCESS);
    }
    for (int i = 0; i < 4; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, t[i]);
        ck_assert_int_eq(w[i].wrong, 0);
    }
    ck_assert_uint_le(ib_session_memo_count(m), 4 * IB_MEMO_WAYS);
}
END_TEST
#endif

START_TEST(test_store_keys_keep_their_form)
{
    /* "<c>.idb:<kind>:<sha256 hex>", c = '0' + the hash's first byte & 63. */
    const char *k = ib_store_session_key(test_pool(), "abc");
    ck_assert_str_eq(k + 1, ".idb:s:" SHA256_ABC);
    ck_assert_int_eq(k[0], '0' + (0xba & 0x3f));
    ck_assert_str_eq(ib_store_pending_key(test_pool(), "") + 1, ".idb:r:" SHA256_EMPTY);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");

    TCase *tc = test_tcase("session");
    tcase_add_test(tc, test_session_round_trip_keeps_every_field);
    tcase_add_test(tc, test_session_round_trip_keeps_azuread_identity);
    tcase_add_test(tc, test_session_round_trip_keeps_absent_optional_strings_absent);
    tcase_add_test(tc, test_session_times_keep_whole_seconds);
    tcase_add_test(tc, test_session_encode_is_one_line_json_with_version_1);
    tcase_add_test(tc, test_session_decode_rejects_garbage_json);
    tcase_add_test(tc, test_session_decode_rejects_wrong_version);
    tcase_add_test(tc, test_session_decode_rejects_missing_tenant);
    tcase_add_test(tc, test_session_decode_rejects_missing_host);
    tcase_add_test(tc, test_session_decode_rejects_missing_expires);
    tcase_add_test(tc, test_session_decode_rejects_wrongly_typed_fields);
    suite_add_tcase(s, tc);

    tc = test_tcase("pending");
    tcase_add_test(tc, test_pending_round_trip_keeps_every_field);
    tcase_add_test(tc, test_pending_decode_rejects_incomplete_records);
    tcase_add_test(tc, test_pending_decode_rejects_garbage_and_wrong_version);
    tcase_add_test(tc, test_session_record_is_not_a_pending_record);
    suite_add_tcase(s, tc);

    tc = test_tcase("keys");
    tcase_add_test(tc, test_sha256_hex_of_abc_is_known_digest);
    tcase_add_test(tc, test_sha256_hex_of_empty_string_is_known_digest);
    tcase_add_test(tc, test_session_key_is_prefix_and_hash_of_cookie);
    tcase_add_test(tc, test_session_key_does_not_contain_cookie_value);
    tcase_add_test(tc, test_store_keys_are_deterministic);
    tcase_add_test(tc, test_store_keys_differ_per_input);
    tcase_add_test(tc, test_store_key_kinds_have_distinct_prefixes);
    tcase_add_test(tc, test_store_keys_spread_over_shmcb_subcaches);
    tcase_add_test(tc, test_replay_key_separates_idp_from_assertion_id);
    suite_add_tcase(s, tc);

    tc = test_tcase("codec");
    tcase_add_test(tc, test_b64_decode_known_value);
    tcase_add_test(tc, test_b64_decode_keeps_nul_bytes);
    tcase_add_test(tc, test_b64_decode_accepts_line_breaks);
    tcase_add_test(tc, test_b64_decode_rejects_invalid_input);
    tcase_add_test(tc, test_b64_decode_rejects_output_beyond_max_len);
    tcase_add_test(tc, test_b64_decode_rejects_long_input_beyond_max_len);
    tcase_add_test(tc, test_b64_encode_known_values);
    tcase_add_test(tc, test_b64_encode_is_one_line);
    tcase_add_test(tc, test_b64_round_trip_of_every_byte_value_and_length);
    tcase_add_test(tc, test_random_hex_has_twice_the_length_in_lowercase_hex);
    tcase_add_test(tc, test_random_hex_two_calls_differ);
    tcase_add_test(tc, test_random_hex_refuses_more_than_64_bytes);
    suite_add_tcase(s, tc);

    /* Defects found in review, fixed; kept so they stay fixed. */
    tc = test_tcase("regressions");
    tcase_add_test(tc, test_b64_decode_accepts_max_len_with_line_breaks);
    tcase_add_test(tc, test_b64_decode_rejects_text_after_a_dash);
    tcase_add_test(tc, test_pending_decode_rejects_record_without_relay);
    suite_add_tcase(s, tc);
    tc = test_tcase("session-memo");
    tcase_add_test(tc, test_memo_gives_back_every_field_for_the_same_record);
    tcase_add_test(tc, test_memo_misses_when_the_record_bytes_change);
    tcase_add_test(tc, test_memo_forgets_a_removed_key);
    tcase_add_test(tc, test_memo_entry_ends_at_its_valid_until);
    tcase_add_test(tc, test_memo_is_bounded_and_evicts_the_least_recently_used);
#if APR_HAS_THREADS
    tcase_add_test(tc, test_memo_is_safe_across_threads);
#endif
    tcase_add_test(tc, test_store_keys_keep_their_form);
    suite_add_tcase(s, tc);
    return s;
}
