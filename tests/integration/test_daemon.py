"""Daemon duties: detaching, the pid file, dropping privileges, chroot."""

import os
import pwd
import grp
import signal

from daemon_support import (alive, filegate, proc_stat, proc_status, processes_with_arg,  # noqa: F401
                            wait_until)
from support import echo_round_trip

NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrnam("nogroup")


def ancestors(pid):
    chain = []
    while pid > 1:
        pid = proc_stat(pid)[0]
        chain.append(pid)
    return chain


def test_daemon_drops_privileges_serves_and_cleans_up(filegate, echo):
    gate = filegate()
    # The pid file's directory belongs to the unprivileged user, so it can remove the file at
    # exit; the file itself is created while tlsgate is still root.
    run_dir = gate.workdir / "run"
    run_dir.mkdir()
    os.chown(run_dir, NOBODY.pw_uid, NOGROUP.gr_gid)
    pid_file = run_dir / "tlsgate.pid"
    gate.start([{"name": "echo", "backend": echo.address}],
               global_={"daemon": True, "pid_file": str(pid_file), "user": "nobody",
                        "group": "nogroup", "workers": 2})
    # The launching process has exited 0 once the daemon was ready; its stderr is quiet.
    assert gate.start_result.stderr == ""
    pid = int(pid_file.read_text())
    gate.pid = pid
    assert alive(pid)

    ppid, pgrp, session, tty = proc_stat(pid)
    # Reparented to init or to a subreaper (always an ancestor of this test process).
    assert ppid == 1 or ppid in ancestors(os.getpid()), f"daemon's parent is {ppid}"
    # A new session with no controlling terminal. After the double fork the daemon is not
    # the session leader itself (the first child was, and has exited), so it can never
    # acquire a terminal; it leads neither its session nor its process group.
    assert session != os.getsid(0)
    assert tty == 0
    assert pgrp == session and session != pid

    status = proc_status(pid)
    assert [int(x) for x in status["Uid"][:2]] == [NOBODY.pw_uid] * 2
    assert [int(x) for x in status["Gid"][:2]] == [NOGROUP.gr_gid] * 2
    assert status["Groups"] == [str(NOGROUP.gr_gid)] or status["Groups"] == []
    # Every thread (the workers started after the drop), not just the main one.
    tasks = os.listdir(f"/proc/{pid}/task")
    assert len(tasks) >= 3
    for task in tasks:
        task_status = proc_status(f"{pid}/task/{task}")
        assert [int(x) for x in task_status["Uid"]] == [NOBODY.pw_uid] * 4
        assert [int(x) for x in task_status["Gid"]] == [NOGROUP.gr_gid] * 4
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"

    echo_round_trip(gate.addresses["echo"])
    gate.wait_for_log(r"tlsgate ready: 1 service\(s\), 2 worker\(s\), running as nobody")

    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not alive(pid), 15, what="the daemon to exit")
    assert not pid_file.exists(), "pid file left behind"
    gate.wait_for_log(r"tlsgate stopped")
    assert not any("cannot remove pid file" in l for l in gate.lines())


def test_pid_file_left_in_root_directory_is_reported(filegate, echo):
    """After dropping privileges the pid file cannot be removed from a root-only directory:
    the daemon says so instead of failing silently."""
    gate = filegate()
    pid_file = gate.workdir / "tlsgate.pid"
    os.chmod(gate.workdir, 0o755)
    gate.start([{"name": "echo", "backend": echo.address}],
               global_={"pid_file": str(pid_file), "user": "nobody"})
    assert int(pid_file.read_text()) == gate.pid
    assert gate.stop() == 0
    gate.wait_for_log(r"cannot remove pid file .*tlsgate.pid: Permission denied")


def test_pid_file_naming_a_live_process_refuses_to_start(filegate, echo):
    gate = filegate()
    pid_file = gate.workdir / "tlsgate.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    gate.start([{"name": "echo", "backend": echo.address}],
               global_={"daemon": True, "pid_file": str(pid_file)}, expect_ready=False)
    r = gate.start_result
    assert r.returncode == 1
    assert f"pid file {pid_file} names running process {os.getpid()}" in r.stderr
    assert pid_file.read_text() == f"{os.getpid()}\n"
    assert processes_with_arg(str(gate.config_path)) == []


def test_stale_pid_file_is_replaced(filegate, echo):
    gate = filegate()
    pid_file = gate.workdir / "tlsgate.pid"
    pid_file.write_text("2147483646\n")  # no such process
    gate.start([{"name": "echo", "backend": echo.address}], global_={"pid_file": str(pid_file)})
    assert int(pid_file.read_text()) == gate.pid
    echo_round_trip(gate.addresses["echo"])
    assert gate.stop() == 0
    assert not pid_file.exists()


def test_unknown_user_is_a_clear_error_and_nothing_runs(filegate, echo):
    gate = filegate()
    pid_file = gate.workdir / "tlsgate.pid"
    gate.start([{"name": "echo", "backend": echo.address}],
               global_={"daemon": True, "pid_file": str(pid_file),
                        "user": "no-such-user-tlsgate"}, expect_ready=False)
    r = gate.start_result
    assert r.returncode == 1
    assert 'cannot start: unknown user "no-such-user-tlsgate"' in r.stderr
    assert not pid_file.exists()
    assert processes_with_arg(str(gate.config_path)) == []


def test_daemon_start_failure_reaches_the_terminal(filegate, echo):
    """A listener that cannot bind fails in the detached child; the launching process still
    exits 1 and the error reaches its stderr."""
    gate = filegate()
    gate.start([{"name": "echo", "backend": echo.address, "listen": "192.0.2.1:1"}],
               extra_args=["--daemon"], expect_ready=False)
    r = gate.start_result
    assert r.returncode == 1
    assert "cannot start: service echo: cannot bind 192.0.2.1:1" in r.stderr, r.stderr
    assert processes_with_arg(str(gate.config_path)) == []


def test_chroot(tlsgate, echo, tmp_path, monkeypatch):
    # LeakSanitizer reads /proc at exit, which an empty chroot lacks; the leak check is done
    # by every other test.
    options = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (options + ":" if options else "") + "detect_leaks=0")
    jail = tmp_path / "jail"
    jail.mkdir()
    gate = tlsgate([{"name": "echo", "backend": echo.address}],
                   global_={"chroot": str(jail), "user": "nobody"})
    assert os.readlink(f"/proc/{gate.pid}/root") == str(jail)
    assert int(proc_status(gate.pid)["Uid"][1]) == NOBODY.pw_uid
    echo_round_trip(gate.address("echo"))


def test_syslog_ident(tlsgate_binary, certs, echo, tmp_path):
    """log = "syslog" with syslog_ident: lines reach /dev/log under that ident. /dev/log is
    a socket of this test, bound over /dev in a private mount namespace."""
    import socket
    import subprocess

    import support

    dev = tmp_path / "dev"
    dev.mkdir()
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(dev / "log"))
    receiver.settimeout(10)
    runner = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    config = runner.write_config([{"name": "echo", "backend": echo.address}],
                                 global_={"log": "syslog", "syslog_ident": "tg-test"})
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount --bind "$0" /dev && exec "$1" --config "$2"', str(dev), str(tlsgate_binary),
         str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    try:
        messages = []
        while not any("tlsgate ready" in m for m in messages):
            messages.append(receiver.recv(65536).decode())
        ready = [m for m in messages if "tlsgate ready" in m][0]
        # <21> = LOG_MAIL | LOG_NOTICE
        assert ready.startswith("<21>") and f" tg-test[{proc.pid}]: " in ready, ready
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        receiver.close()
