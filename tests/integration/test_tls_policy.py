"""TLS policy of the default profile (bettercrypto-b) and of "opportunistic", checked with
real clients (openssl s_client and Python's ssl) against the running proxy."""

import re
import ssl
import subprocess
import time

import pytest

from support import (client_context, echo_round_trip, openssl_ciphers, s_client,
                     s_client_result, tls_connect)

B = ("EDH+CAMELLIA:EDH+aRSA:EECDH+aRSA+AESGCM:EECDH+aRSA+SHA384:EECDH+aRSA+SHA256:EECDH:"
     "+CAMELLIA256:+AES256:+CAMELLIA128:+AES128:+SSLv3:!aNULL:!eNULL:!LOW:!3DES:!MD5:!EXP:"
     "!PSK:!DSS:!RC4:!SEED:!ECDSA:CAMELLIA256-SHA:AES256-SHA:CAMELLIA128-SHA:AES128-SHA")
LEGACY = "DEFAULT:@SECLEVEL=0"


def b_tls12():
    """B's ciphers usable below TLS 1.3, in B's order."""
    return [c for c in openssl_ciphers(B) if c["version"] != "TLSv1.3"]


def rsa_tls12_candidates():
    """Every TLS <= 1.2 cipher this OpenSSL knows that an RSA certificate can serve."""
    return [c["name"] for c in openssl_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
            if c["version"] != "TLSv1.3" and c["au"] == "RSA" and c["kx"] in ("RSA", "DH", "ECDH")]


def tls12_handshake(addr, cipher):
    """Negotiated cipher name when a TLS 1.2 client offering only `cipher` gets through,
    None when the handshake is refused."""
    ctx = client_context(min_version=ssl.TLSVersion.TLSv1_2, max_version=ssl.TLSVersion.TLSv1_2)
    try:
        ctx.set_ciphers(cipher + ":@SECLEVEL=0")
    except ssl.SSLError:
        return None  # this client cannot offer it at all
    try:
        with tls_connect(addr, ctx) as s:
            return s.cipher()[0]
    except (ssl.SSLError, ConnectionError, OSError):
        return None


def assert_refused(r, what):
    assert s_client_result(r.stdout) is None, f"{what} was accepted:\n{r.stdout[-1500:]}"


def assert_accepted(r, what, protocol=None):
    result = s_client_result(r.stdout)
    assert r.returncode == 0 and result, f"{what} refused:\n{r.stdout[-800:]}\n{r.stderr[-800:]}"
    if protocol:
        assert result[0] == protocol, f"{what}: expected {protocol}, got {result}"


def test_tls10_and_tls11_refused_by_default(gate):
    addr = gate.address("echo")
    assert_refused(s_client(addr, "-tls1", "-cipher", LEGACY), "TLS 1.0")
    assert_refused(s_client(addr, "-tls1_1", "-cipher", LEGACY), "TLS 1.1")


def test_tls12_and_tls13_accepted_by_default(gate):
    addr = gate.address("echo")
    assert_accepted(s_client(addr, "-tls1_2"), "TLS 1.2", "TLSv1.2")
    assert_accepted(s_client(addr, "-tls1_3"), "TLS 1.3", "TLSv1.3")


def test_opportunistic_profile_accepts_tls10_and_tls11(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address}], tls={"profile": "opportunistic"})
    addr = gate.address("echo")
    assert_accepted(s_client(addr, "-tls1", "-cipher", LEGACY), "TLS 1.0", "TLSv1")
    assert_accepted(s_client(addr, "-tls1_1", "-cipher", LEGACY), "TLS 1.1", "TLSv1.1")
    echo_round_trip(addr, ctx=client_context(min_version=ssl.TLSVersion.TLSv1,
                                             max_version=ssl.TLSVersion.TLSv1,
                                             ciphers=LEGACY))


def test_client_offering_only_non_b_cipher_is_refused(gate):
    b_names = {c["name"] for c in openssl_ciphers(B)}
    # NB: ECDHE-RSA-CHACHA20-POLY1305 *is* in B with OpenSSL 3.0 ("EECDH" pulls it in),
    # so use ciphers that B really excludes.
    for cipher in ("AES128-GCM-SHA256", "AES256-SHA256", "ECDHE-RSA-NULL-SHA"):
        assert cipher not in b_names
        r = s_client(gate.address("echo"), "-tls1_2", "-cipher", cipher + ":@SECLEVEL=0")
        assert_refused(r, f"non-B cipher {cipher}")


def test_every_accepted_tls12_cipher_is_in_b(gate):
    b_names = {c["name"] for c in openssl_ciphers(B)}
    addr = gate.address("echo")
    accepted = {}
    for cipher in rsa_tls12_candidates():
        got = tls12_handshake(addr, cipher)
        if got:
            accepted[cipher] = got
    assert accepted, "no TLS 1.2 cipher accepted at all"
    outside = sorted(c for c in accepted.values() if c not in b_names)
    assert not outside, f"accepted ciphers outside B: {outside} (accepted: {sorted(accepted)})"
    # The heart of B must be there.
    for must in ("ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"):
        assert must in accepted, f"{must} refused; accepted: {sorted(accepted)}"


def test_server_cipher_preference_wins(gate):
    ecdhe = [c["name"] for c in b_tls12() if c["kx"] == "ECDH" and c["au"] == "RSA"]
    assert len(ecdhe) > 3
    ctx = client_context(min_version=ssl.TLSVersion.TLSv1_2, max_version=ssl.TLSVersion.TLSv1_2,
                         ciphers=":".join(reversed(ecdhe)))
    with tls_connect(gate.address("echo"), ctx) as s:
        got = s.cipher()[0]
    assert got == ecdhe[0], f"negotiated {got}, server's first choice is {ecdhe[0]} " \
                            f"(client offered {list(reversed(ecdhe))})"


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_compression_is_off(gate, version):
    r = s_client(gate.address("echo"), version)
    assert_accepted(r, version)
    assert re.search(r"^Compression: NONE$", r.stdout, re.M), r.stdout[-1500:]


def test_client_initiated_renegotiation_refused(gate):
    addr = gate.address("echo")
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"{addr[0]}:{addr[1]}",
                          "-tls1_2", "-msg"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        p.stdin.write("hello\n")
        p.stdin.flush()
        time.sleep(1.0)
        p.stdin.write("R\n")
        p.stdin.flush()
        time.sleep(1.5)
        try:
            p.stdin.write("still here\n")
            p.stdin.flush()
            time.sleep(0.5)
            p.stdin.close()
        except BrokenPipeError:
            pass
        out = p.communicate(timeout=15)[0]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "RENEGOTIATING" in out, f"s_client did not try to renegotiate:\n{out[-2000:]}"
    hellos = len(re.findall(r"<<< TLS 1\.2,? Handshake .*ServerHello$", out, re.M))
    assert hellos == 1, f"server answered the renegotiation ({hellos} ServerHellos):\n" \
                        + "\n".join(l for l in out.splitlines() if "<<<" in l or ">>>" in l)
    # The proxy keeps serving.
    echo_round_trip(addr)


def test_whole_chain_is_sent_and_verifies_against_root(gate, certs):
    ctx = client_context(cafile=certs.root)
    with tls_connect(gate.address("echo"), ctx, server_hostname="localhost") as s:
        s.sendall(b"verified\n")
        assert s.recv(100) == b"verified\n"
        chain = s.getpeercert()
    assert chain["subject"] == ((("commonName", "localhost"),),)


def test_x25519_negotiated_by_default_with_tls13(gate):
    r = s_client(gate.address("echo"), "-tls1_3", "-groups", "X25519:P-256")
    assert_accepted(r, "TLS 1.3", "TLSv1.3")
    assert re.search(r"^Server Temp Key: X25519", r.stdout, re.M), r.stdout[-1500:]


def test_dhe_uses_at_least_2048_bit_group(gate):
    r = s_client(gate.address("echo"), "-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384",
                 "-groups", "ffdhe2048")
    assert_accepted(r, "TLS 1.2 DHE-RSA-AES256-GCM-SHA384", "TLSv1.2")
    m = re.search(r"^Server Temp Key: DH, (\d+) bits", r.stdout, re.M)
    assert m, r.stdout[-1500:]
    assert int(m.group(1)) >= 2048
