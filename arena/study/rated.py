"""Each run measured and rated as soon as it is trained (``StudyConfig.rate_as_trained``), so that what the
report needs outlives the run's checkpoints: a study that takes longer than one machine's life goes on from a
copy of its directory without them (checkpoints and datasets are the bulk; the rest is small files).

    OUT/rated/anchors/tournament/   the anchors' round robin, played once, first
    OUT/rated/RUN/inventory.json    the run's checkpoint rows, players, run info, chosen checkpoint, feedback
    OUT/rated/RUN/measure.json      its legal-move error and probes (a GPT run; along RL with measure_along)
    OUT/rated/RUN/tournament/       ``games`` games a pair between its rated checkpoints and every anchor
    OUT/ladder/PLAYER/              its final player's ladder (with ``ladder``)

:func:`combine` then writes what the end-of-study measurement writes (``inventory.json``, ``measure.json``,
``tournament/``) from those files, with one rating fit over every game, and the report reads it as it
reads a study rated at the end. Runs meet the anchors, not each other: their Elo differences go through the
anchors, which is what a rating list of engines does.
"""

import json
import os
import time

import torch

from agents.common import checkpoint
from agents.common.files import read_json, write_json
from arena.study.measure import (anchor_roster, chosen, data_costs, feedback_of, ladders, mean_legal_moves,
                                 measure_run, players, run_rows, runs_info, tournament_dict)
from arena.tournament.config import TournamentConfig
from arena.tournament.report import rewrite_outputs
from arena.tournament.results import read_games
from arena.tournament.run import config_dict, run_tournament

ANCHORS = "anchors"
"""The rated directory of the anchors' own games (not a run name: runs are arms, ``ARM_sS`` or variants)."""


def rated_dir(study, name):
    return os.path.join(study.out, "rated", name)


def play(study, name, roster, focus, mode):
    """The games of ``roster`` (``focus`` meets everyone) in ``OUT/rated/NAME/tournament``, in this process
    (with ``workers``, its games are Ray tasks), resumably; its log in ``OUT/logs/rate_NAME.log``."""
    tcfg = config_of(tournament_dict(study.cfg, roster, focus, mode))
    with open(os.path.join(study.out, "logs", f"rate_{name}.log"), "a") as f:
        run_tournament(tcfg, os.path.join(rated_dir(study, name), "tournament"), progress=False,
                       log=lambda *a, **k: (f.write(" ".join(map(str, a)) + "\n"), f.flush()))


def config_of(d):
    """A :class:`TournamentConfig` from :func:`arena.study.measure.tournament_dict`'s dict."""
    return TournamentConfig.from_dict({**d, "players": [f"{k}={v}" for k, v in d["players"].items()]})


def rate_anchors(study, log=print):
    """The anchors' round robin (their places relative to each other, which every run's games stand on)."""
    roster = anchor_roster(study.cfg)
    if len(roster) > 1:
        t0 = time.time()
        play(study, ANCHORS, roster, list(roster), "round_robin")
        log(f"\nrated the anchors: {len(roster)} players in {(time.time() - t0) / 60:.1f} min")


def rate_run(study, name, state, save, log=print):
    """Measure and rate run ``name`` now, while its checkpoints are here (the module docstring); each part
    is kept as it ends, so a stopped rating goes on where it stopped."""
    torch.set_num_threads(study.cfg.threads)
    run, d = study.runs[name], rated_dir(study, name)
    os.makedirs(d, exist_ok=True)
    t0 = time.time()
    path = os.path.join(d, "inventory.json")
    invj = read_json(path)
    if invj is None:
        rows = run_rows(study, run)
        if not rows:
            raise ValueError(f"run {name} has no checkpoint at {study.run_dir(name)} to rate: it was trained on a "
                             f"machine whose checkpoints are gone; delete its entry in {study.out}/stages.json to "
                             f"train it again")
        inv = {name: rows}
        _, meta, _ = players(study, inv)
        invj = {"checkpoints": inv, "players": meta, "runs": runs_info(study, [name]), "chosen": chosen(study, inv),
                "feedback": {name: feedback_of(checkpoint.load(rows[-1]["path"]))}}
        write_json(path, invj)
    inv = invj["checkpoints"]
    if not run.arm.startswith("az") and not os.path.exists(os.path.join(d, "measure.json")):
        done = {}
        row = measure_run(study, name, inv[name], {}, done, log)
        write_json(os.path.join(d, "measure.json"), {name: row})
    roster, meta, _ = players(study, inv)
    own = list(meta)
    play(study, name, roster, own, "gauntlet")
    if study.cfg.ladder:
        ladders(study, state, save, log, inv=inv)
    log(f"\nrated {name} in {(time.time() - t0) / 60:.1f} min: {len(own)} players against "
        f"{len(anchor_roster(study.cfg))} anchors")


def combine(study, state, log=print):
    """Write ``OUT/inventory.json``, ``OUT/measure.json`` and ``OUT/tournament/`` (one rating fit over the
    anchors' games and every run's) from the rated runs, as the end-of-study measurement would."""
    cfg, out = study.cfg, study.out
    parts = {n: read_json(os.path.join(rated_dir(study, n), "inventory.json")) for n in study.runs}
    missing = [n for n, p in parts.items() if p is None]
    if missing:
        raise ValueError(f"runs not rated yet: {', '.join(missing)}")
    now = runs_info(study)  # where each run's metrics are on this machine; what was capped, as rated
    inv, meta, runs, chose, fb = data_costs(study), {}, {}, {}, {}
    for n, p in parts.items():
        inv.update(p["checkpoints"])
        meta.update(p["players"])
        runs[n] = {**now[n], "capped": p["runs"][n]["capped"]}
        chose.update(p["chosen"])
        fb.update(p["feedback"])
    fb["mean_legal_moves"] = mean_legal_moves(cfg.game, cfg.size)
    write_json(os.path.join(out, "inventory.json"), {"checkpoints": inv, "players": meta, "runs": runs,
                                                     "chosen": chose, "feedback": fb})
    measure = {}
    for n in study.runs:
        measure.update(read_json(os.path.join(rated_dir(study, n), "measure.json"), {}))
    write_json(os.path.join(out, "measure.json"), measure)
    roster, games = anchor_roster(cfg), []
    for n in [ANCHORS, *study.runs]:
        d = os.path.join(rated_dir(study, n), "tournament")
        if os.path.exists(os.path.join(d, "tournament.json")):
            roster.update(TournamentConfig.from_results(d).roster())
            games += read_games(d, repair=False)
    t = os.path.join(out, "tournament")
    os.makedirs(t, exist_ok=True)
    tcfg = config_of(tournament_dict(cfg, roster, list(anchor_roster(cfg))))
    write_json(os.path.join(t, "tournament.json"), config_dict(tcfg))
    with open(os.path.join(t, "games.jsonl"), "w") as f:
        f.writelines(json.dumps(g) + "\n" for g in games)
    rewrite_outputs(t, log=lambda *a, **k: None)
    state["tournament"] = {"combined": len(games), "players": len(roster)}
    log(f"\nratings: one fit over {len(games):,} games of {len(roster)} players (the anchors' and every run's)")

