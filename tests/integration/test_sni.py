"""SNI routing in server mode (stunnel sni = parent:pattern): on the parent's listener the
client's server name picks a child service, with its own certificate and its own backend;
no name or no match, and the parent serves."""

import os
import re
import ssl

import pytest

import client_support
import support
from support import named_handler, recv_exact, tls_connect


def make_leaf(certs, name, san):
    """A leaf for `san` (e.g. "DNS:imap.example.org") signed by the test intermediate."""
    d = certs.dir
    key, csr, cert = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem"
    ext = d / f"{name}.ext"
    chain = d / f"{name}-chain.pem"
    if chain.exists():
        return chain, key
    ext.write_text("basicConstraints=critical,CA:false\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n"
                   f"subjectAltName={san}\n")
    for args in (["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-out", str(key)],
                 ["req", "-new", "-key", str(key), "-subj", f"/CN={name}", "-out", str(csr)],
                 ["x509", "-req", "-in", str(csr), "-CA", str(certs.inter), "-CAkey",
                  str(certs.inter_key), "-CAcreateserial", "-days", "30", "-sha256",
                  "-extfile", str(ext), "-out", str(cert)]):
        r = support.run(["openssl", *args])
        assert r.returncode == 0, r.stderr
    chain.write_text(cert.read_text() + certs.inter.read_text())
    return chain, key


def visit(addr, server_hostname, certs):
    """Connects with SNI `server_hostname` (None: no SNI); returns (backend name, the
    certificate's subjectAltName DNS names)."""
    ctx = ssl.create_default_context(cafile=str(certs.root))
    ctx.check_hostname = False  # checked by hand below, for the no-match cases too
    with tls_connect(addr, ctx, server_hostname=server_hostname) as s:
        cert = s.getpeercert()
        line = support.recv_line(s)
        s.sendall(b"ping")
        assert recv_exact(s, 4) == b"ping"
    names = sorted(v for k, v in cert.get("subjectAltName", ()) if k == "DNS")
    return line.strip().decode(), names


@pytest.fixture
def routed(tlsgate, backend, certs, shortdir):
    imap_chain, imap_key = make_leaf(certs, "imap", "DNS:imap.example.org")
    wild_chain, wild_key = make_leaf(certs, "wild", "DNS:*.example.net")
    parent = backend(named_handler("parent"))
    imap = backend(named_handler("imap"))
    # The wildcard child's backend is a unix socket while the parent's is TCP: the backend
    # stream is made again of the right kind when the route switches.
    wild = backend(named_handler("wild"), str(shortdir / "wild.sock"))
    return tlsgate([
        {"name": "front", "backend": parent.address},
        {"name": "imap", "sni_parent": "front", "sni_pattern": "imap.example.org",
         "backend": imap.address, "cert": str(imap_chain), "key": str(imap_key)},
        {"name": "wild", "sni_parent": "front", "sni_pattern": "*.example.net",
         "backend": wild.address, "cert": str(wild_chain), "key": str(wild_key)},
    ])


def test_exact_name_gets_the_childs_certificate_and_backend(routed, certs):
    assert visit(routed.address("front"), "imap.example.org", certs) == \
        ("imap", ["imap.example.org"])
    routed.wait_for_log(r"conn=\d+ service=front client=\S+ SNI \"imap\.example\.org\" routed to service "
                        r"imap")
    routed.wait_for_log(r"conn=\d+ service=imap client=\S+ close .*backend=127\.0\.0\.1:\d+ .*reason=done")


def test_names_match_in_any_case(routed, certs):
    assert visit(routed.address("front"), "IMAP.Example.ORG", certs)[0] == "imap"


def test_wildcard_matches_one_label(routed, certs):
    assert visit(routed.address("front"), "mx.example.net", certs) == \
        ("wild", ["*.example.net"])
    # Two labels under the wildcard, or the bare domain: no match, the parent serves.
    assert visit(routed.address("front"), "a.b.example.net", certs) == \
        ("parent", ["localhost"])
    assert visit(routed.address("front"), "example.net", certs) == ("parent", ["localhost"])


def test_no_sni_or_unknown_name_is_served_by_the_parent(routed, certs):
    assert visit(routed.address("front"), None, certs) == ("parent", ["localhost"])
    assert visit(routed.address("front"), "other.example.com", certs) == \
        ("parent", ["localhost"])


def test_openssl_s_client_sees_each_certificate(routed):
    for name, subject in (("imap.example.org", "CN = imap"), ("x.example.net", "CN = wild"),
                          ("nomatch.example.com", "CN = localhost")):
        r = support.s_client(routed.address("front"), "-servername", name, stdin="")
        assert re.search(rf"subject={subject}|subject=/CN={subject[5:]}", r.stdout), r.stdout


def test_child_counts_the_connection(routed, certs):
    visit(routed.address("front"), "imap.example.org", certs)
    routed.stop()
    routed.wait_for_log(r"service=imap totals: accepted=1 handshakes=1 ")
    routed.wait_for_log(r"service=front totals: accepted=1 handshakes=0 ")


def test_sni_child_needs_implicit_tls_server_mode(tlsgate_binary, tmp_path, certs, echo):
    g = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    path = g.write_config([
        {"name": "front", "backend": echo.address},
        {"name": "kid", "sni_parent": "front", "sni_pattern": "a.example.org",
         "backend": echo.address, "client": True},
    ])
    r = support.run([str(tlsgate_binary), "--check", "--config", str(path)])
    assert r.returncode == 1
    assert "service[kid].sni_parent: SNI routing needs server mode with implicit TLS" in r.stderr


# ------------------------------------------------- resumption across routes (issue 12)

def guarded_gate(tlsgate, backend, certs, tmp_path, resumption):
    """A parent that asks for no client certificate, a child that requires one (both with
    the RSA test certificate: cipher string B has no ECDSA suite for TLS 1.2). Resumption
    by "ticket" (each its own keys), "cache" (no tickets) or "shared-keys" (one
    ticket_key_file for both, so a parent's ticket decrypts on the child)."""
    keys = {"tickets": resumption != "cache"}
    if resumption == "shared-keys":
        key_file = tmp_path / "ticket.keys"
        key_file.write_text(os.urandom(80).hex() + "\n")
        keys["ticket_key_file"] = str(key_file)
    parent = backend(named_handler("parent"))
    secure = backend(named_handler("secure"))
    gate = tlsgate([
        {"name": "front", "backend": parent.address, **keys},
        {"name": "secure", "sni_parent": "front", "sni_pattern": "secure.example.org",
         "backend": secure.address, "verify": "peer", "ca_file": str(certs.root),
         **keys},
    ])
    return gate, secure


def first_line(addr, ctx, server_hostname, session=None):
    """The backend's greeting line, or an exception when the handshake (or, TLS 1.3, the
    first read after it) fails; -> (line, session, reused)."""
    raw = support.tcp_connect(addr)
    with ctx.wrap_socket(raw, server_hostname=server_hostname, session=session,
                         suppress_ragged_eofs=False) as s:
        line = support.recv_line(s)
        return line.strip().decode(), s.session, s.session_reused


@pytest.mark.parametrize("resumption", ["ticket", "cache", "shared-keys"])
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3],
                         ids=["TLSv1.2", "TLSv1.3"])
def test_parent_session_does_not_open_a_child_that_requires_a_certificate(
        tlsgate, backend, certs, tmp_path, version, resumption):
    """A session made on the parent (no client certificate asked) offered with the child's
    name: the child must run a full handshake and demand the certificate, never resume."""
    gate, secure = guarded_gate(tlsgate, backend, certs, tmp_path, resumption)
    addr = gate.address("front")
    ctx = support.client_context(min_version=version, max_version=version)
    if resumption == "cache":
        ctx.options |= ssl.OP_NO_TICKET
    line, session, _ = first_line(addr, ctx, "front.example.org")
    assert line == "parent"
    # The session does resume on the parent itself: the offer below is a real one.
    line, session, reused = first_line(addr, ctx, "front.example.org", session)
    assert (line, reused) == ("parent", True)

    mark = len(gate.logs())
    with pytest.raises((ssl.SSLError, ConnectionError)):
        line, _, reused = first_line(addr, ctx, "secure.example.org", session)
        raise AssertionError(f"reached backend {line!r} (resumed: {reused})")
    gate.wait_for_log(r"service=(front|secure) client=\S+ TLS handshake failed from .*certificate",
                      start=mark)
    assert secure.accepted == 0
    # With a client certificate the same offer gets through, by a full handshake.
    ctx.load_cert_chain(*client_support.client_certificate(certs, "alice", 0x1001))
    line, _, reused = first_line(addr, ctx, "secure.example.org", session)
    assert (line, reused) == ("secure", False)


# ------------------------------------------------------- hostile server names (issue 12)

def s_client_named(addr, server_name, *args):
    host, port = addr
    return support.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-servername",
                        server_name, *args], input="", timeout=20)


def test_server_name_with_control_bytes_is_refused_and_never_logged_raw(routed):
    """The wildcard route's label would take any byte: CR LF and ESC must not reach the log
    (a forged line) nor the child; the name is refused with unrecognized_name."""
    forged = "x\r\nFORGED error line\x1b[31m.example.net"
    mark = len(routed.logs())
    r = s_client_named(routed.address("front"), forged)
    assert "unrecognized name" in r.stderr, r.stdout + r.stderr
    assert "Cipher is (NONE)" in r.stdout or "Cipher is" not in r.stdout
    routed.wait_for_log(r"TLS handshake failed from .*invalid server name "
                        r"\"x\\x0d\\x0aFORGED error line\\x1b\[31m\.example\.net\"", start=mark)
    text = "\n".join(routed.logs()[mark:])
    assert not any(line.startswith("FORGED") for line in routed.logs()), text
    assert "\x1b" not in text and "\r" not in text, repr(text)
    assert "routed to service wild" not in text


@pytest.mark.parametrize("name", ["-lead.example.net", "a..example.net", "a_b.example.net",
                                  "caf\u00e9.example.net", "a b.example.net",
                                  "x" * 64 + ".example.net"],
                         ids=["hyphen", "empty-label", "underscore", "non-ascii", "space",
                              "long-label"])
def test_server_names_that_are_not_host_names_are_refused(routed, name):
    r = s_client_named(routed.address("front"), name)
    assert "unrecognized name" in r.stderr, r.stdout + r.stderr


def test_valid_names_still_route(routed, certs):
    # A trailing dot (sent by some clients) and digits-only labels are host names.
    r = s_client_named(routed.address("front"), "mx.example.net.")
    assert "subject=CN = wild" in r.stdout, r.stdout + r.stderr
    r = s_client_named(routed.address("front"), "127.0.0.1")
    assert "subject=CN = localhost" in r.stdout, r.stdout + r.stderr



# ------------------------------------------------------------------- strict_sni (issue 12)

@pytest.fixture
def strict(tlsgate, backend, certs):
    imap_chain, imap_key = make_leaf(certs, "imap", "DNS:imap.example.org")
    parent = backend(named_handler("parent"))
    imap = backend(named_handler("imap"))
    return tlsgate([
        {"name": "front", "backend": parent.address, "strict_sni": True},
        {"name": "imap", "sni_parent": "front", "sni_pattern": "imap.example.org",
         "backend": imap.address, "cert": str(imap_chain), "key": str(imap_key)},
    ])


def test_strict_sni_refuses_names_nothing_is_configured_for(strict, certs):
    assert visit(strict.address("front"), "imap.example.org", certs)[0] == "imap"
    # The parent's own certificate names (localhost) and no SNI at all are served.
    assert visit(strict.address("front"), "localhost", certs)[0] == "parent"
    assert visit(strict.address("front"), None, certs)[0] == "parent"
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        visit(strict.address("front"), "other.example.com", certs)
    r = s_client_named(strict.address("front"), "other.example.com")
    assert "unrecognized name" in r.stderr, r.stdout + r.stderr
    strict.wait_for_log(r"service=front client=\S+ TLS handshake failed from .*server name "
                        r"\"other\.example\.com\" matches no configured name")
