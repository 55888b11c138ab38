"""Throw-away shared stores for the multi-node tests: redis-server and
memcached on a free 127.0.0.1 port, in memory only (no RDB/AOF, so a stop
really loses every entry), plus a tiny client for each (RESP for redis, the
memcached text protocol) so tests can look at and tamper with what the
module stored without needing redis-cli.

    with RedisServer() as redis:            # or MemcachedServer()
        redis.spec                          # "redis:127.0.0.1:PORT" for IdBrokerSessionCache
        redis.keys()                        # every key (KEYS *)
        redis.get(k); redis.set(k, v)
        redis.stop(); redis.start()         # same port again: an outage and a recovery
"""
from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

from harness import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
MEMCACHED = shutil.which("memcached") or "/usr/bin/memcached"
HOST = "127.0.0.1"
TIMEOUT = 10.0
_RUNNING: set["_Server"] = set()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


class _Server:
    """A store process on 127.0.0.1:port that start()/stop() can cycle on the
    same port (the module's IdBrokerSessionCache names the port)."""
    scheme = ""         # the socache provider name
    module = ""         # harness extra_modules name of that provider

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"idbroker-{self.scheme}-", dir="/tmp"))
        self.dir.chmod(0o755)
        self.log_path = self.dir / f"{self.scheme}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def spec(self) -> str:
        return f"{self.scheme}:{HOST}:{self.port}"

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _ping(self) -> bool:
        raise NotImplementedError

    def start(self) -> "_Server":
        if self.proc is not None and self.proc.poll() is None:
            return self
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self._argv(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.dir,
                                     env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        log.close()
        _RUNNING.add(self)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.scheme} exited (rc={self.proc.returncode}):\n"
                                   + self.log_path.read_text(errors="replace")[-2000:])
            if _port_open(self.port):
                try:
                    if self._ping():
                        return self
                except OSError:
                    pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.scheme} did not come up on port {self.port}")

    def stop(self) -> None:
        """Kill this one process (by its own pid) and wait until the port is free."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        _RUNNING.discard(self)
        deadline = time.monotonic() + TIMEOUT
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- a tiny client
    def _connect(self) -> socket.socket:
        return socket.create_connection((HOST, self.port), timeout=5)

    @staticmethod
    def _readline(f) -> bytes:
        line = f.readline()
        if not line.endswith(b"\r\n"):
            raise OSError(f"connection closed mid-reply: {line!r}")
        return line[:-2]


class RedisServer(_Server):
    scheme = "redis"
    module = "socache_redis"

    def _argv(self) -> list[str]:
        return [REDIS_SERVER, "--port", str(self.port), "--bind", HOST, "--save", "",
                "--appendonly", "no", "--dir", str(self.dir), "--protected-mode", "no"]

    def _ping(self) -> bool:
        return self.command("PING") == "PONG"

    @staticmethod
    def _encode(*args: str | bytes) -> bytes:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        return b"".join(out)

    def _reply(self, f):
        line = self._readline(f)
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(f"redis error: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply(f) for _ in range(n)]
        raise RuntimeError(f"unexpected redis reply {line!r}")

    def command(self, *args: str | bytes):
        """One command; bulk strings come back as bytes."""
        with self._connect() as s, s.makefile("rb") as f:
            s.sendall(self._encode(*args))
            return self._reply(f)

    def keys(self, pattern: str = "*") -> list[str]:
        return sorted(k.decode() for k in self.command("KEYS", pattern))

    def get(self, key: str) -> bytes | None:
        return self.command("GET", key)

    def set(self, key: str, value: bytes, keep_ttl: bool = True) -> None:
        args = ["SET", key, value] + (["KEEPTTL"] if keep_ttl else [])
        assert self.command(*args) == "OK"

    def delete(self, key: str) -> int:
        return self.command("DEL", key)


class MemcachedServer(_Server):
    scheme = "memcache"
    module = "socache_memcache"

    def _argv(self) -> list[str]:
        argv = [MEMCACHED, "-l", HOST, "-p", str(self.port), "-U", "0", "-m", "16"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        return argv

    def _ping(self) -> bool:
        with self._connect() as s, s.makefile("rb") as f:
            s.sendall(b"version\r\n")
            return self._readline(f).startswith(b"VERSION")

    def get(self, key: str) -> bytes | None:
        with self._connect() as s, s.makefile("rb") as f:
            s.sendall(b"get %s\r\n" % key.encode())
            line = self._readline(f)
            if line == b"END":
                return None
            n = int(line.split()[3])
            data = f.read(n + 2)[:-2]
            assert self._readline(f) == b"END"
            return data

    def set(self, key: str, value: bytes, ttl: int = 300) -> None:
        with self._connect() as s, s.makefile("rb") as f:
            s.sendall(b"set %s 0 %d %d\r\n%s\r\n" % (key.encode(), ttl, len(value), value))
            assert self._readline(f) == b"STORED"

    def keys(self) -> list[str]:
        """Every live key (lru_crawler metadump: memcached >= 1.5)."""
        with self._connect() as s, s.makefile("rb") as f:
            s.sendall(b"lru_crawler metadump all\r\n")
            out = []
            while True:
                line = f.readline()         # metadump lines end in a bare \n
                if not line.endswith(b"\n"):
                    raise OSError(f"connection closed mid-reply: {line!r}")
                line = line.rstrip(b"\r\n")
                if line == b"END" or line.startswith(b"ERROR") or line.startswith(b"CLIENT_ERROR"):
                    break
                for part in line.split():
                    if part.startswith(b"key="):
                        out.append(unquote(part[4:].decode()))
            return sorted(out)


STORES = {"redis": RedisServer, "memcache": MemcachedServer}


@atexit.register
def _stop_all() -> None:
    """Never leave a store process behind (a crashed test run)."""
    for server in list(_RUNNING):
        server.stop()
