"""Helpers for the client-mode integration tests: extra certificates (self-signed, wrong name)
and scripted TLS servers — an implicit-TLS echo server and a "malicious" IMAP/SMTP server
that can inject bytes after its STARTTLS go-ahead, hide STARTTLS, or present a bad
certificate. Each records what it receives, before and after the handshake."""

import ssl
import threading
import time

import support


def self_signed(certs, name="localhost"):
    """A self-signed certificate (CN and SAN localhost/127.0.0.1) -> (cert, key) paths."""
    cert, key = certs.dir / "selfsigned.pem", certs.dir / "selfsigned.key"
    if not cert.exists():
        r = support.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                         "-keyout", str(key), "-out", str(cert), "-days", "30",
                         "-subj", f"/CN={name}",
                         "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1"])
        assert r.returncode == 0, r.stderr
    return cert, key


def wrong_name(certs, name="wrong.example"):
    """A leaf signed by the test intermediate for `name` only (no IP) -> (chain, key)."""
    chain, key = certs.dir / "wrongname.pem", certs.dir / "wrongname.key"
    if not chain.exists():
        ext = certs.dir / "wrongname.ext"
        ext.write_text("basicConstraints=critical,CA:false\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage=serverAuth\n"
                       f"subjectAltName=DNS:{name}\n")
        cert = certs.dir / "wrongname.crt"
        for cmd in (["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                     "-out", str(key)],
                    ["req", "-new", "-key", str(key), "-subj", f"/CN={name}",
                     "-out", str(cert) + ".csr"],
                    ["x509", "-req", "-in", str(cert) + ".csr", "-CA", str(certs.inter),
                     "-CAkey", str(certs.inter_key), "-CAcreateserial", "-days", "30",
                     "-sha256", "-extfile", str(ext), "-out", str(cert)]):
            r = support.run(["openssl", *cmd])
            assert r.returncode == 0, r.stderr
        chain.write_text(cert.read_text() + certs.inter.read_text())
    return chain, key


def server_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


class _Conn:
    """A line reader over a socket that can be wrapped in TLS in the middle."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            b = self.sock.recv(65536)
            if not b:
                return None
            self.buf += b
        i = self.buf.index(b"\n") + 1
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)


class _TlsServer:
    """A server on a support.Backend thread that takes TLS with `ctx` in its own time. A failed
    handshake is recorded in handshake_errors, and what the peer then sends in plaintext (up
    to EOF or 2 s of silence) in the buffer the subclass names. Subclasses set their own
    attributes before calling __init__, which starts accepting."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.lock = threading.Lock()
        self.handshake_errors = []
        self.backend = support.Backend(self._handle)

    @property
    def address(self):
        return self.backend.address

    def stop(self):
        self.backend.stop()

    def _record(self, where, data):
        with self.lock:
            where += data

    def _wrap(self, sock, after_failure):
        """The server-side TLS socket over `sock`, or None when the handshake failed."""
        raw = sock.dup()  # a failed wrap_socket closes the socket it was given
        try:
            wrapped = self.ctx.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self.lock:
                self.handshake_errors.append(str(e))
            try:
                raw.settimeout(2)
                while True:
                    b = raw.recv(65536)
                    if not b:
                        break
                    self._record(after_failure, b)
            except OSError:
                pass
            raw.close()
            return None
        raw.close()
        return wrapped


class ScriptedServer(_TlsServer):
    """A mail server on a thread, `protocol` "imap", "pop3" or "smtp". STARTTLS is offered unless
    offer_starttls=False; its go-ahead is followed, in the same send, by `inject`. Then the
    TLS handshake with `ctx`. Records, over all connections:
      plain        - bytes read before the go-ahead
      after_goahead- plaintext bytes read after the go-ahead (must stay empty: with TLS, the
                     client's next bytes are a ClientHello, which the handshake consumes;
                     after a failed handshake, anything readable is recorded here)
      tls          - bytes read inside TLS
      handshake_errors, handshakes (count), messages (SMTP DATA bodies)
    `greeting` replaces the plaintext greeting (a forged one, say)."""

    def __init__(self, protocol, ctx, offer_starttls=True, inject=b"", inject_later=b"",
                 greeting=None):
        self.protocol = protocol
        self.greeting = greeting
        self.inject_later = inject_later  # sent 0.3 s after the go-ahead, before the handshake
        self.offer_starttls = offer_starttls
        self.inject = inject
        self.plain = bytearray()
        self.after_goahead = bytearray()
        self.tls = bytearray()
        self.handshakes = 0
        self.messages = []
        super().__init__(ctx)

    def everything(self):
        """Every byte read over all connections: plaintext, after the go-ahead, inside TLS."""
        with self.lock:
            return bytes(self.plain) + bytes(self.after_goahead) + bytes(self.tls)

    def _read_line(self, c, in_tls):
        """The client's next line, recorded as plaintext or as read inside TLS; None at EOF."""
        line = c.line()
        if line is not None:
            self._record(self.tls if in_tls else self.plain, line)
        return line

    # ---------------------------------------------------------------- TLS step
    def _go_ahead(self, c, reply):
        """Sends the STARTTLS go-ahead `reply` with `inject` in the same send, records what the
        client sent after its command but before the handshake, then takes TLS; False when
        the handshake failed."""
        c.send(reply + self.inject)
        if c.buf:
            self._record(self.after_goahead, c.buf)
            c.buf = b""
        return self._start_tls(c)

    def _start_tls(self, c):
        c.sock.settimeout(10)
        if self.inject_later:
            time.sleep(0.3)
            c.send(self.inject_later)
        wrapped = self._wrap(c.sock, self.after_goahead)
        if wrapped is None:
            return False
        c.sock = wrapped
        with self.lock:
            self.handshakes += 1
        return True

    def _handle(self, conn, backend):
        conn.settimeout(15)
        c = _Conn(conn)
        try:
            {"imap": self._imap, "pop3": self._pop3, "smtp": self._smtp}[self.protocol](c)
        except OSError:
            pass

    # ---------------------------------------------------------------- IMAP
    def _imap(self, c):
        caps = "IMAP4rev1 STARTTLS LOGINDISABLED" if self.offer_starttls else "IMAP4rev1"
        c.send(self.greeting or f"* OK [CAPABILITY {caps}] scripted IMAP ready\r\n")
        in_tls = False
        while True:
            line = self._read_line(c, in_tls)
            if line is None:
                return
            words = line.decode("utf-8", "replace").split()
            if len(words) < 2:
                c.send("* BAD empty\r\n")
                continue
            tag, cmd = words[0], words[1].upper()
            if cmd == "CAPABILITY":
                c.send(f"* CAPABILITY {'IMAP4rev1 AUTH=PLAIN' if in_tls else caps}\r\n"
                       f"{tag} OK done\r\n")
            elif cmd == "STARTTLS" and not in_tls and self.offer_starttls:
                if not self._go_ahead(c, f"{tag} OK go\r\n".encode()):
                    return
                in_tls = True
            elif cmd == "LOGIN" and in_tls:
                c.send(f"{tag} OK [CAPABILITY IMAP4rev1] logged in\r\n")
            elif cmd == "SELECT" and in_tls:
                c.send(f"* 1 EXISTS\r\n{tag} OK [READ-WRITE] selected\r\n")
            elif cmd == "LOGOUT":
                c.send(f"* BYE bye\r\n{tag} OK done\r\n")
                return
            elif cmd == "NOOP":
                c.send(f"{tag} OK done\r\n")
            else:
                c.send(f"{tag} NO not here\r\n")

    # ---------------------------------------------------------------- POP3
    def _pop3(self, c):
        c.send(self.greeting or "+OK scripted POP3 ready\r\n")
        in_tls = False
        while True:
            line = self._read_line(c, in_tls)
            if line is None:
                return
            cmd = line.decode("utf-8", "replace").strip().split(" ", 1)[0].upper()
            if cmd == "CAPA":
                caps = ["TOP", "UIDL"] + (["USER"] if in_tls else [])
                if self.offer_starttls and not in_tls:
                    caps.append("STLS")
                c.send("+OK caps\r\n" + "".join(f"{x}\r\n" for x in caps) + ".\r\n")
            elif cmd == "STLS" and not in_tls and self.offer_starttls:
                if not self._go_ahead(c, b"+OK go\r\n"):
                    return
                in_tls = True
            elif cmd == "STAT" and in_tls:
                c.send("+OK 1 42\r\n")
            elif cmd in ("USER", "PASS", "NOOP") and in_tls:
                c.send("+OK\r\n")
            elif cmd == "QUIT":
                c.send("+OK bye\r\n")
                return
            else:
                c.send("-ERR not here\r\n")

    # ---------------------------------------------------------------- SMTP
    def _smtp(self, c):
        c.send(self.greeting or "220 scripted ESMTP ready\r\n")
        in_tls = False
        while True:
            line = self._read_line(c, in_tls)
            if line is None:
                return
            cmd = line.decode("utf-8", "replace").strip().split(" ", 1)[0].upper()
            if cmd in ("EHLO", "HELO"):
                exts = ["8BITMIME"]
                if in_tls or not self.offer_starttls:
                    exts.append("AUTH PLAIN")
                if self.offer_starttls and not in_tls:
                    exts.append("STARTTLS")
                lines = ["scripted"] + exts
                c.send("".join(f"250{'-' if i < len(lines) - 1 else ' '}{l}\r\n"
                               for i, l in enumerate(lines)))
            elif cmd == "STARTTLS" and not in_tls and self.offer_starttls:
                if not self._go_ahead(c, b"220 go\r\n"):
                    return
                in_tls = True
            elif cmd == "AUTH":
                c.send("235 2.7.0 ok\r\n")
            elif cmd == "DATA":
                c.send("354 go on\r\n")
                body = bytearray()
                while True:
                    l = self._read_line(c, in_tls)
                    if l is None:
                        return
                    if l == b".\r\n":
                        break
                    body += l
                with self.lock:
                    self.messages.append(bytes(body))
                c.send("250 2.0.0 queued\r\n")
            elif cmd == "QUIT":
                c.send("221 bye\r\n")
                return
            else:
                c.send("250 ok\r\n")


class TlsEchoServer(_TlsServer):
    """Implicit TLS echo server: records handshake errors and the bytes it echoed (or, after a
    failed handshake, read in plaintext)."""

    def __init__(self, ctx):
        self.received = bytearray()
        super().__init__(ctx)

    def _handle(self, conn, backend):
        conn.settimeout(15)
        s = self._wrap(conn, self.received)
        if s is None:
            return
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                self._record(self.received, b)
                s.sendall(b)
        except (ssl.SSLError, OSError):
            pass
        try:
            s.close()
        except OSError:
            pass


def _leaf_from_intermediate(certs, stem, cn, key, serial, valid_from, valid_until, usage, names):
    """A leaf for `cn` with `key`, signed by the test intermediate, written as certs.dir/STEM.pem
    (leaf + intermediate) and STEM.key; made once -> (chain, key) paths. cryptography, not the
    openssl CLI: Debian 12's cannot back-date a certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    chain, key_path = certs.dir / f"{stem}.pem", certs.dir / f"{stem}.key"
    if chain.exists():
        return chain, key_path
    inter = x509.load_pem_x509_certificate(certs.inter.read_bytes())
    inter_key = serialization.load_pem_private_key(certs.inter_key.read_bytes(), None)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(inter.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(valid_from)
            .not_valid_after(valid_until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(inter_key, hashes.SHA256()))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + certs.inter.read_bytes())
    return chain, key_path


def expired(certs):
    """A leaf for localhost/127.0.0.1, signed by the test intermediate, expired yesterday
    -> (chain, key)."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.timezone.utc)
    return _leaf_from_intermediate(
        certs, "expired", "localhost", rsa.generate_private_key(public_exponent=65537,
                                                                key_size=2048),
        x509.random_serial_number(), now - datetime.timedelta(days=10),
        now - datetime.timedelta(days=1), ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])


def client_certificate(certs, name, serial):
    """A client certificate (clientAuth, P-256, SAN NAME@example.org) signed by the test
    intermediate -> (chain, key)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.timezone.utc)
    return _leaf_from_intermediate(
        certs, name, name, ec.generate_private_key(ec.SECP256R1()), serial,
        now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30),
        ExtendedKeyUsageOID.CLIENT_AUTH, [x509.RFC822Name(f"{name}@example.org")])
