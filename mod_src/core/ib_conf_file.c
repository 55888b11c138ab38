/* A reader for tenant conf files outside httpd, for the idbroker-tenant CLI.
 * It understands the subset of Apache syntax a tenant file uses (comments,
 * line continuation, quoted arguments, our two section types) and hands each
 * directive to the same ib_conf functions httpd's reader calls. */
#include <string.h>

#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "ib_conf.h"

#define IB_CONF_FILE_MAX (1024 * 1024)

static char *trim(char *s)
{
    while (apr_isspace(*s)) {
        s++;
    }
    char *end = s + strlen(s);
    while (end > s && apr_isspace(end[-1])) {
        *--end = '\0';
    }
    return s;
}

static const char *at(ib_conf_ctx *ctx, const char *msg)
{
    return apr_psprintf(ctx->pool, "%s:%d: %s", ctx->file, ctx->line, msg);
}

/* "<Name arg>" / "</Name>": the section handlers. */
static const char *section_line(ib_conf_ctx *ctx, char *line)
{
    int closing = line[1] == '/';
    char *body = line + (closing ? 2 : 1);
    apr_size_t n = strlen(body);
    if (n == 0 || body[n - 1] != '>') {
        return at(ctx, apr_psprintf(ctx->pool, "section line '%s' lacks its "
                                    "closing '>'", line));
    }
    body[n - 1] = '\0';
    char **argv;
    apr_tokenize_to_argv(body, &argv, ctx->pool);
    const char *name = argv[0] ? argv[0] : "";
    const char *arg = argv[0] ? argv[1] : NULL;
    const char *err;
    if (strcasecmp(name, IB_SECTION_TENANT) == 0) {
        err = closing ? ib_conf_end_tenant(ctx) : ib_conf_begin_tenant(ctx, arg);
    } else if (strcasecmp(name, IB_SECTION_APP) == 0) {
        err = closing ? ib_conf_end_app(ctx) : ib_conf_begin_app(ctx, arg);
    } else {
        err = apr_psprintf(ctx->pool, "unknown section <%s> in a tenant file", name);
    }
    return err ? at(ctx, err) : NULL;
}

static const char *directive_line(ib_conf_ctx *ctx, char *line)
{
    char **argv;
    apr_tokenize_to_argv(line, &argv, ctx->pool);
    int argc = 0;
    while (argv[argc] != NULL) {
        argc++;
    }
    if (argc == 0) {
        return NULL; /* nothing but white space */
    }
    const char *err = ib_conf_directive(ctx, argv[0], argc - 1,
                                        (const char *const *)argv + 1);
    return err ? at(ctx, err) : NULL;
}

const char *ib_conf_read_file(ib_conf_ctx *ctx, const char *path)
{
    apr_file_t *f;
    char buf[8192];
    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, ctx->pool) != APR_SUCCESS) {
        return apr_psprintf(ctx->pool, "%s: cannot open the file", path);
    }
    ctx->file = path;
    ctx->line = 0;
    const char *err = NULL;
    char *pending = NULL; /* a line continued with a trailing backslash */
    int start_line = 0;
    while (err == NULL && apr_file_gets(buf, sizeof(buf), f) == APR_SUCCESS) {
        ctx->line++;
        char *line = trim(buf);
        apr_size_t n = strlen(line);
        if (pending == NULL) {
            start_line = ctx->line;
        }
        if (n > 0 && line[n - 1] == '\\') {
            line[n - 1] = '\0';
            pending = apr_pstrcat(ctx->pool, pending ? pending : "", line, " ", NULL);
            continue;
        }
        if (pending != NULL) {
            /* Trimmed again: a line holding only '\' and then a blank line join to
             * " ", which is blank, not a directive without a name (that was
             * a NULL name given to ib_conf_directive: a crash). */
            line = trim(apr_pstrcat(ctx->pool, pending, line, NULL));
            pending = NULL;
        }
        int here = ctx->line;
        ctx->line = start_line;
        if (*line == '\0' || *line == '#') {
            /* blank or comment */
        } else if (*line == '<') {
            err = section_line(ctx, line);
        } else {
            err = directive_line(ctx, line);
        }
        ctx->line = here;
    }
    apr_file_close(f);
    if (err == NULL && pending != NULL) {
        err = apr_psprintf(ctx->pool, "%s:%d: the file ends inside a line continued "
                           "with '\\'", path, start_line);
    }
    if (err == NULL && ctx->tenant != NULL) {
        err = apr_psprintf(ctx->pool, "%s: <%s %s> is not closed", path,
                           IB_SECTION_TENANT, ctx->tenant->name);
    }
    return err;
}
