"""A port another process already listens on is refused with "address already in use", as
stunnel refuses it, although tlsgate's own workers share their ports with SO_REUSEPORT (which
would otherwise let a second tlsgate, or any process that sets SO_REUSEPORT, silently take
part of the clients)."""

import signal
import socket
import subprocess

import pytest

import support
from daemon_support import listening_inodes
from support import echo_round_trip


def stranger(family=socket.AF_INET, host="127.0.0.1", reuse_port=True):
    """A listening socket of this test, on a port the kernel chose."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((host, 0))
    s.listen()
    return s


def start_expecting_failure(tlsgate_binary, tmp_path, certs, services, global_=None):
    runner = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    config = runner.write_config(services, global_=global_)
    try:
        return support.run([str(tlsgate_binary), "--config", str(config)], timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("tlsgate started on a port another process listens on")


@pytest.mark.parametrize("reuse_port", [True, False], ids=["stranger-reuseport", "plain"])
def test_port_another_process_listens_on_is_refused(tlsgate_binary, tmp_path, certs, echo,
                                                    reuse_port):
    taken = stranger(reuse_port=reuse_port)
    try:
        port = taken.getsockname()[1]
        r = start_expecting_failure(tlsgate_binary, tmp_path, certs,
                                    [{"name": "imaps", "backend": echo.address,
                                      "listen": f"127.0.0.1:{port}"}],
                                    global_={"workers": 2})
        assert r.returncode == 1, r.stderr
        assert (f"cannot start: service imaps: cannot bind 127.0.0.1:{port}: address already "
                "in use") in r.stderr, r.stderr
    finally:
        taken.close()


def test_wildcard_over_a_specific_listener_is_refused(tlsgate_binary, tmp_path, certs, echo):
    taken = stranger()
    try:
        port = taken.getsockname()[1]
        r = start_expecting_failure(tlsgate_binary, tmp_path, certs,
                                    [{"name": "any", "backend": echo.address,
                                      "listen": f"0.0.0.0:{port}"}])
        assert r.returncode == 1, r.stderr
        assert f"service any: cannot bind 0.0.0.0:{port}: address already in use" in r.stderr
    finally:
        taken.close()


def test_ipv6_port_in_use_is_refused(tlsgate_binary, tmp_path, certs, echo):
    taken = stranger(socket.AF_INET6, "::1")
    try:
        port = taken.getsockname()[1]
        r = start_expecting_failure(tlsgate_binary, tmp_path, certs,
                                    [{"name": "v6", "backend": echo.address,
                                      "listen": f"[::1]:{port}"}])
        assert r.returncode == 1, r.stderr
        assert f"service v6: cannot bind [::1]:{port}: address already in use" in r.stderr
    finally:
        taken.close()


def test_second_tlsgate_on_the_same_port_is_refused(tlsgate, tlsgate_binary, tmp_path, certs,
                                                    echo):
    first = tlsgate([{"name": "echo", "backend": echo.address}], global_={"workers": 2})
    port = first.port("echo")
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    r = start_expecting_failure(tlsgate_binary, second_dir, certs,
                                [{"name": "other", "backend": echo.address,
                                  "listen": f"127.0.0.1:{port}"}])
    assert r.returncode == 1, r.stderr
    assert f"service other: cannot bind 127.0.0.1:{port}: address already in use" in r.stderr
    # The first one still owns every socket on the port, and serves.
    assert len(listening_inodes(port)) == 2
    echo_round_trip(first.address("echo"))


def test_multi_worker_start_and_unchanged_reload(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address}], global_={"workers": 3})
    port = gate.port("echo")
    inodes = listening_inodes(port)
    assert len(inodes) == 3
    for _ in range(6):
        echo_round_trip(gate.address("echo"))
    # The same listeners again: tlsgate's own sockets are not "another process".
    gate.write_config([{"name": "echo", "backend": echo.address,
                        "listen": f"127.0.0.1:{port}"}], global_={"workers": 3})
    start = len(gate.logs())
    gate.signal(signal.SIGHUP)
    m = gate.wait_for_log(r"reload (done|failed)", start=start)
    assert m.group(1) == "done", gate.log_text()[-2000:]
    assert listening_inodes(port) == inodes
    echo_round_trip(gate.address("echo"))


def test_reload_adding_a_port_in_use_fails_and_keeps_running(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address}], global_={"workers": 2})
    port = gate.port("echo")
    taken = stranger()
    try:
        busy = taken.getsockname()[1]
        gate.write_config([{"name": "echo", "backend": echo.address,
                            "listen": f"127.0.0.1:{port}"},
                           {"name": "extra", "backend": echo.address,
                            "listen": f"127.0.0.1:{busy}"}], global_={"workers": 2})
        start = len(gate.logs())
        gate.signal(signal.SIGHUP)
        m = gate.wait_for_log(r"reload (done|failed)", start=start)
        assert m.group(1) == "failed", gate.log_text()[-2000:]
        assert (f"service extra: cannot bind 127.0.0.1:{busy}: address already in use"
                in gate.log_text())
        echo_round_trip(gate.address("echo"))
        # The stranger kept its port to itself.
        assert len(listening_inodes(busy)) == 1
    finally:
        taken.close()
