"""Smoke test of the benchmarks (bench/): they are not tests and do not run
in CI, so this makes sure each bench script still runs on a tiny input.

Runs `bench/bench.py --smoke` (every part, ours and mod_auth_mellon; not
bench/run.sh, whose apt and build steps the test suite has already done)
against the module the suite tests, and checks that it exits 0 and prints
each part's table. The numbers are not looked at: a smoke run's numbers mean nothing.
~25-40 s on 2 cores. Needs wrk and libapache2-mod-auth-mellon
(tests/deps.sh test), redis-server and xmlsec1.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# (title of the table, its first column): one or more tables per part.
TABLES = [
    ("1. Protected static page with a valid session vs the same page unprotected", "server"),
    ("2a. In-process crypto limit of one sign-in", "operation"),
    ("2b. Full sign-in cycles per second", "SP key"),
    ("2c. mellon tuned vs untuned", "mellon"),
    ("3. IdP metadata: aggregate of 20 entities", "start"),
    ("3b. Resident memory per process", "start"),
    ("4. Session store scaling", "live sessions"),
]


def _require_tools() -> None:
    missing = [what for what, ok in (
        ("wrk", shutil.which("wrk")),
        ("libapache2-mod-auth-mellon", Path("/usr/lib/apache2/modules/mod_auth_mellon.so").is_file()),
        ("redis-server", shutil.which("redis-server")),
        ("xmlsec1", shutil.which("xmlsec1")),
    ) if not ok]
    if missing:
        pytest.fail(f"bench smoke test needs: {' '.join(missing)} (bash tests/deps.sh test)",
                    pytrace=False)


def test_bench_smoke(module_path):
    _require_tools()
    work = Path(tempfile.mkdtemp(prefix="idbroker-bench-smoke-", dir="/tmp"))
    work.chmod(0o755)    # the httpd children (www-data) read configs and keys in it
    env = {**os.environ, "BENCH_WORK": str(work), "BENCH_MODULE": module_path}
    try:
        proc = subprocess.run([sys.executable, str(REPO / "bench" / "bench.py"), "--smoke"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"bench.py --smoke did not finish in 300 s (work dir kept: {work})\n"
                    f"{(e.stderr or b'')[-3000:]!r}", pytrace=False)
    out = proc.stdout
    detail = (f"work dir kept: {work}\n--- stdout (end)\n{out[-6000:]}\n"
              f"--- stderr (end)\n{proc.stderr[-6000:]}")
    assert proc.returncode == 0, f"bench.py --smoke exited {proc.returncode}\n{detail}"
    missing = [title for title, col in TABLES
               if not re.search(rf"^{re.escape(title)}.*\n\+[-+]+\+\n\| {re.escape(col)}\s",
                                out, re.M)]
    assert not missing, f"tables missing from the output: {missing}\n{detail}"
    assert "bench: done in" in out, detail
    shutil.rmtree(work, ignore_errors=True)
