"""inetd mode: no listener; the one connection is on stdin/stdout (a socket, as inetd or a
systemd socket with Accept=yes hands it over); tlsgate serves it and exits when it ends."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import support
from support import recv_exact


def write_inetd_config(path, certs, service):
    svc = {"name": "inetd", "inetd": True, "protocol": "raw", "tls": "implicit"}
    svc.update(service)
    path.write_text(support.render_config(
        {"workers": 1, "log_level": "debug", "log": "stderr", "drain_timeout": "1s"},
        {"cert": str(certs.chain), "key": str(certs.leaf_key)}, [svc]))
    return path


def run_inetd(binary, config, ours, theirs):
    """Starts tlsgate with `theirs` as its stdin and stdout."""
    proc = subprocess.Popen([str(binary), "--config", str(config)], stdin=theirs,
                            stdout=theirs, stderr=subprocess.PIPE, pass_fds=())
    theirs.close()
    return proc


def finish(proc, timeout=10):
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError("tlsgate did not exit after its inetd connection ended:\n" +
                             err.decode(errors="replace"))
    text = err.decode(errors="replace")
    assert not [m for m in support.SANITIZER_MARKERS if m in text], text
    return proc.returncode, text


def test_server_mode_tls_on_a_socketpair(tlsgate_binary, tmp_path, certs, echo):
    config = write_inetd_config(tmp_path / "inetd.toml", certs, {"backend": echo.address})
    ours, theirs = socket.socketpair()
    proc = run_inetd(tlsgate_binary, config, ours, theirs)
    ctx = support.client_context(cafile=certs.root)
    ours.settimeout(10)
    with ctx.wrap_socket(ours, server_hostname="localhost", suppress_ragged_eofs=False) as s:
        payload = os.urandom(100000)
        s.sendall(payload)
        assert recv_exact(s, len(payload)) == payload
        plain = s.unwrap()
        plain.shutdown(socket.SHUT_WR)
        assert plain.recv(10) == b""  # tlsgate closed its side: a FIN, not held open
        plain.close()
    rc, log = finish(proc)
    assert rc == 0, log
    assert "service=inetd client=unix close peer=unix" in log and "in=100000 out=100000" in log, log
    assert "reason=done" in log, log


def test_server_mode_over_tcp_like_inetd_hands_it(tlsgate_binary, tmp_path, certs, echo):
    """inetd passes an accepted TCP socket: the close line names the real peer."""
    config = write_inetd_config(tmp_path / "inetd.toml", certs, {"backend": echo.address})
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    listener.close()
    proc = run_inetd(tlsgate_binary, config, client, accepted)
    client.settimeout(10)
    with support.client_context().wrap_socket(client, server_hostname="localhost") as s:
        s.sendall(b"over tcp\n")
        assert recv_exact(s, 9) == b"over tcp\n"
        port = s.getsockname()[1]
    rc, log = finish(proc)
    assert rc == 0, log
    assert f"close peer=127.0.0.1:{port} backend={echo.address}" in log, log


def test_client_mode_plaintext_on_stdin(tlsgate_binary, tmp_path, certs, tlsgate, echo):
    server = tlsgate([{"name": "tls_echo", "backend": echo.address}])
    host, port = server.address("tls_echo")
    config = write_inetd_config(tmp_path / "client.toml", certs, {
        "client": True, "backend": f"{host}:{port}", "ca_file": str(certs.root)})
    ours, theirs = socket.socketpair()
    proc = run_inetd(tlsgate_binary, config, ours, theirs)
    ours.settimeout(10)
    ours.sendall(b"plaintext in, TLS out\n")
    assert recv_exact(ours, 22) == b"plaintext in, TLS out\n"
    ours.shutdown(socket.SHUT_WR)
    assert ours.recv(10) == b""
    ours.close()
    rc, log = finish(proc)
    assert rc == 0, log
    assert "certificate verified" in log, log


def test_inetd_with_exec(tlsgate_binary, tmp_path, certs):
    """stunnel's classic inetd + exec: TLS on stdin, a program behind it."""
    config = write_inetd_config(tmp_path / "exec.toml", certs, {
        "exec": sys.executable,
        "exec_args": ["python3", "-c",
                      "import sys; sys.stdout.write(sys.stdin.readline().upper())"]})
    ours, theirs = socket.socketpair()
    proc = run_inetd(tlsgate_binary, config, ours, theirs)
    ours.settimeout(10)
    with support.client_context().wrap_socket(ours, server_hostname="localhost",
                                              suppress_ragged_eofs=False) as s:
        s.sendall(b"shout\n")
        assert recv_exact(s, 6) == b"SHOUT\n"
        assert s.recv(10) == b""  # the program ended: close_notify
    rc, log = finish(proc)
    assert rc == 0, log
    assert "exited with status 0" in log, log


def test_stdin_not_a_socket_is_refused(tlsgate_binary, tmp_path, certs, echo):
    config = write_inetd_config(tmp_path / "inetd.toml", certs, {"backend": echo.address})
    r = subprocess.run([str(tlsgate_binary), "--config", str(config)],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    assert r.returncode == 1
    assert b"inetd: stdin and stdout must be one socket" in r.stderr, r.stderr


def test_client_mode_on_two_pipes(tlsgate_binary, tmp_path, certs, tlsgate, echo):
    """stdin and stdout as two pipes (a program running tlsgate as a filter): plaintext in
    on one, out on the other; closing stdin is the EOF that ends the session."""
    server = tlsgate([{"name": "tls_echo", "backend": echo.address}])
    host, port = server.address("tls_echo")
    config = write_inetd_config(tmp_path / "pipes.toml", certs, {
        "client": True, "backend": f"{host}:{port}", "ca_file": str(certs.root)})
    proc = subprocess.Popen([str(tlsgate_binary), "--config", str(config)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    payload = os.urandom(300000)
    try:
        out, err = proc.communicate(payload, timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("tlsgate on pipes did not finish:\n" + err.decode(errors="replace"))
    log = err.decode(errors="replace")
    assert proc.returncode == 0, log
    assert out == payload, (len(out), log)
    assert "close peer=pipe backend=" in log and "in=300000 out=300000" in log, log


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_drains_the_connection(tlsgate_binary, tmp_path, certs, echo, signum):
    # SIGINT as SIGTERM, as the server does (before, SIGINT killed inetd mode outright).
    config = write_inetd_config(tmp_path / "inetd.toml", certs, {"backend": echo.address})
    ours, theirs = socket.socketpair()
    proc = run_inetd(tlsgate_binary, config, ours, theirs)
    ours.settimeout(10)
    with support.client_context().wrap_socket(ours, server_hostname="localhost",
                                              suppress_ragged_eofs=False) as s:
        s.sendall(b"hi")
        assert recv_exact(s, 2) == b"hi"
        t0 = time.monotonic()
        proc.send_signal(signum)
        assert s.recv(10) == b""  # close_notify at the drain deadline, not a cut
        assert time.monotonic() - t0 < 5
    rc, log = finish(proc)
    assert rc == 0, log
    assert "reason=drain deadline" in log, log
