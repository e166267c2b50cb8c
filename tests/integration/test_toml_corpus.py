"""The TOML bad-config corpus (tests/toml/bad/*.toml): `tlsgate --check` on each file exits 1
and reports the mistake the file's first line names, at its line, and nothing else."""

import os
import shutil
from pathlib import Path

import pytest

from support import run

CORPUS = Path(__file__).resolve().parents[1] / "toml"
BAD = sorted(p.name for p in (CORPUS / "bad").glob("*.toml"))


def expectations(path):
    """The leading comment: "# expect: :LINE: KEY: MESSAGE" (the mistake), then any
    "# also: ..." (errors that follow from it). Each is what stands after the file name in
    tlsgate's "error: FILE:LINE: KEY: MESSAGE" line (a prefix of it)."""
    expected, also = None, []
    for line in path.read_text().splitlines():
        if line.startswith("# expect: "):
            expected = line[len("# expect: "):]
        elif line.startswith("# also: "):
            also.append(line[len("# also: "):])
        else:
            break
    assert expected, f"{path}: the first line must be '# expect: :LINE: KEY: MESSAGE'"
    return expected, also


@pytest.fixture(scope="module")
def corpus_dir(certs, tmp_path_factory):
    """Where each file is checked: beside it the certificate, key and ticket key file its
    relative paths name (relative paths resolve against the file's directory)."""
    d = tmp_path_factory.mktemp("toml-corpus")
    shutil.copy(certs.chain, d / "cert.pem")
    shutil.copy(certs.leaf_key, d / "key.pem")
    (d / "ticket.keys").write_text(os.urandom(80).hex() + "\n")
    return d


def test_the_corpus_covers_many_mistakes():
    assert len(BAD) >= 25


@pytest.mark.parametrize("name", BAD)
def test_check_reports_the_mistake_at_its_line(tlsgate_binary, corpus_dir, name):
    path = corpus_dir / name
    shutil.copy(CORPUS / "bad" / name, path)
    expected, also = expectations(path)
    r = run([str(tlsgate_binary), "--check", str(path)])
    assert r.returncode == 1, r.stdout + r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith("error: ")]
    for wanted in [expected, *also]:
        assert any(l.startswith(f"error: {path}{wanted}") for l in errors), \
            f"no 'error: {path}{wanted}' in:\n{r.stderr}"
    assert len(errors) == 1 + len(also), r.stderr
    assert f"{path}: {len(errors)} error(s); nothing started" in r.stderr, r.stderr
