/* ib_url_check_target: the one redirect-target validator (return URLs,
 * post-logout targets). A payload list of open-redirect tricks must all be
 * refused; the legitimate forms must pass unchanged. */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "core/ib_url.h"
#include "test_support.h"

static const char *check(const char *target)
{
    ib_base_url base;
    memset(&base, 0, sizeof(base));
    ck_assert_ptr_null(ib_url_parse_base(test_pool(), "https://saml.example.test", &base));
    apr_array_header_t *origins = apr_array_make(test_pool(), 1, sizeof(const char *));
    APR_ARRAY_PUSH(origins, const char *) = "https://portal.example.test";
    return ib_url_check_target(test_pool(), target, &base, origins);
}

static const char *const ACCEPTED[] = {
    "/", "/portal/", "/portal/index.html?x=1&y=2", "/a#frag",
    "https://saml.example.test/", "https://saml.example.test/x?y=1",
    "https://SAML.example.test/x", "https://saml.example.test:443/x",
    "https://portal.example.test/home", NULL,
};

/* Open-redirect and header-splitting tricks, each meant to leave the
 * allowed origins. */
static const char *const REFUSED[] = {
    "", "//evil.example", "///evil.example", "////evil.example", "/\\evil.example",
    "\\\\evil.example", "\\/evil.example", "/\\/evil.example",
    "https://evil.example", "http://evil.example", "https://evil.example/",
    "https:evil.example", "https:/evil.example", "http:evil.example", "//evil.example/%2f..",
    "https://saml.example.test@evil.example", "https://user:pw@saml.example.test/",
    "https://evil.example@saml.example.test", "https://saml.example.test.evil.example/",
    "https://saml.example.test:8443/", "https://portal.example.test:444/",
    "http://saml.example.test/", "https://evil.example#@saml.example.test",
    "https://evil.example?@saml.example.test", "https://evil.example\\@saml.example.test",
    "javascript:alert(1)", "JavaScript:alert(1)", "javascript://saml.example.test/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "ftp://saml.example.test/",
    "/\tevil.example", "/\nevil.example", "/\revil.example", "\t//evil.example",
    " //evil.example", "/ /evil.example", "/x\r\nSet-Cookie: a=b", "/x\nLocation: //evil",
    "https://saml.example.test/\r\nX: y", "/%0d%0aSet-Cookie:a=b\r\n",
    "https://xn--saml-example-test.evil/", "https://saml.example.test%2eevil.example/",
    "https://saml.example.test%40evil.example/", "https://evil.example%23.saml.example.test/",
    "https://127.0.0.1/", "https://[::1]/", "//saml.example.test", "\x01/x", "/x\x7f",
    "https://portal.example.test.evil/", "https://evilportal.example.test/",
    "relative/path", "./x", "../x", "?x=1", "#x", "saml.example.test/x",
    NULL,
};

START_TEST(test_target_accepts_local_paths_and_allowed_origins)
{
    for (int i = 0; ACCEPTED[i] != NULL; i++) {
        const char *got = check(ACCEPTED[i]);
        ck_assert_msg(got != NULL && strcmp(got, ACCEPTED[i]) == 0, "refused: %s", ACCEPTED[i]);
    }
}
END_TEST

START_TEST(test_target_refuses_open_redirect_payloads)
{
    for (int i = 0; REFUSED[i] != NULL; i++) {
        ck_assert_msg(check(REFUSED[i]) == NULL, "accepted: %s", REFUSED[i]);
    }
}
END_TEST

START_TEST(test_target_refuses_null_and_overlong)
{
    ck_assert_ptr_null(check(NULL));
    char *long_path = apr_palloc(test_pool(), 2000);
    memset(long_path, 'a', 1999);
    long_path[0] = '/';
    long_path[1999] = '\0';
    ck_assert_ptr_null(check(long_path));
}
END_TEST

/* Without a base (the sign-in's return path) only local paths pass: even
 * the site's own absolute URL is refused, and every payload still is. */
START_TEST(test_target_without_base_takes_local_paths_only)
{
    ck_assert_str_eq(ib_url_check_target(test_pool(), "/portal/?a=1", NULL, NULL), "/portal/?a=1");
    ck_assert_ptr_null(ib_url_check_target(test_pool(), "https://saml.example.test/", NULL, NULL));
    for (int i = 0; REFUSED[i] != NULL; i++) {
        ck_assert_msg(ib_url_check_target(test_pool(), REFUSED[i], NULL, NULL) == NULL,
                      "accepted without base: %s", REFUSED[i]);
    }
}
END_TEST

Suite *redirect_suite(void)
{
    Suite *s = suite_create("redirect");
    TCase *tc = test_tcase("targets");
    tcase_add_test(tc, test_target_accepts_local_paths_and_allowed_origins);
    tcase_add_test(tc, test_target_refuses_open_redirect_payloads);
    tcase_add_test(tc, test_target_refuses_null_and_overlong);
    tcase_add_test(tc, test_target_without_base_takes_local_paths_only);
    suite_add_tcase(s, tc);
    return s;
}
