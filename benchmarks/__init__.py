"""Benchmarks: each prints JSON with a same-run baseline (run as scripts or via `arena bench`)."""
