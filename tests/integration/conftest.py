"""Fixtures for the httpd integration tests (see harness.py)."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import Httpd  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running integration test")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Expose the test outcome to fixtures, so failed tests keep their
    work dir (config + logs) for post-mortem."""
    rep = (yield).get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(autouse=True)
def _memcheck_reports():
    """Under ASan/UBSan or valgrind (harness.MEMCHECK), a report written
    while this test ran fails it, printed in full. Torn down after the test's
    own fixtures, so the httpds they stopped have been looked at."""
    before = len(harness.FINDINGS)
    yield
    if harness.MEMCHECK:
        harness.running_memcheck_findings()
    new = harness.FINDINGS[before:]
    if new:
        pytest.fail("memory error report(s) from httpd:\n" + "\n".join(new), pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    """Reports found after the last test (module and session fixtures stop
    their httpds then) fail the run too, printed in full."""
    if harness.MEMCHECK:
        harness._stop_all()
        harness.running_memcheck_findings()
    if harness.FINDINGS:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        write = tr.write_line if tr else (lambda line: print(line, file=sys.stderr))
        write(f"{len(harness.FINDINGS)} memory error report(s) from httpd "
              "(ASan/UBSan/valgrind):")
        for report in harness.FINDINGS:
            write(report)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def module_path() -> str:
    """The built module; a missing .so is a hard failure, not a skip,
    so a CI run can never go green without testing anything."""
    path = Path(os.environ.get("IDBROKER_MODULE") or REPO / "mod_auth_idbroker.so")
    if not path.is_file():
        pytest.fail(f"{path} not found - build first: make "
                    "(or set IDBROKER_MODULE=/path/to/mod_auth_idbroker.so)",
                    pytrace=False)
    return str(path.resolve())


@pytest.fixture
def httpd_factory(request):
    """Callable `(module_path=None) -> Httpd`. Work dirs live under a fresh
    0755 dir in /tmp (pytest's tmp_path is root-only 0700, unreadable for the
    www-data children). All instances are stopped at teardown; the dir is
    removed unless the test failed or IDBROKER_KEEP_WORKDIR is set."""
    base = Path(tempfile.mkdtemp(prefix="idbroker-it-", dir="/tmp"))
    base.chmod(0o755)
    made: list[Httpd] = []

    def make(module_path: str | None = None) -> Httpd:
        h = Httpd(base / f"httpd{len(made)}", module_path)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()
    rep = getattr(request.node, "rep_call", None)
    if (rep is None or rep.failed) or os.environ.get("IDBROKER_KEEP_WORKDIR"):
        print(f"\nhttpd work dir kept: {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
