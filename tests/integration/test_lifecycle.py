"""Process lifecycle and logging: SIGTERM draining, the documented log lines."""

import os
import re
import signal
import socket
import ssl
import subprocess
import time

from support import LOG_RE, echo_round_trip, recv_exact, tls_connect


def try_new_connection(addr):
    """'served', 'refused' (connect refused, or closed before serving) or 'hung'."""
    try:
        echo_round_trip(addr, b"new?\n", timeout=2)
        return "served"
    except socket.timeout:
        return "hung"
    except (OSError, ssl.SSLError, AssertionError):
        return "refused"


def wait_exit(gate, timeout):
    try:
        return gate.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"tlsgate still running {timeout} s later:\n"
                             + gate.log_text()[-3000:]) from None


def test_sigterm_refuses_new_connections_and_drains_open_one(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address}],
                   global_={"drain_timeout": "30s"})
    addr = gate.address("echo")
    s = tls_connect(addr)
    try:
        first = os.urandom(64 * 1024)
        s.sendall(first)
        assert recv_exact(s, len(first)) == first

        gate.signal(signal.SIGTERM)
        deadline, outcome = time.monotonic() + 5, None
        while time.monotonic() < deadline:
            outcome = try_new_connection(addr)
            if outcome == "refused":
                break
            time.sleep(0.1)
        assert outcome == "refused", f"new connection after SIGTERM: {outcome}"

        second = os.urandom(1 << 20)
        s.sendall(second)
        assert recv_exact(s, len(second)) == second
        assert gate.proc.poll() is None, "tlsgate exited with a connection still open"
        s.unwrap()  # close_notify both ways
    finally:
        s.close()
    assert wait_exit(gate, 10) == 0


def test_sigterm_with_idle_connection_exits_at_drain_timeout(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address}],
                   global_={"drain_timeout": "1s"})
    s = tls_connect(gate.address("echo"))
    try:
        s.sendall(b"hi\n")
        assert recv_exact(s, 3) == b"hi\n"
        t0 = time.monotonic()
        gate.signal(signal.SIGTERM)
        rc = wait_exit(gate, 6)
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    assert rc == 0
    assert 0.8 <= elapsed <= 4, f"exited {elapsed:.2f} s after SIGTERM with drain_timeout = 1s"
    gate.reader.join(5)
    assert re.search(r"conn=\d+ service=echo client=\S+ close .*reason=drain deadline", gate.log_text()), \
        gate.log_text()[-3000:]


def test_log_lines_follow_documented_format(gate):
    addr = gate.address("echo")
    payload = b"x" * 1000
    with tls_connect(addr) as s:
        local_port = s.getsockname()[1]
        s.sendall(payload)
        assert recv_exact(s, len(payload)) == payload
        s.unwrap()
    close = gate.wait_for_log(
        r"conn=(\d+) service=echo client=\S+ close peer=127\.0\.0\.1:(\d+) backend=127\.0\.0\.1:\d+ "
        r"backend_local=127\.0\.0\.1:\d+ failed=none tls=(TLSv1\.[23]) cipher=(\S+) "
        r"handshake_ms=\d+ in=(\d+) out=(\d+) duration_ms=\d+ close=fin reason=(.*)$")
    est = gate.wait_for_log(
        r"conn=(\d+) service=echo client=\S+ TLS connection established from 127\.0\.0\.1:(\d+): "
        r"(TLSv1\.[23]) with cipher (\S+) \((\d+)/(\d+) bits\)")
    assert est.group(1) == close.group(1)
    assert int(est.group(2)) == int(close.group(2)) == local_port
    assert close.group(3) == est.group(3) == "TLSv1.3"
    assert close.group(4) == est.group(4)
    assert int(close.group(5)) >= len(payload) and int(close.group(6)) >= len(payload)
    assert close.group(7) == "done"
    for line in gate.logs():
        m = LOG_RE.match(line)
        assert m, f"log line not '<timestamp> tlsgate[<pid>]: <level>: <message>': {line!r}"
        assert int(m.group("pid")) == gate.pid, line
        assert m.group("level") in ("debug", "info", "notice", "warning", "error"), line
