#include <stdlib.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <cJSON.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "ib_store.h"

#define RECORD_VERSION 1

/* EVP_sha256() makes OpenSSL 3 look the implementation up on every digest
 * (about half the cost of hashing a cookie); fetched once per process. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const char *ib_sha256_hex(apr_pool_t *p, const char *s)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    pthread_once(&sha256_once, sha256_fetch);
    if (EVP_Digest(s, strlen(s), d, &n, sha256_md ? sha256_md : EVP_sha256(), NULL) != 1) {
        n = 0;
    }
    char *out = apr_palloc(p, 2 * n + 1);
    for (unsigned int i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
}

/* "<c>.idb:<kind>:<sha256 hex>". The first character spreads keys over
 * shmcb's subcaches, which it picks by the key's first byte masked with the
 * subcache count (a power of two up to 64): '0' + the hash's low six bits
 * makes that choice uniform. A constant first byte would crowd every entry
 * into one subcache and evict sessions long before the cache is full. */
static const char *store_key(apr_pool_t *p, char kind, const char *hex)
{
    apr_size_t n = strlen(hex);
    char *k = apr_palloc(p, n + 9);
    unsigned v = n >= 2 ? (unsigned)(hex_digit(hex[0]) << 4 | hex_digit(hex[1])) : 0;
    k[0] = (char)('0' + (v & 0x3f));
    memcpy(k + 1, ".idb:", 5);
    k[6] = kind;
    k[7] = ':';
    memcpy(k + 8, hex, n + 1);
    return k;
}

const char *ib_store_session_key(apr_pool_t *p, const char *cookie_value)
{
    return store_key(p, 's', ib_sha256_hex(p, cookie_value));
}

const char *ib_store_pending_key(apr_pool_t *p, const char *request_id)
{
    return store_key(p, 'r', ib_sha256_hex(p, request_id));
}

const char *ib_store_replay_key(apr_pool_t *p, const char *idp, const char *assertion_id)
{
    /* Length-prefixed, so no (idp, id) pair can collide with another. */
    return store_key(p, 'a', ib_sha256_hex(p, apr_psprintf(p, "%lu:%s%s",
                     (unsigned long)strlen(idp), idp, assertion_id)));
}

const char *ib_store_nameid_key(apr_pool_t *p, const char *tenant, const char *idp,
                                const char *name_id)
{
    return store_key(p, 'n', ib_sha256_hex(p, apr_psprintf(p, "%lu:%s%lu:%s%s",
                     (unsigned long)strlen(tenant), tenant, (unsigned long)strlen(idp),
                     idp, name_id)));
}

const char *ib_store_handoff_key(apr_pool_t *p, const char *handle)
{
    return store_key(p, 'h', ib_sha256_hex(p, handle));
}

const char *ib_store_logout_key(apr_pool_t *p, const char *request_id)
{
    return store_key(p, 'o', ib_sha256_hex(p, request_id));
}

/* ---- JSON helpers ------------------------------------------------------- */

static void put_str(cJSON *o, const char *k, const char *v)
{
    if (v != NULL) {
        cJSON_AddStringToObject(o, k, v);
    }
}

static void put_time(cJSON *o, const char *k, apr_time_t t)
{
    cJSON_AddNumberToObject(o, k, (double)apr_time_sec(t));
}

static const char *get_str(apr_pool_t *p, const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? apr_pstrdup(p, v->valuestring) : NULL;
}

/* Seconds since the epoch up to the end of year 9999; anything else (NaN, a
 * negative or huge number) reads as absent. Casting an out-of-range double
 * to an integer is undefined behaviour, and so is apr_time_from_sec of a
 * value above ~9.2e12 (found by fuzz/fuzz_store.c under UBSan). */
#define RECORD_TIME_MAX_SEC 253402300799.0

static apr_time_t get_time(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= RECORD_TIME_MAX_SEC)) {
        return 0;
    }
    return apr_time_from_sec((apr_time_t)v->valuedouble);
}

static const char *finish(apr_pool_t *p, cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text == NULL) {
        return NULL;
    }
    const char *s = apr_pstrdup(p, text);
    cJSON_free(text);
    return s;
}

static cJSON *parse_record(const char *json)
{
    cJSON *o = cJSON_Parse(json);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "v");
    if (o == NULL || !cJSON_IsNumber(v) || v->valuedouble != (double)RECORD_VERSION) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- sessions ----------------------------------------------------------- */

const char *ib_session_encode(apr_pool_t *p, const ib_session *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "v", RECORD_VERSION);
    put_str(o, "t", s->tenant);
    put_str(o, "a", s->app);
    put_str(o, "h", s->host);
    cJSON_AddNumberToObject(o, "lp", s->local_port);
    put_time(o, "c", s->created);
    put_time(o, "l", s->last_seen);
    put_time(o, "x", s->expires);
    put_str(o, "p", s->protocol);
    put_str(o, "idp", s->idp);
    put_str(o, "nid", s->name_id);
    put_str(o, "nidf", s->name_id_format);
    put_str(o, "nq", s->name_qualifier);
    put_str(o, "spnq", s->sp_name_qualifier);
    put_str(o, "si", s->session_index);
    put_str(o, "ac", s->authn_class);
    put_str(o, "idt", s->id_token);
    cJSON *id = cJSON_AddObjectToObject(o, "id");
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        put_str(id, ib_attr_field_names[i], s->identity.field[i]);
    }
    if (s->identity.azuread) {
        cJSON_AddTrueToObject(o, "aad");
        put_str(o, "fupn", s->identity.fed_upn);
    }
    return finish(p, o);
}

int ib_session_decode(apr_pool_t *p, const char *json, ib_session *out)
{
    cJSON *o = parse_record(json);
    if (o == NULL) {
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->tenant = get_str(p, o, "t");
    out->app = get_str(p, o, "a");
    out->host = get_str(p, o, "h");
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(o, "lp");
    out->local_port = cJSON_IsNumber(lp) ? lp->valueint : 0;
    out->created = get_time(o, "c");
    out->last_seen = get_time(o, "l");
    out->expires = get_time(o, "x");
    out->protocol = get_str(p, o, "p");
    out->idp = get_str(p, o, "idp");
    out->name_id = get_str(p, o, "nid");
    out->name_id_format = get_str(p, o, "nidf");
    out->name_qualifier = get_str(p, o, "nq");
    out->sp_name_qualifier = get_str(p, o, "spnq");
    out->session_index = get_str(p, o, "si");
    out->authn_class = get_str(p, o, "ac");
    out->id_token = get_str(p, o, "idt");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        const char *v = get_str(p, id, ib_attr_field_names[i]);
        out->identity.field[i] = v ? v : "";
    }
    out->identity.azuread = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "aad"));
    out->identity.fed_upn = get_str(p, o, "fupn");
    cJSON_Delete(o);
    return out->tenant != NULL && out->host != NULL && out->expires != 0;
}

/* ---- pending requests ---------------------------------------------------- */

const char *ib_pending_encode(apr_pool_t *p, const ib_pending *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "v", RECORD_VERSION);
    put_str(o, "t", r->tenant);
    put_str(o, "a", r->app);
    put_str(o, "id", r->request_id);
    put_str(o, "acs", r->acs_url);
    put_str(o, "ret", r->return_url);
    put_str(o, "rs", r->relay);
    put_str(o, "st", r->state_hash);
    put_str(o, "h", r->host);
    put_time(o, "x", r->expires);
    put_str(o, "n", r->nonce);
    put_str(o, "cv", r->code_verifier);
    return finish(p, o);
}

int ib_pending_decode(apr_pool_t *p, const char *json, ib_pending *out)
{
    cJSON *o = parse_record(json);
    if (o == NULL) {
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->tenant = get_str(p, o, "t");
    out->app = get_str(p, o, "a");
    out->request_id = get_str(p, o, "id");
    out->acs_url = get_str(p, o, "acs");
    out->return_url = get_str(p, o, "ret");
    out->relay = get_str(p, o, "rs");
    out->state_hash = get_str(p, o, "st");
    out->host = get_str(p, o, "h");
    out->expires = get_time(o, "x");
    out->nonce = get_str(p, o, "n");
    out->code_verifier = get_str(p, o, "cv");
    cJSON_Delete(o);
    return out->tenant && out->app && out->request_id && out->acs_url && out->state_hash
           && out->return_url && out->relay && out->host && out->expires;
}

/* ---- hand-off handles ------------------------------------------------------ */

const char *ib_handoff_encode(apr_pool_t *p, const ib_handoff *h)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "v", RECORD_VERSION);
    put_str(o, "t", h->tenant);
    put_str(o, "a", h->app);
    put_str(o, "id", h->request_id);
    put_str(o, "st", h->state_hash);
    put_str(o, "h", h->host);
    put_str(o, "ret", h->return_url);
    put_str(o, "s", h->session);
    put_time(o, "x", h->expires);
    return finish(p, o);
}

int ib_handoff_decode(apr_pool_t *p, const char *json, ib_handoff *out)
{
    cJSON *o = parse_record(json);
    if (o == NULL) {
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->tenant = get_str(p, o, "t");
    out->app = get_str(p, o, "a");
    out->request_id = get_str(p, o, "id");
    out->state_hash = get_str(p, o, "st");
    out->host = get_str(p, o, "h");
    out->return_url = get_str(p, o, "ret");
    out->session = get_str(p, o, "s");
    out->expires = get_time(o, "x");
    cJSON_Delete(o);
    return out->tenant && out->app && out->request_id && out->state_hash && out->host
           && out->return_url && out->session && out->expires;
}

/* ---- the per-process memo of decoded sessions ------------------------------ */

/* Every string field of a session, so a copy can be made in one block and
 * moved as a whole. */
#define SESSION_STRINGS (13 + IB_ATTR_COUNT)

static int session_strings(ib_session *s, const char **f[SESSION_STRINGS])
{
    int n = 0;
    f[n++] = &s->tenant;
    f[n++] = &s->app;
    f[n++] = &s->host;
    f[n++] = &s->protocol;
    f[n++] = &s->idp;
    f[n++] = &s->name_id;
    f[n++] = &s->name_id_format;
    f[n++] = &s->name_qualifier;
    f[n++] = &s->sp_name_qualifier;
    f[n++] = &s->session_index;
    f[n++] = &s->authn_class;
    f[n++] = &s->id_token;
    f[n++] = &s->identity.fed_upn;
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        f[n++] = &s->identity.field[i];
    }
    return n;
}

typedef struct memo_entry {
    apr_size_t key_len;
    apr_size_t record_len;
    apr_time_t valid_until;   /* 0: no limit of the memo's own */
    apr_size_t blob_len;      /* the session and its strings, in one block */
    ib_session *blob;         /* points into this allocation */
    char *key;
    char *record;
} memo_entry;

struct ib_session_memo {
    unsigned sets;            /* a power of two */
    memo_entry **slots;       /* sets * IB_MEMO_WAYS; the first way is the newest */
#if APR_HAS_THREADS
    apr_thread_mutex_t *locks[IB_MEMO_LOCKS];
#endif
};

static apr_status_t memo_cleanup(void *data)
{
    ib_session_memo *m = data;
    for (unsigned i = 0; i < m->sets * IB_MEMO_WAYS; i++) {
        free(m->slots[i]);
        m->slots[i] = NULL;
    }
    return APR_SUCCESS;
}

ib_session_memo *ib_session_memo_create(apr_pool_t *p, unsigned sets)
{
    unsigned n = 1;
    while (n < sets) {
        n <<= 1;
    }
    ib_session_memo *m = apr_pcalloc(p, sizeof(*m));
    m->sets = n;
    m->slots = apr_pcalloc(p, sizeof(memo_entry *) * n * IB_MEMO_WAYS);
#if APR_HAS_THREADS
    for (int i = 0; i < IB_MEMO_LOCKS; i++) {
        if (apr_thread_mutex_create(&m->locks[i], APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS) {
            return NULL;
        }
    }
#endif
    apr_pool_cleanup_register(p, m, memo_cleanup, apr_pool_cleanup_null);
    return m;
}

static unsigned memo_set(const ib_session_memo *m, const char *key, apr_size_t *key_len)
{
    apr_ssize_t len = APR_HASH_KEY_STRING;
    unsigned h = apr_hashfunc_default(key, &len);
    *key_len = (apr_size_t)len;
    return h & (m->sets - 1);
}

static void memo_lock(ib_session_memo *m, unsigned set)
{
#if APR_HAS_THREADS
    apr_thread_mutex_lock(m->locks[set % IB_MEMO_LOCKS]);
#else
    (void)m; (void)set;
#endif
}

static void memo_unlock(ib_session_memo *m, unsigned set)
{
#if APR_HAS_THREADS
    apr_thread_mutex_unlock(m->locks[set % IB_MEMO_LOCKS]);
#else
    (void)m; (void)set;
#endif
}

static int entry_is(const memo_entry *e, const char *key, apr_size_t key_len)
{
    return e != NULL && e->key_len == key_len && memcmp(e->key, key, key_len) == 0;
}

int ib_session_memo_lookup(ib_session_memo *m, apr_pool_t *p, const char *key,
                           const char *record, apr_size_t record_len, apr_time_t now,
                           ib_session *out)
{
    apr_size_t key_len;
    unsigned set = memo_set(m, key, &key_len);
    memo_entry **ways = m->slots + (apr_size_t)set * IB_MEMO_WAYS;
    int hit = 0;
    memo_lock(m, set);
    for (int w = 0; w < IB_MEMO_WAYS; w++) {
        memo_entry *e = ways[w];
        if (!entry_is(e, key, key_len)) {
            continue;
        }
        /* Only the very bytes it was decoded from: a changed, removed and
         * re-added or forged record is decoded afresh by the caller. */
        if (e->record_len == record_len && memcmp(e->record, record, record_len) == 0
            && (e->valid_until == 0 || now < e->valid_until)) {
            char *copy = apr_palloc(p, e->blob_len);
            memcpy(copy, e->blob, e->blob_len);
            ib_session *s = (ib_session *)(void *)copy;
            const char **f[SESSION_STRINGS];
            int n = session_strings(s, f);
            for (int i = 0; i < n; i++) {
                if (*f[i] != NULL) {
                    *f[i] = copy + (*f[i] - (const char *)e->blob);
                }
            }
            *out = *s;
            hit = 1;
            if (w > 0) {       /* most recently used first */
                ways[w] = ways[0];
                ways[0] = e;
            }
        }
        break;
    }
    memo_unlock(m, set);
    return hit;
}

#define ALIGN8(n) (((n) + 7) & ~(apr_size_t)7)

void ib_session_memo_store(ib_session_memo *m, const char *key, const char *record,
                           apr_size_t record_len, apr_time_t valid_until, const ib_session *s)
{
    ib_session copy = *s;
    const char **f[SESSION_STRINGS];
    int n = session_strings(&copy, f);
    apr_size_t blob_len = sizeof(ib_session);
    for (int i = 0; i < n; i++) {
        blob_len += *f[i] ? strlen(*f[i]) + 1 : 0;
    }
    apr_size_t key_len;
    unsigned set = memo_set(m, key, &key_len);
    apr_size_t head = ALIGN8(sizeof(memo_entry));
    memo_entry *e = malloc(head + ALIGN8(blob_len) + key_len + 1 + record_len);
    if (e == NULL) {
        return;    /* a memo only: the next request decodes again */
    }
    e->blob = (ib_session *)(void *)((char *)e + head);
    e->blob_len = blob_len;
    e->key = (char *)e->blob + ALIGN8(blob_len);
    e->key_len = key_len;
    memcpy(e->key, key, key_len + 1);
    e->record = e->key + key_len + 1;
    e->record_len = record_len;
    memcpy(e->record, record, record_len);
    e->valid_until = valid_until;
    char *at = (char *)e->blob + sizeof(ib_session);
    for (int i = 0; i < n; i++) {
        if (*f[i] != NULL) {
            apr_size_t len = strlen(*f[i]) + 1;
            memcpy(at, *f[i], len);
            *f[i] = at;
            at += len;
        }
    }
    memcpy(e->blob, &copy, sizeof(ib_session));
    memo_entry **ways = m->slots + (apr_size_t)set * IB_MEMO_WAYS;
    memo_entry *old = NULL;
    memo_lock(m, set);
    int w = 0;
    while (w < IB_MEMO_WAYS - 1 && ways[w] != NULL && !entry_is(ways[w], key, key_len)) {
        w++;
    }
    /* w: this key's way, else the first free one, else the oldest. */
    old = ways[w];
    for (; w > 0; w--) {
        ways[w] = ways[w - 1];
    }
    ways[0] = e;
    memo_unlock(m, set);
    free(old);
}

void ib_session_memo_forget(ib_session_memo *m, const char *key)
{
    apr_size_t key_len;
    unsigned set = memo_set(m, key, &key_len);
    memo_entry **ways = m->slots + (apr_size_t)set * IB_MEMO_WAYS;
    memo_entry *old = NULL;
    memo_lock(m, set);
    for (int w = 0; w < IB_MEMO_WAYS; w++) {
        if (entry_is(ways[w], key, key_len)) {
            old = ways[w];
            for (; w < IB_MEMO_WAYS - 1; w++) {
                ways[w] = ways[w + 1];
            }
            ways[IB_MEMO_WAYS - 1] = NULL;
            break;
        }
    }
    memo_unlock(m, set);
    free(old);
}

unsigned ib_session_memo_count(ib_session_memo *m)
{
    unsigned n = 0;
    for (unsigned set = 0; set < m->sets; set++) {
        memo_lock(m, set);
        for (int w = 0; w < IB_MEMO_WAYS; w++) {
            n += m->slots[set * IB_MEMO_WAYS + w] != NULL;
        }
        memo_unlock(m, set);
    }
    return n;
}
