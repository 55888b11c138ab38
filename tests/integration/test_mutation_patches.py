"""The mutation harness's patches stay current (tests/mutation/README.md).

Each tests/mutation/mutants/*.patch disables one security check, and its
header names the attack, the check (FILE:FUNCTION) and the tests that must
then fail. tests/mutation/run.sh (too slow for every run: a rebuild per
mutant) proves those tests fail; this test only makes sure a refactor has not
made a patch stale: it still applies to the working tree, the function it
names still exists in the file it changes, and the tests it names still exist.
When it fails, regenerate the patch named in the output (README: "Adding or
regenerating a mutant").

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_mutation_patches.py
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MUTATION = REPO / "tests" / "mutation"


def check(*patches: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(MUTATION / "check-patches.sh"), *map(str, patches)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def test_every_mutant_applies_and_names_existing_checks_and_tests():
    r = check()
    assert r.returncode == 0, r.stdout + r.stderr
    count = len(list((MUTATION / "mutants").glob("*.patch")))
    assert f"check-patches: {count} mutant(s) apply" in r.stdout, r.stdout
    assert count >= 30


def test_stale_mutant_is_reported(tmp_path):
    """The check itself can fail: a patch whose context no longer matches the
    source, whose function is gone, or whose test was renamed."""
    good = sorted((MUTATION / "mutants").glob("*.patch"))[0]
    text = good.read_text()
    header, diff = text.split("diff --git ", 1)
    removed = re.search(r"^-(?!--)(.*)$", diff, re.M)
    assert removed, good
    stale = tmp_path / "01-stale-context.patch"
    stale.write_text(text.replace("-" + removed.group(1), "-" + removed.group(1) + " /* gone */", 1))
    renamed = tmp_path / "02-renamed-test.patch"
    renamed.write_text(re.sub(r"^# test: .*$", "# test: tests/integration/test_acs_rules.py"
                              "::test_no_such_test", text, count=1, flags=re.M))
    no_function = tmp_path / "03-no-function.patch"
    no_function.write_text(re.sub(r"^(# check: [^:]+):.*$", r"\1:no_such_function", text,
                                  count=1, flags=re.M))
    r = check(stale, renamed, no_function)
    assert r.returncode == 1, r.stdout
    assert "01-stale-context.patch: does not apply" in r.stdout, r.stdout
    assert "02-renamed-test.patch: no test test_no_such_test" in r.stdout, r.stdout
    assert "03-no-function.patch: no function no_such_function" in r.stdout, r.stdout
