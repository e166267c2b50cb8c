"""Differential test: tlsgate's POP3 server filter against a real plaintext Dovecot pop3-login.

A filter in front of a daemon is only safe if it splits the client's byte stream into
commands exactly where the daemon does. Every client stream goes through the filter
(filter_probe: the real ServerFilter, no sockets) and what the filter sends on goes straight to
a real Dovecot 2.3 (tests/tools/legacy-dovecot.sh, plaintext); Dovecot's replies go back
through the filter. When the filter accepts STLS, the test reports the handshake done (there
is no TLS here: behind tlsgate the backend leg is plaintext anyway) and the stream goes on
"under TLS", where USER/PASS/AUTH reach Dovecot and SASL exchanges run.

How the two are compared. POP3 has no tags: replies are attributed by order. Dovecot answers
every command it executes with exactly one status line ("+OK"/"-ERR"; a multi-line body
follows some "+OK"s and ends with "."; an AUTH exchange's challenges are "+ " lines, not
status lines), in order. The probe reports every command line the filter forwarded as a
command (Actions::commands). So Dovecot's i-th status line answers the filter's i-th
forwarded command:
  BYPASS     Dovecot sent more status lines than the filter forwarded commands: it executed
             bytes the filter relayed as data (a SASL response).
  DESYNC     a status line that cannot answer the command in its place (QUIT's "Logging out"
             for another verb, a CAPA list for a verb that has none, ...): the two split the
             stream differently.
  UNANSWERED Dovecot closed, or stayed open after the drain, with forwarded commands that got
             no status line, and it did not say why (a QUIT or too many bad commands).
  STUCK      the filter, still open, never let the sentinel through.
  POLICY     before TLS: USER/PASS/APOP/AUTH executed, anything but CAPA/NOOP/QUIT/STLS
             under starttls_policy=encrypt, or Dovecot logged a user in.
Comparison ends at "+OK Logged in." (after TLS): the filter then steps aside and relays as
is.

Every stream ends with a sentinel QUIT: Dovecot answers it and closes, so Dovecot's end of
file says that every reply to the stream has arrived; no quiet-period guess decides a
verdict. When the filter still holds the sentinel a moment later (inside a SASL exchange:
the client answers a "+ " line), a drain "*" (cancels an exchange; a refused line otherwise)
and another QUIT follow. When the filter closed, the test half-closes the connection to
Dovecot, which answers what it has read and closes.

Dovecot facts this relies on (2.3.19, probed): pop3-login ends lines at LF (CR before it
dropped), a bare CR is an ordinary octet; NOOP, STAT, LIST, ... are unknown commands before
login ("-ERR Unknown command."), after the third bad command in a row (a good one resets
the count) it adds "-ERR Too many invalid bad commands." and closes, unasked (with client bytes unread the close is a reset,
which may take its last lines with it); AUTH
continuation "*" is answered "-ERR Authentication aborted by client."; lines over about 1 KB
are answered "-ERR Input buffer full, aborting" and the connection closed; a half-closed
connection gets answers to every complete line before the close, except while a login is in
flight (it then closes when the attempt ends, the lines after it unanswered). Failed logins are slowed by
auth_failure_delay (set to 0 here) and by a per-IP penalty (2 to 15 s): every stream
connects from its own 127.x.y.z address.

Generated streams: seeded; verbs USER, PASS, APOP, AUTH (PLAIN with and without initial
response, LOGIN, none, unknown mechanism), SASL responses ("*", "=", base64, garbage), CAPA,
STLS, QUIT, NOOP, STAT, LIST, RETR, TOP, UIDL, RSET, XCLIENT, unknown verbs; lowercase and mixed
case, arguments with spaces and tabs, lines around the filter's 255-octet limit and beyond,
bare LF, bare CR, CRCRLF, NUL and 8-bit octets, empty lines, pipelining; some streams go on
after STLS. Delivered whole, byte by byte or in random pieces.

Environment: DIFF_BUDGET_SECONDS (default 30) for the random part, DIFF_SEED (default: random,
printed), DIFF_CONCURRENCY (default 16), DIFF_PROBE or --probe for the filter_probe binary.
Reproduce one stream with DIFF_SEED=<seed> DIFF_ONLY=<index>.
"""

import asyncio
import base64
import random
import re
from dataclasses import dataclass, field

import pytest

from diff_support import (Actions, fail_report, finish_connection, read_daemon, run_all,
                          run_generated)
from diff_support import wait_for as diff_wait_for

ALLOWED_BEFORE_TLS = {"CAPA", "NOOP", "QUIT", "STLS"}
AUTH_VERBS = {"USER", "PASS", "APOP", "AUTH"}
LOGIN_VERBS = {"PASS", "APOP", "AUTH"}
# Multi-line answers (a "+OK" then lines up to "."): CAPA, RETR, TOP, LIST/UIDL without an
# argument, AUTH without a mechanism.
MULTI_VERBS = {"CAPA", "RETR", "TOP", "LIST", "UIDL", "AUTH"}
SENTINEL = b"QUIT\r\n"
DRAIN = b"*\r\nQUIT\r\n"
# Upper bound for Dovecot to answer what was sent (it answers in milliseconds; this only
# bounds a run that found a real disagreement, never decides a verdict on its own).
REPLY_WAIT = 10.0
# How long the sentinel may take to come out of the filter before the drain is sent (it is
# held only inside a SASL exchange; a drain sent needlessly changes no verdict).
HOLD_WAIT = 0.3
# Dovecot closes the connection after these: QUIT's answer, and unsolicited notices (no
# command's answer) when it gives up on a client.
QUIT_OK = b"+OK Logging out"
GIVING_UP = (b"-ERR Too many invalid bad commands", b"-ERR Input buffer full")
# One long-lived login process serves many connections; failed logins are not delayed (the
# per-IP penalty is avoided by connecting from many addresses).
DOVECOT_EXTRA = """
auth_failure_delay = 0
service pop3-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 1000
}
"""


def b64(s):
    return base64.b64encode(s)


PLAIN_OK = b64(b"\0alice\0alicepass")
PLAIN_BAD = b64(b"\0alice\0wrong")


# --------------------------------------------------------------------------- one stream


@dataclass
class Stream:
    chunks: list          # client bytes, in the pieces fed to the filter
    policy: str = "encrypt"
    label: str = ""
    max_errors: int = None  # None: the filter's default (5)
    xclient: bool = False
    # Client bytes sent once the filter accepted STLS and TLS is up (None: no STLS planned).
    post: list = None

    @property
    def data(self):
        return b"".join(self.chunks) + (b" <TLS> " + b"".join(self.post) if self.post else b"")

    def options(self):
        o = "pop3," + self.policy
        if self.max_errors:
            o += f",errors={self.max_errors}"
        if self.xclient:
            o += ",xclient"
        return o


@dataclass
class Reply:
    status: bytes              # the status line, without CRLF
    body: bytes = None         # first line of a multi-line body, if one followed


@dataclass
class Outcome:
    stream: Stream
    forwarded: list = field(default_factory=list)   # verbs, in order
    tls_at: int = None       # len(forwarded) when TLS came up
    replies: list = field(default_factory=list)     # Reply, in order
    gave_up: bytes = None    # Dovecot's unsolicited closing notice
    reset: bool = False      # Dovecot closed with our bytes unread: its last lines may be lost
    from_dovecot: bytearray = field(default_factory=bytearray)
    to_dovecot: bytearray = field(default_factory=bytearray)
    to_client: bytearray = field(default_factory=bytearray)
    dovecot_closed: bool = False
    filter_closed: bool = False
    ending: str = ""
    problems: list = field(default_factory=list)

    def report(self):
        def show(b):
            b = re.sub(rb"(.)\1{39,}", lambda m: b"<%d*%s>" % (len(m.group(0)), m.group(1)),
                       bytes(b), flags=re.S)
            b = re.sub(rb"\+OK\r\nCAPA\r\n(?:[^.][^\r]*\r\n)*\.\r\n", b"+OK <capa list>\r\n", b)
            return repr(b) if len(b) <= 3000 else repr(b[:1500]) + " ... " + repr(b[-1500:])

        s = self.stream
        return "\n".join([
            f"stream [{s.label}] options={s.options()}",
            f"  client bytes : {show(b''.join(s.chunks))}",
            f"  after TLS    : {show(b''.join(s.post)) if s.post is not None else None}",
            f"  chunks       : {len(s.chunks)} {[len(c) for c in s.chunks][:40]}",
            f"  problems     : {self.problems}",
            f"  filter forwarded commands : {self.forwarded} (TLS up after {self.tls_at})",
            f"  Dovecot status lines      : {[r.status for r in self.replies]}",
            f"  ending       : {self.ending}; filter close={self.filter_closed}; "
            f"dovecot closed={self.dovecot_closed}",
            f"  sent to Dovecot    : {show(self.to_dovecot)}",
            f"  Dovecot sent       : {show(self.from_dovecot)}",
            f"  filter to client   : {show(self.to_client)}",
        ])


def parse_replies(o: Outcome, line: bytes):
    """One line from Dovecot (CRLF stripped) into o.replies."""
    if line.startswith(b"+OK") or line.startswith(b"-ERR"):
        if line.startswith(GIVING_UP):
            o.gave_up = line
            return
        o.replies.append(Reply(line))
    elif line.startswith(b"+"):
        return  # a SASL challenge: the exchange goes on, no status yet
    elif o.replies and o.replies[-1].body is None and line != b".":
        o.replies[-1].body = line


async def run_stream(addr, probe, sid, stream: Stream, source_ip) -> Outcome:
    o = Outcome(stream)
    reader, writer = await asyncio.open_connection(*addr, local_addr=(source_ip, 0))
    lock = asyncio.Lock()        # one probe call + its write to Dovecot at a time
    changed = asyncio.Event()
    greeted = asyncio.Event()
    state = {"start_tls": False}
    await probe.call("N", sid, arg=stream.options())

    def apply(a: Actions):
        for _, verb in a.commands:
            o.forwarded.append(verb.upper())
        o.to_client += a.to_client
        if a.close:
            o.filter_closed = True
        if a.to_backend and not o.dovecot_closed:
            o.to_dovecot += a.to_backend
            writer.write(a.to_backend)

    async def send(kind, data):
        async with lock:
            a = await probe.call(kind, sid, body=data)
            apply(a)
            if a.start_tls:
                # The client's handshake, done at once: what it sends from now on is "under
                # TLS" for the filter.
                state["start_tls"] = True
                o.tls_at = len(o.forwarded)
                apply(await probe.call("T", sid))
        try:
            await writer.drain()
        except ConnectionError:
            o.dovecot_closed = True
        changed.set()

    def on_line(line):
        if greeted.is_set():
            parse_replies(o, line.rstrip(b"\r"))
        else:
            greeted.set()  # the greeting answers no command

    async def after(data):
        o.from_dovecot += data
        if not o.filter_closed:
            await send("B", data)
        changed.set()

    async def read_dovecot():
        o.reset = await read_daemon(reader, on_line, after)
        o.dovecot_closed = True
        greeted.set()
        changed.set()

    def wait_for(pred, timeout):
        return diff_wait_for(changed, pred, timeout)

    def stopped():
        return o.filter_closed or o.dovecot_closed

    reader_task = asyncio.ensure_future(read_dovecot())
    try:
        await wait_for(greeted.is_set, REPLY_WAIT)
        for chunk in stream.chunks:
            if stopped():
                break
            await send("C", chunk)
        if stream.post is not None:
            # The client waits for STLS's answer, which comes once Dovecot has answered every
            # command before it (or never, when the filter refused STLS).
            await wait_for(lambda: stopped() or state["start_tls"] or
                           len(o.replies) >= len(o.forwarded), REPLY_WAIT)
            for chunk in stream.post:
                if stopped():
                    break
                await send("C", chunk)
        if not stopped():
            quits = o.forwarded.count("QUIT")
            await send("C", SENTINEL)
            if not await wait_for(lambda: stopped() or o.forwarded.count("QUIT") > quits,
                                  HOLD_WAIT):
                o.ending = "drain"
                await send("C", DRAIN)
        # Either Dovecot answers the sentinel and closes, or the filter closes (perhaps only
        # now, on lines it held until Dovecot's answer to a login).
        await wait_for(stopped, REPLY_WAIT)
        if o.filter_closed and not o.dovecot_closed:
            # Dovecot answers everything it has read, then closes.
            o.ending = o.ending + "+eof" if o.ending else "eof"
            try:
                writer.write_eof()
            except OSError:
                # Dovecot reset the connection before our reader saw it (it closed with input
                # unread, e.g. after "Too many invalid bad commands"): shutdown() then finds
                # no connection (ENOTCONN). The reader sees the end next.
                pass
        await wait_for(lambda: o.dovecot_closed, REPLY_WAIT)
        if not o.dovecot_closed:
            o.ending = o.ending + "+stuck" if o.ending else "stuck"
            if not o.filter_closed and not o.forwarded[-1:] == ["QUIT"]:
                o.problems.append(f"STUCK: after {REPLY_WAIT}s the filter had not let the "
                                  f"sentinel QUIT through, and is still open")
        o.ending = o.ending or "quit"
    finally:
        await finish_connection(writer, reader_task, probe, sid)
    judge(o)
    return o


def judge(o: Outcome):
    fwd = o.forwarded
    tls_at = o.tls_at if o.tls_at is not None else len(fwd)
    answered = 0
    logged_in = False
    for i, r in enumerate(o.replies):
        if i >= len(fwd):
            o.problems.append(f"BYPASS: Dovecot's status line #{i + 1} {r.status!r} answers a "
                              f"command the filter never forwarded as one (it forwarded "
                              f"{len(fwd)})")
            break
        verb = fwd[i]
        closing_quit = r.status.startswith(QUIT_OK)
        if closing_quit != (verb == "QUIT"):
            o.problems.append(f"DESYNC: Dovecot's status line #{i + 1} {r.status!r} answers "
                              f"the filter's command #{i + 1} {verb}")
            break
        if r.body is not None and verb not in MULTI_VERBS:
            o.problems.append(f"DESYNC: Dovecot answered the filter's command #{i + 1} {verb} "
                              f"with a multi-line reply ({r.body!r} ...)")
            break
        if verb == "CAPA" and r.status.startswith(b"+OK") and r.body != b"CAPA":
            o.problems.append(f"DESYNC: the filter's command #{i + 1} CAPA got {r.status!r} "
                              f"without a capability list")
            break
        answered = i + 1
        if r.status.startswith(b"+OK Logged in"):
            logged_in = True
            if i < tls_at:
                o.problems.append(f"POLICY: Dovecot logged a user in before TLS ({verb})")
            break  # the filter relays as is from here on
    for i, verb in enumerate(fwd[:min(answered, tls_at)]):
        if verb in AUTH_VERBS:
            o.problems.append(f"POLICY: {verb} (command #{i + 1}) reached Dovecot before TLS")
        elif o.stream.policy == "encrypt" and verb not in ALLOWED_BEFORE_TLS:
            o.problems.append(f"POLICY: {verb} (command #{i + 1}) reached Dovecot before TLS "
                              f"under encrypt")
    if o.problems or logged_in or answered >= len(fwd):
        return
    # Fewer answers than forwarded commands: only a Dovecot that stopped reading explains it.
    last = o.replies[-1].status if o.replies else b""
    if o.dovecot_closed and (last.startswith(QUIT_OK) or o.gave_up or o.reset):
        return
    # Half-closed (the filter had closed) while a login was in flight: Dovecot disconnects
    # when the attempt ends, without answering the lines it had read after it.
    logins = LOGIN_VERBS & set(fwd[max(0, answered - 1):answered + 1])
    if o.dovecot_closed and "eof" in o.ending and logins:
        return
    o.problems.append(f"UNANSWERED: Dovecot answered {answered} of the {len(fwd)} commands "
                      f"the filter forwarded (closed={o.dovecot_closed}, last {last!r})")


# --------------------------------------------------------------------------- generator


# (verb line without terminator, weight); {PLAIN_OK} etc. are SASL payloads.
PRE_VERBS = [
    (b"CAPA", 8), (b"NOOP", 5), (b"QUIT", 0.5), (b"STLS", 0.5), (b"USER alice", 4),
    (b"PASS alicepass", 4), (b"APOP alice 0123456789abcdef0123456789abcdef", 1),
    (b"AUTH PLAIN " + PLAIN_OK, 3), (b"AUTH PLAIN", 3), (b"AUTH", 1), (b"AUTH LOGIN", 1),
    (PLAIN_OK, 3), (b"*", 1), (b"=", 1), (b"STAT", 2), (b"LIST", 2), (b"LIST 1", 1),
    (b"RETR 1", 2), (b"TOP 1 0", 1), (b"UIDL", 1), (b"UIDL 1", 1), (b"RSET", 1),
    (b"XCLIENT ADDR=192.0.2.1", 1), (b"FOO", 1), (b"X-UNKNOWN bar", 1), (b"CAPA x y", 1),
]
# After TLS: logging in (well and badly), SASL exchanges, then transaction commands.
POST_SCRIPTS = [
    [b"USER alice", b"PASS alicepass"],
    [b"USER alice", b"PASS wrong", b"USER alice", b"PASS alicepass"],
    [b"AUTH PLAIN " + PLAIN_OK],
    [b"AUTH PLAIN", PLAIN_OK],
    [b"AUTH PLAIN", b"*"],
    [b"AUTH PLAIN", b"="],
    [b"AUTH PLAIN", PLAIN_BAD],
    [b"AUTH PLAIN " + PLAIN_BAD],
    [b"AUTH PLAIN ="],
    [b"AUTH LOGIN", b64(b"alice"), b64(b"alicepass")],
    [b"AUTH LOGIN " + b64(b"alice"), b64(b"alicepass")],
    [b"AUTH LOGIN", b64(b"alice"), b"*"],
    [b"AUTH LOGIN", b"!!notbase64"],
    [b"AUTH", b"AUTH PLAIN " + PLAIN_OK],
    [b"AUTH FOO", PLAIN_OK],
    [b"AUTH  PLAIN", PLAIN_OK],
    [b"AUTH PLAIN " + PLAIN_OK + b" extra"],
    [b"CAPA", b"APOP alice 0123456789abcdef0123456789abcdef", b"USER alice"],
    [b"STLS", b"XCLIENT ADDR=192.0.2.1", b"NOOP"],
]
TRANSACTION = [b"STAT", b"LIST", b"LIST 1", b"LIST ", b"LIST 2", b"RETR 1", b"RETR 9",
               b"TOP 1 0", b"TOP 1", b"UIDL", b"UIDL 1", b"UIDL ", b"NOOP", b"RSET", b"CAPA",
               b"AUTH", b"FOO"]
EOLS = [b"\r\n"] * 20 + [b"\n", b"\n", b"\r", b"\r\r\n", b" \r\n", b"\t\r\n", b"",
                         b"\r\n\r\n"]


class Generator:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def mangle(self, line):
        """Odd spellings of one command line."""
        rng = self.rng
        r = rng.random()
        verb, sp, rest = line.partition(b" ")
        if r < 0.15:
            verb = verb.lower()
        elif r < 0.22:
            verb = bytes(c ^ 0x20 if 0x41 <= (c & ~0x20) <= 0x5a and rng.random() < 0.5
                         else c for c in verb)
        if sp and rng.random() < 0.15:
            sp = rng.choice([b"  ", b"\t", b" \t", b"\x00", b"\x80"])
        line = verb + sp + rest
        r = rng.random()
        if r < 0.05:
            line = rng.choice([b" ", b"\t", b"\x00", b"\xc3\xa9"]) + line
        elif r < 0.1:
            i = rng.randrange(len(line) + 1)
            line = line[:i] + rng.choice([b"\x00", b"\x80", b"\xff", b"\r", b"\t", b" "]) + line[i:]
        elif r < 0.14:
            line += rng.choice([b" ", b"  ", b"\t", b" x y", b"\tx"])
        elif r < 0.2:
            # Around the filter's limit (255 with CRLF) and Dovecot's (about 1 KB).
            n = rng.choice([250, 252, 253, 254, 255, 256, 300, 1000, 1030, 5000])
            line += b" " + b"x" * max(0, n - len(line) - 3)
        elif r < 0.23:
            line = b""
        return line

    def lines(self, script):
        return b"".join(self.mangle(l) + self.rng.choice(EOLS) for l in script)

    def pieces(self, data):
        rng = self.rng
        r = rng.random()
        if r < 0.4 or len(data) < 2:
            chunks = [data]
        elif r < 0.6 and len(data) <= 600:
            chunks = [data[i:i + 1] for i in range(len(data))]
        else:
            cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 8))))
            chunks = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        return [c for c in chunks if c]

    def stream(self, label):
        rng = self.rng
        verbs, weights = zip(*PRE_VERBS)
        pre = list(rng.choices(verbs, weights, k=rng.randint(1, 5)))
        post = None
        if rng.random() < 0.45:
            pre.append(b"STLS")
            post = list(rng.choice(POST_SCRIPTS))
            post += rng.choices(TRANSACTION, k=rng.randint(0, 4))
        pre_bytes = self.lines(pre)
        if post is not None:
            # The STLS that ends the plaintext part is written plainly (its odd spellings are
            # the plaintext part's business); the client waits for its answer.
            pre_bytes = self.lines(pre[:-1]) + rng.choice([b"STLS\r\n", b"stls\r\n", b"STLS\n"])
        return Stream(self.pieces(pre_bytes), rng.choice(["encrypt", "may"]), label,
                      rng.choice([None, 1000, 1000]), rng.random() < 0.1,
                      self.pieces(self.lines(post)) if post is not None else None)


def generated(seed, index):
    return Generator(random.Random(f"{seed}:{index}")).stream(f"seed={seed} index={index}")


# --------------------------------------------------------------------------- fixtures


def source_addresses(seed):
    """Distinct loopback source addresses (Dovecot's login penalty is per address)."""
    rng = random.Random(f"{seed}:addresses")
    seen = set()
    while True:
        a = (rng.randrange(1, 255), rng.randrange(256), rng.randrange(1, 255))
        if a not in seen:
            seen.add(a)
            yield "127.%d.%d.%d" % a


def runner(dovecot):
    """Each stream from its own loopback address (Dovecot's login penalty is per address)."""
    addresses = source_addresses(random.random())
    return lambda probe, sid, stream: run_stream(dovecot.pop3, probe, sid, stream,
                                                 next(addresses))


# --------------------------------------------------------------------------- fixed cases


FIXED = {
    # (plaintext part, part after TLS or None)
    "bare-lf": (b"CAPA\nNOOP\nCAPA\n", None),
    "bare-cr-joins": (b"CAPA\rUSER alice\r\nCAPA\r\n", None),
    "crcrlf": (b"CAPA\r\r\nUSER alice\r\r\nCAPA\r\n", None),
    "nul": (b"CA\x00PA\r\nUSER\x00alice\r\nCAPA\r\n", None),
    "empty-lines": (b"\r\n\n\r\nCAPA\r\n", None),
    "tab-separator": (b"CAPA\tx\r\nUSER\talice\r\nAUTH\tPLAIN " + PLAIN_OK + b"\r\n", None),
    "leading-space": (b" CAPA\r\n USER alice\r\n", None),
    "lowercase-auth": (b"user alice\r\npass alicepass\r\nauth plain " + PLAIN_OK + b"\r\n",
                       None),
    "refused-auth-response": (b"AUTH PLAIN\r\n" + PLAIN_OK + b"\r\nCAPA\r\n", None),
    "refused-auth-star": (b"AUTH PLAIN\r\n*\r\nUSER alice\r\nPASS alicepass\r\n", None),
    "limit-254": (b"CAPA " + b"x" * 247 + b"\r\nCAPA\r\n", None),
    "limit-255": (b"CAPA " + b"x" * 248 + b"\r\nCAPA\r\n", None),
    "limit-256": (b"CAPA " + b"x" * 249 + b"\r\nCAPA\r\n", None),
    "dovecot-buffer": (b"CAPA " + b"x" * 1100 + b"\r\nUSER alice\r\n", None),
    "stls-injection": (b"STLS\r\nUSER alice\r\nPASS alicepass\r\n", None),
    "stls-args": (b"STLS x\r\nCAPA\r\n", None),
    "noop-five": (b"NOOP\r\n" * 5 + b"CAPA\r\n", None),
    "xclient": (b"XCLIENT ADDR=192.0.2.1 LOGIN=alice\r\nCAPA\r\n", None),
    "tls-user-pass": (b"CAPA\r\nSTLS\r\n", b"USER alice\r\nPASS alicepass\r\nSTAT\r\nLIST\r\n"),
    "tls-auth-plain": (b"STLS\r\n", b"AUTH PLAIN\r\n" + PLAIN_OK + b"\r\nUIDL\r\n"),
    "tls-auth-ir": (b"STLS\r\n", b"AUTH PLAIN " + PLAIN_OK + b"\r\nRETR 1\r\n"),
    "tls-auth-abort": (b"STLS\r\n", b"AUTH PLAIN\r\n*\r\nCAPA\r\nAUTH PLAIN\r\n=\r\nCAPA\r\n"),
    "tls-auth-login": (b"STLS\r\n", b"AUTH LOGIN\r\n" + b64(b"alice") + b"\r\n" +
                       b64(b"alicepass") + b"\r\nTOP 1 0\r\n"),
    "tls-auth-list": (b"STLS\r\n", b"AUTH\r\nAUTH \r\nCAPA\r\n"),
    "tls-auth-bad-mech": (b"STLS\r\n", b"AUTH FOO\r\nUSER alice\r\nPASS alicepass\r\n"),
    "tls-auth-pipelined": (b"STLS\r\n", b"AUTH PLAIN\r\n" + PLAIN_BAD + b"\r\nUSER alice\r\n"
                           b"PASS alicepass\r\nLIST\r\n"),
    # Found by the generator: no mechanism for Dovecot (it lists them); the filter took the
    # list's "+OK" for a login and stepped aside, and XCLIENT went through.
    "tls-auth-empty-mechanism": (b"STLS\r\n", b"AUTH  PLAIN\r\nXCLIENT ADDR=192.0.2.1\r\n"
                                 b"AUTH  \r\n" + PLAIN_OK + b"\r\nCAPA\r\n"),
    # Found by the generator: NOOP's answer ended the exchange of the AUTH behind it in the
    # filter, which then sent "PASS x" as a command that Dovecot read as the SASL response.
    "tls-reply-before-auth": (b"STLS\r\n", b"NOOP\r\nAUTH PLAIN\r\nPASS x\r\nCAPA\r\n"),
    "tls-auth-long-response": (b"STLS\r\n", b"AUTH PLAIN\r\n" + b"A" * 5000 + b"\r\nCAPA\r\n"),
    "tls-auth-response-lf": (b"STLS\r\n", b"AUTH PLAIN\n" + PLAIN_OK + b"\nLIST\n"),
    "tls-auth-response-cr": (b"STLS\r\n", b"AUTH PLAIN\r\n" + PLAIN_BAD + b"\rCAPA\r\nCAPA\r\n"),
}


def fixed_streams():
    for name, (pre, post) in FIXED.items():
        for policy in ("encrypt", "may"):
            yield Stream([pre], policy, f"fixed {name} whole", 1000, name == "xclient",
                         [post] if post is not None else None)
            yield Stream([pre[i:i + 1] for i in range(len(pre))], policy,
                         f"fixed {name} bytewise", 1000, name == "xclient",
                         [post[i:i + 1] for i in range(len(post))] if post is not None else None)


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed(name, probe_path, dovecot):
    streams = [s for s in fixed_streams() if s.label.split()[1] == name]
    done, failures, _ = run_all(probe_path, runner(dovecot), streams, concurrency=4)
    assert len(done) == len(streams) or failures
    assert not failures, "filter and Dovecot disagree:\n" + fail_report(failures)


def test_generated(probe_path, dovecot):
    def describe(done):
        logins = sum(any(r.status.startswith(b"+OK Logged in") for r in o.replies) for o in done)
        return (f"{sum(len(o.replies) for o in done)} Dovecot status lines, "
                f"{sum(o.tls_at is not None for o in done)} with TLS, {logins} logins, "
                f"{sum(o.gave_up is not None for o in done)} Dovecot gave up")

    run_generated("differential-pop3", probe_path, runner(dovecot), generated, describe)
