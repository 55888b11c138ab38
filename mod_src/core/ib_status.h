/* The operator status page (IDPCERT-2, IDPCERT-8, LOG-5): per tenant and
 * app, the SP signing key in force and the ones scheduled next, every IdP
 * certificate with its expiry and fingerprints, and the IdP metadata source
 * with the fetcher's last attempt, outcome and next refresh. One document,
 * built from the registry at one instant, rendered as JSON for machines and
 * as a plain HTML page for people.
 *
 * Only public facts go in: certificate subjects, files, validity and
 * fingerprints, URLs and times. Never key material, secrets or session
 * data, and never the private-key file paths. */
#ifndef IB_STATUS_H
#define IB_STATUS_H

#include <apr_pools.h>
#include <apr_time.h>
#include <cjson/cJSON.h>

#include "ib_tenant.h"

/* The whole status document at `now`:
 *   { generated_at, tenants: [ { name, signin_id, apps: [ { kind,
 *     sp_entity_id, sp_base_url, sp_keys: { active, next, next_rotation, all },
 *     decrypt_keys, idp: { configured, entity_id, sso_url, slo_url, from,
 *     loaded_at, valid_until, certs }, metadata_source } ] } ] }
 * Certificates appear as { subject, file, not_before, not_after, sha256,
 * sha1, expired, expires_soon, expires_in_days }; SP keys add activate_at
 * (and in `all` a role: active, next, superseded, expired, not yet valid),
 * IdP certs an origin (configuration or metadata). metadata_source is null
 * or { url | file, path, signer, [min_refresh, max_refresh: URL only],
 * state: the fetcher's saved state for a URL, else null, last_error }.
 * Instants are "YYYY-MM-DDTHH:MM:SSZ", null when unset. The document
 * belongs to p (freed by a cleanup of p): never cJSON_Delete it. */
cJSON *ib_status_json(apr_pool_t *p, const ib_registry *reg, apr_time_t now);

/* The document as indented JSON text, in p. */
const char *ib_status_json_text(apr_pool_t *p, const cJSON *doc);

/* The document as a plain HTML page (tables), every value HTML-escaped. */
const char *ib_status_html(apr_pool_t *p, const cJSON *doc);

/* s with & < > " ' replaced by character references, in p ("" for NULL). */
const char *ib_html_escape(apr_pool_t *p, const char *s);

/* 1 when a request asks for JSON: the query string is "json" or has
 * format=json, or the Accept header ranks application/json above text/html
 * (q-values honoured; ties go to HTML). format=html forces HTML. */
int ib_status_wants_json(const char *query, const char *accept);

#endif
