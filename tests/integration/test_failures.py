"""Misbehaving clients and backends: each is dropped with a logged reason, and the proxy
keeps serving everyone else."""

import socket
import ssl
import time

from support import echo_round_trip, free_port, recv_exact, tcp_connect, tls_connect


def wait_closed(sock, timeout=10):
    """Read until EOF or reset; returns the seconds it took."""
    sock.settimeout(timeout)
    t0 = time.monotonic()
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - t0


def test_silent_client_dropped_at_handshake_timeout(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address, "handshake_timeout": "1s"}])
    s = tcp_connect(gate.address("echo"))
    try:
        elapsed = wait_closed(s)
    except socket.timeout:
        raise AssertionError("silent client still connected after 10 s") from None
    finally:
        s.close()
    assert 0.5 <= elapsed <= 4, f"closed after {elapsed:.2f} s with handshake_timeout = 1s"
    gate.wait_for_log(r"conn=\d+ service=echo client=\S+ close .*reason=handshake timeout")
    echo_round_trip(gate.address("echo"))


def test_backend_down_closes_client_cleanly_and_logs_why(tlsgate):
    gate = tlsgate([{"name": "dead", "backend": f"127.0.0.1:{free_port()}"}])
    try:
        with tls_connect(gate.address("dead")) as s:
            # Handshake done: what follows must be a clean close (close_notify), not a
            # reset or a truncated stream.
            assert s.recv(4096) == b""
    except (ConnectionResetError, ssl.SSLEOFError) as e:
        raise AssertionError(f"client connection not closed cleanly: {e!r}") from None
    except socket.timeout:
        raise AssertionError("client connection left open with the backend down") from None
    m = gate.wait_for_log(r"conn=\d+ service=dead client=\S+ close .*reason=(backend connect failed.*)")
    assert "refused" in m.group(1), m.group(0)


def test_garbage_handshake_logged_while_other_connection_works(gate):
    addr = gate.address("echo")
    with tls_connect(addr) as good:
        good.sendall(b"before\n")
        assert recv_exact(good, 7) == b"before\n"
        bad = tcp_connect(addr)
        try:
            bad.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n" + bytes(range(256)) * 4)
            try:
                wait_closed(bad)
            except socket.timeout:
                raise AssertionError("garbage client still connected after 10 s") from None
        finally:
            bad.close()
        m = gate.wait_for_log(r"conn=\d+ service=echo client=\S+ close .*reason=handshake failed: ?(.*)")
        assert m.group(1).strip(), f"no reason given: {m.group(0)}"
        good.sendall(b"after\n")
        assert recv_exact(good, 6) == b"after\n"
    echo_round_trip(addr)
