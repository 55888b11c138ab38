/* ib_identity: SID/GUID canonical forms, user@domain, and the identity built
 * from received attributes (ATTR-1..14, AAD-1..6). */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <openssl/evp.h>

#include "core/ib_identity.h"
#include "test_support.h"

#define SID_TEXT "S-1-5-21-1111111111-2222222222-3333333333-1104"
#define GUID_TEXT "6f9619ff-8b86-d011-b42d-00c04fc964ff"
#define GUID_BRACED "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"
#define MS_CLAIMS "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
#define AZURE_CLAIMS "http://schemas.microsoft.com/identity/claims/"

/* ---- binary fixtures (built here, independently of ib_codec) ------------ */

static const char *b64(const unsigned char *data, size_t len)
{
    char *out = apr_palloc(test_pool(), 4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* Binary SID: revision, sub-authority count (as written in byte 1, which may
 * lie), 48-bit authority big-endian, then nsubs sub-authorities
 * little-endian. */
static const char *sid_b64(int revision, int count, uint64_t authority,
                           const uint32_t *subs, int nsubs)
{
    unsigned char b[8 + 4 * 32];
    ck_assert_int_le(nsubs, 32);
    b[0] = (unsigned char)revision;
    b[1] = (unsigned char)count;
    for (int i = 0; i < 6; i++) {
        b[2 + i] = (unsigned char)(authority >> (8 * (5 - i)));
    }
    for (int i = 0; i < nsubs; i++) {
        for (int j = 0; j < 4; j++) {
            b[8 + 4 * i + j] = (unsigned char)(subs[i] >> (8 * j));
        }
    }
    return b64(b, 8 + 4 * (size_t)nsubs);
}

static const uint32_t SID_SUBS[] = {21, 1111111111u, 2222222222u, 3333333333u, 1104};
#define SID_NSUBS 5

/* The objectGUID bytes of GUID_TEXT, Data1..Data3 little-endian. */
static const unsigned char GUID_BYTES[16] = {
    0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0,
    0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF,
};

/* ---- attribute sets ------------------------------------------------------- */

static apr_array_header_t *attrs(void)
{
    return apr_array_make(test_pool(), 12, sizeof(ib_raw_attr));
}

/* Adds an attribute with the NULL-terminated list of values. */
static void add(apr_array_header_t *raw, const char *name, ...)
{
    ib_raw_attr *a = apr_array_push(raw);
    a->name = name;
    a->values = apr_array_make(test_pool(), 2, sizeof(const char *));
    va_list ap;
    va_start(ap, name);
    const char *v;
    while ((v = va_arg(ap, const char *)) != NULL) {
        APR_ARRAY_PUSH(a->values, const char *) = v;
    }
    va_end(ap);
}

/* An ADFS-like claim set with every field. */
static apr_array_header_t *adfs_set(void)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "jdoe@corp.example.com", NULL);
    add(raw, "cip_sid", SID_TEXT, NULL);
    add(raw, "cip_oid", GUID_BRACED, NULL);
    add(raw, "cip_email", "john.doe@example.com", NULL);
    add(raw, "displayName", "John Doe", NULL);
    add(raw, "firstName", "John", NULL);
    add(raw, "lastName", "Doe", NULL);
    add(raw, "cip_forest", "corp.example.com", NULL);
    add(raw, "cip_domain", "CORP", NULL);
    return raw;
}

/* The names every test that wants no display hints adds. */
static void add_names(apr_array_header_t *raw)
{
    add(raw, "displayName", "John Doe", NULL);
    add(raw, "firstName", "John", NULL);
    add(raw, "lastName", "Doe", NULL);
}

typedef struct {
    int ok;
    ib_identity id;
    apr_array_header_t *problems; /* ib_attr_problem */
    apr_array_header_t *hints;    /* const char * */
} built;

static built build_with(const ib_attr_names *names, const apr_array_header_t *raw,
                        int admin_flow)
{
    built b;
    memset(&b, 0, sizeof(b));
    b.ok = ib_identity_build(test_pool(), names, raw, admin_flow, &b.id, &b.problems,
                             &b.hints);
    ck_assert_ptr_nonnull(b.problems);
    ck_assert_ptr_nonnull(b.hints);
    ck_assert_int_eq(b.ok, b.problems->nelts == 0);
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        ck_assert_msg(b.id.field[i] != NULL, "field %s is NULL", ib_attr_field_names[i]);
    }
    return b;
}

static built build(const apr_array_header_t *raw)
{
    ib_attr_names names;
    ib_attr_names_default(&names);
    return build_with(&names, raw, 0);
}

static const ib_attr_problem *problem_at(const built *b, int i)
{
    ck_assert_int_lt(i, b->problems->nelts);
    return &APR_ARRAY_IDX(b->problems, i, ib_attr_problem);
}

/* Asserts that exactly one problem exists, for name, its reason holding
 * reason_part. */
static void assert_only_problem(const built *b, const char *name, const char *reason_part)
{
    ck_assert_int_eq(b->ok, 0);
    ck_assert_int_eq(b->problems->nelts, 1);
    const ib_attr_problem *pr = problem_at(b, 0);
    ck_assert_str_eq(pr->name, name);
    ck_assert_err_has(pr->reason, reason_part);
}

static int hint_count_with(const built *b, const char *needle)
{
    int n = 0;
    for (int i = 0; i < b->hints->nelts; i++) {
        if (strstr(APR_ARRAY_IDX(b->hints, i, const char *), needle) != NULL) {
            n++;
        }
    }
    return n;
}

/* ---- ib_sid_canonical ---------------------------------------------------- */

START_TEST(test_sid_string_passes_unchanged)
{
    ck_assert_str_eq(ib_sid_canonical(test_pool(), SID_TEXT), SID_TEXT);
    ck_assert_str_eq(ib_sid_canonical(test_pool(), "S-1-5-32"), "S-1-5-32");
}
END_TEST

START_TEST(test_sid_string_with_fifteen_subauthorities_passes)
{
    const char *s = "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15";
    ck_assert_str_eq(ib_sid_canonical(test_pool(), s), s);
}
END_TEST

START_TEST(test_sid_base64_binary_gives_string_form)
{
    const char *v = sid_b64(1, SID_NSUBS, 5, SID_SUBS, SID_NSUBS);
    ck_assert_str_eq(ib_sid_canonical(test_pool(), v), SID_TEXT);
}
END_TEST

START_TEST(test_sid_rejects_authority_without_subauthority)
{
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), "S-1-5"));
}
END_TEST

START_TEST(test_sid_rejects_trailing_dash)
{
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), "S-1-5-21-"));
}
END_TEST

START_TEST(test_sid_rejects_lowercase_prefix)
{
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), "s-1-5-21-1"));
}
END_TEST

START_TEST(test_sid_rejects_sixteen_subauthorities)
{
    ck_assert_ptr_null(ib_sid_canonical(test_pool(),
                                        "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16"));
    uint32_t subs[16];
    for (int i = 0; i < 16; i++) {
        subs[i] = (uint32_t)i + 1;
    }
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), sid_b64(1, 16, 5, subs, 16)));
}
END_TEST

START_TEST(test_sid_rejects_malformed_strings)
{
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), "S-1-5--21"));
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), "S-1-5-21-x"));
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), "S-2-5-21-1"));
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), "S-1-5-21-12345678901"));
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), " S-1-5-21-1"));
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), ""));
}
END_TEST

START_TEST(test_sid_rejects_garbage_base64)
{
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), "!!!not base64!!!"));
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), "AQUAAAAAAAU"));
}
END_TEST

START_TEST(test_sid_rejects_binary_whose_length_does_not_match_count)
{
    /* count says 5, 4 sub-authorities follow; and count 4 with 5 following */
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), sid_b64(1, 5, 5, SID_SUBS, 4)));
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), sid_b64(1, 4, 5, SID_SUBS, 5)));
}
END_TEST

START_TEST(test_sid_rejects_binary_revision_2)
{
    ck_assert_ptr_null(ib_sid_canonical(test_pool(),
                                        sid_b64(2, SID_NSUBS, 5, SID_SUBS, SID_NSUBS)));
}
END_TEST

START_TEST(test_sid_rejects_binary_shorter_than_header)
{
    static const unsigned char b[7] = {1, 0, 0, 0, 0, 0, 0};
    ck_assert_ptr_null(ib_sid_canonical(test_pool(), b64(b, sizeof(b))));
}
END_TEST

START_TEST(test_sid_binary_without_subauthorities_is_refused)
{
    /* The string form requires at least one sub-authority (ATTR-4), so the
     * binary form must too: "S-1-5" is not a SID here. */
    const char *v = sid_b64(1, 0, 5, NULL, 0);
    const char *s = ib_sid_canonical(test_pool(), v);
    ck_assert_msg(s == NULL, "a binary SID without sub-authorities gave '%s'", s);
}
END_TEST

/* ---- ib_guid_canonical ---------------------------------------------------- */

START_TEST(test_guid_braced_uppercase_becomes_lowercase)
{
    ck_assert_str_eq(ib_guid_canonical(test_pool(), GUID_BRACED), GUID_TEXT);
}
END_TEST

START_TEST(test_guid_plain_string_is_lowercased)
{
    ck_assert_str_eq(ib_guid_canonical(test_pool(), "6F9619FF-8B86-D011-B42D-00C04FC964FF"),
                     GUID_TEXT);
    ck_assert_str_eq(ib_guid_canonical(test_pool(), GUID_TEXT), GUID_TEXT);
}
END_TEST

START_TEST(test_guid_base64_uses_microsoft_mixed_endian_layout)
{
    ck_assert_str_eq(ib_guid_canonical(test_pool(), b64(GUID_BYTES, 16)), GUID_TEXT);
}
END_TEST

START_TEST(test_guid_rejects_unconfigured_placeholder)
{
    /* ATTR-10: ADFS's placeholder when objectGUID is not mapped. */
    ck_assert_ptr_null(ib_guid_canonical(test_pool(), "ObjectGUID_MUST_BE_CONFIGURED"));
}
END_TEST

START_TEST(test_guid_rejects_base64_of_15_or_17_bytes)
{
    unsigned char b[17];
    memcpy(b, GUID_BYTES, 16);
    b[16] = 0x01;
    ck_assert_ptr_null(ib_guid_canonical(test_pool(), b64(b, 15)));
    ck_assert_ptr_null(ib_guid_canonical(test_pool(), b64(b, 17)));
}
END_TEST

START_TEST(test_guid_rejects_non_hex_strings)
{
    ck_assert_ptr_null(ib_guid_canonical(test_pool(), "6g9619ff-8b86-d011-b42d-00c04fc964ff"));
    ck_assert_ptr_null(ib_guid_canonical(test_pool(), "{6G9619FF-8B86-D011-B42D-00C04FC964FF}"));
    ck_assert_ptr_null(ib_guid_canonical(test_pool(), "6f9619ff8-b86-d011-b42d-00c04fc964ff"));
    ck_assert_ptr_null(ib_guid_canonical(test_pool(), "{6f9619ff-8b86-d011-b42d-00c04fc964ff"));
    ck_assert_ptr_null(ib_guid_canonical(test_pool(), "6f9619ff-8b86-d011-b42d-00c04fc964f"));
    ck_assert_ptr_null(ib_guid_canonical(test_pool(), ""));
}
END_TEST

START_TEST(test_guid_rejects_base64_with_text_after_a_dash)
{
    const char *v = apr_pstrcat(test_pool(), b64(GUID_BYTES, 16), "-not-part-of-it", NULL);
    const char *g = ib_guid_canonical(test_pool(), v);
    ck_assert_msg(g == NULL, "'%s' was accepted as GUID %s", v, g);
}
END_TEST

/* ---- ib_is_user_at_domain -------------------------------------------------- */

START_TEST(test_user_at_domain_accepts_one_at_with_both_parts)
{
    ck_assert_int_eq(ib_is_user_at_domain("a@b"), 1);
    ck_assert_int_eq(ib_is_user_at_domain("jdoe@corp.example.com"), 1);
}
END_TEST

START_TEST(test_user_at_domain_rejects_empty_parts)
{
    ck_assert_int_eq(ib_is_user_at_domain("@b"), 0);
    ck_assert_int_eq(ib_is_user_at_domain("a@"), 0);
    ck_assert_int_eq(ib_is_user_at_domain(""), 0);
    ck_assert_int_eq(ib_is_user_at_domain("ab"), 0);
}
END_TEST

START_TEST(test_user_at_domain_rejects_more_than_one_at)
{
    ck_assert_int_eq(ib_is_user_at_domain("a@@b"), 0);
    ck_assert_int_eq(ib_is_user_at_domain("a@b@c"), 0);
}
END_TEST

START_TEST(test_user_at_domain_rejects_spaces_and_controls)
{
    ck_assert_int_eq(ib_is_user_at_domain("a b@c"), 0);
    ck_assert_int_eq(ib_is_user_at_domain("a@b c"), 0);
    ck_assert_int_eq(ib_is_user_at_domain("a@b\n"), 0);
    ck_assert_int_eq(ib_is_user_at_domain("a\t@b"), 0);
    ck_assert_int_eq(ib_is_user_at_domain("a@b\x7f"), 0);
}
END_TEST

/* ---- ib_identity_build: the default attribute names ----------------------- */

START_TEST(test_build_default_names_are_the_field_names)
{
    ib_attr_names names;
    ib_attr_names_default(&names);
    static const char *const want[IB_ATTR_COUNT] = {
        "cip_upn", "cip_sid", "cip_oid", "cip_email", "displayName", "firstName",
        "lastName", "cip_forest", "cip_domain",
    };
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        ck_assert_str_eq(names.name[i], want[i]);
    }
}
END_TEST

START_TEST(test_build_full_adfs_set_gives_canonical_identity)
{
    built b = build(adfs_set());
    ck_assert_int_eq(b.ok, 1);
    ck_assert_int_eq(b.problems->nelts, 0);
    ck_assert_int_eq(b.hints->nelts, 0);
    ck_assert_str_eq(b.id.field[IB_ATTR_UPN], "jdoe@corp.example.com");
    ck_assert_str_eq(b.id.field[IB_ATTR_SID], SID_TEXT);
    ck_assert_str_eq(b.id.field[IB_ATTR_OID], GUID_TEXT);
    ck_assert_str_eq(b.id.field[IB_ATTR_EMAIL], "john.doe@example.com");
    ck_assert_str_eq(b.id.field[IB_ATTR_DISPLAY_NAME], "John Doe");
    ck_assert_str_eq(b.id.field[IB_ATTR_FIRST_NAME], "John");
    ck_assert_str_eq(b.id.field[IB_ATTR_LAST_NAME], "Doe");
    ck_assert_str_eq(b.id.field[IB_ATTR_FOREST], "corp.example.com");
    ck_assert_str_eq(b.id.field[IB_ATTR_DOMAIN], "CORP");
    ck_assert_int_eq(b.id.azuread, 0);
    ck_assert_ptr_null(b.id.fed_upn);
}
END_TEST

START_TEST(test_build_canonicalises_base64_oid)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "jdoe@corp.example.com", NULL);
    add(raw, "cip_oid", b64(GUID_BYTES, 16), NULL);
    add_names(raw);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_str_eq(b.id.field[IB_ATTR_OID], GUID_TEXT);
}
END_TEST

START_TEST(test_build_canonicalises_base64_sid)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_sid", sid_b64(1, SID_NSUBS, 5, SID_SUBS, SID_NSUBS), NULL);
    add_names(raw);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_str_eq(b.id.field[IB_ATTR_SID], SID_TEXT);
}
END_TEST

START_TEST(test_build_without_upn_and_sid_reports_both)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_email", "john.doe@example.com", NULL);
    add_names(raw);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 0);
    ck_assert_int_eq(b.problems->nelts, 2);
    ck_assert_str_eq(problem_at(&b, 0)->name, "cip_upn");
    ck_assert_str_eq(problem_at(&b, 1)->name, "cip_sid");
    ck_assert_err_has(problem_at(&b, 0)->reason, "missing");
    ck_assert_err_has(problem_at(&b, 1)->reason, "missing");
    ck_assert_err_has(problem_at(&b, 0)->reason, "one of UPN or SID is required");
}
END_TEST

START_TEST(test_build_with_only_sid_is_ok_with_empty_upn)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_sid", SID_TEXT, NULL);
    add_names(raw);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_str_eq(b.id.field[IB_ATTR_SID], SID_TEXT);
    ck_assert_str_eq(b.id.field[IB_ATTR_UPN], "");
    ck_assert_str_eq(b.id.field[IB_ATTR_OID], "");
    ck_assert_str_eq(b.id.field[IB_ATTR_EMAIL], "");
}
END_TEST

START_TEST(test_build_with_only_upn_is_ok_with_empty_sid)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "jdoe@corp.example.com", NULL);
    add_names(raw);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_str_eq(b.id.field[IB_ATTR_UPN], "jdoe@corp.example.com");
    ck_assert_str_eq(b.id.field[IB_ATTR_SID], "");
}
END_TEST

START_TEST(test_build_multi_valued_upn_is_a_problem)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "jdoe@corp.example.com", "john@corp.example.com", NULL);
    add(raw, "cip_sid", SID_TEXT, NULL);
    add_names(raw);
    built b = build(raw);
    assert_only_problem(&b, "cip_upn", "multi-valued");
    ck_assert_str_eq(b.id.field[IB_ATTR_UPN], "");
}
END_TEST

START_TEST(test_build_multi_valued_display_name_takes_first_value)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "jdoe@corp.example.com", NULL);
    add(raw, "displayName", "John Doe", "Johnny", NULL);
    add(raw, "firstName", "John", NULL);
    add(raw, "lastName", "Doe", NULL);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_str_eq(b.id.field[IB_ATTR_DISPLAY_NAME], "John Doe");
}
END_TEST

START_TEST(test_build_empty_attribute_value_counts_as_missing)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "", NULL);
    add(raw, "cip_sid", "", NULL);
    add_names(raw);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 0);
    ck_assert_int_eq(b.problems->nelts, 2);
    ck_assert_str_eq(problem_at(&b, 0)->name, "cip_upn");
    ck_assert_err_has(problem_at(&b, 0)->reason, "missing");
    ck_assert_str_eq(problem_at(&b, 1)->name, "cip_sid");
    ck_assert_err_has(problem_at(&b, 1)->reason, "missing");
}
END_TEST

START_TEST(test_build_empty_value_beside_real_value_is_not_multi_valued)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "", "jdoe@corp.example.com", NULL);
    add_names(raw);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_str_eq(b.id.field[IB_ATTR_UPN], "jdoe@corp.example.com");
}
END_TEST

START_TEST(test_build_bad_email_is_a_problem_naming_cip_email)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "jdoe@corp.example.com", NULL);
    add(raw, "cip_email", "john.doe", NULL);
    add_names(raw);
    built b = build(raw);
    assert_only_problem(&b, "cip_email", "not of the form user@domain");
    ck_assert_str_eq(b.id.field[IB_ATTR_EMAIL], "");
}
END_TEST

START_TEST(test_build_bad_upn_is_a_problem_without_missing_noise)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "CORP\\jdoe", NULL);
    add_names(raw);
    built b = build(raw);
    assert_only_problem(&b, "cip_upn", "not of the form user@domain");
}
END_TEST

START_TEST(test_build_bad_sid_is_a_problem)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "jdoe@corp.example.com", NULL);
    add(raw, "cip_sid", "S-1-5", NULL);
    add_names(raw);
    built b = build(raw);
    assert_only_problem(&b, "cip_sid", "not a SID");
}
END_TEST

START_TEST(test_build_unconfigured_oid_placeholder_is_a_problem)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "jdoe@corp.example.com", NULL);
    add(raw, "cip_oid", "ObjectGUID_MUST_BE_CONFIGURED", NULL);
    add_names(raw);
    built b = build(raw);
    assert_only_problem(&b, "cip_oid", "not a GUID");
}
END_TEST

START_TEST(test_build_missing_display_name_is_ok_with_hint)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "jdoe@corp.example.com", NULL);
    add(raw, "firstName", "John", NULL);
    add(raw, "lastName", "Doe", NULL);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_int_eq(b.hints->nelts, 1);
    const char *h = APR_ARRAY_IDX(b.hints, 0, const char *);
    ck_assert_err_has(h, "displayName");
    ck_assert_err_has(h, "missing or empty");
    ck_assert_str_eq(b.id.field[IB_ATTR_DISPLAY_NAME], "");
}
END_TEST

START_TEST(test_build_namespaced_upn_is_not_upn_and_is_hinted)
{
    apr_array_header_t *raw = attrs();
    add(raw, MS_CLAIMS "cip_upn", "jdoe@corp.example.com", NULL);
    add_names(raw);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 0);
    ck_assert_str_eq(b.id.field[IB_ATTR_UPN], "");
    ck_assert_int_eq(b.problems->nelts, 2);
    ck_assert_str_eq(problem_at(&b, 0)->name, "cip_upn");
    ck_assert_int_eq(hint_count_with(&b, "namespace prefix"), 1);
    ck_assert_int_eq(hint_count_with(&b, MS_CLAIMS "cip_upn"), 1);
}
END_TEST

START_TEST(test_build_ignores_azure_uri_claims)
{
    apr_array_header_t *raw = adfs_set();
    add(raw, AZURE_CLAIMS "tenantid", "72f988bf-86f1-41af-91ab-2d7cd011db47", NULL);
    add(raw, AZURE_CLAIMS "objectidentifier", "not-even-a-guid", NULL);
    add(raw, AZURE_CLAIMS "identityprovider", "https://sts.windows.net/x/", NULL);
    add(raw, "http://schemas.microsoft.com/claims/authnmethodsreferences",
        "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password",
        "multipleauthn", NULL);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_int_eq(b.hints->nelts, 0);
    ck_assert_str_eq(b.id.field[IB_ATTR_OID], GUID_TEXT);
}
END_TEST

START_TEST(test_build_matches_names_case_sensitively)
{
    apr_array_header_t *raw = attrs();
    add(raw, "CIP_UPN", "jdoe@corp.example.com", NULL);
    add(raw, "Cip_Sid", SID_TEXT, NULL);
    add_names(raw);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 0);
    ck_assert_str_eq(b.id.field[IB_ATTR_UPN], "");
    ck_assert_str_eq(b.id.field[IB_ATTR_SID], "");
    ck_assert_int_eq(b.problems->nelts, 2);
    ck_assert_str_eq(problem_at(&b, 0)->name, "cip_upn");
    ck_assert_str_eq(problem_at(&b, 1)->name, "cip_sid");
}
END_TEST

START_TEST(test_build_uses_renamed_attribute)
{
    ib_attr_names names;
    ib_attr_names_default(&names);
    names.name[IB_ATTR_UPN] = "userPrincipalName";
    apr_array_header_t *raw = attrs();
    add(raw, "userPrincipalName", "jdoe@corp.example.com", NULL);
    add(raw, "cip_upn", "other@corp.example.com", NULL);
    add_names(raw);
    built b = build_with(&names, raw, 0);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_str_eq(b.id.field[IB_ATTR_UPN], "jdoe@corp.example.com");
}
END_TEST

START_TEST(test_build_problem_names_renamed_attribute)
{
    ib_attr_names names;
    ib_attr_names_default(&names);
    names.name[IB_ATTR_UPN] = "userPrincipalName";
    apr_array_header_t *raw = attrs();
    add_names(raw);
    built b = build_with(&names, raw, 0);
    ck_assert_int_eq(b.problems->nelts, 2);
    ck_assert_str_eq(problem_at(&b, 0)->name, "userPrincipalName");
    ck_assert_str_eq(problem_at(&b, 1)->name, "cip_sid");
}
END_TEST

START_TEST(test_build_ignores_disabled_field_even_if_present)
{
    ib_attr_names names;
    ib_attr_names_default(&names);
    names.name[IB_ATTR_EMAIL] = NULL;
    names.name[IB_ATTR_DISPLAY_NAME] = NULL;
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "jdoe@corp.example.com", NULL);
    add(raw, "cip_email", "not an email", NULL);
    add(raw, "firstName", "John", NULL);
    add(raw, "lastName", "Doe", NULL);
    built b = build_with(&names, raw, 0);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_int_eq(b.hints->nelts, 0); /* no hint for the disabled displayName */
    ck_assert_str_eq(b.id.field[IB_ATTR_EMAIL], "");
    ck_assert_str_eq(b.id.field[IB_ATTR_DISPLAY_NAME], "");
}
END_TEST

START_TEST(test_build_disabled_upn_is_not_read)
{
    ib_attr_names names;
    ib_attr_names_default(&names);
    names.name[IB_ATTR_UPN] = NULL;
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", "jdoe@corp.example.com", NULL);
    add(raw, "cip_sid", SID_TEXT, NULL);
    add_names(raw);
    built b = build_with(&names, raw, 0);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_str_eq(b.id.field[IB_ATTR_UPN], "");
    ck_assert_str_eq(b.id.field[IB_ATTR_SID], SID_TEXT);
}
END_TEST

/* ---- ib_identity_build: cip_directory=azuread (AAD-1..6) ------------------ */

START_TEST(test_azuread_mode_does_not_require_upn_or_sid)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_directory", "azuread", NULL);
    add(raw, "cip_fed_upn", "jdoe@contoso.com", NULL);
    add_names(raw);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_int_eq(b.id.azuread, 1);
    ck_assert_str_eq(b.id.fed_upn, "jdoe@contoso.com");
    ck_assert_str_eq(b.id.field[IB_ATTR_UPN], "");
    ck_assert_str_eq(b.id.field[IB_ATTR_SID], "");
}
END_TEST

START_TEST(test_azuread_mode_requires_fed_upn)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_directory", "azuread", NULL);
    add_names(raw);
    built b = build(raw);
    assert_only_problem(&b, "cip_fed_upn", "missing");
    ck_assert_ptr_null(b.id.fed_upn);
}
END_TEST

START_TEST(test_azuread_mode_refuses_multi_valued_fed_upn)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_directory", "azuread", NULL);
    add(raw, "cip_fed_upn", "jdoe@contoso.com", "john@contoso.com", NULL);
    add_names(raw);
    built b = build(raw);
    assert_only_problem(&b, "cip_fed_upn", "multi-valued");
}
END_TEST

START_TEST(test_azuread_mode_refuses_fed_upn_not_user_at_domain)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_directory", "azuread", NULL);
    add(raw, "cip_fed_upn", "jdoe", NULL);
    add_names(raw);
    built b = build(raw);
    assert_only_problem(&b, "cip_fed_upn", "not of the form user@domain");
}
END_TEST

START_TEST(test_azuread_mode_refuses_onmicrosoft_upn)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_directory", "azuread", NULL);
    add(raw, "cip_fed_upn", "jdoe@contoso.onmicrosoft.com", NULL);
    add_names(raw);
    built b = build(raw);
    assert_only_problem(&b, "cip_fed_upn", "onmicrosoft.com UPNs are not supported");
    ck_assert_ptr_null(b.id.fed_upn);
}
END_TEST

START_TEST(test_azuread_mode_refuses_onmicrosoft_upn_in_any_case)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_directory", "azuread", NULL);
    add(raw, "cip_fed_upn", "JDOE@CONTOSO.OnMicrosoft.COM", NULL);
    add_names(raw);
    built b = build(raw);
    assert_only_problem(&b, "cip_fed_upn", "onmicrosoft.com UPNs are not supported");
}
END_TEST

START_TEST(test_azuread_mode_refused_in_admin_flow)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_directory", "azuread", NULL);
    add(raw, "cip_fed_upn", "jdoe@contoso.com", NULL);
    add_names(raw);
    ib_attr_names names;
    ib_attr_names_default(&names);
    built b = build_with(&names, raw, 1);
    assert_only_problem(&b, "cip_directory", "cannot sign in as administrators");
}
END_TEST

START_TEST(test_admin_flow_without_azuread_is_ok)
{
    ib_attr_names names;
    ib_attr_names_default(&names);
    built b = build_with(&names, adfs_set(), 1);
    ck_assert_int_eq(b.ok, 1);
    ck_assert_int_eq(b.id.azuread, 0);
}
END_TEST

START_TEST(test_azuread_other_directory_value_is_a_problem)
{
    apr_array_header_t *raw = adfs_set();
    add(raw, "cip_directory", "ldap", NULL);
    built b = build(raw);
    assert_only_problem(&b, "cip_directory", "the only accepted value is 'azuread'");
    ck_assert_int_eq(b.id.azuread, 0);
}
END_TEST

START_TEST(test_azuread_directory_value_is_case_sensitive)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_directory", "AzureAD", NULL);
    add(raw, "cip_fed_upn", "jdoe@contoso.com", NULL);
    add_names(raw);
    built b = build(raw);
    assert_only_problem(&b, "cip_directory", "the only accepted value is 'azuread'");
}
END_TEST

/* ---- values never leak into problems -------------------------------------- */

START_TEST(test_build_problems_never_contain_values)
{
    static const char *const secret_upn = "secret-upn-value";
    static const char *const secret_sid = "S-1-secret-sid";
    static const char *const secret_oid = "secret-guid-value";
    static const char *const secret_mail = "secret.mail.value";
    apr_array_header_t *raw = attrs();
    add(raw, "cip_upn", secret_upn, NULL);
    add(raw, "cip_sid", secret_sid, NULL);
    add(raw, "cip_oid", secret_oid, NULL);
    add(raw, "cip_email", secret_mail, "second-secret@example.com", NULL);
    add(raw, "cip_directory", "secret-directory", NULL);
    add_names(raw);
    built b = build(raw);
    ck_assert_int_eq(b.ok, 0);
    ck_assert_int_eq(b.problems->nelts, 5);
    static const char *const values[] = {
        "secret-upn-value", "S-1-secret-sid", "secret-guid-value", "secret.mail.value",
        "second-secret@example.com", "secret-directory",
    };
    for (int i = 0; i < b.problems->nelts; i++) {
        const ib_attr_problem *pr = problem_at(&b, i);
        for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
            ck_assert_msg(strstr(pr->reason, values[v]) == NULL,
                          "problem %s: reason '%s' leaks '%s'", pr->name, pr->reason,
                          values[v]);
            ck_assert_msg(strstr(pr->name, values[v]) == NULL,
                          "problem name '%s' leaks '%s'", pr->name, values[v]);
        }
    }
}
END_TEST

START_TEST(test_azuread_problems_never_contain_values)
{
    apr_array_header_t *raw = attrs();
    add(raw, "cip_directory", "azuread", NULL);
    add(raw, "cip_fed_upn", "secretuser@secret-tenant.onmicrosoft.com", NULL);
    add_names(raw);
    ib_attr_names names;
    ib_attr_names_default(&names);
    built b = build_with(&names, raw, 1);
    ck_assert_int_eq(b.problems->nelts, 2);
    for (int i = 0; i < b.problems->nelts; i++) {
        const ib_attr_problem *pr = problem_at(&b, i);
        ck_assert_msg(strstr(pr->reason, "secretuser") == NULL
                      && strstr(pr->reason, "secret-tenant") == NULL,
                      "reason '%s' leaks the UPN", pr->reason);
    }
}
END_TEST

Suite *identity_suite(void)
{
    Suite *s = suite_create("identity");

    TCase *tc = test_tcase("sid");
    tcase_add_test(tc, test_sid_string_passes_unchanged);
    tcase_add_test(tc, test_sid_string_with_fifteen_subauthorities_passes);
    tcase_add_test(tc, test_sid_rejects_authority_without_subauthority);
    tcase_add_test(tc, test_sid_rejects_trailing_dash);
    tcase_add_test(tc, test_sid_rejects_lowercase_prefix);
    tcase_add_test(tc, test_sid_rejects_sixteen_subauthorities);
    tcase_add_test(tc, test_sid_rejects_malformed_strings);
    tcase_add_test(tc, test_sid_rejects_garbage_base64);
    tcase_add_test(tc, test_sid_rejects_binary_whose_length_does_not_match_count);
    tcase_add_test(tc, test_sid_rejects_binary_revision_2);
    tcase_add_test(tc, test_sid_rejects_binary_shorter_than_header);
    suite_add_tcase(s, tc);

    tc = test_tcase("guid");
    tcase_add_test(tc, test_guid_braced_uppercase_becomes_lowercase);
    tcase_add_test(tc, test_guid_plain_string_is_lowercased);
    tcase_add_test(tc, test_guid_base64_uses_microsoft_mixed_endian_layout);
    tcase_add_test(tc, test_guid_rejects_unconfigured_placeholder);
    tcase_add_test(tc, test_guid_rejects_base64_of_15_or_17_bytes);
    tcase_add_test(tc, test_guid_rejects_non_hex_strings);
    suite_add_tcase(s, tc);

    tc = test_tcase("user_at_domain");
    tcase_add_test(tc, test_user_at_domain_accepts_one_at_with_both_parts);
    tcase_add_test(tc, test_user_at_domain_rejects_empty_parts);
    tcase_add_test(tc, test_user_at_domain_rejects_more_than_one_at);
    tcase_add_test(tc, test_user_at_domain_rejects_spaces_and_controls);
    suite_add_tcase(s, tc);

    tc = test_tcase("build");
    tcase_add_test(tc, test_build_default_names_are_the_field_names);
    tcase_add_test(tc, test_build_full_adfs_set_gives_canonical_identity);
    tcase_add_test(tc, test_build_canonicalises_base64_oid);
    tcase_add_test(tc, test_build_without_upn_and_sid_reports_both);
    tcase_add_test(tc, test_build_with_only_sid_is_ok_with_empty_upn);
    tcase_add_test(tc, test_build_with_only_upn_is_ok_with_empty_sid);
    tcase_add_test(tc, test_build_multi_valued_upn_is_a_problem);
    tcase_add_test(tc, test_build_multi_valued_display_name_takes_first_value);
    tcase_add_test(tc, test_build_empty_attribute_value_counts_as_missing);
    tcase_add_test(tc, test_build_empty_value_beside_real_value_is_not_multi_valued);
    tcase_add_test(tc, test_build_bad_email_is_a_problem_naming_cip_email);
    tcase_add_test(tc, test_build_bad_upn_is_a_problem_without_missing_noise);
    tcase_add_test(tc, test_build_bad_sid_is_a_problem);
    tcase_add_test(tc, test_build_unconfigured_oid_placeholder_is_a_problem);
    tcase_add_test(tc, test_build_missing_display_name_is_ok_with_hint);
    tcase_add_test(tc, test_build_namespaced_upn_is_not_upn_and_is_hinted);
    tcase_add_test(tc, test_build_ignores_azure_uri_claims);
    tcase_add_test(tc, test_build_matches_names_case_sensitively);
    tcase_add_test(tc, test_build_uses_renamed_attribute);
    tcase_add_test(tc, test_build_problem_names_renamed_attribute);
    tcase_add_test(tc, test_build_ignores_disabled_field_even_if_present);
    tcase_add_test(tc, test_build_disabled_upn_is_not_read);
    tcase_add_test(tc, test_build_problems_never_contain_values);
    suite_add_tcase(s, tc);

    tc = test_tcase("azuread");
    tcase_add_test(tc, test_azuread_mode_does_not_require_upn_or_sid);
    tcase_add_test(tc, test_azuread_mode_requires_fed_upn);
    tcase_add_test(tc, test_azuread_mode_refuses_multi_valued_fed_upn);
    tcase_add_test(tc, test_azuread_mode_refuses_fed_upn_not_user_at_domain);
    tcase_add_test(tc, test_azuread_mode_refuses_onmicrosoft_upn);
    tcase_add_test(tc, test_azuread_mode_refuses_onmicrosoft_upn_in_any_case);
    tcase_add_test(tc, test_azuread_mode_refused_in_admin_flow);
    tcase_add_test(tc, test_admin_flow_without_azuread_is_ok);
    tcase_add_test(tc, test_azuread_other_directory_value_is_a_problem);
    tcase_add_test(tc, test_azuread_directory_value_is_case_sensitive);
    tcase_add_test(tc, test_azuread_problems_never_contain_values);
    suite_add_tcase(s, tc);

    /* Defects found in review, fixed; kept so they stay fixed. */
    tc = test_tcase("regressions");
    tcase_add_test(tc, test_sid_base64_binary_gives_string_form);
    tcase_add_test(tc, test_build_canonicalises_base64_sid);
    tcase_add_test(tc, test_sid_binary_without_subauthorities_is_refused);
    tcase_add_test(tc, test_guid_rejects_base64_with_text_after_a_dash);
    suite_add_tcase(s, tc);
    return s;
}
