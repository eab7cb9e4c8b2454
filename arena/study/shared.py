"""What the study's reports share (arena.study.report, arena.study.scale, arena.study.seeds): the players'
descriptions, an arm's compute cumulative over what it stands on, the tournament's ratings, number
formats, markdown tables and figure files."""

import json
import math
import os

from agents.common.files import read_json
from arena.study.config import DEPENDS

WHAT = {"az": "AlphaZero from scratch, search at play", "az_nosearch": "the same net, policy head alone",
        "az_permuted": "control (b): AlphaZero, board squares permuted", "az_permuted_nosearch": "the same, policy head alone",
        "seq_random": "GPT pretrained on random transcripts", "seq_random_permuted": "control (a): the same, move ids permuted",
        "seq_expert": "GPT pretrained on AlphaZero's games", "rl_random": "seq_random + RL",
        "rl_random_permuted": "control (a): seq_random_permuted + RL", "rl_expert": "seq_expert + RL",
        "rl_scratch": "the GPT trained by RL alone", "seq_engine": "GPT pretrained on the engine's games",
        "rl_engine": "seq_engine + RL", "az_boot": "AlphaZero bootstrapped on the engine's games, then self-play",
        "az_boot_nosearch": "the same net, policy head alone",
        "seq_pretrained": "the GPT pretrained beforehand (the given file)", "rl_pretrained": "seq_pretrained + RL",
        "rl_scratch_total": "the GPT by RL alone, at the total budget (rl_scratch's run carried on)"}
KEYS = ("seconds", "forward", "flops", "reward_events", "games", "trained")


def jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def describe(name, runs=None):
    """A player's description: its arm's (a run at an RL seed, or a variant, says which)."""
    base = name.split("@")[0]
    r = (runs or {}).get(base.replace("_nosearch", ""))
    if r is None:
        return WHAT.get(base, "")
    text = WHAT.get(r["arm"] + ("_nosearch" if base.endswith("_nosearch") else ""), "")
    if r["label"] != r["arm"]:
        text = f"variant of {r['arm']}: {text}"
    return text + (f" (RL seed {r['seed']})" if base.replace("_nosearch", "") != r["label"] else "")


def start_of(inv, arm):
    """The run whose compute an RL run stands on: the inventory's record, or (a study written before it was
    recorded) the arm's start."""
    rows = inv.get(arm)
    if isinstance(rows, list) and rows and "start" in rows[-1]:
        return rows[-1]["start"]
    return DEPENDS.get(arm) if arm.startswith("rl_") else None


def study_runs(invj, cfg):
    """``{run: {arm, label, seed, dir, start}}`` from inventory.json, or one run per arm for a study written
    before runs were recorded."""
    return invj.get("runs") or {a: {"arm": a, "label": a, "seed": cfg.seed, "dir": None,
                                    "start": DEPENDS.get(a) if a.startswith("rl_") else None} for a in cfg.arms}


def prefix(inv, arm):
    """Compute a run starts with: its pretrained start's final (recursively) and the expert games."""
    base = dict.fromkeys(KEYS, 0)
    start = start_of(inv, arm)
    if start and inv.get(start):
        base = {k: base[k] + v for k, v in total(inv, start, inv[start][-1]).items()}
    data = {"seq_expert": "data_expert", "seq_engine": "data_engine", "az_boot": "data_engine"}.get(arm)
    if data in inv:
        base = {k: base[k] + inv[data].get(k, 0) for k in KEYS}
    return base


def total(inv, arm, row):
    p = prefix(inv, arm)
    return {k: p[k] + row.get(k, 0) for k in KEYS}


def fmt_si(x):
    if x is None:
        return "-"
    for unit, div in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def pct(x):
    return "-" if x is None else f"{100 * x:.1f}%"


class Ratings:
    def __init__(self, out):
        rep = read_json(os.path.join(out, "tournament", "ratings.json"), {})
        tcfg = read_json(os.path.join(out, "tournament", "tournament.json"), {})
        self.rows = {r["player"]: r for r in rep.get("rows", [])}
        self.order = [p.partition("=")[0] for p in tcfg.get("players", [])]
        self.cov = rep.get("cov")
        self.anchor = rep.get("anchor")
        self.games = rep.get("games", 0)

    def elo(self, name):
        return self.rows[name]["elo"] if name in self.rows else None

    def diff(self, a, b):
        """``(elo a - elo b, standard error of the difference)`` from the fit's covariance."""
        if a not in self.rows or b not in self.rows:
            return None, None
        return self.rows[a]["elo"] - self.rows[b]["elo"], self.se({a: 1.0, b: -1.0})

    def se(self, weights):
        """The standard error of ``sum(w * elo)`` over ``weights: {player: w}`` from the fit's covariance,
        ``sqrt(w' C w)``: a player that appears in several terms (an arm that runs once, met by every RL
        seed) counts with its whole weight, its covariances with the others included."""
        idx = [(self.order.index(p), w) for p, w in weights.items() if w]
        var = sum(wi * wj * self.cov[i][j] for i, wi in idx for j, wj in idx)
        return math.sqrt(max(var, 0.0))

    def cell(self, name):
        r = self.rows.get(name)
        if r is None:
            return "-"
        if name == self.anchor:
            return f"{round(r['elo'])} (anchor)"
        return f"{round(r['elo'])} [{round(r['ci95_low'])}, {round(r['ci95_high'])}]"


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display is needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path):
    """Write ``fig`` to ``path`` (PNG, 100 dpi) atomically, so a stopped report never leaves half an image,
    and free it."""
    import matplotlib.pyplot as plt

    fig.savefig(path + ".tmp.png", dpi=100)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)


def table(header, rows):
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(map(str, r)) + " |"
                                                                        for r in rows]
