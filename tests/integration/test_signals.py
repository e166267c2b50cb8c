"""SIGUSR1 reopens the log file, SIGUSR2 lists open connections, SIGQUIT drains."""

import re
import signal

from daemon_support import filegate, wait_until  # noqa: F401
from support import echo_round_trip, recv_exact, tls_connect


def test_sigusr1_reopens_the_log_file(filegate, echo):
    gate = filegate()
    gate.start([{"name": "echo", "backend": echo.address}], global_={"workers": 2})
    addr = gate.addresses["echo"]
    echo_round_trip(addr)
    gate.wait_for_log(r"conn=1 service=echo client=\S+ close ")

    rotated = gate.log_path.with_name("tlsgate.log.1")
    gate.log_path.rename(rotated)
    echo_round_trip(addr)  # still written to the renamed file
    gate.wait_for_log(r"conn=2 service=echo client=\S+ close ", path=rotated)
    gate.signal(signal.SIGUSR1)
    gate.wait_for_log(r"received SIGUSR1: log file reopened")
    echo_round_trip(addr)
    gate.wait_for_log(r"conn=3 service=echo client=\S+ close ")
    assert not [l for l in gate.lines(rotated) if "conn=3 " in l]
    assert gate.stop() == 0
    gate.wait_for_log(r"tlsgate stopped")
    # Every line is whole: the timestamp prefix on each.
    for line in gate.lines() + gate.lines(rotated):
        assert re.match(r"^\S+Z tlsgate\[\d+\]: \w+: ", line), line
    assert gate.stderr_text() == ""


def test_log_append_false_truncates(filegate, echo):
    gate = filegate()
    gate.log_path.write_text("old line\n")
    gate.start([{"name": "echo", "backend": echo.address}], global_={"log_append": False})
    assert "old line" not in gate.lines()
    assert gate.stop() == 0

    again = filegate()
    again.log_path.write_text("old line\n")
    again.start([{"name": "echo", "backend": echo.address}])
    assert again.lines()[0] == "old line"
    assert again.stop() == 0


def test_sigusr2_lists_open_connections(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address}], global_={"workers": 2})
    addr = gate.address("echo")
    held = []
    try:
        for payload in (b"one\n", b"two two\n"):
            s = tls_connect(addr)
            s.sendall(payload)
            assert recv_exact(s, len(payload)) == payload
            held.append(s)
        start = len(gate.logs())
        gate.signal(signal.SIGUSR2)
        gate.wait_for_log(r"received SIGUSR2", start=start)
        rx = (r"conn=(\d+) service=echo peer=127\.0\.0\.1:\d+ backend=" + re.escape(echo.address)
              + r" age_ms=\d+ in=(\d+) out=(\d+) tls=TLSv1\.3 state=relay")
        wait_until(lambda: len([l for l in gate.logs()[start:] if re.search(rx, l)]) >= 2, 10,
                   what="two connection lines")
        listed = {}
        for line in gate.logs()[start:]:
            m = re.search(rx, line)
            if m:
                listed[int(m.group(1))] = (int(m.group(2)), int(m.group(3)))
        assert sorted(listed.values()) == [(4, 4), (8, 8)], gate.logs()[start:]
        # Each worker lists its own connections, on its own loop.
        wait_until(lambda: len([l for l in gate.logs()[start:]
                                if re.search(r"worker \d: \d open connection", l)]) == 2, 10,
                   what="both workers' connection counts")
    finally:
        for s in held:
            s.close()


def test_sigquit_drains_like_sigterm(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address}], global_={"drain_timeout": "30s"})
    s = tls_connect(gate.address("echo"))
    try:
        s.sendall(b"hello\n")
        assert recv_exact(s, 6) == b"hello\n"
        gate.signal(signal.SIGQUIT)
        gate.wait_for_log(r"received SIGQUIT, draining connections")
        s.sendall(b"still\n")
        assert recv_exact(s, 6) == b"still\n"
        assert gate.proc.poll() is None
        s.unwrap()
    finally:
        s.close()
    assert gate.proc.wait(10) == 0


def test_a_second_sigterm_while_stopping_keeps_the_clean_exit(tlsgate, echo):
    # Once the drain is over, the signal watchers are closed; a SIGTERM arriving in the last
    # steps of the stop (systemd's and support.stop's second one, say) must not turn exit
    # status 0 into "killed by SIGTERM". The window is widest under the sanitizers, whose
    # exit-time leak check runs after "tlsgate stopped".
    gate = tlsgate([{"name": "echo", "backend": echo.address}])
    echo_round_trip(gate.address("echo"))
    gate.signal(signal.SIGTERM)
    gate.wait_for_log(r"tlsgate stopped")
    if gate.proc.poll() is None:
        gate.proc.send_signal(signal.SIGTERM)
    assert gate.proc.wait(10) == 0
