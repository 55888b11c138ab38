/* Sealing of what the module keeps in a shared store (sessions, pending
 * requests, replay and logout records): AES-256-GCM through OpenSSL, with the
 * entry's cache key and the key ID as additional authenticated data and the
 * entry's expiry inside the sealed text. Whoever can write to the store can
 * neither read an entry, forge one, move one under another key (e.g. make a
 * session record answer another cookie) nor revive an expired one. Keys are
 * named, so a new key can seal while old ones still open (rotation). */
#ifndef IB_SEAL_H
#define IB_SEAL_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#define IB_SEAL_KEY_BYTES 32
#define IB_SEAL_ID_MAX 16

typedef struct ib_seal_key {
    const char *id;                          /* 1-16 of [A-Za-z0-9_-] */
    unsigned char bytes[IB_SEAL_KEY_BYTES];
} ib_seal_key;

/* Loads a key file: 32 raw bytes, 64 hex digits or Base64 of 32 bytes (a
 * trailing newline allowed). A file others may read is refused. */
const char *ib_seal_key_load(apr_pool_t *p, const char *id, const char *path,
                             ib_seal_key **out);

/* "ib1.<key id>.<Base64(nonce | ciphertext | tag)>", sealed with `key`. */
const char *ib_seal(apr_pool_t *p, const ib_seal_key *key, const char *name,
                    const char *value, apr_time_t expiry);

/* Opens a sealed entry stored under `name` with whichever of `keys` (ib_seal_key*)
 * its ID names. NULL, *value and (unless NULL) *expiry, the time the entry
 * was sealed to end at, on success; otherwise why it was refused (unknown
 * key, not sealed, forged or moved, expired). */
const char *ib_unseal(apr_pool_t *p, const apr_array_header_t *keys, const char *name,
                      const char *sealed, apr_time_t now, const char **value,
                      apr_time_t *expiry);

#endif
