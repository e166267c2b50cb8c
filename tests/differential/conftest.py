import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from mail_support import Dovecot  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--probe", default=os.environ.get("DIFF_PROBE",
                                                       str(REPO / "build" / "tests" /
                                                           "differential" / "filter_probe")),
                     help="path to the filter_probe binary (or env DIFF_PROBE)")


@pytest.fixture(scope="session")
def probe_path(request):
    path = Path(request.config.getoption("--probe")).resolve()
    assert path.is_file(), f"no filter_probe at {path}: build the filter_probe target first"
    return path


@pytest.fixture(scope="module")
def dovecot(request, tmp_path_factory):
    """A plaintext Dovecot (tests/tools/legacy-dovecot.sh) with the test module's
    DOVECOT_EXTRA appended to its configuration."""
    d = Dovecot(tmp_path_factory.mktemp("dovecot") / "d",
                extra_conf=getattr(request.module, "DOVECOT_EXTRA", None))
    yield d
    d.stop()
