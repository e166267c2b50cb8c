"""Start-up errors of a daemon are never lost: whatever stops a daemonising tlsgate (before or
after the fork) is printed on the launching process's stderr, which exits 1, and is logged.

These run the way a stunnel.conf runs by default: daemon = true with log = "syslog". /dev/log
is a socket of the test, bound over /dev in a private mount namespace (as test_syslog_ident
does), so what was logged can be read back."""

import os
import shutil
import socket
import subprocess

import support
from daemon_support import processes_with_arg


class SyslogDaemon:
    """Writes a config for a daemonising tlsgate that logs to syslog only, runs it (optionally
    under a wrapper such as setpriv) and collects what it logged."""

    def __init__(self, binary, tmp_path, certs):
        self.runner = support.Tlsgate(binary, tmp_path, certs)
        self.tmp_path = tmp_path
        self.config_path = None
        dev = tmp_path / "dev"
        dev.mkdir()
        self.dev = dev
        self.receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.receiver.bind(str(dev / "log"))

    def run(self, services, tls=None, global_=None, wrapper=()):
        g = {"daemon": True, "log": "syslog", "syslog_ident": "tg-start"}
        g.update(global_ or {})
        self.config_path = self.runner.write_config(services, tls, g)
        return support.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'mount --bind "$0" /dev && exec "$@"', str(self.dev), *wrapper,
             str(self.runner.binary), "--config", str(self.config_path)],
            cwd=str(self.tmp_path), timeout=30)

    def logged(self):
        self.receiver.settimeout(0.5)
        messages = []
        try:
            while True:
                messages.append(self.receiver.recv(65536).decode())
        except socket.timeout:
            pass
        return messages

    def close(self):
        self.receiver.close()
        if self.config_path:
            for pid in processes_with_arg(str(self.config_path)):
                os.kill(pid, 9)


def check_failure(daemon, result, expected):
    """Exit 1, `expected` on the launching process's stderr and in the log, nothing left."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert expected in result.stderr, result.stderr
    logged = daemon.logged()
    assert any(expected in m and " tg-start[" in m for m in logged), logged
    assert processes_with_arg(str(daemon.config_path)) == []


def make_daemon(tlsgate_binary, tmp_path, certs):
    return SyslogDaemon(tlsgate_binary, tmp_path, certs)


def test_port_in_use_after_the_fork(tlsgate_binary, tmp_path, certs, echo):
    daemon = make_daemon(tlsgate_binary, tmp_path, certs)
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = daemon.run([{"name": "echo", "backend": echo.address,
                         "listen": f"127.0.0.1:{port}"}])
        check_failure(daemon, r, f"cannot bind 127.0.0.1:{port}: address already in use")
        assert "cannot start: service echo: " in r.stderr
    finally:
        taken.close()
        daemon.close()


def test_privileged_port_without_the_capability(tlsgate_binary, tmp_path, certs, echo):
    """Port 993 without CAP_NET_BIND_SERVICE (as a non-root operator runs it)."""
    daemon = make_daemon(tlsgate_binary, tmp_path, certs)
    try:
        r = daemon.run([{"name": "imaps", "backend": echo.address, "listen": "127.0.0.1:993"}],
                       wrapper=["setpriv", "--inh-caps=-net_bind_service",
                                "--bounding-set=-net_bind_service"])
        check_failure(daemon, r, "service imaps: cannot bind 127.0.0.1:993: permission denied")
    finally:
        daemon.close()


def test_live_pid_file(tlsgate_binary, tmp_path, certs, echo):
    daemon = make_daemon(tlsgate_binary, tmp_path, certs)
    pid_file = tmp_path / "tlsgate.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        r = daemon.run([{"name": "echo", "backend": echo.address}],
                       global_={"pid_file": str(pid_file)})
        check_failure(daemon, r, f"pid file {pid_file} names running process {os.getpid()}")
        assert pid_file.read_text() == f"{os.getpid()}\n"
    finally:
        daemon.close()


def test_unreadable_key(tlsgate_binary, tmp_path, certs, echo):
    """A key the process may not read (root without CAP_DAC_OVERRIDE here)."""
    daemon = make_daemon(tlsgate_binary, tmp_path, certs)
    key = tmp_path / "unreadable.key"
    shutil.copy(certs.leaf_key, key)
    os.chmod(key, 0)
    try:
        r = daemon.run([{"name": "echo", "backend": echo.address}], tls={"key": str(key)},
                       wrapper=["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                                "--bounding-set=-dac_override,-dac_read_search"])
        check_failure(daemon, r, str(key))
        assert "Permission denied" in r.stderr, r.stderr
    finally:
        daemon.close()


def test_success_still_detaches_quietly(tlsgate_binary, tmp_path, certs, echo):
    """The pipe that carries errors says nothing when the daemon is ready."""
    daemon = make_daemon(tlsgate_binary, tmp_path, certs)
    pid_file = tmp_path / "tlsgate.pid"
    try:
        # /dev in the namespace has no /dev/null: the daemon would fail at ready(); give it one.
        subprocess.run(["mknod", "-m", "666", str(daemon.dev / "null"), "c", "1", "3"],
                       check=True)
        r = daemon.run([{"name": "echo", "backend": echo.address}],
                       global_={"pid_file": str(pid_file)})
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        assert any("tlsgate ready" in m for m in daemon.logged())
    finally:
        daemon.close()


def test_daemon_that_cannot_detach_its_stdio_says_so(tlsgate_binary, tmp_path, certs, echo):
    """The last step of a start, pointing stdio at /dev/null, can fail too (here /dev has no
    null): the launching process must not wait forever for a daemon that never said ready."""
    daemon = make_daemon(tlsgate_binary, tmp_path, certs)
    pid_file = tmp_path / "tlsgate.pid"
    try:
        r = daemon.run([{"name": "echo", "backend": echo.address}],
                       global_={"pid_file": str(pid_file)})
        check_failure(daemon, r, "cannot start: cannot open /dev/null")
        assert not pid_file.exists()
    finally:
        daemon.close()
