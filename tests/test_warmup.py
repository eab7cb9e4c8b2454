"""``python -m agents.search.warmup`` compiles (or loads) every hot kernel for both games and says so;
the suite also starts it on a spare core when a session begins (conftest)."""

import subprocess
import sys

from agents.search.warmup import warm


def test_warmup_covers_both_games():
    lines = []
    warm(lines.append)
    assert [x.split(":")[0] for x in lines] == ["othello", "go"]


def test_the_module_runs_as_a_command():
    r = subprocess.run([sys.executable, "-m", "agents.search.warmup"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "go: kernels compiled or loaded" in r.stderr
