"""A real redis-server of the test's own, on a free loopback port.

Started without persistence, killed (SIGKILL) and restarted on the same port on demand,
and always stopped at the end. A missing redis-server fails the test loudly (it is
installed by scripts/install-deps); it is never a skip.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

from wirehub_server import free_port

READY_TIMEOUT_S = 10.0


def redis_binary() -> str:
    path = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(path, os.X_OK):
        raise RuntimeError("redis-server not found: run scripts/install-deps")
    return path


def ping(port: int, timeout: float = 0.5) -> bool:
    """True when Redis on port answers PING with +PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """durable: AOF fsynced before every reply, so the data survives kill() and start() —
    how the README says to run Redis for OrderFlow's order log."""

    def __init__(self, durable: bool = False):
        self.durable = durable
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="wirehub-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.kill()
        self._dir.cleanup()

    def start(self) -> None:
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        argv = [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *aof,
                "--dir", self._dir.name, "--logfile", ""]
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode} (port {self.port} taken?)")
            if ping(self.port):
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def command(self, *args: str) -> bytes:
        """Sends one command in RESP and returns the raw reply (first read)."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload.encode())
            return s.recv(65536)
