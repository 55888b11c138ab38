/* The unit test runner: one Suite per test file, all in one SRunner. */
#include <stdlib.h>

#include <apr_general.h>
#include <libxml/parser.h>

#include "test_support.h"

int main(void)
{
    if (apr_initialize() != APR_SUCCESS) {
        return EXIT_FAILURE;
    }
    atexit(apr_terminate);
    xmlInitParser();
    test_support_init();

    SRunner *sr = srunner_create(clock_suite());
    srunner_add_suite(sr, keys_suite());
    srunner_add_suite(sr, expiry_suite());
    srunner_add_suite(sr, url_suite());
    srunner_add_suite(sr, conf_suite());
    srunner_add_suite(sr, metadata_suite());
    srunner_add_suite(sr, redirect_suite());
    srunner_add_suite(sr, identity_suite());
    srunner_add_suite(sr, store_suite());
    srunner_add_suite(sr, seal_suite());
    srunner_add_suite(sr, saml_suite());
    srunner_add_suite(sr, idp_metadata_suite());
    srunner_add_suite(sr, status_suite());
    srunner_add_suite(sr, jose_suite());
    srunner_add_suite(sr, oidc_suite());

    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    xmlCleanupParser();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
