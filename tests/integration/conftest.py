import shutil
import tempfile
from pathlib import Path

import pytest

import support

REPO = Path(__file__).resolve().parents[2]


def pytest_addoption(parser):
    parser.addoption("--tlsgate", default=str(REPO / "build" / "tlsgate"),
                     help="path to the tlsgate binary under test")
    parser.addoption("--confdir", default=str(REPO / "conf"),
                     help="directory holding the example configs (default: <repo>/conf)")


def pytest_configure(config):
    support.raise_nofile_limit()


@pytest.fixture(scope="session")
def tlsgate_binary(request):
    return Path(request.config.getoption("--tlsgate")).resolve()


@pytest.fixture(scope="session")
def confdir(request):
    return Path(request.config.getoption("--confdir"))


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return support.Certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def shortdir():
    """A short directory for unix sockets (sun_path is limited to 108 bytes)."""
    d = tempfile.mkdtemp(prefix="tg", dir="/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def backend():
    """Factory: backend(handler, addr=("127.0.0.1", 0)) -> running support.Backend."""
    started = []

    def make(handler=support.echo_handler, addr=("127.0.0.1", 0)):
        b = support.Backend(handler, addr)
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()


@pytest.fixture
def echo(backend):
    return backend(support.echo_handler)


@pytest.fixture
def tlsgate(tlsgate_binary, tmp_path, certs):
    """Factory: tlsgate(services, tls=None, global_=None) -> running support.Tlsgate.
    Every instance is stopped at teardown and its stderr checked for sanitizer reports."""
    started = []

    def start(services, tls=None, global_=None):
        d = tmp_path / f"tlsgate{len(started)}"
        d.mkdir()
        gate = support.Tlsgate(tlsgate_binary, d, certs)
        started.append(gate)
        return gate.start(services, tls, global_)

    yield start
    reports, bad_exits = [], []
    for gate in started:
        if gate.proc is None:
            continue
        rc = gate.stop()
        reports += gate.sanitizer_reports()
        if rc != 0:
            bad_exits.append(f"{gate.config_path}: exit status {rc}\n" + gate.log_text()[-2000:])
    assert not reports, "sanitizer reports in tlsgate's stderr:\n" + "\n".join(reports)
    assert not bad_exits, "tlsgate did not exit 0 on SIGTERM:\n" + "\n".join(bad_exits)


@pytest.fixture
def gate(tlsgate, echo):
    """One tlsgate with the default profile, service "echo" in front of an echo backend."""
    return tlsgate([{"name": "echo", "backend": echo.address}])


# --------------------------------------------------------------------------- mail protocols


@pytest.fixture(scope="session")
def dovecot():
    """The legacy plaintext-only Dovecot (tests/tools/legacy-dovecot.sh) on ephemeral ports:
    users alice/alicepass and bob/bobpass, one message each."""
    import mail_support
    d = tempfile.mkdtemp(prefix="tgdv", dir="/tmp")
    server = mail_support.Dovecot(Path(d))
    yield server
    server.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def smtp_backend():
    """A fresh aiosmtpd backend (AUTH PLAIN/LOGIN without TLS, records lines and messages)."""
    import mail_support
    server = mail_support.SmtpBackend()
    yield server
    server.stop()


@pytest.fixture
def tap():
    """Factory: tap((host, port), greeting_delay=0) -> mail_support.Tap recording what goes
    to that target (greeting_delay holds the target's first bytes back that long)."""
    import mail_support
    taps = []

    def make(target, greeting_delay=0.0):
        t = mail_support.Tap(target, greeting_delay)
        taps.append(t)
        return t

    yield make
    for t in taps:
        t.stop()


@pytest.fixture
def mailgate(tlsgate):
    """Factory like `tlsgate`, for mail services: log_level debug, and at teardown every
    instance is stopped and its whole log checked for the test password."""
    import mail_support
    started = []

    def start(services, tls=None, global_=None):
        g = {"log_level": "debug"}
        g.update(global_ or {})
        gate = tlsgate(services, tls, g)
        started.append(gate)
        return gate

    yield start
    leaks = []
    for gate in started:
        gate.stop()
        leaks += [l for l in gate.logs() if any(x in l for x in mail_support.SECRETS)]
    assert not leaks, "the password appears in tlsgate's log:\n" + "\n".join(leaks)
