#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <apr_strings.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "core/ib_clock.h"
#include "test_support.h"

#define MAX_CONF_ARGS 16

static char root_dir[64];
static pid_t root_owner;
static apr_pool_t *global_pool;
static apr_pool_t *per_test_pool;
static unsigned dir_counter;

/* ---- lifetime ----------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_root(void)
{
    /* Check forks a child per test; only the process that made the
     * directory removes it. */
    if (root_dir[0] != '\0' && getpid() == root_owner) {
        nftw(root_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        root_dir[0] = '\0';
    }
}

void test_support_init(void)
{
    if (root_dir[0] != '\0') {
        return;
    }
    strcpy(root_dir, "/tmp/ib-unit-XXXXXX");
    if (mkdtemp(root_dir) == NULL) {
        fprintf(stderr, "test_support: mkdtemp: %s\n", strerror(errno));
        exit(EXIT_FAILURE);
    }
    root_owner = getpid();
    atexit(remove_root);
    if (apr_pool_create(&global_pool, NULL) != APR_SUCCESS) {
        fprintf(stderr, "test_support: cannot create the APR pool\n");
        exit(EXIT_FAILURE);
    }
    char keycache[128];
    snprintf(keycache, sizeof(keycache), "%s/keycache", root_dir);
    if (mkdir(keycache, 0700) != 0) {
        fprintf(stderr, "test_support: mkdir %s: %s\n", keycache, strerror(errno));
        exit(EXIT_FAILURE);
    }
}

const char *test_root_dir(void)
{
    return root_dir;
}

void test_setup(void)
{
    ib_clock_pin(0);
    ck_assert_int_eq(apr_pool_create(&per_test_pool, global_pool), APR_SUCCESS);
}

void test_teardown(void)
{
    ib_clock_pin(0);
    if (per_test_pool != NULL) {
        apr_pool_destroy(per_test_pool);
        per_test_pool = NULL;
    }
}

apr_pool_t *test_pool(void)
{
    ck_assert_msg(per_test_pool != NULL, "test_pool() outside a test (fixture missing)");
    return per_test_pool;
}

TCase *test_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, test_setup, test_teardown);
    tcase_set_timeout(tc, 60);
    return tc;
}

/* ---- paths and files ---------------------------------------------------- */

const char *fresh_dir(void)
{
    char *dir = apr_psprintf(test_pool(), "%s/t%u-%ld-XXXXXX", root_dir,
                             dir_counter++, (long)getpid());
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
    return dir;
}

const char *path_in(const char *dir, const char *name)
{
    return apr_pstrcat(test_pool(), dir, "/", name, NULL);
}

apr_time_t utc(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    char z = 0;
    int n = sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon,
                   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z);
    ck_assert_msg(n == 7 && z == 'Z', "utc(): bad fixture instant '%s'", text);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return apr_time_from_sec(timegm(&tm));
}

static const char *write_bytes(const char *dir, const char *file, const void *data,
                               size_t len)
{
    const char *path = path_in(dir, file);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

const char *write_text_file(const char *dir, const char *file, const char *text)
{
    return write_bytes(dir, file, text, strlen(text));
}

const char *write_tenant_conf(const char *dir, const char *file,
                              const char *tenant_name, const char *body)
{
    return write_text_file(dir, file,
                           apr_psprintf(test_pool(), "<IdBrokerTenant %s>\n%s"
                                        "</IdBrokerTenant>\n", tenant_name, body));
}

const char *read_text_file(const char *path, apr_size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    ck_assert_int_ge(size, 0);
    rewind(f);
    char *buf = apr_palloc(test_pool(), (apr_size_t)size + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    buf[size] = '\0';
    if (len != NULL) {
        *len = (apr_size_t)size;
    }
    return buf;
}

/* ---- keys and certificates ---------------------------------------------- */

static EVP_PKEY *generate_key(const char *key_type)
{
    if (strcmp(key_type, "rsa2048") == 0) {
        return EVP_RSA_gen(2048);
    }
    if (strcmp(key_type, "rsa1024") == 0) {
        return EVP_RSA_gen(1024);
    }
    if (strcmp(key_type, "ec256") == 0) {
        return EVP_EC_gen("P-256");
    }
    ck_abort_msg("unknown key type '%s'", key_type);
    return NULL;
}

/* The private key of (type, slot), generated once per run and kept on disk
 * below the root so that every forked test process reuses it. */
static EVP_PKEY *cached_key(const char *key_type, int slot)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/keycache/%s-%d.pem", root_dir, key_type, slot);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        ck_assert_msg(k != NULL, "cannot read the cached key %s", path);
        return k;
    }
    EVP_PKEY *k = generate_key(key_type);
    ck_assert_msg(k != NULL, "key generation failed for %s", key_type);
    char tmp[272];
    snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
    f = fopen(tmp, "w");
    ck_assert_msg(f != NULL, "fopen %s: %s", tmp, strerror(errno));
    ck_assert_int_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmp, path), 0);
    return k;
}

static X509 *self_signed(EVP_PKEY *k, const char *cn, apr_time_t not_before,
                         apr_time_t not_after)
{
    X509 *x = X509_new();
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(X509_set_version(x, 2), 1);

    unsigned char serial[8];
    ck_assert_int_eq(RAND_bytes(serial, sizeof(serial)), 1);
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    ck_assert_ptr_nonnull(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
    BN_free(bn);

    /* Absolute instants: ASN1_TIME_set picks UTCTime or GeneralizedTime as
     * RFC 5280 says, so 1999 and 2099 both work. */
    ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notBefore(x),
                                        (time_t)apr_time_sec(not_before)));
    ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notAfter(x),
                                        (time_t)apr_time_sec(not_after)));

    X509_NAME *name = X509_get_subject_name(x);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)cn, -1, -1, 0), 1);
    ck_assert_int_eq(X509_set_issuer_name(x, name), 1);
    ck_assert_int_eq(X509_set_pubkey(x, k), 1);
    ck_assert_int_gt(X509_sign(x, k, EVP_sha256()), 0);
    return x;
}

void write_keypair_slot(const char *dir, const char *name, const char *key_type,
                        int slot, apr_time_t not_before, apr_time_t not_after)
{
    EVP_PKEY *k = cached_key(key_type, slot);
    X509 *x = self_signed(k, name, not_before, not_after);

    const char *key_path = path_in(dir, apr_pstrcat(test_pool(), name, ".key", NULL));
    FILE *f = fopen(key_path, "w");
    ck_assert_msg(f != NULL, "fopen %s: %s", key_path, strerror(errno));
    ck_assert_int_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    ck_assert_int_eq(fclose(f), 0);
    chmod(key_path, 0600);

    const char *crt_path = path_in(dir, apr_pstrcat(test_pool(), name, ".crt", NULL));
    f = fopen(crt_path, "w");
    ck_assert_msg(f != NULL, "fopen %s: %s", crt_path, strerror(errno));
    ck_assert_int_eq(PEM_write_X509(f, x), 1);
    ck_assert_int_eq(fclose(f), 0);

    X509_free(x);
    EVP_PKEY_free(k);
}

void write_keypair(const char *dir, const char *name, const char *key_type,
                   apr_time_t not_before, apr_time_t not_after)
{
    write_keypair_slot(dir, name, key_type, 0, not_before, not_after);
}

void write_encrypted_key(const char *dir, const char *name, const char *key_type)
{
    EVP_PKEY *k = cached_key(key_type, 0);
    const char *key_path = path_in(dir, apr_pstrcat(test_pool(), name, ".key", NULL));
    FILE *f = fopen(key_path, "w");
    ck_assert_msg(f != NULL, "fopen %s: %s", key_path, strerror(errno));
    static const char pass[] = "correct horse battery staple";
    ck_assert_int_eq(PEM_write_PKCS8PrivateKey(f, k, EVP_aes_256_cbc(), pass,
                                               (int)strlen(pass), NULL, NULL), 1);
    ck_assert_int_eq(fclose(f), 0);
    EVP_PKEY_free(k);
}

static unsigned char *pem_to_der(const char *pem_path, int *der_len)
{
    FILE *f = fopen(pem_path, "r");
    ck_assert_msg(f != NULL, "fopen %s: %s", pem_path, strerror(errno));
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_msg(x != NULL, "%s holds no PEM certificate", pem_path);
    int n = i2d_X509(x, NULL);
    ck_assert_int_gt(n, 0);
    unsigned char *der = apr_palloc(test_pool(), (apr_size_t)n);
    unsigned char *w = der;
    ck_assert_int_eq(i2d_X509(x, &w), n);
    X509_free(x);
    *der_len = n;
    return der;
}

const char *write_cert_der(const char *dir, const char *file, const char *pem_path)
{
    int n;
    unsigned char *der = pem_to_der(pem_path, &n);
    return write_bytes(dir, file, der, (size_t)n);
}

const char *write_cert_b64(const char *dir, const char *file, const char *pem_path,
                           int line_len)
{
    int n;
    unsigned char *der = pem_to_der(pem_path, &n);
    char *b64 = apr_palloc(test_pool(), (apr_size_t)(4 * ((n + 2) / 3) + 1));
    int b64_len = EVP_EncodeBlock((unsigned char *)b64, der, n);
    apr_size_t out_cap = (apr_size_t)b64_len + (apr_size_t)(b64_len / line_len) + 2;
    char *out = apr_palloc(test_pool(), out_cap);
    apr_size_t o = 0;
    for (int i = 0; i < b64_len; i++) {
        out[o++] = b64[i];
        if ((i + 1) % line_len == 0) {
            out[o++] = '\n';
        }
    }
    out[o++] = '\n';
    return write_bytes(dir, file, out, o);
}

/* ---- conf --------------------------------------------------------------- */

const char *conf_dir(ib_conf_ctx *ctx, const char *name, ...)
{
    const char *argv[MAX_CONF_ARGS + 1];
    int argc = 0;
    va_list ap;
    va_start(ap, name);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_int_lt(argc, MAX_CONF_ARGS);
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    return ib_conf_directive(ctx, name, argc, argv);
}
