"""What the study measures once its arms are trained: every run's checkpoints and their compute
(``inventory``), the sequence models' legal-move error and linear board probes (``measure``: at the end,
and with ``measure_along`` at every rated checkpoint of every RL run), one tournament of every run's
chosen checkpoints with the anchors (``tournament``) and, with ``ladder``, an ``arena ladder`` of every
arm's final player against the engine's levels (``ladders``).

    OUT/inventory.json   {"checkpoints": {run: [row]}, "players": {name: meta}, "runs": {run: info}, "feedback",
                          "chosen": {run: best_checkpoint}}
    OUT/measure.json     {run: {legal_error_random, probe_relative, ..., "along": [{step, seconds, ...}]}}
    OUT/tournament/      an arena tournament's results
    OUT/ladder/PLAYER/   an arena ladder's results (ladder.json)
"""

import os
import re
import time

import numpy as np
import torch
import yaml

from agents.common import checkpoint
from agents.common.files import read_json, write_json
from agents.common.tokenizer import Tokenizer
from agents.common.transcripts import Dataset, FreshGames, lists_to_batch
from agents.seq.legal import evaluate, legal_targets
from agents.seq.load import checkpoint_tokenizer, load_gpt
from agents.seq.probe import probe
from arena.ladder import LadderConfig, run_ladder
from arena.study.child import cli, run_child
from arena.study.config import BEST_VAL, DEPENDS
from arena.study.inputs import az_rows, run_checkpoints
from arena.study.shared import jsonl

HELD_OUT = ("random", "expert", "engine")  # the datasets whose held-out games score the legal-move error


# -- checkpoints and their compute -------------------------------------------------------------------

def feedback_of(ck):
    """What an arm's training targets were, for the report's bits of feedback: the trainer and its
    target; AlphaZero's simulations per full search, the share of moves searched in full (the trained
    ones, under playout-cap randomization), its auxiliary heads and an engine bootstrap's positions and
    games."""
    cfg, meta = ck["config"], ck.get("meta") or {}
    if ck["trainer"] == "pretrain":
        return {"target": cfg.get("target", "next_token")}
    if ck["trainer"] == "finetune":
        return {"target": "outcome"}
    boot = meta.get("bootstrap") or {}
    return {"target": "search", "simulations": cfg["simulations"], "full_share": cfg.get("full_search_prob", 1.0),
            "aux": bool(cfg.get("ownership_weight", 0)),
            "bootstrap_positions": boot.get("positions", 0), "bootstrap_games": boot.get("games", 0)}


def mean_legal_moves(game, size, games=300, seed=0):
    """The mean number of legal moves over the positions of uniformly random games (a position with a
    move to choose), measured with the rules kernels: the size of the choice a policy target spreads over."""
    tok = Tokenizer(game, size)
    rows = FreshGames(tok, seed).sample(0, games)
    n = legal_targets(tok, rows).sum(-1)
    return float(n[n > 0].mean())


def best_checkpoint(run_dir):
    """``{path, step, val_loss, candidates, last_step}``: the checkpoint of a pretraining run with the lowest
    validation loss its metrics recorded at the checkpoint's step (``arena pretrain`` evaluates on its held-out
    games every ``eval_every`` steps and at its end; ``candidates`` checkpoints have one), the earliest of equals;
    None when none has one."""
    d = os.path.join(run_dir, "checkpoints")
    steps = {}
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        m = re.fullmatch(r"step_(\d+)\.pt", f)
        if m:
            steps[int(m.group(1))] = os.path.join(d, f)
    val = {r["step"]: r["val_loss"] for r in jsonl(os.path.join(run_dir, "metrics.jsonl")) if "val_loss" in r}
    have = [k for k in steps if k in val]  # a step evaluated twice (a resume redid it): its last, equal, record
    if not have:
        return None
    best = min(have, key=lambda k: (val[k], k))
    return {"path": steps[best], "step": best, "val_loss": val[best], "candidates": len(have), "last_step": max(steps)}


def run_rows(study, run):
    """``[{path, step, start, **compute}]`` of one run, oldest first: the pretrained file's one checkpoint;
    az_run's up to the one pinned at the first start; a run carried on by a view's stage (rl_scratch, rated at
    R), those its own stage wrote; a ``BEST_VAL`` run's, up to its best checkpoint (:func:`best_checkpoint`);
    else the run's own. ``start`` names the run whose compute it stands on (an RL run's pretrained start)."""
    cfg = study.cfg
    if cfg.given(run.arm):
        rows = run_checkpoints(cfg.given(run.arm))  # the file's one row
    elif run.arm == "az" and cfg.az_run:
        rows = az_rows(cfg, study.az_pin())
    else:
        rows = run_checkpoints(study.run_dir(run.name))
        if study.carried_on(run.name):  # its stage's checkpoints, the last its save at its budget (not beyond)
            rows = [r for r in rows if round(r["budget_minutes"] or 0, 3) == round(study.stage_minutes(run.name), 3)]
        best = best_checkpoint(study.run_dir(run.name)) if run.arm in BEST_VAL else None
        if best:
            rows = rows[: [r["path"] for r in rows].index(best["path"]) + 1]
    start = DEPENDS.get(run.arm) if run.arm.startswith("rl_") else None
    return [{**r, "start": start} for r in rows]


def inventory(study):
    """``{run: [row]}`` over every checkpoint of every run (:func:`run_rows`), plus the expert and engine
    datasets' cost under ``data_expert`` and ``data_engine``."""
    inv = {name: run_rows(study, run) for name, run in study.runs.items()}
    return {**inv, **data_costs(study)}


def data_costs(study):
    """``{data_expert, data_engine}``: what the expert and engine datasets cost to make (those that exist)."""
    inv = {}
    for key in ("expert", "engine"):  # what the expert and engine datasets cost to make
        manifest = read_json(os.path.join(study.data[key], "manifest.json"))
        if manifest:
            c = manifest.get("compute", {})
            inv[f"data_{key}"] = {"seconds": manifest.get("seconds", 0.0), "forward": c.get("forward_positions", 0),
                                  "flops": c.get("flops", 0), "games": manifest["counts"]["generated"],
                                  "reward_events": 0, "trained": 0}
    return inv


def runs_info(study, names=None):
    """``{run: {arm, label, seed, dir, start, capped}}`` for the report (inventory.json's ``runs``), of every
    run or of ``names``."""
    cfg = study.cfg
    return {name: {"arm": r.arm, "label": r.label, "seed": r.seed, "dir": study.run_dir(name),
                   "start": DEPENDS.get(r.arm) if r.arm.startswith("rl_") else None,
                   # rated at a budget its run went past: its metrics count up to its last rated checkpoint
                   "capped": study.carried_on(name) or (r.arm == "az" and bool(cfg.az_run))
                   or (r.arm in BEST_VAL and best_checkpoint(study.run_dir(name)) is not None)}
            for name, r in study.runs.items() if names is None or name in names}


def chosen(study, inv):
    """``{run: best_checkpoint + its seconds and the run's}`` of the ``BEST_VAL`` runs, for the report."""
    out = {}
    for name, r in study.runs.items():
        best = best_checkpoint(study.run_dir(name)) if r.arm in BEST_VAL else None
        if best and inv.get(name):
            last = checkpoint.load(checkpoint.latest(study.run_dir(name)))["compute"]["seconds"]
            out[name] = {**best, "seconds": inv[name][-1]["seconds"], "last_seconds": last}
    return out


def feedback(study, inv):
    """``{run: feedback_of(its final checkpoint)}`` and the game's ``mean_legal_moves``."""
    out = {name: feedback_of(checkpoint.load(inv[name][-1]["path"])) for name in study.runs if inv.get(name)}
    out["mean_legal_moves"] = mean_legal_moves(study.cfg.game, study.cfg.size)
    return out


def pick(rows, k):
    """``k`` checkpoints evenly spaced in wall-clock, the last included (fewer if fewer exist)."""
    if not rows:
        return []
    end = rows[-1]["seconds"]
    chosen = []
    for i in range(1, k + 1):
        target = end * i / k
        best = min(rows, key=lambda r: abs(r["seconds"] - target))
        if best not in chosen:
            chosen.append(best)
    if rows[-1] not in chosen:
        chosen.append(rows[-1])
    return sorted(chosen, key=lambda r: r["seconds"])


def anchor_roster(cfg):
    """``{name: spec}`` of the anchors, the rating anchor first."""
    roster = {}
    for item in cfg.anchors:
        name, _, spec = item.partition("=")
        name, spec = (name.strip(), spec.strip()) if spec else (item.strip(), item.strip())
        roster[name] = spec
    return roster


def players(study, inv):
    """``({name: spec}, {name: meta}, focus)``: anchors, then each run's chosen checkpoints (``run@PCT``
    along the way, ``run`` at the end; AlphaZero also ``*_nosearch``). The focus, which meets everyone, is
    the anchors and every run's final player. ``meta``: the run, its arm, label and seed, whether it
    searches, whether it is the final, and the checkpoint's row."""
    cfg = study.cfg
    roster, meta = anchor_roster(cfg), {}
    focus = list(roster)
    for run_name, run in study.runs.items():
        chosen = pick(inv.get(run_name, []), cfg.checkpoints)
        for row in chosen:
            final = row is chosen[-1]
            tag = "" if final else f"@{round(100 * row['seconds'] / max(chosen[-1]['seconds'], 1e-9))}"
            variants = [(run_name, f"sims={cfg.az_sims}"), (f"{run_name}_nosearch", "sims=0")] \
                if run.arm.startswith("az") else [(run_name, None)]
            for base, opt in variants:
                name = base + tag
                roster[name] = f"az:{row['path']},{opt}" if opt else f"seq:{row['path']},temp=0"
                meta[name] = {"arm": base, "run": run_name, "label": run.label, "rl_seed": run.seed,
                              "search": opt != "sims=0" if opt else False, "final": final, **row}
                if final:
                    focus.append(name)
    return roster, meta, focus


# -- the sequence models -----------------------------------------------------------------------------

def held_out_rows(study, key, tok, games):
    """Held-out games of dataset ``key`` re-encoded in ``tok``'s ids (a permuted model reads its own)."""
    path = study.data[key]
    if not os.path.exists(os.path.join(path, "manifest.json")):
        return None
    data = Dataset(path)
    rows = data.rows("val", games)
    if tok.permutation == data.tokenizer.permutation:
        return rows
    actions, lengths = lists_to_batch([data.tokenizer.decode(r) for r in rows])
    return tok.encode_batch(actions, lengths).astype(np.int64)


def measure_checkpoint(study, path, probe_out=None, keys=HELD_OUT):
    """``{step, legal_error_KEY, val_loss_KEY, probe_relative[_layer, _majority], probe_absolute...}`` of the
    GPT at ``path``: the legal-move error on the held-out games of each dataset in ``keys`` that the study
    has, and the best layer's linear probe on the random ones."""
    model, ck = load_gpt(path)
    tok = checkpoint_tokenizer(ck)
    c = checkpoint.total_compute(ck)
    row = {"path": ck["path"], "step": ck["step"], "seconds": c["seconds"], "flops": c["flops"]}
    held = {key: held_out_rows(study, key, tok, study.cfg.eval_games) for key in keys}
    for key, rows in held.items():
        if rows is not None and len(rows):
            m = evaluate(model, rows, legal_targets(tok, rows), "cpu")
            row[f"legal_error_{key}"] = m["legal_error"]
            row[f"val_loss_{key}"] = m["val_loss"]
    rep = probe(path, kinds=("linear",), rows=held["random"], log=lambda *_: None, out=probe_out)
    for name in ("relative", "absolute"):
        accs = rep["results"][f"linear/{name}"]
        row[f"probe_{name}"] = max(accs)
        row[f"probe_{name}_layer"] = int(max(range(len(accs)), key=accs.__getitem__))
        row[f"probe_{name}_majority"] = rep["majority"][name]
    return row


def measure(study, log=print):
    """Legal-move error on the held-out random, expert and engine games and linear board probes on the random
    ones, for every sequence model's final checkpoint and, with ``measure_along``, every rated checkpoint of
    every RL run; ``OUT/measure.json``, written after each run, so a stopped measurement resumes."""
    torch.set_num_threads(study.cfg.threads)
    path = os.path.join(study.out, "measure.json")
    have = read_json(path, {})
    inv = inventory(study)
    # Checkpoints measured before (a resumed measurement; rl_scratch and rl_scratch_total share a run).
    done = {a["path"]: a for row in have.values() for a in row.get("along", []) if "path" in a}
    out = {}
    for name, run in study.runs.items():
        if run.arm.startswith("az") or not inv.get(name):
            continue
        out[name] = measure_run(study, name, inv[name], have.get(name, {}), done, log)
        write_json(path, {**have, **out})
    write_json(path, out)
    return out


def measure_run(study, name, rows, old, done, log=print):
    """:func:`measure`'s row of one GPT run from its checkpoint ``rows`` (oldest first): ``old``, its row
    measured before, when it is of the same final checkpoint; ``done``, ``{path: row}`` measured before."""
    run = study.runs[name]
    final = rows[-1]["path"]
    row = old if old.get("path") == final else measure_checkpoint(study, final,
                                                                  os.path.join(study.out, "probes", name))
    if study.cfg.measure_along and run.arm.startswith("rl_"):
        row["along"] = []
        for r in pick(rows, study.cfg.checkpoints)[:-1]:
            done[r["path"]] = done.get(r["path"]) or measure_checkpoint(study, r["path"], keys=("random",))
            row["along"].append(done[r["path"]])
        row["along"].append({k: v for k, v in row.items() if k != "along"})
    log(f"measure {name}: legal error {100 * row['legal_error_random']:.1f}% (random games), linear probe "
        f"{100 * row['probe_relative']:.1f}% (layer {row['probe_relative_layer']})"
        + (f"; {len(row['along'])} checkpoints along RL" if "along" in row else ""))
    return row


# -- the tournament and the ladders --------------------------------------------------------------------

def tournament(study, state, log=print):
    """Rate every chosen checkpoint with the anchors (a gauntlet whose focus is the anchors and every
    run's final player), resumably, through ``arena tournament``."""
    cfg = study.cfg
    out = os.path.join(study.out, "tournament")
    if "tournament" in state and os.path.exists(os.path.join(out, "ratings.json")):
        return
    inv = inventory(study)
    roster, meta, focus = players(study, inv)
    write_json(os.path.join(study.out, "inventory.json"), {"checkpoints": inv, "players": meta,
                                                           "runs": runs_info(study), "chosen": chosen(study, inv),
                                                           "feedback": feedback(study, inv)})
    path = os.path.join(study.out, "tournament.yaml")
    with open(path, "w") as f:
        f.write("# Written by arena study: every arm's checkpoints along the way and the anchors.\n")
        yaml.safe_dump(tournament_dict(cfg, roster, focus), f, sort_keys=False)
    cmd = cli("tournament", "--config", path, "--out", out)
    t0 = time.time()
    run_child(cmd, os.path.join(study.out, "logs", "tournament.log"), "the tournament")
    state["tournament"] = {"command": ["arena", *cmd[3:]], "seconds": round(time.time() - t0, 1)}
    log(f"\ntournament done in {(time.time() - t0) / 60:.1f} min: {len(roster)} players")


def tournament_dict(cfg, roster, focus, mode="gauntlet"):
    """The ``arena tournament`` config of the study's games between ``roster`` (``{name: spec}``, the rating
    anchor first): ``focus`` meets everyone, ``games`` games a pair over random openings."""
    return {"game": cfg.game, "size": cfg.size, "players": roster, "mode": mode, "focus": ",".join(focus),
            "games": cfg.games, "openings": cfg.games // 2, "opening_plies": cfg.opening_plies, "balance": 1.0,
            "anchor": next(iter(roster)), "workers": cfg.workers, "seed": cfg.seed}


def ladders(study, state, save, log=print, inv=None):
    """``arena ladder`` of every run's final player (AlphaZero with its search) against ``ladder``'s levels,
    in ``OUT/ladder/PLAYER``, in this process (its games are Ray tasks with ``workers``); each recorded in
    ``state["ladder"]`` and ``save()``d when done, so a rerun goes on with the next (a stopped ladder resumes
    its own games). ``inv``: ``{run: rows}`` of the runs to climb (default: every run's)."""
    cfg = study.cfg
    if inv is None:
        inv = read_json(os.path.join(study.out, "inventory.json"), {}).get("checkpoints") or inventory(study)
    roster, meta, _ = players(study, inv)
    done = state.setdefault("ladder", {})
    logf = os.path.join(study.out, "logs", "ladder.log")
    for name, m in meta.items():
        if not m["final"] or m["arm"].endswith("_nosearch") or name in done:
            continue
        out = os.path.join(study.out, "ladder", name)
        lcfg = LadderConfig(agent=f"{name}={roster[name]}", engine=cfg.ladder, levels=cfg.ladder_levels,
                            games=cfg.ladder_games, size=cfg.size, stop_below=cfg.ladder_stop_below,
                            workers=cfg.workers, seed=cfg.seed)
        cmd = ["arena", "ladder", "--agent", lcfg.agent, "--engine", cfg.ladder, "--levels", cfg.ladder_levels,
               "--games", str(cfg.ladder_games), "--size", str(cfg.size), "--stop-below", f"{cfg.ladder_stop_below:g}",
               "--workers", str(cfg.workers), "--seed", str(cfg.seed), "--out", out]
        t0 = time.time()
        with open(logf, "a") as f:
            f.write(f"\n$ {' '.join(cmd)}\n")
            s = run_ladder(lcfg, out, progress=False, log=lambda *a, **k: (f.write(" ".join(map(str, a)) + "\n"),
                                                                            f.flush()))
        done[name] = {"command": cmd, "seconds": round(time.time() - t0, 1)}
        save()
        log(f"\nladder {name}: Elo {s['agent']['elo']:.0f} ({s['anchor']} = 0), scores "
            + ", ".join(f"{lv['player']} {100 * lv['score']:.0f}%" for lv in s["levels"]))
