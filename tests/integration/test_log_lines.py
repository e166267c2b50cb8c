"""What the log says about connections: every line about one names its client
(client=ADDRESS after conn= and service=, refusals included, so fail2ban needs no join), and
"from" always means the client."""

import re
import socket
import ssl

import support


def lines_of(gate, conn):
    return [l for l in gate.logs() if re.search(rf"\bconn={conn} ", l)]


def conn_of(line):
    return re.search(r"\bconn=(\d+) ", line).group(1)


def test_every_line_of_a_relayed_connection_names_the_client(gate):
    with support.tls_connect(gate.address("echo")) as s:
        port = s.getsockname()[1]
        s.sendall(b"ping\n")
        assert support.recv_line(s) == b"ping\n"
    close = gate.wait_for_log(rf"conn=\d+ service=echo client=127\.0\.0\.1:{port} close ")
    lines = lines_of(gate, conn_of(close.string))
    assert len(lines) >= 3, lines  # established, connected, close
    for line in lines:
        assert f" service=echo client=127.0.0.1:{port} " in line, line
    connected = [l for l in lines if " connected to " in l]
    assert len(connected) == 1, lines
    # "from" is the client; the backend side's own address is "local".
    assert re.search(r"connected to 127\.0\.0\.1:\d+ \(local 127\.0\.0\.1:\d+\)", connected[0]), \
        connected[0]
    assert " from " not in connected[0], connected[0]


def test_a_failed_handshake_names_the_client(gate):
    with socket.create_connection(gate.address("echo")) as s:
        port = s.getsockname()[1]
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.settimeout(5)
        try:
            s.recv(100)
        except OSError:
            pass
    gate.wait_for_log(rf"conn=\d+ service=echo client=127\.0\.0\.1:{port} TLS handshake failed "
                      rf"from 127\.0\.0\.1:{port}: ")


def test_a_refused_alpn_names_the_client(tlsgate, backend):
    gate = tlsgate([{"name": "imap", "backend": backend(support.echo_handler).address,
                     "protocol": "imap"}])
    ctx = support.client_context()
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(gate.address("imap"))
    port = raw.getsockname()[1]
    try:
        ctx.wrap_socket(raw, server_hostname="localhost").close()
    except (ssl.SSLError, OSError):
        pass
    finally:
        raw.close()
    gate.wait_for_log(rf"conn=\d+ service=imap client=127\.0\.0\.1:{port} TLS handshake failed "
                      r".*ALPN")


def test_failed_handshakes_are_rate_limited_per_client_address(gate):
    """At most 10 lines a minute per client address, the tenth says the rest are counted; the
    close lines of the unlogged ones are left out too. (The count itself is on the next line
    the address gets a minute later: unit-tested in test_rate_limit.cpp.)"""
    for _ in range(14):
        with socket.create_connection(gate.address("echo")) as s:
            s.sendall(b"\x16\x03\x01\x00\x05hello")  # a broken ClientHello
            s.settimeout(5)
            try:
                while s.recv(100):
                    pass
            except OSError:
                pass
    # The connection after them all is relayed: its close line marks the end of the others'.
    with support.tls_connect(gate.address("echo")) as s:
        s.sendall(b"x\n")
        assert support.recv_line(s) == b"x\n"
    gate.wait_for_log(r"service=echo client=\S+ close .*reason=done")
    failed = [l for l in gate.logs() if "TLS handshake failed from" in l]
    assert len(failed) == 10, "\n".join(failed)
    assert "more than 10 a minute from 127.0.0.1: the next are counted, not logged" in failed[-1]
    closes = [l for l in gate.logs() if "reason=handshake failed" in l]
    assert len(closes) == 10, "\n".join(closes)


def run_with_stderr_file(tlsgate_binary, tmp_path, certs, echo, global_, env_of_file):
    """Starts tlsgate with stderr on a file (env_of_file(path) -> extra environment), makes one
    relayed connection, stops it; returns the file's lines."""
    import os
    import signal
    import subprocess
    import time

    t = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    config = t.write_config([{"name": "echo", "backend": echo.address}], global_=global_)
    err = tmp_path / "stderr"
    with open(err, "wb") as f:
        env = dict(os.environ, **env_of_file(err))
        proc = subprocess.Popen([str(tlsgate_binary), "--config", str(config), "--ports-file",
                                 str(t.ports_path)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=f, env=env)
    try:
        addresses = support.wait_for_ports_file(t.ports_path, ["echo"], 10,
                                                exited=lambda: proc.poll() is not None,
                                                context=err.read_text)
        deadline = time.monotonic() + 10
        while "tlsgate ready" not in err.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        with support.tls_connect(addresses["echo"]) as s:
            s.sendall(b"j\n")
            assert support.recv_line(s) == b"j\n"
        deadline = time.monotonic() + 10
        while "reason=done" not in err.read_text() and "\"reason=done" not in err.read_text() \
                and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, err.read_text()
    return err.read_text().splitlines()


def test_under_journald_lines_have_a_priority_and_no_time_or_pid(tlsgate_binary, tmp_path, certs,
                                                                 echo):
    import os

    def journal(path):
        st = os.stat(path)
        return {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}

    lines = run_with_stderr_file(tlsgate_binary, tmp_path, certs, echo, {}, journal)
    assert any(l == "<5>notice: tlsgate stopped" for l in lines), lines
    close = [l for l in lines if " close " in l]
    assert len(close) == 1 and re.match(r"<6>info: conn=\d+ service=echo client=127\.0\.0\.1:\d+ "
                                        r"close ", close[0]), lines
    for line in lines:
        assert re.match(r"<[0-7]>", line), line
        assert not re.search(r"\d{4}-\d\d-\d\dT|tlsgate\[\d+\]", line), line


def test_a_journal_stream_that_is_not_stderr_changes_nothing(tlsgate_binary, tmp_path, certs,
                                                             echo):
    lines = run_with_stderr_file(tlsgate_binary, tmp_path, certs, echo, {},
                                 lambda path: {"JOURNAL_STREAM": "1:2"})
    assert any(re.match(r"\d{4}-\d\d-\d\dT\S+Z tlsgate\[\d+\]: notice: tlsgate stopped$", l)
               for l in lines), lines


def test_log_format_json_writes_one_object_a_line(tlsgate_binary, tmp_path, certs, echo):
    import json

    lines = run_with_stderr_file(tlsgate_binary, tmp_path, certs, echo, {"log_format": "json"},
                                 lambda path: {})
    objects = [json.loads(l) for l in lines]
    assert all(set(o) >= {"time", "level", "msg"} for o in objects), lines
    close = [o for o in objects if o["msg"].startswith("close ")]
    assert len(close) == 1, lines
    assert close[0]["service"] == "echo" and close[0]["level"] == "info"
    assert isinstance(close[0]["conn"], int)
    assert re.fullmatch(r"127\.0\.0\.1:\d+", close[0]["client"]), close[0]
    assert "reason=done" in close[0]["msg"]
    ready = [o for o in objects if o["msg"].startswith("tlsgate ready")]
    assert len(ready) == 1 and "conn" not in ready[0], ready
