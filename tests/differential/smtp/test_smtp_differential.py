"""Differential test: tlsgate's SMTP server filter against a real aiosmtpd.

A filter in front of a daemon is only safe if it splits the client's byte stream into
commands and data exactly where the daemon does. Every generated client stream goes through
the filter (filter_probe: the real ServerFilter, no sockets); what the filter sends on goes to a
real aiosmtpd (Debian python3-aiosmtpd) running in this process over an in-memory transport,
and aiosmtpd's replies go back through the filter. There is no network and no clock: after
every step aiosmtpd runs until it waits for input again, so each verdict is exact.

aiosmtpd is the stock SMTP class with two additions: it records every line its command loop
reads (and which of them it dispatched to a command), and it implements BDAT (RFC 3030:
exactly <size> octets, consumed even when the command fails) and offers CHUNKING, so that BDAT
streams reach a daemon that does CHUNKING. AUTH PLAIN/LOGIN are offered in plaintext
(auth_require_tls=False), so a credential the filter let through before TLS would be visible.

For each stream:
  BYPASS   aiosmtpd executed a command line the filter never forwarded as a command (it
           relayed those bytes as message data, a BDAT chunk or a SASL response).
  DESYNC   the filter forwarded a command line that aiosmtpd read as data (or not at the
           start of a line): their ideas of the state differ, the first step to a bypass.
  POLICY   aiosmtpd executed, before TLS, AUTH (or took credentials), anything but
           EHLO/HELO/NOOP/RSET/QUIT under starttls_policy "encrypt", or XCLIENT/XFORWARD.

Streams: seeded, grammar based: every command with odd spellings (case, tabs, NUL, bare CR,
LF-only and CR-only ends, leading spaces, overlong lines at 512/1001/12,288), DATA bodies with
dots, bare CR and LF in every smuggling combination and command lines inside, BDAT with
leading zeros, huge sizes, LAST, after a failed MAIL, AUTH exchanges pipelined, cancelled and
refused, STARTTLS followed by pipelined commands, early talkers. Each stream is fed whole,
byte by byte, or in random pieces; aiosmtpd's replies are split at random too.

Environment: DIFF_BUDGET_SECONDS (default 30) for the random part, DIFF_SEED (default random,
printed), DIFF_PROBE (default build/tests/differential/filter_probe). Reproduce one stream:
DIFF_SEED=<seed> DIFF_ONLY=<index>.
"""

import asyncio
import functools
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

REPO = Path(__file__).resolve().parents[3]
PROBE = Path(os.environ.get("DIFF_PROBE",
                            REPO / "build" / "tests" / "differential" / "filter_probe"))
BUDGET = float(os.environ.get("DIFF_BUDGET_SECONDS", "30"))
ALLOWED_BEFORE_TLS_ENCRYPT = {"EHLO", "HELO", "NOOP", "RSET", "QUIT"}
USER, PASSWORD = b"alice", b"alicepass"


# --------------------------------------------------------------------------- the probe


class Probe:
    """filter_probe as a subprocess; one request, one answer."""

    def __init__(self):
        assert PROBE.is_file(), f"no filter_probe at {PROBE}: build the filter_probe target"
        self.p = subprocess.Popen([str(PROBE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.next_id = 0

    def _read_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.p.stdout.read(n - len(buf))
            assert chunk, "filter_probe ended"
            buf += chunk
        return buf

    def request(self, header, body=b""):
        self.p.stdin.write(header + b"\n" + body)
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        assert line.startswith(b"A "), f"bad probe answer {line!r}"
        _, _, close, start_tls, nb, nc, ncmd = line.split()
        to_backend = self._read_exact(int(nb))
        to_client = self._read_exact(int(nc))
        commands = []
        for _ in range(int(ncmd)):
            off, vlen, rest = self.p.stdout.readline().rstrip(b"\n").split(b" ", 2)
            assert len(rest) == int(vlen)
            commands.append((int(off), rest.decode("ascii", "replace")))
        return {"close": close == b"1", "start_tls": start_tls == b"1",
                "to_backend": to_backend, "to_client": to_client, "commands": commands}

    def new(self, options):
        self.next_id += 1
        self.request(b"N %d smtp,%s" % (self.next_id, options.encode()))
        return self.next_id

    def client(self, fid, data):
        return self.request(b"C %d %d" % (fid, len(data)), data)

    def backend(self, fid, data):
        return self.request(b"B %d %d" % (fid, len(data)), data)

    def tls(self, fid):
        return self.request(b"T %d" % fid)

    def forget(self, fid):
        self.request(b"D %d" % fid)

    def stop(self):
        self.p.stdin.close()
        assert self.p.wait(10) == 0, "filter_probe failed"


# --------------------------------------------------------------------------- aiosmtpd


class Transport(asyncio.Transport):
    """In-memory transport: aiosmtpd writes into `out`; close() ends the connection."""

    def __init__(self, loop):
        super().__init__()
        self.loop = loop
        self.out = bytearray()
        self.closed = False
        self.protocol = None

    def write(self, data):
        if not self.closed:
            self.out += data

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 25)}.get(
            name, default)

    def is_closing(self):
        return self.closed

    def close(self):
        if not self.closed:
            self.closed = True
            self.loop.call_soon(self.protocol.connection_lost, None)

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def can_write_eof(self):
        return False

    def abort(self):
        self.close()


class Recorder:
    """Wraps aiosmtpd's StreamReader and remembers where each line its command loop read
    (readuntil() with the default separator) started. Offsets come from the reader's own
    buffer (octets fed minus octets still buffered), so octets the reader drops on an
    overlong line (StreamReader.readline discards them) count as consumed, and as dropped."""

    def __init__(self, reader, record):
        self.r = reader
        self.record = record
        self.fed = 0
        self.overrun_start = None  # a command line longer than the reader's limit

    @property
    def consumed(self):
        return self.fed - len(self.r._buffer)

    async def readuntil(self, separator=b"\n"):
        start = self.consumed
        try:
            line = await self.r.readuntil(separator)
        except asyncio.LimitOverrunError:
            if separator == b"\n" and self.overrun_start is None:
                self.overrun_start = start
            raise
        if separator == b"\n":
            if self.overrun_start is not None:
                start, self.overrun_start = self.overrun_start, None
                self.record.overlong.add(start)
            self.record.command_lines.append(start)
            self.record.last_line = start
        return line

    async def _dropping(self, call):
        start = self.consumed
        try:
            return await call
        except ValueError:
            self.record.dropped.append((start, self.consumed))
            raise

    async def readline(self):
        return await self._dropping(self.r.readline())

    async def read(self, n=-1):
        return await self.r.read(n)

    async def readexactly(self, n):
        return await self.r.readexactly(n)

    def __getattr__(self, name):
        return getattr(self.r, name)


class Record:
    def __init__(self):
        self.command_lines = []  # offsets where aiosmtpd's command loop read a line
        self.executed = []       # (offset, verb) dispatched to a command method
        self.overlong = set()
        self.dropped = []        # (start, end): octets the reader threw away unread
        self.last_line = None
        self.auth_attempts = []  # (offset of the AUTH command, login)
        self.bdat_chunks = []


class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses[:-1] + ["250-CHUNKING"] + responses[-1:]

    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Message accepted"


class RecordingSMTP(SMTP):
    """Stock aiosmtpd plus a record of what it executed, and BDAT (RFC 3030)."""

    def __init__(self, record, **kw):
        self.record = record

        def authenticator(server, session, envelope, mechanism, auth_data):
            login = auth_data.login if isinstance(auth_data, LoginPassword) else None
            record.auth_attempts.append((record.last_line, login))
            ok = login == USER and auth_data.password == PASSWORD
            return AuthResult(success=ok)

        super().__init__(Handler(), hostname="backend.test", authenticator=authenticator,
                         auth_require_tls=False, auth_required=False, **kw)
        for name, method in list(self._smtp_methods.items()):
            self._smtp_methods[name] = self._recording(name, method)
        self._chunks = None

    def _recording(self, name, method):
        @functools.wraps(method)
        async def run(arg):
            self.record.executed.append((self.record.last_line, name))
            return await method(arg)
        return run

    def _client_connected_cb(self, reader, writer):
        super()._client_connected_cb(Recorder(reader, self.record), writer)

    async def smtp_BDAT(self, arg):
        """BDAT <size> [LAST]: the chunk is consumed whatever the reply (RFC 3030 2)."""
        words = (arg or "").split(" ")
        if not (1 <= len(words) <= 2 and words[0].isdigit() and words[0].isascii()
                and (len(words) == 1 or words[1].upper() == "LAST")):
            await self.push("501 5.5.4 Syntax: BDAT size [LAST]")
            return
        size = int(words[0])
        start = self._reader.consumed
        await self._reader.readexactly(size)
        self.record.bdat_chunks.append((start, size))
        if not self.session.host_name or self.envelope.mail_from is None:
            await self.push("503 5.5.1 Error: need MAIL command")
            return
        if not self.envelope.rcpt_tos:
            await self.push("554 5.5.1 Error: no valid recipients")
            return
        if len(words) == 2:
            self._set_post_data_state()
            await self.push("250 2.0.0 Message accepted")
        else:
            await self.push(f"250 2.0.0 {size} octets received")


class Daemon:
    """One aiosmtpd connection over the in-memory transport."""

    def __init__(self, loop):
        self.loop = loop
        self.record = Record()
        self.smtp = RecordingSMTP(self.record, loop=loop)
        self.transport = Transport(loop)
        self.transport.protocol = self.smtp
        self.smtp.connection_made(self.transport)

    def idle(self):
        task = self.smtp._handler_coroutine
        if task is None or task.done() or self.transport.closed:
            return True
        waiter = self.smtp._reader.r._waiter
        return waiter is not None and not waiter.done()

    async def settle(self):
        for _ in range(100000):
            await asyncio.sleep(0)
            if self.idle():
                # One more turn: connection_lost may be scheduled.
                await asyncio.sleep(0)
                return
        raise AssertionError("aiosmtpd never came back to waiting for input")

    async def feed(self, data):
        if self.transport.closed or not data:
            return
        self.smtp._reader.fed += len(data)
        self.smtp.data_received(data)
        await self.settle()

    def take_output(self):
        out = bytes(self.transport.out)
        self.transport.out.clear()
        return out

    async def close(self):
        if not self.transport.closed:
            self.transport.close()
        await asyncio.sleep(0)
        await asyncio.sleep(0)


# --------------------------------------------------------------------------- generator


def b64(data):
    import base64
    return base64.b64encode(data)


class Gen:
    EOLS = [b"\r\n"] * 12 + [b"\n", b"\r", b"\r\r\n", b"\n\r", b" \r\n"]

    def __init__(self, rnd):
        self.r = rnd

    def eol(self):
        return self.r.choice(self.EOLS)

    def case(self, verb):
        r = self.r.random()
        if r < 0.7:
            return verb
        if r < 0.85:
            return verb.lower()
        return bytes(c ^ 0x20 if self.r.random() < 0.5 and chr(c).isalpha() else c
                     for c in verb)

    def addr(self):
        return self.r.choice([b"<alice@example.org>", b"<>", b"<bob@example.net>",
                              b"alice@example.org", b"<a@b> SIZE=100", b"<x@y> BODY=8BITMIME"])

    def junk(self):
        return self.r.choice([b"\0", b"\t", b"\r", b" ", b"\xff", b".", b"\x1b", b"AUTH PLAIN",
                              b"MAIL FROM:<evil@x>", b"="])

    def sep(self):
        return self.r.choice([b" "] * 8 + [b"\t", b"  ", b"\0", b""])

    def body_line(self):
        r = self.r.random()
        if r < 0.25:
            return self.r.choice([b".", b"..", b". ", b".MAIL FROM:<e@x>", b"...", b""])
        if r < 0.45:
            return self.r.choice([b"MAIL FROM:<evil@x>", b"RCPT TO:<victim@y>", b"DATA",
                                  b"AUTH PLAIN " + b64(b"\0alice\0alicepass"), b"QUIT",
                                  b"STARTTLS", b"BDAT 5 LAST", b"RSET"])
        return self.r.choice([b"Subject: hi", b"hello world", b"x" * self.r.randint(1, 40),
                              b"x" * 1100, b"\xe9t\xe9", b"tab\there"])

    def data_body(self):
        out = b""
        for _ in range(self.r.randint(0, 6)):
            out += self.body_line() + self.eol()
        r = self.r.random()
        if r < 0.7:
            out += b".\r\n"
        elif r < 0.85:
            out += self.r.choice([b".\n", b".\r", b"\n.\n", b"\r.\r", b".\r\r\n"])
        return out

    def command(self):
        """One command (or exchange) as the client would send it."""
        r = self.r
        k = r.randrange(24)
        eol = self.eol()
        if k == 0:
            return self.case(b"EHLO") + self.sep() + b"client.test" + eol
        if k == 1:
            return self.case(b"HELO") + b" client.test" + eol
        if k in (2, 3):
            return self.case(b"MAIL") + self.sep() + b"FROM:" + self.addr() + eol
        if k in (4, 5):
            return self.case(b"RCPT") + self.sep() + b"TO:" + self.addr() + eol
        if k in (6, 7):
            return self.case(b"DATA") + r.choice([b"", b"", b" x"]) + eol + self.data_body()
        if k in (8, 9):
            size = r.choice([0, 1, 3, 5, 12, 30])
            spelled = r.choice([b"%d" % size, b"%d" % size, b"00%d" % size, b"+%d" % size,
                                b"99999999999999999999", b"-1", b"%d " % size, b"0x5"])
            last = r.choice([b"", b" LAST", b" last", b"  LAST", b" LAST x"])
            chunk = bytes(r.choice(b"AUTH PLAIN\r\nMAIL FROM:<e@x>\r\n.\r\n") for _ in range(size))
            return self.case(b"BDAT") + self.sep() + spelled + last + eol + chunk
        if k in (10, 11):
            mech = r.choice([b"PLAIN", b"LOGIN", b"plain", b"CRAM-MD5", b"X"])
            ir = r.choice([b"", b" " + b64(b"\0alice\0alicepass"), b" =", b" *",
                           b" " + b"A" * r.choice([600, 1100, 12270, 12300])])
            out = self.case(b"AUTH") + b" " + mech + ir + eol
            for _ in range(r.randint(0, 3)):
                out += r.choice([b64(b"alice"), b64(b"alicepass"), b"*", b"",
                                 b64(b"\0alice\0alicepass"), b"NOOP", b"MAIL FROM:<e@x>",
                                 b"A" * r.choice([10, 1100, 12290])]) + self.eol()
            return out
        if k == 12:
            return self.case(b"STARTTLS") + r.choice([b"", b"", b" x"]) + eol
        if k == 13:
            return self.case(r.choice([b"NOOP", b"RSET", b"VRFY alice", b"HELP", b"EXPN x",
                                       b"HELP MAIL"])) + eol
        if k == 14:
            return self.case(r.choice([b"XCLIENT ADDR=10.0.0.1", b"XFORWARD NAME=x",
                                       b"XCLIENT"])) + eol
        if k == 15:
            return r.choice([b"", b" ", b" NOOP", b"\0NOOP", b"FOO bar", b"N\0OP",
                             b"NOOP\rAUTH PLAIN x", b"\xffNOOP"]) + eol
        if k == 16:
            n = r.choice([505, 506, 507, 995, 1000, 1001, 2000])
            return self.case(r.choice([b"NOOP ", b"MAIL FROM:<", b"RCPT TO:<"])) + \
                b"x" * n + eol
        if k == 17:
            return self.case(b"QUIT") + eol
        if k in (18, 19):
            # A complete transaction, pipelined.
            return (b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n" +
                    self.case(b"DATA") + b"\r\n" + self.data_body())
        if k == 20:
            size = r.choice([0, 4, 9])
            chunk = bytes(r.choice(b"QUIT\r\n.") for _ in range(size))
            return (b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n"
                    b"BDAT %d LAST\r\n" % size + chunk)
        if k == 21:
            return self.junk() + b" " + self.case(b"NOOP") + eol
        if k == 22:
            return self.case(b"AUTH LOGIN") + b"\r\n" + b64(b"alice") + b"\r\n" + \
                b64(b"alicepass") + b"\r\n"
        return self.case(b"EHLO") + b" c" + eol + self.case(b"STARTTLS") + b"\r\n" + \
            self.case(b"AUTH PLAIN") + b" " + b64(b"\0alice\0alicepass") + b"\r\n"

    def stream(self):
        n = self.r.randint(1, 10)
        start = [b"EHLO client.test\r\n"] if self.r.random() < 0.8 else []
        return b"".join(start + [self.command() for _ in range(n)])

    def options(self):
        policy = self.r.choice(["encrypt", "may"])
        opts = [policy, self.r.choice(["hold", "reject"])]
        if self.r.random() < 0.2:
            opts.append("implicit")
        opts.append("errors=%d" % self.r.choice([5, 1000]))
        return ",".join(opts)

    def splits(self, data):
        r = self.r.random()
        if r < 0.3 or not data:
            return [data]
        if r < 0.45:
            return [data[i:i + 1] for i in range(len(data))]
        cuts = sorted(self.r.sample(range(1, len(data)), min(len(data) - 1,
                                                              self.r.randint(1, 8))))
        return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


# --------------------------------------------------------------------------- one stream


class Verdict(Exception):
    pass


async def run_stream(probe, loop, options, pieces, early, rnd):
    """Runs one stream; returns a list of problems (empty: agreement)."""
    fid = probe.new(options)
    daemon = Daemon(loop)
    to_backend = bytearray()
    commands = []          # (offset, verb) the filter forwarded as commands
    tls_at = 0 if "implicit" in options else None
    closed = False
    encrypt = "encrypt" in options

    def absorb(a):
        nonlocal closed
        for off, verb in a["commands"]:
            commands.append((len(to_backend) + off, verb))
        to_backend.extend(a["to_backend"])
        if a["close"]:
            closed = True
        return a

    async def pump(a):
        """Relays to_backend to aiosmtpd and its replies back until both are quiet."""
        nonlocal tls_at
        while True:
            pending = a["to_backend"]
            if a["start_tls"] and not closed:
                a = absorb(probe.tls(fid))
                if tls_at is None:
                    tls_at = len(to_backend) - len(a["to_backend"])
                pending += a["to_backend"]
            await daemon.feed(pending)
            out = daemon.take_output()
            if not out or closed:
                return
            a = {"to_backend": b"", "start_tls": False}
            for part in splits_of(out, rnd):
                b = absorb(probe.backend(fid, part))
                a["to_backend"] += b["to_backend"]
                a["start_tls"] = a["start_tls"] or b["start_tls"]
                if closed:
                    break

    await daemon.settle()
    greeting = daemon.take_output()
    if early and pieces:
        await pump(absorb(probe.client(fid, pieces[0])))
        pieces = pieces[1:]
    if not closed:
        for part in splits_of(greeting, rnd):
            await pump(absorb(probe.backend(fid, part)))
            if closed:
                break
    for piece in pieces:
        if closed or daemon.transport.closed:
            break
        await pump(absorb(probe.client(fid, piece)))
    await daemon.close()
    probe.forget(fid)

    problems = []
    rec = daemon.record
    forwarded = dict(commands)
    lines = set(rec.command_lines)
    for off, verb in rec.executed:
        if forwarded.get(off) != verb:
            problems.append(f"BYPASS: aiosmtpd executed {verb} at offset {off}, the filter "
                            f"forwarded {forwarded.get(off, 'no command there')}")
        before_tls = tls_at is None or off < tls_at
        if before_tls and verb == "AUTH":
            problems.append(f"POLICY: AUTH executed before TLS at offset {off}")
        if before_tls and encrypt and verb not in ALLOWED_BEFORE_TLS_ENCRYPT:
            problems.append(f"POLICY: {verb} executed before TLS under encrypt at {off}")
        if verb in ("XCLIENT", "XFORWARD"):
            problems.append(f"POLICY: {verb} executed")
    for off, login in rec.auth_attempts:
        if tls_at is None or off is None or off < tls_at:
            problems.append(f"POLICY: credentials for {login!r} taken before TLS")
    consumed = daemon.smtp._reader.consumed
    for off, verb in commands:
        if any(a <= off < b for a, b in rec.dropped):
            continue
        if off < consumed and off not in lines:
            problems.append(f"DESYNC: the filter forwarded {verb} at offset {off}; aiosmtpd "
                            "read it as data")
    return problems, bytes(to_backend), rec


def splits_of(data, rnd):
    if len(data) < 2 or rnd.random() < 0.6:
        return [data]
    cut = rnd.randrange(1, len(data))
    return [data[:cut], data[cut:]]


# --------------------------------------------------------------------------- fixed cases

FIXED = [
    # (options, client stream)
    ("may,hold", b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\n.\nMAIL FROM:<e@x>"
                 b"\r\n.\r\nQUIT\r\n"),
    ("may,hold", b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r.\rRCPT TO:<v@y>"
                 b"\r\n.\r\nNOOP\r\n"),
    ("may,hold", b"EHLO c\r\nAUTH LOGIN\r\nYWxpY2U=\r\nYWxpY2VwYXNz\r\nNOOP\r\n"),
    ("encrypt,hold", b"EHLO c\r\nSTARTTLS\r\nAUTH PLAIN AGFsaWNlAGFsaWNlcGFzcw==\r\n"),
    ("implicit,encrypt,hold", b"EHLO c\r\nAUTH PLAIN\r\n*\r\nNOOP\r\n"),
    ("implicit,encrypt,hold", b"EHLO c\r\nAUTH LOGIN\r\nYWxpY2U=\r\n*\r\nMAIL FROM:<a@b>\r\n"),
    ("implicit,encrypt,hold", b"EHLO c\r\nAUTH PLAIN " + b"A" * 1100 + b"\r\nNOOP\r\n"),
    ("implicit,encrypt,hold", b"EHLO c\r\nBDAT 5 LAST\r\nQUIT\r\nNOOP\r\n"),
    ("implicit,encrypt,hold", b"EHLO c\r\nMAIL FROM:<a@b>\r\nBDAT 007\r\nNOOP\r\nRCPT\r\n"
                              b"BDAT 0 LAST\r\nNOOP\r\n"),
    ("implicit,encrypt,hold", b"EHLO c\r\nBDAT 99999999999999999999\r\nAUTH PLAIN x\r\n"),
    ("implicit,may,hold", b"EHLO c\r\nXCLIENT ADDR=10.0.0.1\r\nXFORWARD NAME=x\r\nNOOP\r\n"),
    ("may,reject", b"EHLO early\r\n"),
    ("may,hold", b"EHLO c\r\nNOOP\rAUTH PLAIN x\r\nNOOP\r\r\n"),
]


@pytest.fixture(scope="module")
def probe():
    p = Probe()
    yield p
    p.stop()


def check(probe, options, data, pieces, early, rnd, label):
    loop = asyncio.new_event_loop()
    try:
        problems, to_backend, rec = loop.run_until_complete(
            run_stream(probe, loop, options, pieces, early, rnd))
    finally:
        loop.close()
    assert not problems, (f"{label} options={options} early={early}\nclient={data!r}\n"
                          f"pieces={[len(p) for p in pieces]}\nto_backend={to_backend!r}\n"
                          f"aiosmtpd executed={rec.executed}\n" + "\n".join(problems))


@pytest.mark.parametrize("index", range(len(FIXED)))
def test_fixed_streams_whole_and_byte_by_byte(probe, index):
    options, data = FIXED[index]
    rnd = random.Random(index)
    early = "reject" in options
    check(probe, options, data, [data], early, rnd, f"fixed[{index}] whole")
    check(probe, options, data, [data[i:i + 1] for i in range(len(data))], early, rnd,
          f"fixed[{index}] byte by byte")


def test_generated_streams(probe):
    seed = int(os.environ.get("DIFF_SEED", random.SystemRandom().randrange(1 << 32)))
    only = os.environ.get("DIFF_ONLY")
    print(f"\ndifferential-smtp: DIFF_SEED={seed} budget {BUDGET:.0f} s")
    start = time.monotonic()
    count = 0
    index = 0
    while True:
        if only is not None:
            index = int(only)
        elif time.monotonic() - start > BUDGET:
            break
        rnd = random.Random(f"{seed}:{index}")
        gen = Gen(rnd)
        options = gen.options()
        data = gen.stream()
        early = rnd.random() < 0.1
        check(probe, options, data, gen.splits(data), early, rnd,
              f"DIFF_SEED={seed} DIFF_ONLY={index}")
        count += 1
        index += 1
        if only is not None:
            break
    elapsed = time.monotonic() - start
    print(f"differential-smtp: {count} streams in {elapsed:.1f} s "
          f"({count / max(elapsed, 1e-9):.0f} streams/s), no disagreement")
