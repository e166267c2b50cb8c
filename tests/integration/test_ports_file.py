"""--ports-file PATH: which address every listener got, for scripts and these tests, without
reading the log. Written once every listener of every worker is bound, replaced (PATH.tmp,
then rename) after a reload, removed at exit."""

import os
import signal

import support
from support import echo_round_trip


def log_addresses(gate):
    """{service: address text} from the "service=NAME listening on ADDRESS" log lines, which
    operators read and which stay as they were."""
    found = {}
    for line in gate.logs():
        words = line.split()
        if "listening" in words and words[words.index("listening") + 1] == "on":
            name = next(w for w in words if w.startswith("service="))[len("service="):]
            found[name] = words[words.index("listening") + 2]
    return found


def test_one_line_per_listener_as_the_log_prints_it(tlsgate, echo, shortdir):
    gate = tlsgate([
        {"name": "v4", "backend": echo.address},
        {"name": "v6", "backend": echo.address, "listen": "[::1]:0"},
        {"name": "local", "backend": echo.address, "listen": f"unix:{shortdir / 'gw.sock'}"},
        {"name": "routed", "sni_parent": "v4", "sni_pattern": "a.example.org",
         "backend": echo.address},
    ], global_={"workers": 2})
    text = gate.ports_path.read_text()
    lines = text.splitlines()
    assert text.endswith("\n")
    # In config order; the SNI-routed service has no listener of its own, so no line.
    assert [l.split(" ")[0] for l in lines] == ["v4", "v6", "local"]
    assert dict(l.split(" ") for l in lines) == log_addresses(gate)
    assert lines[0].startswith("v4 127.0.0.1:") and not lines[0].endswith(":0")
    assert lines[1].startswith("v6 [::1]:") and not lines[1].endswith(":0")
    assert lines[2] == f"local unix:{shortdir / 'gw.sock'}"
    for name in ("v4", "v6", "local"):
        echo_round_trip(gate.address(name))


def test_reload_replaces_the_file_whole(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address}], global_={"workers": 2})
    port = gate.port("echo")
    before = os.stat(gate.ports_path).st_ino
    gate.write_config([{"name": "echo", "backend": echo.address, "listen": f"127.0.0.1:{port}"},
                       {"name": "added", "backend": echo.address}], global_={"workers": 2})
    start = len(gate.logs())
    gate.signal(signal.SIGHUP)
    gate.wait_for_log(r"reload done", start=start)
    ports = gate.read_ports()
    assert list(ports) == ["echo", "added"]
    assert ports["echo"] == ("127.0.0.1", port)
    assert ports["added"][1] not in (0, port)
    # A new file renamed into place (a reader sees the old list or the new one), and no
    # temporary file left behind.
    assert os.stat(gate.ports_path).st_ino != before
    assert not gate.ports_path.with_name("ports.tmp").exists()
    assert log_addresses(gate)["added"] == f"127.0.0.1:{ports['added'][1]}"
    echo_round_trip(ports["added"])


def test_failed_reload_leaves_the_file_alone(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address}])
    before = gate.ports_path.read_text(), os.stat(gate.ports_path).st_ino
    gate.write_config([{"name": "echo", "backend": echo.address, "no_such_key": 1}])
    start = len(gate.logs())
    gate.signal(signal.SIGHUP)
    gate.wait_for_log(r"reload failed", start=start)
    assert (gate.ports_path.read_text(), os.stat(gate.ports_path).st_ino) == before


def test_removed_at_exit(tlsgate, echo):
    gate = tlsgate([{"name": "echo", "backend": echo.address}])
    assert gate.ports_path.exists()
    assert gate.stop() == 0
    assert not gate.ports_path.exists()


def test_not_written_when_a_listener_cannot_bind(tlsgate_binary, certs, tmp_path, echo):
    runner = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    config = runner.write_config([{"name": "echo", "backend": echo.address,
                                   "listen": "192.0.2.1:1"}])
    r = support.run([str(tlsgate_binary), "--config", str(config),
                     "--ports-file", str(runner.ports_path)], cwd=str(tmp_path))
    assert r.returncode == 1
    assert "cannot start: service echo: cannot bind 192.0.2.1:1" in r.stderr, r.stderr
    assert not runner.ports_path.exists()


def test_unwritable_directory_stops_the_start(tlsgate_binary, certs, tmp_path, echo):
    runner = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    config = runner.write_config([{"name": "echo", "backend": echo.address}])
    missing = tmp_path / "no-such-dir" / "ports"
    r = support.run([str(tlsgate_binary), "--config", str(config), "--ports-file",
                     str(missing)], cwd=str(tmp_path))
    assert r.returncode == 1
    assert f"cannot start: cannot open the directory of ports file {missing}" in r.stderr, \
        r.stderr


def test_check_writes_no_ports_file(tlsgate_binary, certs, tmp_path, echo):
    runner = support.Tlsgate(tlsgate_binary, tmp_path, certs)
    config = runner.write_config([{"name": "echo", "backend": echo.address}])
    r = support.run([str(tlsgate_binary), "--check", "--config", str(config), "--ports-file",
                     str(runner.ports_path)])
    assert r.returncode == 0, r.stderr
    assert not runner.ports_path.exists()


def test_help_documents_the_option(tlsgate_binary):
    r = support.run([str(tlsgate_binary), "--help"])
    assert r.returncode == 0
    assert "--ports-file PATH" in r.stdout
