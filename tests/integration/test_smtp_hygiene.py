"""SMTP hygiene in front of a backend that trusts tlsgate's address (issue 12): XCLIENT and
XFORWARD refused and hidden unless allow_xclient; clients that talk before the greeting
rejected (or held); AUTH lines up to 12,288 octets (RFC 4954) while other commands keep 512.

The greeting is released by the test, never by a timer: a backend (or a tap in front of
aiosmtpd) holds it until the test says so, so "the client talked first" is a fact, not a race.
"""

import threading

import pytest

from mail_support import LineClient, Tap
from support import client_context
from test_mail_policy import assert_clean_eof, service

EARLY_REPLY = "554 5.5.1 Protocol error: talked before the greeting\r\n"


class ScriptedSmtp:
    """A scripted plaintext SMTP backend (the handler of a support.Backend) that offers XCLIENT
    and XFORWARD (as a Postfix that trusts tlsgate's address would), answers XCLIENT with a new
    220 greeting, AUTH with 334 (no initial response) or 535, and everything else with 250.
    Records every line it reads before answering it. With hold_greeting, the greeting waits
    for release()."""

    EHLO = (b"250-backend.test\r\n250-PIPELINING\r\n250-XCLIENT NAME ADDR PROTO HELO\r\n"
            b"250-XFORWARD NAME ADDR PROTO HELO\r\n250 8BITMIME\r\n")

    def __init__(self, hold_greeting=False):
        self.lines = []
        self.cond = threading.Condition()
        self.greet = threading.Event()
        if not hold_greeting:
            self.greet.set()
        self.address = None  # set once its Backend listens

    def release(self):
        self.greet.set()

    def received(self):
        with self.cond:
            return b"".join(self.lines)

    def __call__(self, conn, _backend):
        self.greet.wait()
        conn.sendall(b"220 backend.test ESMTP\r\n")
        sasl = False
        for line in conn.makefile("rb"):
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
            words = line.rstrip(b"\r\n").split(b" ")
            verb = words[0].upper()
            if sasl:
                sasl = False
                conn.sendall(b"535 5.7.8 Authentication failed\r\n")
            elif verb == b"EHLO":
                conn.sendall(self.EHLO)
            elif verb == b"XCLIENT":
                conn.sendall(b"220 backend.test ESMTP\r\n")
            elif verb == b"AUTH" and len(words) == 2:
                sasl = True
                conn.sendall(b"334 \r\n")
            elif verb == b"AUTH":
                conn.sendall(b"535 5.7.8 Authentication failed\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                conn.sendall(b"250 2.0.0 Ok\r\n")


@pytest.fixture
def scripted(backend):
    made = []

    def make(**kw):
        script = ScriptedSmtp(**kw)
        script.address = backend(script).address
        made.append(script)
        return script

    yield make
    for script in made:
        script.release()  # a held greeting must not keep a handler waiting past the test


def ehlo_keywords(reply):
    return [l[4:].split(" ")[0].strip().upper() for l in reply[1:]]


# --------------------------------------------------------------------------- XCLIENT


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_xclient_and_xforward_refused_and_hidden(mailgate, scripted, tls):
    backend = scripted()
    gate = mailgate([service("smtp", "smtp", tls, backend.address)])  # may: an MX
    c = LineClient(gate.address("smtp"))
    if tls == "implicit":
        c.starttls(client_context())
    assert c.smtp_reply()[-1].startswith("220")
    keywords = ehlo_keywords(c.smtp("EHLO client.test"))
    assert "XCLIENT" not in keywords and "XFORWARD" not in keywords, keywords
    assert "PIPELINING" in keywords
    for cmd in ("XCLIENT ADDR=10.1.2.3 NAME=trusted.example.org", "xforward ADDR=10.1.2.3"):
        r = c.smtp(cmd)
        assert r == ["550 5.7.0 Error: insufficient authorization\r\n"], r
    assert c.smtp("NOOP")[-1].startswith("250")  # answered by the backend: all before it is in
    c.close()
    got = backend.received()
    assert b"XCLIENT" not in got.upper() and b"XFORWARD" not in got.upper(), got
    gate.wait_for_log(r"refused XCLIENT: not allowed for this service")


def test_allow_xclient_passes_xclient(mailgate, scripted):
    backend = scripted()
    gate = mailgate([service("smtps", "smtp", "implicit", backend.address, allow_xclient=True)])
    c = LineClient(gate.address("smtps"))
    c.starttls(client_context())
    c.smtp_reply()
    keywords = ehlo_keywords(c.smtp("EHLO client.test"))
    assert "XCLIENT" in keywords and "XFORWARD" in keywords, keywords
    assert c.smtp("XCLIENT ADDR=10.1.2.3")[-1].startswith("220 backend.test")
    c.close()
    assert b"XCLIENT ADDR=10.1.2.3\r\n" in backend.received()


# --------------------------------------------------------------------------- early talkers


class GreetingGate:
    """A tap in front of aiosmtpd whose greeting waits for release()."""

    def __init__(self, target):
        self.tap = Tap(target)
        self.greet = threading.Event()
        tap = self.tap
        original = tap._pump

        def pump(src, dst, record, delay=0.0):
            if record is not None and any(record is d for d in tap.downstream):
                self.greet.wait()
            original(src, dst, record, 0.0)

        tap._pump = pump

    @property
    def address(self):
        return self.tap.address

    def release(self):
        self.greet.set()

    def stop(self):
        self.greet.set()
        self.tap.stop()


@pytest.fixture
def held_tap(smtp_backend):
    made = []

    def make():
        g = GreetingGate(smtp_backend.addr)
        made.append(g)
        return g

    yield make
    for g in made:
        g.stop()


def test_early_talker_rejected_on_mx(mailgate, smtp_backend, held_tap):
    t = held_tap()
    gate = mailgate([service("mx", "smtp", "starttls", t.address)])  # may: reject by default
    c = LineClient(gate.address("mx"))
    c.send("EHLO bot.example\r\nMAIL FROM:<spam@example.net>\r\n")  # no greeting yet
    rest = assert_clean_eof(c)
    assert rest == EARLY_REPLY, repr(rest)
    t.release()  # the backend's greeting, now too late: never relayed
    c.close()
    gate.wait_for_log(r"client talked before the greeting \(early talker\); refusing")
    assert t.tap.sent() == b"", "the early talker's bytes reached the backend"
    assert smtp_backend.verbs() == []
    gate.stop()
    assert any("early_talkers=1" in l for l in gate.logs()), gate.log_text()[-2000:]


def test_early_talker_held_on_submission(mailgate, smtp_backend, held_tap):
    t = held_tap()
    gate = mailgate([service("submission", "smtp", "starttls", t.address,
                             starttls_policy="encrypt")])  # hold by default
    c = LineClient(gate.address("submission"))
    c.send("EHLO client.test\r\n")
    gate.wait_for_log(r"client talked before the greeting \(early talker\); holding")
    t.release()
    assert c.smtp_reply()[-1].startswith("220 backend.test")
    r = c.smtp_reply()
    assert r[-1].startswith("250 ") and "STARTTLS" in ehlo_keywords(r), r
    assert c.smtp("NOOP")[-1].startswith("250")
    c.close()
    gate.stop()
    assert any("early_talkers=1" in l for l in gate.logs()), gate.log_text()[-2000:]


def test_client_that_waits_is_served_on_mx(mailgate, smtp_backend):
    gate = mailgate([service("mx", "smtp", "starttls", smtp_backend.address)])
    c = LineClient(gate.address("mx"))
    assert c.smtp_reply()[-1].startswith("220")
    assert c.smtp("EHLO client.test")[-1].startswith("250 ")
    assert c.smtp("MAIL FROM:<alice@example.org>")[-1].startswith("250")
    c.close()


# --------------------------------------------------------------------------- line limits


def test_auth_lines_up_to_12288_octets(mailgate, scripted):
    backend = scripted()
    gate = mailgate([service("smtps", "smtp", "implicit", backend.address)])
    c = LineClient(gate.address("smtps"))
    c.starttls(client_context())
    c.smtp_reply()
    c.smtp("EHLO client.test")
    ir = "A" * (12288 - len("AUTH GSSAPI \r\n"))  # the whole line: 12,288 octets
    assert c.smtp("AUTH GSSAPI " + ir)[-1].startswith("535"), "the backend did not answer"
    assert c.smtp("AUTH GSSAPI")[-1].startswith("334")
    token = "B" * 12286  # a SASL continuation line of 12,288 octets
    assert c.smtp(token)[-1].startswith("535")
    got = backend.received()
    assert ("AUTH GSSAPI " + ir + "\r\n").encode() in got
    assert (token + "\r\n").encode() in got
    # Every other command keeps RFC 5321's 512.
    c.send("NOOP " + "x" * 600 + "\r\n")
    rest = assert_clean_eof(c)
    assert rest == "500 5.5.6 Line too long\r\n", repr(rest)
    c.close()
    assert b"x" * 600 not in backend.received()
