"""Hostile input from an on-path attacker or a client that does not play by the rules, against
the real binary in front of a real plaintext Dovecot: the IMAP literal desync that let LOGIN
reach Dovecot before TLS, the session fixation built on it, a PREAUTH backend under
"encrypt", and a client that pipelines commands without ever reading the replies."""

import os
import select
import socket
import time

from mail_support import PASSWORD, USER, LineClient
from support import client_context
from test_mail_policy import assert_clean_eof, service


def test_imap_brace_glued_to_an_atom_is_no_literal_and_login_never_reaches_dovecot(
        mailgate, dovecot, tap):
    # Dovecot reads `x{N+}` as a bad atom and the next N octets as commands; the filter used to
    # relay them as literal data, and Dovecot executed the LOGIN in plaintext.
    t = tap(dovecot.imap)
    gate = mailgate([service("imap", "imap", "starttls", t.address)])
    for glued in ("x", "NIL", "~x", '"q"', "(x)"):
        login = f"b LOGIN {USER} {PASSWORD}\r\n"
        c = LineClient(gate.address("imap"))
        assert c.line().startswith("* OK")
        c.send(f"a NOOP {glued}{{{len(login)}+}}\r\n{login}c SELECT INBOX\r\n")
        rest = assert_clean_eof(c)
        assert "* BYE" in rest, rest
        assert "Logged in" not in rest and "c OK" not in rest, rest
        c.close()
    assert b"LOGIN" not in t.sent() and b"SELECT" not in t.sent(), t.sent()


def test_imap_session_fixation_through_a_literal_desync_fails(mailgate, dovecot, tap):
    # The attacker prepends a desync line and its own LOGIN to the victim's plaintext; after
    # the victim's STARTTLS the session must not be logged in as anyone.
    t = tap(dovecot.imap)
    gate = mailgate([service("imap", "imap", "starttls", t.address)])
    c = LineClient(gate.address("imap"))
    assert c.line().startswith("* OK")
    attack = "m2 LOGIN bob bobpass\r\n"
    c.send(f"m1 NOOP x{{{len(attack)}+}}\r\n{attack}v1 STARTTLS\r\n")
    rest = assert_clean_eof(c)
    assert "v1 OK" not in rest, rest
    assert b"LOGIN" not in t.sent(), t.sent()


def test_imap_literal_plus_reaches_dovecot_after_its_continuation(mailgate, dovecot):
    # LITERAL+ still works through the filter: it goes to Dovecot as a synchronizing literal,
    # and the client, which expects no "+", sees none.
    gate = mailgate([service("imap", "imap", "starttls", dovecot.imap)])
    c = LineClient(gate.address("imap"))
    assert c.line().startswith("* OK")
    assert c.imap("s", "STARTTLS")[-1].startswith("s OK")
    c.starttls(client_context())
    c.send(f"a LOGIN {{{len(USER)}+}}\r\n{USER} {{{len(PASSWORD)}+}}\r\n{PASSWORD}\r\n")
    lines = c.until(lambda l: l.startswith("a "))
    assert lines[-1].startswith("a OK"), lines
    assert not any(l.startswith("+") for l in lines), lines
    assert c.imap("b", "SELECT INBOX")[-1].startswith("b OK")
    c.close()


def test_imap_preauth_backend_before_tls_under_encrypt_is_refused(mailgate, backend):
    def preauth(conn, _):
        conn.sendall(b"* PREAUTH [CAPABILITY IMAP4rev1] Logged in as alice\r\n")
        conn.recv(1024)  # until tlsgate closes

    b = backend(preauth)
    gate = mailgate([service("imap", "imap", "starttls", b.address)])
    c = LineClient(gate.address("imap"))
    rest = assert_clean_eof(c)
    assert "PREAUTH" not in rest and rest.startswith("* BYE"), rest
    gate.wait_for_log(r"PREAUTH before TLS")


def _flood_without_reading(addr, line_of, limit_bytes, stall_seconds=3.0):
    """Sends pipelined commands as fast as the socket takes them and never reads; stops when
    `limit_bytes` went out or the socket took nothing for `stall_seconds`. Returns (socket,
    bytes sent)."""
    s = socket.create_connection(addr)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    sent = 0
    i = 0
    pending = b""
    last_progress = time.monotonic()
    while sent < limit_bytes and time.monotonic() - last_progress < stall_seconds:
        if not pending:
            pending = b"".join(line_of(i + k) for k in range(512))
            i += 512
        _, writable, _ = select.select([], [s], [], 0.2)
        if not writable:
            continue
        try:
            n = s.send(pending)
        except BlockingIOError:
            continue
        pending = pending[n:]
        sent += n
        last_progress = time.monotonic()
    return s, sent


def test_pipelined_commands_without_reading_keep_memory_bounded(mailgate, dovecot, monkeypatch):
    # A client that pipelines NOOPs and never reads used to grow the proxy ~15x what it sent
    # (one bookkeeping slot per command, the watermarks only counted bytes). Now the filter
    # stops the client's reads once kMaxPendingCommands replies are owed.
    # Under AddressSanitizer, freed memory is held in a quarantine (256 MB by default), so RSS
    # would count every allocation ever freed: without it, RSS is live memory again. A
    # Release build ignores the variable.
    asan = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (asan + ":" if asan else "") +
                       "quarantine_size_mb=0:thread_local_quarantine_size_kb=0")
    gate = mailgate([service("imap", "imap", "starttls", dovecot.imap)])
    before = gate.rss_kib()
    flood, sent = _flood_without_reading(gate.address("imap"),
                                         lambda i: b"t%d NOOP\r\n" % i, 48 << 20)
    grown_kib = gate.rss_kib() - before
    # Whatever the kernel buffers hold stays in the kernel; tlsgate keeps its bounded budget.
    assert sent < 16 << 20, f"tlsgate read {sent} bytes of commands nobody reads replies to"
    assert grown_kib < 16 * 1024, f"RSS grew {grown_kib} KiB for {sent} bytes sent"
    # Another client on the same worker is served meanwhile.
    c = LineClient(gate.address("imap"))
    assert c.line().startswith("* OK")
    assert c.imap("a", "CAPABILITY")[-1].startswith("a OK")
    c.close()
    flood.close()
