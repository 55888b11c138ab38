/* Shared pieces of the fuzz targets in fuzz/: process-wide initialisation,
 * the pool each input runs in, and the fixture (fixed keys, a tenant conf
 * read through the core's own reader, a lasso SP) the SAML targets need.
 *
 * Each fuzz_*.c file defines LLVMFuzzerTestOneInput (and usually
 * LLVMFuzzerInitialize); it is linked either with libFuzzer (clang
 * -fsanitize=fuzzer, tests/fuzz/campaign.sh) or with fuzz/standalone_main.c,
 * which replays corpus files without clang (make fuzz-replay). */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>
#include <apr_time.h>

#include "core/ib_saml.h"
#include "core/ib_tenant.h"

/* The fixtures' clock: every target pins ib_now() here, and the seeds
 * (fuzz/seeds.py) carry instants around it. 2030-01-01T00:00:00Z. */
#define FZ_NOW_SEC 1893456000
#define FZ_NOW apr_time_from_sec(FZ_NOW_SEC)

/* The fixture tenant (fz_saml_app) and the values the seeds are made for. */
#define FZ_SP_BASE "https://sp.fuzz.test"
#define FZ_ACS FZ_SP_BASE "/saml/acs"
#define FZ_SLO FZ_SP_BASE "/saml/logout/callback"
#define FZ_IDP_ENTITY "https://idp.fuzz.test/entity"
#define FZ_REQUEST_ID "_fuzz-request-1"
#define FZ_OP_ISSUER "https://op.fuzz.test"
#define FZ_CLIENT_ID "fuzz-client"
#define FZ_NONCE "fuzz-nonce"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Once per process (idempotent): apr_initialize, xmlInitParser, the pinned
 * clock, the global and per-input pools. */
void fz_init(void);

/* fz_init plus lasso/xmlsec (ib_saml_library_init) with their log output
 * silenced: malformed input makes lasso warn on every run. */
void fz_init_saml(void);

/* Lives as long as the process (fixtures, parsed keys). */
apr_pool_t *fz_global_pool(void);

/* The pool of the current input; fz_done() clears it (running every cleanup
 * the core registered: xmlFreeDoc, cJSON_Delete, EVP_PKEY_free...). Call
 * fz_done() at the end of every LLVMFuzzerTestOneInput. */
apr_pool_t *fz_pool(void);
void fz_done(void);

/* The input as a C string: a malloc'd copy of exactly size + 1 bytes (so
 * AddressSanitizer sees any read past its end), freed by fz_done(). An
 * embedded NUL ends the string, as it would for any C caller. */
char *fz_cstr(const uint8_t *data, size_t size);

/* Bytes as a malloc'd buffer of exactly size bytes (plus a NUL), freed by
 * fz_done(). */
char *fz_bytes(const uint8_t *data, size_t size);

/* An invariant the core promises; a violation aborts with `what`, which
 * libFuzzer and the replay runner report as a crash. */
void fz_fail(const char *what, const char *detail);
#define FZ_CHECK(cond, what, detail)                                           \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fz_fail((what), (detail));                                         \
        }                                                                      \
    } while (0)

/* With FUZZ_TRACE set in the environment, prints what a harness saw
 * ("parse: OK", "validate: <reason>"): to check that seeds reach as deep as
 * meant. Silent otherwise (fuzzing speed). */
void fz_trace(const char *what, const char *detail);

/* A directory (made once, removed at exit) holding sp.key, sp.crt,
 * idp.key-less idp.crt, secret.txt and fuzz.conf (the fixture tenant). */
const char *fz_fixture_dir(void);

/* The fixture tenant "fuzz": SP key pair (also its decryption key), IdP
 * FZ_IDP_ENTITY with SSO/SLO URLs and the fixed IdP certificate, read by
 * ib_conf_read_file. Aborts if the fixture does not load. */
const ib_app *fz_saml_app(void);

/* A lasso SP for that app (needs fz_init_saml). */
ib_saml_sp *fz_saml_sp(void);

/* DEFLATE (raw, stored blocks only: valid input for any inflater) +
 * Base64 + URL-encoding: the HTTP-Redirect binding's encoding of xml. */
const char *fz_redirect_encode(apr_pool_t *p, const char *xml, size_t len);

#endif
