/* The standalone driver: replays files through LLVMFuzzerTestOneInput
 * without libFuzzer (and without clang), so the test suite re-runs every
 * corpus on every build, with or without sanitizers.
 *
 *   fuzz/fuzz_TARGET [-flags...] FILE_OR_DIR...
 *
 * Directories are read one level deep, entries in name order, dot files
 * skipped. Arguments starting with '-' are ignored (libFuzzer options), so a
 * command line works with either build. Each input is read into a malloc'd
 * buffer of exactly its size, so a sanitizer sees any read past its end.
 * Exit status: 0 when every input ran; 2 when an argument cannot be read or
 * no input was found at all (a replay that tested nothing must not pass).
 * A crash, failed invariant or sanitizer report ends the process, and the
 * input that caused it is named on stderr. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);
/* Present in sanitizer builds: called after a report, before the exit. */
__attribute__((weak)) void __sanitizer_set_death_callback(void (*callback)(void));

static int verbose;
static const char *current;  /* the input being run, for crash messages */

static void say_current(void)
{
    if (current != NULL) {
        const char *a = "replay: the failing input is ";
        if (write(2, a, strlen(a)) < 0 || write(2, current, strlen(current)) < 0
            || write(2, "\n", 1) < 0) {
            return;
        }
    }
}

static void on_fatal_signal(int sig)
{
    say_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, size = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + size, 1, cap - size, f)) > 0) {
        size += n;
        if (size == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        return -1;
    }
    /* Exactly `size` bytes: no slack for an over-read to hide in. */
    uint8_t *exact = malloc(size ? size : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    if (size > 0) {
        memcpy(exact, buf, size);
    }
    free(buf);
    if (verbose) {
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
    }
    current = path;
    LLVMFuzzerTestOneInput(exact, size);
    current = NULL;
    free(exact);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, long *count)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    size_t n = 0, cap = 64;
    char **names = malloc(cap * sizeof(char *));
    struct dirent *e;
    while (names != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            cap *= 2;
            names = realloc(names, cap * sizeof(char *));
            if (names == NULL) {
                break;
            }
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (names == NULL) {
        return -1;
    }
    qsort(names, n, sizeof(char *), by_name);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *path;
        struct stat st;
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
            rc = -1;
        } else {
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(path) != 0) {
                    rc = -1;
                } else {
                    (*count)++;
                }
            }
            free(path);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize != NULL) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    verbose = getenv("FUZZ_REPLAY_VERBOSE") != NULL;
    /* A crash names its input: through the sanitizer's death callback, or
     * (plain builds, and abort() from an invariant) a signal handler. */
    signal(SIGABRT, on_fatal_signal);
    if (__sanitizer_set_death_callback != NULL) {
        __sanitizer_set_death_callback(say_current); /* keep ASan's SEGV report */
    } else {
        int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
        for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
            signal(fatal[i], on_fatal_signal);
        }
    }
    long count = 0;
    int rc = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (argv[i][0] == '-') {
            continue;
        }
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            rc = 2;
        } else if (S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], &count) != 0) {
                rc = 2;
            }
        } else if (run_file(argv[i]) != 0) {
            rc = 2;
        } else {
            count++;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    const char *name = strrchr(argv[0], '/');
    fprintf(stderr, "replay: %s: %ld input%s in %.2f s\n", name ? name + 1 : argv[0], count,
            count == 1 ? "" : "s", secs);
    if (count == 0) {
        fprintf(stderr, "replay: no input found: nothing was tested\n");
        return 2;
    }
    return rc;
}
