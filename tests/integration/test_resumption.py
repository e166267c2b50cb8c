"""TLS session resumption through the real binary (issue 6): session tickets for TLS 1.2 and
1.3, the session cache when tickets are off, a ticket key file shared by two processes, its
rotation picked up without a restart, and client mode resuming toward its backend."""

import os
import socket
import ssl
import subprocess
import time

import pytest

import support

VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


def key_line():
    return os.urandom(80).hex()


def write_keys(path, lines):
    """Replace the key file the way an operator should: a new file renamed over the old."""
    tmp = path.with_suffix(".new")
    tmp.write_text("".join(line + "\n" for line in lines))
    os.rename(tmp, path)


def context(version, no_ticket=False):
    ctx = support.client_context(min_version=version, max_version=version)
    if no_ticket:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def connect(addr, ctx, session=None):
    """One echo round trip (which also lets TLS 1.3 tickets arrive); -> (reused, session)."""
    raw = support.tcp_connect(addr)
    with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
        s.sendall(b"resume?\n")
        assert support.recv_exact(s, 8) == b"resume?\n"
        return s.session_reused, s.session


def resumption_rate(addr, ctx, connections=10):
    """Chained: each connection offers the session the previous one ended with."""
    reused, session = connect(addr, ctx)
    assert not reused
    hits = 0
    for _ in range(connections):
        reused, session = connect(addr, ctx, session)
        hits += reused
    return hits / connections


@pytest.mark.parametrize("version", VERSIONS, ids=["TLSv1.2", "TLSv1.3"])
def test_tickets_resume_every_connection(tlsgate, echo, version):
    gate = tlsgate([{"name": "echo", "backend": echo.address}])
    assert resumption_rate(gate.address("echo"), context(version)) == 1.0


@pytest.mark.parametrize("version", VERSIONS, ids=["TLSv1.2", "TLSv1.3"])
def test_session_cache_without_tickets(tlsgate, echo, version):
    gate = tlsgate([{"name": "echo", "backend": echo.address, "tickets": False}])
    # TLS 1.2: by session id; TLS 1.3: OpenSSL's stateful tickets, backed by the cache.
    ctx = context(version, no_ticket=version == ssl.TLSVersion.TLSv1_2)
    assert resumption_rate(gate.address("echo"), ctx) == 1.0


def test_no_resumption_when_tickets_and_cache_are_off(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address, "tickets": False,
                     "session_cache": False}])
    for version in VERSIONS:
        assert resumption_rate(gate.address("echo"), context(version), 3) == 0.0


@pytest.mark.parametrize("version", VERSIONS, ids=["TLSv1.2", "TLSv1.3"])
def test_two_processes_sharing_a_key_file_resume_each_other(tlsgate, echo, tmp_path, version):
    keys = tmp_path / "ticket.keys"
    write_keys(keys, [key_line(), key_line()])
    svc = {"name": "echo", "backend": echo.address, "ticket_key_file": str(keys)}
    one, two = tlsgate([svc]), tlsgate([svc])
    ctx = context(version)
    reused, session = connect(one.address("echo"), ctx)
    hits = 0
    for i in range(10):  # back and forth between the two processes
        gate = two if i % 2 == 0 else one
        reused, session = connect(gate.address("echo"), ctx, session)
        hits += reused
    assert hits == 10


def test_key_file_rotation_is_picked_up_without_restart(tlsgate, echo, tmp_path):
    own, other = tmp_path / "own.keys", tmp_path / "other.keys"
    k_own, k_other = key_line(), key_line()
    write_keys(own, [k_own])
    write_keys(other, [k_other])
    gate = tlsgate([{"name": "echo", "backend": echo.address, "ticket_key_file": str(own)}])
    stranger = tlsgate([{"name": "echo", "backend": echo.address,
                         "ticket_key_file": str(other)}])
    ctx = context(ssl.TLSVersion.TLSv1_2)
    _, foreign = connect(stranger.address("echo"), ctx)
    assert connect(gate.address("echo"), ctx, foreign)[0] is False

    # The other key joins as the new first key; the old one stays for decryption.
    mark = len(gate.logs())
    write_keys(own, [k_other, k_own])
    time.sleep(1.2)  # the file is looked at no more than once a second, lazily
    reused, session = connect(gate.address("echo"), ctx, foreign)
    if not reused:  # the handshake that noticed the change may have been this one's first
        reused, session = connect(gate.address("echo"), ctx, foreign)
    assert reused
    gate.wait_for_log(r"session ticket keys reloaded from .*own\.keys: 2 key\(s\)", start=mark)
    # New tickets are made with the new first key: the stranger can resume them.
    _, fresh = connect(gate.address("echo"), ctx)
    assert connect(stranger.address("echo"), ctx, fresh)[0] is True

    # A broken file is logged and the keys in use are kept.
    mark = len(gate.logs())
    (own.with_suffix(".new")).write_text("not a key\n")
    os.rename(own.with_suffix(".new"), own)
    time.sleep(1.2)
    connect(gate.address("echo"), ctx)
    gate.wait_for_log(r"warning: ticket key file .*own\.keys: line 1: .*keeping the session "
                      r"ticket keys in use", start=mark)
    assert connect(gate.address("echo"), ctx, fresh)[0] is True


def test_s_client_tls13_ticket_resumption(tlsgate, echo, tmp_path):
    """What the testssl scan does, minus its race: s_client with stdin at EOF quits before the
    TLS 1.3 tickets (sent after the client's Finished) arrive, so it saves no session, against
    tlsgate and `openssl s_server` alike. With stdin held open briefly the ticket is saved
    and resumes."""
    gate = tlsgate([{"name": "echo", "backend": echo.address}])
    host, port = gate.address("echo")
    sess = tmp_path / "sess.pem"
    cmd = f"sleep 0.5 | openssl s_client -connect {host}:{port} -tls1_3 -sess_out {sess}"
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=20)
    assert sess.exists() and sess.stat().st_size > 0, out.stdout + out.stderr
    r = support.s_client((host, port), "-tls1_3", "-sess_in", str(sess))
    assert "\nReused, TLSv1.3" in r.stdout, r.stdout + r.stderr


# --------------------------------------------------------------------------- client mode

class ResumptionEchoServer:
    """Implicit-TLS echo server (Python ssl) that records, per connection, whether the
    handshake resumed a session."""

    def __init__(self, certs, version):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(certs.chain), str(certs.leaf_key))
        self.ctx.maximum_version = version
        self.reused = []
        self.backend = support.Backend(self._handle)

    @property
    def address(self):
        return self.backend.address

    def _handle(self, conn, backend):
        conn.settimeout(15)
        with self.ctx.wrap_socket(conn, server_side=True) as s:
            self.backend.report(s.session_reused)
            while True:
                b = s.recv(65536)
                if not b:
                    break
                s.sendall(b)


@pytest.mark.parametrize("version", VERSIONS, ids=["TLSv1.2", "TLSv1.3"])
@pytest.mark.parametrize("resume", [True, False], ids=["session_resume", "no_resume"])
def test_client_mode_resumes_toward_the_backend(tlsgate, certs, version, resume):
    server = ResumptionEchoServer(certs, version)
    try:
        gate = tlsgate([{"name": "out", "client": True, "backend": server.address,
                         "ca_file": str(certs.root), "session_resume": resume}])
        for i in range(6):
            with support.tcp_connect(gate.address("out")) as s:
                s.sendall(b"hello\n")
                assert support.recv_exact(s, 6) == b"hello\n"
                s.shutdown(socket.SHUT_WR)
                support.read_to_eof(s)
        results = server.backend.wait_results(6)
        assert results[0] is False
        assert results[1:] == [resume] * 5, results
    finally:
        server.backend.stop()
