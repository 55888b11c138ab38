/* An app's IdP metadata source (IDPCERT-7): a local file, or a URL whose
 * fetched copies are kept in a backing file. Every process loads the copy on
 * disk into an ib_idp view and swaps it in when the file changes, so one
 * fetcher (the watchdog) updates all processes by renaming a new file into
 * place: the next request anywhere sees the new certificates. A copy that
 * fails any check never replaces the view in force. */
#ifndef IB_IDP_SOURCE_H
#define IB_IDP_SOURCE_H

#include <apr_file_info.h>
#include <apr_pools.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#include "ib_idp_metadata.h"
#include "ib_tenant.h"

#define IB_MD_REFRESH_MIN_DEFAULT apr_time_from_sec(600)
#define IB_MD_REFRESH_MAX_DEFAULT apr_time_from_sec(14400)
#define IB_MD_TIMEOUT_DEFAULT apr_time_from_sec(20)

struct ib_idp_source {
    /* configuration */
    const char *url;              /* IdBrokerIdPMetadataURL; NULL for a file */
    const char *file;             /* IdBrokerIdPMetadataFile; NULL for a URL */
    const char *ca_file;          /* IdBrokerIdPMetadataCA; NULL = system CAs */
    ib_cert *signer;              /* IdBrokerIdPMetadataSigner; NULL = unsigned allowed */
    apr_interval_time_t min_refresh, max_refresh, timeout;
    const char *conf_file;        /* where the source was configured, for messages */
    int conf_line;

    /* set by ib_idp_source_start */
    const char *path;             /* the copy every process loads */
    const char *state_path;       /* URL only: the fetcher's state (JSON) */

    /* per process, behind lock */
    apr_thread_mutex_t *lock;     /* NULL in single-threaded tools */
    apr_pool_t *pool;             /* views live here (each in a child pool) until
                                   * the next restart */
    const ib_idp *view;
    apr_finfo_t tried;            /* identity of the last copy looked at */
    int tried_any;
    unsigned attempts;            /* looks at a new copy begun; the latest wins */
    const char *last_error;
    int parsing;                  /* parses running (background or sync) */
    int report_changed;           /* its outcome, for the next ib_idp_source_poll */
    const char *report_error;
    apr_pool_t *thread_pool;      /* background parse threads (NULL: none) */
    apr_threadattr_t *thread_attr;

    /* Called (when set) in the thread that parsed a new view, without the
     * lock: with in_force 0 before the view is put in force, with 1 after
     * (only if it went in force). The SAML side builds the objects requests
     * on that view will use, so none waits for that. */
    void (*prepare)(void *baton, const ib_idp *view, apr_time_t now, int in_force);
    void *prepare_baton;
};

/* Prepares the source for requests: for a URL, the backing and state files
 * under state_dir (named after tenant, app and a hash of the URL); the lock;
 * the first load. Returns the load error (the app then has no IdP until a
 * good copy appears), or NULL. */
const char *ib_idp_source_start(apr_pool_t *pconf, ib_app *app, const char *state_dir,
                                apr_time_t now);

/* Loads the copy on disk when it differs from the one last looked at, and
 * returns when it is in force or refused. Cheap when nothing changed (one
 * stat). The parse runs without the source's lock, so other threads keep
 * reading the view in force meanwhile. *changed = 1 when a new view is in
 * force; a non-NULL return is why the changed copy was refused (once per
 * copy). For startup, child_init and the watchdog. */
const char *ib_idp_source_sync(const ib_app *app, apr_time_t now, int *changed);

/* For requests: never waits for a parse. When the copy on disk differs from
 * the one last looked at, a background thread parses it while this and
 * later requests keep the view in force; it swaps the new view in when
 * ready. *changed and the return value report the outcome of a background
 * parse that finished since the previous poll (as ib_idp_source_sync does
 * for its own). Without threads (or a lock) it is ib_idp_source_sync. */
const char *ib_idp_source_poll(const ib_app *app, apr_time_t now, int *changed);

/* For a reader that must show the copy on disk now (the operator status
 * page): polls as above, then waits, at most max_wait, for the parses
 * running in this process (background ones and the watchdog's) to end, and
 * reports their outcome as ib_idp_source_poll would. A sign-in never waits
 * like this: only a page an operator asks for does. */
const char *ib_idp_source_settle(const ib_app *app, apr_time_t now,
                                 apr_interval_time_t max_wait, int *changed);

/* Lowers the calling thread's CPU priority to nice IB_IDP_PARSE_NICE for
 * good: for threads that only parse metadata and build what a new view
 * needs (the background parse threads, the refresh watchdog), so that on a
 * busy machine request threads run first and none waits behind a parse of
 * a large aggregate. Linux only (nice is per thread there); elsewhere a
 * no-op. */
#define IB_IDP_PARSE_NICE 10
void ib_idp_source_lower_priority(void);

/* The view made from the pinned settings plus (optionally) metadata. */
const ib_idp *ib_idp_view_make(apr_pool_t *p, const ib_app *app, const ib_idp_md *md,
                               const char *from, apr_time_t now);

/* The rules a copy of this app's metadata must meet. */
ib_idp_md_rules ib_idp_source_rules(const ib_app *app, apr_time_t now, int enforce_valid_until);

#endif
