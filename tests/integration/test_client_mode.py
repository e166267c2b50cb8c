"""Client mode (client = true): local plaintext programs -> tlsgate -> TLS to the server.
Real servers (TLS-enabled Dovecot, aiosmtpd with STARTTLS), chaining with a server-mode
tlsgate, scripted malicious servers, and raw implicit TLS."""

import imaplib
import poplib
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import client_support
import mail_support
import support
from mail_support import PASSWORD, USER, LineClient, addr_text, send_and_read_to_eof


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tls_dovecot(certs):
    """Dovecot with TLS: STARTTLS/STLS on imap/pop3, implicit TLS on imaps/pop3s."""
    d = tempfile.mkdtemp(prefix="tgdvt", dir="/tmp")
    server = mail_support.Dovecot(Path(d), tls=(certs.chain, certs.leaf_key))
    yield server
    server.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def tls_smtp(certs):
    """aiosmtpd with STARTTLS required (AUTH only after it), the test leaf chain."""
    server = mail_support.SmtpBackend(
        tls_context=client_support.server_context(certs.chain, certs.leaf_key),
        require_starttls=True)
    yield server
    server.stop()


@pytest.fixture
def scripted():
    """Factory: scripted(protocol, ctx, offer_starttls=True, inject=b"") -> ScriptedServer."""
    started = []

    def make(*a, **kw):
        s = client_support.ScriptedServer(*a, **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def wait_for(pred, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def client_service(certs, name, backend, protocol="raw", tls="implicit", **kw):
    svc = {"name": name, "client": True, "backend": backend, "protocol": protocol,
           "tls": tls, "ca_file": str(certs.root)}
    svc.update(kw)
    return svc


def curl(*args, timeout=30):
    r = subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True,
                       timeout=timeout)
    return r


# --------------------------------------------------------------------------- real servers


def curl_fetches_welcome(url):
    """curl, as alice, fetches the welcome message at `url` (through tlsgate)."""
    r = curl("-u", f"{USER}:{PASSWORD}", url)
    assert r.returncode == 0, r.stderr
    assert b"Subject: Welcome, alice" in r.stdout


def assert_only_tls_logins(dovecot, marker):
    """Dovecot logged logins (lines with `marker`), every one of them over TLS."""
    logins = [l for l in dovecot.log_text().splitlines() if marker in l]
    assert logins and all(", TLS" in l for l in logins), logins


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_imap_dovecot_curl_and_imaplib(mailgate, certs, tls_dovecot, mode):
    backend = tls_dovecot.imap if mode == "starttls" else tls_dovecot.imaps
    gate = mailgate([client_service(certs, "imap", addr_text(backend), "imap", mode)])
    addr = gate.address("imap")

    curl_fetches_welcome(f"imap://{addr_text(addr)}/INBOX;UID=1")

    m = imaplib.IMAP4(*addr, timeout=10)
    try:
        caps = m.capabilities
        assert "STARTTLS" not in caps and "LOGINDISABLED" not in caps, caps
        assert m.login(USER, PASSWORD)[0] == "OK"
        typ, data = m.select("INBOX")
        assert typ == "OK" and int(data[0]) >= 1
        typ, data = m.fetch("1", "(RFC822)")
        assert typ == "OK" and b"Subject: Welcome, alice" in data[0][1]
    finally:
        m.logout()
    gate.wait_for_log(r"service=imap client=\S+ TLS connection established to")
    assert "Login: user=<alice>, method=PLAIN" in tls_dovecot.log_text()
    assert_only_tls_logins(tls_dovecot, "Login: user=<alice>")


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_pop3_dovecot_curl_and_poplib(mailgate, certs, tls_dovecot, mode):
    backend = tls_dovecot.pop3 if mode == "starttls" else tls_dovecot.pop3s
    gate = mailgate([client_service(certs, "pop3", addr_text(backend), "pop3", mode)])
    addr = gate.address("pop3")

    curl_fetches_welcome(f"pop3://{addr_text(addr)}/1")

    p = poplib.POP3(*addr, timeout=10)
    try:
        if mode == "starttls":
            caps = p.capa()
            assert "STLS" not in caps, caps
        p.user(USER)
        assert p.pass_(PASSWORD).startswith(b"+OK")
        count, _ = p.stat()
        assert count >= 1
        resp, lines, _ = p.retr(1)
        assert b"Subject: Welcome, alice" in lines
    finally:
        p.quit()
    assert_only_tls_logins(tls_dovecot, "pop3-login: Info: Login: user=<alice>")


def test_smtp_aiosmtpd_starttls_curl_and_smtplib(mailgate, certs, tls_smtp, tmp_path):
    gate = mailgate([client_service(certs, "smtp", tls_smtp.address, "smtp", "starttls")])
    addr = gate.address("smtp")

    msg = tmp_path / "msg.txt"
    msg.write_text("From: alice@example.org\r\nTo: bob@example.org\r\nSubject: via curl\r\n"
                   "\r\nhello from curl\r\n")
    r = curl(f"smtp://{addr_text(addr)}", "-u", f"{USER}:{PASSWORD}",
             "--mail-from", "alice@example.org", "--mail-rcpt", "bob@example.org",
             "-T", str(msg))
    assert r.returncode == 0, r.stderr
    got = tls_smtp.wait_messages(1)
    assert b"hello from curl" in got[0]["content"] and got[0]["login"] == USER

    with smtplib.SMTP(*addr, timeout=10) as s:
        s.ehlo("client.test")
        assert not s.has_extn("starttls")
        assert s.has_extn("auth")
        s.login(USER, PASSWORD)
        s.sendmail("alice@example.org", ["bob@example.org"],
                   "Subject: via smtplib\r\n\r\nhello from smtplib\r\n")
    got = tls_smtp.wait_messages(2)
    assert b"hello from smtplib" in got[1]["content"] and got[1]["login"] == USER
    assert ("PLAIN", USER, True) in tls_smtp.auth_attempts or \
        ("LOGIN", USER, True) in tls_smtp.auth_attempts, tls_smtp.auth_attempts
    # Before TLS, aiosmtpd saw only tlsgate's own EHLO and STARTTLS per connection.
    verbs = tls_smtp.verbs()
    assert verbs.count("STARTTLS") == 2, verbs


# --------------------------------------------------------------------------- chaining


def test_chain_client_mode_to_server_mode_to_legacy_dovecot(tlsgate, mailgate, certs, dovecot):
    """plaintext client -> tlsgate client (starttls imap) -> tlsgate server (imap starttls)
    -> plaintext legacy Dovecot."""
    server = mailgate([{"name": "imap-server", "protocol": "imap", "tls": "starttls",
                        "backend": addr_text(dovecot.imap)}])
    client = mailgate([client_service(certs, "imap-client",
                                      addr_text(server.address("imap-server")),
                                      "imap", "starttls")])
    m = imaplib.IMAP4(*client.address("imap-client"), timeout=10)
    try:
        assert "STARTTLS" not in m.capabilities
        assert m.login(USER, PASSWORD)[0] == "OK"
        assert m.select("INBOX")[0] == "OK"
        typ, data = m.fetch("1", "(BODY[])")
        assert typ == "OK" and b"Subject: Welcome, alice" in data[0][1]
    finally:
        m.logout()
    server.wait_for_log(r"service=imap-server client=\S+ TLS connection established from")
    client.wait_for_log(r"service=imap-client client=\S+ TLS connection established to")


# --------------------------------------------------------------------------- malicious server


def leaf_ctx(certs):
    return client_support.server_context(certs.chain, certs.leaf_key)


def test_imap_injection_after_starttls_goahead_discarded(mailgate, certs, scripted):
    srv = scripted("imap", leaf_ctx(certs), inject=b"* OK injected\r\n")
    gate = mailgate([client_service(certs, "imap", srv.address, "imap", "starttls")])
    c = LineClient(gate.address("imap"))
    try:
        greeting = c.line()
        assert greeting.startswith("* OK") and "STARTTLS" not in greeting, greeting
        caps = c.imap("a1", "CAPABILITY")
        assert "STARTTLS" not in "".join(caps)
        assert c.imap("a2", f"LOGIN {USER} {PASSWORD}")[-1].startswith("a2 OK")
        seen = greeting + "".join(caps) + "".join(c.imap("a3", "LOGOUT"))
    finally:
        c.close()
    assert "injected" not in seen, seen
    gate.wait_for_log(r"service=imap client=\S+ discarded 15 bytes the server sent after")
    assert srv.handshakes == 1 and not srv.after_goahead
    assert b"a2 LOGIN" in bytes(srv.tls) and b"LOGIN" not in bytes(srv.plain)


def test_smtp_injection_after_starttls_goahead_discarded(mailgate, certs, scripted):
    srv = scripted("smtp", leaf_ctx(certs), inject=b"250 injected\r\n")
    gate = mailgate([client_service(certs, "smtp", srv.address, "smtp", "starttls")])
    c = LineClient(gate.address("smtp"))
    try:
        seen = c.smtp_reply()
        assert seen == ["220 localhost ESMTP tlsgate ready\r\n"], seen
        ehlo = c.smtp("EHLO client.test")
        assert ehlo[-1].startswith("250 ") and "STARTTLS" not in "".join(ehlo)
        seen += ehlo + c.smtp("NOOP") + c.smtp("QUIT")
    finally:
        c.close()
    assert "injected" not in "".join(seen), seen
    gate.wait_for_log(r"service=smtp client=\S+ discarded 14 bytes the server sent after")
    assert srv.handshakes == 1 and not srv.after_goahead
    assert b"EHLO client.test" in bytes(srv.tls)


def test_imap_injection_in_later_segment_never_reaches_client(mailgate, certs, scripted):
    """Bytes that arrive after the go-ahead in a later read, before the server's handshake
    answer, go to the TLS engine: never to the local client."""
    srv = scripted("imap", leaf_ctx(certs), inject_later=b"* OK injected\r\n")
    gate = mailgate([client_service(certs, "imap", srv.address, "imap", "starttls")])
    out = send_and_read_to_eof(gate.address("imap"), "a1 NOOP\r\n")
    assert "injected" not in out, out
    assert out.startswith("* BYE [UNAVAILABLE]"), out
    gate.wait_for_log(r"service=imap client=\S+ TLS handshake failed to")
    assert b"NOOP" not in srv.everything()


def test_imap_commands_sent_before_greeting_go_only_inside_tls(mailgate, certs, scripted):
    srv = scripted("imap", leaf_ctx(certs))
    gate = mailgate([client_service(certs, "imap", srv.address, "imap", "starttls")])
    c = LineClient(gate.address("imap"))
    c.send(f"a1 LOGIN {USER} {PASSWORD}\r\n")  # before tlsgate has even read the greeting
    try:
        assert c.line().startswith("* OK"), "greeting"
        assert c.until(lambda l: l.startswith("a1 "))[-1].startswith("a1 OK")
        c.imap("a2", "LOGOUT")
    finally:
        c.close()
    assert b"LOGIN" not in bytes(srv.plain) and not srv.after_goahead
    assert bytes(srv.tls).startswith(b"a1 LOGIN"), bytes(srv.tls)


def test_pop3_injection_after_stls_goahead_discarded(mailgate, certs, scripted):
    srv = scripted("pop3", leaf_ctx(certs), inject=b"+OK injected\r\n")
    gate = mailgate([client_service(certs, "pop3", srv.address, "pop3", "starttls")])
    c = LineClient(gate.address("pop3"))
    try:
        seen = [c.line()]
        assert seen == ["+OK tlsgate ready\r\n"], seen
        capa = c.pop3("CAPA", multi=True)
        assert "STLS" not in "".join(capa), capa
        seen += capa + c.pop3(f"USER {USER}") + c.pop3(f"PASS {PASSWORD}") + c.pop3("STAT")
        assert seen[-1].startswith("+OK 1 "), seen
        seen += c.pop3("QUIT")
    finally:
        c.close()
    assert "injected" not in "".join(seen), seen
    gate.wait_for_log(r"service=pop3 client=\S+ discarded 14 bytes the server sent after")
    assert srv.handshakes == 1 and not srv.after_goahead
    assert b"USER alice" in bytes(srv.tls) and b"USER" not in bytes(srv.plain)


FORGED = {
    "imap": b"* OK [ALERT] forged: your password expired, see http://forged.example/\r\n",
    "pop3": b"+OK forged POP3 <1896.697170952@forged.example>\r\n",
    "smtp": b"220-forged.example ESMTP\r\n220 forged banner\r\n",
}


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_plaintext_greeting_never_reaches_the_local_program(mailgate, certs, scripted,
                                                            protocol):
    """The greeting before STARTTLS is unauthenticated (anyone on the path can write it):
    after TLS the local program gets tlsgate's neutral greeting, then talks inside TLS."""
    srv = scripted(protocol, leaf_ctx(certs), greeting=FORGED[protocol])
    gate = mailgate([client_service(certs, protocol, srv.address, protocol, "starttls")])
    c = LineClient(gate.address(protocol))
    try:
        if protocol == "imap":
            seen = [c.line()]
            assert seen == ["* OK tlsgate ready\r\n"], seen
            seen += c.imap("a1", "CAPABILITY") + c.imap("a2", "LOGOUT")
        elif protocol == "pop3":
            seen = [c.line()]
            assert seen == ["+OK tlsgate ready\r\n"], seen  # no APOP timestamp
            seen += c.pop3("CAPA", multi=True) + c.pop3("QUIT")
        else:
            seen = c.smtp_reply()
            assert seen == ["220 localhost ESMTP tlsgate ready\r\n"], seen
            seen += c.smtp("EHLO client.test") + c.smtp("QUIT")
    finally:
        c.close()
    assert "forged" not in "".join(seen), seen
    assert srv.handshakes == 1
    # The local program's commands went inside TLS only.
    assert bytes(srv.tls) and not srv.after_goahead


def test_pop3_no_stls_offered_refused(mailgate, certs, scripted):
    srv = scripted("pop3", leaf_ctx(certs), offer_starttls=False)
    gate = mailgate([client_service(certs, "pop3", srv.address, "pop3", "starttls")])
    out = send_and_read_to_eof(gate.address("pop3"), f"USER {USER}\r\nPASS {PASSWORD}\r\n")
    assert out.startswith("-ERR [SYS/TEMP]"), out
    gate.wait_for_log(r"service=pop3 .*server offers no STARTTLS")
    assert b"USER" not in bytes(srv.plain) and srv.handshakes == 0


def test_imap_no_starttls_offered_refused(mailgate, certs, scripted):
    srv = scripted("imap", leaf_ctx(certs), offer_starttls=False)
    gate = mailgate([client_service(certs, "imap", srv.address, "imap", "starttls")])
    out = send_and_read_to_eof(gate.address("imap"), f"a1 LOGIN {USER} {PASSWORD}\r\n")
    assert out.startswith("* BYE [UNAVAILABLE]"), out
    assert "scripted" not in out
    gate.wait_for_log(r"service=imap .*server offers no STARTTLS")
    assert b"LOGIN" not in bytes(srv.plain) and srv.handshakes == 0


def test_smtp_no_starttls_encrypt_421(mailgate, certs, scripted):
    srv = scripted("smtp", leaf_ctx(certs), offer_starttls=False)
    gate = mailgate([client_service(certs, "smtp", srv.address, "smtp", "starttls",
                                    starttls_policy="encrypt")])
    out = send_and_read_to_eof(gate.address("smtp"), "EHLO client.test\r\nMAIL FROM:<alice@example.org>\r\n")
    assert out.startswith("421"), out
    gate.wait_for_log(r"service=smtp .*server offers no STARTTLS")
    assert b"client.test" not in bytes(srv.plain) and b"MAIL" not in bytes(srv.plain)


def test_smtp_no_starttls_may_continues_in_plaintext(mailgate, certs, scripted):
    srv = scripted("smtp", leaf_ctx(certs), offer_starttls=False)
    gate = mailgate([client_service(certs, "smtp", srv.address, "smtp", "starttls",
                                    starttls_policy="may")])
    c = LineClient(gate.address("smtp"))
    try:
        assert c.smtp_reply()[0].startswith("220 scripted")
        assert c.smtp("EHLO client.test")[-1].startswith("250 ")
        assert c.smtp("MAIL FROM:<alice@example.org>")[0].startswith("250")
        assert c.smtp("RCPT TO:<bob@example.org>")[0].startswith("250")
        assert c.smtp("DATA")[0].startswith("354")
        c.send("Subject: plain\r\n\r\nplaintext fallback\r\n")
        assert c.smtp(".")[0].startswith("250")
        c.smtp("QUIT")
    finally:
        c.close()
    gate.wait_for_log(r"service=smtp .*server offers no STARTTLS; continuing in plaintext")
    assert srv.messages and b"plaintext fallback" in srv.messages[0]
    assert srv.handshakes == 0


@pytest.mark.parametrize("protocol", ["imap", "smtp"])
def test_wrong_name_certificate_refused(mailgate, certs, scripted, protocol):
    chain, key = client_support.wrong_name(certs)
    srv = scripted(protocol, client_support.server_context(chain, key))
    # smtp: the name comes from check_host; imap: from the backend's address (an IP).
    extra = {"check_host": "localhost"} if protocol == "smtp" else {}
    gate = mailgate([client_service(certs, protocol, srv.address, protocol, "starttls",
                                    **extra)])
    secret_cmd = (f"a1 LOGIN {USER} {PASSWORD}\r\n" if protocol == "imap"
                  else "EHLO client.test\r\nAUTH PLAIN AGFsaWNlAGFsaWNlcGFzcw==\r\n")
    out = send_and_read_to_eof(gate.address(protocol), secret_cmd)
    if protocol == "imap":
        assert out.startswith("* BYE [UNAVAILABLE]"), out
        gate.wait_for_log(r"service=imap .*certificate verify failed: IP address mismatch")
    else:
        assert out.startswith("421"), out
        gate.wait_for_log(r"service=smtp .*certificate verify failed: hostname mismatch")
    srv.backend.wait_accepted(1)
    # Nothing the local client sent reached the server, in plaintext or otherwise.
    everything = srv.everything()
    for word in (b"LOGIN", b"AUTH", b"client.test", PASSWORD.encode()):
        assert word not in everything, everything
    assert srv.handshakes == 0
    # tlsgate did start a TLS handshake, and aborted it with an alert.
    wait_for(lambda: srv.handshake_errors, "the server saw no failed handshake")
    assert "alert" in srv.handshake_errors[0].lower(), srv.handshake_errors


def test_self_signed_refused(mailgate, certs, scripted):
    cert, key = client_support.self_signed(certs)
    srv = scripted("imap", client_support.server_context(cert, key))
    gate = mailgate([client_service(certs, "imap", srv.address, "imap", "starttls")])
    out = send_and_read_to_eof(gate.address("imap"), f"a1 LOGIN {USER} {PASSWORD}\r\n")
    assert out.startswith("* BYE [UNAVAILABLE]"), out
    gate.wait_for_log(r"service=imap .*certificate verify failed: self[- ]signed certificate")
    assert b"LOGIN" not in srv.everything()
    wait_for(lambda: srv.handshake_errors, "the server saw no failed handshake")
    assert srv.handshakes == 0 and "alert" in srv.handshake_errors[0].lower()


def test_missing_intermediate_refused(mailgate, certs, scripted):
    """The server sends its leaf without the intermediate: the chain cannot be built."""
    srv = scripted("smtp", client_support.server_context(certs.leaf, certs.leaf_key))
    gate = mailgate([client_service(certs, "smtp", srv.address, "smtp", "starttls")])
    out = send_and_read_to_eof(gate.address("smtp"), "EHLO client.test\r\n")
    assert out.startswith("421"), out
    gate.wait_for_log(r"service=smtp .*certificate verify failed: "
                      r"unable to get local issuer certificate")
    assert b"client.test" not in srv.everything()


def test_expired_certificate_refused(mailgate, certs, scripted):
    chain, key = client_support.expired(certs)
    srv = scripted("imap", client_support.server_context(chain, key))
    gate = mailgate([client_service(certs, "imap", srv.address, "imap", "starttls")])
    out = send_and_read_to_eof(gate.address("imap"), f"a1 LOGIN {USER} {PASSWORD}\r\n")
    assert out.startswith("* BYE [UNAVAILABLE]"), out
    gate.wait_for_log(r"service=imap .*certificate verify failed: certificate has expired")
    assert b"LOGIN" not in srv.everything()


def test_self_signed_verify_none_works_and_warns(mailgate, certs, scripted):
    cert, key = client_support.self_signed(certs)
    srv = scripted("imap", client_support.server_context(cert, key))
    gate = mailgate([client_service(certs, "imap", srv.address, "imap", "starttls",
                                    verify="none")])
    logs = gate.logs()
    warn = [i for i, l in enumerate(logs)
            if "warning" in l and 'verify = "none": the server\'s certificate is not checked' in l]
    ready = [i for i, l in enumerate(logs) if "tlsgate ready" in l]
    assert warn and ready and warn[0] < ready[0], "\n".join(logs)
    c = LineClient(gate.address("imap"))
    try:
        assert c.line().startswith("* OK")
        assert c.imap("a1", f"LOGIN {USER} {PASSWORD}")[-1].startswith("a1 OK")
        c.imap("a2", "LOGOUT")
    finally:
        c.close()
    assert srv.handshakes == 1 and b"a1 LOGIN" in bytes(srv.tls)


# --------------------------------------------------------------------------- raw implicit


@pytest.fixture
def tls_echo(certs):
    s = client_support.TlsEchoServer(leaf_ctx(certs))
    yield s
    s.stop()


def test_raw_implicit_echo_round_trip(tlsgate, certs, tls_echo):
    gate = tlsgate([client_service(certs, "raw", tls_echo.address)])
    payload = b"plaintext in, TLS out\n" * 100
    s = support.tcp_connect(gate.address("raw"))
    try:
        s.sendall(payload)
        assert support.recv_exact(s, len(payload)) == payload
        s.shutdown(socket.SHUT_WR)
        assert support.read_to_eof(s) == b""
    finally:
        s.close()
    assert bytes(tls_echo.received) == payload
    assert not tls_echo.handshake_errors


def test_raw_implicit_wrong_check_host_refused(tlsgate, certs, tls_echo):
    gate = tlsgate([client_service(certs, "raw", tls_echo.address,
                                   check_host="wrong.example")])
    s = support.tcp_connect(gate.address("raw"))
    try:
        s.sendall(b"secret plaintext\n")
        try:
            out = support.read_to_eof(s)
        except ConnectionResetError:
            out = b""  # closed with our unread bytes in its buffer: a reset is a close too
    finally:
        s.close()
    assert out == b"", out
    gate.wait_for_log(r"service=raw .*certificate verify failed: hostname mismatch")
    wait_for(lambda: tls_echo.handshake_errors, "the server saw no failed handshake")
    assert "alert" in tls_echo.handshake_errors[0].lower(), tls_echo.handshake_errors
    assert b"secret" not in bytes(tls_echo.received)


def _refused_by_name_check(gate, echo, log_pattern):
    s = support.tcp_connect(gate.address("raw"))
    try:
        s.sendall(b"secret plaintext\n")
        try:
            out = support.read_to_eof(s)
        except ConnectionResetError:
            out = b""  # closed with our unread bytes in its buffer: a reset is a close too
    finally:
        s.close()
    assert out == b"", out
    gate.wait_for_log(log_pattern)
    assert b"secret" not in bytes(echo.received)


def test_raw_implicit_check_ip_not_replaced_by_backend_ip(tlsgate, certs, tls_echo):
    """The backend is 127.0.0.1 and the certificate carries 127.0.0.1, but not the configured
    check_ip: the default host check must not replace check_ip (issue 12)."""
    gate = tlsgate([client_service(certs, "raw", tls_echo.address, check_ip="192.0.2.1")])
    _refused_by_name_check(gate, tls_echo,
                           r"service=raw .*certificate verify failed: IP address mismatch")


@pytest.mark.parametrize("check", [{"check_ip": "192.0.2.1"},
                                   {"check_host": "wrong.example"}],
                         ids=["check_ip", "check_host"])
def test_raw_implicit_verify_none_still_enforces_configured_checks(tlsgate, certs, tls_echo,
                                                                   check):
    gate = tlsgate([client_service(certs, "raw", tls_echo.address, verify="none", **check)])
    _refused_by_name_check(gate, tls_echo,
                           r"service=raw .*certificate verify failed: "
                           r"(IP address|hostname) mismatch")


def test_raw_implicit_matching_check_ip_with_verify_none(tlsgate, certs, tls_echo):
    gate = tlsgate([client_service(certs, "raw", tls_echo.address, verify="none",
                                   check_ip="127.0.0.1")])
    s = support.tcp_connect(gate.address("raw"))
    try:
        s.sendall(b"checked\n")
        assert support.recv_exact(s, 8) == b"checked\n"
    finally:
        s.close()


# --------------------------------------------------------------------------- slow servers

GREETINGS = {"imap": b"* OK ready\r\n", "pop3": b"+OK ready\r\n", "smtp": b"220 ready\r\n"}
FAILURES = {"imap": "* BYE [UNAVAILABLE]", "pop3": "-ERR [SYS/TEMP]", "smtp": "421 4.7.0"}


def _until_closed(conn):
    """Reads (and drops) whatever tlsgate sends until it closes the connection."""
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


def _slow_server(protocol, behaviour):
    """A server that never finishes the STARTTLS prelude: `mute` (says nothing), `stall`
    (greets, then never answers), `trickle` (one byte every 200 ms, never a whole line)."""
    def handle(conn, backend):
        if behaviour == "stall":
            conn.sendall(GREETINGS[protocol])
        if behaviour == "trickle":
            conn.settimeout(0.2)
            prefix = GREETINGS[protocol][:4]
            i = 0
            try:
                while not backend.stopped:
                    conn.sendall(prefix[i:i + 1] if i < len(prefix) else b"x")
                    i += 1
                    try:
                        if conn.recv(65536) == b"":
                            return  # tlsgate closed
                    except socket.timeout:
                        pass
            except OSError:
                return
        _until_closed(conn)
    return handle


@pytest.mark.parametrize("behaviour", ["mute", "stall", "trickle"])
@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_starttls_prelude_bounded_by_handshake_timeout(mailgate, certs, backend, protocol,
                                                       behaviour):
    """The whole prelude (backend connect to TLS handshake start) plus the handshake is bounded
    by handshake_timeout, however the server stalls; idle_timeout (30 min) never comes into
    it. The local program gets the protocol's failure reply, then the close."""
    srv = backend(_slow_server(protocol, behaviour))
    gate = mailgate([client_service(certs, protocol, srv.address, protocol, "starttls",
                                    handshake_timeout="1s")])
    c = LineClient(gate.address(protocol))
    try:
        # Liveness only: 1 s is the limit; 20 s of margin before calling it hung.
        out = c.read_to_eof(timeout=20)
    finally:
        c.close()
    # One line, tlsgate's own: nothing the server said reaches the local program.
    assert out.startswith(FAILURES[protocol]) and out.count("\n") == 1, out
    assert "ready" not in out, out
    gate.wait_for_log(rf"service={protocol} client=\S+ STARTTLS prelude with .* timed out")
    gate.wait_for_log(rf"service={protocol} .*reason=STARTTLS prelude timeout")
