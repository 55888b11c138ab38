"""Bulk sign-ins through an SP, the way a browser does them, with the IdP's
part (signing Responses) outside the timed phases:

  phase A (timed)   C clients GET the protected page: the SP creates and signs
                    an AuthnRequest and stores the pending sign-in;
  phase B (untimed) one fresh signed Response per AuthnRequest (unique IDs,
                    valid times, InResponseTo = that request);
  phase C (timed)   the same C clients POST them to the ACS: the SP verifies
                    and creates a session (303 + session cookie).

sign-ins/s = successful sign-ins / (time A + time C).
"""
from __future__ import annotations

import collections
import time

from common import run_clients, sign_bulk


def bulk_sign_in(sp, idp, n: int, clients: int, user_prefix: str = "u") -> dict:
    t_a, started = run_clients(clients, list(range(n)), lambda c, _i: sp.start(c), sp.port)
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
    t_c, finished = (run_clients(clients, items, sp.finish, sp.port) if items else (0.0, []))
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
            "fail_example": example, "cookies": cookies}
