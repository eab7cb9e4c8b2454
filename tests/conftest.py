import os
import subprocess
import sys

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_sessionstart(session):
    """Compile the Numba kernels into their cache on a spare core while the first tests run (about two
    minutes of compiling on a fresh clone; a second to check a warm cache). A test that needs a kernel
    first compiles it itself; the cache's writes are atomic, so the two never clash."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    session.config._warmup = subprocess.Popen(
        [sys.executable, "-m", "agents.search.warmup"], cwd=root, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, preexec_fn=lambda: os.nice(10))  # the tests come first


def pytest_sessionfinish(session):
    warmup = getattr(session.config, "_warmup", None)
    if warmup is not None and warmup.poll() is None:
        warmup.kill()
        warmup.wait()


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
