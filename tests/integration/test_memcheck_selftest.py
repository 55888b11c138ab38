"""Self-test of the memory-checker plumbing of harness.py and conftest.py
(tests/fuzz/asan-integration.sh, tests/fuzz/valgrind-integration.sh): a run
under ASan/UBSan or valgrind is only worth something if a report written by
an httpd child really fails it. Runs in every mode; the crash test checks the
mode's own report (ASan's, valgrind's, or httpd's error.log line)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

import harness
from harness import get

ASAN_REPORT = """=================================================================
==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010
READ of size 1 at 0x602000000010 thread T0
    #0 0x7f00 in ib_something mod_src/core/ib_text.c:42
SUMMARY: AddressSanitizer: heap-use-after-free mod_src/core/ib_text.c:42 in ib_something
"""
UBSAN_REPORT = "mod_src/core/ib_url.c:99:12: runtime error: signed integer overflow\n"
VALGRIND_ERROR = """==4242== Memcheck, a memory error detector
==4242== Invalid read of size 8
==4242==    at 0x4849D2: ib_something (ib_text.c:42)
"""
VALGRIND_CLEAN = """==4242== Memcheck, a memory error detector
==4242== HEAP SUMMARY:
==4242==     in use at exit: 258,321 bytes in 1,070 blocks
==4242== ERROR SUMMARY: 0 errors from 0 contexts (suppressed: 3 from 1)
"""
ASAN_WARNING = "==4242==WARNING: ASan is ignoring requested __asan_handle_no_return\n"


@pytest.mark.parametrize("text", [ASAN_REPORT, UBSAN_REPORT, VALGRIND_ERROR,
                                  "==7== ERROR SUMMARY: 2 errors from 1 contexts\n"])
def test_error_reports_are_recognised(text):
    assert harness.report_has_error(text)


@pytest.mark.parametrize("text", [VALGRIND_CLEAN, ASAN_WARNING, ""])
def test_clean_logs_and_warnings_are_not_errors(text):
    assert not harness.report_has_error(text)


@pytest.fixture
def findings(monkeypatch):
    """A private FINDINGS list, and stop() looking at reports as in a
    memory-checker run, so what this file provokes does not fail the run."""
    mine: list[str] = []
    monkeypatch.setattr(harness, "FINDINGS", mine)
    monkeypatch.setattr(harness, "MEMCHECK", True)
    return mine


def test_report_planted_in_a_running_httpd_is_found_once_at_stop(httpd_factory, findings):
    h = httpd_factory(None)
    h.write_config("")
    h.start()
    (h.memcheck_dir / "asan.4242").write_text(ASAN_REPORT)
    (h.memcheck_dir / "vg.4243").write_text(VALGRIND_CLEAN)
    h.stop()
    assert len(findings) == 1
    assert "asan.4242" in findings[0] and "heap-use-after-free" in findings[0]
    assert h.memcheck_findings() == []          # reported once, not at every look


def _children(master: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(master):
            kids.append(int(stat.parent.name))
    return kids


def test_child_crash_is_reported_by_the_memory_checker(httpd_factory, module_path, findings):
    """A child killed by SIGSEGV is the crash a memory error ends in: the
    mode's checker must write it where the harness looks. Under ASan the
    child must carry the ASan runtime and the instrumented module."""
    h = httpd_factory(module_path)
    h.write_config("")
    h.start()
    assert get(h.url("/")).status_code == 200   # a child is up and serving
    master = h._read_pid()
    kids = _children(master)
    assert kids, "no httpd child process"
    if harness.PRELOAD:
        maps = Path(f"/proc/{kids[0]}/maps").read_text()
        assert "libasan" in maps and Path(module_path).name in maps
    os.kill(kids[0], signal.SIGSEGV)
    deadline = time.monotonic() + harness.TIMEOUT
    while not findings and time.monotonic() < deadline:
        time.sleep(0.2)
        h.memcheck_findings()
    h.stop()
    text = "\n".join(findings)
    assert text, "the crash left no report where the harness looks"
    if harness.PRELOAD:
        assert "ERROR: AddressSanitizer: SEGV" in text
    elif harness.VALGRIND:
        assert "Process terminating with default action of signal 11" in text
    else:
        assert "exit signal Segmentation fault" in text
