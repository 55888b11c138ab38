#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <cJSON.h>
#include <openssl/evp.h>

#include "ib_store.h"

#define RECORD_VERSION 1

const char *ib_sha256_hex(apr_pool_t *p, const char *s)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL);
    char *out = apr_palloc(p, 2 * n + 1);
    for (unsigned int i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

/* "<c>.idb:<kind>:<sha256 hex>". The first character spreads keys over
 * shmcb's subcaches, which it picks by the key's first byte masked with the
 * subcache count (a power of two up to 64): '0' + the hash's low six bits
 * makes that choice uniform. A constant first byte would crowd every entry
 * into one subcache and evict sessions long before the cache is full. */
static const char *store_key(apr_pool_t *p, char kind, const char *hex)
{
    unsigned v = (unsigned)strtoul(apr_pstrndup(p, hex, 2), NULL, 16);
    return apr_psprintf(p, "%c.idb:%c:%s", (char)('0' + (v & 0x3f)), kind, hex);
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
