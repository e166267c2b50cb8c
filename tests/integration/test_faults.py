"""Fault injection with real sockets (robustness issue): after each fault the proxy still
serves, and its open descriptor count returns to its idle baseline."""

import os
import socket
import struct
import threading
import time

import pytest

import support


def fd_count(gate):
    return len(os.listdir(f"/proc/{gate.pid}/fd"))


def settle_to_baseline(gate, baseline, timeout=10):
    """Wait until tlsgate holds no more descriptors than at idle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fd_count(gate) <= baseline:
            return
        time.sleep(0.05)
    pytest.fail(f"tlsgate holds {fd_count(gate)} descriptors, idle baseline {baseline}\n"
                + gate.log_text()[-3000:])


def still_serving(gate, name="echo"):
    support.echo_round_trip(gate.address(name))


def drain(sock):
    """Everything until EOF; a reset counts as the end too."""
    try:
        return support.read_to_eof(sock)
    except OSError:
        return b""


def reset(sock):
    """Close with RST instead of FIN (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.fixture
def faulty(tlsgate, echo):
    """tlsgate with a raw echo service and short timeouts; returns (gate, baseline fds)."""
    gate = tlsgate([{"name": "echo", "backend": echo.address, "handshake_timeout": "2s",
                     "idle_timeout": "5s"}])
    still_serving(gate)
    time.sleep(0.2)
    return gate, fd_count(gate)


def test_client_reset_mid_handshake(faulty):
    gate, baseline = faulty
    for _ in range(20):
        s = support.tcp_connect(gate.address("echo"))
        # Half a ClientHello, then RST.
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(20))
        reset(s)
    gate.wait_for_log(r"reason=(client reset|handshake failed)")
    still_serving(gate)
    settle_to_baseline(gate, baseline)


def test_client_reset_mid_relay(faulty, echo):
    gate, baseline = faulty
    for _ in range(10):
        s = support.tls_connect(gate.address("echo"))
        s.sendall(os.urandom(256 * 1024))
        reset(s)
    gate.wait_for_log(r"reason=client reset")
    still_serving(gate)
    settle_to_baseline(gate, baseline)


def test_backend_reset_mid_relay(tlsgate, backend):
    def rst_after_some(conn, b):
        conn.recv(100)
        conn.sendall(b"partial reply")
        reset(conn)

    rst = backend(rst_after_some)
    echo = backend(support.echo_handler)
    gate = tlsgate([{"name": "rst", "backend": rst.address},
                    {"name": "echo", "backend": echo.address}])
    still_serving(gate)
    baseline = fd_count(gate)
    s = support.tls_connect(gate.address("rst"))
    s.sendall(b"hello\n")
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, OSError):
        pass
    s.close()
    # The kernel may report the RST as a reset or, when the reply was already read, as the
    # end of the stream; either way the client's connection must end and nothing may leak.
    gate.wait_for_log(r"service=rst client=\S+ close .*reason=(backend reset|done)")
    still_serving(gate)
    settle_to_baseline(gate, baseline)


def test_backend_accepts_but_never_answers(tlsgate, backend):
    hold = threading.Event()

    def silent(conn, b):
        hold.wait(30)

    silent_backend = backend(silent)
    echo = backend(support.echo_handler)
    gate = tlsgate([{"name": "silent", "backend": silent_backend.address, "protocol": "imap",
                     "tls": "starttls", "plaintext_timeout": "1s"},
                    {"name": "echo", "backend": echo.address}])
    still_serving(gate)
    baseline = fd_count(gate)
    s = support.tcp_connect(gate.address("silent"))
    s.settimeout(10)
    started = time.monotonic()
    data = support.read_to_eof(s)
    elapsed = time.monotonic() - started
    hold.set()
    assert elapsed < 5, f"the silent backend's client was held {elapsed:.1f}s"
    assert data.startswith(b"* BYE"), data
    gate.wait_for_log(r"service=silent client=\S+ close .*reason=plaintext timeout")
    still_serving(gate)
    settle_to_baseline(gate, baseline)


def test_backend_closes_during_greeting(tlsgate, backend):
    def half_greeting(conn, b):
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1")
        conn.shutdown(socket.SHUT_WR)
        conn.recv(100)

    broken = backend(half_greeting)
    echo = backend(support.echo_handler)
    gate = tlsgate([{"name": "imap", "backend": broken.address, "protocol": "imap",
                     "tls": "starttls"},
                    {"name": "echo", "backend": echo.address}])
    still_serving(gate)
    baseline = fd_count(gate)
    for _ in range(5):
        s = support.tcp_connect(gate.address("imap"))
        s.settimeout(10)
        drain(s)  # whatever arrives, the connection must end
        s.close()
    still_serving(gate)
    settle_to_baseline(gate, baseline)


def test_backend_down_then_up(tlsgate):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    gate = tlsgate([{"name": "flappy", "backend": f"127.0.0.1:{port}"}])
    baseline = fd_count(gate)
    s = support.tls_connect(gate.address("flappy"))
    assert support.read_to_eof(s) == b""
    gate.wait_for_log(r"reason=backend connect failed: connection refused")
    up = support.Backend(support.echo_handler, ("127.0.0.1", port))
    try:
        support.echo_round_trip(gate.address("flappy"))
    finally:
        up.stop()
    settle_to_baseline(gate, baseline)


def test_slowloris_before_tls_is_cut_at_handshake_timeout(faulty):
    gate, baseline = faulty
    s = support.tcp_connect(gate.address("echo"))
    s.settimeout(10)
    hello = b"\x16\x03\x01\x00\xff"
    started = time.monotonic()
    closed = False
    for byte in hello * 10:
        try:
            s.send(bytes([byte]))
        except OSError:
            closed = True
            break
        time.sleep(0.5)
        if time.monotonic() - started > 6:
            break
    if not closed:
        s.settimeout(5)
        try:
            closed = s.recv(100) == b""
        except OSError:
            closed = True
    assert closed, "a client trickling a ClientHello outlived handshake_timeout"
    assert time.monotonic() - started < 8
    s.close()
    still_serving(gate)
    settle_to_baseline(gate, baseline)


def test_slowloris_after_tls_on_a_mail_service(tlsgate, backend):
    def imap_like(conn, b):
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
        while conn.recv(4096):
            pass

    mail = backend(imap_like)
    echo = backend(support.echo_handler)
    gate = tlsgate([{"name": "imaps", "backend": mail.address, "protocol": "imap"},
                    {"name": "echo", "backend": echo.address}])
    still_serving(gate)
    baseline = fd_count(gate)
    s = support.tls_connect(gate.address("imaps"))
    s.settimeout(5)
    assert s.recv(4096).startswith(b"* OK")
    for byte in b"a1 NOOP":
        s.send(bytes([byte]))
        time.sleep(0.2)
    # Trickling is served while it lasts (other clients are unaffected) ...
    still_serving(gate)
    s.close()
    # ... and leaves nothing behind.
    settle_to_baseline(gate, baseline)


def test_one_mebibyte_line_to_each_mail_filter(tlsgate, backend):
    greetings = {"imap": b"* OK ready\r\n", "pop3": b"+OK ready\r\n", "smtp": b"220 ready\r\n"}

    def greeter(text):
        def handler(conn, b):
            conn.sendall(text)
            while conn.recv(1 << 16):
                pass
        return handler

    services = [{"name": p, "backend": backend(greeter(g)).address, "protocol": p,
                 "tls": "starttls", "starttls_policy": "may"} for p, g in greetings.items()]
    echo = backend(support.echo_handler)
    gate = tlsgate(services + [{"name": "echo", "backend": echo.address}])
    still_serving(gate)
    baseline = fd_count(gate)
    for proto in greetings:
        s = support.tcp_connect(gate.address(proto))
        s.settimeout(10)
        assert s.recv(4096)
        try:
            s.sendall(b"A" * (1 << 20) + b"\r\n")
        except OSError:
            pass  # closed while we were still sending: also a correct outcome
        reply = drain(s)
        s.close()
        assert reply == b"" or reply.rstrip().split(b"\r\n")[-1][:1] in (b"*", b"-", b"5"), reply
    gate.wait_for_log(r"service=smtp client=\S+ close")
    still_serving(gate)
    settle_to_baseline(gate, baseline)


def test_garbage_instead_of_client_hello_many_times(faulty):
    gate, baseline = faulty
    for _ in range(50):
        s = support.tcp_connect(gate.address("echo"))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(64))
        s.settimeout(5)
        drain(s)
        s.close()
    still_serving(gate)
    settle_to_baseline(gate, baseline)
