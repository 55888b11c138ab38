#!/usr/bin/python3
"""Reads LeakSanitizer output (full stacks: ASAN_OPTIONS=fast_unwind_on_malloc=0)
and fails if any leak is not a known third-party one.

    lsan_filter.py LOG

LSan suppressions (tests/fuzz/lsan.supp) match a function, file or module in
any frame. That cannot express the one lasso leak below precisely: its frames
are static functions of a stripped liblasso, and a module-wide "liblasso"
suppression would also hide the leaks that matter most here, GObjects of lasso
(LassoLogout, LassoSession...) that mod_src/core forgets to unref. So this
filter drops a leak only when its allocation is *lasso's own buffer*:

  lasso-internal-buffer: g_malloc0/g_malloc called directly from liblasso, and
    every frame from there up to the first frame of our code (mod_src/, fuzz/,
    tests/) is inside liblasso: no libgobject frame, so no GObject instance,
    no string or object handed to our code. Seen with lasso 2.8.1 (Debian 12):
    the Base64-decoded Signature of an HTTP-Redirect query is never freed by
    lasso's query-signature verification (lasso_logout_process_request_msg /
    _response_msg), 10..260 bytes per signed Redirect logout message.

Everything else is reported, and the exit status is 1 if anything is left
(0 when every leak was a known third-party one, or there was none).
"""
from __future__ import annotations

import re
import sys

FRAME = re.compile(r"^\s+#(\d+) 0x[0-9a-f]+ (?:in (\S+)(?: (\S+))?|\s*\((\S+)\+0x[0-9a-f]+\))")
OURS = re.compile(r"(^|/)(mod_src|fuzz|tests)/")


def parse(lines):
    """Yields (header, frames) per leak block; a frame is (function, location)."""
    block = None
    for line in lines:
        if line.startswith(("Direct leak of", "Indirect leak of")):
            if block:
                yield block
            block = (line.rstrip(), [])
            continue
        if block is None:
            continue
        m = FRAME.match(line)
        if m:
            func, loc, module = m.group(2), m.group(3) or "", m.group(4) or ""
            if module:
                block[1].append(("", module))
            else:
                # "in func file:line" or "in func (module+0x..)"
                loc = loc.strip("()")
                block[1].append((func, loc))
        elif not line.strip():
            yield block
            block = None
    if block:
        yield block


def in_lasso(frame) -> bool:
    return "liblasso.so" in frame[1]


def ours(frame) -> bool:
    return bool(OURS.search(frame[1]))


def lasso_internal_buffer(frames) -> bool:
    if len(frames) < 3 or frames[1][0] not in ("g_malloc0", "g_malloc") or not in_lasso(frames[2]):
        return False
    for f in frames[2:]:
        if ours(f):
            return True
        if not in_lasso(f):
            return False
    return False


def main() -> int:
    text = open(sys.argv[1], errors="replace").read().splitlines()
    left, dropped = [], 0
    for header, frames in parse(text):
        if lasso_internal_buffer(frames):
            dropped += 1
        else:
            left.append((header, frames))
    for header, frames in left:
        print(header)
        for i, (func, loc) in enumerate(frames):
            print(f"    #{i} {func} {loc}".rstrip())
        print()
    print(f"lsan_filter: {dropped} third-party leak(s) dropped (lasso-internal-buffer), "
          f"{len(left)} left")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
