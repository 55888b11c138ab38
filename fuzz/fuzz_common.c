/* See fuzz_common.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw (APR_CFLAGS usually define it) */
#endif
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <glib.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <openssl/err.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/errors.h>

#include "core/ib_clock.h"
#include "core/ib_codec.h"
#include "core/ib_conf.h"
#include "fuzz_common.h"
#include "fuzz_keys.h"

static apr_pool_t *global_pool;
static apr_pool_t *input_pool;

/* ---- per-input allocations -------------------------------------------------
 *
 * APR pools carve allocations out of large blocks, so AddressSanitizer cannot
 * see an overflow from one pool allocation into the next. In sanitizer
 * builds, apr_palloc/apr_pcalloc on the input pool (and its subpools) are
 * interposed: each allocation is its own malloc of exactly the requested
 * size, freed after the pool is cleared in fz_done(). Off-by-one writes into
 * pool buffers then stop the run like any heap overflow. (apr_psprintf keeps
 * using APR's blocks: it allocates inside libapr without apr_palloc.)
 * Allocations from other pools (the global one: fixtures, parsed keys, the
 * lasso SP) are malloc'd too and kept for the life of the process: APR's own
 * blocks are invisible to LeakSanitizer, which then took every EVP_PKEY or
 * cJSON tree referenced only from pool memory for a leak. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#endif

typedef struct {
    void **ptrs;
    size_t n, cap;
} ptr_list;

static ptr_list tracked;  /* this input's allocations (pool shim, fz_cstr) */

static void list_add(ptr_list *l, void *ptr)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->ptrs = realloc(l->ptrs, l->cap * sizeof(void *));
        if (l->ptrs == NULL) {
            abort();
        }
    }
    l->ptrs[l->n++] = ptr;
}

static void track(void *ptr)
{
    list_add(&tracked, ptr);
}

static void free_tracked(void)
{
    for (size_t i = 0; i < tracked.n; i++) {
        free(tracked.ptrs[i]);
    }
    tracked.n = 0;
}

#ifdef FZ_ASAN
static int in_input_tree(apr_pool_t *p)
{
    for (; input_pool != NULL && p != NULL; p = apr_pool_parent_get(p)) {
        if (p == input_pool) {
            return 1;
        }
    }
    return 0;
}

static ptr_list forever; /* allocations from pools outside the input tree */

APR_DECLARE(void *) apr_palloc(apr_pool_t *p, apr_size_t size)
{
    void *mem = malloc(size ? size : 1);
    if (mem == NULL) {
        abort();
    }
    list_add(in_input_tree(p) ? &tracked : &forever, mem);
    return mem;
}

#undef apr_pcalloc
APR_DECLARE(void *) apr_pcalloc(apr_pool_t *p, apr_size_t size);
APR_DECLARE(void *) apr_pcalloc(apr_pool_t *p, apr_size_t size)
{
    return memset(apr_palloc(p, size), 0, size);
}
#endif

/* ---- initialisation ------------------------------------------------------- */

static void quiet_xml(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

void fz_init(void)
{
    static int done;
    if (done) {
        return;
    }
    done = 1;
    if (apr_initialize() != APR_SUCCESS || apr_pool_create(&global_pool, NULL) != APR_SUCCESS
        || apr_pool_create(&input_pool, global_pool) != APR_SUCCESS) {
        fprintf(stderr, "fuzz: APR initialisation failed\n");
        abort();
    }
    xmlInitParser();
    xmlSetGenericErrorFunc(NULL, quiet_xml);
    ib_clock_pin(FZ_NOW);
}

/* lasso warns on every malformed message: silenced. A fatal message
 * (g_error, or one flagged fatal) would end the process with SIGTRAP, which
 * libFuzzer does not catch: say what it was and abort(), so the input is
 * saved and named like any crash. */
static void quiet_glib(const gchar *domain, GLogLevelFlags level, const gchar *message,
                       gpointer data)
{
    (void)data;
    if (level & (G_LOG_FLAG_FATAL | G_LOG_LEVEL_ERROR)) {
        fprintf(stderr, "fuzz: fatal GLib message (%s, level 0x%x): %s\n",
                domain ? domain : "-", (unsigned)level, message ? message : "");
        abort();
    }
}

void fz_init_saml(void)
{
    static int done;
    fz_init();
    if (done) {
        return;
    }
    done = 1;
    const char *err = ib_saml_library_init();
    if (err != NULL) {
        fprintf(stderr, "fuzz: %s\n", err);
        abort();
    }
    g_log_set_default_handler(quiet_glib, NULL);
    g_log_set_handler("Lasso", G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION,
                      quiet_glib, NULL);
    xmlSecErrorsDefaultCallbackEnableOutput(0);
    xmlSetGenericErrorFunc(NULL, quiet_xml);
}

apr_pool_t *fz_global_pool(void)
{
    fz_init();
    return global_pool;
}

apr_pool_t *fz_pool(void)
{
    fz_init();
    return input_pool;
}

void fz_done(void)
{
    apr_pool_clear(input_pool);
    free_tracked();
    ERR_clear_error();
}

char *fz_bytes(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL) {
        abort();
    }
    if (size > 0) {
        memcpy(s, data, size);
    }
    s[size] = '\0';
    track(s);
    return s;
}

char *fz_cstr(const uint8_t *data, size_t size)
{
    /* Exactly strlen + 1 bytes: an over-read of the string is caught. */
    const uint8_t *nul = size ? memchr(data, '\0', size) : NULL;
    return fz_bytes(data, nul ? (size_t)(nul - data) : size);
}

void fz_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz: invariant violated: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}

void fz_trace(const char *what, const char *detail)
{
    static int on = -1;
    if (on < 0) {
        on = getenv("FUZZ_TRACE") != NULL;
    }
    if (on) {
        fprintf(stderr, "trace: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    }
}

/* ---- the fixture ------------------------------------------------------------ */

static char fixture_dir[64];

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_fixture(void)
{
    if (fixture_dir[0] != '\0') {
        nftw(fixture_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
        fixture_dir[0] = '\0';
    }
}

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
    chmod(path, mode);
}

#define FIXTURE_CONF                                                           \
    "# The fuzz fixture tenant (fuzz/fuzz_common.c).\n"                        \
    "<IdBrokerTenant fuzz>\n"                                                  \
    "    IdBrokerSignInID fuzz\n"                                              \
    "    IdBrokerSPKey sp.key sp.crt\n"                                        \
    "    IdBrokerSPDecryptionKey sp.key sp.crt\n"                              \
    "    IdBrokerAllowedOrigin https://portal.fuzz.test\n"                     \
    "    <IdBrokerApp primary>\n"                                              \
    "        IdBrokerSPBaseURL " FZ_SP_BASE "\n"                               \
    "        IdBrokerIdPEntityID " FZ_IDP_ENTITY "\n"                          \
    "        IdBrokerIdPSSOURL https://idp.fuzz.test/sso\n"                    \
    "        IdBrokerIdPSLOURL https://idp.fuzz.test/slo\n"                    \
    "        IdBrokerIdPCert idp.crt\n"                                        \
    "    </IdBrokerApp>\n"                                                     \
    "</IdBrokerTenant>\n"

const char *fz_fixture_dir(void)
{
    if (fixture_dir[0] != '\0') {
        return fixture_dir;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(fixture_dir, sizeof(fixture_dir), "%s/ib-fuzz-XXXXXX",
             tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (mkdtemp(fixture_dir) == NULL) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_fixture);
    write_file(fixture_dir, "sp.key", FZ_SP_KEY_PEM, 0600);
    write_file(fixture_dir, "sp.crt", FZ_SP_CERT_PEM, 0644);
    write_file(fixture_dir, "idp.crt", FZ_IDP_CERT_PEM, 0644);
    write_file(fixture_dir, "secret.txt", "fuzz-client-secret\n", 0600);
    write_file(fixture_dir, "fuzz.conf", FIXTURE_CONF, 0644);
    return fixture_dir;
}

static const ib_app *fixture_app;

const ib_app *fz_saml_app(void)
{
    if (fixture_app != NULL) {
        return fixture_app;
    }
    apr_pool_t *p = fz_global_pool();
    ib_registry *reg = ib_registry_make(p);
    ib_conf_ctx ctx;
    ib_conf_init(&ctx, p, reg);
    const char *err = ib_conf_read_file(&ctx, apr_pstrcat(p, fz_fixture_dir(), "/fuzz.conf",
                                                          NULL));
    ib_tenant *t = err ? NULL : apr_hash_get(reg->by_name, "fuzz", APR_HASH_KEY_STRING);
    if (t == NULL || t->primary == NULL) {
        fprintf(stderr, "fuzz: the fixture tenant does not load: %s\n", err ? err : "?");
        abort();
    }
    fixture_app = t->primary;
    return fixture_app;
}

ib_saml_sp *fz_saml_sp(void)
{
    static ib_saml_sp *sp;
    if (sp == NULL) {
        fz_init_saml();
        sp = ib_saml_sp_make(fz_global_pool(), fz_saml_app());
    }
    return sp;
}

/* ---- the Redirect binding's encoding ------------------------------------------ */

const char *fz_redirect_encode(apr_pool_t *p, const char *xml, size_t len)
{
    /* Stored DEFLATE blocks (RFC 1951 3.2.4): header byte, LEN, NLEN, data. */
    size_t blocks = len / 65535 + 1;
    unsigned char *z = apr_palloc(p, len + 5 * blocks);
    size_t o = 0, i = 0;
    do {
        size_t n = len - i > 65535 ? 65535 : len - i;
        z[o++] = (unsigned char)(i + n == len ? 1 : 0); /* BFINAL, BTYPE 00 */
        z[o++] = (unsigned char)(n & 0xff);
        z[o++] = (unsigned char)(n >> 8);
        z[o++] = (unsigned char)(~n & 0xff);
        z[o++] = (unsigned char)((~n >> 8) & 0xff);
        memcpy(z + o, xml + i, n);
        o += n;
        i += n;
    } while (i < len);
    const char *b64 = ib_b64_encode(p, z, o);
    char *out = apr_palloc(p, 3 * strlen(b64) + 1), *w = out;
    for (const char *c = b64; *c; c++) {
        if (*c == '+' || *c == '/' || *c == '=') {
            w += sprintf(w, "%%%02X", (unsigned char)*c);
        } else {
            *w++ = *c;
        }
    }
    *w = '\0';
    return out;
}
