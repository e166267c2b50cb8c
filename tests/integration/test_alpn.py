"""ALPN on mail services (issue 12, ALPACA): a TLS client that says it speaks another
protocol (e.g. an HTTPS client lured to the IMAP port) is refused with the
no_application_protocol alert; the service's own protocol name is selected; a client
without ALPN is served as before."""

import ssl

import pytest

import support

GREETINGS = {"imap": b"* OK test IMAP ready\r\n", "pop3": b"+OK test POP3 ready\r\n",
             "smtp": b"220 test ESMTP ready\r\n"}


def greeter(protocol):
    def handler(conn, backend):
        conn.sendall(GREETINGS[protocol])
        support.echo_handler(conn, backend)

    return handler


@pytest.fixture
def mail_gate(tlsgate, backend):
    def start(protocol):
        b = backend(greeter(protocol))
        return tlsgate([{"name": protocol, "protocol": protocol, "tls": "implicit",
                         "backend": b.address}])

    return start


def greeting(addr, alpn):
    ctx = support.client_context()
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    with support.tls_connect(addr, ctx) as s:
        line = support.recv_line(s)
        return line, s.selected_alpn_protocol()


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_foreign_alpn_is_refused(mail_gate, protocol):
    gate = mail_gate(protocol)
    addr = gate.address(protocol)
    with pytest.raises(ssl.SSLError, match="no application protocol"):
        greeting(addr, ["http/1.1"])
    host, port = addr
    r = support.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-alpn", "http/1.1"],
                    input="", timeout=20)
    assert "no application protocol" in r.stderr, r.stdout + r.stderr
    gate.wait_for_log(rf"service={protocol} client=\S+ TLS handshake failed from .*ALPN offers no "
                      rf"\"{protocol}\" \(offered: \"http/1\.1\"\)")


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_own_protocol_is_selected_and_no_alpn_is_served(mail_gate, protocol):
    gate = mail_gate(protocol)
    addr = gate.address(protocol)
    assert greeting(addr, ["http/1.1", protocol]) == (GREETINGS[protocol], protocol)
    assert greeting(addr, None) == (GREETINGS[protocol], None)
    host, port = addr
    r = support.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-alpn", protocol],
                    input="", timeout=20)
    assert f"ALPN protocol: {protocol}" in r.stdout, r.stdout + r.stderr


def test_raw_service_ignores_alpn(tlsgate, echo):
    gate = tlsgate([{"name": "raw", "backend": echo.address}])
    ctx = support.client_context()
    ctx.set_alpn_protocols(["http/1.1"])
    support.echo_round_trip(gate.address("raw"), ctx=ctx)
