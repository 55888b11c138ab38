#!/usr/bin/env bash
# Replays every fuzz target's corpus through its standalone build (no clang):
#
#   tests/fuzz/replay.sh BIN_DIR CORPUS_DIR
#
# BIN_DIR holds fuzz_NAME programs (make fuzz-build), CORPUS_DIR holds NAME/
# directories of inputs (fuzz/corpus). Every target in fuzz/fuzz_*.c must have
# a non-empty corpus and a program; each runs once over its corpus and must
# exit 0: a crash, an invariant violation (abort), a sanitizer report (when
# built with sanitizers) or a timeout fails the replay; the failing input is
# named in the output (fuzz/standalone_main.c).
#
# Environment: FUZZ_REPLAY_TIMEOUT (seconds per target, default 300).
#
# Under LeakSanitizer (tests/fuzz/asan.sh): a target whose only failure is a
# leak report is run again with full stacks (fast_unwind_on_malloc=0: too slow
# for every run, needed to see past libraries built without frame pointers),
# so that lsan.supp and tests/fuzz/lsan_filter.py can drop third-party leaks;
# it passes only if no other leak is left.
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 BIN_DIR CORPUS_DIR" >&2; exit 2; }
bin=$1
corpus=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../../fuzz" && pwd)
limit=${FUZZ_REPLAY_TIMEOUT:-300}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# True when the log's only problem is a LeakSanitizer report (which ends the
# run at exit with ASan's exit status, so the status cannot tell).
leaks_only() {
    grep -q 'ERROR: LeakSanitizer' "$1" \
        && ! grep -Eq 'ERROR: AddressSanitizer|runtime error:|invariant violated|the failing input' "$1"
}

failed=()
names=()
for c in "$src"/fuzz_*.c; do
    name=$(basename "$c" .c)
    name=${name#fuzz_}
    [[ $name == common ]] && continue
    names+=("$name")
done
[[ ${#names[@]} -gt 0 ]] || { echo "replay: no fuzz targets in $src" >&2; exit 1; }

for name in "${names[@]}"; do
    prog=$bin/fuzz_$name
    dir=$corpus/$name
    if [[ ! -x $prog ]]; then
        echo "replay: $prog missing (make fuzz-build)" >&2
        failed+=("$name")
        continue
    fi
    if [[ ! -d $dir ]] || [[ -z $(ls -A "$dir") ]]; then
        echo "replay: $dir missing or empty: every target needs a seed corpus" >&2
        failed+=("$name")
        continue
    fi
    rc=0
    timeout "$limit" "$prog" "$dir" 2>"$log" || rc=$?
    if [[ $rc -ne 0 ]] && leaks_only "$log"; then
        echo "replay: fuzz_$name: LeakSanitizer report; again with full stacks to filter" \
             "third-party leaks" >&2
        rc=0
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0" \
            timeout "$limit" "$prog" "$dir" 2>"$log" || rc=$?
        if [[ $rc -ne 0 ]] && leaks_only "$log"; then
            rc=0
            /usr/bin/python3 "$here/lsan_filter.py" "$log" >&2 || rc=1
        fi
    fi
    grep -v '^lsan_filter' "$log" | grep -E '^replay: fuzz_' >&2 || true
    if [[ $rc -ne 0 ]]; then
        cat "$log" >&2
        echo "replay: fuzz_$name FAILED (exit $rc)" >&2
        failed+=("$name")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "replay: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "replay: all ${#names[@]} corpora replayed"
