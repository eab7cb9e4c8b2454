"""The scale study's sections of the report (a study with staged budgets, RL seeds, a given GPT or a ladder;
configs/study_othello8_scale.yaml):

- **Ladders**: every arm's final player against the engine's levels (``OUT/ladder/PLAYER/ladder.json``).
- **Compute before and during RL** of every final player: what it stands on (pretraining, data) and its own.
- **Elo against RL compute** (``rl_compute.png``): each RL run's rated checkpoints against its own RL minutes
  and FLOPs, starting from its start's Elo; and the RL compute each side needs to reach the other's Elo.
- **The world model along RL** (``world_model.png``, with ``measure_along``): legal-move error and linear probe
  at each rated checkpoint.
- **Verdicts** (``verdicts.png``), paired RL seed by RL seed: the same seed of two RL arms, or an RL arm's seed
  against an arm that runs once; each marked as surviving the seed spread or not (arena.study.stats), and
  what the data does not settle.
"""

import os

from agents.common.files import read_json
from arena.study.inputs import pretrained_off_budget
from arena.study.shared import describe, fmt_si, pct, prefix, pyplot, save_figure, table
from arena.study.stats import mean_sd, survives, t975

VERDICTS = (
    ("1", "rl_pretrained", "rl_scratch", "the given GPT + RL against RL from scratch, both R of RL"),
    ("1", "rl_engine", "rl_scratch", "the GPT on the engine's games + RL against RL from scratch, both R of RL"),
    ("1", "rl_pretrained", "seq_pretrained", "RL's gain over the given GPT"),
    ("1", "rl_engine", "seq_engine", "RL's gain over the GPT on the engine's games"),
    ("2", "seq_engine", "seq_pretrained", "expert (engine) games against random transcripts, before RL"),
    ("2", "rl_engine", "rl_pretrained", "expert (engine) games against random transcripts as the start, after R of RL"),
    ("3", "rl_pretrained", "rl_scratch_total", "the given GPT + RL against RL alone at P + R"),
    ("3", "rl_engine", "rl_scratch_total", "engine pretraining + RL against RL alone at P + R"),
    ("3", "rl_pretrained", "az", "the given GPT + RL against AlphaZero (search at play) at P + R"),
    ("3", "rl_engine", "az", "engine pretraining + RL against AlphaZero at P + R"),
    ("3", "rl_pretrained", "az_nosearch", "the given GPT + RL against AlphaZero's policy head alone (no search)"),
    ("3", "rl_engine", "az_boot", "the engine's games as the GPT's start + RL against as AlphaZero's (az_boot)"),
    ("3", "az", "rl_scratch_total", "AlphaZero (RL with search) against RL alone at P + R"),
)
QUESTIONS = {"1": "(1) At equal RL compute, does a good predictive start beat RL from scratch?",
             "2": "(2) Expert data against random transcripts as the start",
             "3": "(3) At equal total compute (P + R): pretraining + RL against RL alone and against AlphaZero",
             "v": "Variants of the RL stage"}


def scale_study(cfg):
    """Whether a study gets these sections."""
    return cfg.staged() or bool(cfg.rl_seeds) or bool(cfg.ladder) or "seq_pretrained" in cfg.arms


def name_at(runs, label, k):
    """The player of ``label`` (an arm, a variant, or ``ARM_nosearch``) at RL seed ``k``: its run at that seed,
    or its one run when it has one; None when the study has neither."""
    suffix = "_nosearch" if label.endswith("_nosearch") else ""
    base = label[: len(label) - len(suffix)]
    for n, r in runs.items():
        if r["label"] == base and (n == base or r["seed"] == k):
            return n + suffix
    return None


def verdicts(cfg, R, runs):
    """Each comparison the study has, paired by RL seed: per-seed Elo differences and their tournament SEs,
    mean, sd, and ``survives`` (None where neither side varies with the RL seed: one run each)."""
    seeds = cfg.rl_seed_runs()
    items = list(VERDICTS) + [("v", label, r["arm"], f"variant {label} against its arm {r['arm']}")
                              for label, r in {r["label"]: r for r in runs.values()}.items() if r["label"] != r["arm"]]
    out = []
    for q, a, b, text in items:
        pairs = [(name_at(runs, a, k), name_at(runs, b, k)) for k in seeds]
        if any(pa is None or pb is None or pa not in R.rows or pb not in R.rows for pa, pb in pairs):
            continue
        if len(set(pairs)) == 1:
            pairs = pairs[:1]  # neither side has RL seeds: one measurement
        ds = [R.diff(pa, pb) for pa, pb in pairs]
        diffs = [d for d, _ in ds]
        m, sd = mean_sd(diffs)
        weights = {}  # the mean difference as a sum over players: an arm that runs once carries weight 1
        for pa, pb in pairs:
            weights[pa] = weights.get(pa, 0.0) + 1 / len(pairs)
            weights[pb] = weights.get(pb, 0.0) - 1 / len(pairs)
        se_mean = R.se(weights)
        out.append({"question": q, "a": a, "b": b, "what": text, "players": [list(p) for p in pairs], "per_seed": diffs,
                    "se": [se for _, se in ds], "mean": m, "se_mean": se_mean, "sd": sd,
                    "survives": survives(diffs, se_mean) if len(ds) > 1 else None,
                    "tournament_significant": sum(abs(d) > 1.96 * se for d, se in ds)})
    return out


# -- Elo against RL compute ---------------------------------------------------------------------------

def curves(runs, meta, R):
    """``{run: [[RL minutes, RL FLOPs, Elo]]}`` of every RL run, from its start's Elo at 0 (when rated); the
    runs of one directory (rl_scratch rated at R and at P + R) share their points."""
    by_dir = {}  # {dir: {checkpoint: (minutes, FLOPs, [Elo of each player that is it])}}
    for name, m in meta.items():
        r = runs.get(m["run"])
        if r is None or not r["arm"].startswith("rl_") or name not in R.rows:
            continue
        ck = by_dir.setdefault(r["dir"] or m["run"], {}).setdefault(m["path"], (m["seconds"] / 60, m["flops"], []))
        ck[2].append(R.elo(name))
    out = {}
    for name, r in runs.items():
        if not r["arm"].startswith("rl_"):
            continue
        pts = sorted([t, f, sum(e) / len(e)] for t, f, e in by_dir.get(r["dir"] or name, {}).values())
        if r["start"] and r["start"] in R.rows:
            pts = [[0.0, 0.0, R.elo(r["start"])]] + pts
        out[name] = pts
    return out


def reach(points, target, axis=0):
    """The RL compute (``axis`` 0: minutes, 1: FLOPs) at which a curve first reaches ``target`` Elo, linear
    between rated checkpoints; None when it never does."""
    for i, p in enumerate(points):
        if p[2] >= target:
            if i == 0:
                return p[axis]
            q = points[i - 1]
            return q[axis] + (target - q[2]) / (p[2] - q[2]) * (p[axis] - q[axis])
    return None


def reach_rows(cfg, R, runs, cv):
    """Per RL seed and pretrained arm: its Elo and RL-from-scratch's at R, and the RL minutes (and FLOPs)
    each needs to reach the other's."""
    out = []
    for arm in ("rl_pretrained", "rl_engine"):
        for k in cfg.rl_seed_runs():
            a, s = name_at(runs, arm, k), name_at(runs, "rl_scratch", k)
            if not (a and s and a in R.rows and s in R.rows and cv.get(a) and cv.get(s)):
                continue
            scratch = cv.get(name_at(runs, "rl_scratch_total", k) or s) or cv[s]
            ea, es = R.elo(a), R.elo(s)
            out.append({"arm": arm, "seed": k, "elo": ea, "elo_scratch": es,
                        "minutes_to_scratch": reach(cv[a], es), "flops_to_scratch": reach(cv[a], es, 1),
                        "scratch_minutes_to_arm": reach(scratch, ea), "scratch_flops_to_arm": reach(scratch, ea, 1),
                        "scratch_run_minutes": scratch[-1][0]})
    return out


def plot_rl_compute(path, cfg, R, runs, cv):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.2))
    labels = sorted({runs[n]["label"] for n in cv})
    colours = plt.get_cmap("tab10").colors
    styles = ["-", "--", ":", "-."]
    seeds = list(cfg.rl_seed_runs())
    drawn = set()  # a run rated at two budgets (rl_scratch, rl_scratch_total) is one line
    for n, pts in sorted(cv.items(), key=lambda kv: runs[kv[0]]["arm"] == "rl_scratch"):
        if not pts or (runs[n]["dir"] or n) in drawn:
            continue
        drawn.add(runs[n]["dir"] or n)
        r = runs[n]
        i, j = labels.index(r["label"]), seeds.index(r["seed"]) if r["seed"] in seeds else 0
        for ax, k in zip(axes, (0, 1)):
            label = "rl_scratch (its run to P + R)" if r["arm"] == "rl_scratch_total" else r["label"]
            ax.plot([p[k] for p in pts], [p[2] for p in pts], marker="o", ms=3, ls=styles[j % 4],
                    color=colours[i % 10], label=label if j == 0 else None)
    for name in ("az", "az_nosearch", "az_boot", "seq_pretrained", "seq_engine"):
        if name in R.rows:
            for ax in axes:
                ax.axhline(R.elo(name), color="#999", lw=0.8, ls=":")
                ax.annotate(name, (0.99, R.elo(name)), xycoords=("axes fraction", "data"), fontsize=7, ha="right",
                            color="#666")
    if cfg.staged():
        axes[0].axvline(cfg.rl_minutes, color="#c44", lw=0.8, ls="--")
    for ax, label in zip(axes, ("RL wall-clock minutes (the run's own)", "RL FLOPs (the run's own, estimated)")):
        ax.set_xlabel(label)
        ax.set_ylabel(f"Elo ({R.anchor} = 0)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Othello {cfg.size}x{cfg.size}: RL runs from their start (line style: RL seed "
                 f"{', '.join(map(str, seeds))}); dotted: the arms that run once; red: R", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def plot_verdicts(path, vs):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(vs) + 1.5))
    for y, v in enumerate(vs):
        colour = "#2a2" if v["survives"] else "#999" if v["survives"] is None else "#c44"
        for d, se in zip(v["per_seed"], v["se"]):
            ax.errorbar(d, y, xerr=1.96 * se, fmt="o", ms=4, color=colour, alpha=0.6, capsize=2)
        ax.errorbar(v["mean"], y + 0.25, xerr=1.96 * v.get("se_mean", 0.0), fmt="D", ms=7, color=colour, capsize=3)
    ax.axvline(0, color="#666", lw=0.8)
    ax.set_yticks(range(len(vs)))
    ax.set_yticklabels([f"({v['question']}) {v['a']} − {v['b']}" for v in vs], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("Elo difference (circles: RL seeds; diamond: their mean; bars: the tournament's 95% CI)")
    ax.set_title("green: survives the seed spread; red: does not; grey: one run each", fontsize=9)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    save_figure(fig, path)


def plot_world_model(path, cfg, runs, measure):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    colours = plt.get_cmap("tab10").colors
    labels = sorted({r["label"] for r in runs.values()})
    seeds, drawn = list(cfg.rl_seed_runs()), set()
    for n, r in sorted(runs.items(), key=lambda kv: kv[1]["arm"] == "rl_scratch"):
        along = measure.get(n, {}).get("along")
        if not along or (r["dir"] or n) in drawn:
            continue
        drawn.add(r["dir"] or n)
        start = measure.get(r["start"] or "", {})
        pts = ([(0.0, start)] if start else []) + [(a["seconds"] / 60, a) for a in along]
        for ax, key in zip(axes, ("legal_error_random", "probe_relative")):
            ax.plot([t for t, _ in pts], [100 * a[key] for _, a in pts], marker="o", ms=3,
                    ls=("-", "--", ":", "-.")[seeds.index(r["seed"]) % 4 if r["seed"] in seeds else 0],
                    color=colours[labels.index(r["label"]) % 10], label=n)
    for ax, label in zip(axes, ("legal-move error, held-out random games, %", "linear probe (empty/mine/theirs), %")):
        ax.set_xlabel("RL wall-clock minutes (from the start: 0)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def world_model_md(runs, measure):
    """Per RL run: the legal-move error and the probe at its start and at each rated checkpoint along RL."""
    rows = []
    for n, r in runs.items():
        along = measure.get(n, {}).get("along")
        if not along:
            continue
        start = measure.get(r["start"] or "", {})
        rows.append([n, pct(start.get("legal_error_random")),
                     " → ".join(f"{pct(a['legal_error_random'])} ({a['seconds'] / 60:.0f} min)" for a in along),
                     pct(start.get("probe_relative")), " → ".join(pct(a["probe_relative"]) for a in along)])
    return table(["RL run", "legal error at its start", "legal error along RL (its RL minutes)", "probe at its start",
                  "probe along RL"], rows) + [""]


# -- the sections ------------------------------------------------------------------------------------------

def ladder_md(out, cfg, runs, summary):
    ladders = {}
    for name in sorted(os.listdir(os.path.join(out, "ladder"))) if os.path.isdir(os.path.join(out, "ladder")) else []:
        s = read_json(os.path.join(out, "ladder", name, "ladder.json"))
        if s:
            ladders[name] = s
    if not ladders:
        return []
    levels = sorted({(lv["level"], lv["player"]) for s in ladders.values() for lv in s["levels"]})
    rows = []
    for name, s in sorted(ladders.items(), key=lambda kv: -kv[1]["agent"]["elo"]):
        by = {lv["level"]: lv for lv in s["levels"]}
        cells = [f"{pct(by[lv]['score'])} [{100 * by[lv]['ci95'][0]:.0f}, {100 * by[lv]['ci95'][1]:.0f}]"
                 if lv in by else "-" for lv, _ in levels]
        a = s["agent"]
        rows.append([name, describe(name, runs), *cells, f"{a['elo']:.0f} [{a['elo_ci95'][0]:.0f}, "
                     f"{a['elo_ci95'][1]:.0f}]", s["stopped_at"] if s["stopped_at"] is not None else "-"])
        summary.setdefault("ladders", {})[name] = {"elo": a["elo"], "elo_ci95": a["elo_ci95"],
                                                   "scores": {str(lv["level"]): lv["score"] for lv in s["levels"]}}
    anchor = next(iter(ladders.values()))["anchor"]
    return (["## Ladders", "",
             f"Each arm's final player against `{cfg.ladder}` levels {cfg.ladder_levels} (`arena ladder`, "
             f"{cfg.ladder_games} games a level from balanced random openings, each with both colours; a ladder stops "
             f"after a level scored under {100 * cfg.ladder_stop_below:g}%). Score with its 95% Wilson interval; Elo "
             f"from each ladder's own fit, {anchor} = 0.", ""]
            + table(["player", "what", *[f"{p} score" for _, p in levels], f"Elo ({anchor} = 0)", "stopped at"], rows)
            + [""])


def compute_md(cfg, inv, meta, runs):
    rows = []
    for name, m in meta.items():
        if not m["final"] or m["arm"].endswith("_nosearch"):
            continue
        before = prefix(inv, m["run"])
        rl = runs.get(m["run"], {}).get("arm", "").startswith("rl_")
        rows.append([name, f"{before['seconds'] / 60:.1f}", fmt_si(before["flops"]), "RL" if rl else "its training",
                     f"{m['seconds'] / 60:.1f}", fmt_si(m["flops"]), fmt_si(m["games"]),
                     f"{(before['seconds'] + m['seconds']) / 60:.1f}", fmt_si(before["flops"] + m["flops"])])
    return (["## Compute before and during RL", "",
             "Before: what a player stands on (its pretrained start's training, read from the file for "
             "seq_pretrained, and the engine games' generation for the engine arms; not the engine's own search "
             "FLOPs). During: its own training, RL for the RL arms.", ""]
            + table(["player", "before: min", "before: FLOPs", "own training", "own: min", "own: FLOPs", "own: games",
                     "total min", "total FLOPs"], rows) + [""])


def verdicts_md(cfg, vs, rr):
    n = len(cfg.rl_seed_runs())
    md = ["## Verdicts", "",
          f"Each comparison paired by RL seed ({n} seed{'s' if n > 1 else ''}: "
          f"{', '.join(map(str, cfg.rl_seed_runs()))}); an arm that runs once (pretraining, AlphaZero) meets every "
          f"seed. It *survives the seed spread* when every seed gives the same sign, the mean is outside a "
          f"one-sample t-test's 95% interval across seeds (t = {t975(n - 1):.2f} for {n} seeds), and the mean is "
          f"outside the tournament's own 95% interval of it (± 1.96 SE, from the fit's covariance over every "
          f"player involved). The second test is needed: all players sit in one tournament, so the rating error "
          f"of an arm that runs once is in every seed's difference alike, cancelling from their spread but not "
          f"from their mean.", "",
          "![Verdicts](verdicts.png)", ""]
    for q, title in QUESTIONS.items():
        mine = [v for v in vs if v["question"] == q]
        if not mine:
            continue
        md += [f"### {title}", ""]
        md += table(["comparison", "difference", "per RL seed (95% CI)", "mean (tournament 95% CI)", "sd",
                     "tournament calls it", "survives the seed spread"],
                    [[v["what"], f"{v['a']} − {v['b']}", " / ".join(f"{d:+.0f} ± {1.96 * se:.0f}" for d, se in
                                                                     zip(v["per_seed"], v["se"])),
                      f"{v['mean']:+.0f} ± {1.96 * v['se_mean']:.0f}", "-" if v["sd"] is None else f"{v['sd']:.0f}",
                      f"{v['tournament_significant']} of {len(v['per_seed'])}",
                      "one run each: not tested" if v["survives"] is None else "**yes**" if v["survives"] else "no"]
                     for v in mine]) + [""]
        if q == "1" and rr:
            md += ["RL compute to the same Elo: the RL minutes (and FLOPs) a pretrained arm's run needed to reach RL "
                   "from scratch's Elo at R, and RL from scratch's run (to P + R where `rl_scratch_total` is rated) to "
                   "reach the pretrained arm's Elo at R; linear between rated checkpoints, the start's Elo at 0. "
                   "![Elo against RL compute](rl_compute.png)", ""]
            md += table(["arm", "RL seed", "Elo at R", "rl_scratch at R", "its RL min to rl_scratch's Elo",
                         "rl_scratch's RL min to its Elo", "its RL FLOPs to rl_scratch's Elo",
                         "rl_scratch's RL FLOPs to its Elo"],
                        [[r["arm"], r["seed"], f"{r['elo']:.0f}", f"{r['elo_scratch']:.0f}",
                          _num(r["minutes_to_scratch"], "min"),
                          _num(r["scratch_minutes_to_arm"], "min", f"not within {r['scratch_run_minutes']:.0f} min"),
                          fmt_si(r["flops_to_scratch"]), fmt_si(r["scratch_flops_to_arm"])] for r in rr]) + [""]
    return md


def _num(x, unit, none="not reached"):
    return none if x is None else f"{x:.1f} {unit}"


def unsettled(cfg, vs, inv, meta, runs, out):
    """What the data does not settle, from what the study ran and measured."""
    n = len(cfg.rl_seed_runs())
    md = ["### What the data does not settle", ""]
    no = [v for v in vs if v["survives"] is False]
    md += ["- Does not survive the seed spread: " + ("; ".join(f"{v['a']} − {v['b']} ({v['mean']:+.0f})" for v in no)
                                                      if no else "nothing tested fails it") + "."]
    md.append(f"- {n} RL seed{'s' if n > 1 else ''}: " + (
        "with one seed nothing can survive the seed spread." if n < 2 else
        f"the spread across seeds is estimated from {n - 1} degree{'s' if n > 2 else ''} of freedom (t = "
        f"{t975(n - 1):.2f}): differences that happen to be close pass the t-test however small they are (the "
        "tournament's interval is what holds those back), and differences far apart fail it however large, so a "
        "difference that does not survive may still be real.")
              + " Pretraining and AlphaZero run once: their own run-to-run spread is not in any verdict (their rating "
                "error is, through the tournament's interval).")
    if "rl_scratch_total" not in cfg.arms:
        md.append("- RL alone at the total budget P + R was not run (add `rl_scratch_total`): question (3) compares "
                  "with AlphaZero only.")
    if cfg.az_run and inv.get("az"):
        got = inv["az"][-1]["seconds"] / 60
        md.append(f"- `az` is the given run's checkpoint at {got:.1f} min of the matched {cfg.arm_minutes('az'):g} min"
                  + (f": {cfg.arm_minutes('az') - got:.0f} min short of equal compute, which favours the other arms."
                     if got < 0.95 * cfg.arm_minutes("az") else "."))
    if "seq_pretrained" in cfg.arms and inv.get("seq_pretrained"):
        seconds = inv["seq_pretrained"][-1]["seconds"]
        md.append(f"- seq_pretrained's {seconds / 60:.1f} min of pretraining is the file's record of another run (on "
                  f"its machine, at its load), not measured here.")
        if pretrained_off_budget(cfg, seconds):
            md.append(f"- **Warning:** that is not P = {cfg.pretrain_minutes:g} min (more than 5% off): the given "
                      f"GPT + RL does not stand on the pretraining compute of seq_engine + RL, and question (3)'s "
                      f"\"equal total compute\" does not hold for it.")
    data = read_json(os.path.join(cfg.engine_data or os.path.join(out, "data", "engine"), "manifest.json"))
    if data and inv.get("seq_engine"):
        passes = inv["seq_engine"][-1]["trained"] / max(1, data["counts"]["tokens_train"])
        md.append(f"- seq_engine saw its {data['counts']['train']:,} training games {passes:.1f} times: with many "
                  "passes it can learn the games rather than the play; its legal-move error on held-out engine games "
                  "(the sequence models' table) is the check.")
    flops = {m["arm"]: m["flops"] + prefix(inv, m["run"])["flops"] for m in meta.values()
             if m["final"] and not m["arm"].endswith("_nosearch")}
    if "az" in flops and any(k.startswith("rl_") for k in flops):
        rl = [v for k, v in flops.items() if k.startswith("rl_pretrained")] or \
            [v for k, v in flops.items() if k.startswith("rl_")]
        md.append(f"- Equal compute is equal {'wall-clock' if cfg.budget == 'wallclock' else 'FLOPs'}: AlphaZero spent "
                  f"{fmt_si(flops['az'])} FLOPs, a pretrained RL arm {fmt_si(sum(rl) / len(rl))} in all (estimates).")
    return md + [""]


def scale_sections(out, cfg, R, inv, meta, runs, measure, summary):
    """The markdown of these sections; writes their figures and fills ``summary["scale"]``."""
    scale = {}
    md = ladder_md(out, cfg, runs, scale) + compute_md(cfg, inv, meta, runs)
    cv = curves(runs, meta, R)
    if any(cv.values()):
        plot_rl_compute(os.path.join(out, "rl_compute.png"), cfg, R, runs, cv)
    if any("along" in m for m in measure.values()):
        md += ["## The world model along RL", "",
               "Legal-move error (the raw top-1 move's illegality after every prefix of held-out random games) and "
               "the best layer's linear probe at each rated checkpoint of each RL run, from its start's (at 0).", "",
               "![World model along RL](world_model.png)", ""] + world_model_md(runs, measure)
        plot_world_model(os.path.join(out, "world_model.png"), cfg, runs, measure)
    vs = verdicts(cfg, R, runs)
    rr = reach_rows(cfg, R, runs, cv)
    if vs:
        plot_verdicts(os.path.join(out, "verdicts.png"), vs)
        md += verdicts_md(cfg, vs, rr)
    md += unsettled(cfg, vs, inv, meta, runs, out)
    summary["scale"] = {**scale, "verdicts": vs, "reach": rr, "curves": cv}
    return md
