#!/usr/bin/env bash
# A fuzzing campaign with clang's libFuzzer (ASan + UBSan), not part of CI:
#
#   bash tests/fuzz/campaign.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Builds libibcore.a instrumented for coverage (-fsanitize=fuzzer-no-link) and
# fuzz/libfuzzer_NAME for each target in build-fuzz/ (a copy, as for
# tests/fuzz/asan.sh), then runs each target for SECONDS_PER_TARGET (default
# 60), two at a time, starting from the seed corpus fuzz/corpus/NAME. New
# inputs go to build-fuzz/corpus/NAME (not into the repository: minimise and
# copy over by hand what is worth keeping), crashes to build-fuzz/artifacts/.
# A crash input belongs in fuzz/corpus/NAME/regression-<what> once fixed, so
# that every CI run replays it (tests/fuzz/replay.sh).
#
# Needs clang (Debian: apt-get install clang; libFuzzer comes with it).
# Environment: IDBROKER_FUZZ_DIR (default build-fuzz in the repo),
# IDBROKER_FUZZ_JOBS (targets run at once, default 2), FUZZ_ARGS (more
# libFuzzer options).
#
# Leaks: lasso leaks a buffer on every signed HTTP-Redirect logout message
# (tests/fuzz/lsan_filter.py), which libFuzzer's leak check cannot tell from
# ours, so fuzz_saml_logout runs without leak detection (also at exit); its
# leaks are checked by the replay in tests/fuzz/asan.sh instead.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=${IDBROKER_FUZZ_DIR:-$REPO/build-fuzz}
SECS=${1:-60}
shift || true
JOBS=${IDBROKER_FUZZ_JOBS:-2}
command -v clang >/dev/null || { echo "campaign: clang not found (apt-get install clang)" >&2; exit 1; }

SAN="-fsanitize=fuzzer-no-link,address,undefined -fsanitize=float-cast-overflow -fno-sanitize-recover=all"
CFLAGS_="-O1 -g -fno-omit-frame-pointer $SAN"
bash "$REPO/tests/fuzz/mirror.sh" "$B"
cd "$B"
stamp="CC=clang CFLAGS=$CFLAGS_"
if [[ ! -f Makefile || configure -nt Makefile || $(cat .fuzz-flags 2>/dev/null) != "$stamp" ]]; then
    echo "campaign: ./configure (clang) in $B"
    ./configure -q --disable-werror CC=clang CFLAGS="$CFLAGS_" LDFLAGS="-fsanitize=address,undefined" \
        >configure.out 2>&1 || { cat configure.out; exit 1; }
    echo "$stamp" >.fuzz-flags
fi
make -j2 fuzz-libfuzzer >make.out 2>&1 || { tail -40 make.out; exit 1; }

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=()
    for c in "$REPO"/fuzz/fuzz_*.c; do
        n=$(basename "$c" .c)
        [[ $n == fuzz_common ]] || targets+=("${n#fuzz_}")
    done
fi

mkdir -p artifacts logs
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$REPO/tests/fuzz/lsan.supp}

run_one() {
    local n=$1 extra="" asan=$ASAN_OPTIONS
    if [[ $n == saml_logout ]]; then
        extra="-detect_leaks=0"
        asan="$asan:detect_leaks=0"
    fi
    mkdir -p "corpus/$n"
    # shellcheck disable=SC2086
    ASAN_OPTIONS=$asan "./fuzz/libfuzzer_$n" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2560 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="artifacts/$n-" $extra \
        ${FUZZ_ARGS:-} "corpus/$n" "$REPO/fuzz/corpus/$n" >"logs/$n.log" 2>&1
    local rc=$?
    local execs cov
    execs=$(grep -E '^stat::number_of_executed_units' "logs/$n.log" | awk '{print $2}')
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "logs/$n.log" | tail -1)
    if [[ $rc -eq 0 ]]; then
        echo "campaign: $n: ok (${execs:-?} runs, $cov)"
    else
        echo "campaign: $n: FAILED (exit $rc, ${execs:-?} runs): see $B/logs/$n.log," \
             "artifacts/$n-*"
    fi
    return $rc
}
export -f run_one
export SECS REPO B FUZZ_ARGS

status=0
printf '%s\n' "${targets[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one {}' || status=1
ls artifacts/ 2>/dev/null | sed 's/^/campaign: artifact: /' || true
exit $status
