"""Fixtures that run the real wirehub binary; see wirehub_server.py."""

import pytest

from wirehub_server import WirehubServer


@pytest.fixture(scope="module")
def server():
    """One server with the default configuration, shared by a test module."""
    with WirehubServer() as srv:
        yield srv
        if srv.process.poll() is not None:
            pytest.fail(f"wirehub exited during the tests with {srv.process.returncode}\n{srv.log_tail()}")


@pytest.fixture
def make_server():
    """Factory for a fresh server with a given TOML config; all are stopped at teardown."""
    started = []

    def start(config: dict | None = None) -> WirehubServer:
        srv = WirehubServer(config)
        started.append(srv)
        srv.start()
        return srv

    yield start
    for srv in started:
        srv.close()
