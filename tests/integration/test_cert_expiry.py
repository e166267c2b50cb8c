"""Certificate validity: --check warns about a certificate that has expired, is not yet valid
or expires within cert_expiry_warning (default 14 days); --check --strict fails on warnings;
-t is --check; a running tlsgate logs the same warnings at start."""

import datetime

import pytest

import client_support
from support import render_config, run


def leaf(certs, stem, valid_from_days, valid_until_days):
    """A server leaf valid from now + valid_from_days to now + valid_until_days -> (chain, key)."""
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.timezone.utc)
    return client_support._leaf_from_intermediate(
        certs, stem, "localhost", rsa.generate_private_key(public_exponent=65537, key_size=2048),
        x509.random_serial_number(), now + datetime.timedelta(days=valid_from_days),
        now + datetime.timedelta(days=valid_until_days), ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])


def config(tmp_path, chain, key, **global_):
    g = {"workers": 1}
    g.update(global_)
    path = tmp_path / "gate.toml"
    path.write_text(render_config(g, {"cert": str(chain), "key": str(key)},
                                  [{"name": "imaps", "listen": "127.0.0.1:0",
                                    "backend": "127.0.0.1:9", "protocol": "imap"}]))
    return path


def check(binary, path, *flags):
    return run([str(binary), *flags, str(path)], timeout=30)


def warnings_of(r):
    return [l for l in r.stderr.splitlines() if l.startswith("warning: ")]


@pytest.mark.parametrize("stem, valid_from, valid_until, wanted", [
    ("expired", -10, -1, "has expired"),
    ("future", 2, 30, "is not valid before"),
    ("soon", -10, 4.9, "expires in 4 days"),
])
def test_check_warns_and_strict_fails(tlsgate_binary, certs, tmp_path, stem, valid_from,
                                      valid_until, wanted):
    chain, key = leaf(certs, stem, valid_from, valid_until)
    path = config(tmp_path, chain, key)
    r = check(tlsgate_binary, path, "--check")
    assert r.returncode == 0, r.stderr
    found = [l for l in warnings_of(r) if wanted in l]
    assert len(found) == 1, r.stderr
    assert f"{path}:" in found[0] and "service[imaps].cert: " in found[0], found[0]
    assert "CN=localhost" in found[0], found[0]
    strict = check(tlsgate_binary, path, "--check", "--strict")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert any(wanted in l for l in warnings_of(strict)), strict.stderr
    assert "configuration OK" not in strict.stdout, strict.stdout


def test_expiry_warning_window_is_configurable(tlsgate_binary, certs, tmp_path):
    chain, key = leaf(certs, "soon", -10, 4.9)
    quiet = check(tlsgate_binary, config(tmp_path, chain, key, cert_expiry_warning="3d"),
                  "--check", "--strict")
    assert quiet.returncode == 0, quiet.stderr
    assert warnings_of(quiet) == [], quiet.stderr
    wide = check(tlsgate_binary, config(tmp_path, chain, key, cert_expiry_warning="60d"),
                 "--check")
    assert any("expires in 4 days" in l for l in warnings_of(wide)), wide.stderr


def test_a_valid_certificate_passes_strict(tlsgate_binary, certs, tmp_path):
    r = check(tlsgate_binary, config(tmp_path, certs.chain, certs.leaf_key), "--check",
              "--strict")
    assert r.returncode == 0, r.stderr
    assert warnings_of(r) == [], r.stderr


def test_t_is_check(tlsgate_binary, certs, tmp_path):
    r = check(tlsgate_binary, config(tmp_path, certs.chain, certs.leaf_key), "-t")
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout, r.stdout


def test_a_running_gate_logs_the_warning_at_start(tlsgate, certs):
    chain, key = leaf(certs, "soon", -10, 4.9)
    gate = tlsgate([{"name": "echo", "backend": "127.0.0.1:9"}],
                   tls={"cert": str(chain), "key": str(key)})
    gate.wait_for_log(r"warning: .*service\[echo\]\.cert: certificate .*CN=localhost.* "
                      r"expires in 4 days")


def test_a_log_file_gets_the_warning_at_start(tlsgate_binary, certs, tmp_path):
    import signal
    import subprocess
    import time

    chain, key = leaf(certs, "soon", -10, 4.9)
    log = tmp_path / "tlsgate.log"
    path = config(tmp_path, chain, key, log_file=str(log))
    proc = subprocess.Popen([str(tlsgate_binary), str(path)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None and \
                not (log.exists() and "tlsgate ready" in log.read_text()):
            time.sleep(0.05)
        text = log.read_text()
        assert "tlsgate ready" in text, text
        assert "warning: " in text and "service[imaps].cert: certificate " in text and \
            "expires in 4 days" in text, text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
