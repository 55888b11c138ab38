"""Bulk sign-ins through an SP, the way a browser does them, with the IdP's
part (signing Responses) outside the timed phases:

  phase A (timed)   C clients GET the protected page: the SP creates and signs
                    an AuthnRequest and stores the pending sign-in;
  phase B (untimed) one fresh signed Response per AuthnRequest (unique IDs,
                    valid times, InResponseTo = that request);
  phase C (timed)   the same C clients POST them to the ACS: the SP verifies
                    and creates a session (303 + session cookie).

sign-ins/s = successful sign-ins / (time A + time C). Also the CPU time per
sign-in of the clients and of the SP's httpd over phases A and C.
"""
from __future__ import annotations

import collections
import os
import time

from common import run_clients, sign_bulk

_TICK = os.sysconf("SC_CLK_TCK")


def _server_cpu(sp) -> tuple[float, float]:
    """(user, system) CPU seconds, all threads, the SP's httpd processes
    have used so far."""
    user = system = 0
    for pid in sp.httpd.pids():
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user += int(fields[11])
            system += int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return user / _TICK, system / _TICK


def _timed(sp, clients, items, fn, cpu):
    """run_clients, adding the CPU seconds of the client processes (forked
    and reaped by it, so they show in os.times' children fields) and of the
    server to cpu["client"] and cpu["server"]."""
    c0, s0 = os.times(), _server_cpu(sp)
    out = run_clients(clients, items, fn, sp.port)
    c1, s1 = os.times(), _server_cpu(sp)
    cpu["client"] += (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    cpu["server"] += (s1[0] - s0[0]) + (s1[1] - s0[1])
    cpu["server_sys"] += s1[1] - s0[1]
    return out


def bulk_sign_in(sp, idp, n: int, clients: int, user_prefix: str = "u") -> dict:
    cpu = {"client": 0.0, "server": 0.0, "server_sys": 0.0}
    t_a, started = _timed(sp, clients, list(range(n)), lambda c, _i: sp.start(c), cpu)
    items, start_fail = [], collections.Counter()
    for s in started:
        it = sp.decode(s) if s and s[0] == "ok" else None
        if it is None:
            start_fail[str(s[:2]) if isinstance(s, tuple) else str(s)] += 1
        else:
            items.append(it)
    t0 = time.perf_counter()
    jobs = [{"acs": it["acs"], "audience": it["audience"], "irt": it["irt"],
             "user": f"{user_prefix}{i}@bench.example.test", "n": i}
            for i, it in enumerate(items)]
    for it, xml in zip(items, sign_bulk(idp, jobs)):
        it["xml"] = xml
    t_sign = time.perf_counter() - t0
    t_c, finished = (_timed(sp, clients, items, sp.finish, cpu) if items else (0.0, []))
    cookies, finish_fail = [], collections.Counter()
    example = None
    for f in finished:
        if f and f[0] == "ok":
            cookies.append(f[1])
        else:
            finish_fail[str(f[:2]) if isinstance(f, tuple) else str(f)] += 1
            example = example or f
    ok = len(cookies)
    return {"n": n, "clients": clients, "ok": ok, "t_start": t_a, "t_acs": t_c,
            "t_sign": t_sign, "rate": ok / (t_a + t_c) if ok else 0.0,
            "start_rate": len(items) / t_a if t_a else 0.0,
            "acs_rate": ok / t_c if t_c else 0.0,
            "start_fail": dict(start_fail), "finish_fail": dict(finish_fail),
            "fail_example": example, "cookies": cookies,
            # CPU per successful sign-in over the two timed phases, in ms:
            # the client processes (the load generator on the same cores)
            # and the SP's httpd.
            "client_cpu_ms": 1000 * cpu["client"] / ok if ok else None,
            "server_cpu_ms": 1000 * cpu["server"] / ok if ok else None,
            "server_sys_ms": 1000 * cpu["server_sys"] / ok if ok else None}
