/* Tenant configuration: ib_conf_read_file (the CLI's reader: comments,
 * continuation lines, quoting, sections) and, below it, ib_conf_directive
 * with every directive's value parser and the section finalisation
 * (entity IDs, keys, IdP connection, OIDC, metadata source, post-logout
 * URL). httpd's own config reader hands the same directives to
 * ib_conf_directive.
 *
 * Input: byte 0 chooses, the rest is text.
 *   bit 0 = 0: the rest is a tenant conf file, read by ib_conf_read_file
 *              from the fixture directory (so relative paths find sp.key,
 *              sp.crt, idp.crt and secret.txt there);
 *   bit 0 = 1: one directive per line, arguments separated by TAB (any
 *              bytes but NUL, TAB and LF in a value), applied inside
 *              <IdBrokerTenant fz> (bit 1: inside its <IdBrokerApp primary>
 *              as well); the sections are then closed, which finalises them.
 *              Lines "<IdBrokerApp<TAB>KIND", "</IdBrokerApp",
 *              "<IdBrokerTenant<TAB>NAME" and "</IdBrokerTenant" open and
 *              close sections in between.
 *
 * Invariants: a tenant that loads has a sign-in ID, a primary app with an
 * SP base URL, entity ID and at least one SP key, and a post-logout URL
 * the redirect-target validator accepts. */
#include <stdio.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "core/ib_conf.h"
#include "core/ib_url.h"
#include "fuzz_common.h"

#define MAX_ARGS 20

static const char *input_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    input_path = apr_pstrcat(fz_global_pool(), fz_fixture_dir(), "/input.conf", NULL);
    return 0;
}

static void check_registry(apr_pool_t *p, const ib_registry *reg)
{
    for (int i = 0; i < reg->tenants->nelts; i++) {
        const ib_tenant *t = APR_ARRAY_IDX(reg->tenants, i, const ib_tenant *);
        FZ_CHECK(t->signin_id != NULL && t->primary != NULL,
                 "conf: a tenant without sign-in ID or primary app", t->name);
        const ib_app *apps[] = {t->primary, t->custom_domain};
        for (int a = 0; a < 2; a++) {
            if (apps[a] == NULL) {
                continue;
            }
            FZ_CHECK(apps[a]->has_sp_base && apps[a]->sp_entity_id != NULL
                     && apps[a]->sp_keys != NULL && apps[a]->sp_keys->nelts > 0
                     && apps[a]->metadata_id != NULL,
                     "conf: an app without base URL, entity ID, SP key or metadata ID", t->name);
        }
        FZ_CHECK(ib_url_check_target(p, t->post_logout_url, &t->primary->sp_base,
                                     t->allowed_origins) != NULL,
                 "conf: a post-logout URL the redirect validator refuses", t->post_logout_url);
    }
}

static void read_file(apr_pool_t *p, const uint8_t *data, size_t size)
{
    FILE *f = fopen(input_path, "wb");
    if (f == NULL || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fz_fail("cannot write the input file", input_path);
    }
    ib_registry *reg = ib_registry_make(p);
    ib_conf_ctx ctx;
    ib_conf_init(&ctx, p, reg);
    const char *err = ib_conf_read_file(&ctx, input_path);
    fz_trace("conf", err ? err : "OK");
    if (err == NULL) {
        check_registry(p, reg);
    }
}

/* Like the real readers (httpd's and ib_conf_read_file), the first error
 * ends the configuration: nothing is applied after it. */
static void directives(apr_pool_t *p, char *text, int in_app)
{
    ib_registry *reg = ib_registry_make(p);
    ib_conf_ctx ctx;
    ib_conf_init(&ctx, p, reg);
    ctx.file = input_path;   /* relative paths resolve in the fixture dir */
    ctx.line = 1;
    if (ib_conf_begin_tenant(&ctx, "fz") != NULL
        || (in_app && ib_conf_begin_app(&ctx, "primary") != NULL)) {
        fz_fail("conf: cannot open the sections", NULL);
    }
    const char *err = NULL;
    char *line_state = NULL;
    for (char *line = apr_strtok(text, "\n", &line_state); line && err == NULL;
         line = apr_strtok(NULL, "\n", &line_state), ctx.line++) {
        const char *argv[MAX_ARGS + 1];
        int argc = 0;
        char *tok_state = NULL;
        for (char *tok = apr_strtok(line, "\t", &tok_state); tok && argc < MAX_ARGS;
             tok = apr_strtok(NULL, "\t", &tok_state)) {
            argv[argc++] = tok;
        }
        argv[argc] = NULL;
        if (argc == 0) {
            continue;
        }
        if (strcmp(argv[0], "<" IB_SECTION_APP) == 0) {
            err = ib_conf_begin_app(&ctx, argv[1]);
        } else if (strcmp(argv[0], "</" IB_SECTION_APP) == 0) {
            err = ib_conf_end_app(&ctx);
        } else if (strcmp(argv[0], "<" IB_SECTION_TENANT) == 0) {
            err = ib_conf_begin_tenant(&ctx, argv[1]);
        } else if (strcmp(argv[0], "</" IB_SECTION_TENANT) == 0) {
            if ((err = ib_conf_end_tenant(&ctx)) == NULL) {
                check_registry(p, reg);
            }
        } else {
            err = ib_conf_directive(&ctx, argv[0], argc - 1, argv + 1);
        }
    }
    if (err == NULL && ctx.app != NULL) {
        err = ib_conf_end_app(&ctx);
    }
    if (err == NULL && ctx.tenant != NULL) {
        err = ib_conf_end_tenant(&ctx);
        if (err == NULL) {
            check_registry(p, reg);
        }
    }
    fz_trace("conf: directives", err ? err : "OK");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    apr_pool_t *p = fz_pool();
    if ((data[0] & 1) == 0) {
        read_file(p, data + 1, size - 1);
    } else {
        directives(p, apr_pstrdup(p, fz_cstr(data + 1, size - 1)), (data[0] & 2) != 0);
    }
    fz_done();
    return 0;
}
