"""Helpers for the daemon, reload and signal tests: a tlsgate whose lines go to a log file
(or that detaches), /proc readers, and a second certificate."""

import hashlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import support


def wait_until(predicate, timeout=10, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def proc_status(pid):
    """/proc/PID/status as a dict of the first field of each line (Uid: real, then effective)."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def proc_stat(pid):
    """(ppid, pgrp, session, tty_nr) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[1]), int(rest[2]), int(rest[3]), int(rest[4])


def alive(pid):
    """Running: neither gone nor a zombie. A detached daemon is not our child: once it has
    exited, reaping it is its parent's (init's) business, so a zombie counts as exited."""
    state = support.process_state(pid)
    return state is not None and state != "Z"


def send_signal(pid, sig):
    """os.kill, where a process that already exited (ESRCH) is no error."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def processes_with_arg(text):
    """Pids whose command line contains `text` (e.g. a config path)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


def listening_inodes(port):
    """Inodes of the IPv4 sockets listening on `port` (from /proc/net/tcp)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                inodes.add(int(inode))
    return inodes


def fingerprint(tls_sock):
    return hashlib.sha256(tls_sock.getpeercert(binary_form=True)).hexdigest()


def make_cert(directory: Path, name):
    """A self-signed P-256 certificate for 127.0.0.1/localhost: (cert, key) paths."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    r = support.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                     "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                     "-keyout", str(key), "-out", str(cert)])
    assert r.returncode == 0, r.stderr
    return cert, key


def cert_fingerprint(cert_path):
    r = support.run(["openssl", "x509", "-in", str(cert_path), "-outform", "DER"], text=False)
    assert r.returncode == 0
    return hashlib.sha256(r.stdout).hexdigest()


class FileLogGate:
    """tlsgate with global.log_file set: start it (in the foreground, or with daemon = true
    and wait for the parent to exit), follow its log file, signal and stop it."""

    def __init__(self, binary, workdir: Path, certs):
        self.runner = support.Tlsgate(binary, workdir, certs)
        self.workdir = workdir
        self.log_path = workdir / "tlsgate.log"
        self.proc = None
        self.pid = None
        self.config_path = None
        self.addresses = {}
        self.start_result = None

    def write_config(self, services, tls=None, global_=None):
        g = {"log_file": str(self.log_path)}
        g.update(global_ or {})
        self.config_path = self.runner.write_config(services, tls, g)
        return self.config_path

    def start(self, services, tls=None, global_=None, extra_args=(), expect_ready=True):
        self.write_config(services, tls, global_)
        cmd = [str(self.runner.binary), "--config", str(self.config_path),
               "--ports-file", str(self.runner.ports_path), *extra_args]
        daemon = (global_ or {}).get("daemon") or "--daemon" in extra_args
        if daemon:
            # The parent returns once the daemon is ready (0) or has failed (1).
            self.start_result = support.run(cmd, cwd=str(self.workdir), timeout=30)
            if not expect_ready:
                return self
            assert self.start_result.returncode == 0, self.start_result.stderr
        else:
            with open(self.workdir / "stderr.txt", "wb") as stderr:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=stderr,
                                             cwd=str(self.workdir))
            self.pid = self.proc.pid
        self.addresses = support.wait_for_ports_file(
            self.runner.ports_path, [s["name"] for s in services],
            context=lambda: "\n".join(self.lines()[-100:]) + self.stderr_text())
        self.wait_for_log(r"tlsgate ready")
        return self

    def lines(self, path=None):
        try:
            return Path(path or self.log_path).read_text().splitlines()
        except FileNotFoundError:
            return []

    def wait_for_log(self, regex, timeout=10, count=1, path=None):
        rx = re.compile(regex)

        def found():
            hits = [l for l in self.lines(path) if rx.search(l)]
            return hits if len(hits) >= count else None

        try:
            return wait_until(found, timeout, what=regex)
        except AssertionError:
            raise AssertionError(f"no {count} log line(s) matching {regex!r}:\n"
                                 + "\n".join(self.lines(path)[-100:])) from None

    def stderr_text(self):
        try:
            return (self.workdir / "stderr.txt").read_text()
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        os.kill(self.pid, sig)

    def stop(self, timeout=15):
        """SIGTERM and wait for the process to be gone; returns the exit status (None for a
        daemon, which is not our child)."""
        if self.pid is None or not alive(self.pid):
            return self.proc.wait() if self.proc else None
        send_signal(self.pid, signal.SIGTERM)  # it may exit between the check and the kill
        if self.proc:
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("tlsgate did not exit after SIGTERM")
        try:
            wait_until(lambda: not alive(self.pid), timeout, what="the daemon to exit")
        except AssertionError:
            send_signal(self.pid, signal.SIGKILL)
            raise
        return None

    def kill(self):
        """Teardown: make sure nothing is left running."""
        for pid in processes_with_arg(str(self.config_path)) if self.config_path else []:
            send_signal(pid, signal.SIGKILL)
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def filegate(tlsgate_binary, tmp_path, certs):
    """Factory: filegate() -> FileLogGate (not started) logging to a file in its own
    directory; whatever it started is killed at teardown. Import it into a test module."""
    made = []

    def make():
        d = tmp_path / f"filegate{len(made)}"
        d.mkdir()
        gate = FileLogGate(tlsgate_binary, d, certs)
        made.append(gate)
        return gate

    yield make
    for gate in made:
        gate.kill()
