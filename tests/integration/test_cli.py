"""The binary's command-line and config-file contract (DESIGN.md, "Binaries"): --help and
--version exit 0; unknown flags, bad values, unknown config keys and wrong types exit 2
with a message naming the problem; the shipped config/wirehub.toml is accepted as is."""

import subprocess
import urllib.request

import pytest

from wirehub_server import REPO_ROOT, WirehubServer, binary_path


def run(*args, timeout=10):
    return subprocess.run([binary_path(), *args], capture_output=True, text=True, timeout=timeout)


def test_help_and_version_exit_0():
    assert run("--help").returncode == 0
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("wirehub ")


@pytest.mark.parametrize("args, needle", [
    (["--bogus"], "--bogus"),
    (["--threads", "0"], "--threads"),
    (["--threads", "many"], "--threads"),
    (["--log-level", "loud"], "--log-level"),
    (["--listen", "127.0.0.1:99999"], "port"),
    (["--listen", "example.com:80"], "numeric"),
    (["--config", "/no/such/file.toml"], "/no/such/file.toml"),
])
def test_bad_flags_exit_2_with_a_message(args, needle):
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr + result.stdout


@pytest.mark.parametrize("text, needle", [
    ("[websocket]\nmax_mesage_bytes = 3\n", "websocket.max_mesage_bytes"),
    ("[nope]\n", "[nope]"),
    ("[websocket]\nping_interval_ms = \"soon\"\n", "websocket.ping_interval_ms"),
    ("[websocket]\nslow_consumer = \"maybe\"\n", "slow_consumer"),
    ("[http]\nmax_head_bytes = 1\n", "http.max_head_bytes"),
    ("[websocket]\nallowed_origins = \"https://a.example\"\n", "websocket.allowed_origins"),
    ("[websocket]\nallowed_origins = [\"https://ok.example\", \"example.com\"]\n", "\"example.com\""),
    ("[websocket]\ncompression = \"gzip\"\n", "websocket.compression"),
    ("[websocket]\nbroadcast_compression = true\n", "websocket.broadcast_compression"),
    ("[websocket]\ncompression_server_max_window_bits = 7\n", "websocket.compression_server_max_window_bits"),
    ("[websocket]\ncompression_client_max_window_bits = 16\n", "websocket.compression_client_max_window_bits"),
    ("[websocket]\ncompression_level = 10\n", "websocket.compression_level"),
    ("[websocket]\ncompression_mem_level = 0\n", "websocket.compression_mem_level"),
    ("[websocket]\ncompression_min_bytes = -1\n", "websocket.compression_min_bytes"),
    ("[tls]\ncert = \"x\"\n", "tls.cert"),
    ("[tls]\nsni = \"x\"\n", "tls.sni"),
    ("[tls]\nsni = [{ cert_file = \"a.pem\" }]\n", "tls.sni[0]"),
    ("[tls]\nsni = [{ cert_file = \"a.pem\", key_file = \"a.key\" }]\n", "--tls-cert"),
    ("[jwt]\nleeway_s = -1\n", "jwt.leeway_s"),
    ("[jwt]\nclose_on_expiry = \"yes\"\n", "jwt.close_on_expiry"),
    ("[jwt]\nsecret = \"0123456789abcdef0123456789abcdef\"\nrequire = [\"scope\"]\n", "expected claim=value"),
    ("[jwt]\nsecret = \"short\"\n", "HS256 secret shorter than 256 bits"),
    ("[jwt]\nsecret = \"0123456789abcdef0123456789abcdef\"\npublic_key_file = \"/etc/hostname\"\n", "one key"),
    ("[jwt]\nsecret_file = \"/nonexistent-secret\"\n", "/nonexistent-secret: cannot read"),
    ("[server\n", "wirehub.toml"),
])
def test_bad_config_exits_2_naming_the_key(tmp_path, text, needle):
    path = tmp_path / "wirehub.toml"
    path.write_text(text)
    result = run("--config", str(path))
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr


def test_shipped_config_is_accepted_and_serves(tmp_path):
    # The documented file, with only the port moved to a free one by a flag (flags win).
    with WirehubServer(extra_args=["--config", str(REPO_ROOT / "config" / "wirehub.toml")]) as srv:
        with urllib.request.urlopen(srv.url("/healthz", scheme="http"), timeout=5) as r:
            assert r.status == 200
