"""The study's report, rebuilt from its logs alone (``arena study --report-only RUN``): ``report.md``,
``report.html``, ``curves.png`` (Elo against forward passes, wall-clock and FLOPs), ``rl_curves.png`` (win
rate against greedy over the games of RL), ``feedback.png`` (bits of feedback) and ``summary.json``.

Compute of an arm is cumulative over what it stands on: an RL arm adds its pretrained start's, and the
expert and engine arms add their games' generation. The AlphaZero training that made the expert is *not*
added (it is shown beside them), so ``seq_expert``/``rl_expert`` rows understate their true cost; the
engine's own search is not network FLOPs and counts only in wall-clock.

**Bits of feedback.** Per arm, its own training's reward events (games whose outcome was trained on),
forward passes per reward event, and the *target bits*: how many bits it takes to write down every
training target the arm received, an upper bound on the information the learner was handed:
- next-token pretraining: one of M move ids per position, log2 M bits (M = 60 on 8x8 Othello);
- ``legal_set`` pretraining: the set of legal ids per position, M bits (one per id);
- RL on outcomes: one of win/draw/loss per game, log2 3 bits;
- AlphaZero: per position searched in full (the trained ones; their expected share under playout-cap
  randomization) the visit counts of n simulations over k legal moves,
  log2 C(n + k - 1, k - 1) bits (k = the mean legal-move count, measured on random games), plus the
  outcome per game; the ownership head adds N*N * log2 3 per position; an engine bootstrap adds one move
  (log2 M) per position and an outcome per game.
Pretraining gets a graded target at every forward pass, RL one outcome per trajectory.

A study with staged budgets, RL seeds or a ladder also gets the scale sections (arena.study.scale): the
ladders, the compute before and during RL, Elo against RL compute, the world model along RL and the
verdicts paired seed by seed.
"""

import html
import math
import os
import platform
import re
import time

from agents.common.files import atomic_write, read_json, write_json
from arena.study.config import StudyConfig
from arena.study.scale import scale_sections, scale_study
from arena.study.shared import (WHAT, Ratings, fmt_si, jsonl, pct, pyplot, save_figure, start_of,  # noqa: F401
                                describe, study_runs, table, total)

def verdict(d, se):
    if d is None:
        return "not measured"
    if se == 0 or abs(d) <= 1.96 * se:
        return f"{d:+.0f} ± {1.96 * se:.0f} Elo: within noise"
    return f"{d:+.0f} ± {1.96 * se:.0f} Elo: a real difference"


def first_reaching(points, target):
    """The games of the first evaluation whose centred moving average over three evaluations (two at either
    end) reaches ``target``, or None. One evaluation of 40 games is noisy at +-15 points; the average makes a
    crossing by luck rarer, and a pretrained start already past the target counts from 0 games."""
    for i in range(len(points)):
        run = points[max(0, i - 1):i + 2]
        if sum(w for _, w in run) / len(run) >= target:
            return points[i][0]
    return None


def rl_points(out, arm, run_dir=None, until=None):
    """``[(games of RL, win rate against greedy)]`` from an RL arm's evaluations (or AlphaZero's gauntlets,
    self-play games), from ``run_dir`` (default ``out/arm``), up to ``until`` seconds of training (a run rated
    at a budget it went past)."""
    rows = jsonl(os.path.join(run_dir or os.path.join(out, arm), "metrics.jsonl"))
    if until is not None:
        rows = [r for r in rows if r.get("compute", r).get("seconds", 0) <= until]
    if arm.startswith("az"):
        return [(r["compute"]["reward_events"], r["gauntlet"]["greedy"]) for r in rows
                if "gauntlet" in r and "greedy" in r["gauntlet"] and "compute" in r]
    return [(r["games"], r["eval"]["greedy"]) for r in rows if "eval" in r and "greedy" in r["eval"]]


def plot_curves(out, inv, meta, ratings, cfg):
    plt = pyplot()
    lines = {}
    for name, m in meta.items():
        r = ratings.rows.get(name)
        if r is None:
            continue
        t = total(inv, m["arm"].replace("_nosearch", ""), m)
        lines.setdefault(m["arm"], []).append((t, r["elo"], r["ci95_low"], r["ci95_high"]))
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2))
    axes_keys = (("forward", "network forward passes (positions; play, search, training)", True),
                 ("seconds", "wall-clock minutes (one 2-core machine)", False), ("flops", "estimated FLOPs", True))
    colours = plt.get_cmap("tab20").colors
    for i, (arm, pts) in enumerate(sorted(lines.items())):
        start = start_of(inv, arm)
        if start and lines.get(start):  # an RL arm's curve goes on from where its pretraining ended
            pts = [max(lines[start], key=lambda p: p[0]["seconds"])] + pts
        pts = sorted(pts, key=lambda p: p[0]["seconds"])
        for ax, (key, label, logx) in zip(axes, axes_keys):
            x = [p[0][key] / (60 if key == "seconds" else 1) for p in pts]
            y = [p[1] for p in pts]
            err = [[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]]
            style = "--" if "nosearch" in arm else "-"
            ax.errorbar(x, y, yerr=err, fmt="o" + style, ms=4, capsize=2, lw=1.3, color=colours[i % 20], label=arm)
    for name in (a.partition("=")[0] for a in cfg.anchors):
        if name in ratings.rows:
            for ax in axes:
                ax.axhline(ratings.rows[name]["elo"], color="#999", lw=0.8, ls=":")
                ax.annotate(name, (0.01, ratings.rows[name]["elo"]), xycoords=("axes fraction", "data"), fontsize=7,
                            color="#666")
    for ax, (key, label, logx) in zip(axes, axes_keys):
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(f"Elo ({ratings.anchor} = 0), 95% CI")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=8)
    fig.suptitle(f"Othello {cfg.size}x{cfg.size}: every arm's checkpoints in one tournament ({ratings.games} games)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    save_figure(fig, os.path.join(out, "curves.png"))


def plot_rl(out, arms, target, where=None):
    """Win rate against greedy over the games learned from; ``where``: ``{run: (run_dir, until)}``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for arm in arms:
        pts = rl_points(out, arm, *(where or {}).get(arm, (None, None)))
        if pts:
            ax.plot([max(g, 1) for g, _ in pts], [100 * w for _, w in pts], marker="o", ms=3,
                    label=arm + (" (self-play games, search)" if arm.startswith("az") else ""))
    ax.axhline(100 * target, color="#999", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("games learned from (reward events)")
    ax.set_ylabel("win rate against greedy, %")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, os.path.join(out, "rl_curves.png"))


def target_bits(fb, row, legal_moves, moves, squares):
    """Bits of an arm's own training targets (see the module docstring) from its ``feedback`` entry and
    the compute ``row`` of its final checkpoint."""
    log3 = math.log2(3)
    t = fb.get("target")
    if t == "next_token":
        return row["trained"] * math.log2(moves)
    if t == "legal_set":
        return row["trained"] * moves
    if t == "outcome":
        return row["reward_events"] * log3
    n, k = fb["simulations"], legal_moves
    per = (math.lgamma(n + k) - math.lgamma(n + 1) - math.lgamma(k)) / math.log(2)  # log2 C(n + k - 1, k - 1)
    trained = row.get("positions", 0) * fb.get("full_share", 1.0)  # positions of full searches, the trained ones
    bits = trained * (per + (squares * log3 if fb.get("aux") else 0)) + row["reward_events"] * log3
    return bits + fb.get("bootstrap_positions", 0) * math.log2(moves) + fb.get("bootstrap_games", 0) * log3


def feedback_table(inv, fb, cfg):
    """``{arm: {reward_events, forward, forward_per_event, target_bits, bits_per_forward, target}}`` of each
    arm's own training (not what it stands on)."""
    from agents.common.tokenizer import FIRST_MOVE, Tokenizer

    if not fb:
        return {}
    moves = Tokenizer(cfg.game, cfg.size).vocab_size - FIRST_MOVE
    out = {}
    for arm in [a for a in inv if isinstance(inv[a], list)]:
        if not inv.get(arm) or arm not in fb:
            continue
        row = inv[arm][-1]
        bits = target_bits(fb[arm], row, fb["mean_legal_moves"], moves, cfg.size * cfg.size)
        ev = row["reward_events"]
        out[arm] = {"target": fb[arm]["target"], "reward_events": ev, "forward": row["forward"],
                    "forward_per_event": row["forward"] / ev if ev else None, "target_bits": bits,
                    "bits_per_forward": bits / row["forward"] if row["forward"] else None}
    return out


def plot_feedback(path, feed, title):
    """Bar charts, log scale: target bits per forward pass and forward passes per reward event, per arm."""
    plt = pyplot()
    arms = list(feed)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, key, label in ((axes[0], "bits_per_forward", "target bits per forward pass"),
                           (axes[1], "forward_per_event", "forward passes per reward event")):
        vals = [feed[a][key] or 0 for a in arms]
        ax.bar(range(len(arms)), [max(v, 1e-6) for v in vals], color=["#c44" if a.startswith("az") else "#48c"
                                                                   if a.startswith("seq") else "#4a4" for a in arms])
        ax.set_yscale("log")
        ax.set_xticks(range(len(arms)))
        ax.set_xticklabels(arms, rotation=40, ha="right", fontsize=8)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
        for i, v in enumerate(vals):
            if not v:
                ax.annotate("none", (i, 1e-6), ha="center", fontsize=7)
    fig.suptitle(title + " (red: AlphaZero, blue: pretraining, green: RL)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def feedback_md(feed, legal_moves):
    rows = [[a, f["target"], fmt_si(f["reward_events"]), fmt_si(f["forward"]), fmt_si(f["forward_per_event"]),
             fmt_si(f["target_bits"]), f"{f['bits_per_forward']:.3g}" if f["bits_per_forward"] else "-"]
            for a, f in feed.items()]
    return (["## Bits of feedback", "",
             "Each arm's own training (not what it stands on). Target bits: what it takes to write down every target "
             "the arm was trained on, an upper bound on the information handed to the learner: next-token log2 M per "
             "position, legal_set M per position, an outcome log2 3 per game, AlphaZero's search log2 C(n+k-1, k-1) "
             f"per searched position (n simulations over k = {legal_moves:.1f} legal moves, the mean over random "
             "games) plus the outcome.", ""]
            + table(["arm", "target", "reward events", "forward passes", "forward passes / reward event",
                     "target bits", "target bits / forward pass"], rows)
            + ["", "![Bits of feedback](feedback.png)", ""])


def write_report(out, log=print):
    """Write the report files from ``out``'s logs; returns the summary dict (the main table's rows)."""
    cfg_d = read_json(os.path.join(out, "study.json"))
    if cfg_d is None:
        raise ValueError(f"{out} is not a study directory (no study.json)")
    cfg = StudyConfig.from_dict(cfg_d)
    stages = read_json(os.path.join(out, "stages.json"), {})
    invj = read_json(os.path.join(out, "inventory.json"))
    if invj is None or not os.path.exists(os.path.join(out, "tournament", "ratings.json")):
        raise ValueError(f"{out}: the study has not reached its tournament yet; run it to the end first")
    inv, meta = invj["checkpoints"], invj["players"]
    measure = read_json(os.path.join(out, "measure.json"), {})
    R = Ratings(out)
    finals = [n for n, m in meta.items() if m["final"]]
    runs = study_runs(invj, cfg)
    rl_arms = [a for a, r in runs.items() if r["arm"].startswith("rl_")]
    # Where each run's metrics are, and up to when (a run rated at a budget it went past, az from az_run).
    where = {a: (r["dir"] if r["dir"] and os.path.isdir(r["dir"]) else None,
                 inv[a][-1]["seconds"] if inv.get(a) and r.get("capped") else None) for a, r in runs.items()}

    # -- the main table ---------------------------------------------------------------------------------
    summary, rows = {}, []
    for name in sorted(finals, key=lambda n: -(R.elo(n) or -1e9)):
        m = meta[name]
        base = m["arm"].replace("_nosearch", "")
        t = total(inv, base, m)
        elo = R.elo(name)
        summary[name] = {"elo": elo, "ci95": [R.rows[name]["ci95_low"], R.rows[name]["ci95_high"]] if name in R.rows
                         else None, **t}
        per_event = t["forward"] / t["reward_events"] if t["reward_events"] else None
        rows.append([f"**{name}**", describe(name, runs), R.cell(name), f"{t['seconds'] / 60:.1f}", fmt_si(t["games"]),
                     fmt_si(t["trained"]), fmt_si(t["forward"]), fmt_si(t["flops"]), fmt_si(t["reward_events"]),
                     fmt_si(per_event), "-" if elo is None or not t["flops"] else f"{elo / (t['flops'] / 1e12) + 0.0:.3g}"])
    for name in (a.partition("=")[0] for a in cfg.anchors):
        if name in R.rows:
            rows.append([name, "anchor: " + dict(a.partition("=")[::2] for a in cfg.anchors)[name], R.cell(name)]
                        + ["-"] * 8)

    # -- sections -------------------------------------------------------------------------------------
    command = read_json(os.path.join(out, "command.json"), {}).get("command", f"arena study --config CONFIG --out {out}")
    md = [f"# The comparison study: Othello {cfg.size}x{cfg.size}", "",
          f"Generated {time.strftime('%Y-%m-%d %H:%M')} from the logs in `{out}` "
          f"(rebuild: `arena study --report-only {out}`).", "",
          "## Setup", "", f"- Command: `{command}` (the config as run: `{out}/study.json`).",
          f"- Machine: {platform.platform()}, {os.cpu_count()} CPU threads, Python {platform.python_version()}"
          + _torch_version() + ".",
          ((f"- Budget: {cfg.budget_text()}, on this machine" if cfg.staged() else
            (f"- Budget: {cfg.minutes:g} min of wall-clock per arm on this machine" if cfg.budget == "wallclock" else
             f"- Budget: {fmt_si(cfg.flops)} estimated FLOPs per arm (at most {cfg.minutes:g} min of wall-clock)")
            + f" (AlphaZero; pretraining {cfg.pretrain_share:.0%} + RL {1 - cfg.pretrain_share:.0%}; RL from scratch)")
           + f", seed {cfg.seed}" + (f", RL seeds {', '.join(map(str, cfg.rl_seeds))}" if cfg.rl_seeds else "")
           + "."),
          "- Datasets: " + "; ".join(d for d, used in (
              (f"{cfg.random_games:,} uniformly random games", any(a.startswith(("seq_", "rl_")) for a in cfg.arms)),
              (f"{cfg.expert_games:,} self-play games of the final `az` net with {cfg.expert_simulations} Gumbel "
               f"simulations per move (the expert)", "seq_expert" in cfg.arms),
              (f"{cfg.engine_games:,} games of `{cfg.engine}` at levels {cfg.engine_levels}, every pair of levels "
               f"meeting (the engine arms)", any(a in cfg.arms for a in ("seq_engine", "az_boot"))
               and not cfg.engine_data),
              (f"the engine dataset `{cfg.engine_data}`, made beforehand (the engine arms)",
               any(a in cfg.arms for a in ("seq_engine", "az_boot")) and cfg.engine_data)) if used)
          + ".",
          *([f"- Given, not trained here: the GPT `{cfg.pretrained}` (seq_pretrained, rl_pretrained's start; its "
             f"compute is the file's)."] if "seq_pretrained" in cfg.arms else []),
          *([f"- Given, not trained here: the GPT `{cfg.engine_pretrained}`, pretrained on the engine dataset "
             f"(seq_engine, rl_engine's start; its compute is the file's)."] if cfg.given("seq_engine") else []),
          *([f"- Given, not trained here: `az_boot` is the net `{cfg.az_boot_net}` ({inv['az_boot'][-1]['seconds'] / 60:.1f} "
             f"min of training recorded in the file, warm starts included, for its budget of "
             f"{cfg.arm_minutes('az_boot'):g} min)."] if cfg.given("az_boot") and inv.get("az_boot") else []),
          *([f"- Given, not trained here: `az` is `{inv['az'][-1]['path']}` of the run `{cfg.az_run}`, the checkpoint "
             f"nearest to its budget of {cfg.arm_minutes('az'):g} min but not beyond it "
             f"({inv['az'][-1]['seconds'] / 60:.1f} min), pinned at the study's first start."]
            if cfg.az_run and inv.get("az") and not os.path.isfile(cfg.az_run) else []),
          *([f"- Given, not trained here: `az` is the net `{cfg.az_run}` ({inv['az'][-1]['seconds'] / 60:.1f} min of "
             f"training recorded in the file, within its budget of {cfg.arm_minutes('az'):g} min)."]
            if cfg.az_run and inv.get("az") and os.path.isfile(cfg.az_run) else []),
          *chosen_md(invj.get("chosen") or {}),
          (f"- Tournament: {R.games} games, played as each run was trained (rated as trained): the anchors' "
           f"round robin, then each run's {cfg.checkpoints} rated checkpoints against every anchor and each other "
           f"(runs meet each other only through the anchors); {cfg.games} games per pair over "
           if cfg.rate_as_trained else
           f"- Tournament: {R.games} games; every arm's final player meets every player, the {cfg.checkpoints - 1} "
           f"earlier checkpoints per arm meet the finals and the anchors; {cfg.games} games per pair over ")
          + f"{cfg.games // 2} random {cfg.opening_plies}-ply openings with colours swapped; AlphaZero searches "
          f"{cfg.az_sims} simulations (and plays as `*_nosearch` with its policy head alone). Elo by maximum "
          f"likelihood, {R.anchor} = 0, 95% CI from the fit.",
          "- The exact commands, in order (each arm's `minutes` is its budget; an interrupted arm resumed with what "
          "was left):", "", "```"]
    md += [" ".join(map(str, s["command"])) for k, s in stages.items() if isinstance(s, dict) and "command" in s]
    md += ["```", "", "## Final Elo at equal compute", "",
           "Compute is cumulative over what an arm stands on (an RL arm includes its pretraining; the expert arms "
           "include the expert games but **not** the AlphaZero run that made them). Forward passes count every "
           "position the network evaluated: in play, inside search, and once per position or token trained on.", ""]
    md += table(["player", "what", "Elo [95% CI]", "wall-clock min", "games played", "positions or tokens trained",
                 "forward passes", "FLOPs", "reward events", "forward passes / reward event", "Elo / TFLOP"], rows)
    md += ["", "![Elo against compute](curves.png)", "",
           "Elo of every rated checkpoint against forward passes, wall-clock and FLOPs. An RL arm's curve starts "
           "where its pretraining ended; dashed: AlphaZero without search.", ""]

    # sample efficiency
    md += ["## Sample efficiency", "",
           f"Games of RL until the win rate against greedy, as a centred moving average over three evaluations, "
           f"first reached {cfg.target_win_rate:.0%} (the arm's own evaluations: temperature 0, legal moves, fixed random "
           f"openings with both colours; AlphaZero's gauntlets count self-play games and play with search).", ""]
    eff = []
    for arm in rl_arms + [a for a in ("az", "az_permuted", "az_boot") if a in cfg.arms]:
        pts = rl_points(out, arm, *where.get(arm, (None, None)))
        if not pts:
            continue
        g = first_reaching(pts, cfg.target_win_rate)
        eff.append([arm, pct(pts[0][1]), pct(pts[-1][1]), f"{pts[-1][0]:,}",
                    f"{g:,}" if g is not None else f"not reached in {pts[-1][0]:,}",
                    f"{pts[1][0] - pts[0][0]:,}" if len(pts) > 1 else "-"])
        summary.setdefault(arm, {})["games_to_target"] = g
    md += table(["arm", "first evaluation", "last evaluation", "games learned from", f"games to {cfg.target_win_rate:.0%}",
                 "games between evaluations"], eff)
    md += ["", "![RL curves](rl_curves.png)", ""]

    # the sequence models
    md += ["## The sequence models", "",
           "Legal-move error: how often the top-1 prediction after a prefix of a held-out game is illegal "
           "(Othello-GPT's metric), on random games and on the expert's games. Probe: the best layer's linear "
           "probe of every square's state (empty/mine/theirs and empty/black/white) on held-out random games. "
           "Raw illegal: the unmasked top-1 move's illegality in the RL arm's last step of play.", ""]
    srows = []
    engine = any("legal_error_engine" in m for m in measure.values())  # the engine's held-out games, when measured
    for arm in [a for a, r in runs.items() if not r["arm"].startswith("az")]:
        m = measure.get(arm, {})
        metrics = os.path.join(where.get(arm, (None,))[0] or os.path.join(out, arm), "metrics.jsonl")
        last = [r for r in jsonl(metrics) if "illegal_rate" in r and r["seconds"] <= (where[arm][1] or 1e18)]
        srows.append([arm, pct(m.get("legal_error_random")), pct(m.get("legal_error_expert")),
                      *([pct(m.get("legal_error_engine"))] if engine else []),
                      f"{pct(m.get('probe_relative'))} (layer {m.get('probe_relative_layer', '-')})",
                      f"{pct(m.get('probe_absolute'))} (layer {m.get('probe_absolute_layer', '-')})",
                      pct(m.get("probe_relative_majority")), pct(last[-1]["illegal_rate"]) if last else "-"])
    md += table(["model", "legal error, random games", "legal error, expert games",
                 *(["legal error, engine games"] if engine else []), "probe empty/mine/theirs",
                 "probe empty/black/white", "majority baseline", "raw illegal (RL)"], srows)

    # bits of feedback
    feed = feedback_table(inv, invj.get("feedback"), cfg)
    if feed:
        md += [""] + feedback_md(feed, invj["feedback"]["mean_legal_moves"])
        plot_feedback(os.path.join(out, "feedback.png"), feed, f"Othello {cfg.size}x{cfg.size}, seed {cfg.seed}")
        summary["feedback"] = feed

    # controls and the discussion
    md += ["", "## Controls", ""]
    ctrl = []
    for a, b, what in (("seq_random_permuted", "seq_random", "(a) move ids permuted, pretrained"),
                       ("rl_random_permuted", "rl_random", "(a) move ids permuted, after RL"),
                       ("az_permuted", "az", "(b) board squares permuted, with search"),
                       ("az_permuted_nosearch", "az_nosearch", "(b) board squares permuted, policy head alone")):
        if a in R.rows and b in R.rows:
            d, se = R.diff(a, b)
            ma, mb = measure.get(a, {}), measure.get(b, {})
            extra = ""
            if ma and mb:
                extra = (f"; legal error {pct(ma.get('legal_error_random'))} vs {pct(mb.get('legal_error_random'))}, "
                         f"probe {pct(ma.get('probe_relative'))} vs {pct(mb.get('probe_relative'))}")
            ctrl.append([what, f"{a} − {b}", verdict(d, se) + extra])
            summary.setdefault("controls", {})[f"{a}-{b}"] = {"elo_diff": d, "se": se}
    md += table(["control", "difference", "measured"], ctrl)
    md += ["", "## Discussion", ""] + discussion(cfg, R, meta, measure, summary, eff) + [""]
    if scale_study(cfg):
        md += scale_sections(out, cfg, R, inv, meta, runs, measure, summary)
    md += ["## Every rated checkpoint", "", "Each arm's own compute up to the checkpoint, then the cumulative "
           "compute the curves use.", ""]
    every = []
    for name, m in sorted(meta.items(), key=lambda kv: (kv[1]["arm"], kv[1]["seconds"])):
        t = total(inv, m["arm"].replace("_nosearch", ""), m)
        every.append([name, m["step"], f"{m['seconds'] / 60:.2f}", fmt_si(m["games"]), fmt_si(m["trained"]),
                      fmt_si(m["forward"]), fmt_si(m["flops"]), f"{t['seconds'] / 60:.2f}", fmt_si(t["forward"]),
                      fmt_si(t["flops"]), R.cell(name)])
    md += table(["player", "step", "own min", "own games", "own trained", "own forward", "own FLOPs", "total min",
                 "total forward", "total FLOPs", "Elo [95% CI]"], every) + [""]

    atomic_write(os.path.join(out, "report.md"), "\n".join(md) + "\n")
    plot_curves(out, inv, meta, R, cfg)
    plot_rl(out, rl_arms + [a for a in ("az", "az_boot") if a in cfg.arms], cfg.target_win_rate, where)
    atomic_write(os.path.join(out, "report.html"), to_html("\n".join(md), f"Study: Othello {cfg.size}x{cfg.size}"))
    write_json(os.path.join(out, "summary.json"), summary)
    log("\n".join(md[md.index("## Final Elo at equal compute"):md.index("![Elo against compute](curves.png)")]))
    log(f"wrote {out}/report.md, report.html, curves.png, rl_curves.png, summary.json")
    return summary


def chosen_md(chosen):
    """Setup lines for the runs rated (and started from) at their best validation loss (arena.study.config.
    BEST_VAL; inventory.json's ``chosen``)."""
    return [f"- `{name}` is its checkpoint at step {c['step']} ({c['seconds'] / 60:.1f} min into its run of "
            f"{c['last_seconds'] / 60:.1f}, which ended at step {c['last_step']}): the lowest validation loss, "
            f"{c['val_loss']:.4f} (next-token, on its held-out games), of its {c['candidates']} evaluated checkpoints. "
            f"Its RL arm starts from it, and the compute both stand on counts its run up to it. Chosen on those "
            f"held-out games, its legal-move error on them is slightly optimistic." for name, c in chosen.items()]


def _torch_version():
    try:
        import torch

        return f", torch {torch.__version__}" + (f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available()
                                                  else ", no GPU")
    except ImportError:
        return ""


def discussion(cfg, R, meta, measure, summary, eff):
    """Short bullets that read the numbers, each with its uncertainty, and the limits of what they show."""
    out = []

    def said(a, b, text):
        d, se = R.diff(a, b)
        if d is not None:
            sure = "clearly" if abs(d) > 1.96 * se else "not distinguishably (within the 95% interval)"
            out.append(f"- {text}: {d:+.0f} ± {1.96 * se:.0f} Elo, {sure} {'above' if d > 0 else 'below'}.")

    finals = sorted((n for n, m in meta.items() if m["final"] and n in R.rows), key=lambda n: -R.elo(n))
    if finals:
        out.append(f"- At equal {'wall-clock' if cfg.budget == 'wallclock' else 'FLOPs'} the order is: "
                   f"{', '.join(f'{n} ({round(R.elo(n))})' for n in finals)}.")
    said("az", "az_nosearch", "Search at play time (AlphaZero with its search against its own policy head)")
    best_seq = next((n for n in finals if not n.startswith("az")), None)
    if best_seq:
        said("az", best_seq, f"AlphaZero against the best sequence arm ({best_seq})")
        said("az_nosearch", best_seq, f"AlphaZero's policy head alone against {best_seq} (neither searches)")
    said("rl_random", "rl_scratch", "Pretraining on random transcripts, then RL, against RL alone at the same budget")
    said("rl_random", "seq_random", "RL's gain over its random-transcript pretraining")
    said("rl_expert", "seq_expert", "RL's gain over expert pretraining")
    said("seq_expert", "seq_random", "Expert against random transcripts, pretraining alone")
    said("rl_expert", "rl_random", "Expert against random transcripts, after RL")
    said("seq_engine", "seq_random", "A real engine's games against random transcripts, pretraining alone")
    said("rl_engine", "rl_random", "A real engine's games against random transcripts, after RL")
    said("rl_engine", "rl_scratch", "Engine-game pretraining, then RL, against RL alone")
    said("az_boot", "az", "AlphaGo's recipe (bootstrapped on the engine's games, then self-play) against "
                          "AlphaZero from scratch")
    said("az_boot", "rl_engine", "The same engine games as a start for AlphaZero against as a start for the GPT")
    reach = {r[0]: r[4] for r in eff}
    if "rl_random" in reach and "rl_scratch" in reach:
        out.append(f"- Sample efficiency to {cfg.target_win_rate:.0%} against greedy: pretrained {reach['rl_random']} "
                   f"games of RL, from scratch {reach['rl_scratch']}" + (f", expert-pretrained {reach['rl_expert']}"
                                                                          if "rl_expert" in reach else "")
                   + (f"; AlphaZero, with search at play, {reach['az']} self-play games" if "az" in reach else "") + ".")
    m = measure
    if "seq_random" in m and "seq_random_permuted" in m:
        out.append(f"- Control (a): permuting the move ids changed the legal-move error from "
                   f"{pct(m['seq_random']['legal_error_random'])} to {pct(m['seq_random_permuted']['legal_error_random'])}"
                   f" and the probe from {pct(m['seq_random']['probe_relative'])} to "
                   f"{pct(m['seq_random_permuted']['probe_relative'])}: token ids are nominal labels, and this is the "
                   f"size of the run-to-run difference they make (same seed, same batches).")
    said("az_permuted", "az", "Control (b): the spatial prior, board squares permuted against plain AlphaZero")
    out += ["", "What these numbers do not show:",
            (f"- Each RL arm ran once per RL seed ({', '.join(map(str, cfg.rl_seeds))}; their spread is in the "
             f"verdicts below), every other arm once: " if cfg.rl_seeds else "- One seed per arm in this report: ")
            + f"the intervals are the tournament's (game sampling), not the spread between training runs, which at "
            f"budgets of {cfg.total_minutes():g} minutes can be as large (`seeds` runs the study once per seed and "
            f"reports the spread).",
            ("- Equal compute here is equal wall-clock on one CPU machine." if cfg.budget == "wallclock" else
             "- Equal compute here is equal estimated FLOPs; wall-clock differs between arms.")
            + " AlphaZero's self-play worker and learner share two cores; the GPT arms use two threads. FLOPs are "
            "estimates (2 per multiply-add of the main layers, backward = 2 forwards); on a GPU the ratios between "
            "arms would differ.",
            *(["- The expert arms stand on the whole AlphaZero run as well as the expert games; their compute "
               "columns add only the games."] if "seq_expert" in cfg.arms else []),
            *([f"- Small budgets favour methods that learn fast; the ranking at ten or a hundred times the compute "
               f"({10 * cfg.total_minutes():g} to {100 * cfg.total_minutes():g} minutes an arm) may differ."]
              if not cfg.staged() else [])]
    return out


def to_html(md, title):
    """The report's markdown as a standalone page (the subset the report uses: headings, lists, tables,
    code blocks, images, inline code and bold)."""

    def inline(t):
        t = html.escape(t)
        t = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", r'<img alt="\1" src="\2" style="max-width:100%">', t)
        t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
        return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)

    body, lines, i = [], md.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = lines.index("```", i + 1)
            body.append("<pre>" + html.escape("\n".join(lines[i + 1:j])) + "</pre>")
            i = j + 1
            continue
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not set(lines[i]) <= set("|-: "):
                    rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            head = "".join(f"<th>{inline(c)}</th>" for c in rows[0])
            cells = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
            body.append(f"<table><tr>{head}</tr>{cells}</table>")
            continue
        if line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{inline(lines[i][2:])}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        m = re.match(r"(#+) (.*)", line)
        if m:
            body.append(f"<h{len(m.group(1))}>{inline(m.group(2))}</h{len(m.group(1))}>")
        elif line.strip():
            body.append(f"<p>{inline(line)}</p>")
        i += 1
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.45}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
             "pre{background:#f4f4f4;padding:8px;overflow-x:auto;font-size:12px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>" + "\n".join(body) + "</body></html>\n")
