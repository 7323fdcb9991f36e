"""Runs the real wirehub binary for the python-websockets interop tests.

The process harness is shared with the raw-socket suite in tests/integration.
Debian's python3-websockets (10.4) belongs to /usr/bin/python3: run with that interpreter.
"""

import asyncio
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "integration"))

from wirehub_server import WirehubServer  # noqa: E402

TEST_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def server():
    with WirehubServer() as srv:
        yield srv
        if srv.process.poll() is not None:
            pytest.fail(f"wirehub exited during the tests with {srv.process.returncode}\n{srv.log_tail()}")


def run(coro, timeout: float = TEST_TIMEOUT_S):
    """Runs one test coroutine to completion, failing it after `timeout` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
