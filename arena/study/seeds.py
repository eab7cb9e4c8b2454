"""The study across seeds (``seeds: [0, 1, 2]``): ``OUT/report.md``, ``report.html``, ``curves.png`` and
``summary.json`` from the per-seed studies in ``OUT/seed_S/`` (each a whole study with its own tournament
and report).

Each seed's tournament rates its arms on its own scale with the same anchor (Elo 0), so an arm's Elo is
comparable across seeds. For every player the report gives the mean and the spread (sample standard
deviation) across seeds beside the mean half-width of the tournaments' 95% intervals: the first is the
run-to-run variation of training, the second the game sampling of one tournament.

A comparison (arm a against arm b) *survives the seed spread* when the per-seed differences all have
the same sign, their mean is outside the 95% interval of a one-sample t-test across seeds,
``|mean| > t(0.975, n-1) * sd / sqrt(n)`` (t = 4.30 for three seeds), and outside the tournaments' own
95% interval of the mean (arena.study.stats.survives; the seeds' tournaments are independent, so its SE is
``sqrt(sum se_k^2) / n``). With one seed nothing can survive.
"""

import math
import os
import time

from agents.common.files import atomic_write, read_json, write_json
from arena.study.config import StudyConfig
from arena.study.report import (WHAT, Ratings, feedback_md, fmt_si, plot_feedback, pyplot, save_figure, table,
                                 to_html, total)
from arena.study.stats import T975, mean_sd, survives, t975  # noqa: F401 (re-exported: the tests read them here)

COMPARISONS = (
    ("az", "az_nosearch", "Search at play time (AlphaZero against its own policy head)"),
    ("rl_random", "rl_scratch", "Pretraining on random transcripts, then RL, against RL alone"),
    ("rl_random", "seq_random", "RL's gain over random-transcript pretraining"),
    ("rl_expert", "seq_expert", "RL's gain over expert pretraining"),
    ("seq_expert", "seq_random", "Expert against random transcripts, pretraining alone"),
    ("rl_expert", "rl_random", "Expert against random transcripts, after RL"),
    ("seq_engine", "seq_random", "A real engine's games against random transcripts, pretraining alone"),
    ("rl_engine", "rl_random", "A real engine's games against random transcripts, after RL"),
    ("rl_engine", "rl_scratch", "Engine-game pretraining, then RL, against RL alone"),
    ("az_boot", "az", "AlphaGo's recipe (engine bootstrap, then self-play) against AlphaZero from scratch"),
    ("az_boot", "rl_engine", "The engine's games as a start for AlphaZero against as a start for the GPT"),
    ("az", "rl_random", "AlphaZero against pretraining + RL"),
    ("az_nosearch", "rl_random", "AlphaZero's policy head alone against pretraining + RL (neither searches)"),
    ("seq_random_permuted", "seq_random", "Control (a): move ids permuted, pretrained"),
    ("rl_random_permuted", "rl_random", "Control (a): move ids permuted, after RL"),
    ("az_permuted", "az", "Control (b): board squares permuted, with search"),
    ("az_permuted_nosearch", "az_nosearch", "Control (b): board squares permuted, policy head alone"),
)


def verdicts(seeds, ratings):
    """Every comparison whose two players were rated in every seed: per-seed differences and SEs, their mean
    and spread, how many seeds' tournaments call it, and whether it survives the seed spread."""
    out = []
    for a, b, text in COMPARISONS:
        ds = [ratings[s].diff(a, b) for s in seeds]
        if any(d is None for d, _ in ds):
            continue
        diffs = [d for d, _ in ds]
        m, sd = mean_sd(diffs)
        se_mean = math.sqrt(sum(se * se for _, se in ds)) / len(ds)  # one tournament per seed: independent errors
        out.append({"a": a, "b": b, "what": text, "per_seed": diffs, "se": [se for _, se in ds], "mean": m,
                    "se_mean": se_mean, "sd": sd, "tournament_significant": sum(abs(d) > 1.96 * se for d, se in ds),
                    "survives": survives(diffs, se_mean)})
    return out


def write_seed_report(out, log=print):
    """Write the report across seeds from ``out/seed_S/``; returns its summary dict."""
    cfg_d = read_json(os.path.join(out, "study.json"))
    if cfg_d is None:
        raise ValueError(f"{out} is not a study directory (no study.json)")
    cfg = StudyConfig.from_dict(cfg_d)
    seeds = list(cfg.seed_runs())
    dirs = {s: os.path.join(out, f"seed_{s}") for s in seeds}
    sums = {s: read_json(os.path.join(d, "summary.json")) for s, d in dirs.items()}
    missing = [s for s, v in sums.items() if v is None]
    if missing:
        raise ValueError(f"{out}: seeds {missing} have no report yet (seed_S/summary.json); run the study to the end")
    ratings = {s: Ratings(d) for s, d in dirs.items()}
    n = len(seeds)
    players = [p for p in sums[seeds[0]] if isinstance(sums[seeds[0]][p], dict) and "elo" in sums[seeds[0]][p]
               and all(p in sums[s] for s in seeds)]
    anchors = [a.partition("=")[0] for a in cfg.anchors]
    rows, psum = [], {}
    for p in players + [a for a in anchors if all(a in ratings[s].rows for s in seeds)]:
        elos = [ratings[s].elo(p) for s in seeds]
        if any(e is None for e in elos):
            continue
        m, sd = mean_sd(elos)
        half = [(ratings[s].rows[p]["ci95_high"] - ratings[s].rows[p]["ci95_low"]) / 2 for s in seeds]
        comp = {k: mean_sd([sums[s][p][k] for s in seeds])[0] for k in ("seconds", "flops", "reward_events")} \
            if p in players else {}
        psum[p] = {"elo_mean": m, "elo_sd": sd, "per_seed": dict(zip(map(str, seeds), elos)),
                   "tournament_ci95_halfwidth_mean": sum(half) / n, **comp}
        rows.append([f"**{p}**" if p in players else p, WHAT.get(p, "anchor" if p in anchors else ""),
                     f"{m:.0f}", "-" if sd is None else f"{sd:.0f}", " / ".join(f"{e:.0f}" for e in elos),
                     f"±{sum(half) / n:.0f}", f"{comp['seconds'] / 60:.1f}" if comp else "",
                     fmt_si(comp.get("flops")) if comp else "", fmt_si(comp.get("reward_events")) if comp else ""])
    rows.sort(key=lambda r: -float(r[2]))
    vs = verdicts(seeds, ratings)
    feed = {}
    for arm in sums[seeds[0]].get("feedback", {}):  # every run (an RL arm once per RL seed)
        fs = [sums[s].get("feedback", {}).get(arm) for s in seeds]
        if all(fs):
            vals = {k: [f[k] for f in fs if f.get(k) is not None] for k in ("reward_events", "forward",
                                                                              "forward_per_event", "target_bits",
                                                                              "bits_per_forward")}
            feed[arm] = {"target": fs[0]["target"], **{k: mean_sd(v)[0] if v else None for k, v in vals.items()}}
    legal = read_json(os.path.join(dirs[seeds[0]], "inventory.json"), {}).get("feedback", {}).get("mean_legal_moves")

    budget = (f"{cfg.minutes:g} min of wall-clock per arm" if cfg.budget == "wallclock"
              else f"{fmt_si(cfg.flops)} estimated FLOPs per arm (at most {cfg.minutes:g} min of wall-clock)")
    command = read_json(os.path.join(out, "command.json"), {}).get("command",
                                                                    f"arena study --config CONFIG --out {out}")
    md = [f"# The comparison study across seeds: Othello {cfg.size}x{cfg.size}", "",
          f"Generated {time.strftime('%Y-%m-%d %H:%M')} from `{out}/seed_*/` (rebuild: `arena study --report-only "
          f"{out}`). Each seed is a whole study with its own report: "
          + ", ".join(f"[seed {s}](seed_{s}/report.md)" for s in seeds) + ".", "",
          "## Setup", "", f"- Command: `{command}`.",
          f"- Seeds: {', '.join(map(str, seeds))}; each seeds every arm, dataset, evaluation and its tournament.",
          f"- Budget: {budget}; pretraining {cfg.pretrain_share:.0%} + RL {1 - cfg.pretrain_share:.0%}.",
          f"- Every seed's tournament anchors {anchors[0]} at 0; {', '.join(str(ratings[s].games) for s in seeds)} "
          f"games.", "",
          "## Elo across seeds", "",
          f"Mean and spread (sample standard deviation over {n} seeds) of each player's Elo, beside the mean "
          "half-width of one tournament's 95% interval. Where the spread is as large as the interval, one run's "
          "ranking is as much the seed's as the method's.", ""]
    md += table(["player", "what", "Elo, mean", "sd across seeds", "per seed", "tournament 95% CI (mean)",
                 "wall-clock min (mean)", "FLOPs (mean)", "reward events (mean)"], rows)
    md += ["", "![Elo against compute, every seed](curves.png)", "",
           "Every rated checkpoint of every seed against FLOPs and wall-clock (one colour per arm, one marker per "
           "seed).", ""]
    if feed:
        md += feedback_md(feed, legal or 0.0)
        plot_feedback(os.path.join(out, "feedback.png"), feed, f"Othello {cfg.size}x{cfg.size}, mean of {n} seeds")
    seq_models = measures(seeds, dirs)
    md += measures_md(seq_models, n)
    md += ["## Comparisons", "",
           f"Per-seed Elo differences with the tournament's 95% interval; their mean and spread; whether the "
           f"difference survives the seed spread (the same sign in every seed, the mean outside a t-test's "
           f"95% interval across seeds, t = {t975(n - 1):.2f} for {n} seeds, and outside the tournaments' own 95% "
           f"interval of the mean).", ""]
    crow = [[v["what"], f"{v['a']} − {v['b']}", " / ".join(f"{d:+.0f} ± {1.96 * se:.0f}" for d, se in
                                                            zip(v["per_seed"], v["se"])),
             f"{v['mean']:+.0f} ± {1.96 * v['se_mean']:.0f}", "-" if v["sd"] is None else f"{v['sd']:.0f}",
             f"{v['tournament_significant']} of {n}", "**yes**" if v["survives"] else "no"] for v in vs]
    md += table(["comparison", "difference", "per seed (95% CI)", "mean (tournaments' 95% CI)", "sd",
                 "tournament calls it", "survives the seed spread"], crow)
    md += ["", "## Discussion", ""] + discussion(vs, n) + [""]
    atomic_write(os.path.join(out, "report.md"), "\n".join(md) + "\n")
    atomic_write(os.path.join(out, "report.html"), to_html("\n".join(md), f"Study across seeds: Othello {cfg.size}"))
    plot_seeds(out, seeds, dirs, ratings, cfg)
    summary = {"seeds": seeds, "arms": list(cfg.arms), "budget": cfg.budget, "minutes": cfg.minutes,
               "flops": cfg.flops, "players": psum, "comparisons": vs, "feedback": feed,
               "sequence_models": seq_models}
    write_json(os.path.join(out, "summary.json"), summary)
    log(f"wrote {out}/report.md, report.html, curves.png, feedback.png, summary.json ({n} seeds)")
    return summary


MEASURES = (("legal_error_random", "legal-move error, held-out random games"),
            ("legal_error_expert", "legal-move error, held-out expert games"),
            ("probe_relative", "linear probe (empty / mine / theirs)"),
            ("probe_relative_majority", "probe: the majority class"))


def measures(seeds, dirs):
    """``{arm: {measure: {"mean", "sd", "per_seed"}}}`` from every seed's ``measure.json``, for the arms and
    measures every seed has."""
    per = {s: read_json(os.path.join(dirs[s], "measure.json"), {}) for s in seeds}
    out = {}
    for arm in per[seeds[0]]:
        for key, _ in MEASURES:
            vals = [per[s].get(arm, {}).get(key) for s in seeds]
            if all(v is not None for v in vals):
                m, sd = mean_sd(vals)
                out.setdefault(arm, {})[key] = {"mean": m, "sd": sd, "per_seed": vals}
    return out


def measures_md(ms, n):
    """The sequence models' legal-move error and board probe (``measures``' dict), mean ± sd across ``n``
    seeds (a table)."""
    if not ms:
        return []
    keys = [(k, label) for k, label in MEASURES if any(k in m for m in ms.values())]

    def cell(v):
        if v is None:
            return ""
        sd = "" if v["sd"] is None else f" ± {100 * v['sd']:.1f}"
        return f"{100 * v['mean']:.1f}%{sd}"

    rows = [[f"**{arm}**", WHAT.get(arm, "")] + [cell(m.get(k)) for k, _ in keys] for arm, m in ms.items()]
    return (["## The sequence models across seeds", "",
             f"Each GPT's final checkpoint measured on held-out games (mean ± sample sd over {n} seeds): "
             "the legal-move error is the share of prefixes whose top-1 prediction is illegal; the probe is the "
             "best layer's linear read-out of every square.", ""]
            + table(["arm", "what"] + [label for _, label in keys], rows) + [""])


def discussion(vs, n):
    """What survives the seed spread, and what does not, each with its numbers."""
    def line(v):
        sd = "" if v["sd"] is None else f", sd {v['sd']:.0f} across seeds"
        return (f"- {v['what']}: {v['mean']:+.0f} Elo on average{sd} (per seed "
                f"{', '.join(f'{d:+.0f}' for d in v['per_seed'])}; the tournament calls it in "
                f"{v['tournament_significant']} of {n}).")

    yes = [line(v) for v in vs if v["survives"]]
    no = [line(v) for v in vs if not v["survives"]]
    out = ["**Survives the seed spread:**", ""] + (yes or ["- nothing" + (" (one seed: no spread to test against)"
                                                                        if n < 2 else "")])
    out += ["", "**Does not survive the seed spread** (the seeds disagree in sign, or the mean is within the spread "
            "or within the tournaments' interval):",
            ""] + (no or ["- nothing"])
    out += ["", f"With {n} seeds the t-test is strict (t = {t975(n - 1):.2f}): a difference must be large "
            "against its spread to count. A comparison the tournament calls in every seed but that does not survive "
            "has a real effect in each run whose size depends on the run."]
    return out


def plot_seeds(out, seeds, dirs, ratings, cfg):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.2))
    colours = plt.get_cmap("tab20").colors
    markers = "osD^v<>p*h"
    arms = {}
    for si, s in enumerate(seeds):
        invj = read_json(os.path.join(dirs[s], "inventory.json"), {})
        inv, meta = invj.get("checkpoints", {}), invj.get("players", {})
        for name, m in meta.items():
            r = ratings[s].rows.get(name)
            if r is None:
                continue
            t = total(inv, m["arm"].replace("_nosearch", ""), m)
            arms.setdefault(m["arm"], {}).setdefault(s, []).append((t["flops"], t["seconds"] / 60, r["elo"]))
    for i, (arm, by_seed) in enumerate(sorted(arms.items())):
        for si, s in enumerate(seeds):
            pts = sorted(by_seed.get(s, []), key=lambda p: p[1])
            if not pts:
                continue
            for ax, k in ((axes[0], 0), (axes[1], 1)):
                ax.plot([p[k] for p in pts], [p[2] for p in pts], marker=markers[si % len(markers)], ms=4, lw=1,
                        ls="--" if "nosearch" in arm else "-", color=colours[i % 20], label=arm if si == 0 else None)
    for ax, label, logx in ((axes[0], "estimated FLOPs (cumulative)", True), (axes[1], "wall-clock minutes", False)):
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(f"Elo ({ratings[seeds[0]].anchor} = 0)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=7, fontsize=8)
    fig.suptitle(f"Othello {cfg.size}x{cfg.size}: every arm's checkpoints, seeds {', '.join(map(str, seeds))} "
                 f"(markers: {', '.join(f'{markers[i]} seed {s}' for i, s in enumerate(seeds))})", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    save_figure(fig, os.path.join(out, "curves.png"))
