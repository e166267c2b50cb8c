"""The stunnel.conf front end: Debian's stunnel4 and tlsgate run on the same file and must
move the same bytes (transcripts compared byte for byte), plus --check, --print-toml, -fd and
the other stunnel-style command line forms on the corpus in tests/stunnel/."""

import os
import re
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

import support
from support import run

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "stunnel"
STUNNEL = Path("/usr/bin/stunnel4")

# Lines the client sends; 8-bit bytes and an empty line included.
CLIENT_LINES = [b"a1 CAPABILITY\r\n", b"a2 NOOP \xc3\xa9\xff\x00 binary\r\n", b"\r\n",
                b"a3 LOGOUT\r\n"]
GREETING = b"* OK recording backend ready\r\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render(template, path, **values):
    text = (CORPUS / "compat" / template).read_text()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    assert "@" not in text, text
    path.write_text(text)
    return path


def recording_handler(tls_context=None):
    """Greets, answers each complete line with "re: LINE", and at EOF reports every byte it
    received. With a context, the backend speaks TLS."""

    def handler(conn, backend):
        if tls_context is not None:
            conn = tls_context.wrap_socket(conn, server_side=True)
        conn.sendall(GREETING)
        got = b""
        pending = b""
        while True:
            try:
                data = conn.recv(65536)
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError):
                data = b""
            if not data:
                break
            got += data
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                conn.sendall(b"re: " + line + b"\n")
        backend.report(got)

    return handler


def client_session(port, ctx=None):
    """Reads the greeting, sends CLIENT_LINES, reads one answer per line, closes; returns
    everything received."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock = ctx.wrap_socket(raw, server_hostname="localhost") if ctx else raw
    expected = len(GREETING) + sum(len(b"re: ") + len(l) for l in CLIENT_LINES)
    received = b""
    with sock:
        while len(received) < len(GREETING):
            data = sock.recv(65536)
            assert data, f"connection closed after {received!r}"
            received += data
        for line in CLIENT_LINES:
            sock.sendall(line)
        while len(received) < expected:
            data = sock.recv(65536)
            assert data, f"connection closed after {received!r}"
            received += data
    return received


class Proxy:
    """stunnel4 or tlsgate on a config file, in the foreground; stderr collected."""

    def __init__(self, argv, ready_regex, port):
        self.lines = []
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 15
        while not any(re.search(ready_regex, l) for l in list(self.lines)):
            assert self.proc.poll() is None, f"{argv} exited:\n" + "\n".join(self.lines)
            assert time.monotonic() < deadline, f"{argv} not ready:\n" + "\n".join(self.lines)
            time.sleep(0.05)
        self.port = port

    def _read(self):
        for raw in self.proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


# Not a skip: the side-by-side comparison is the point of these tests, and stunnel4 is in
# packaging/build-deps.txt.
def require_stunnel():
    assert STUNNEL.exists(), "stunnel4 is not installed (apt-get install stunnel4)"


def start_stunnel(conf, port):
    require_stunnel()
    return Proxy([str(STUNNEL), str(conf)], r"Configuration successful", port)


def start_tlsgate(binary, conf, port):
    return Proxy([str(binary), str(conf)], r"tlsgate ready", port)


def transcript(proxy, backend, ctx=None):
    before = len(backend.results)
    to_client = client_session(proxy.port, ctx)
    to_backend = backend.wait_results(before + 1)[before]
    return to_backend, to_client


def test_implicit_tls_same_bytes_as_stunnel(tlsgate_binary, certs, backend, tmp_path):
    rec = backend(recording_handler())
    client_ctx = support.client_context(cafile=str(certs.root))
    results = {}
    for name in ("stunnel", "tlsgate"):
        port = free_port()
        conf = render("implicit-tls.conf", tmp_path / f"{name}.conf", ACCEPT=port,
                      CONNECT=rec.sock.getsockname()[1], CERT=certs.chain, KEY=certs.leaf_key)
        proxy = (start_stunnel(conf, port) if name == "stunnel"
                 else start_tlsgate(tlsgate_binary, conf, port))
        try:
            results[name] = transcript(proxy, rec, client_ctx)
        finally:
            rc = proxy.stop()
        assert rc == 0, f"{name} exited {rc}:\n" + "\n".join(proxy.lines)
        if name == "tlsgate":
            # The start notes are logged (foreground = yes: stderr).
            assert any("ciphers is not set" in l for l in proxy.lines), proxy.lines
    assert results["tlsgate"] == results["stunnel"]
    to_backend, to_client = results["tlsgate"]
    assert to_backend == b"".join(CLIENT_LINES)
    assert to_client.startswith(GREETING)


def test_client_mode_same_bytes_as_stunnel(tlsgate_binary, certs, backend, tmp_path):
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(certs.chain), str(certs.leaf_key))
    rec = backend(recording_handler(server_ctx))
    results = {}
    for name in ("stunnel", "tlsgate"):
        port = free_port()
        conf = render("client.conf", tmp_path / f"{name}.conf", ACCEPT=port,
                      CONNECT=rec.sock.getsockname()[1], CA=certs.root)
        proxy = (start_stunnel(conf, port) if name == "stunnel"
                 else start_tlsgate(tlsgate_binary, conf, port))
        try:
            results[name] = transcript(proxy, rec)
        finally:
            rc = proxy.stop()
        assert rc == 0, f"{name} exited {rc}:\n" + "\n".join(proxy.lines)
    assert results["tlsgate"] == results["stunnel"]
    assert results["tlsgate"][0] == b"".join(CLIENT_LINES)


def second_connection_resumes(port, ctx):
    """Two connections, the second offering the first one's session: was it resumed?"""
    session = None
    reused = []
    for _ in range(2):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
            # Reading the greeting also lets TLS 1.3 tickets arrive.
            received = b""
            while len(received) < len(GREETING):
                data = s.recv(65536)
                assert data, f"connection closed after {received!r}"
                received += data
            reused.append(s.session_reused)
            session = s.session
    assert not reused[0]
    return reused[1]


@pytest.mark.parametrize("resume", ["yes", "no"])
def test_session_resume_as_stunnel(tlsgate_binary, certs, backend, tmp_path, resume):
    rec = backend(recording_handler())
    for name in ("stunnel", "tlsgate"):
        port = free_port()
        conf = render("session-resume.conf", tmp_path / f"{name}.conf", ACCEPT=port,
                      CONNECT=rec.sock.getsockname()[1], CERT=certs.chain, KEY=certs.leaf_key,
                      RESUME=resume)
        proxy = (start_stunnel(conf, port) if name == "stunnel"
                 else start_tlsgate(tlsgate_binary, conf, port))
        try:
            for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                ctx = support.client_context(cafile=str(certs.root), min_version=version,
                                             max_version=version)
                assert second_connection_resumes(port, ctx) == (resume == "yes"), (name, version)
        finally:
            rc = proxy.stop()
        assert rc == 0, f"{name} exited {rc}:\n" + "\n".join(proxy.lines)


def test_pid_file_inside_the_chroot_as_stunnel(tlsgate_binary, certs, backend, tmp_path,
                                               monkeypatch):
    # LeakSanitizer reads /proc at exit, which the jail lacks (as in test_daemon's chroot test).
    options = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (options + ":" if options else "") + "detect_leaks=0")
    rec = backend(recording_handler())
    client_ctx = support.client_context(cafile=str(certs.root))
    for name in ("stunnel", "tlsgate"):
        jail = tmp_path / f"jail-{name}"
        jail.mkdir()
        port = free_port()
        conf = render("pid-chroot.conf", tmp_path / f"{name}.conf", ACCEPT=port,
                      CONNECT=rec.sock.getsockname()[1], CERT=certs.chain, KEY=certs.leaf_key,
                      JAIL=jail)
        assert not Path("/test.pid").exists()
        proxy = (start_stunnel(conf, port) if name == "stunnel"
                 else start_tlsgate(tlsgate_binary, conf, port))
        try:
            deadline = time.monotonic() + 5
            while not (jail / "test.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert (jail / "test.pid").read_text().strip() == str(proxy.proc.pid), name
            assert not Path("/test.pid").exists(), name
            to_backend, _ = transcript(proxy, rec, client_ctx)
            assert to_backend == b"".join(CLIENT_LINES)
        finally:
            rc = proxy.stop()
            Path("/test.pid").unlink(missing_ok=True)
        assert rc == 0, f"{name} exited {rc}:\n" + "\n".join(proxy.lines)


def test_every_accept_line_is_bound_as_stunnel(tlsgate_binary, certs, backend, tmp_path):
    rec = backend(recording_handler())
    client_ctx = support.client_context(cafile=str(certs.root))
    for name in ("stunnel", "tlsgate"):
        ports = [free_port(), free_port()]
        conf = render("two-accepts.conf", tmp_path / f"{name}.conf", ACCEPT=ports[0],
                      ACCEPT2=ports[1], CONNECT=rec.sock.getsockname()[1], CERT=certs.chain,
                      KEY=certs.leaf_key)
        proxy = (start_stunnel(conf, ports[0]) if name == "stunnel"
                 else start_tlsgate(tlsgate_binary, conf, ports[0]))
        try:
            for port in ports:
                proxy.port = port
                to_backend, to_client = transcript(proxy, rec, client_ctx)
                assert to_backend == b"".join(CLIENT_LINES), (name, port)
                assert to_client.startswith(GREETING)
        finally:
            rc = proxy.stop()
        assert rc == 0, f"{name} exited {rc}:\n" + "\n".join(proxy.lines)
        if name == "tlsgate":
            # The second accept logs under its own name.
            assert any("imapd.2" in l for l in proxy.lines), proxy.lines


# --------------------------------------------------------------------------- command line


def corpus_with_certs(name, certs, tmp_path):
    """A corpus file with /etc/stunnel/stunnel.pem replaced by a test PEM holding chain and key."""
    both = tmp_path / "both.pem"
    both.write_text(certs.chain.read_text() + certs.leaf_key.read_text())
    conf = tmp_path / Path(name).name
    conf.write_text((CORPUS / name).read_text().replace("/etc/stunnel/stunnel.pem", str(both)))
    return conf


def test_check_on_a_stunnel_conf_prints_notes(tlsgate_binary, certs, tmp_path):
    conf = corpus_with_certs("good/man-mail.conf", certs, tmp_path)
    r = run([str(tlsgate_binary), "--check", str(conf)])
    assert r.returncode == 0, r.stderr
    assert f"{conf}: configuration OK (stunnel.conf)" in r.stdout
    assert re.search(r"^note: service\[imap\]: protocol = imap: tlsgate answers STARTTLS",
                     r.stdout, re.M), r.stdout
    assert "note: ciphers is not set" in r.stdout


def test_check_reports_the_stunnel_line(tlsgate_binary, tmp_path):
    bad = CORPUS / "bad" / "unsupported-protocol.conf"
    r = run([str(tlsgate_binary), "--check", str(bad)])
    assert r.returncode == 1
    assert (f"error: {bad}:7: service[ldap].protocol: protocol \"ldap\" is not supported"
            in r.stderr), r.stderr
    # A certificate problem found later still names the stunnel line.
    conf = tmp_path / "nocert.conf"
    conf.write_text("foreground = yes\n[a]\naccept = 127.0.0.1:0\nconnect = 9\n"
                    "cert = /nonexistent/x.pem\n")
    r = run([str(tlsgate_binary), "--check", str(conf)])
    assert r.returncode == 1
    assert re.search(rf"^error: {re.escape(str(conf))}:5: service\[a\]\.cert: ", r.stderr,
                     re.M), r.stderr


@pytest.mark.parametrize("name", sorted(str(p.relative_to(CORPUS))
                                        for p in (CORPUS / "good").glob("*.conf")))
def test_print_toml_on_the_corpus(tlsgate_binary, certs, tmp_path, name):
    conf = corpus_with_certs(name, certs, tmp_path)
    if name == "good/man-include.conf":
        conf = CORPUS / name  # its include path is relative to the corpus
    r = run([str(tlsgate_binary), "--print-toml", str(conf)])
    assert r.returncode == 0, r.stderr
    assert "[[service]]" in r.stdout
    assert "# note: " in r.stdout
    # Only what differs from tlsgate's defaults is written (stunnel.conf has no max_line).
    assert "\nmax_line = " not in r.stdout
    # The TOML loads back (read as TOML by its syntax).
    toml = tmp_path / "printed.toml"
    toml.write_text(r.stdout)
    again = run([str(tlsgate_binary), "--print-toml", str(toml)])
    assert again.returncode == 0, again.stderr
    strip = lambda text: [l for l in text.splitlines() if not l.startswith("#")]
    assert strip(again.stdout) == strip(r.stdout)


def test_print_toml_then_check_passes(tlsgate_binary, certs, tmp_path):
    conf = corpus_with_certs("good/man-mail.conf", certs, tmp_path)
    r = run([str(tlsgate_binary), "--print-toml", str(conf)])
    assert r.returncode == 0, r.stderr
    toml = tmp_path / "mail.toml"
    toml.write_text(r.stdout)
    c = run([str(tlsgate_binary), "--check", "--config", str(toml)])
    assert c.returncode == 0, c.stderr
    assert "configuration OK (TOML)" in c.stdout


def test_debian_sample_fails_on_ocspaia(tlsgate_binary):
    r = run([str(tlsgate_binary), "--check", str(CORPUS / "debian-sample.conf")])
    assert r.returncode == 1
    assert r.stderr.count("OCSPaia is not supported by tlsgate") == 3, r.stderr


def test_fd_reads_the_config_from_a_descriptor(tlsgate_binary, certs, tmp_path):
    conf = corpus_with_certs("good/man-imapd-remote.conf", certs, tmp_path)
    with open(conf, "rb") as f:
        fd = f.fileno()
        r = subprocess.run([str(tlsgate_binary), "--check", "-fd", str(fd)], pass_fds=(fd,),
                           capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert f"fd:{fd}: configuration OK (stunnel.conf)" in r.stdout


def test_stunnel_forces_the_format(tlsgate_binary, tmp_path):
    # Sniffed as TOML (quoted value), read as stunnel.conf because --stunnel says so.
    conf = tmp_path / "odd.conf"
    conf.write_text('accept = "x"\n')
    r = run([str(tlsgate_binary), "--check", "--stunnel", str(conf)])
    assert r.returncode == 1
    assert f'{conf}:1: global.accept: invalid port ""x""' in r.stderr, r.stderr


@pytest.mark.parametrize("flag,expected", [("-version", "tlsgate"), ("-help", "--print-toml"),
                                           ("-sockets", "TCP_NODELAY"), ("-options", "NO_TICKET")])
def test_stunnel_style_flags(tlsgate_binary, flag, expected):
    r = run([str(tlsgate_binary), flag])
    assert r.returncode == 0, r.stderr
    assert expected in r.stdout


def test_two_config_sources_are_refused(tlsgate_binary):
    r = run([str(tlsgate_binary), "a.conf", "--config", "b.toml"])
    assert r.returncode == 1
    assert "name one configuration" in r.stderr


# --------------------------------------------------------------------------- the corpus
# tests/stunnel/wild/: production files and the man page's remaining examples. The first line
# says what tlsgate must do: "; tlsgate-expect: ok"
# or "; tlsgate-expect: :LINE: MESSAGE"; "; live: yes" runs the file through stunnel4 and
# tlsgate side by side). tests/stunnel/README.md tabulates the results.

WILD = CORPUS / "wild"
# (good/ files name paths of a production host, /usr/sbin/imapd and the like: the unit tests
# and --print-toml above cover them.)
CORPUS_FILES = sorted(str(p.relative_to(CORPUS)) for p in WILD.glob("*.conf"))
# Lines a sandboxed run drops: they need the production host (a jail, a user, /var/run).
HOST_ONLY = re.compile(r"^\s*(chroot|setuid|setgid|pid|output|foreground|syslog)\s*=", re.I)


def header(path, key):
    for line in path.read_text().splitlines():
        if line.startswith(f"; {key}: "):
            return line[len(f"; {key}: "):]
    return None


class Sandbox:
    """A corpus file with its production paths replaced by the test's: the certificate, the
    include directory; for a live run also every accept on a free local port, every connect
    to the test backend, and the host-only globals dropped."""

    def __init__(self, name, certs, tmp_path, backend_port=None):
        self.both = tmp_path / "both.pem"
        self.both.write_text(certs.chain.read_text() + certs.leaf_key.read_text())
        self.backend_port = backend_port
        self.ports = []
        source = CORPUS / name
        include = tmp_path / "conf.d"
        if "include = /etc/stunnel/conf.d" in source.read_text():
            include.mkdir()
            for f in sorted((source.parent / "conf.d").iterdir()):
                (include / f.name).write_text(self.rewrite(f.read_text()))
        text = self.rewrite(source.read_text())
        text = text.replace("include = /etc/stunnel/conf.d", f"include = {include}")
        if backend_port is not None:
            text = "foreground = yes\npid =\n" + text
        self.path = tmp_path / source.name
        self.path.write_text(text)

    def rewrite(self, text):
        text = text.replace("/etc/stunnel/stunnel.pem", str(self.both))
        if self.backend_port is None:
            return text
        out = []
        for line in text.splitlines():
            if HOST_ONLY.match(line):
                continue
            if re.match(r"^\s*accept\s*=", line, re.I):
                self.ports.append(free_port())
                line = f"accept = 127.0.0.1:{self.ports[-1]}"
            elif re.match(r"^\s*connect\s*=", line, re.I):
                line = f"connect = 127.0.0.1:{self.backend_port}"
            out.append(line)
        return "\n".join(out) + "\n"


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_check(tlsgate_binary, certs, tmp_path, name):
    conf = Sandbox(name, certs, tmp_path).path
    expect = header(CORPUS / name, "tlsgate-expect") or "ok"
    r = run([str(tlsgate_binary), "--check", str(conf)])
    if expect == "ok":
        assert r.returncode == 0, r.stderr
        assert "configuration OK (stunnel.conf)" in r.stdout
    else:
        assert r.returncode == 1, r.stdout
        assert f"error: {conf}{expect}" in r.stderr, r.stderr


LIVE_FILES = [n for n in CORPUS_FILES if header(CORPUS / n, "live") == "yes"]


def wait_listening(port):
    """stunnel4 logs "Configuration successful" before it binds its accept sockets."""
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, f"nothing listens on {port}"
            time.sleep(0.05)


@pytest.mark.parametrize("name", LIVE_FILES)
def test_corpus_live_as_stunnel(tlsgate_binary, certs, backend, tmp_path, name):
    """stunnel4 and tlsgate on the same file: every accept takes a TLS client through to the
    backend, with the same bytes on both sides."""
    rec = backend(recording_handler())
    client_ctx = support.client_context(cafile=str(certs.root))
    results = {}
    for proxy_name in ("stunnel", "tlsgate"):
        work = tmp_path / proxy_name
        work.mkdir()
        box = Sandbox(name, certs, work, backend_port=rec.sock.getsockname()[1])
        assert box.ports, "a live corpus file needs an accept"
        proxy = (start_stunnel(box.path, box.ports[0]) if proxy_name == "stunnel"
                 else start_tlsgate(tlsgate_binary, box.path, box.ports[0]))
        try:
            results[proxy_name] = []
            for port in box.ports:
                wait_listening(port)
                proxy.port = port
                results[proxy_name].append(transcript(proxy, rec, client_ctx))
        finally:
            rc = proxy.stop()
        assert rc == 0, f"{proxy_name} exited {rc}:\n" + "\n".join(proxy.lines)
    assert results["tlsgate"] == results["stunnel"]
    for to_backend, to_client in results["tlsgate"]:
        assert to_backend == b"".join(CLIENT_LINES)
        assert to_client.startswith(GREETING)
