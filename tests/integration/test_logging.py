"""The server's log lines: --log-format json gives one JSON object per line, with the
message escaped; text is the default; a bad format is refused at start-up."""

import json
import re
import subprocess

from wirehub_server import WirehubServer, binary_path


def log_lines(srv):
    return [line for line in srv.log_path.read_text().splitlines() if line.strip()]


def test_json_logs_are_one_object_per_line(tmp_path):
    # A data directory whose name needs escaping: the store's start-up line names it.
    data = tmp_path / 'da"ta\\x\ttab'
    srv = WirehubServer(extra_args=["--log-format", "json", "--log-level", "debug", "--data", str(data)])
    try:
        srv.start()
        srv.stop()
        lines = log_lines(srv)
        assert lines
        records = [json.loads(line) for line in lines]  # every line parses on its own
        for r in records:
            assert set(r) == {"time", "level", "thread", "msg"}, r
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r["time"]), r
            assert r["level"] in ("trace", "debug", "info", "warning", "error", "critical")
        messages = [r["msg"] for r in records]
        assert any(m.startswith("listening on ") for m in messages), messages
        assert any("shut down" in m for m in messages), messages
        assert any(str(data) in m for m in messages if "order store" in m), messages
    finally:
        srv.close()


def test_text_logs_are_the_default():
    srv = WirehubServer()
    try:
        srv.start()
        line = log_lines(srv)[0]
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (info|debug|warning) \[\d+\] ", line), line
    finally:
        srv.close()


def test_an_unknown_log_format_exits_2():
    r = subprocess.run([binary_path(), "--log-format", "xml"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "--log-format" in r.stderr
