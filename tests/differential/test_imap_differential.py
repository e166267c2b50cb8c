"""Differential test: tlsgate's IMAP server filter against a real plaintext Dovecot.

A filter in front of a daemon is only safe if it splits the client's byte stream into
commands exactly where the daemon does. Here every client stream goes through the filter
(filter_probe: the real ServerFilter, no sockets) and what the filter sends on goes straight to
a real Dovecot 2.3 (tests/tools/legacy-dovecot.sh, plaintext, imap-login pre-auth). Dovecot's
replies go back through the filter (a held {n} literal is released after Dovecot's "+").

How the two are compared. The probe reports every command line the filter forwarded as a
command (Actions::commands: offset into to_backend and verb); its tag is read from those
bytes. Dovecot answers pre-login commands one at a time, in order, one tagged reply each (an
untagged "* BAD" when it cannot even read a tag). So the sequence of Dovecot's tagged replies
(with "*" for each untagged BAD) must equal the sequence of forwarded commands' tags:
  BYPASS     Dovecot answered a command the filter never forwarded as one (it relayed those
             bytes as literal data or a command's continuation): Dovecot executed something
             the filter never looked at.
  DESYNC     replies out of step with the forwarded commands (e.g. Dovecot read a forwarded
             command as literal data).
  TAG        Dovecot answered a forwarded command with an untagged BAD: it cannot read the
             tag the filter accepted (and never answers that tag).
  UNANSWERED Dovecot still open and quiet, yet forwarded commands got no reply.
  STUCK      the filter, still open, never forwarded the sentinel nor the drain (it waits for
             something Dovecot will not send, or a literal longer than the drain is open).
  POLICY     a command executed before TLS that the policy forbids (LOGIN/AUTHENTICATE always;
             under starttls_policy=encrypt anything but CAPABILITY/NOOP/LOGOUT/STARTTLS), or
             Dovecot logged a user in.
Every stream ends with a sentinel "zzend NOOP": once the filter forwarded it and Dovecot
answered it, every reply Dovecot will ever send for the stream has arrived (replies are in
order), so no quiet-period guess decides a verdict. When the stream leaves the filter inside a
command (an open literal), a drain ("x" * 160 + CRLF + "zzdrain NOOP") closes it first. When
the filter closed or accepted STARTTLS (stream stops there; there is no TLS in this test), a
"zzpost NOOP" sent straight to Dovecot plays that role (Dovecot may then be inside a literal
the filter saw too: zzpost is data, and only the replies up to then are judged).

Generated streams: seeded, grammar-based (tags, verbs, atoms, quoted strings with escapes,
lists, literals in every spelling and glued to every kind of token, malformed braces, CR/LF
variants, NUL and 8-bit octets), literal payloads that are attack commands sized to the
announced length, delivered all at once, byte by byte or in random pieces.

Environment: DIFF_BUDGET_SECONDS (default 30) for the random part, DIFF_SEED (default: random,
printed), DIFF_CONCURRENCY (default 16), DIFF_PROBE or --probe for the filter_probe binary.
Reproduce one stream with DIFF_SEED=<seed> DIFF_ONLY=<index>.
"""

import asyncio
import random
import re
from dataclasses import dataclass, field

import pytest

from diff_support import (Actions, fail_report, finish_connection, read_daemon, run_all,
                          run_generated)
from diff_support import wait_for as diff_wait_for

ALLOWED_BEFORE_TLS = {"CAPABILITY", "NOOP", "LOGOUT", "STARTTLS"}
AUTH_VERBS = {"LOGIN", "AUTHENTICATE"}
SENTINEL = b"zzend"
DRAIN = b"zzdrain"
POST = b"zzpost"
# Longest literal the generator leaves open at the end of a stream (see Generator.payload).
DRAIN_FILL = 160
# Upper bound for Dovecot to answer what was sent (it answers in milliseconds; this only
# bounds a run that found a real disagreement, never decides a verdict on its own).
REPLY_WAIT = 10.0
# How long a {n} literal may wait for Dovecot's "+" before the sentinel counts as swallowed
# (a longer wait only costs a drain that changes no verdict).
HOLD_WAIT = 0.2
# zzpost goes straight to Dovecot after the filter closed: Dovecot may be inside a literal
# the filter also saw (then zzpost is data and never answered); waiting longer only lets a
# late stray reply be seen.
POST_WAIT = 2.0
# Dovecot imap-login: one long-lived login process serves many connections (no fork per
# connection), so thousands of short connections a second are cheap.
DOVECOT_EXTRA = """
service imap-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 1000
}
"""


# --------------------------------------------------------------------------- one stream


@dataclass
class Stream:
    chunks: list          # client bytes, in the pieces fed to the filter
    policy: str = "encrypt"
    label: str = ""
    # None: the filter's default (5, as the config's). A large one keeps the filter reading
    # past many refused commands, so that more of a stream is compared.
    max_errors: int = None

    @property
    def data(self):
        return b"".join(self.chunks)


@dataclass
class Outcome:
    stream: Stream
    forwarded: list = field(default_factory=list)   # (tag, verb)
    replies: list = field(default_factory=list)     # tags Dovecot answered; b"*" = untagged BAD
    from_dovecot: bytearray = field(default_factory=bytearray)
    to_dovecot: bytearray = field(default_factory=bytearray)
    to_client: bytearray = field(default_factory=bytearray)
    dovecot_closed: bool = False
    filter_closed: bool = False
    start_tls: bool = False
    ending: str = ""
    problems: list = field(default_factory=list)

    def report(self):
        def show(b):
            b = re.sub(rb"y{40,}", lambda m: b"<%d*y>" % len(m.group(0)), bytes(b))
            b = re.sub(rb"\[CAPABILITY [^]]*\]", b"[CAPABILITY ...]", b)
            return repr(b) if len(b) <= 3000 else repr(b[:1500]) + " ... " + repr(b[-1500:])

        tags = lambda xs: [x.decode("latin-1") for x in xs]  # noqa: E731
        fwd = [f"{t.decode('latin-1')}:{v}" for t, v in self.forwarded]
        return "\n".join([
            f"stream [{self.stream.label}] policy={self.stream.policy} "
            f"max_errors={self.stream.max_errors or 'default'}",
            f"  client bytes : {show(self.stream.data)}",
            f"  chunks       : {len(self.stream.chunks)} {[len(c) for c in self.stream.chunks][:40]}",
            f"  problems     : {self.problems}",
            f"  filter forwarded commands : {fwd}",
            f"  Dovecot answered tags     : {tags(self.replies)}",
            f"  ending       : {self.ending}; filter close={self.filter_closed} "
            f"start_tls={self.start_tls}; dovecot closed={self.dovecot_closed}",
            f"  sent to Dovecot    : {show(self.to_dovecot)}",
            f"  Dovecot sent       : {show(self.from_dovecot)}",
            f"  filter to client   : {show(self.to_client)}",
        ])


TAG_RE = re.compile(rb"[^ \r\n]*")


async def run_stream(addr, probe, sid, stream: Stream) -> Outcome:
    o = Outcome(stream)
    reader, writer = await asyncio.open_connection(*addr)
    lock = asyncio.Lock()        # one probe call + its write to Dovecot at a time
    changed = asyncio.Event()
    greeted = asyncio.Event()
    post_sent = False
    await probe.call("N", sid, arg="imap," + stream.policy + (f",errors={stream.max_errors}"
                                                              if stream.max_errors else ""))

    def apply(a: Actions):
        for off, verb in a.commands:
            tag = TAG_RE.match(a.to_backend, off).group(0)
            o.forwarded.append((tag, verb))
        o.to_client += a.to_client
        if a.close:
            o.filter_closed = True
        if a.start_tls:
            o.start_tls = True
        if a.to_backend and not o.dovecot_closed:
            o.to_dovecot += a.to_backend
            writer.write(a.to_backend)

    async def send(kind, data):
        async with lock:
            apply(await probe.call(kind, sid, body=data))
        try:
            await writer.drain()
        except ConnectionError:
            o.dovecot_closed = True

    def on_line(line):
        if line.startswith(b"* BAD"):
            o.replies.append(b"*")
        elif not (line.startswith(b"*") or line.startswith(b"+")):
            o.replies.append(TAG_RE.match(line).group(0))

    async def after(data):
        o.from_dovecot += data
        if not (o.filter_closed or o.start_tls):
            await send("B", data)
        greeted.set()
        changed.set()

    async def read_dovecot():
        await read_daemon(reader, on_line, after)
        o.dovecot_closed = True
        greeted.set()
        changed.set()

    def wait_for(pred, timeout):
        return diff_wait_for(changed, pred, timeout)

    def stopped():
        return o.filter_closed or o.start_tls or o.dovecot_closed

    def forwarded(tag):
        return any(t == tag for t, _ in o.forwarded)

    reader_task = asyncio.ensure_future(read_dovecot())
    try:
        # A client waits for the greeting; feeding pieces before it would only pile them up
        # in the filter and take the piecewise parsing out of the test.
        await wait_for(greeted.is_set, REPLY_WAIT)
        for chunk in stream.chunks + [SENTINEL + b" NOOP\r\n"]:
            if stopped():
                break
            await send("C", chunk)
        if not stopped() and not forwarded(SENTINEL):
            # A {n} literal held for Dovecot's "+" lets the sentinel through only after that
            # "+" arrives; give it that moment before deciding the sentinel was swallowed.
            await wait_for(lambda: stopped() or forwarded(SENTINEL), HOLD_WAIT)
        if not stopped() and not forwarded(SENTINEL):
            # The filter is inside a command (an open literal or a continuation): close it.
            # (If it only waited for a late "+", the drain is a refused line and a NOOP.)
            o.ending = "drain"
            await send("C", b"x" * DRAIN_FILL + b"\r\n" + DRAIN + b" NOOP\r\n")
        await wait_for(lambda: stopped() or forwarded(SENTINEL) or forwarded(DRAIN), REPLY_WAIT)
        if o.dovecot_closed:
            o.ending = o.ending or "dovecot closed"
        elif forwarded(SENTINEL) or forwarded(DRAIN):
            # Its reply is the last one: every reply to the stream arrived before it.
            last = SENTINEL if forwarded(SENTINEL) else DRAIN
            o.ending = o.ending or "sentinel"
            await wait_for(lambda: o.dovecot_closed or last in o.replies, REPLY_WAIT)
        elif o.filter_closed or o.start_tls:
            # Ask Dovecot itself for a last reply (the filter takes no more).
            o.ending = o.ending + "+post" if o.ending else "post"
            post_sent = True
            writer.write(POST + b" NOOP\r\n")
            try:
                await writer.drain()
            except ConnectionError:
                pass
            await wait_for(lambda: o.dovecot_closed or POST in o.replies, POST_WAIT)
        else:
            o.ending = o.ending + "+stuck" if o.ending else "stuck"
            o.problems.append(f"STUCK: after {REPLY_WAIT}s the filter had forwarded neither "
                              f"the sentinel nor the drain, and is still open")
    finally:
        await finish_connection(writer, reader_task, probe, sid)
    judge(o, post_sent)
    return o


def judge(o: Outcome, post_sent):
    replies = list(o.replies)
    if post_sent and POST in replies:
        replies = replies[:replies.index(POST)]  # zzpost's own reply is not the stream's
    fwd_tags = [t for t, _ in o.forwarded]
    j = 0  # the forwarded command Dovecot's next reply should answer
    for i, r in enumerate(replies):
        if j < len(fwd_tags) and r == fwd_tags[j]:
            j += 1
            continue
        if r == b"*" and j < len(fwd_tags) and fwd_tags[j] not in replies:
            # A forwarded command whose tag Dovecot cannot read (it never answers that tag):
            # the filter's idea of a tag is wider than Dovecot's. Not executed, but the two
            # disagree; the comparison goes on.
            o.problems.append(f"TAG: Dovecot could not read the tag of forwarded command "
                              f"{fwd_tags[j]!r} (untagged BAD at reply #{i + 1})")
            j += 1
            continue
        if r not in fwd_tags:
            what = "an untagged BAD (it parsed a line)" if r == b"*" else f"tag {r!r}"
            o.problems.append(f"BYPASS: Dovecot answered {what} at reply #{i + 1}, a command "
                              f"the filter never forwarded as a command")
        else:
            o.problems.append(f"DESYNC: Dovecot's reply #{i + 1} is {r!r}, the filter's "
                              f"command #{j + 1} is "
                              f"{fwd_tags[j] if j < len(fwd_tags) else None!r}")
        break
    else:
        if not o.dovecot_closed and j < len(fwd_tags) and not post_sent:
            o.problems.append(f"UNANSWERED: Dovecot answered {j} of the "
                              f"{len(fwd_tags)} commands the filter forwarded")
    executed = o.forwarded[:j]
    for tag, verb in executed:
        v = verb.upper()
        if v in AUTH_VERBS:
            o.problems.append(f"POLICY: {v} ({tag!r}) reached Dovecot before TLS")
        elif o.stream.policy == "encrypt" and v not in ALLOWED_BEFORE_TLS:
            o.problems.append(f"POLICY: {v} ({tag!r}) reached Dovecot before TLS under encrypt")
    if b"Logged in" in o.from_dovecot:
        o.problems.append("POLICY: Dovecot logged a user in before TLS")


# --------------------------------------------------------------------------- generator

VERBS = [b"NOOP", b"NOOP", b"CAPABILITY", b"ID", b"ENABLE", b"LOGIN", b"AUTHENTICATE PLAIN",
         b"AUTHENTICATE", b"SELECT", b"FETCH", b"APPEND", b"FOO", b"X-UNKNOWN", b"noop",
         b"Capability", b"NO\x80OP", b"LOGOUT", b"STARTTLS"]
VERB_WEIGHTS = [6, 4, 4, 3, 2, 4, 3, 1, 2, 2, 3, 2, 1, 2, 1, 1, 0.3, 0.3]
ATTACKS = [b"LOGIN alice alicepass", b"LOGIN alice alicepass", b"SELECT INBOX", b"NOOP",
           b"AUTHENTICATE PLAIN AGFsaWNlAGFsaWNlcGFzcw==", b"CAPABILITY", b"ID NIL",
           b"LOGIN {5+}\r\nalice {9+}\r\nalicepass"]
ATOMS = [b"x", b"INBOX", b"NIL", b"1:*", b"a%", b"foo*", b"\xc3\xa9t\xc3\xa9", b"BODY[]",
         b"[x]", b"a]b", b"1", b"a\x00b", b"a\tb", b"\\Seen", b"~x", b"a{b", b"}"]
QUOTED = [b'"abc"', b'"a\\"b"', b'"a\\\\"', b'"a\\x"', b'""', b'"{5+}"', b'"x{5+}"',
          b'"a b"', b'"\\\\"', b'"a\\"', b'"\x80"', b'"a\x00"']
LISTS = [b"(a b)", b"()", b'("x" NIL)', b"(", b")", b"((x)", b"(x))", b"(NIL {3}"]
# What a literal's brace is glued to (half the literals stand after a space instead).
GLUES = [b"x", b"NIL", b'"q"', b"(x)", b"]", b"[", b"(", b"~", b"\\",
         b"%", b"*", b")", b'"x', b"x[", b"(~", b"+", b"1"]
BRACES = ["{%d}", "{%d+}", "{%d}", "{%d+}", "{0%d+}", "{0%d}", "{ %d}", "{%d +}", "{+%d}",
          "{%d++}", "{%d-}", "{%d", "%d}", "{%d+ }", "{-%d}", "{%dx}", "{%d}}", "{{%d}"]
EOLS = [b"\r\n"] * 16 + [b"\n", b"\n", b"\r", b"\r\r\n", b" \r\n", b"\t\r\n", b"", b"\r\n\r\n"]


class Generator:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.n = 0

    def tag(self, prefix=b"t"):
        self.n += 1
        t = prefix + str(self.n).encode()
        r = self.rng.random()
        if r < 0.9:
            return t
        # Tags around Dovecot's length limit (126), words that are verbs: found by review.
        return self.rng.choice([b"*", b"+", b"", t + b"]", t + b'"', t + b"\x80", t + b"\x00",
                                t + b"(", b"{5+}", t + b"%", t + b"+", t + b"\\", t + b"{",
                                b"+" + t, t.ljust(self.rng.randint(124, 130), b"x"),
                                b"LOGIN", b"login", b"AUTHENTICATE"])

    def verb(self):
        v = self.rng.choices(VERBS, VERB_WEIGHTS)[0]
        if self.rng.random() < 0.1:
            v = bytes(c ^ 0x20 if 0x41 <= (c & ~0x20) <= 0x5a and self.rng.random() < 0.5
                      else c for c in v)
        return v

    def arg(self):
        r = self.rng.random()
        if r < 0.4:
            return self.rng.choice(ATOMS)
        if r < 0.7:
            return self.rng.choice(QUOTED)
        if r < 0.85:
            return self.rng.choice(LISTS)
        if r < 0.9:
            return b'"unterminated'
        return self.rng.choice([b"{3}", b"{3+}", b"NIL", b"~{2}", b"12345"])

    def attack(self):
        body = self.tag(b"z") + b" " + self.rng.choice(ATTACKS) + b"\r\n"
        r = self.rng.random()
        if r < 0.1:
            body = b"\r\n" + body
        elif r < 0.15:
            body = body + self.tag(b"z") + b" NOOP\r\n"
        elif r < 0.2:
            body = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 12)))
        return body

    def literal(self):
        """(announcement, payload, rest after the payload)."""
        rng = self.rng
        payload = self.attack()
        r = rng.random()
        if r < 0.02:
            # Large: exactly sized so that nothing stays open at the end of the stream.
            size = rng.choice([4096, 8192, 8193, 9000, 65536, 70000])
            payload = b"y" * max(0, size - len(payload)) + payload
            payload = payload[:size]
        elif r < 0.04:
            size = rng.choice([99999999999999999999, 18446744073709551616, 4294967296])
        elif r < 0.1:
            size = 0
        else:
            size = max(0, len(payload) + rng.choice([0] * 12 + [-1, 1, 2, -3, 5]))
        brace = rng.choice(BRACES) % size
        if rng.random() < 0.1:
            brace = "~" + brace
        announce = (b"" if rng.random() < 0.5 else rng.choice(GLUES)) + brace.encode()
        if rng.random() < 0.05:
            announce += rng.choice([b" ", b"x", b"\t"])
        rest = rng.choice([b"\r\n", b"\r\n", b"", b" x\r\n", b")\r\n", b" {3+}\r\nabc\r\n"])
        return announce, payload, rest

    def command(self):
        rng = self.rng
        sep = rng.choice([b" "] * 10 + [b"  ", b"\t"])
        line = self.tag() + sep + self.verb()
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            line += rng.choice([b" "] * 8 + [b"  ", b""]) + self.arg()
        if rng.random() < 0.7:
            announce, payload, rest = self.literal()
            line += rng.choice([b" "] * 9 + [b"  ", b""]) + announce
            return line + rng.choice(EOLS) + payload + rest
        return line + rng.choice(EOLS)

    def stream(self, label):
        rng = self.rng
        data = b"".join(self.command() for _ in range(rng.randint(1, 4)))
        r = rng.random()
        if r < 0.4:
            chunks = [data]
        elif r < 0.55 and len(data) <= 600:
            chunks = [data[i:i + 1] for i in range(len(data))]
        else:
            cuts = sorted(rng.sample(range(1, max(2, len(data))), min(len(data) - 1,
                                                                      rng.randint(1, 8))))
            chunks = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        chunks = [c for c in chunks if c]
        return Stream(chunks, rng.choice(["encrypt", "may"]), label,
                      rng.choice([None, 1000, 1000]))


def generated(seed, index):
    return Generator(random.Random(f"{seed}:{index}")).stream(f"seed={seed} index={index}")


# --------------------------------------------------------------------------- fixtures


def runner(dovecot):
    return lambda probe, sid, stream: run_stream(dovecot.imap, probe, sid, stream)


# --------------------------------------------------------------------------- fixed cases


def sized(prefix, payload, suffix=b"\r\n"):
    """prefix with {N} in it filled with len(payload), the payload, suffix."""
    return prefix.replace(b"{N", b"{%d" % len(payload)) + payload + suffix


LOGIN_B = b"b LOGIN alice alicepass\r\n"
FIXED = {
    # The review's example: the brace is part of the atom "x{25+}" for Dovecot.
    "atom-glued": sized(b"a NOOP x{N+}\r\n", LOGIN_B),
    "literal8-nonsync": sized(b"a NOOP ~{N+}\r\n", LOGIN_B),
    "literal8": sized(b"a NOOP ~{N}\r\n", LOGIN_B),
    "nil-glued": sized(b"a NOOP NIL{N+}\r\n", LOGIN_B),
    "bracket-glued": sized(b"a NOOP ]{N+}\r\n", LOGIN_B),
    "authenticate-literal": sized(b"a AUTHENTICATE PLAIN {N+}\r\n", LOGIN_B),
    "star-tag": sized(b"* NOOP {N+}\r\n", LOGIN_B),
    "no-verb": sized(b"a {N+}\r\n", LOGIN_B),
    "in-quotes": sized(b'a NOOP "x{N+}"\r\n', LOGIN_B),
    "space-in-brace": sized(b"a NOOP {N +}\r\n", LOGIN_B).replace(b"{25 +}", b"{25 +}"),
    "trailing-space": sized(b"a NOOP {N+} \r\n", LOGIN_B),
    "crcrlf": sized(b"a NOOP {N+}\r\r\n", LOGIN_B),
    "tab-separator": sized(b"a\tNOOP {N+}\r\n", LOGIN_B),
    # Dovecot reads these as literals: the filter must too (and refuse or pass the payload
    # as data, never as a command).
    "quoted-glued": sized(b'a NOOP "x"{N+}\r\n', LOGIN_B),
    "list-glued": sized(b"a NOOP (x){N+}\r\n", LOGIN_B),
    "open-paren": sized(b"a ID ({N+}\r\n", LOGIN_B),
    "bare-lf": sized(b"a NOOP {N+}\n", LOGIN_B),
    "leading-zero": sized(b"a NOOP {0N+}\r\n", LOGIN_B),
    # An error earlier on the line (a {3} not at the end, an unbalanced ')') makes Dovecot
    # skip the rest of the line: the trailing literal is no literal for it.
    "error-earlier-in-line": sized(b"a NOOP {3} x {N+}\r\n", LOGIN_B),
    "unbalanced-paren": sized(b"a NOOP (x)) {N+}\r\n", LOGIN_B),
    "star-glued": sized(b"a NOOP *{N+}\r\n", LOGIN_B),
    # Session fixation: the attacker's prefix logs the connection in as alice; the victim's
    # CAPABILITY and STARTTLS follow, and the victim would then work in alice's mailbox.
    "session-fixation": sized(b"m1 NOOP x{N+}\r\n", b"m2 LOGIN alice alicepass\r\n", b"")
    + b"v1 CAPABILITY\r\nv2 STARTTLS\r\n",
    "session-fixation-nil": sized(b"m1 NOOP NIL{N+}\r\n", b"m2 LOGIN alice alicepass\r\n", b"")
    + b"v1 CAPABILITY\r\nv2 STARTTLS\r\n",
}


def fixed_streams():
    for name, data in FIXED.items():
        for policy in ("encrypt", "may"):
            yield Stream([data], policy, f"fixed {name} whole")
            yield Stream([data[i:i + 1] for i in range(len(data))], policy,
                         f"fixed {name} bytewise")


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed(name, probe_path, dovecot):
    streams = [s for s in fixed_streams() if s.label.split()[1] == name]
    done, failures, _ = run_all(probe_path, runner(dovecot), streams, concurrency=4)
    assert len(done) == len(streams) or failures
    assert not failures, "filter and Dovecot disagree:\n" + fail_report(failures)


def test_tag_octets(probe_path, dovecot):
    """Every octet inside a tag and as its first octet: the filter must take as a tag exactly
    what Dovecot does (a tag only the filter accepts is a TAG finding)."""
    streams = []
    for c in range(256):
        if c in (0x0a, 0x0d):
            continue
        o = bytes([c])
        for data, where in ((b"t" + o + b"1 NOOP\r\n", "inside"), (o + b"t1 NOOP\r\n", "first")):
            streams.append(Stream([data], "encrypt", f"tag octet 0x{c:02x} {where}"))
    done, failures, _ = run_all(probe_path, runner(dovecot), streams, concurrency=16,
                                max_failures=len(streams))
    assert len(done) == len(streams)
    assert not failures, (f"{len(failures)} tag octets read differently: "
                          f"{sorted(f.stream.label for f in failures)}\n" + fail_report(failures))


def test_generated(probe_path, dovecot):
    run_generated("differential-imap", probe_path, runner(dovecot), generated,
                  lambda done: f"{sum(len(o.replies) for o in done)} Dovecot replies")
