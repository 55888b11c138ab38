/* SP metadata (MD-1..7): the document IdPs import or poll to learn our entity
 * ID, endpoints and signing keys. One function serves httpd and the CLI, so
 * both print the same bytes for the same configuration and instant. */
#ifndef IB_METADATA_H
#define IB_METADATA_H

#include <apr_pools.h>
#include <apr_time.h>

#include "ib_tenant.h"

#define IB_METADATA_CONTENT_TYPE "application/samlmetadata+xml"

#define IB_PATH_ACS "/saml/acs"
#define IB_PATH_SLO "/saml/logout/callback"
#define IB_PATH_LOGOUT "/saml/logout"
#define IB_PATH_METADATA "/saml/metadata"
#define IB_PATH_METADATA_XML "/saml/metadata.xml"

/* Writes the app's metadata at instant `now` (which keys are published
 * depends on it, SPKEY-8) into *xml (pool memory, NUL-terminated). */
const char *ib_metadata_sp_xml(apr_pool_t *p, const ib_app *app, apr_time_t now,
                               const char **xml, apr_size_t *len);

#endif
