"""Learning per CPU-second of ``arena train`` on this machine: the same config trained for the same
wall-clock minutes with self-play in the learner's process (``workers: 0``, one core: the baseline) and
with self-play on Ray workers beside the learner (``workers: 1``, both cores of a 2-core machine), one
after the other in this run, so that their ratio holds on a noisy machine.

Prints one JSON object: per arm, the learner steps, the positions self-play stored, the games,
each per minute of the arm's own clock (its start-up, Ray's included, counted), and the backend it
played with; ``ratio`` divides the Ray arm's rates by the baseline's.

    python -m benchmarks.train_throughput --minutes 4 [--config configs/othello8_az.yaml] [--workers 1]
    arena bench train --minutes 4
"""

import json
import os
import platform
import sys
import tempfile
import time

from agents.alphazero.config import TrainConfig
from agents.alphazero.train import train
from agents.common import checkpoint
from agents.common.config import load_config
from benchmarks import standalone


def add_arguments(ap):
    """This benchmark's options, on its own parser or on ``arena bench train``'s."""
    ap.add_argument("--config", default="configs/othello8_az.yaml", help="training config (default the 8x8 run's)")
    ap.add_argument("--minutes", type=float, default=4.0, help="wall-clock minutes per arm (default 4)")
    ap.add_argument("--workers", type=int, default=1, help="Ray self-play workers of the second arm (default 1)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key of both arms (repeatable)")


def arm(cfg, minutes, workers):
    """Train ``cfg`` with ``workers`` for ``minutes`` in a scratch directory; its rates per minute."""
    with tempfile.TemporaryDirectory() as d:
        lines = []
        t0 = time.perf_counter()
        train(load_config(TrainConfig, None, [], **{**cfg, "workers": workers, "minutes": minutes}), d,
              log=lines.append)
        took = (time.perf_counter() - t0) / 60
        ck = checkpoint.load(d)
        rows = [json.loads(x) for x in open(os.path.join(d, "metrics.jsonl"))]
    c = ck["compute"]
    backend = next((r["inference"]["backend"] for r in rows if isinstance(r.get("inference"), dict)
                    and "backend" in r["inference"]), None)
    return {"workers": workers, "minutes": round(took, 2), "learner_steps": ck["step"], "games": c["games"],
            "positions_stored": c["positions"], "backend": backend,
            "steps_per_min": round(ck["step"] / took, 1), "positions_per_min": round(c["positions"] / took, 1),
            "games_per_min": round(c["games"] / took, 2)}


def run(args):
    """Measure both arms, print the JSON object and return it."""
    cfg = vars(load_config(TrainConfig, args.config, [*args.set, "eval_every=0", "keep_checkpoints=1"])).copy()
    out = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "config": args.config,
           "minutes_per_arm": args.minutes}
    base = arm(cfg, args.minutes, 0)
    ray = arm(cfg, args.minutes, args.workers)
    out.update(baseline_workers_0=base, **{f"workers_{args.workers}": ray})
    out["ratio"] = {k: round(ray[k] / base[k], 3) if base[k] else None
                    for k in ("steps_per_min", "positions_per_min", "games_per_min")}
    print(json.dumps(out))
    return out


def main(argv=None):
    return standalone(sys.modules[__name__], argv)


if __name__ == "__main__":
    main()
