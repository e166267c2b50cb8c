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
