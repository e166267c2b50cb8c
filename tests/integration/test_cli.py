"""Command line: --version and --check (the shipped examples and broken configs)."""

import re

import pytest

from support import render_config, run

EXAMPLES = ["tlsgate.toml", "imaps.toml", "pop3s.toml", "smtps.toml"]


def check(binary, path):
    return run([str(binary), "--check", "--config", str(path)], timeout=30)


def line_of(text, needle):
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in config")


def assert_error(r, path, line, key_regex):
    assert r.returncode == 1, f"--check exited {r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}"
    # Spec: "FILE:LINE: KEY: MESSAGE"; an "error: " severity prefix is tolerated.
    rx = rf"^(error: )?{re.escape(str(path))}:{line}: \S*{key_regex}: \S"
    assert re.search(rx, r.stderr, re.M), \
        f"no error line matching {rx!r} in stderr:\n{r.stderr}"


def test_version_mentions_tlsgate_openssl_and_libuv(tlsgate_binary):
    r = run([str(tlsgate_binary), "--version"])
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "tlsgate" in out
    assert re.search(r"OpenSSL 3\.\d+", out), out
    assert re.search(r"libuv\W*v?\d+\.\d+", out, re.I), out


@pytest.mark.parametrize("name", EXAMPLES)
def test_shipped_example_config_passes_check(tlsgate_binary, confdir, certs, tmp_path, name):
    src = confdir / name
    assert src.is_file(), f"example config {src} missing"
    text = src.read_text()
    value = r"""(\[[^\]]*\]|"[^"]*"|'[^']*')"""
    for key, path in (("cert", certs.chain), ("key", certs.leaf_key),
                      ("dhparam", certs.dhparam)):
        text = re.sub(rf"^(\s*{key}\s*=\s*){value}", lambda m: m.group(1) + f'"{path}"',
                      text, flags=re.M)
    cfg = tmp_path / name
    cfg.write_text(text)
    r = check(tlsgate_binary, cfg)
    assert r.returncode == 0, f"--check failed:\n{r.stderr}\n--- config:\n{text}"
    services = re.findall(r"^\s*\[\[service\]\]", text, re.M)
    names = re.findall(r"""^\s*name\s*=\s*["']([^"']+)""", text, re.M)
    assert len(names) == len(services)
    assert_one_summary_line_per_service(r.stdout, names)


def assert_one_summary_line_per_service(stdout, names):
    """Exactly one stdout line names each service (other lines, e.g. a final
    "configuration OK", are allowed)."""
    for n in names:
        lines = [l for l in stdout.splitlines() if re.search(rf"(^|\s){re.escape(n)}[:\s]", l)]
        assert len(lines) == 1, f"service {n}: {len(lines)} summary lines in:\n{stdout}"


def good_config(certs, backend="127.0.0.1:9", **tls):
    t = {"cert": str(certs.chain), "key": str(certs.leaf_key)}
    t.update(tls)
    return render_config({"workers": 1, "log_level": "info"}, t,
                         [{"name": "echo", "listen": "127.0.0.1:0", "backend": backend,
                           "protocol": "raw", "tls": "implicit"},
                          {"name": "other", "listen": "[::1]:0", "backend": "unix:/tmp/x.sock"}])


def test_check_accepts_valid_config_one_line_per_service(tlsgate_binary, certs, tmp_path):
    cfg = tmp_path / "good.toml"
    cfg.write_text(good_config(certs))
    r = check(tlsgate_binary, cfg)
    assert r.returncode == 0, r.stderr
    assert_one_summary_line_per_service(r.stdout, ["echo", "other"])


def test_check_rejects_unknown_key(tlsgate_binary, certs, tmp_path):
    text = good_config(certs).replace("[global]\n", "[global]\nfrobnicate = 3\n")
    cfg = tmp_path / "unknown.toml"
    cfg.write_text(text)
    assert_error(check(tlsgate_binary, cfg), cfg, line_of(text, "frobnicate"), "frobnicate")


def test_check_rejects_bad_address(tlsgate_binary, certs, tmp_path):
    text = good_config(certs).replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.300:http"')
    cfg = tmp_path / "badaddr.toml"
    cfg.write_text(text)
    assert_error(check(tlsgate_binary, cfg), cfg, line_of(text, "127.0.0.300"), "listen")


def test_check_rejects_missing_cert_file(tlsgate_binary, certs, tmp_path):
    text = good_config(certs, cert=str(tmp_path / "nonexistent.pem"))
    cfg = tmp_path / "nocert.toml"
    cfg.write_text(text)
    assert_error(check(tlsgate_binary, cfg), cfg, line_of(text, "nonexistent.pem"), "cert")


def test_check_rejects_key_not_matching_cert(tlsgate_binary, certs, tmp_path):
    text = good_config(certs, key=str(certs.other_key))
    cfg = tmp_path / "mismatch.toml"
    cfg.write_text(text)
    r = check(tlsgate_binary, cfg)
    assert r.returncode == 1, r.stderr
    cert_line, key_line = line_of(text, "cert ="), line_of(text, "key =")
    assert re.search(rf"^(error: )?{re.escape(str(cfg))}:({cert_line}: \S*cert|{key_line}: \S*key): \S",
                     r.stderr, re.M), r.stderr


def test_check_rejects_chain_with_intermediate_before_leaf(tlsgate_binary, certs, tmp_path):
    text = good_config(certs, cert=str(certs.bad_order))
    cfg = tmp_path / "badorder.toml"
    cfg.write_text(text)
    r = check(tlsgate_binary, cfg)
    assert r.returncode == 1, f"wrong chain order accepted:\n{r.stdout}{r.stderr}"
    assert re.search(rf"^(error: )?{re.escape(str(cfg))}:\d+: \S*cert: \S", r.stderr, re.M), r.stderr


def test_check_reports_every_error(tlsgate_binary, certs, tmp_path):
    text = (good_config(certs, cert=str(tmp_path / "nonexistent.pem"))
            .replace("[global]\n", "[global]\nfrobnicate = 3\n")
            .replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.300:http"'))
    cfg = tmp_path / "many.toml"
    cfg.write_text(text)
    r = check(tlsgate_binary, cfg)
    assert_error(r, cfg, line_of(text, "frobnicate"), "frobnicate")
    assert_error(r, cfg, line_of(text, "127.0.0.300"), "listen")
    assert_error(r, cfg, line_of(text, "nonexistent.pem"), "cert")
