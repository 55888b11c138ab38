"""mod_auth_idbroker benchmarks, side by side with mod_auth_mellon in one run.
Run through bench/run.sh (installs, builds, then calls this). Prints tables;
asserts nothing: these are benchmarks, not tests.

    /usr/bin/python3 bench/bench.py [--parts 1,2,3,4] [--seconds 10] ...
    /usr/bin/python3 bench/bench.py --smoke     # every part on a tiny input, ~40 s

--smoke runs the same code paths (ours and mellon) with tiny inputs so the
scripts are known to still work (tests/integration/test_bench_smoke.py); its
numbers mean nothing. Options given explicitly override the smoke sizes.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Idp, Signer, log, pki, workdir  # noqa: E402


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]

    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    mellon = ver(["dpkg-query", "-W", "-f=${Version}", "libapache2-mod-auth-mellon"])
    lasso = ver(["dpkg-query", "-W", "-f=${Version}", "liblasso3"])
    return (f"machine: nproc={os.cpu_count()}, CPU {cpu}, {int(mem) // 1024} MiB RAM, "
            f"kernel {platform.release()}\n"
            f"software: {ver(['/usr/sbin/apache2', '-v'])}, {ver(['openssl', 'version'])}, "
            f"lasso {lasso}, mod_auth_mellon {mellon}, {ver(['wrk', '-v'])}\n"
            f"module: {common.MODULE}")


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


# Sizes of a full run and of a smoke run; an option given on the command
# line wins over both.
FULL = {"seconds": 10, "threads": 2, "conns": 16, "rounds": 2, "signins": 1500,
        "mellon_signins": None, "fail_signins": 40, "untuned_signins": 40,
        "entities": 5000, "sessions": 100000, "baseline_sessions": 1000,
        "session_budget": 120, "shmcb_size": 268435456}
SMOKE = {"seconds": 1, "threads": 2, "conns": 2, "rounds": 1, "signins": 8,
         "mellon_signins": 8, "fail_signins": 4, "untuned_signins": 4,
         "entities": 20, "sessions": 50, "baseline_sessions": 20,
         "session_budget": 30, "shmcb_size": 8388608}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="1,2,3,4")
    ap.add_argument("--smoke", action="store_true",
                    help="every part on a tiny input (numbers meaningless): "
                         + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in SMOKE.items()))

    def opt(name, help_):
        default = FULL[name.replace("-", "_")]
        ap.add_argument(f"--{name}", type=int, default=None,
                        help=f"{help_} (default {'max(200, signins / 3)' if default is None else default})")

    opt("seconds", "wrk duration per measurement")
    opt("threads", "wrk threads")
    opt("conns", "wrk connections")
    opt("rounds", "part 1: alternating rounds of unprotected/protected wrk runs")
    opt("signins", "ours, per cell of part 2")
    opt("mellon-signins", "mellon, per cell of part 2")
    opt("fail-signins", "per cell of part 2 for mellon with a P-256 key (mellon-ec)")
    opt("untuned-signins", "untuned mellon in part 2")
    opt("entities", "part 3: entities in the metadata aggregate")
    opt("sessions", "part 4: live sessions to grow to")
    opt("baseline-sessions", "part 4: live sessions of the baseline measurement")
    opt("session-budget", "part 4: seconds of sign-ins allowed to reach --sessions")
    opt("shmcb-size", "part 4: shmcb session cache size, bytes")
    args = ap.parse_args(argv)
    for key, value in (SMOKE if args.smoke else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.mellon_signins is None:
        args.mellon_signins = max(200, args.signins // 3)
    args.threads = max(1, min(args.threads, args.conns))   # wrk wants conns >= threads
    return args


def main() -> int:
    args = parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]

    info = machine()
    if args.smoke:
        info += ("\nSMOKE RUN (--smoke): tiny inputs, only checks that every part still runs; "
                 "the numbers mean nothing")
    print(info, flush=True)
    base = workdir("shared")
    idp = Idp(base)
    signer = Signer(pki.key_pem(idp.key), idp.cert_b64, idp.entity_id)
    out = []
    t_all = time.monotonic()
    for part in parts:
        t0 = time.monotonic()
        la = loadavg()
        log(f"== part {part} (1-min load average before: {la})")
        if part == "1":
            import p1_protected
            from stores import RedisServer
            text = p1_protected.run(idp, signer, args, RedisServer)
        elif part == "2":
            import p2_signin
            text = p2_signin.run(idp, signer, args)
        elif part == "3":
            import p3_metadata
            text = p3_metadata.run(idp, signer, args)
        elif part == "4":
            import p4_sessions
            text = p4_sessions.run(idp, signer, args)
        else:
            log(f"unknown part {part}")
            continue
        out.append(text + f"\n(part {part}: {time.monotonic() - t0:.0f} s, 1-min load "
                          f"average before {la}, after {loadavg()})")
    print("\n" + "=" * 100 + "\nSUMMARY\n" + info + "\n" + "\n".join(out), flush=True)
    print(f"\nbench: done in {time.monotonic() - t_all:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
