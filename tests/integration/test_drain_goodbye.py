"""Drain goodbyes: at SIGTERM a mail session between commands is told goodbye in its protocol
(IMAP "* BYE", also in IDLE; SMTP "421 4.3.2"; POP3 simply closed) through TLS and closed at
once, so a stop with idle clients does not wait out drain_timeout; a session in the middle of a
command (a DATA transfer) is let finish within the deadline, then told goodbye."""

import imaplib
import poplib
import signal
import smtplib
import ssl
import time

from mail_support import PASSWORD, USER, addr_text

DRAIN = {"drain_timeout": "30s"}  # far longer than any test waits: a quick exit is the goodbye


def service(name, protocol, tls, backend):
    return {"name": name, "protocol": protocol, "tls": tls,
            "backend": backend if isinstance(backend, str) else addr_text(backend)}


def context(certs):
    return ssl.create_default_context(cafile=str(certs.root))


def stop_and_time(gate):
    """SIGTERM; returns (seconds until tlsgate exited, exit status)."""
    start = time.monotonic()
    gate.signal(signal.SIGTERM)
    rc = gate.proc.wait(15)
    return time.monotonic() - start, rc


def test_imap_client_in_idle_gets_bye(mailgate, dovecot, certs):
    gate = mailgate([service("imaps", "imap", "implicit", dovecot.imap)], global_=DRAIN)
    c = imaplib.IMAP4_SSL("127.0.0.1", gate.port("imaps"), ssl_context=context(certs),
                          timeout=20)
    c.login(USER, PASSWORD)
    c.select("INBOX")
    tag = c._new_tag()
    c.send(tag + b" IDLE\r\n")
    assert c.readline().startswith(b"+"), "no IDLE continuation"
    start = time.monotonic()
    gate.signal(signal.SIGTERM)
    line = c.readline()
    assert line == b"* BYE Server shutting down.\r\n", line
    assert c.readline() == b"", "connection not closed after the BYE"
    assert time.monotonic() - start < 5
    assert gate.proc.wait(15) == 0
    gate.wait_for_log(r"shutting down: ended between commands")


def test_imap_starttls_session_between_commands_gets_bye(mailgate, dovecot, certs):
    gate = mailgate([service("imap", "imap", "starttls", dovecot.imap)], global_=DRAIN)
    c = imaplib.IMAP4("127.0.0.1", gate.port("imap"), timeout=20)
    c.starttls(ssl_context=context(certs))
    c.login(USER, PASSWORD)
    c.select("INBOX")
    typ, data = c.fetch(b"1", "(BODY.PEEK[])")  # a literal went by: the tracker followed it
    assert typ == "OK", (typ, data)
    elapsed, rc = stop_and_time(gate)
    assert rc == 0 and elapsed < 5, elapsed
    assert c.readline() == b"* BYE Server shutting down.\r\n"


def test_imap_before_login_gets_bye(mailgate, dovecot, certs):
    """Still in the filter's hands (not authenticated): the filter and the tracker agree it is
    between commands."""
    gate = mailgate([service("imaps", "imap", "implicit", dovecot.imap)], global_=DRAIN)
    c = imaplib.IMAP4_SSL("127.0.0.1", gate.port("imaps"), ssl_context=context(certs),
                          timeout=20)
    c.noop()
    elapsed, rc = stop_and_time(gate)
    assert rc == 0 and elapsed < 5, elapsed
    assert c.readline() == b"* BYE Server shutting down.\r\n"


def test_smtp_idle_client_gets_421(mailgate, smtp_backend, certs):
    gate = mailgate([service("smtps", "smtp", "implicit", smtp_backend.address)], global_=DRAIN)
    c = smtplib.SMTP_SSL("127.0.0.1", gate.port("smtps"), local_hostname="client.test",
                         context=context(certs), timeout=20)
    c.ehlo()
    c.login(USER, PASSWORD)
    elapsed, rc = stop_and_time(gate)
    assert rc == 0 and elapsed < 5, elapsed
    code, text = c.getreply()
    assert code == 421 and text.startswith(b"4.3.2 "), (code, text)
    c.close()


def test_pop3_client_between_commands_is_closed(mailgate, dovecot, certs):
    gate = mailgate([service("pop3s", "pop3", "implicit", dovecot.pop3)], global_=DRAIN)
    c = poplib.POP3_SSL("127.0.0.1", gate.port("pop3s"), context=context(certs), timeout=20)
    c.user(USER)
    c.pass_(PASSWORD)
    assert c.stat()[0] == 1
    c.retr(1)  # a multi-line reply went by
    elapsed, rc = stop_and_time(gate)
    assert rc == 0 and elapsed < 5, elapsed
    assert c.file.readline() == b"", "POP3 session not closed"


def test_smtp_data_transfer_finishes_then_421(mailgate, smtp_backend, certs):
    gate = mailgate([service("smtps", "smtp", "implicit", smtp_backend.address)], global_=DRAIN)
    c = smtplib.SMTP_SSL("127.0.0.1", gate.port("smtps"), local_hostname="client.test",
                         context=context(certs), timeout=20)
    c.ehlo()
    c.login(USER, PASSWORD)
    assert c.mail("alice@example.org")[0] == 250
    assert c.rcpt("bob@example.org")[0] == 250
    c.putcmd("DATA")
    assert c.getreply()[0] == 354
    c.send(b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: during the drain\r\n"
           b"\r\nfirst half, ")
    gate.signal(signal.SIGTERM)
    time.sleep(1.5)
    assert gate.proc.poll() is None, "tlsgate ended a session in the middle of DATA"
    c.send(b"second half, sent through tlsgate.\r\n.\r\n")
    assert c.getreply()[0] == 250
    code, text = c.getreply()
    assert code == 421, (code, text)
    assert gate.proc.wait(10) == 0
    msgs = smtp_backend.wait_messages(1)
    assert b"first half, second half" in msgs[0]["content"], msgs[0]["content"]
    c.close()


def test_imap_command_in_progress_keeps_its_session(mailgate, dovecot, certs):
    """A command sent and not yet answered, here a partial command line: no goodbye cuts it;
    the drain deadline ends it (short here)."""
    gate = mailgate([service("imaps", "imap", "implicit", dovecot.imap)],
                    global_={"drain_timeout": "2s"})
    c = imaplib.IMAP4_SSL("127.0.0.1", gate.port("imaps"), ssl_context=context(certs),
                          timeout=20)
    c.login(USER, PASSWORD)
    c.send(b"x1 NOOP")  # no line end yet
    time.sleep(0.3)
    start = time.monotonic()
    gate.signal(signal.SIGTERM)
    assert gate.proc.wait(15) == 0
    assert time.monotonic() - start >= 1.5, "the session was not left to the deadline"
    gate.wait_for_log(r"drain deadline")
