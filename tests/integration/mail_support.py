"""Helpers for the mail-protocol integration tests: the legacy Dovecot (IMAP/POP3), a
recording TCP tap, and an aiosmtpd SMTP backend with AUTH that records what it receives."""

import asyncio
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import support

REPO = Path(__file__).resolve().parents[2]
LEGACY_DOVECOT = REPO / "tests" / "tools" / "legacy-dovecot.sh"

USER, PASSWORD = "alice", "alicepass"
# The password as it travels in SASL: PLAIN ("\0alice\0alicepass") and LOGIN, base64.
SECRETS = (PASSWORD, "AGFsaWNlAGFsaWNlcGFzcw==", "YWxpY2VwYXNz")


# --------------------------------------------------------------------------- Dovecot


class Dovecot:
    """tests/tools/legacy-dovecot.sh on two ephemeral ports (plaintext only), or with
    tls=(cert_chain, key) a TLS-enabled Dovecot: STARTTLS/STLS required on imap/pop3 and
    implicit TLS on two more ephemeral ports (imaps/pop3s). extra_conf: text appended to
    dovecot.conf (legacy-dovecot.sh's LEGACY_DOVECOT_EXTRA_CONF)."""

    def __init__(self, workdir: Path, tls=None, extra_conf=None):
        self.dir = Path(workdir)
        self.imap_port = support.free_port()
        self.pop3_port = support.free_port()
        extra = []
        if tls:
            self.imaps_port = support.free_port()
            self.pop3s_port = support.free_port()
            extra = ["--tls", str(tls[0]), str(tls[1]), str(self.imaps_port),
                     str(self.pop3s_port)]
        # Output to a file, not a pipe: the daemon inherits it and would hold a pipe open.
        out = self.dir.parent / (self.dir.name + ".start.log")
        env = dict(os.environ)
        env.pop("LEGACY_DOVECOT_EXTRA_CONF", None)
        if extra_conf:
            env["LEGACY_DOVECOT_EXTRA_CONF"] = extra_conf
        with open(out, "w") as f:
            r = subprocess.run(["bash", str(LEGACY_DOVECOT), "start", str(self.dir),
                                str(self.imap_port), str(self.pop3_port), *extra],
                               stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                               timeout=60, env=env)
        text = out.read_text(errors="replace")
        out.unlink()
        if r.returncode != 0:
            self.stop()
            raise AssertionError(f"legacy dovecot did not start:\n{text}")
        wait_listening(("127.0.0.1", self.pop3_port))
        if tls:
            wait_listening(self.imaps)
            wait_listening(self.pop3s)

    @property
    def imap(self):
        return ("127.0.0.1", self.imap_port)

    @property
    def pop3(self):
        return ("127.0.0.1", self.pop3_port)

    @property
    def imaps(self):
        return ("127.0.0.1", self.imaps_port)

    @property
    def pop3s(self):
        return ("127.0.0.1", self.pop3s_port)

    def log_text(self):
        try:
            return (self.dir / "dovecot.log").read_text(errors="replace")
        except OSError:
            return ""

    def master_pid(self):
        try:
            return int((self.dir / "run" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.master_pid()
        subprocess.run(["bash", str(LEGACY_DOVECOT), "stop", str(self.dir)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        if pid is None:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            # The master detached: not our child, so an exited one may linger as a zombie
            # until its parent reaps it; that is gone too (kill(pid, 0) would say alive).
            if support.process_state(pid) in (None, "Z"):
                return
            time.sleep(0.1)
        raise AssertionError(f"dovecot master {pid} still running after stop")


def wait_listening(addr, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(addr, timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listening on {addr}") from None
            time.sleep(0.05)


def addr_text(addr):
    return f"{addr[0]}:{addr[1]}"


# --------------------------------------------------------------------------- tap


class Tap:
    """A recording TCP relay: tlsgate -> tap -> target. Records every byte each connection
    sends toward the target (`upstream`) and receives from it (`downstream`). A byte is
    recorded before it is forwarded, so once the client has seen the reply to a command,
    everything tlsgate sent before that command is in the record."""

    def __init__(self, target, greeting_delay=0.0):
        self.target = target
        self.greeting_delay = greeting_delay  # hold the target's first bytes this long
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.lock = threading.Lock()
        self.upstream = []     # one bytearray per connection
        self.downstream = []
        self.socks = []
        self.stopped = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return addr_text(self.sock.getsockname())

    def _accept_loop(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                out = socket.create_connection(self.target, timeout=10)
                out.settimeout(None)
            except OSError:
                conn.close()
                continue
            with self.lock:
                up, down = bytearray(), bytearray()
                self.upstream.append(up)
                self.downstream.append(down)
                self.socks += [conn, out]
            threading.Thread(target=self._pump, args=(conn, out, up), daemon=True).start()
            threading.Thread(target=self._pump, args=(out, conn, down, self.greeting_delay),
                             daemon=True).start()

    def _pump(self, src, dst, record, delay=0.0):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                if delay:
                    time.sleep(delay)
                    delay = 0.0
                with self.lock:
                    record += b
                dst.sendall(b)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def sent(self):
        """Everything sent toward the target, all connections, in accept order."""
        with self.lock:
            return b"".join(bytes(b) for b in self.upstream)

    def connections(self):
        with self.lock:
            return len(self.upstream)

    def stop(self):
        self.stopped = True
        support.shut_down(self.sock)  # wakes the accept()ing thread
        self.sock.close()
        with self.lock:
            socks = list(self.socks)
        for s in socks:
            support.shut_down(s)
            s.close()
        self.thread.join(5)


# --------------------------------------------------------------------------- SMTP backend


class SmtpBackend:
    """aiosmtpd on its own thread and event loop: plaintext, AUTH PLAIN/LOGIN offered without
    TLS, alice/alicepass accepted. Records every line it reads (`lines`: (connection number,
    bytes)), every accepted message (`messages`: dicts with mail_from, rcpt_tos, content,
    login) and every AUTH attempt (`auth_attempts`: (mechanism, login)).
    With tls_context, STARTTLS is offered (require_starttls: nothing else before it, and
    AUTH only after it); the records then also hold the lines read after TLS."""

    def __init__(self, tls_context=None, require_starttls=False):
        # Imported here so that a missing python3-aiosmtpd fails the mail tests loudly
        # (with the import error) without breaking collection of the other tests.
        from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

        backend = self
        self.lines = []
        self.messages = []
        self.auth_attempts = []
        self.cond = threading.Condition()
        self.conn_count = 0

        def authenticator(server, session, envelope, mechanism, auth_data):
            login = None
            ok = False
            if isinstance(auth_data, LoginPassword):
                login = auth_data.login.decode(errors="replace")
                ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
            with backend.cond:
                backend.auth_attempts.append((mechanism, login, ok))
            return AuthResult(success=ok, auth_data=login)

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with backend.cond:
                    backend.messages.append({
                        "mail_from": envelope.mail_from,
                        "rcpt_tos": list(envelope.rcpt_tos),
                        "content": bytes(envelope.original_content or envelope.content),
                        "login": session.auth_data if session.authenticated else None,
                    })
                    backend.cond.notify_all()
                return "250 2.0.0 Message accepted"

        class RecordingReader:
            def __init__(self, reader, conn):
                self._r = reader
                self._conn = conn

            def _rec(self, line):
                with backend.cond:
                    backend.lines.append((self._conn, bytes(line)))
                    backend.cond.notify_all()
                return line

            async def readuntil(self, *a, **kw):
                return self._rec(await self._r.readuntil(*a, **kw))

            async def readline(self):
                return self._rec(await self._r.readline())

            async def read(self, *a, **kw):
                return self._rec(await self._r.read(*a, **kw))

            def __getattr__(self, name):
                return getattr(self._r, name)

            def __setattr__(self, name, value):
                # aiosmtpd swaps the reader's transport after STARTTLS.
                if name in ("_r", "_conn"):
                    object.__setattr__(self, name, value)
                else:
                    setattr(self._r, name, value)

        class RecordingSMTP(SMTP):
            def _client_connected_cb(self, reader, writer):
                with backend.cond:
                    backend.conn_count += 1
                    n = backend.conn_count
                super()._client_connected_cb(RecordingReader(reader, n), writer)

        self.handler = Handler()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def factory():
            return RecordingSMTP(self.handler, hostname="backend.test", authenticator=authenticator,
                                 auth_require_tls=require_starttls, auth_required=False,
                                 tls_context=tls_context, require_starttls=require_starttls,
                                 loop=self.loop)

        def run():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                self.loop.create_server(factory, "127.0.0.1", 0))
            started.set()
            self.loop.run_forever()
            tasks = asyncio.all_tasks(self.loop)
            for t in tasks:
                t.cancel()
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.run_until_complete(self.server.wait_closed())
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10), "aiosmtpd did not start"
        self.port = self.server.sockets[0].getsockname()[1]

    @property
    def addr(self):
        return ("127.0.0.1", self.port)

    @property
    def address(self):
        return addr_text(self.addr)

    def received_bytes(self):
        with self.cond:
            return b"".join(l for _, l in self.lines)

    def verbs(self):
        """Upper-cased first word of every line received (data lines included)."""
        with self.cond:
            return [l.split(b" ", 1)[0].strip().upper().decode("ascii", "replace")
                    for _, l in self.lines]

    def wait_messages(self, n, timeout=10):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.messages) >= n, timeout), \
                f"backend received {len(self.messages)} of {n} messages"
            return list(self.messages)

    def stop(self):
        def shutdown():
            self.server.close()
            self.loop.stop()
        self.loop.call_soon_threadsafe(shutdown)
        self.thread.join(10)
        assert not self.thread.is_alive(), "aiosmtpd thread did not stop"


# --------------------------------------------------------------------------- line clients


class LineClient:
    """A raw plaintext client (optionally wrapped in TLS later) reading CRLF lines."""

    def __init__(self, addr, timeout=10):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            b = self.sock.recv(65536)
            if not b:
                raise AssertionError(f"connection closed; pending {self.buf!r}")
            self.buf += b
        i = self.buf.index(b"\n") + 1
        out, self.buf = self.buf[:i], self.buf[i:]
        return out.decode("utf-8", "replace")

    def until(self, pred):
        """Lines up to and including the first one for which pred(line) is true."""
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if pred(l):
                return lines

    def imap(self, tag, command):
        self.send(f"{tag} {command}\r\n")
        return self.until(lambda l: l.startswith(tag + " "))

    def pop3(self, command, multi=False):
        self.send(command + "\r\n")
        first = self.line()
        if not multi or not first.startswith("+OK"):
            return [first]
        return [first] + self.until(lambda l: l == ".\r\n")

    def smtp_reply(self):
        return self.until(lambda l: len(l) < 4 or l[3] != "-")

    def smtp(self, command):
        self.send(command + "\r\n")
        return self.smtp_reply()

    def starttls(self, ctx, server_hostname="localhost"):
        assert not self.buf, f"plaintext bytes after the STARTTLS reply: {self.buf!r}"
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname,
                                    suppress_ragged_eofs=False)

    def read_to_eof(self, timeout=10):
        """Everything up to EOF (buffered lines included); raises on timeout."""
        self.sock.settimeout(timeout)
        data = self.buf
        self.buf = b""
        while True:
            b = self.sock.recv(65536)
            if not b:
                return data.decode("utf-8", "replace")
            data += b

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def send_and_read_to_eof(addr, data, timeout=10):
    """Connects to addr, sends `data`, returns everything read until the other side closes."""
    c = LineClient(addr, timeout)
    try:
        c.send(data)
        return c.read_to_eof(timeout)
    finally:
        c.close()


def imap_caps(line):
    """Capabilities from '* CAPABILITY ...' or from an '[CAPABILITY ...]' code."""
    line = line.strip()
    if "[CAPABILITY " in line:
        inner = line.split("[CAPABILITY ", 1)[1].split("]", 1)[0]
        return inner.split()
    assert line.upper().startswith("* CAPABILITY "), line
    return line.split()[2:]
