"""Peer certificate checks through the real binary (issue 5): client certificates required
and verified in server mode, CRLs, names, and client mode pinning the server's certificate
(stunnel's verifyPeer)."""

import datetime
import ssl

import pytest

import client_support
import support


def _crl(ca_cert, ca_key, revoked_serials):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    key = serialization.load_pem_private_key(ca_key.read_bytes(), None)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(ca.subject)
               .last_update(now - datetime.timedelta(minutes=1))
               .next_update(now + datetime.timedelta(days=1)))
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial)
            .revocation_date(now - datetime.timedelta(minutes=1)).build())
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(certs):
    alice = client_support.client_certificate(certs, "alice", 0x1001)
    mallory = client_support.client_certificate(certs, "mallory", 0x1002)
    crls = certs.dir / "crls.pem"
    crls.write_bytes(_crl(certs.root, certs.root_key, []) +
                     _crl(certs.inter, certs.inter_key, [0x1002]))
    return {"alice": alice, "mallory": mallory, "crls": crls}


def client_ctx(chain=None, key=None, version=None):
    ctx = support.client_context(max_version=version)
    if chain:
        ctx.load_cert_chain(str(chain), str(key))
    return ctx


def echo_ok(addr, ctx):
    """True when an echo round trip works; False when the handshake or the first read fails
    (a TLS 1.3 server rejects a client certificate after the client's handshake is done)."""
    try:
        support.echo_round_trip(addr, b"peer check\n", ctx=ctx)
        return True
    except (ssl.SSLError, ConnectionError, AssertionError):
        return False


VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


@pytest.mark.parametrize("version", VERSIONS, ids=["TLSv1.2", "TLSv1.3"])
def test_server_requires_and_verifies_client_certificates(tlsgate, echo, certs, pki, version):
    gate = tlsgate([{"name": "echo", "backend": echo.address, "verify": "peer",
                     "ca_file": str(certs.root)}])
    addr = gate.address("echo")
    assert echo_ok(addr, client_ctx(*pki["alice"], version))
    assert not echo_ok(addr, client_ctx(version=version))
    gate.wait_for_log(r"TLS handshake failed from .*certificate")
    self_signed = client_support.self_signed(certs)
    assert not echo_ok(addr, client_ctx(*self_signed, version))
    gate.wait_for_log(r"TLS handshake failed from .*certificate verify failed: self")


def test_server_crl_revokes_a_client_certificate(tlsgate, echo, certs, pki):
    gate = tlsgate([{"name": "echo", "backend": echo.address, "verify": "peer",
                     "ca_file": str(certs.root), "crl_file": str(pki["crls"])}])
    addr = gate.address("echo")
    assert echo_ok(addr, client_ctx(*pki["alice"]))
    assert not echo_ok(addr, client_ctx(*pki["mallory"]))
    gate.wait_for_log(r"TLS handshake failed from .*certificate verify failed: "
                      r"certificate revoked")


def test_server_check_email(tlsgate, echo, certs, pki):
    gate = tlsgate([{"name": "echo", "backend": echo.address, "verify": "peer",
                     "ca_file": str(certs.root), "check_email": "alice@example.org"}])
    addr = gate.address("echo")
    assert echo_ok(addr, client_ctx(*pki["alice"]))
    assert not echo_ok(addr, client_ctx(*pki["mallory"]))


def test_server_request_cert_is_optional(tlsgate, echo, certs, pki):
    gate = tlsgate([{"name": "echo", "backend": echo.address, "request_cert": True,
                     "ca_file": str(certs.root)}])
    addr = gate.address("echo")
    assert echo_ok(addr, client_ctx(*pki["alice"]))
    assert echo_ok(addr, client_ctx())


def test_client_mode_verify_peer_pins_the_server_certificate(tlsgate, echo, certs):
    """plaintext -> tlsgate (client, verify_peer) -> tlsgate (server) -> echo."""
    server = tlsgate([{"name": "tls", "backend": echo.address}])
    backend = "%s:%d" % server.address("tls")
    pinned = tlsgate([{"name": "out", "client": True, "backend": backend,
                       "verify_peer": True, "verify_chain": False, "ca_file": str(certs.leaf)}])
    with support.tcp_connect(pinned.address("out")) as s:
        s.sendall(b"pinned\n")
        assert support.recv_exact(s, 7) == b"pinned\n"
    # The root CA verifies the chain, but the server's own certificate is not in the file.
    other = tlsgate([{"name": "out", "client": True, "backend": backend,
                      "verify_peer": True, "ca_file": str(certs.root)}])
    with support.tcp_connect(other.address("out")) as s:
        s.sendall(b"pinned\n")
        try:
            assert support.read_to_eof(s) == b""
        except ConnectionResetError:
            pass  # reset = true: the local client gets a RST
    other.wait_for_log(r"TLS handshake failed to .*certificate verify failed: "
                       r"certificate rejected")
