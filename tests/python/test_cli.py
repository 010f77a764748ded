"""The command line around `serve`: hash-token, check-config and the ENV variable."""
import hashlib
import os
import subprocess
from importlib.metadata import version

import pytest

if not version("mcp").startswith("2."):
    pytest.skip("CLI tests run once, in the mcp 2.x environment", allow_module_level=True)

from conftest import ROOT  # noqa: E402


def test_hash_token_reads_stdin_within_its_cap(server_bin):
    """A token on stdin is hashed as `sha256:<hex>`; input past 4096 bytes is refused as soon
    as the 4097th byte is read. It used to read to the end first: `yes | hash-token` grew
    without bound, and input that never ends never got an answer."""
    ok = subprocess.run([server_bin, "hash-token"], input=b"s3cret-token\n", capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.decode().strip() == "sha256:" + hashlib.sha256(b"s3cret-token").hexdigest()
    endless = subprocess.Popen([server_bin, "hash-token"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        endless.stdin.write(b"y" * 8192)
        endless.stdin.flush()  # and kept open: no end of input
        assert endless.wait(timeout=20) != 0
        assert b"longer than 4096 bytes" in endless.stderr.read()
    finally:
        endless.kill()
        endless.wait()


def test_check_config_warns_of_an_expired_token_and_takes_an_empty_env_as_unset(server_bin, tmp_path):
    """An expired token is refused at run time: check-config (and serve) now say so (the
    warning needed a clock that no caller gave it). `ENV=` is unset, `dev`, as the Go server
    read it, not an invalid environment name."""
    (tmp_path / "base.yaml").write_text(
        "auth:\n  tokens:\n    - {name: old, env: OLD_TOKEN, expires: \"2020-01-01T00:00:00Z\"}\n"
        "    - {name: ci, env: CI_TOKEN}\n")
    env = dict(os.environ, OLD_TOKEN="o" * 40, CI_TOKEN="c" * 40, ENV="")
    out = subprocess.run([server_bin, "check-config", "--config-dir", str(tmp_path)], env=env,
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert b"auth.tokens[0] (old) expired at 2020-01-01T00:00:00Z: it is refused" in out.stderr, out.stderr
    assert b"(ci)" not in out.stderr
