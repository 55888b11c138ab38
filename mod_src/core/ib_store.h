/* What goes into the shared cache (socache): sessions and pending sign-in
 * requests, as small JSON records, and the keys they are stored under. The
 * cache itself is httpd's; this file only decides the bytes. */
#ifndef IB_STORE_H
#define IB_STORE_H

#include <apr_pools.h>
#include <apr_time.h>

#include "ib_identity.h"

#define IB_SESSION_MAX_BYTES (32 * 1024)

typedef struct ib_session {
    const char *tenant;
    const char *app;            /* app kind */
    const char *host;           /* the host the session was made for */
    int local_port;             /* the server port it was made on (0 = any) */
    apr_time_t created;
    apr_time_t last_seen;
    apr_time_t expires;         /* absolute lifetime end */
    const char *protocol;       /* "saml" */
    const char *idp;
    const char *name_id;        /* kept exactly, for logout (SLO-6) */
    const char *name_id_format;
    const char *name_qualifier;
    const char *sp_name_qualifier;
    const char *session_index;
    const char *authn_class;
    const char *id_token;       /* OIDC: the ID token, for id_token_hint at logout */
    ib_identity identity;
} ib_session;

typedef struct ib_pending {
    const char *tenant;
    const char *app;
    const char *request_id;
    const char *acs_url;
    const char *return_url;     /* validated before it is stored */
    const char *relay;          /* the opaque RelayState handle */
    const char *state_hash;     /* SHA-256 of the browser's state cookie */
    const char *host;
    apr_time_t expires;
    const char *nonce;          /* OIDC only */
    const char *code_verifier;  /* OIDC only: PKCE */
} ib_pending;

const char *ib_session_encode(apr_pool_t *p, const ib_session *s);
int ib_session_decode(apr_pool_t *p, const char *json, ib_session *out);

/* A per-process memo of decoded session records, so a protected request
 * with an unchanged session skips the record's parse (and unsealing).
 * It never replaces the store read: every request still reads the record,
 * and a memo entry is used only for the exact bytes it was decoded from
 * under the same key, so a logout, a change or a forged record anywhere is
 * seen at once. Sets of IB_MEMO_WAYS entries (least recently used goes);
 * safe across threads (IB_MEMO_LOCKS mutexes over the sets). */
#define IB_MEMO_WAYS 2
#define IB_MEMO_LOCKS 64
typedef struct ib_session_memo ib_session_memo;

/* `sets` is rounded up to a power of two; entries are freed with p. NULL
 * when a mutex cannot be made. */
ib_session_memo *ib_session_memo_create(apr_pool_t *p, unsigned sets);
/* 1 and *out (strings copied into p) when `key` was decoded from exactly
 * these record bytes and `now` is before the entry's valid_until (0 = no
 * limit); 0 otherwise. */
int ib_session_memo_lookup(ib_session_memo *m, apr_pool_t *p, const char *key,
                           const char *record, apr_size_t record_len, apr_time_t now,
                           ib_session *out);
/* Remembers s as the decoding of `record` under `key` (replacing the key's
 * previous entry, else the set's least recently used one). */
void ib_session_memo_store(ib_session_memo *m, const char *key, const char *record,
                           apr_size_t record_len, apr_time_t valid_until, const ib_session *s);
void ib_session_memo_forget(ib_session_memo *m, const char *key);
/* Entries held (tests). */
unsigned ib_session_memo_count(ib_session_memo *m);

const char *ib_pending_encode(apr_pool_t *p, const ib_pending *r);
int ib_pending_decode(apr_pool_t *p, const char *json, ib_pending *out);

/* Cache keys. Session keys hash the cookie value, so the cache never holds
 * a usable cookie. */
const char *ib_store_session_key(apr_pool_t *p, const char *cookie_value);
const char *ib_store_pending_key(apr_pool_t *p, const char *request_id);
const char *ib_store_replay_key(apr_pool_t *p, const char *idp, const char *assertion_id);

/* The list of session keys of one user at one IdP (SLO-9 without a scan). */
const char *ib_store_nameid_key(apr_pool_t *p, const char *tenant, const char *idp,
                                const char *name_id);
/* A pending SP-initiated logout, by LogoutRequest ID. */
const char *ib_store_logout_key(apr_pool_t *p, const char *request_id);

/* Lowercase hex SHA-256 of s. */
const char *ib_sha256_hex(apr_pool_t *p, const char *s);

/* A sign-in handed from the ACS host to the portal host (EP-7): what the
 * portal host needs to make its own session, redeemable once, shortly. */
typedef struct ib_handoff {
    const char *tenant;
    const char *app;
    const char *request_id;     /* names the state cookie set on the portal host */
    const char *state_hash;     /* SHA-256 of that cookie: binds the browser */
    const char *host;           /* the portal host it may be redeemed on */
    const char *return_url;
    const char *session;        /* the encoded session record (ib_session_encode) */
    apr_time_t expires;
} ib_handoff;

const char *ib_store_handoff_key(apr_pool_t *p, const char *handle);
const char *ib_handoff_encode(apr_pool_t *p, const ib_handoff *h);
int ib_handoff_decode(apr_pool_t *p, const char *json, ib_handoff *out);

#endif
