#!/usr/bin/env bash
# Cheap check of the mutants (a few seconds, no build): every
# tests/mutation/mutants/*.patch
#   - still applies to the working tree (git apply --check; nothing is written),
#   - has its header: `# class:`, `# check: FILE:FUNCTION` (one or more),
#     `# mutation:` and at least one `# test:`,
#   - names a FUNCTION that exists in FILE, and FILE is one the diff changes,
#   - names tests that exist: tests/integration/FILE.py[::test_name[...]] or
#     unit:PROGRAM:SUITE:TEST (TEST defined in tests/unit/*.c).
# A refactor that moves a check or renames a test makes a mutant stale: this
# says which one, and run.sh's full table then needs the patch regenerated
# (tests/mutation/README.md). tests/integration/test_mutation_patches.py runs it.
#
#   bash tests/mutation/check-patches.sh [PATCH...]
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
if (($#)); then
    patches=("$@")
else
    patches=(tests/mutation/mutants/*.patch)
fi
[[ -e ${patches[0]} ]] || { echo "check-patches: no patches" >&2; exit 1; }

bad=0
problem() {
    echo "$1: $2"
    bad=$((bad + 1))
}

# `# key: value` lines before the diff.
field() {
    sed -n '/^diff --git /q; s/^# '"$1"': *//p' "$2"
}

for patch in "${patches[@]}"; do
    name=$(basename "$patch")
    [[ $name =~ ^[0-9][0-9]-[a-z0-9-]+\.patch$ ]] \
        || problem "$name" "the name is not NN-short-name.patch"
    if ! out=$(git apply --check "$patch" 2>&1); then
        problem "$name" "does not apply to the working tree: ${out//$'\n'/ }"
    fi
    changed=$(sed -n 's#^diff --git a/\([^ ]*\) b/.*#\1#p' "$patch")
    [[ -n $changed ]] || problem "$name" "holds no diff"
    for key in class mutation; do
        [[ -n $(field "$key" "$patch") ]] || problem "$name" "no '# $key:' line"
    done

    checks=$(field check "$patch")
    [[ -n $checks ]] || problem "$name" "no '# check: FILE:FUNCTION' line"
    while IFS= read -r check; do
        [[ -n $check ]] || continue
        file=${check%%:*} func=${check#*:}
        if [[ $file == "$check" || -z $func ]]; then
            problem "$name" "check '$check' is not FILE:FUNCTION"
        elif [[ ! -f $file ]]; then
            problem "$name" "check file $file does not exist"
        elif ! grep -Eq "^[a-z].*[ *]$func\(" "$file"; then
            problem "$name" "no function $func in $file"
        elif ! grep -qxF "$file" <<<"$changed"; then
            problem "$name" "the diff does not change $file"
        fi
    done <<<"$checks"

    tests=$(field test "$patch")
    [[ -n $tests ]] || problem "$name" "no '# test:' line"
    while IFS= read -r sel; do
        [[ -n $sel ]] || continue
        if [[ $sel == unit:* ]]; then
            IFS=: read -r _ prog suite test <<<"$sel"
            if [[ -z $prog || -z $suite || -z $test ]]; then
                problem "$name" "unit test '$sel' is not unit:PROGRAM:SUITE:TEST"
            elif ! grep -q "^START_TEST($test)" tests/unit/*.c; then
                problem "$name" "no unit test $test in tests/unit"
            elif ! grep -q "suite_create(\"$suite\")" tests/unit/*.c; then
                problem "$name" "no unit suite $suite in tests/unit"
            fi
            continue
        fi
        target=${sel%% *}
        file=${target%%::*}
        if [[ $file != tests/integration/*.py || ! -f $file ]]; then
            problem "$name" "test file of '$sel' does not exist"
        elif [[ $target == *::* ]]; then
            func=${target#*::}
            func=${func%%[*}
            grep -q "^def $func(" "$file" || problem "$name" "no test $func in $file"
        fi
    done <<<"$tests"
done

if ((bad)); then
    echo "check-patches: $bad problem(s) in ${#patches[@]} mutant(s)"
    exit 1
fi
echo "check-patches: ${#patches[@]} mutant(s) apply and name existing checks and tests"
