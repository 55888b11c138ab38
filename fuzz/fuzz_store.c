/* What comes back from the shared store (socache, redis, memcached: anyone
 * who can write there controls these bytes): ib_unseal (the sealed-entry
 * format, key ID lookup, Base64, AES-256-GCM, expiry) and the JSON records
 * ib_session_decode, ib_pending_decode, ib_handoff_decode. Cookie parsing
 * itself is httpd's (ap_cookie_read in mod_src/ib_web.c); what the core
 * does with a cookie value is ib_store_session_key, run here too.
 *
 * Input: byte 0 chooses, the rest is the stored value.
 *   0 session, 1 pending, 2 hand-off record (JSON);
 *   3 a sealed entry for ib_unseal (fixed key "k1"), and the rest sealed
 *     with that key and opened again.
 *
 * Invariants: a decoded record encodes and decodes to the same record;
 * sealing then unsealing gives the value back; an entry sealed under one
 * cache key never opens under another, nor after its expiry. */
#include <string.h>

#include <apr_strings.h>

#include "core/ib_seal.h"
#include "core/ib_store.h"
#include "fuzz_common.h"

static apr_array_header_t *keys;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    apr_pool_t *g = fz_global_pool();
    ib_seal_key *k = apr_pcalloc(g, sizeof(*k));
    k->id = "k1";
    for (int i = 0; i < IB_SEAL_KEY_BYTES; i++) {
        k->bytes[i] = (unsigned char)(0x5a ^ i);
    }
    keys = apr_array_make(g, 1, sizeof(ib_seal_key *));
    APR_ARRAY_PUSH(keys, ib_seal_key *) = k;
    return 0;
}

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

#define SAME(x, y, field) FZ_CHECK(same((x).field, (y).field), "record round trip: " #field, NULL)
#define SAME_T(x, y, field) FZ_CHECK((x).field == (y).field, "record round trip: " #field, NULL)

static void session(apr_pool_t *p, const char *json)
{
    ib_session a, b;
    if (!ib_session_decode(p, json, &a)) {
        return;
    }
    const char *again = ib_session_encode(p, &a);
    FZ_CHECK(again != NULL && ib_session_decode(p, again, &b),
             "session: a decoded record does not encode and decode again", json);
    SAME(a, b, tenant); SAME(a, b, app); SAME(a, b, host); SAME_T(a, b, local_port);
    SAME_T(a, b, created); SAME_T(a, b, last_seen); SAME_T(a, b, expires);
    SAME(a, b, protocol); SAME(a, b, idp); SAME(a, b, name_id); SAME(a, b, name_id_format);
    SAME(a, b, name_qualifier); SAME(a, b, sp_name_qualifier); SAME(a, b, session_index);
    SAME(a, b, authn_class); SAME(a, b, id_token);
    for (int i = 0; i < IB_ATTR_COUNT; i++) {
        SAME(a, b, identity.field[i]);
    }
    SAME_T(a, b, identity.azuread);
    if (a.identity.azuread) {
        SAME(a, b, identity.fed_upn);
    }
}

static void pending(apr_pool_t *p, const char *json)
{
    ib_pending a, b;
    if (!ib_pending_decode(p, json, &a)) {
        return;
    }
    FZ_CHECK(ib_pending_decode(p, ib_pending_encode(p, &a), &b),
             "pending: a decoded record does not encode and decode again", json);
    SAME(a, b, tenant); SAME(a, b, app); SAME(a, b, request_id); SAME(a, b, acs_url);
    SAME(a, b, return_url); SAME(a, b, relay); SAME(a, b, state_hash); SAME(a, b, host);
    SAME_T(a, b, expires); SAME(a, b, nonce); SAME(a, b, code_verifier);
    ib_store_pending_key(p, a.request_id);
}

static void handoff(apr_pool_t *p, const char *json)
{
    ib_handoff a, b;
    if (!ib_handoff_decode(p, json, &a)) {
        return;
    }
    FZ_CHECK(ib_handoff_decode(p, ib_handoff_encode(p, &a), &b),
             "handoff: a decoded record does not encode and decode again", json);
    SAME(a, b, tenant); SAME(a, b, app); SAME(a, b, request_id); SAME(a, b, state_hash);
    SAME(a, b, host); SAME(a, b, return_url); SAME(a, b, session); SAME_T(a, b, expires);
    ib_session s;
    ib_session_decode(p, a.session, &s); /* the glue decodes the embedded session next */
}

static void sealed(apr_pool_t *p, const char *text)
{
    const char *name = ib_store_session_key(p, "cookie-value");
    const char *value = NULL;
    const char *err = ib_unseal(p, keys, name, text, FZ_NOW, &value, NULL);
    FZ_CHECK(err != NULL || value != NULL, "unseal: success without a value", NULL);

    const ib_seal_key *k = APR_ARRAY_IDX(keys, 0, const ib_seal_key *);
    const char *box = ib_seal(p, k, name, text, FZ_NOW + apr_time_from_sec(60));
    FZ_CHECK(box != NULL, "seal: failed", NULL);
    value = NULL;
    apr_time_t expiry = 0;
    err = ib_unseal(p, keys, name, box, FZ_NOW, &value, &expiry);
    FZ_CHECK(err == NULL && value != NULL && strcmp(value, text) == 0,
             "seal/unseal: the value does not come back", err);
    FZ_CHECK(expiry == FZ_NOW + apr_time_from_sec(60), "unseal: another expiry comes back",
             NULL);
    FZ_CHECK(ib_unseal(p, keys, ib_store_session_key(p, "another-cookie"), box, FZ_NOW,
                       &value, NULL) != NULL, "unseal: an entry opened under another cache key", NULL);
    FZ_CHECK(ib_unseal(p, keys, name, box, FZ_NOW + apr_time_from_sec(60), &value, NULL)
             != NULL, "unseal: an expired entry opened", NULL);
    ib_store_session_key(p, text);
    ib_store_replay_key(p, text, text);
    ib_store_nameid_key(p, text, text, text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    apr_pool_t *p = fz_pool();
    const char *text = fz_cstr(data + 1, size - 1);
    switch (data[0] & 3) {
    case 0:
        session(p, text);
        break;
    case 1:
        pending(p, text);
        break;
    case 2:
        handoff(p, text);
        break;
    default:
        sealed(p, text);
        break;
    }
    fz_done();
    return 0;
}
