"""systemd integration without systemd: the notify protocol (a Python NOTIFY_SOCKET datagram
listener in place of PID 1) and socket activation under systemd-socket-activate."""
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import support
from daemon_support import listening_inodes


class NotifyListener:
    """What systemd's notify socket would receive: one datagram per sd_notify call."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def wait_for(self, line, timeout=10):
        """The first message (after those already returned) holding `line`; earlier ones are
        kept in self.messages."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.messages.append(data)
            if line in data.split("\n"):
                return dict(kv.split("=", 1) for kv in data.split("\n") if "=" in kv)
        raise AssertionError(f"no {line!r} in {self.messages}")

    def close(self):
        self.sock.close()


@pytest.fixture
def notify_socket(shortdir, monkeypatch):
    listener = NotifyListener(shortdir / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", listener.path)
    yield listener
    listener.close()


def test_notify_ready_reloading_stopping(tlsgate_binary, tmp_path, certs, backend, notify_socket):
    echo = backend()
    gate = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    gate.start([{"name": "echo", "backend": echo.address}])
    try:
        ready = notify_socket.wait_for("READY=1")
        assert ready["MAINPID"] == str(gate.pid)
        assert ready["STATUS"].startswith("running: 1 service(s), 0 open connection(s)")
        support.echo_round_trip(gate.address("echo"))

        gate.signal(signal.SIGHUP)
        reloading = notify_socket.wait_for("RELOADING=1")
        assert int(reloading["MONOTONIC_USEC"]) > 0
        again = notify_socket.wait_for("READY=1")
        assert again["STATUS"].endswith("1 accepted"), again
        gate.wait_for_log(r"reload done")

        gate.signal(signal.SIGTERM)
        stopping = notify_socket.wait_for("STOPPING=1")
        assert stopping["STATUS"].startswith("draining")
        assert gate.stop() == 0
    finally:
        gate.stop()


def test_notify_after_failed_reload_is_ready_again(tlsgate_binary, tmp_path, certs, backend,
                                                   notify_socket):
    echo = backend()
    gate = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    gate.start([{"name": "echo", "backend": echo.address}])
    try:
        notify_socket.wait_for("READY=1")
        gate.config_path.write_text("[[service]]\nname = 1\n")
        gate.signal(signal.SIGHUP)
        notify_socket.wait_for("RELOADING=1")
        notify_socket.wait_for("READY=1")
        gate.wait_for_log(r"reload failed")
    finally:
        assert gate.stop() == 0


def test_no_notify_socket_no_datagram(tlsgate_binary, tmp_path, certs, backend, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    echo = backend()
    gate = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    gate.start([{"name": "echo", "backend": echo.address}])
    assert gate.stop() == 0


needs_activate = pytest.mark.skipif(shutil.which("systemd-socket-activate") is None,
                                    reason="systemd-socket-activate not installed")


def start_activated(gate, tlsgate_binary, listen, extra_args=()):
    """systemd-socket-activate binds `listen` and execs tlsgate on the first connection, with
    LISTEN_FDS=len(listen); `gate` then reads its stderr as if it had started it."""
    cmd = ["systemd-socket-activate"]
    for address in listen:
        cmd += ["-l", address]
    cmd += list(extra_args)
    cmd += [str(tlsgate_binary), "--config", str(gate.config_path)]
    gate.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, cwd=str(gate.workdir))
    gate.reader = threading.Thread(target=gate._read_stderr, daemon=True)
    gate.reader.start()
    # It binds before it prints its first line; nothing runs tlsgate until a client comes.
    deadline = time.monotonic() + 10
    port = int(listen[0].rsplit(":", 1)[1])
    while not listening_inodes(port):
        assert time.monotonic() < deadline, gate.log_text()
        time.sleep(0.05)


@needs_activate
def test_socket_activation_uses_the_inherited_socket(tlsgate_binary, tmp_path, certs, backend):
    echo = backend()
    port = support.free_port()
    unused = support.free_port()
    gate = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    gate.config_path = gate.write_config(
        [{"name": "echo", "listen": f"127.0.0.1:{port}", "backend": echo.address}],
        global_={"workers": 2})
    start_activated(gate, tlsgate_binary, [f"127.0.0.1:{port}", f"127.0.0.1:{unused}"],
                    ["--fdname=imaps:spare"])
    inode_before = listening_inodes(port)
    try:
        # The first connection starts tlsgate, which accepts it on the inherited socket.
        support.echo_round_trip(("127.0.0.1", port), timeout=20)
        gate.wait_for_log(r"tlsgate ready")
        gate.wait_for_log(r"socket activation: 2 socket\(s\) inherited from systemd")
        gate.wait_for_log(rf"inherited socket 127\.0\.0\.1:{unused} \(fd 4, name spare\) "
                          r"matches no listen address; not used")
        support.echo_round_trip(("127.0.0.1", port))
        # Both workers listen on systemd's socket: no second socket bound to the port.
        assert listening_inodes(port) == inode_before
    finally:
        assert gate.stop() == 0


@needs_activate
def test_socket_activation_reload_takes_an_inherited_socket(tlsgate_binary, tmp_path, certs,
                                                           backend):
    echo = backend()
    port = support.free_port()
    later = support.free_port()
    gate = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    first = {"name": "echo", "listen": f"127.0.0.1:{port}", "backend": echo.address}
    gate.config_path = gate.write_config([first])
    start_activated(gate, tlsgate_binary, [f"127.0.0.1:{port}", f"127.0.0.1:{later}"])
    later_inode = listening_inodes(later)
    try:
        support.echo_round_trip(("127.0.0.1", port), timeout=20)
        gate.wait_for_log(r"tlsgate ready")
        # A service added by a reload listens on the inherited socket of its address too.
        second = dict(first, name="echo2", listen=f"127.0.0.1:{later}")
        gate.write_config([first, second])
        gate.signal(signal.SIGHUP)
        gate.wait_for_log(r"reload done: 2 service")
        support.echo_round_trip(("127.0.0.1", later))
        assert listening_inodes(later) == later_inode
    finally:
        assert gate.stop() == 0
