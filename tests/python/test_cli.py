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


def test_check_config_refuses_what_serve_refuses(server_bin, tmp_path):
    """check-config runs before every start (ExecStartPre): it refuses what `serve` would
    refuse at start, not only bad syntax. It used to pass a network address without tokens and
    certificate files that did not load, which `serve` then refused."""
    from conftest import CERTS
    env = dict(os.environ, CI_TOKEN="c" * 40)
    (tmp_path / "base.yaml").write_text("")

    def check(*sets):
        args = [server_bin, "check-config", "--config-dir", str(tmp_path)]
        for s in sets:
            args += ["--set", s]
        return subprocess.run(args, env=env, capture_output=True, timeout=30)

    no_tokens = check("server.host=0.0.0.0")
    assert no_tokens.returncode != 0 and b"no tokens configured" in no_tokens.stderr, no_tokens.stderr
    (tmp_path / "base.yaml").write_text("auth:\n  tokens:\n    - {name: ci, env: CI_TOKEN}\n")
    no_cert = check("server.host=0.0.0.0")
    assert no_cert.returncode != 0 and b"tls.cert_file and tls.key_file are required" in no_cert.stderr, no_cert.stderr
    missing = check("server.host=0.0.0.0", f"tls.cert_file={tmp_path}/nothere.pem", f"tls.key_file={CERTS / 'server-key.pem'}")
    assert missing.returncode != 0 and b"nothere.pem" in missing.stderr, missing.stderr
    mismatch = check("server.host=0.0.0.0", f"tls.cert_file={CERTS / 'server.pem'}", f"tls.key_file={CERTS / 'ca-key.pem'}")
    assert mismatch.returncode != 0 and b"key_mismatch" in mismatch.stderr, mismatch.stderr
    token_file = check("grafana.url=http://127.0.0.1:9", f"grafana.token_file={tmp_path}/none")
    assert token_file.returncode != 0 and b"grafana.token_file" in token_file.stderr, token_file.stderr
    good = check("server.host=0.0.0.0", f"tls.cert_file={CERTS / 'server.pem'}", f"tls.key_file={CERTS / 'server-key.pem'}")
    assert good.returncode == 0, good.stderr
    # On loopback the dev defaults fill in tokens and certificates: nothing to refuse.
    (tmp_path / "base.yaml").write_text("")
    assert check().returncode == 0
