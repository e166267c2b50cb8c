"""Backend-side runtime features through real sockets: several backends with failover (prio,
rr, mixed TCP and unix sockets), exec'd programs (reaped, killed, restarted with retry), the
PROXY header, the source address ("local"), socket options, "reset", close_timeout,
resolve_at_start and per-service log levels."""

import os
import re
import socket
import struct
import sys
import time

import pytest

import support
from support import free_port, named_handler, recv_exact, recv_line, tcp_connect, tls_connect


def served_by(addr):
    with tls_connect(addr) as s:
        name = recv_line(s).strip().decode()
        s.sendall(b"ping\n")
        assert recv_exact(s, 5) == b"ping\n"
    return name


# --------------------------------------------------------------------------- failover


def test_prio_skips_a_dead_backend_and_logs_both(tlsgate, backend):
    dead = f"127.0.0.1:{free_port()}"
    alive = backend(named_handler("alive"))
    gate = tlsgate([{"name": "fo", "backend": [dead, alive.address]}])
    for _ in range(2):
        assert served_by(gate.address("fo")) == "alive"
    gate.wait_for_log(rf"service=fo client=\S+ backend {re.escape(dead)} failed: backend connect failed: "
                      rf"connection refused; trying {re.escape(alive.address)}")
    gate.wait_for_log(rf"service=fo client=\S+ connected to {re.escape(alive.address)} \(local 127\.0\.0\.1:\d+\) "
                      rf"after failing over from {re.escape(dead)}")
    gate.wait_for_log(rf"service=fo client=\S+ close peer=\S+ backend={re.escape(alive.address)} "
                      rf"backend_local=127\.0\.0\.1:\d+ failed={re.escape(dead)} .*reason=done")


def test_prio_uses_the_first_backend_while_it_answers(tlsgate, backend):
    one, two = backend(named_handler("one")), backend(named_handler("two"))
    gate = tlsgate([{"name": "prio", "backend": [one.address, two.address]}])
    assert [served_by(gate.address("prio")) for _ in range(3)] == ["one"] * 3


def test_failover_from_tcp_to_unix_socket(tlsgate, backend, shortdir):
    unix = backend(named_handler("unix"), str(shortdir / "b.sock"))
    gate = tlsgate([{"name": "mix", "backend": [f"127.0.0.1:{free_port()}", unix.address]}])
    assert served_by(gate.address("mix")) == "unix"
    gate.wait_for_log(r"service=mix client=\S+ close .*backend=unix:\S+ backend_local=\S+ "
                      r"failed=127\.0\.0\.1:\d+ .*reason=done")


def test_failover_from_unix_socket_to_tcp(tlsgate, backend, shortdir):
    tcp = backend(named_handler("tcp"))
    gate = tlsgate([{"name": "mix",
                     "backend": [f"unix:{shortdir / 'missing.sock'}", tcp.address]}])
    assert served_by(gate.address("mix")) == "tcp"
    gate.wait_for_log(r"service=mix client=\S+ backend unix:\S+missing\.sock failed: .*; trying 127")


def test_round_robin_rotates_and_falls_over(tlsgate, backend):
    a, b = backend(named_handler("a")), backend(named_handler("b"))
    dead = f"127.0.0.1:{free_port()}"
    gate = tlsgate([{"name": "rr", "backend": [a.address, dead, b.address], "failover": "rr"}])
    names = [served_by(gate.address("rr")) for _ in range(6)]
    # Starts a, dead (falls over to b), b, then round again.
    assert names == ["a", "b", "b", "a", "b", "b"], names


def test_every_backend_down_names_them_all(tlsgate):
    dead1, dead2 = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    gate = tlsgate([{"name": "down", "backend": [dead1, dead2]}])
    with tls_connect(gate.address("down")) as s:
        assert s.recv(100) == b""
    gate.wait_for_log(rf"service=down client=\S+ backend {re.escape(dead1)},{re.escape(dead2)} "
                      rf"unavailable: backend connect failed")
    gate.wait_for_log(rf"service=down client=\S+ close .*backend=none backend_local=none "
                      rf"failed={re.escape(dead1)},{re.escape(dead2)} .*reason=backend connect "
                      rf"failed: connection refused")


# --------------------------------------------------------------------------- exec


PROGRAM_FDS = r"""
import os, sys
fds = sorted(int(f) for f in os.listdir('/proc/self/fd'))
sys.stdout.write('fds %s pid %d\n' % (','.join(map(str, fds)), os.getpid()))
sys.stdout.flush()
while True:
    data = os.read(0, 65536)
    if not data:
        break
    os.write(1, data)
"""

PROGRAM_ONE_LINE = r"""
import os, sys
sys.stdout.write('hello %d\n' % os.getpid()); sys.stdout.flush()
line = sys.stdin.readline()
sys.stdout.write('echo ' + line); sys.stdout.flush()
"""

PROGRAM_SLEEPER = r"""
import os, sys, time
sys.stdout.write('%d\n' % os.getpid()); sys.stdout.flush()
while True:
    time.sleep(1)
"""

PROGRAM_STUBBORN = r"""
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sys.stdout.write('%d\n' % os.getpid()); sys.stdout.flush()
while True:
    time.sleep(1)
"""


def exec_service(name, program, **extra):
    svc = {"name": name, "exec": sys.executable, "exec_args": ["python3", "-c", program]}
    svc.update(extra)
    return svc


def assert_reaped(pid, what, timeout=10):
    """Waits until the exec'd program pid is gone and reaped. A zombie is a failure: tlsgate
    is its parent and must wait for it (a defect the message names as such); so is a program
    still running at the deadline (liveness bound, not a timing measure)."""
    deadline = time.monotonic() + timeout
    state = support.process_state(pid)
    while state is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        state = support.process_state(pid)
    assert state != "Z", f"{what}: pid {pid} exited but tlsgate never reaped it (zombie)"
    assert state is None, f"{what}: pid {pid} still there after {timeout} s (state {state})"


def test_exec_relays_and_leaks_no_descriptor(tlsgate):
    gate = tlsgate([exec_service("ex", PROGRAM_FDS)])
    with tls_connect(gate.address("ex")) as s:
        m = re.fullmatch(rb"fds (\S+) pid (\d+)\n", recv_line(s))
        assert m, "no greeting from the exec'd program"
        # stdin, stdout, stderr, and the directory listdir had open: nothing of tlsgate's.
        assert m.group(1) == b"0,1,2,3", m.group(1)
        pid = int(m.group(2))
        payload = os.urandom(200000)
        s.sendall(payload)
        assert recv_exact(s, len(payload)) == payload
        s.unwrap()
    assert_reaped(pid, "exec'd program after a clean end")
    gate.wait_for_log(r"service=ex client=\S+ close .*backend=exec:\S+python3\S* .*in=200000 "
                      r"out=\d+ .*reason=done")


def reset_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_exec_program_gets_eof_when_the_client_closes(tlsgate):
    gate = tlsgate([exec_service("ex", PROGRAM_FDS)])
    s = tls_connect(gate.address("ex"))
    pid = int(recv_line(s).split()[-1])
    s.close()  # FIN without close_notify: the program reads EOF and exits on its own
    assert_reaped(pid, "exec'd program after the client left")
    gate.wait_for_log(rf"pid {pid}\) exited with status 0")


def test_exec_program_is_terminated_when_the_connection_breaks(tlsgate):
    gate = tlsgate([exec_service("ex", PROGRAM_SLEEPER)])
    s = tls_connect(gate.address("ex"))
    pid = int(recv_line(s))
    reset_close(s)
    assert_reaped(pid, "exec'd program after the client reset")
    gate.wait_for_log(rf"pid {pid}\) ended by signal 15")


def test_exec_program_ignoring_sigterm_gets_sigkill(tlsgate):
    gate = tlsgate([exec_service("ex", PROGRAM_STUBBORN, close_timeout="1s")])
    s = tls_connect(gate.address("ex"))
    pid = int(recv_line(s))
    reset_close(s)
    assert_reaped(pid, "exec'd program ignoring SIGTERM", timeout=8)
    gate.wait_for_log(rf"pid {pid}\) ignored SIGTERM: SIGKILL")
    gate.wait_for_log(r"service=ex client=\S+ close ")


def test_exec_retry_starts_the_program_again(tlsgate):
    gate = tlsgate([exec_service("ex", PROGRAM_ONE_LINE, retry=True)])
    with tls_connect(gate.address("ex"), timeout=15) as s:
        first = recv_line(s)
        assert first.startswith(b"hello ")
        s.sendall(b"one\n")
        assert recv_line(s) == b"echo one\n"
        # The program exited; with retry a new one greets the same client.
        second = recv_line(s)
        assert second.startswith(b"hello ") and second != first, (first, second)
        s.sendall(b"two\n")
        assert recv_line(s) == b"echo two\n"
        # No unwrap(): the third program's greeting, and its echo of our end of input, may
        # legitimately follow our close_notify (half-close), which unwrap() treats as an error.
    gate.wait_for_log(r"service=ex client=\S+ \S+ ended; retry: starting it again")
    for line in (first, second):
        assert_reaped(int(line.split()[1]), "exec'd program that ended (retry)")


def test_exec_without_retry_ends_the_connection_with_the_program(tlsgate):
    gate = tlsgate([exec_service("ex", PROGRAM_ONE_LINE)])
    with tls_connect(gate.address("ex")) as s:
        assert recv_line(s).startswith(b"hello ")
        s.sendall(b"x\n")
        assert recv_line(s) == b"echo x\n"
        assert s.recv(100) == b""  # close_notify after the program's end


def test_exec_that_cannot_start_is_a_config_error(tlsgate_binary, tmp_path, certs):
    gate = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    path = gate.write_config([{"name": "ex", "exec": str(tmp_path / "nothing-here")}])
    r = support.run([str(tlsgate_binary), "--check", "--config", str(path)])
    assert r.returncode == 1
    assert re.search(r"tlsgate\.toml:\d+: service\[ex\]\.exec: \S+nothing-here is not an "
                     r"executable file", r.stderr), r.stderr


# --------------------------------------------------------------------------- PROXY header


def header_handler(conn, backend):
    """Reports the PROXY line, then echoes."""
    line = b""
    while not line.endswith(b"\r\n"):
        b = conn.recv(1)
        if not b:
            break
        line += b
    backend.report(line)
    support.echo_handler(conn, backend)


def test_proxy_header_tcp4_is_exact_and_comes_first(tlsgate, backend):
    b = backend(header_handler)
    gate = tlsgate([{"name": "ph", "backend": b.address, "proxy_header": True}])
    with tls_connect(gate.address("ph")) as s:
        client_port = s.getsockname()[1]
        s.sendall(b"after the header\n")
        assert recv_exact(s, 17) == b"after the header\n"
    expected = f"PROXY TCP4 127.0.0.1 127.0.0.1 {client_port} {gate.port('ph')}\r\n".encode()
    assert b.wait_results(1)[0] == expected


def test_proxy_header_tcp6(tlsgate, backend):
    b = backend(header_handler)
    gate = tlsgate([{"name": "ph6", "listen": "[::1]:0", "backend": b.address,
                     "proxy_header": True}])
    with tls_connect(gate.address("ph6")) as s:
        client_port = s.getsockname()[1]
        s.sendall(b"x")
        assert recv_exact(s, 1) == b"x"
    expected = f"PROXY TCP6 ::1 ::1 {client_port} {gate.port('ph6')}\r\n".encode()
    assert b.wait_results(1)[0] == expected


def test_proxy_header_unknown_for_a_unix_client(tlsgate, backend, shortdir):
    b = backend(header_handler)
    path = shortdir / "front.sock"
    gate = tlsgate([{"name": "phu", "listen": f"unix:{path}", "backend": b.address,
                     "proxy_header": True}])
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(str(path))
    with support.client_context().wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"y")
        assert recv_exact(s, 1) == b"y"
    assert b.wait_results(1)[0] == b"PROXY UNKNOWN\r\n"


def test_proxy_header_precedes_client_mode_tls(tlsgate, backend):
    """In client mode the header goes before the ClientHello (what haproxy's accept-proxy on
    a TLS bind expects)."""

    def handler(conn, backend_):
        data = b""
        while b"\r\n" not in data or data.endswith(b"\r\n"):  # the line and a byte more
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        backend_.report(data)

    b = backend(handler)
    gate = tlsgate([{"name": "phc", "client": True, "backend": b.address,
                     "proxy_header": True, "verify": "none"}])
    with tcp_connect(gate.address("phc")) as s:
        client_port = s.getsockname()[1]
        got = b.wait_results(1)[0]
    line, rest = got.split(b"\r\n", 1)
    assert line == f"PROXY TCP4 127.0.0.1 127.0.0.1 {client_port} {gate.port('phc')}".encode()
    assert rest[:1] == b"\x16", rest[:8]  # a TLS handshake record follows


# --------------------------------------------------------------------------- local, options


def peer_handler(conn, backend):
    backend.report(conn.getpeername()[0])
    support.echo_handler(conn, backend)


def test_local_binds_the_source_address(tlsgate, backend):
    b = backend(peer_handler)
    gate = tlsgate([{"name": "loc", "backend": b.address, "local": "127.0.0.2"}])
    support.echo_round_trip(gate.address("loc"))
    assert b.wait_results(1)[0] == "127.0.0.2"
    gate.wait_for_log(r"service=loc client=\S+ connected to \S+ \(local 127\.0\.0\.2:\d+\)")


def test_local_of_the_wrong_family_falls_over(tlsgate, backend):
    v6 = backend(peer_handler, ("::1", 0))
    v4 = backend(peer_handler)
    gate = tlsgate([{"name": "loc", "backend": [v6.address, v4.address], "local": "127.0.0.3"}])
    support.echo_round_trip(gate.address("loc"))
    assert v4.wait_results(1)[0] == "127.0.0.3"
    gate.wait_for_log(r"backend \[::1\]:\d+ failed: local address 127\.0\.0\.3 is not of the "
                      r"backend's address family")


def keepalive_idle(local_port, peer_port):
    """The keepalive timer `ss` shows for the TCP connection local_port -> peer_port (seconds
    left, rounded up), or None when the socket has no keepalive. This is what the kernel
    reports for tlsgate's own socket: the only outside view of a setsockopt."""
    for _ in range(50):
        out = support.run(["ss", "-tnoH", "state", "established",
                           f"( sport = :{local_port} and dport = :{peer_port} )"]).stdout
        # While bytes wait for an ACK the retransmission timer is the one shown.
        if "timer:(on" not in out:
            break
        time.sleep(0.1)
    m = re.search(r"timer:\(keepalive,(?:(\d+)min)?(?:(\d+)(?:\.\d+)?sec)?", out)
    if not m:
        return None
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0) + 1


def test_socket_options_apply_to_each_side(tlsgate, backend):
    """'a' on the listener (accepted sockets inherit it), 'l' on the accepted client socket,
    'r' on the backend connection: here TCP keepalive with a different idle time on each."""
    b = backend(peer_handler)
    gate = tlsgate([
        {"name": "a_only", "backend": b.address,
         "socket_options": ["a:SO_KEEPALIVE=yes", "a:TCP_KEEPIDLE=300"]},
        {"name": "l_and_r", "backend": b.address,
         "socket_options": ["l:SO_KEEPALIVE=yes", "l:TCP_KEEPIDLE=200",
                            "r:SO_KEEPALIVE=yes", "r:TCP_KEEPIDLE=100"]},
        {"name": "none", "backend": b.address},
    ])
    expected = {"a_only": (300, None), "l_and_r": (200, 100), "none": (None, None)}
    for name, (client_side, backend_side) in expected.items():
        with tls_connect(gate.address(name)) as s:
            s.sendall(b"x")
            assert recv_exact(s, 1) == b"x"
            client_port = s.getsockname()[1]
            m = gate.wait_for_log(rf"service={name} client=\S+ connected to \S+ \(local 127\.0\.0\.1:(\d+)\)")
            backend_local = int(m.group(1))
            backend_port = int(b.address.rsplit(":", 1)[1])
            got_client = keepalive_idle(gate.port(name), client_port)
            got_backend = keepalive_idle(backend_local, backend_port)
        for got, want in ((got_client, client_side), (got_backend, backend_side)):
            if want is None:
                assert got is None, (name, got_client, got_backend)
            else:
                assert got is not None and want - 5 <= got <= want, (name, got_client,
                                                                      got_backend)


def test_bad_socket_option_is_a_config_error_with_its_line(tlsgate_binary, tmp_path, certs,
                                                           echo):
    gate = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    path = gate.write_config([{"name": "bad", "backend": echo.address,
                               "socket_options": ["l:TCP_NODELAY=maybe"]}])
    r = support.run([str(tlsgate_binary), "--check", "--config", str(path)])
    assert r.returncode == 1, r.stdout
    lines = path.read_text().splitlines()
    line_no = next(i + 1 for i, l in enumerate(lines) if l.startswith("socket_options"))
    assert re.search(rf"tlsgate\.toml:{line_no}: service\[bad\]\.socket_options: .*maybe",
                     r.stderr), r.stderr


# --------------------------------------------------------------------------- reset


def resetting_handler(conn, backend):
    conn.recv(100)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    backend.report("reset")


@pytest.mark.parametrize("reset", [True, False])
def test_reset_chooses_rst_or_fin_toward_the_client(tlsgate, backend, reset):
    b = backend(resetting_handler)
    gate = tlsgate([{"name": "rst", "backend": b.address, "reset": reset}])
    s = tls_connect(gate.address("rst"))
    s.sendall(b"trigger\n")
    b.wait_results(1)
    gate.wait_for_log(r"service=rst client=\S+ close ")
    # What TCP says, under the TLS layer (which reports either one as some kind of EOF).
    raw = socket.socket(fileno=os.dup(s.fileno()))
    outcome = None
    try:
        while raw.recv(4096):
            pass
        outcome = "fin"
    except ConnectionResetError:
        outcome = "rst"
    finally:
        raw.close()
        s.close()
    assert outcome == ("rst" if reset else "fin"), (outcome, gate.log_text())
    gate.wait_for_log(rf"service=rst client=\S+ close .*close={'rst' if reset else 'fin'} "
                      rf"reason=backend reset")


# --------------------------------------------------------------------------- timeouts, names


@pytest.mark.parametrize("close_timeout,low,high", [("1s", 1800, 4500), ("4s", 4800, 8000)])
def test_close_timeout_bounds_the_linger(tlsgate, backend, close_timeout, low, high):
    """A client that never reads: after the idle timeout the close waits close_timeout for
    the queued bytes to leave, then gives up."""
    b = backend(support.source_handler(64 << 20))
    gate = tlsgate([{"name": "ct", "backend": b.address, "idle_timeout": "1s",
                     "close_timeout": close_timeout}])
    s = tls_connect(gate.address("ct"))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    m = gate.wait_for_log(r"service=ct client=\S+ close .*duration_ms=(\d+) close=\w+ reason=idle timeout",
                          timeout=20)
    s.close()
    assert low <= int(m.group(1)) <= high, m.group(0)


def test_resolve_at_start(tlsgate, backend, tlsgate_binary, tmp_path, certs):
    b = backend(named_handler("named"))
    port = b.address.rsplit(":", 1)[1]
    gate = tlsgate([{"name": "ras", "backend": f"localhost:{port}", "resolve_at_start": True}])
    assert served_by(gate.address("ras")) == "named"
    checker = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    path = checker.write_config([{"name": "nx", "backend": "no-such-host.invalid:25",
                                  "resolve_at_start": True}])
    r = support.run([str(tlsgate_binary), "--check", "--config", str(path)])
    assert r.returncode == 1
    assert re.search(r"service\[nx\]\.backend: resolve_at_start: cannot resolve "
                     r"no-such-host\.invalid", r.stderr), r.stderr


def test_service_log_level_overrides_the_global_one(tlsgate, echo):
    gate = tlsgate([{"name": "loud", "backend": echo.address, "log_level": "debug"},
                    {"name": "quiet", "backend": echo.address, "log_level": "warning"}],
                   global_={"log_level": "info"})
    support.echo_round_trip(gate.address("quiet"))
    support.echo_round_trip(gate.address("loud"))
    gate.wait_for_log(r"service=loud client=\S+ accepted connection from 127\.0\.0\.1:\d+")
    gate.wait_for_log(r"service=loud client=\S+ close ")
    time.sleep(0.3)
    assert not [l for l in gate.logs() if "service=quiet" in l and "listening" not in l]


def test_connect_timeout_applies_per_attempt(tlsgate, backend):
    """A backend whose accept queue is full drops SYNs: the attempt runs into
    connect_timeout, and the next backend gets the connection (per attempt, not overall)."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(0)
    fillers = []
    for _ in range(3):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(hung.getsockname())
        fillers.append(f)
    time.sleep(0.2)
    alive = backend(named_handler("alive"))
    hung_addr = "127.0.0.1:%d" % hung.getsockname()[1]
    gate = tlsgate([{"name": "slow", "backend": [hung_addr, alive.address],
                     "connect_timeout": "1s"}])
    try:
        t0 = time.monotonic()
        assert served_by(gate.address("slow")) == "alive"
        elapsed = time.monotonic() - t0
        assert 0.8 <= elapsed <= 4, elapsed
        gate.wait_for_log(rf"backend {re.escape(hung_addr)} failed: backend connect timeout; "
                          rf"trying {re.escape(alive.address)}")
    finally:
        for f in fillers:
            f.close()
        hung.close()


def test_shutdown_is_not_held_up_by_close_timeout(tlsgate, backend):
    """The drain deadline aborts: a client that never reads delays the exit by a short linger,
    not by the whole close_timeout."""
    b = backend(support.source_handler(64 << 20))
    gate = tlsgate([{"name": "slowreader", "backend": b.address, "close_timeout": "60s"}],
                   global_={"drain_timeout": "1s"})
    s = tls_connect(gate.address("slowreader"))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    b.wait_accepted(1)
    time.sleep(0.5)
    t0 = time.monotonic()
    assert gate.stop() == 0
    elapsed = time.monotonic() - t0
    s.close()
    assert elapsed < 6, f"exit took {elapsed:.1f} s"
    assert re.search(r"service=slowreader client=\S+ close .*reason=drain deadline", gate.log_text())
