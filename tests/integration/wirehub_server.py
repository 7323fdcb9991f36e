"""Starts and stops the real wirehub binary for black-box tests.

The binary comes from $WIREHUB_BIN (ctest sets it); when unset, <repo>/build/bin/wirehub.
Each WirehubServer owns one process on its own free loopback port, so test files can
run in parallel.
"""

import http.client
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
START_ATTEMPTS = 3


def wait_for(pred, timeout: float = 20.0, what: str = "condition") -> None:
    """Polls pred every 20 ms until it holds; AssertionError naming `what` after timeout s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def binary_path() -> str:
    """The server binary under test; fails loudly rather than skipping when absent."""
    path = os.environ.get("WIREHUB_BIN") or str(REPO_ROOT / "build" / "bin" / "wirehub")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"wirehub binary not found or not executable: {path} (set WIREHUB_BIN)")
    return path


def free_port() -> int:
    """A loopback port that was free a moment ago; start() retries if another process wins it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_inodes(port: int) -> set[str]:
    """Socket inodes of every TCP listener (any process) on this port, IPv4 and IPv6."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except FileNotFoundError:
            pass
    return inodes


def process_socket_inodes(pid: int) -> set[str]:
    """Socket inodes among a process's open descriptors."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_text(config: dict) -> str:
    """Renders {section: {key: int|str|bool|list}} as TOML."""
    lines = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


class WirehubServer:
    """One wirehub process: start() blocks until GET {ready_path} answers 200."""

    ready_path = "/healthz"  # an app without it (signalr-conformance) names another

    def __init__(self, config: dict | None = None, threads: int = 2, extra_args: list | None = None,
                 tls: tuple[str, str] | None = None):
        """tls: (cert_file, key_file) to add a TLS listener on its own free port (tls_port)."""
        self.config = config
        self.tls = tls
        self.tls_port = 0
        self.threads = threads
        self.extra_args = list(extra_args or [])
        self.host = "127.0.0.1"
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="wirehub-test-")
        self.log_path = pathlib.Path(self._dir.name) / "server.log"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Stops the process and removes its temporary directory."""
        self.stop()
        self._dir.cleanup()

    def start(self) -> None:
        argv_tail = []
        if self.config:
            config_path = pathlib.Path(self._dir.name) / "wirehub.toml"
            config_path.write_text(toml_text(self.config))
            argv_tail = ["--config", str(config_path)]
        last_error = ""
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            tls_args = []
            if self.tls:
                self.tls_port = free_port()
                tls_args = ["--tls-cert", self.tls[0], "--tls-key", self.tls[1],
                            "--tls-listen", f"{self.host}:{self.tls_port}"]
            argv = [binary_path(), "--listen", f"{self.host}:{self.port}",
                    "--threads", str(self.threads), *argv_tail, *tls_args, *self.extra_args]
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT, cwd=self._dir.name)
            ready, last_error = self._wait_ready()
            if ready:
                return
            self._kill()
        raise RuntimeError(f"wirehub did not become ready: {last_error}\n{self.log_tail()}")

    def _wait_ready(self) -> tuple[bool, str]:
        deadline = time.monotonic() + READY_TIMEOUT_S
        error = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False, f"exited with {self.process.returncode} before ready"
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=1.0)
                conn.request("GET", self.ready_path)
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    # The listeners use SO_REUSEPORT, so a server of another test that took
                    # the same port meanwhile would share it (and could be the one that
                    # answered): ready only when every listener on our ports is ours.
                    mine = process_socket_inodes(self.process.pid)
                    for port in filter(None, (self.port, self.tls_port)):
                        listening = listening_inodes(port)
                        if not listening & mine:
                            break  # not bound yet: the answer came from someone else
                        if listening - mine:
                            return False, f"port {port} is shared with another process"
                    else:
                        return True, ""
                error = f"{self.ready_path} answered {status}"
            except OSError as e:
                error = repr(e)
            time.sleep(0.02)
        return False, f"not ready after {READY_TIMEOUT_S}s: {error}"

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait_exit(self, timeout: float) -> int:
        """Waits for the process to exit and returns its exit status (raises on timeout)."""
        return self.process.wait(timeout=timeout)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._kill()
        return self.process.returncode

    def _kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def log_tail(self, limit: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "--- server log (tail) ---\n" + text[-limit:]

    def url(self, path: str, scheme: str = "ws") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"
