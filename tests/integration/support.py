"""Helpers for the tlsgate integration tests: certificates, plaintext backends,
the tlsgate process runner and small TLS client utilities."""

import hashlib
import json
import os
import random
import re
import resource
import signal
import socket
import ssl
import subprocess
import threading
import time
import warnings
from pathlib import Path

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def process_state(pid):
    """The state letter of pid from /proc/PID/stat ("R", "S", "Z" for a zombie, ...), or None
    once no such process exists (exited and reaped). A process that is reaped between the
    open and the read makes the read fail with ESRCH (ProcessLookupError): gone as well."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name in parentheses may itself hold ") ": the state follows the last ")".
    return text.rsplit(")", 1)[1].split()[0]


def raise_nofile_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run(cmd, **kw)


# --------------------------------------------------------------------------- certificates


class Certs:
    """Root CA -> intermediate CA -> leaf (RSA-2048), made with the openssl CLI."""

    def __init__(self, d: Path):
        self.dir = d
        d.mkdir(parents=True, exist_ok=True)
        self.root = d / "root.pem"
        self.root_key = d / "root.key"
        self.inter = d / "inter.pem"
        self.inter_key = d / "inter.key"
        self.leaf = d / "leaf.pem"
        self.leaf_key = d / "leaf.key"
        self.chain = d / "chain.pem"            # leaf + intermediate
        self.bad_order = d / "bad_order.pem"    # intermediate + leaf
        self.other_key = d / "other.key"        # unrelated key (mismatch tests)
        self.dhparam = d / "dh2048.pem"
        self._make()

    def _ext(self, name, text):
        p = self.dir / name
        p.write_text(text)
        return str(p)

    def _openssl(self, *args):
        r = run(["openssl", *args])
        assert r.returncode == 0, f"openssl {' '.join(args)} failed:\n{r.stderr}"

    def _key(self, path):
        self._openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                      "-out", str(path))

    def _make(self):
        for k in (self.root_key, self.inter_key, self.leaf_key, self.other_key):
            self._key(k)
        ca_ext = self._ext("ca.ext", "basicConstraints=critical,CA:true\n"
                           "keyUsage=critical,keyCertSign,cRLSign\n"
                           "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        leaf_ext = self._ext("leaf.ext", "basicConstraints=critical,CA:false\n"
                             "keyUsage=critical,digitalSignature,keyEncipherment\n"
                             "extendedKeyUsage=serverAuth\n"
                             "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                             "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        self._openssl("req", "-x509", "-new", "-key", str(self.root_key), "-days", "30",
                      "-subj", "/CN=tlsgate test root", "-sha256", "-out", str(self.root),
                      "-addext", "basicConstraints=critical,CA:true",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        for cert, key, signer, signer_key, subj, ext in (
            (self.inter, self.inter_key, self.root, self.root_key,
             "/CN=tlsgate test intermediate", ca_ext),
            (self.leaf, self.leaf_key, self.inter, self.inter_key, "/CN=localhost", leaf_ext),
        ):
            csr = str(cert) + ".csr"
            self._openssl("req", "-new", "-key", str(key), "-subj", subj, "-out", csr)
            self._openssl("x509", "-req", "-in", csr, "-CA", str(signer), "-CAkey",
                          str(signer_key), "-CAcreateserial", "-days", "30", "-sha256",
                          "-extfile", ext, "-out", str(cert))
        self.chain.write_text(self.leaf.read_text() + self.inter.read_text())
        self.bad_order.write_text(self.inter.read_text() + self.leaf.read_text())
        self._openssl("genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt",
                      "group:ffdhe2048", "-out", str(self.dhparam))


# --------------------------------------------------------------------------- backends


def prng_chunks(total, seed=1, chunk=1 << 20):
    """Deterministic pseudo-random data, yielded in chunks."""
    rnd = random.Random(seed)
    left = total
    while left > 0:
        n = min(chunk, left)
        yield rnd.randbytes(n)
        left -= n


def shut_down(sock):
    """shutdown(SHUT_RDWR), where a socket that is not connected (any more) is no error."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def free_port():
    """A port nobody listens on right now (bind to 0, read it, close)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def named_handler(name):
    """A backend handler that says its name, then echoes: which backend served the
    connection."""

    def handler(conn, backend):
        conn.sendall(name.encode() + b"\n")
        echo_handler(conn, backend)

    return handler


def recv_line(sock):
    """One line (up to and including LF), read a byte at a time so that nothing after it is
    consumed (a TLS session or socket may be used again afterwards); b"" at EOF."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return line


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        b = sock.recv(min(1 << 20, n - len(buf)))
        if not b:
            break
        buf += b
    return bytes(buf)


class Backend:
    """Plaintext stream server on a thread; each connection is served by handler(conn, self)
    on its own thread. Addresses: ("127.0.0.1", 0), ("::1", 0) or a unix socket path."""

    def __init__(self, handler, addr=("127.0.0.1", 0)):
        self.handler = handler
        if isinstance(addr, (str, Path)):
            self.family = socket.AF_UNIX
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(str(addr))
            self.unix_path = str(addr)
        else:
            self.family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
            self.sock = socket.socket(self.family, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(addr)
        self.sock.listen(4096)
        self.conns = []
        self.results = []          # whatever handlers report
        self.errors = []
        self.cond = threading.Condition()
        self.accepted = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def address(self):
        """The address as written in a tlsgate config."""
        name = self.sock.getsockname()
        if self.family == socket.AF_UNIX:
            return f"unix:{name}"
        if self.family == socket.AF_INET6:
            return f"[{name[0]}]:{name[1]}"
        return f"{name[0]}:{name[1]}"

    def _accept_loop(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.cond:
                self.conns.append(conn)
                self.accepted += 1
                self.cond.notify_all()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            self.handler(conn, self)
        except OSError as e:
            if not self.stopped:
                self.report_error(e)
        finally:
            conn.close()

    def report(self, value):
        with self.cond:
            self.results.append(value)
            self.cond.notify_all()

    def report_error(self, e):
        with self.cond:
            self.errors.append(e)
            self.cond.notify_all()

    def wait_results(self, n=1, timeout=30):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.results) >= n, timeout)
            assert ok, f"backend reported {len(self.results)} of {n} results (errors {self.errors})"
            return list(self.results)

    def wait_accepted(self, n=1, timeout=10):
        with self.cond:
            assert self.cond.wait_for(lambda: self.accepted >= n, timeout), \
                f"backend accepted {self.accepted} of {n} connections"

    def stop(self):
        self.stopped = True
        shut_down(self.sock)  # wakes the accept()ing thread
        self.sock.close()
        with self.cond:
            conns = list(self.conns)
        for c in conns:
            shut_down(c)
        self.thread.join(5)
        if self.family == socket.AF_UNIX:
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass


def echo_handler(conn, backend):
    """Echo everything; after the client's EOF, half-close and report the byte count."""
    n = 0
    while True:
        b = conn.recv(1 << 16)
        if not b:
            break
        conn.sendall(b)
        n += len(b)
    conn.shutdown(socket.SHUT_WR)
    backend.report(n)


def sink_handler(conn, backend):
    """Read to EOF, report (bytes, sha256)."""
    h = hashlib.sha256()
    n = 0
    while True:
        b = conn.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    backend.report((n, h.hexdigest()))


def source_handler(total, seed=2):
    """Stream `total` deterministic pseudo-random bytes, then close; report (bytes, sha256)
    once done. backend.sent tracks progress (for back-pressure tests)."""

    def handler(conn, backend):
        h = hashlib.sha256()
        backend.sent = 0
        for chunk in prng_chunks(total, seed, chunk=1 << 16):
            conn.sendall(chunk)
            h.update(chunk)
            backend.sent += len(chunk)
        conn.shutdown(socket.SHUT_WR)
        backend.report((total, h.hexdigest()))

    return handler


def sha256_of_prng(total, seed):
    h = hashlib.sha256()
    for c in prng_chunks(total, seed):
        h.update(c)
    return h.hexdigest()


# --------------------------------------------------------------------------- tlsgate runner


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def render_config(global_, tls, services):
    out = ["[global]"]
    out += [f"{k} = {toml_value(v)}" for k, v in global_.items()]
    out += ["", "[tls]"]
    out += [f"{k} = {toml_value(v)}" for k, v in tls.items()]
    for svc in services:
        out += ["", "[[service]]"]
        out += [f"{k} = {toml_value(v)}" for k, v in svc.items()]
    return "\n".join(out) + "\n"


LOG_RE = re.compile(r"^(?P<ts>.+?) tlsgate\[(?P<pid>\d+)\]: (?P<level>\w+): (?P<msg>.*)$")


def parse_address(text):
    """'127.0.0.1:43121' -> ('127.0.0.1', 43121); '[::1]:4' -> ('::1', 4); 'unix:/p' -> '/p'."""
    if text.startswith("unix:"):
        return text[len("unix:"):]
    m = re.fullmatch(r"\[(.+)\]:(\d+)", text) or re.fullmatch(r"([^:]+):(\d+)", text)
    assert m, f"unparsable address {text!r}"
    return (m.group(1), int(m.group(2)))


def read_ports_file(path):
    """{service: address} from the file `tlsgate --ports-file PATH` writes ("SERVICE ADDRESS"
    lines, addresses as parse_address reads them), or None while there is no such file."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    addresses = {}
    for line in text.splitlines():
        name, address = line.split(" ")
        addresses[name] = parse_address(address)
    return addresses


def wait_for_ports_file(path, names, timeout=10, exited=lambda: False, context=lambda: ""):
    """Waits until the ports file lists exactly the services `names`; returns its
    {service: address}. `exited()` says the process is gone (stop waiting); `context()` is
    added to the failure message (the log so far)."""
    deadline = time.monotonic() + timeout
    while True:
        addresses = read_ports_file(path)
        if addresses is not None and sorted(addresses) == sorted(names):
            return addresses
        if exited() or time.monotonic() >= deadline:
            raise AssertionError(f"ports file {path} lists {addresses}, not the services "
                                 f"{sorted(names)}:\n{context()}")
        time.sleep(0.02)


class Tlsgate:
    def __init__(self, binary, workdir: Path, certs: Certs):
        self.binary = binary
        self.workdir = workdir
        self.certs = certs
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        self.addresses = {}
        self.config_path = None
        self.ports_path = workdir / "ports"

    def write_config(self, services, tls=None, global_=None, name="tlsgate.toml"):
        g = {"workers": 1, "log_level": "info", "log": "stderr", "drain_timeout": "3s"}
        g.update(global_ or {})
        t = {"cert": str(self.certs.chain), "key": str(self.certs.leaf_key)}
        t.update(tls or {})
        svcs = []
        for s in services:
            d = {"protocol": "raw", "tls": "implicit"}
            if "sni_parent" not in s:  # an SNI-routed service has no listener of its own
                d["listen"] = "127.0.0.1:0"
            d.update(s)
            svcs.append(d)
        path = self.workdir / name
        path.write_text(render_config(g, t, svcs))
        return path

    def start(self, services, tls=None, global_=None, ready_timeout=10, listening=None):
        """Writes the config, starts tlsgate with --ports-file and waits until the ports file
        lists the services in `listening` (default: every service but SNI-routed ones) and tlsgate is ready (its
        signal handlers are in place only then)."""
        self.config_path = self.write_config(services, tls, global_)
        assert os.access(self.binary, os.X_OK), f"tlsgate binary not found: {self.binary}"
        self.proc = subprocess.Popen(
            [str(self.binary), "--config", str(self.config_path),
             "--ports-file", str(self.ports_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=raise_nofile_limit, cwd=str(self.workdir))
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()
        if listening is None:
            listening = [s["name"] for s in services if "sni_parent" not in s]
        deadline = time.monotonic() + ready_timeout
        try:
            self.addresses = wait_for_ports_file(
                self.ports_path, listening, ready_timeout,
                exited=lambda: self.proc.poll() is not None, context=self.log_text)
            self.wait_for_log(r"tlsgate ready", max(0.1, deadline - time.monotonic()))
        except AssertionError:
            self.stop()
            raise
        return self

    def read_ports(self):
        """The ports file as it is now: {service: address}."""
        return read_ports_file(self.ports_path)

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines_done = True
            self.cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def address(self, name):
        return self.addresses[name]

    def port(self, name):
        return self.addresses[name][1]

    def logs(self):
        with self.cond:
            return list(self.lines)

    def log_text(self):
        return "\n".join(self.logs())

    def wait_for_log(self, regex, timeout=10, start=0):
        """Wait until a stderr line (from index `start`) matches; return the match."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[start:]:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                exited = self.proc.poll() is not None and getattr(self, "lines_done", False)
                if left <= 0 or exited:
                    why = "exited with %s" % self.proc.returncode if exited else "timeout"
                    raise AssertionError(f"no log line matching {regex!r} ({why}); "
                                         f"stderr so far:\n" + "\n".join(self.lines[-200:]))
                self.cond.wait(min(left, 0.2))

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        """SIGTERM, wait, SIGKILL after `timeout`; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        return self.proc.returncode

    def sanitizer_reports(self):
        return [l for l in self.logs() if any(m in l for m in SANITIZER_MARKERS)]


# --------------------------------------------------------------------------- TLS clients


def client_context(min_version=None, max_version=None, ciphers=None, cafile=None):
    warnings.filterwarnings("ignore", "ssl.TLSVersion.TLSv1", DeprecationWarning)
    if cafile:
        ctx = ssl.create_default_context(cafile=str(cafile))
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def family_of(addr):
    if isinstance(addr, str):
        return socket.AF_UNIX
    return socket.AF_INET6 if ":" in addr[0] else socket.AF_INET


def tcp_connect(addr, timeout=10):
    s = socket.socket(family_of(addr), socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(addr)
    return s


def tls_connect(addr, ctx=None, timeout=10, server_hostname="localhost"):
    """TLS connection with close_notify-aware EOF (recv raises on a truncated stream)."""
    ctx = ctx or client_context()
    raw = tcp_connect(addr, timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_hostname,
                               suppress_ragged_eofs=False)
    except BaseException:
        raw.close()
        raise


def read_to_eof(sock, limit=None):
    buf = bytearray()
    while True:
        b = sock.recv(1 << 20)
        if not b:
            return bytes(buf)
        buf += b
        if limit is not None and len(buf) > limit:
            raise AssertionError(f"more than {limit} bytes")


def echo_round_trip(addr, payload=b"ping through tlsgate\n", ctx=None, timeout=10):
    with tls_connect(addr, ctx, timeout) as s:
        s.sendall(payload)
        got = recv_exact(s, len(payload))
    assert got == payload, f"echo mismatch: sent {len(payload)} got {len(got)} bytes"


def s_client(addr, *args, stdin="", timeout=20):
    """Run `openssl s_client` against addr; returns CompletedProcess (text)."""
    host, port = addr
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return run(["openssl", "s_client", "-connect", target, "-servername", "localhost",
                *args], input=stdin, timeout=timeout)


def s_client_result(out):
    """(protocol, cipher) negotiated per s_client's output, or None when no handshake
    happened. Protocol names as OpenSSL prints them: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3."""
    m = re.search(r"^New, (\S+), Cipher is (\S+)", out, re.M)
    if not m or m.group(2) == "(NONE)":
        return None
    # "New, X" names the cipher's version; the session block (absent for TLS 1.3 when
    # s_client quits early) names the protocol.
    p = re.search(r"^\s*Protocol\s*:\s*(\S+)", out, re.M)
    return (p.group(1) if p else m.group(1)), m.group(2)


def openssl_ciphers(spec):
    """[(name, version)] as `openssl ciphers -v SPEC` lists them, in order."""
    r = run(["openssl", "ciphers", "-v", spec])
    assert r.returncode == 0, r.stderr
    rows = []
    for line in r.stdout.splitlines():
        f = line.split()
        rows.append({"name": f[0], "version": f[1], "kx": f[2][3:], "au": f[3][3:]})
    return rows


class HalfCloseClient:
    """TLS client over ssl.MemoryBIO, so that it can send close_notify (TLS-level
    shutdown of its write side) and still read what the server sends afterwards."""

    def __init__(self, addr, ctx=None, timeout=30):
        self.sock = tcp_connect(addr, timeout)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = (ctx or client_context()).wrap_bio(self.incoming, self.outgoing,
                                                      server_hostname="localhost")
        self._run(self.tls.do_handshake)

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _run(self, fn, *args):
        while True:
            try:
                result = fn(*args)
                self._flush()
                return result
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(1 << 16)
                if data:
                    self.incoming.write(data)
                else:
                    self.incoming.write_eof()

    def sendall(self, data):
        view = memoryview(data)
        for i in range(0, len(view), 1 << 14):
            self._run(self.tls.write, view[i:i + (1 << 14)])

    def shutdown_write(self, tcp_fin=False):
        """Send close_notify (and, with tcp_fin, a TCP FIN too); reading goes on."""
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        self._flush()
        if tcp_fin:
            self.sock.shutdown(socket.SHUT_WR)

    def read_to_close_notify(self):
        """Everything up to the server's close_notify; raises ssl.SSLEOFError when the
        stream ends without one."""
        buf = bytearray()
        while True:
            try:
                buf += self._run(self.tls.read, 1 << 16)
            except ssl.SSLZeroReturnError:
                return bytes(buf)

    def close(self):
        self.sock.close()
