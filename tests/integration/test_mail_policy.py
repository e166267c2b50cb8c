"""Mail protocol policy: no credential before TLS (checked on the backend's side through a
recording tap or the SMTP backend's own record), capability rewriting, STARTTLS injection,
starttls_policy, SMTP state across STARTTLS, backend failures, timeouts, error limits,
overlong lines, early clients and SMTP smuggling."""

import re
import socket
import ssl
import time

import pytest

from mail_support import PASSWORD, SECRETS, USER, LineClient, addr_text, imap_caps
from support import free_port
from support import client_context

PLAIN_IR = "AGFsaWNlAGFsaWNlcGFzcw=="  # base64("\0alice\0alicepass")
AUTH_VERBS = {b"LOGIN", b"AUTHENTICATE", b"USER", b"PASS", b"APOP", b"AUTH"}


def service(name, protocol, tls, backend, **kw):
    d = {"name": name, "protocol": protocol, "tls": tls,
         "backend": backend if isinstance(backend, str) else addr_text(backend)}
    d.update(kw)
    return d


def ctx():
    return client_context()


def verbs_sent(data, imap=False):
    """First word (IMAP: second word, after the tag) of every line in `data`, upper-cased."""
    out = []
    for line in data.split(b"\n"):
        words = line.strip().split()
        if imap:
            words = words[1:]
        if words:
            out.append(words[0].upper())
    return out


def assert_no_credentials(data, what):
    for secret in SECRETS:
        assert secret.encode() not in data, f"{secret!r} reached {what}:\n{data!r}"


def assert_clean_eof(c, timeout=10):
    """The rest of the stream up to EOF (a FIN, or close_notify under TLS)."""
    try:
        return c.read_to_eof(timeout)
    except ConnectionResetError:
        raise AssertionError("connection reset instead of a clean close") from None
    except ssl.SSLEOFError:
        raise AssertionError("TLS stream truncated (no close_notify)") from None
    except socket.timeout:
        raise AssertionError(f"connection still open after {timeout} s") from None


# --------------------------------------------------------------------------- auth before TLS


def test_imap_login_and_authenticate_before_tls_refused_never_reach_backend(
        mailgate, dovecot, tap):
    t = tap(dovecot.imap)
    gate = mailgate([service("imap", "imap", "starttls", t.address, max_errors=50)])
    c = LineClient(gate.address("imap"))
    assert c.line().startswith("* OK")
    replies = {
        "a": c.imap("a", f"LOGIN {USER} {PASSWORD}"),
        "b": c.imap("b", "AUTHENTICATE PLAIN"),            # no SASL-IR: waits for "+"
        "c": c.imap("c", f"AUTHENTICATE PLAIN {PLAIN_IR}"),  # SASL-IR
        "d": c.imap("d", f'LOGIN "{USER}" "{PASSWORD}"'),
        "f": c.imap("f", "LOGIN alice {9}"),                # synchronizing literal: no "+"
    }
    # LITERAL+ (advertised by Dovecot): the password follows without waiting.
    c.send(f"e LOGIN {USER} {{{len(PASSWORD)}+}}\r\n{PASSWORD}\r\n")
    replies["e"] = c.until(lambda l: l.startswith("e "))
    for tag, lines in replies.items():
        assert lines[-1].startswith(f"{tag} NO [PRIVACYREQUIRED]"), (tag, lines)
        assert not any(l.startswith("+") for l in lines), f"continuation offered: {lines}"
        assert len(lines) == 1, (tag, lines)
    # A command that does reach the backend: once its reply is back, the tap has everything
    # tlsgate sent before it.
    assert c.imap("z", "NOOP")[-1].startswith("z OK")
    c.close()
    sent = t.sent()
    assert b"z NOOP" in sent, sent
    assert_no_credentials(sent, "the IMAP backend")
    assert not AUTH_VERBS & set(verbs_sent(sent, imap=True)), sent
    gate.wait_for_log(r"refused LOGIN")
    gate.wait_for_log(r"refused AUTHENTICATE")


def test_pop3_user_pass_apop_auth_before_tls_refused_never_reach_backend(
        mailgate, dovecot, tap):
    t = tap(dovecot.pop3)
    gate = mailgate([service("pop3", "pop3", "starttls", t.address, max_errors=50)])
    c = LineClient(gate.address("pop3"))
    assert c.line().startswith("+OK")
    for cmd in (f"USER {USER}", f"PASS {PASSWORD}",
                f"APOP {USER} c4c9334bac560ecc979e58001b3e22fb",
                f"AUTH PLAIN {PLAIN_IR}", "AUTH PLAIN", "AUTH LOGIN", "AUTH"):
        reply = c.pop3(cmd)
        assert reply[0].startswith("-ERR [AUTH]"), (cmd, reply)
    reply = c.pop3("CAPA", multi=True)          # reaches the backend
    assert reply[0].startswith("+OK"), reply
    c.close()
    sent = t.sent()
    assert b"CAPA" in sent, sent
    assert_no_credentials(sent, "the POP3 backend")
    assert not AUTH_VERBS & set(verbs_sent(sent)), sent
    for verb in ("USER", "PASS", "APOP", "AUTH"):
        gate.wait_for_log(rf"refused {verb}\b")


@pytest.mark.parametrize("policy", ["may", "encrypt"])
def test_smtp_auth_before_tls_refused_never_reaches_backend(mailgate, smtp_backend, policy):
    gate = mailgate([service("smtp", "smtp", "starttls", smtp_backend.address,
                             starttls_policy=policy, max_errors=50)])
    c = LineClient(gate.address("smtp"))
    assert c.smtp_reply()[-1].startswith("220")
    assert c.smtp("EHLO client.test")[-1].startswith("250 ")
    for cmd in (f"AUTH PLAIN {PLAIN_IR}", "AUTH PLAIN", "AUTH LOGIN", "AUTH LOGIN YWxpY2U="):
        reply = c.smtp(cmd)
        assert reply == [reply[-1]] and reply[-1].startswith("538 5.7.11"), (cmd, reply)
    assert c.smtp("NOOP")[-1].startswith("250")  # reaches the backend
    c.close()
    got = smtp_backend.received_bytes()
    assert b"NOOP" in got, got
    assert_no_credentials(got, "the SMTP backend")
    assert "AUTH" not in smtp_backend.verbs(), smtp_backend.lines
    assert smtp_backend.auth_attempts == []
    gate.wait_for_log(r"refused AUTH")


# --------------------------------------------------------------------------- capabilities


def imap_direct(dovecot):
    c = LineClient(dovecot.imap)
    greeting = c.line()
    caps = c.imap("a", "CAPABILITY")
    c.imap("b", "LOGOUT")
    c.close()
    return imap_caps(greeting), imap_caps(caps[0])


def test_imap_capabilities_before_and_after_starttls(mailgate, dovecot):
    backend_greeting, backend_caps = imap_direct(dovecot)
    assert any(x.startswith("AUTH=") for x in backend_caps), backend_caps
    assert "STARTTLS" not in backend_caps and "LOGINDISABLED" not in backend_caps
    before = sorted([x for x in backend_caps if not x.startswith("AUTH=")]
                    + ["STARTTLS", "LOGINDISABLED"])
    gate = mailgate([service("imap", "imap", "starttls", dovecot.imap)])
    c = LineClient(gate.address("imap"))
    greeting = c.line()
    assert greeting.startswith("* OK [CAPABILITY "), greeting
    assert sorted(imap_caps(greeting)) == before, greeting
    r = c.imap("a", "CAPABILITY")
    assert len(r) == 2 and r[1].startswith("a OK"), r
    assert sorted(imap_caps(r[0])) == before, r[0]
    assert c.imap("b", "STARTTLS") == ["b OK Begin TLS negotiation now.\r\n"]
    c.starttls(ctx())
    r = c.imap("c", "CAPABILITY")
    assert sorted(imap_caps(r[0])) == sorted(backend_caps), r[0]
    c.close()


def test_imap_capabilities_implicit_tls(mailgate, dovecot):
    backend_greeting, backend_caps = imap_direct(dovecot)
    gate = mailgate([service("imaps", "imap", "implicit", dovecot.imap)])
    c = LineClient(gate.address("imaps"))
    c.starttls(ctx())
    greeting = c.line()
    assert sorted(imap_caps(greeting)) == sorted(backend_greeting), greeting
    r = c.imap("a", "CAPABILITY")
    assert sorted(imap_caps(r[0])) == sorted(backend_caps), r[0]
    # STARTTLS is not offered, and refused
    r = c.imap("b", "STARTTLS")
    assert re.match(r"b (BAD|NO) ", r[-1]), r
    assert c.imap("c", "NOOP")[-1].startswith("c OK")
    c.close()


def pop3_capa(c):
    r = c.pop3("CAPA", multi=True)
    assert r[0].startswith("+OK") and r[-1] == ".\r\n", r
    return [l.rstrip("\r\n") for l in r[1:-1]]


def test_pop3_capa_before_and_after_stls(mailgate, dovecot):
    d = LineClient(dovecot.pop3)
    d.line()
    backend = pop3_capa(d)
    d.close()
    assert "USER" in backend and any(l.startswith("SASL") for l in backend), backend
    before = sorted([l for l in backend if l != "USER" and not l.startswith("SASL")] + ["STLS"])
    gate = mailgate([service("pop3", "pop3", "starttls", dovecot.pop3)])
    c = LineClient(gate.address("pop3"))
    assert c.line().startswith("+OK")
    assert sorted(pop3_capa(c)) == before
    assert c.pop3("STLS") == ["+OK Begin TLS negotiation\r\n"]
    c.starttls(ctx())
    assert sorted(pop3_capa(c)) == sorted(backend)
    c.close()


def test_pop3_capa_implicit_tls_and_stls_refused(mailgate, dovecot):
    d = LineClient(dovecot.pop3)
    d.line()
    backend = pop3_capa(d)
    d.close()
    gate = mailgate([service("pop3s", "pop3", "implicit", dovecot.pop3)])
    c = LineClient(gate.address("pop3s"))
    c.starttls(ctx())
    assert c.line().startswith("+OK")
    assert sorted(pop3_capa(c)) == sorted(backend)
    assert c.pop3("STLS")[0].startswith("-ERR"), "second TLS layer accepted"
    assert c.pop3("NOOP")[0].startswith(("+OK", "-ERR"))  # still talking
    c.close()


def ehlo_keywords(reply):
    """EHLO reply lines after the first, text only."""
    assert reply[-1].startswith("250 "), reply
    return [l[4:].rstrip("\r\n") for l in reply[1:]]


def test_smtp_ehlo_before_and_after_starttls(mailgate, smtp_backend):
    d = LineClient(smtp_backend.addr)
    d.smtp_reply()
    backend = ehlo_keywords(d.smtp("EHLO client.test"))
    d.close()
    assert any(k.startswith("AUTH") for k in backend), backend
    before = sorted([k for k in backend if not k.startswith("AUTH")] + ["STARTTLS"])
    gate = mailgate([service("smtp", "smtp", "starttls", smtp_backend.address)])
    c = LineClient(gate.address("smtp"))
    c.smtp_reply()
    r = c.smtp("EHLO client.test")
    assert r[0].startswith("250-backend.test"), r
    assert sorted(ehlo_keywords(r)) == before, r
    assert c.smtp("STARTTLS")[-1].startswith("220"), "STARTTLS refused"
    c.starttls(ctx())
    assert sorted(ehlo_keywords(c.smtp("EHLO client.test"))) == sorted(backend)
    c.close()


def test_smtp_ehlo_implicit_tls_and_starttls_refused(mailgate, smtp_backend):
    d = LineClient(smtp_backend.addr)
    d.smtp_reply()
    backend = ehlo_keywords(d.smtp("EHLO client.test"))
    d.close()
    gate = mailgate([service("smtps", "smtp", "implicit", smtp_backend.address)])
    c = LineClient(gate.address("smtps"))
    c.starttls(ctx())
    c.smtp_reply()
    assert sorted(ehlo_keywords(c.smtp("EHLO client.test"))) == sorted(backend)
    r = c.smtp("STARTTLS")
    assert re.match(r"5\d\d ", r[-1]), r
    assert c.smtp("NOOP")[-1].startswith("250")
    c.close()


# --------------------------------------------------------------------------- STARTTLS injection


INJECTION = {
    # protocol: (setup commands, STARTTLS line, injected, expected go-ahead prefix)
    "imap": ([], b"a STARTTLS\r\n", f"b LOGIN {USER} {PASSWORD}\r\n".encode(), "a OK"),
    "pop3": ([], b"STLS\r\n", f"USER {USER}\r\nPASS {PASSWORD}\r\n".encode(), "+OK"),
    "smtp": (["EHLO client.test"], b"STARTTLS\r\n",
             f"AUTH PLAIN {PLAIN_IR}\r\nMAIL FROM:<evil@example.net>\r\n".encode(), "220"),
}


@pytest.mark.parametrize("proto", ["imap", "pop3", "smtp"])
def test_bytes_pipelined_after_starttls_are_discarded(mailgate, dovecot, smtp_backend, tap,
                                                      proto):
    target = {"imap": dovecot.imap, "pop3": dovecot.pop3, "smtp": smtp_backend.addr}[proto]
    t = tap(target)
    gate = mailgate([service(proto, proto, "starttls", t.address)])
    setup, starttls, injected, go = INJECTION[proto]
    c = LineClient(gate.address(proto))
    greeting = c.smtp_reply() if proto == "smtp" else [c.line()]
    assert greeting[-1].startswith(("* OK", "+OK", "220")), greeting
    for cmd in setup:
        c.smtp(cmd)
    c.send(starttls + injected)        # one write: both arrive together
    reply = c.line()
    assert reply.startswith(go), reply
    time.sleep(0.2)  # anything tlsgate might (wrongly) answer to the injected bytes arrives
    c.sock.settimeout(0.3)
    try:
        extra = c.sock.recv(4096)
    except socket.timeout:
        extra = b""
    c.sock.settimeout(10)
    assert not extra.startswith((b"b ", b"+OK", b"-ERR", b"5", b"2", b"3")), \
        f"plaintext reply to injected bytes: {extra!r}"
    c.buf = extra
    c.starttls(ctx())
    # The first reply after TLS is the reply to the first command after TLS.
    if proto == "imap":
        r = c.imap("c", "CAPABILITY")
        assert not any(l.startswith("b ") for l in r), r
        assert r[-1].startswith("c OK"), r
    elif proto == "pop3":
        r = c.pop3("CAPA", multi=True)
        assert r[0].startswith("+OK") and r[-1] == ".\r\n", r
        assert "USER\r\n" in r, r   # after TLS: USER offered again
    else:
        r = c.smtp("EHLO client.test")
        assert r[-1].startswith("250 "), r
        r = c.smtp("RCPT TO:<bob@example.org>")   # the injected MAIL FROM did not happen
        assert r[-1].startswith("503"), r
    c.close()
    sent = t.sent()
    assert_no_credentials(sent, f"the {proto} backend")
    words = set(verbs_sent(sent, imap=(proto == "imap")))
    assert not (AUTH_VERBS | {b"MAIL"}) & words, sent
    gate.wait_for_log(rf"discarded {len(injected)} bytes")


# --------------------------------------------------------------------------- starttls_policy


def test_imap_encrypt_policy_refuses_select_before_tls(mailgate, dovecot, tap):
    t = tap(dovecot.imap)
    gate = mailgate([service("imap", "imap", "starttls", t.address)])  # encrypt: default
    c = LineClient(gate.address("imap"))
    c.line()
    r = c.imap("a", "SELECT INBOX")
    assert r == [r[-1]] and r[-1].startswith("a NO "), r
    assert "TLS" in r[-1] or "PRIVACYREQUIRED" in r[-1], r
    r = c.imap("b", "EXAMINE INBOX")
    assert r[-1].startswith("b NO "), r
    assert c.imap("z", "NOOP")[-1].startswith("z OK")
    c.close()
    words = set(verbs_sent(t.sent(), imap=True))
    assert not {b"SELECT", b"EXAMINE"} & words, t.sent()


def test_pop3_encrypt_policy_refuses_stat_before_tls(mailgate, dovecot, tap):
    t = tap(dovecot.pop3)
    gate = mailgate([service("pop3", "pop3", "starttls", t.address)])
    c = LineClient(gate.address("pop3"))
    c.line()
    for cmd in ("STAT", "LIST", "RETR 1"):
        r = c.pop3(cmd)
        assert r[0].startswith("-ERR"), (cmd, r)
    assert c.pop3("CAPA", multi=True)[0].startswith("+OK")
    c.close()
    assert not {b"STAT", b"LIST", b"RETR"} & set(verbs_sent(t.sent())), t.sent()


def test_smtp_encrypt_policy_refuses_mail_before_tls(mailgate, smtp_backend):
    gate = mailgate([service("smtp", "smtp", "starttls", smtp_backend.address,
                             starttls_policy="encrypt")])
    c = LineClient(gate.address("smtp"))
    c.smtp_reply()
    assert c.smtp("EHLO client.test")[-1].startswith("250 ")
    for cmd in ("MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.org>", "DATA"):
        r = c.smtp(cmd)
        assert r == [r[-1]] and r[-1].startswith("530 5.7.0"), (cmd, r)
    assert c.smtp("RSET")[-1].startswith("250")
    assert c.smtp("STARTTLS")[-1].startswith("220")
    c.starttls(ctx())
    assert c.smtp("EHLO client.test")[-1].startswith("250 ")
    assert c.smtp("MAIL FROM:<alice@example.org>")[-1].startswith("250")
    c.close()
    lines = smtp_backend.lines
    before_tls = [l for _, l in lines]
    assert not any(l.upper().startswith((b"MAIL", b"RCPT", b"DATA")) for l in
                   before_tls[:before_tls.index(b"RSET\r\n") + 1]), lines


def test_smtp_may_policy_plain_send_works_but_auth_refused(mailgate, smtp_backend):
    gate = mailgate([service("smtp", "smtp", "starttls", smtp_backend.address)])  # may
    c = LineClient(gate.address("smtp"))
    c.smtp_reply()
    assert c.smtp("EHLO client.test")[-1].startswith("250 ")
    assert c.smtp(f"AUTH PLAIN {PLAIN_IR}")[-1].startswith("538 5.7.11")
    assert c.smtp("MAIL FROM:<alice@example.org>")[-1].startswith("250")
    assert c.smtp("RCPT TO:<bob@example.org>")[-1].startswith("250")
    assert c.smtp("DATA")[-1].startswith("354")
    r = c.smtp("Subject: plain\r\n\r\nsent through tlsgate without TLS.\r\n.")
    assert r[-1].startswith("250"), r
    assert c.smtp("QUIT")[-1].startswith("221")
    c.close()
    msgs = smtp_backend.wait_messages(1)
    assert len(msgs) == 1
    assert msgs[0]["mail_from"] == "alice@example.org"
    assert msgs[0]["rcpt_tos"] == ["bob@example.org"]
    assert b"sent through tlsgate without TLS." in msgs[0]["content"]
    assert msgs[0]["login"] is None
    assert smtp_backend.auth_attempts == []


# --------------------------------------------------------------------------- SMTP and STARTTLS


def test_smtp_envelope_does_not_survive_starttls(mailgate, smtp_backend):
    gate = mailgate([service("smtp", "smtp", "starttls", smtp_backend.address)])
    c = LineClient(gate.address("smtp"))
    c.smtp_reply()
    c.smtp("EHLO client.test")
    assert c.smtp("MAIL FROM:<alice@example.org>")[-1].startswith("250")
    assert c.smtp("STARTTLS")[-1].startswith("220")
    c.starttls(ctx())
    # No EHLO yet after TLS: refused.
    r = c.smtp("MAIL FROM:<alice@example.org>")
    assert r[-1].startswith("503"), r
    assert c.smtp("EHLO client.test")[-1].startswith("250 ")
    # The MAIL FROM from before TLS is gone: the backend wants a MAIL first.
    r = c.smtp("RCPT TO:<bob@example.org>")
    assert r[-1].startswith("503"), r
    c.close()
    got = [l for _, l in smtp_backend.lines]
    assert b"RSET\r\n" in got, got
    assert got.index(b"RSET\r\n") > got.index(b"MAIL FROM:<alice@example.org>\r\n"), got


def test_smtp_second_starttls_and_starttls_with_argument_refused(mailgate, smtp_backend):
    gate = mailgate([service("smtp", "smtp", "starttls", smtp_backend.address)])
    c = LineClient(gate.address("smtp"))
    c.smtp_reply()
    c.smtp("EHLO client.test")
    r = c.smtp("STARTTLS now")
    assert r == [r[-1]] and r[-1].startswith("501"), r
    assert c.smtp("STARTTLS")[-1].startswith("220")
    c.starttls(ctx())
    c.smtp("EHLO client.test")
    r = c.smtp("STARTTLS")
    assert re.match(r"5(03|54) ", r[-1]), r
    assert c.smtp("NOOP")[-1].startswith("250")
    c.close()


def test_imap_and_pop3_starttls_with_argument_or_twice_refused(mailgate, dovecot):
    gate = mailgate([service("imap", "imap", "starttls", dovecot.imap),
                     service("pop3", "pop3", "starttls", dovecot.pop3)])
    c = LineClient(gate.address("imap"))
    c.line()
    assert c.imap("a", "STARTTLS now")[-1].startswith("a BAD"), "STARTTLS with argument"
    assert c.imap("b", "STARTTLS")[-1].startswith("b OK")
    c.starttls(ctx())
    assert re.match(r"c (BAD|NO) ", c.imap("c", "STARTTLS")[-1])
    assert c.imap("d", "NOOP")[-1].startswith("d OK")
    c.close()
    c = LineClient(gate.address("pop3"))
    c.line()
    assert c.pop3("STLS now")[0].startswith("-ERR")
    assert c.pop3("STLS")[0].startswith("+OK")
    c.starttls(ctx())
    assert c.pop3("STLS")[0].startswith("-ERR")
    assert c.pop3("CAPA", multi=True)[0].startswith("+OK")
    c.close()


# --------------------------------------------------------------------------- backend down


UNAVAILABLE = {"imap": "* BYE [UNAVAILABLE]", "pop3": "-ERR [SYS/TEMP]", "smtp": "421 4.3.2"}


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
@pytest.mark.parametrize("proto", ["imap", "pop3", "smtp"])
def test_backend_down_gets_temporary_failure_then_close(mailgate, proto, tls):
    gate = mailgate([service(proto, proto, tls, f"127.0.0.1:{free_port()}")])
    c = LineClient(gate.address(proto))
    if tls == "implicit":
        c.starttls(ctx())
    rest = assert_clean_eof(c)
    assert rest.startswith(UNAVAILABLE[proto]) and rest.endswith("\r\n"), repr(rest)
    assert rest.count("\r\n") == 1, repr(rest)
    c.close()
    gate.wait_for_log(rf"service={proto} client=\S+ backend .* unavailable")


# --------------------------------------------------------------------------- timeouts, limits


GOODBYE = {"imap": "* BYE ", "pop3": "-ERR ", "smtp": "421 "}


def greet(c, proto):
    r = c.smtp_reply() if proto == "smtp" else [c.line()]
    assert r[-1].startswith({"imap": "* OK", "pop3": "+OK", "smtp": "220 "}[proto]), r


@pytest.mark.parametrize("proto", ["imap", "pop3", "smtp"])
def test_plaintext_timeout_goodbye_and_close(mailgate, dovecot, smtp_backend, proto):
    target = {"imap": dovecot.imap, "pop3": dovecot.pop3, "smtp": smtp_backend.addr}[proto]
    gate = mailgate([service(proto, proto, "starttls", target, starttls_policy="encrypt",
                             plaintext_timeout="1s")])
    c = LineClient(gate.address(proto))
    t0 = time.monotonic()
    greet(c, proto)
    rest = assert_clean_eof(c, timeout=8)
    elapsed = time.monotonic() - t0
    assert rest.startswith(GOODBYE[proto]), repr(rest)
    assert 0.7 <= elapsed <= 4, f"closed after {elapsed:.2f} s with plaintext_timeout = 1s"
    c.close()


def test_plaintext_timeout_stops_once_tls_is_up(mailgate, dovecot):
    gate = mailgate([service("imap", "imap", "starttls", dovecot.imap, plaintext_timeout="1s")])
    c = LineClient(gate.address("imap"))
    c.line()
    assert c.imap("a", "STARTTLS")[-1].startswith("a OK")
    c.starttls(ctx())
    time.sleep(1.8)
    assert c.imap("b", "NOOP")[-1].startswith("b OK")
    c.close()


MAX_ERRORS_CMDS = {
    "imap": ["a1 SELECT INBOX", "a2 FROB", "bad tag\"( x"],
    "pop3": ["STAT", "FROB!", "RETR 1"],
    "smtp": ["MAIL FROM:<a@example.org>", "AUTH PLAIN", "RCPT TO:<b@example.org>"],
}


@pytest.mark.parametrize("proto", ["imap", "pop3", "smtp"])
def test_max_errors_goodbye_and_close(mailgate, dovecot, smtp_backend, proto):
    target = {"imap": dovecot.imap, "pop3": dovecot.pop3, "smtp": smtp_backend.addr}[proto]
    gate = mailgate([service(proto, proto, "starttls", target, starttls_policy="encrypt",
                             max_errors=3)])
    c = LineClient(gate.address(proto))
    greet(c, proto)
    cmds = MAX_ERRORS_CMDS[proto]
    for cmd in cmds[:-1]:
        if proto == "smtp":
            r = c.smtp(cmd)
            assert r[-1][0] in "45", (cmd, r)
        else:
            c.send(cmd + "\r\n")
            r = c.line()
            assert r.startswith(("-ERR", "a1 NO", "a1 BAD", "a2 NO", "a2 BAD", "* BAD")), (cmd, r)
    c.send(cmds[-1] + "\r\n")
    rest = assert_clean_eof(c)
    lines = rest.splitlines()
    assert len(lines) == 2, f"expected the refusal and a goodbye, got {rest!r}"
    assert lines[1].startswith(GOODBYE[proto]), repr(rest)
    c.close()
    gate.wait_for_log(r"3 invalid or refused commands")


OVERLONG = {
    "imap": ("a NOOP " + "x" * 9000, "* BYE "),
    "pop3": ("NOOP " + "x" * 400, "-ERR "),
    "smtp": ("NOOP " + "x" * 1000, "500 "),
}


@pytest.mark.parametrize("proto", ["imap", "pop3", "smtp"])
def test_overlong_line_error_and_close(mailgate, dovecot, smtp_backend, tap, proto):
    target = {"imap": dovecot.imap, "pop3": dovecot.pop3, "smtp": smtp_backend.addr}[proto]
    t = tap(target)
    gate = mailgate([service(proto, proto, "starttls", t.address)])
    c = LineClient(gate.address(proto))
    greet(c, proto)
    line, reply = OVERLONG[proto]
    c.send(line + "\r\n")
    rest = assert_clean_eof(c)
    assert rest.startswith(reply) and rest.count("\r\n") == 1, repr(rest)
    c.close()
    assert b"x" * 100 not in t.sent(), "the overlong line reached the backend"
    gate.wait_for_log(r"client line too long")


# --------------------------------------------------------------------------- early talkers


EARLY = {
    "imap": ("a CAPABILITY", lambda c: c.until(lambda l: l.startswith("a ")),
             lambda r: "STARTTLS" in imap_caps(r[0]) and r[-1].startswith("a OK")),
    "pop3": ("CAPA", lambda c: [c.line()] + c.until(lambda l: l == ".\r\n"),
             lambda r: r[0].startswith("+OK") and "STLS\r\n" in r),
    "smtp": ("EHLO client.test", lambda c: c.smtp_reply(),
             lambda r: r[-1].startswith("250 ") and any("STARTTLS" in l for l in r)
             and not any("AUTH" in l for l in r)),
}


@pytest.mark.parametrize("proto", ["imap", "pop3", "smtp"])
def test_command_sent_before_greeting_answered_after_it(mailgate, dovecot, smtp_backend, tap,
                                                        proto):
    target = {"imap": dovecot.imap, "pop3": dovecot.pop3, "smtp": smtp_backend.addr}[proto]
    t = tap(target, greeting_delay=0.5)   # the backend's greeting comes late
    # SMTP on port 25 ("may") rejects early talkers by default (test_smtp_hygiene.py).
    kw = {"early_talker": "hold"} if proto == "smtp" else {}
    gate = mailgate([service(proto, proto, "starttls", t.address, **kw)])
    cmd, read, ok = EARLY[proto]
    c = LineClient(gate.address(proto))
    c.send(cmd + "\r\n")                  # at once, before any greeting
    greet(c, proto)
    r = read(c)
    assert ok(r), r
    c.close()


# --------------------------------------------------------------------------- SMTP smuggling


SMUGGLING = {
    "LF.LF": ("\n", "\n"),
    "CR.CR": ("\r", "\r"),
    "CRLF.LF": ("\r\n", "\n"),
    "LF.CRLF": ("\n", "\r\n"),
    "CR.CRLF": ("\r", "\r\n"),
    "CRLF.CR": ("\r\n", "\r"),
}


@pytest.mark.parametrize("variant,tls", [(v, "starttls") for v in sorted(SMUGGLING)]
                         + [("LF.LF", "implicit"), ("CR.CR", "implicit")])
def test_smtp_smuggling_yields_one_message(mailgate, smtp_backend, variant, tls):
    a, b = SMUGGLING[variant]
    gate = mailgate([service("smtp", "smtp", tls, smtp_backend.address)])
    c = LineClient(gate.address("smtp"))
    if tls == "implicit":
        c.starttls(ctx())
    c.smtp_reply()
    c.smtp("EHLO client.test")
    assert c.smtp("MAIL FROM:<alice@example.org>")[-1].startswith("250")
    assert c.smtp("RCPT TO:<bob@example.org>")[-1].startswith("250")
    assert c.smtp("DATA")[-1].startswith("354")
    body = (f"Subject: smuggle {variant}\r\n\r\nfirst part{a}.{b}"
            "MAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
            "Subject: smuggled\r\n\r\nsmuggled text\r\n.\r\n")
    c.send(body.encode())
    r = c.smtp_reply()
    r += c.smtp("QUIT")
    c.close()
    codes = [l[:3] for l in r]
    assert codes in (["250", "221"], ["554", "221"], ["550", "221"], ["500", "221"]), \
        f"more than one reply to one message: {r}"
    time.sleep(0.2)
    msgs = list(smtp_backend.messages)
    assert len(msgs) <= 1, f"{len(msgs)} messages at the backend: {msgs}"
    assert all(m["mail_from"] == "alice@example.org" for m in msgs), msgs
    assert all(m["rcpt_tos"] == ["bob@example.org"] for m in msgs), msgs
    if codes[0] == "250":
        assert len(msgs) == 1
        assert b"MAIL FROM:<evil@example.net>" in msgs[0]["content"], msgs[0]["content"]
        assert b"first part" in msgs[0]["content"], msgs[0]["content"]


# --------------------------------------------------------------------------- allow-lists


def test_imap_encrypt_policy_serves_only_capability_noop_logout_before_tls(mailgate, dovecot,
                                                                           tap):
    t = tap(dovecot.imap)
    gate = mailgate([service("imap", "imap", "starttls", t.address, max_errors=50)])
    c = LineClient(gate.address("imap"))
    c.line()
    refused = ["ID NIL", "ENABLE IDLE", "LIST \"\" *", "STATUS INBOX (MESSAGES)", "IDLE",
               "NAMESPACE", "UNSELECT", "XYZZY"]
    got = {}
    for i, cmd in enumerate(refused):
        r = c.imap(f"r{i}", cmd)
        got[cmd] = r[-1].strip()
    assert c.imap("n", "NOOP")[-1].startswith("n OK")
    assert c.imap("c", "CAPABILITY")[-1].startswith("c OK")
    r = c.imap("l", "LOGOUT")
    assert r[-1].startswith("l OK"), r
    c.close()
    served = {cmd: reply for cmd, reply in got.items() if not re.match(r"r\d+ NO ", reply)}
    assert not served, f"served before TLS under starttls_policy = encrypt: {served}"
    words = set(verbs_sent(t.sent(), imap=True))
    assert words <= {b"NOOP", b"CAPABILITY", b"LOGOUT"}, t.sent()


def test_smtp_encrypt_policy_serves_only_ehlo_helo_rset_noop_quit_before_tls(
        mailgate, smtp_backend):
    gate = mailgate([service("smtp", "smtp", "starttls", smtp_backend.address,
                             starttls_policy="encrypt", max_errors=50)])
    c = LineClient(gate.address("smtp"))
    c.smtp_reply()
    assert c.smtp("HELO client.test")[-1].startswith("250")
    assert c.smtp("EHLO client.test")[-1].startswith("250 ")
    for cmd in ("VRFY alice", "EXPN staff", "HELP", "BDAT 0 LAST", "ETRN example.org"):
        r = c.smtp(cmd)
        assert r[-1].startswith("530 5.7.0"), (cmd, r)
    assert c.smtp("RSET")[-1].startswith("250")
    assert c.smtp("NOOP")[-1].startswith("250")
    assert c.smtp("QUIT")[-1].startswith("221")
    c.close()
    assert set(smtp_backend.verbs()) <= {"HELO", "EHLO", "RSET", "NOOP", "QUIT"}, \
        smtp_backend.lines


def test_smtp_may_policy_has_no_plaintext_timeout(mailgate, smtp_backend):
    gate = mailgate([service("smtp", "smtp", "starttls", smtp_backend.address,
                             plaintext_timeout="1s")])
    c = LineClient(gate.address("smtp"))
    c.smtp_reply()
    time.sleep(1.8)
    assert c.smtp("EHLO client.test")[-1].startswith("250 ")
    c.close()


def test_max_errors_default_is_five(mailgate, dovecot):
    gate = mailgate([service("pop3", "pop3", "starttls", dovecot.pop3)])
    c = LineClient(gate.address("pop3"))
    c.line()
    for _ in range(4):
        assert c.pop3("STAT")[0].startswith("-ERR")
    c.send("STAT\r\n")
    lines = assert_clean_eof(c).splitlines()
    assert len(lines) == 2 and lines[0].startswith("-ERR") and lines[1].startswith("-ERR"), lines
    c.close()


# --------------------------------------------------------------------------- backend STARTTLS


def scripted_backend(proto):
    """A plaintext backend that itself advertises STARTTLS/STLS and auth mechanisms."""
    def handler(conn, backend):
        f = conn.makefile("rb")
        if proto == "imap":
            conn.sendall(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED AUTH=PLAIN] fake\r\n")
        elif proto == "pop3":
            conn.sendall(b"+OK fake\r\n")
        else:
            conn.sendall(b"220 fake.test ESMTP\r\n")
        for line in f:
            words = line.split()
            if proto == "imap" and len(words) >= 2:
                tag, verb = words[0], words[1].upper()
                if verb == b"CAPABILITY":
                    conn.sendall(b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED AUTH=PLAIN\r\n")
                conn.sendall(tag + b" OK done\r\n")
            elif proto == "pop3" and words:
                if words[0].upper() == b"CAPA":
                    conn.sendall(b"+OK\r\nSTLS\r\nUSER\r\nSASL PLAIN\r\nTOP\r\n.\r\n")
                else:
                    conn.sendall(b"+OK\r\n")
            elif proto == "smtp" and words:
                if words[0].upper() == b"EHLO":
                    conn.sendall(b"250-fake.test\r\n250-STARTTLS\r\n250-AUTH PLAIN\r\n"
                                 b"250 8BITMIME\r\n")
                else:
                    conn.sendall(b"250 2.0.0 ok\r\n")
    return handler


def advertised(c, proto):
    if proto == "imap":
        return imap_caps(c.imap("k", "CAPABILITY")[0])
    if proto == "pop3":
        return pop3_capa(c)
    return ehlo_keywords(c.smtp("EHLO client.test"))


BACKEND_STARTTLS = {
    # proto: (go, starttls keyword, auth keywords, keyword before TLS that must be once)
    "imap": ("a STARTTLS", "STARTTLS", {"AUTH=PLAIN"}),
    "pop3": ("STLS", "STLS", {"USER", "SASL PLAIN"}),
    "smtp": ("STARTTLS", "STARTTLS", {"AUTH PLAIN"}),
}


@pytest.mark.parametrize("proto", ["imap", "pop3", "smtp"])
def test_backend_starttls_never_shown_and_offered_once(mailgate, backend, proto):
    b = backend(scripted_backend(proto))
    gate = mailgate([service(f"{proto}", proto, "starttls", b.address),
                     service(f"{proto}s", proto, "implicit", b.address)])
    go, kw, auth = BACKEND_STARTTLS[proto]
    # STARTTLS service: offered exactly once before TLS, no auth; never after TLS.
    c = LineClient(gate.address(proto))
    greeting = c.smtp_reply() if proto == "smtp" else [c.line()]
    if proto == "imap":
        assert sorted(imap_caps(greeting[0])) == ["IMAP4rev1", "LOGINDISABLED", "STARTTLS"], \
            greeting
    caps = advertised(c, proto)
    assert caps.count(kw) == 1 and not auth & set(caps), caps
    r = c.imap("a", "STARTTLS") if proto == "imap" else \
        (c.pop3(go) if proto == "pop3" else c.smtp(go))
    assert r[-1].startswith(("a OK", "+OK", "220")), r
    c.starttls(ctx())
    caps = advertised(c, proto)
    assert kw not in caps and auth <= set(caps), caps
    c.close()
    # Implicit service: the backend's STARTTLS is stripped from the start.
    c = LineClient(gate.address(f"{proto}s"))
    c.starttls(ctx())
    greeting = c.smtp_reply() if proto == "smtp" else [c.line()]
    if proto == "imap":
        assert "STARTTLS" not in imap_caps(greeting[0]), greeting
    caps = advertised(c, proto)
    assert kw not in caps and auth <= set(caps), caps
    c.close()


# --------------------------------------------------------------------------- SASL responses
# A client that does not wait for the continuation sends its SASL responses right behind the
# refused command: they must not reach the backend either (as commands or otherwise).


def test_imap_sasl_response_pipelined_after_refused_authenticate(mailgate, dovecot, tap):
    t = tap(dovecot.imap)
    gate = mailgate([service("imap", "imap", "starttls", t.address, max_errors=50)])
    c = LineClient(gate.address("imap"))
    c.line()
    c.send(f"g AUTHENTICATE PLAIN\r\n{PLAIN_IR}\r\nh AUTHENTICATE LOGIN\r\nYWxpY2U=\r\n"
           "YWxpY2VwYXNz\r\n")
    r = c.until(lambda l: l.startswith("h "))
    assert r[0].startswith("g NO [PRIVACYREQUIRED]"), r
    assert r[-1].startswith("h NO [PRIVACYREQUIRED]"), r
    assert c.imap("z", "NOOP")[-1].startswith("z OK")
    c.close()
    assert_no_credentials(t.sent(), "the IMAP backend")


@pytest.mark.parametrize("policy", ["may", "encrypt"])
def test_smtp_sasl_responses_pipelined_after_refused_auth(mailgate, smtp_backend, policy):
    gate = mailgate([service("smtp", "smtp", "starttls", smtp_backend.address,
                             starttls_policy=policy, max_errors=50)])
    c = LineClient(gate.address("smtp"))
    c.smtp_reply()
    c.smtp("EHLO client.test")
    c.send(f"AUTH PLAIN\r\n{PLAIN_IR}\r\nAUTH LOGIN\r\nYWxpY2U=\r\nYWxpY2VwYXNz\r\n")
    replies = [c.smtp_reply()[-1] for _ in range(5)]
    assert replies[0].startswith("538") and replies[2].startswith("538"), replies
    assert c.smtp("NOOP")[-1].startswith("250")
    c.close()
    assert_no_credentials(smtp_backend.received_bytes(), "the SMTP backend")


def test_pop3_sasl_responses_pipelined_after_refused_auth(mailgate, dovecot, tap):
    t = tap(dovecot.pop3)
    gate = mailgate([service("pop3", "pop3", "starttls", t.address, max_errors=50,
                             starttls_policy="may")])
    c = LineClient(gate.address("pop3"))
    c.line()
    c.send(f"AUTH PLAIN\r\n{PLAIN_IR}\r\nAUTH LOGIN\r\nYWxpY2U=\r\nYWxpY2VwYXNz\r\n")
    replies = [c.line() for _ in range(5)]
    assert replies[0].startswith("-ERR [AUTH]") and replies[2].startswith("-ERR [AUTH]"), \
        replies
    assert c.pop3("CAPA", multi=True)[0].startswith("+OK")
    c.close()
    assert_no_credentials(t.sent(), "the POP3 backend")
