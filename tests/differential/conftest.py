import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


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
