"""Mail protocols end to end with real clients: curl, Python's imaplib/poplib/smtplib and
openssl s_client, through STARTTLS and implicit-TLS services, in front of the legacy
plaintext Dovecot (IMAP, POP3) and an aiosmtpd backend with AUTH (SMTP)."""

import imaplib
import poplib
import smtplib
import ssl

import pytest

from mail_support import PASSWORD, USER, addr_text
from support import run

WELCOME = "Hello alice, this message was fetched from a plaintext-only Dovecot through tlsgate."


def service(name, protocol, tls, backend, **kw):
    d = {"name": name, "protocol": protocol, "tls": tls,
         "backend": backend if isinstance(backend, str) else addr_text(backend)}
    d.update(kw)
    return d


def verified_context(certs):
    return ssl.create_default_context(cafile=str(certs.root))


def curl(url, certs, *args, timeout=30):
    r = run(["curl", "-sS", "--max-time", "20", "--ssl-reqd", "--cacert", str(certs.root),
             "-u", f"{USER}:{PASSWORD}", *args, url], timeout=timeout)
    assert r.returncode == 0, f"curl {url} exited {r.returncode}:\n{r.stderr}"
    return r.stdout


def s_client_starttls(port, proto, certs, stdin):
    r = run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-starttls", proto,
             "-crlf", "-quiet", "-CAfile", str(certs.root), "-verify_return_error",
             "-verify_ip", "127.0.0.1"], input=stdin, timeout=30)
    return r


def check_smtp_message(backend, subject, login=USER):
    msgs = backend.wait_messages(1)
    assert len(msgs) == 1, f"expected one message at the backend, got {len(msgs)}"
    m = msgs[0]
    assert m["mail_from"] == "alice@example.org", m
    assert m["rcpt_tos"] == ["bob@example.org"], m
    assert f"Subject: {subject}".encode() in m["content"], m["content"]
    assert b"sent through tlsgate" in m["content"], m["content"]
    assert m["login"] == login, f"message not sent as authenticated {login}: {m}"


def mail_file(tmp_path, subject):
    p = tmp_path / "mail.txt"
    p.write_bytes(f"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: {subject}\r\n\r\n"
                  "Hello bob, sent through tlsgate.\r\n".encode())
    return p


# --------------------------------------------------------------------------- IMAP


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_imap_curl_login_and_fetch(mailgate, dovecot, certs, tls):
    gate = mailgate([service("imap", "imap", tls, dovecot.imap)])
    scheme = "imap" if tls == "starttls" else "imaps"
    out = curl(f"{scheme}://127.0.0.1:{gate.port('imap')}/INBOX;UID=1", certs)
    assert WELCOME in out, out


def test_imap_imaplib_starttls_login_fetch(mailgate, dovecot, certs):
    gate = mailgate([service("imap", "imap", "starttls", dovecot.imap)])
    c = imaplib.IMAP4("127.0.0.1", gate.port("imap"), timeout=20)
    try:
        assert "LOGINDISABLED" in c.capabilities and "STARTTLS" in c.capabilities, c.capabilities
        c.starttls(ssl_context=verified_context(certs))
        assert "STARTTLS" not in c.capabilities, c.capabilities
        assert "LOGINDISABLED" not in c.capabilities, c.capabilities
        typ, _ = c.login(USER, PASSWORD)
        assert typ == "OK"
        typ, data = c.select("INBOX")
        assert typ == "OK" and data == [b"1"], (typ, data)
        typ, data = c.fetch(b"1", "(BODY.PEEK[])")
        assert typ == "OK", (typ, data)
        assert WELCOME.encode() in data[0][1], data
        c.logout()
    finally:
        if c.state != "LOGOUT":
            c.shutdown()


def test_imap_imaplib_implicit_login_fetch(mailgate, dovecot, certs):
    gate = mailgate([service("imaps", "imap", "implicit", dovecot.imap)])
    c = imaplib.IMAP4_SSL("127.0.0.1", gate.port("imaps"), ssl_context=verified_context(certs),
                          timeout=20)
    try:
        assert "STARTTLS" not in c.capabilities, c.capabilities
        c.login(USER, PASSWORD)
        typ, data = c.select("INBOX", readonly=True)
        assert typ == "OK" and data == [b"1"], (typ, data)
        typ, data = c.fetch(b"1", "(BODY.PEEK[])")
        assert WELCOME.encode() in data[0][1], data
        c.logout()
    finally:
        if c.state != "LOGOUT":
            c.shutdown()


def test_imap_s_client_starttls_login_fetch(mailgate, dovecot, certs):
    gate = mailgate([service("imap", "imap", "starttls", dovecot.imap)])
    r = s_client_starttls(gate.port("imap"), "imap", certs,
                          f"a LOGIN {USER} {PASSWORD}\nb SELECT INBOX\n"
                          "c FETCH 1 BODY.PEEK[]\nd LOGOUT\n")
    assert "a OK" in r.stdout, r.stdout + r.stderr
    assert "b OK" in r.stdout and WELCOME in r.stdout, r.stdout + r.stderr
    assert "d OK" in r.stdout, r.stdout + r.stderr


# --------------------------------------------------------------------------- POP3


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_pop3_curl_login_and_retr(mailgate, dovecot, certs, tls):
    gate = mailgate([service("pop3", "pop3", tls, dovecot.pop3)])
    scheme = "pop3" if tls == "starttls" else "pop3s"
    out = curl(f"{scheme}://127.0.0.1:{gate.port('pop3')}/1", certs)
    assert WELCOME in out, out


def test_pop3_poplib_stls_user_pass_retr(mailgate, dovecot, certs):
    gate = mailgate([service("pop3", "pop3", "starttls", dovecot.pop3)])
    c = poplib.POP3("127.0.0.1", gate.port("pop3"), timeout=20)
    try:
        caps = c.capa()
        assert "STLS" in caps and "USER" not in caps and "SASL" not in caps, caps
        c.stls(context=verified_context(certs))
        caps = c.capa()
        assert "STLS" not in caps and "USER" in caps, caps
        c.user(USER)
        assert c.pass_(PASSWORD).startswith(b"+OK")
        resp, lines, _ = c.retr(1)
        assert resp.startswith(b"+OK"), resp
        assert WELCOME.encode() in lines, lines
        c.quit()
    finally:
        c.close()


def test_pop3_poplib_implicit_retr(mailgate, dovecot, certs):
    gate = mailgate([service("pop3s", "pop3", "implicit", dovecot.pop3)])
    c = poplib.POP3_SSL("127.0.0.1", gate.port("pop3s"), context=verified_context(certs),
                        timeout=20)
    try:
        c.user(USER)
        c.pass_(PASSWORD)
        _, lines, _ = c.retr(1)
        assert WELCOME.encode() in lines, lines
        c.quit()
    finally:
        c.close()


def test_pop3_s_client_stls_retr(mailgate, dovecot, certs):
    gate = mailgate([service("pop3", "pop3", "starttls", dovecot.pop3)])
    r = s_client_starttls(gate.port("pop3"), "pop3", certs,
                          f"USER {USER}\nPASS {PASSWORD}\nRETR 1\nQUIT\n")
    assert "+OK Logged in" in r.stdout, r.stdout + r.stderr
    assert WELCOME in r.stdout, r.stdout + r.stderr
    assert "+OK Logging out" in r.stdout, r.stdout + r.stderr


# --------------------------------------------------------------------------- SMTP


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_smtp_curl_auth_and_send(mailgate, smtp_backend, certs, tmp_path, tls):
    gate = mailgate([service("smtp", "smtp", tls, smtp_backend.address)])
    scheme = "smtp" if tls == "starttls" else "smtps"
    subject = f"curl over {tls}"
    curl(f"{scheme}://127.0.0.1:{gate.port('smtp')}/client.test", certs,
         "--mail-from", "alice@example.org", "--mail-rcpt", "bob@example.org",
         "-T", str(mail_file(tmp_path, subject)))
    check_smtp_message(smtp_backend, subject)


def test_smtp_smtplib_starttls_login_send(mailgate, smtp_backend, certs):
    gate = mailgate([service("smtp", "smtp", "starttls", smtp_backend.address)])
    c = smtplib.SMTP("127.0.0.1", gate.port("smtp"), local_hostname="client.test", timeout=20)
    try:
        c.ehlo()
        assert c.has_extn("starttls") and not c.has_extn("auth"), c.esmtp_features
        c.starttls(context=verified_context(certs))
        c.ehlo()
        assert c.has_extn("auth") and not c.has_extn("starttls"), c.esmtp_features
        c.login(USER, PASSWORD)
        c.sendmail("alice@example.org", ["bob@example.org"],
                   "Subject: smtplib starttls\r\n\r\nHi, sent through tlsgate.\r\n")
        c.quit()
    finally:
        c.close()
    check_smtp_message(smtp_backend, "smtplib starttls")


def test_smtp_smtplib_implicit_login_send(mailgate, smtp_backend, certs):
    gate = mailgate([service("smtps", "smtp", "implicit", smtp_backend.address)])
    c = smtplib.SMTP_SSL("127.0.0.1", gate.port("smtps"), local_hostname="client.test",
                         context=verified_context(certs), timeout=20)
    try:
        c.ehlo()
        assert c.has_extn("auth") and not c.has_extn("starttls"), c.esmtp_features
        c.login(USER, PASSWORD)
        c.sendmail("alice@example.org", ["bob@example.org"],
                   "Subject: smtplib implicit\r\n\r\nHi, sent through tlsgate.\r\n")
        c.quit()
    finally:
        c.close()
    check_smtp_message(smtp_backend, "smtplib implicit")


def test_smtp_s_client_starttls_auth_send(mailgate, smtp_backend, certs):
    gate = mailgate([service("smtp", "smtp", "starttls", smtp_backend.address)])
    r = s_client_starttls(gate.port("smtp"), "smtp", certs,
                          "EHLO client.test\nAUTH PLAIN AGFsaWNlAGFsaWNlcGFzcw==\n"
                          "MAIL FROM:<alice@example.org>\nRCPT TO:<bob@example.org>\nDATA\n"
                          "Subject: s_client\n\nHi, sent through tlsgate.\n.\nQUIT\n")
    assert "235 " in r.stdout, r.stdout + r.stderr
    assert "221 " in r.stdout, r.stdout + r.stderr
    check_smtp_message(smtp_backend, "s_client")
