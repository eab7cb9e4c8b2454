"""The rooms and their layers: import-linter's contracts (pyproject.toml) hold, and every module of the
arena is placed in a layer (a module left out would be unchecked)."""

import os
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_lint_imports_keeps_every_contract():
    exe = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    r = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout and "KEPT" in r.stdout


def test_every_module_is_in_a_layer():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        contracts = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    named = {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}
    for pkg in ("agents", "arena"):
        for entry in sorted(os.listdir(os.path.join(ROOT, pkg))):
            if entry.startswith(("_", ".")) or not (entry.endswith(".py") or os.path.isdir(os.path.join(ROOT, pkg, entry))):
                continue
            mod = f"{pkg}.{entry.removesuffix('.py')}"
            assert mod in named, f"{mod} is in no layer of the import-linter contract (pyproject.toml)"
