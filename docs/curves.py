"""The strength curves in docs/: a run's score against fixed engine levels over its training hours.

    python docs/curves.py add --run othello8 --ladder LADDER_DIR --hours 2.09 [--note "step 3,275"]
    python docs/curves.py add --run othello8 --ladder LADDER_DIR --ckpt CHECKPOINT   # hours from its compute
    python docs/curves.py                                  # docs/strength.json -> docs/strength.png

``docs/strength.json`` holds the measurements: per run, per net, per engine level, the wins, draws and
losses that ``arena ladder`` wrote to its ``ladder.json``, with the net's training hours (its
checkpoint's ``compute.seconds``, wall-clock of training with resumes summed) and where it came from.
The plot draws each (run, level) as score against hours, with 95% Wilson intervals, one axis per engine
with every run against it on the same hours (a run's name says how many cores it had).
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
POINTS = os.path.join(HERE, "strength.json")
sys.path.insert(0, os.path.dirname(HERE))  # the repository: run as a script from anywhere

from agents.players import wilson  # noqa: E402


def load():
    return json.load(open(POINTS)) if os.path.exists(POINTS) else {"runs": {}}


def add(args):
    with open(os.path.join(args.ladder, "ladder.json")) as f:
        lad = json.load(f)
    hours = args.hours
    if hours is None:
        from agents.common import checkpoint

        hours = checkpoint.load(args.ckpt, kind="alphazero")["compute"]["seconds"] / 3600
    data = load()
    run = data["runs"].setdefault(args.run, {"engine": lad["engine"], "points": []})
    for lv in lad["levels"]:
        run["points"].append({"hours": round(hours, 3), "level": lv["level"], "wins": lv["wins"],
                              "draws": lv["draws"], "losses": lv["losses"], "games": lv["games"],
                              "agent": lad["agent"]["spec"], "note": args.note or ""})
    with open(POINTS + ".tmp", "w") as f:
        json.dump(data, f, indent=1)
    os.replace(POINTS + ".tmp", POINTS)


def plot(out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = load()
    runs = data["runs"]
    # One axis per engine, every run against it on the same hours, so that a new run sits beside the old.
    engines = {}
    for name, run in runs.items():
        engines.setdefault(run["engine"], []).append((name, run))
    fig, axes = plt.subplots(1, max(1, len(engines)), figsize=(7 * max(1, len(engines)), 4.6), squeeze=False)
    styles = ["-", "--", ":", "-."]
    for ax, (engine, group) in zip(axes[0], engines.items()):
        for r, (name, run) in enumerate(group):
            for level in sorted({p["level"] for p in run["points"]}):
                pts = sorted((p for p in run["points"] if p["level"] == level), key=lambda p: p["hours"])
                h = [p["hours"] for p in pts]
                s = [(p["wins"] + 0.5 * p["draws"]) / p["games"] for p in pts]
                ci = [wilson(p["wins"] + 0.5 * p["draws"], p["games"]) for p in pts]
                err = [[x - lo for x, (lo, _) in zip(s, ci)], [hi - x for x, (_, hi) in zip(s, ci)]]
                ax.errorbar(h, s, yerr=err, marker="o", capsize=3, ls=styles[r % len(styles)],
                            label=f"{name}: level {level}")
                for x, y, p in zip(h, s, pts):
                    ax.annotate(f"{p['games']}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xlim(0, 1.1 * max(p["hours"] for _, run in group for p in run["points"]) + 0.1)
        ax.axhline(0.5, color="grey", lw=0.6, ls="--")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("training hours, wall-clock on the 2-core machine")
        ax.set_ylabel("score (95% Wilson interval; label: games)")
        ax.set_title(f"against {engine}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    a = sub.add_parser("add", help="add a ladder's levels as points of a run")
    a.add_argument("--run", required=True)
    a.add_argument("--ladder", required=True, help="an arena ladder results directory (its ladder.json)")
    g = a.add_mutually_exclusive_group(required=True)
    g.add_argument("--hours", type=float, help="the net's training hours")
    g.add_argument("--ckpt", help="the net's checkpoint: hours from its compute.seconds")
    a.add_argument("--note", default="")
    ap.add_argument("--out", default=os.path.join(HERE, "strength.png"))
    args = ap.parse_args()
    if args.cmd == "add":
        add(args)
    else:
        plot(args.out)


if __name__ == "__main__":
    main()
