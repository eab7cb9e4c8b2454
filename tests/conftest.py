import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def need(path, what, package):
    """Skip a test whose outside tool (an engine, a browser) is missing, saying how to install it; under
    ``CI=true`` fail instead, since CI installs them and a failed install must not pass silently."""
    if path is None:
        msg = f"{what} is not installed (apt-get install {package})"
        if IN_CI:
            pytest.fail(f"{msg}, and CI=true requires it")
        pytest.skip(f"{msg}: test skipped")
