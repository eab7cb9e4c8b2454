"""Benchmarks: each prints JSON with a same-run baseline (run as scripts or via `arena bench`)."""

import argparse


def standalone(module, argv=None):
    """``python -m benchmarks.X``: the benchmark ``module``'s own options (its ``add_arguments``, the same
    that ``arena bench X`` declares) parsed from ``argv``, then its ``run``."""
    ap = argparse.ArgumentParser(description=module.__doc__.split("\n")[0])
    module.add_arguments(ap)
    return module.run(ap.parse_args(argv))
