#!/usr/bin/env bash
# Mutation run: proves that each attack test fails when the check that stops
# the attack is removed (tests/mutation/README.md).
#
#   bash tests/mutation/run.sh [--dir DIR] [--no-baseline] [PATTERN...]
#
#   PATTERN        run only mutants whose file name contains one of the
#                  patterns (e.g. `xsw` `oidc-` `07-`); default: every mutant
#   --dir DIR      scratch directory (default /tmp/ib-mutants); DIR/src is
#                  removed and cloned again on every run
#   --no-baseline  skip the run of every selector on the unmutated build
#
# 1. clone this repository's HEAD into DIR/src and copy over it every file the
#    working tree has changed or added, and delete what it deleted, so the
#    run tests what is on disk; the repository itself is never written to
# 2. build once there (tests/build.sh), the unit test program too if needed
# 3. baseline: every selector must pass on the unmutated build, or a "killed"
#    below would prove nothing
# 4. per mutant: git apply, rebuild what its selectors use (the module for
#    pytest selectors, tests/unit/test_core for unit ones), run the selectors,
#    git apply -R. KILLED = at least one selector failed.
# 5. a markdown table on stdout (also DIR/table.md), logs under DIR/logs/.
#
# Exit status: 0 when every mutant was killed; 1 when one survived, or could
# not be applied / built / run, or the baseline failed.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MUTANTS="$REPO/tests/mutation/mutants"
PY=/usr/bin/python3
DIR=/tmp/ib-mutants
BASELINE=1
PATTERNS=()
while (($#)); do
    case $1 in
        --dir) DIR=$2; shift 2 ;;
        --no-baseline) BASELINE=0; shift ;;
        -h|--help) sed -n '2,26p' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
        *) PATTERNS+=("$1"); shift ;;
    esac
done
case $DIR in
    /|"$REPO"|"$REPO"/*) echo "run.sh: --dir must be outside the repository" >&2; exit 2 ;;
esac

SRC=$DIR/src
LOGS=$DIR/logs
TEST_TIMEOUT=900        # per selector; a mutant that hangs a test is not "killed" by waiting

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---- the mutants to run ------------------------------------------------------
selected=()
for patch in "$MUTANTS"/*.patch; do
    name=$(basename "$patch" .patch)
    if ((${#PATTERNS[@]} == 0)); then
        selected+=("$patch")
        continue
    fi
    for pat in "${PATTERNS[@]}"; do
        if [[ $name == *"$pat"* ]]; then
            selected+=("$patch")
            break
        fi
    done
done
((${#selected[@]})) || die "no mutant matches: ${PATTERNS[*]}"

# Header fields of a patch: `# key: value` lines before the diff.
field() {
    sed -n '/^diff --git /q; s/^# '"$1"': *//p' "$2"
}

# ---- 1. scratch clone with the working tree's changes --------------------------
started=$(date +%s)
mkdir -p "$DIR"
rm -rf "$SRC" "$LOGS"
mkdir -p "$LOGS"
git clone -q --no-hardlinks "$REPO" "$SRC" || die "git clone"
head=$(git -C "$SRC" rev-parse --short HEAD)
log "cloned $REPO (HEAD $head) into $SRC"
# Every file that differs on disk from the commit cloned (changed, added,
# untracked but not ignored) is copied over; files deleted on disk go.
changes() {
    git -C "$REPO" diff -z --name-only "$head" --
    git -C "$REPO" ls-files -z -o --exclude-standard
}
changes | (cd "$REPO" && while IFS= read -r -d '' f; do
               if [[ -e $f ]]; then printf '%s\0' "$f"; fi; done | tar --null -T - -cf -) \
    | tar -xf - -C "$SRC" || die "overlay"
changes | (cd "$REPO" && while IFS= read -r -d '' f; do
               if [[ ! -e $f ]]; then rm -f -- "$SRC/$f"; fi; done)
overlaid=$(changes | tr -cd '\0' | wc -c)
log "overlaid $overlaid changed file(s) of the working tree"
# The real OpenID Provider's npm packages: copied, not linked, so nothing a
# test does in the clone can reach the repository's copy.
if [[ -d $REPO/tests/integration/op/node_modules ]]; then
    cp -a "$REPO/tests/integration/op/node_modules" "$SRC/tests/integration/op/"
fi
# The overlay is staged (index only, nothing is committed), so `git diff` in
# the clone shows a mutant's change and nothing else.
git -C "$SRC" add -A

# ---- 2. build ----------------------------------------------------------------------
need_unit=0
for patch in "${selected[@]}"; do
    [[ $'\n'$(field test "$patch") == *$'\n'unit:* ]] && need_unit=1
done
log "building in $SRC (tests/build.sh)"
(cd "$SRC" && bash tests/build.sh) >"$LOGS/build.log" 2>&1 || die "build, see $LOGS/build.log"
if ((need_unit)); then
    (cd "$SRC" && make -j2 tests/unit/test_core) >>"$LOGS/build.log" 2>&1 \
        || die "unit test build, see $LOGS/build.log"
fi

# ---- running one selector ----------------------------------------------------------
# Prints pass, fail or error (the selector matched nothing, or could not run).
#   tests/integration/FILE.py[::NODE] [pytest args]   pytest in the clone
#   unit:PROGRAM:SUITE:TEST                           one Check test of tests/unit/PROGRAM
run_selector() {
    local sel=$1 out=$2
    if [[ $sel == unit:* ]]; then
        local prog suite test
        IFS=: read -r _ prog suite test <<<"$sel"
        # Check writes FILE:LINE:P|F|E:TCASE:TEST:... for every test it ran
        # to CK_LOG_FILE_NAME (the runner itself prints failures only).
        rm -f "$out.ck"
        (cd "$SRC" && CK_RUN_SUITE=$suite CK_LOG_FILE_NAME="$out.ck" CK_DEFAULT_TIMEOUT=60 \
            timeout "$TEST_TIMEOUT" "tests/unit/$prog") >"$out" 2>&1
        cat "$out.ck" >>"$out" 2>/dev/null
        rm -f "$out.ck"
        if grep -Eq ":[FE]:[^:]*:$test:" "$out"; then
            echo fail
        elif grep -Eq ":P:[^:]*:$test:" "$out"; then
            echo pass
        else
            echo error
        fi
        return
    fi
    local -a args
    mapfile -t args < <("$PY" -c 'import shlex, sys; print("\n".join(shlex.split(sys.argv[1])))' "$sel")
    (cd "$SRC" && IDBROKER_MODULE="$SRC/mod_auth_idbroker.so" timeout "$TEST_TIMEOUT" \
        "$PY" -m pytest -q -p no:cacheprovider -x "${args[@]}") >"$out" 2>&1
    case $? in
        0) echo pass ;;
        1) echo fail ;;
        *) echo error ;;        # interrupted, usage error, nothing collected, timeout
    esac
}

# ---- 3. baseline -------------------------------------------------------------------
status=0
if ((BASELINE)); then
    declare -A seen=()
    n=0
    for patch in "${selected[@]}"; do
        while IFS= read -r sel; do
            [[ -n $sel && -z ${seen[$sel]:-} ]] || continue
            seen[$sel]=1
            n=$((n + 1))
            r=$(run_selector "$sel" "$LOGS/baseline-$n.log")
            if [[ $r != pass ]]; then
                log "baseline: $sel: $r (see $LOGS/baseline-$n.log)"
                status=1
            fi
        done < <(field test "$patch")
    done
    ((status == 0)) || die "the baseline must pass before mutants prove anything"
    log "baseline: all $n selector(s) pass on the unmutated build"
fi

# ---- 4. mutants --------------------------------------------------------------------
rows=()
survivors=()
problems=()
for patch in "${selected[@]}"; do
    name=$(basename "$patch" .patch)
    t0=$(date +%s)
    class=$(field class "$patch" | head -1)
    check=$(field check "$patch" | paste -sd ';' | sed 's/;/; /g')
    mapfile -t sels < <(field test "$patch")
    result=""
    if ! git -C "$SRC" apply "$patch" 2>"$LOGS/$name.apply.log"; then
        result="NOT APPLIED"
    else
        targets=()
        for sel in "${sels[@]}"; do
            if [[ $sel == unit:* ]]; then
                targets+=("tests/unit/$(cut -d: -f2 <<<"$sel")")
            else
                targets+=(mod_auth_idbroker.so)
            fi
        done
        mapfile -t targets < <(printf '%s\n' "${targets[@]}" | sort -u)
        if ! (cd "$SRC" && make -j2 "${targets[@]}") >"$LOGS/$name.build.log" 2>&1; then
            result="BUILD FAILED"
        else
            failed=0 errors=0 i=0
            for sel in "${sels[@]}"; do
                i=$((i + 1))
                r=$(run_selector "$sel" "$LOGS/$name.$i.log")
                case $r in
                    fail) failed=$((failed + 1)) ;;
                    error) errors=$((errors + 1)); log "$name: selector error: $sel" ;;
                esac
            done
            if ((errors)); then
                result="ERROR ($errors/${#sels[@]} selectors could not run)"
            elif ((failed)); then
                result="killed ($failed/${#sels[@]})"
            else
                result="SURVIVED"
            fi
        fi
        git -C "$SRC" apply -R "$patch" 2>>"$LOGS/$name.apply.log" \
            || die "could not reverse $name; the clone is no longer the baseline"
    fi
    secs=$(($(date +%s) - t0))
    log "$name: $result (${secs}s)"
    case $result in
        killed*) ;;
        SURVIVED) survivors+=("$name"); status=1 ;;
        *) problems+=("$name: $result"); status=1 ;;
    esac
    tests=$(printf '%s<br>' "${sels[@]}" | sed 's#tests/integration/##g; s#<br>$##; s/|/\\|/g')
    rows+=("| ${name%%-*} $class | \`$check\` | $tests | $result | $secs |")
done

# ---- 5. the table ------------------------------------------------------------------
{
    echo "| attack class | check | test(s) | result | seconds |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    total=$(($(date +%s) - started))
    echo "${#selected[@]} mutant(s), $((${#selected[@]} - ${#survivors[@]} - ${#problems[@]})) killed," \
         "${#survivors[@]} survived, ${#problems[@]} not run to the end;" \
         "$((total / 60)) min $((total % 60)) s (HEAD $head" \
         "+ $overlaid working-tree change(s))"
    for s in "${survivors[@]}"; do echo "SURVIVED: $s"; done
    for p in "${problems[@]}"; do echo "PROBLEM: $p"; done
} | tee "$DIR/table.md"
exit $status
