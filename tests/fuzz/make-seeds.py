#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/ (run from anywhere; idempotent).

Protocol seeds are scripts in the harness format (proto_harness.hpp): a settings byte, then
events. Here they are written readably as (kind, bytes) steps:
  C = client bytes, B = backend bytes, T = TLS established.
"""
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def settings(implicit=False, may=False, auth_plain_ok=False, max_line=0, max_errors=5):
    # max_line index: 0 = 8192, 1 = 512, 2 = 1024, 3 = 65536; max_errors 1..7 (0 = 1000000)
    return bytes([(1 if implicit else 0) | (2 if may else 0) | (4 if auth_plain_ok else 0)
                  | (max_line << 3) | (max_errors << 5)])


def script(s, steps):
    out = bytearray(s)
    for kind, data in steps:
        if isinstance(data, str):
            data = data.encode()
        if kind == "T":
            out.append(4)
            continue
        op_small, op_big = (0, 7) if kind == "C" else (1, None)
        while True:
            chunk = data[:255]
            data = data[255:]
            if op_big is not None and (len(chunk) == 255 and data):
                chunk = chunk + data[:65535 - 255]
                data = data[65535 - 255:]
                out.append(op_big)
                out += len(chunk).to_bytes(2, "big")
            else:
                out.append(op_small)
                out.append(len(chunk))
            out += chunk
            if not data:
                break
    return bytes(out)


IMAP_GREET = "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED LITERAL+ ID IDLE] ready\r\n"
IMAP = {
    "starttls_login": (settings(), [
        ("B", IMAP_GREET), ("C", "a CAPABILITY\r\n"),
        ("B", "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\na OK done\r\n"),
        ("C", "b STARTTLS\r\n"), ("T", ""), ("C", "c LOGIN user secret\r\n"),
        ("B", "c OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"), ("C", "d SELECT INBOX\r\n")]),
    "starttls_pipelined_injection": (settings(), [
        ("B", IMAP_GREET), ("C", "b STARTTLS\r\nc LOGIN user secret\r\n"),
        ("C", "d LOGIN x y\r\n"), ("T", ""), ("C", "e CAPABILITY\r\n"),
        ("B", "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\ne OK\r\n")]),
    "login_before_tls_refused": (settings(may=True), [
        ("B", IMAP_GREET), ("C", "a LOGIN user secret\r\n"),
        ("C", "b LOGIN {4+}\r\nuser {6+}\r\nsecret\r\n"), ("C", "c AUTHENTICATE PLAIN\r\n"),
        ("C", "d NOOP\r\n"), ("B", "d OK\r\n")]),
    "implicit_literals": (settings(implicit=True), [
        ("B", IMAP_GREET), ("C", "a LOGIN {4}\r\n"), ("B", "+ go\r\n"),
        ("C", "user {6}\r\n"), ("B", "+ go\r\n"), ("C", "secret\r\n"),
        ("B", "a OK done\r\n"), ("C", "b APPEND INBOX {11}\r\n"), ("B", "+ ok\r\n"),
        ("C", "hello\r\nbye\r\n"), ("B", "b OK appended\r\n"),
        ("C", "c FETCH 1 BODY[]\r\n"),
        ("B", "* 1 FETCH (BODY[] {12}\r\nhello\r\nworld)\r\nc OK\r\n")]),
    "authenticate_idle": (settings(implicit=True), [
        ("B", IMAP_GREET), ("C", "a AUTHENTICATE PLAIN\r\n"), ("B", "+ \r\n"),
        ("C", "dXNlcgB1c2VyAHNlY3JldA==\r\n"), ("B", "a OK\r\n"), ("C", "b IDLE\r\n"),
        ("B", "+ idling\r\n* 3 EXISTS\r\n"), ("C", "DONE\r\n"), ("B", "b OK\r\n")]),
    "preauth_id_literal": (settings(may=True), [
        ("B", "* PREAUTH ready\r\n"), ("C", "a ID (\"name\" {3}\r\n"), ("B", "+ go\r\n"),
        ("C", "abc)\r\n"), ("B", "* ID NIL\r\na OK\r\n")]),
}

POP3_GREET = "+OK POP3 ready <1.2@example>\r\n"
POP3_CAPA = "+OK\r\nTOP\r\nUSER\r\nSASL PLAIN\r\nSTLS\r\nPIPELINING\r\n.\r\n"
POP3 = {
    "capa_stls_user": (settings(), [
        ("B", POP3_GREET), ("C", "CAPA\r\n"), ("B", POP3_CAPA), ("C", "STLS\r\n"), ("T", ""),
        ("C", "USER bob\r\n"), ("B", "+OK\r\n"), ("C", "PASS secret\r\n"),
        ("B", "+OK logged in\r\n"), ("C", "STAT\r\n")]),
    "stls_injection": (settings(), [
        ("B", POP3_GREET), ("C", "STLS\r\nUSER bob\r\nPASS secret\r\n"), ("C", "USER x\r\n"),
        ("T", ""), ("C", "CAPA\r\n"), ("B", POP3_CAPA)]),
    "user_before_tls": (settings(may=True), [
        ("B", POP3_GREET), ("C", "USER bob\r\n"), ("C", "APOP bob 0123\r\n"),
        ("C", "AUTH PLAIN\r\n"), ("C", "STAT\r\n"), ("B", "-ERR not logged in\r\n")]),
    "implicit_retr": (settings(implicit=True), [
        ("B", POP3_GREET), ("C", "AUTH PLAIN\r\n"), ("B", "+ \r\n"),
        ("C", "dXNlcgB1c2VyAHNlY3JldA==\r\n"), ("B", "+OK\r\n"), ("C", "RETR 1\r\n"),
        ("B", "+OK\r\nSubject: x\r\n\r\n..dot\r\n.\r\n"), ("C", "QUIT\r\n")]),
    "list_uidl_top": (settings(implicit=True), [
        ("B", POP3_GREET), ("C", "USER bob\r\nPASS x\r\n"), ("B", "+OK\r\n-ERR bad\r\n"),
        ("C", "LIST\r\nUIDL\r\nTOP 1 0\r\n"),
        ("B", "+OK\r\n1 10\r\n.\r\n+OK\r\n1 abc\r\n.\r\n+OK\r\nSubject: y\r\n.\r\n")]),
}

SMTP_EHLO = ("250-mx.example\r\n250-PIPELINING\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n"
             "250-CHUNKING\r\n250 8BITMIME\r\n")
SMTP = {
    "ehlo_starttls_auth": (settings(), [
        ("B", "220 mx.example ESMTP\r\n"), ("C", "EHLO client\r\n"), ("B", SMTP_EHLO),
        ("C", "STARTTLS\r\n"), ("T", ""), ("B", "250 2.0.0 ok\r\n"), ("C", "EHLO client\r\n"),
        ("B", SMTP_EHLO), ("C", "AUTH PLAIN dXNlcgB1c2VyAHNlY3JldA==\r\n"),
        ("B", "235 2.7.0 ok\r\n")]),
    "starttls_injection": (settings(), [
        ("B", "220 mx.example ESMTP\r\n"), ("C", "EHLO client\r\n"), ("B", SMTP_EHLO),
        ("C", "STARTTLS\r\nAUTH PLAIN x\r\nMAIL FROM:<a@b>\r\n"), ("C", "AUTH LOGIN\r\n"),
        ("T", ""), ("B", "250 ok\r\n")]),
    "data_smuggling": (settings(may=True), [
        ("B", "220 mx.example ESMTP\r\n"), ("C", "EHLO client\r\nMAIL FROM:<a@b>\r\n"),
        ("B", SMTP_EHLO + "250 ok\r\n"), ("C", "RCPT TO:<c@d>\r\nDATA\r\n"),
        ("B", "250 ok\r\n354 go\r\n"),
        ("C", "Subject: x\r\n\r\nbody\n.\nMAIL FROM:<evil@x>\r\n..\r\n.\r\n"),
        ("B", "250 queued\r\n"), ("C", "QUIT\r\n"), ("B", "221 bye\r\n")]),
    "bdat_implicit": (settings(implicit=True), [
        ("B", "220 mx.example ESMTP\r\n"), ("C", "EHLO client\r\n"), ("B", SMTP_EHLO),
        ("C", "AUTH PLAIN\r\n"), ("B", "334 \r\n"), ("C", "dXNlcgB1c2VyAHNlY3JldA==\r\n"),
        ("B", "235 ok\r\n"), ("C", "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 5 LAST\r\nhello"),
        ("B", "250 ok\r\n250 ok\r\n250 ok\r\n")]),
    "auth_before_tls": (settings(may=True), [
        ("B", "220 mx.example ESMTP\r\n"), ("C", "EHLO client\r\nAUTH PLAIN x\r\nAUTH LOGIN\r\n"),
        ("B", SMTP_EHLO), ("C", "BDAT 3\r\nabcHELO x\r\n"), ("B", "250 ok\r\n")]),
}

# Client preludes (fuzz_client_prelude.cpp): a settings byte (protocol, "may"), then server
# bytes (S) and TLS established (T).
def prelude(protocol, may, steps):
    out = bytearray([{"imap": 0, "pop3": 1, "smtp": 2}[protocol] | (4 if may else 0)])
    for kind, data in steps:
        if kind == "T":
            out.append(2)
            continue
        data = data.encode()
        out.append(1)
        out += len(data).to_bytes(2, "big")
        out += data
    return bytes(out)


PRELUDES = {
    "imap_code": prelude("imap", False, [
        ("S", "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"),
        ("S", "A2 OK Begin TLS negotiation now.\r\n* OK injected\r\n"), ("T", "")]),
    "imap_capability": prelude("imap", False, [
        ("S", "* OK ready\r\n"), ("S", "* CAPABILITY IMAP4rev1 STARTTLS\r\nA1 OK done\r\n"),
        ("S", "A2 NO no TLS\r\n")]),
    "pop3": prelude("pop3", False, [
        ("S", "+OK ready <1.2@x>\r\n"), ("S", "+OK\r\nTOP\r\n..STLS\r\nSTLS\r\n.\r\n"),
        ("S", "+OK go\r\n"), ("T", "")]),
    "smtp": prelude("smtp", False, [
        ("S", "220-mx.example ESMTP\r\n220 ready\r\n"),
        ("S", "250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
        ("S", "220 go ahead\r\n"), ("T", "")]),
    "smtp_may": prelude("smtp", True, [
        ("S", "220 mx.example ESMTP\r\n"), ("S", "250-mx.example\r\n250 8BITMIME\r\nx")]),
}

ADDRESSES = ["\x00127.0.0.1:993", "\x00[::1]:143", "\x00mail.example.org:25",
             "\x00unix:/run/dovecot/imap.sock", "\x01localhost:0", "\x00[fe80::1%eth0]:993",
             "\x00host.:110", "\x00256.1.1.1:1", "\x00:99999"]
DURATIONS = ["10", "10s", "500ms", "30m", "12h", "1d", "9223372036854775807ms", "-1s", "5x"]


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    for target, seeds in (("imap", IMAP), ("pop3", POP3), ("smtp", SMTP)):
        for name, (s, steps) in seeds.items():
            write("fuzz_" + target, name, script(s, steps))
    for name, data in PRELUDES.items():
        write("fuzz_client_prelude", name, data)
    for i, a in enumerate(ADDRESSES):
        write("fuzz_address", "addr%d" % i, a)
    for i, dur in enumerate(DURATIONS):
        write("fuzz_duration", "dur%d" % i, dur)
    for f in sorted(os.listdir(os.path.join(ROOT, "conf"))):
        if f.endswith(".toml"):
            shutil.copy(os.path.join(ROOT, "conf", f), os.path.join(CORPUS, "fuzz_toml", f))
    shutil.copy(os.path.join(ROOT, "tests/data/config/minimal.toml"),
                os.path.join(CORPUS, "fuzz_toml", "minimal.toml"))


if __name__ == "__main__":
    os.makedirs(os.path.join(CORPUS, "fuzz_toml"), exist_ok=True)
    main()
