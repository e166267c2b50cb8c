"""SIGHUP reload: new services and certificates for new connections, nothing refused or
broken, listeners whose address is unchanged never closed, bad configs rejected."""

import hashlib
import os
import random
import re
import signal
import socket
import threading
import time

import pytest

from daemon_support import (cert_fingerprint, fingerprint, listening_inodes, make_cert,
                            wait_until)
from support import echo_round_trip, recv_exact, tls_connect

PAYLOAD = 64 * 1024


class Reloader:
    """Rewrites a running tlsgate's config file and sends SIGHUP; waits for the outcome."""

    def __init__(self, gate):
        self.gate = gate
        self.done = 0
        self.failed = 0

    def reload(self, services, tls=None, global_=None, expect="done"):
        self.gate.write_config(services, tls, global_)
        start = len(self.gate.logs())
        self.gate.signal(signal.SIGHUP)
        m = self.gate.wait_for_log(r"reload (done|failed)", start=start)
        assert m.group(1) == expect, self.gate.log_text()[-3000:]
        return self.gate.logs()[start:]


def echo_service(echo, port=0, **extra):
    d = {"name": "echo", "backend": echo.address, "listen": f"127.0.0.1:{port}"}
    d.update(extra)
    return d


def test_reload_under_load_switches_certificates_without_refusing(tlsgate, echo, tmp_path):
    cert_b, key_b = make_cert(tmp_path, "second")
    gate = tlsgate([echo_service(echo)], global_={"workers": 2})
    port = gate.port("echo")
    tls_a = {"cert": str(gate.certs.chain), "key": str(gate.certs.leaf_key)}
    tls_b = {"cert": str(cert_b), "key": str(key_b)}
    fp_a, fp_b = cert_fingerprint(gate.certs.leaf), cert_fingerprint(cert_b)
    addr = ("127.0.0.1", port)
    inodes_before = listening_inodes(port)
    assert len(inodes_before) == 2  # one SO_REUSEPORT socket per worker

    stop = threading.Event()
    records, failures, lock = [], [], threading.Lock()

    def client(seed):
        rnd = random.Random(seed)
        while not stop.is_set():
            started = time.monotonic()
            try:
                with tls_connect(addr, timeout=10) as s:
                    handshaken = time.monotonic()
                    fp = fingerprint(s)
                    data = rnd.randbytes(PAYLOAD)
                    s.sendall(data)
                    got = recv_exact(s, PAYLOAD)
                    if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
                        raise AssertionError(f"echo mismatch ({len(got)} bytes back)")
                with lock:
                    records.append((started, handshaken, fp))
            except Exception as e:  # noqa: BLE001 - every failure counts
                with lock:
                    failures.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    reloader = Reloader(gate)
    # (time the reload was known done, time the next SIGHUP went out, expected fingerprint)
    epochs = []
    try:
        wait_until(lambda: len(records) >= 4, 10, what="traffic before the first reload")
        for i in range(20):
            tls, fp = (tls_b, fp_b) if i % 2 == 0 else (tls_a, fp_a)
            if epochs:
                epochs[-1][1] = time.monotonic()
            reloader.reload([echo_service(echo, port)], tls=tls, global_={"workers": 2})
            epochs.append([time.monotonic(), None, fp])
            # A connection opened now sees the new certificate.
            with tls_connect(addr) as s:
                assert fingerprint(s) == fp, f"reload {i + 1}: old certificate served"
            count = len(records)
            wait_until(lambda: len(records) >= count + 2, 10, what="traffic after a reload")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    epochs[-1][1] = time.monotonic()

    assert failures == [], f"{len(failures)} failed connection(s): {failures[:5]}"
    checked = 0
    for started, handshaken, fp in records:
        for done, next_sighup, expected in epochs:
            if started > done and handshaken < next_sighup:
                assert fp == expected, "a connection after a reload saw the old certificate"
                checked += 1
    assert checked >= 40, f"only {checked} connections fell cleanly inside a reload epoch"
    # The same listening sockets throughout: never closed, never reopened.
    assert listening_inodes(port) == inodes_before
    assert len(gate.logs()) and not [l for l in gate.logs() if "reload failed" in l]


def test_bad_config_at_reload_is_rejected_and_old_one_keeps_serving(tlsgate, echo, tmp_path):
    gate = tlsgate([echo_service(echo)])
    addr = gate.address("echo")
    fp_a = cert_fingerprint(gate.certs.leaf)
    reloader = Reloader(gate)

    # A certificate that does not exist: named with file and line.
    lines = reloader.reload([echo_service(echo, gate.port("echo"))],
                            tls={"cert": str(tmp_path / "missing.pem")}, expect="failed")
    config = str(gate.config_path)
    cert_error = rf"reload: {re.escape(config)}:\d+: service\[echo\]\.cert: .*missing\.pem"
    assert any(re.search(cert_error, l) for l in lines), lines
    with tls_connect(addr) as s:
        assert fingerprint(s) == fp_a

    # A syntax error.
    gate.config_path.write_text(gate.config_path.read_text() + "\n[[service]\nname = \n")
    start = len(gate.logs())
    gate.signal(signal.SIGHUP)
    gate.wait_for_log(r"reload failed", start=start)
    assert any(re.search(rf"reload: {re.escape(config)}:\d+: ", l) for l in gate.logs()[start:]), \
        gate.logs()[start:]
    echo_round_trip(addr)

    # An unknown key and a bad value, both reported.
    lines = reloader.reload([echo_service(echo, gate.port("echo"), no_such_key=1,
                                          handshake_timeout="soon")], expect="failed")
    errors = [l for l in lines if re.search(rf"reload: {re.escape(config)}:\d+: ", l)]
    assert len(errors) >= 2, lines
    echo_round_trip(addr)
    # And a good config after all that still applies.
    reloader.reload([echo_service(echo, gate.port("echo"))])
    echo_round_trip(addr)


def test_added_service_listens_and_removed_one_stops(tlsgate, echo, backend):
    gate = tlsgate([echo_service(echo)], global_={"workers": 2})
    port = gate.port("echo")
    inodes = listening_inodes(port)
    reloader = Reloader(gate)

    second = backend()
    lines = reloader.reload([echo_service(echo, port),
                             {"name": "second", "backend": second.address,
                              "listen": "127.0.0.1:0"}], global_={"workers": 2})
    assert any("service=second listening on" in l for l in lines), lines
    second_port = gate.read_ports()["second"][1]
    echo_round_trip(("127.0.0.1", second_port))
    assert second.accepted == 1
    assert len(listening_inodes(second_port)) == 2  # every worker listens
    # A connection to the service about to be removed stays up across the reload.
    held = tls_connect(("127.0.0.1", second_port))
    held.sendall(b"before\n")
    assert recv_exact(held, 7) == b"before\n"

    lines = reloader.reload([echo_service(echo, port)], global_={"workers": 2})
    assert any("service=second stops listening" in l for l in lines), lines
    assert any("service=second removed at reload; totals: accepted=2" in l for l in lines), lines
    with pytest.raises(ConnectionRefusedError):
        tls_connect(("127.0.0.1", second_port), timeout=2)
    held.sendall(b"after\n")
    assert recv_exact(held, 6) == b"after\n"
    held.unwrap()
    held.close()
    echo_round_trip(("127.0.0.1", port))
    assert listening_inodes(port) == inodes


def test_totals_survive_reload_and_restart_only_keys_are_reported(tlsgate, echo):
    gate = tlsgate([echo_service(echo)])
    addr = gate.address("echo")
    echo_round_trip(addr)
    reloader = Reloader(gate)
    lines = reloader.reload([echo_service(echo, gate.port("echo"))],
                            global_={"workers": 3, "drain_timeout": "5s"})
    assert any("global.workers changed" in l for l in lines), lines
    assert any("global.drain_timeout changed" in l for l in lines), lines
    echo_round_trip(addr)
    assert gate.stop() == 0
    gate.wait_for_log(r"service=echo totals: accepted=2 ")
    assert gate.wait_for_log(r"tlsgate ready: 1 service\(s\), 1 worker\(s\)")


def test_listener_that_cannot_open_rejects_the_whole_reload(tlsgate, echo, backend):
    gate = tlsgate([echo_service(echo)], global_={"workers": 2})
    port = gate.port("echo")
    inodes = listening_inodes(port)
    # Something else (without SO_REUSEPORT) holds the port the new service wants.
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    taken = squatter.getsockname()[1]
    try:
        other = backend()
        lines = Reloader(gate).reload(
            [echo_service(echo, port, backend=other.address),
             {"name": "third", "backend": echo.address, "listen": f"127.0.0.1:{taken}"}],
            global_={"workers": 2}, expect="failed")
        assert any(f"cannot bind 127.0.0.1:{taken}: address already in use" in l
                   for l in lines), lines
        # The old service, with its old backend, still serves on the same sockets.
        echo_round_trip(("127.0.0.1", port))
        assert other.accepted == 0
        assert listening_inodes(port) == inodes
    finally:
        squatter.close()


def test_unix_listener_is_kept(tlsgate, echo, shortdir):
    path = str(shortdir / "gate.sock")
    gate = tlsgate([{"name": "local", "backend": echo.address, "listen": f"unix:{path}"}],
                   global_={"workers": 2})
    inode = os.stat(path).st_ino
    reloader = Reloader(gate)
    for _ in range(3):
        lines = reloader.reload([{"name": "local", "backend": echo.address,
                                  "listen": f"unix:{path}"}], global_={"workers": 2})
        assert any("(socket kept)" in l for l in lines), lines
        echo_round_trip(path)
    assert os.stat(path).st_ino == inode
