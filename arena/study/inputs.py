"""What a study takes from outside instead of making it: GPTs pretrained beforehand (``pretrained``,
``engine_pretrained``), an engine dataset made beforehand (``engine_data``), an AlphaZero run (``az_run``),
the trainers' config files and the ladder's engine. Each is checked before anything runs (:func:`check_inputs`), with one-line errors,
so that a study that would fail hours in fails at once; and what they hold is recorded at the first start
(:func:`resolved`, in study.json; ``az``'s checkpoint pinned in stages.json), so that a resume that would
mix two versions of them is refused (:func:`resolved_changes`).

    pin = check_inputs(cfg)            # ValueError("pretrained: no checkpoint at models/x.pt")
    rows = within(rows, cfg, "az")     # the checkpoints within an arm's budget, nearest to it last
"""

import hashlib
import json
import os
import shlex
from dataclasses import asdict

from agents.alphazero.config import TrainConfig
from agents.common import checkpoint
from agents.common.config import load_config
from agents.common.export import origin
from agents.common.transcripts import Dataset
from agents.seq.finetune import FinetuneConfig
from agents.seq.gpt import GPTConfig
from agents.seq.pretrain import PretrainConfig
from arena.engine_games import engine_players
from arena.ladder import ENGINES
from arena.study.config import GIVEN, parse_variant

BUDGET_FIELDS = ("minutes", "max_steps", "steps", "max_flops", "seed")
"""A trainer config's fields that the study sets per stage (budget, seed): left out of its record."""
AZ_ARMS = ("az", "az_permuted", "az_boot")


# -- checkpoints -----------------------------------------------------------------------------------------

def checkpoint_compute(ck):
    """The training compute behind one checkpoint, in the study's units, from the checkpoint's ``compute``
    (agents.common.checkpoint.COMPUTE, the same keys for every trainer) and, for a GPT that continued
    another's pretraining, that one's (``total_compute``)."""
    c = checkpoint.total_compute(ck)
    return {"seconds": c["seconds"], "forward": c["forward_passes"], "flops": c["flops"],
            "reward_events": c["reward_events"], "games": c["games"], "trained": c["trained"],
            "positions": c.get("positions", 0)}


def run_checkpoints(run_dir):
    """``[{path, step, budget_minutes, **compute}]`` of every checkpoint of a run directory, oldest first (of a
    checkpoint file, such as an exported net under ``models/``, its one row); ``budget_minutes``: the
    ``minutes`` its run was given (the stage that wrote it, where stages share a run)."""
    if os.path.isfile(run_dir):
        paths = [run_dir]
    else:
        d = os.path.join(run_dir, "checkpoints")
        paths = [os.path.join(d, x) for x in sorted(os.listdir(d)) if x.endswith(".pt")] if os.path.isdir(d) else []
    rows = []
    for path in paths:
        ck = checkpoint.load(path)
        rows.append({"path": path, "step": ck["step"], "budget_minutes": ck["config"].get("minutes"),
                     **checkpoint_compute(ck)})
    return rows


def within(rows, cfg, arm):
    """The rows (oldest first) whose recorded training is within ``arm``'s budget, wall-clock seconds
    (``compute.seconds``, resumes summed) or, under ``budget: flops``, FLOPs: the last is the checkpoint
    nearest to the budget but not beyond it."""
    if cfg.budget == "flops":
        return [r for r in rows if r["flops"] <= cfg.arm_flops(arm)]
    return [r for r in rows if r["seconds"] <= cfg.arm_minutes(arm) * 60]


# -- az from az_run: chosen once, pinned ---------------------------------------------------------------------

def az_pin(cfg, pinned=None):
    """``{run, path, step, seconds, flops}``: ``az``'s checkpoint in ``az_run``, nearest to its budget (P + R when
    staged) but not beyond. At the first start (``pinned`` None) the run must have passed the budget already,
    so that the choice is final whatever the run does next (an ``az_run`` that is one checkpoint file is
    final as it is: it need only be within the budget); on a resume ``pinned`` (from stages.json) must still
    be there, unchanged. One-line ``ValueError`` otherwise."""
    rows = run_checkpoints(cfg.az_run)
    if not rows:
        raise ValueError(f"az_run {cfg.az_run} has no checkpoints (no checkpoints/step_*.pt): give an arena train "
                         f"run directory or one checkpoint file")
    if pinned is not None:
        row = next((r for r in rows if r["path"] == pinned["path"]), None)
        if row is None or row["seconds"] != pinned["seconds"]:
            raise ValueError(f"az_run: az's checkpoint {pinned['path']}, pinned at the study's first start, is "
                             f"{'gone' if row is None else 'changed'} (pruned or rewritten by the run?): restore it, "
                             f"or start the study again in another --out")
        return pinned
    flops = cfg.budget == "flops"
    budget, newest = (cfg.arm_flops("az"), rows[-1]["flops"]) if flops else (cfg.arm_minutes("az"),
                                                                             rows[-1]["seconds"] / 60)
    if newest < budget and not os.path.isfile(cfg.az_run):
        short = f"{budget - newest:.3g} FLOPs" if flops else f"{budget - newest:.1f} min"
        raise ValueError(f"az_run {cfg.az_run}: its newest checkpoint is {short} short of az's budget of "
                         f"{budget:.4g} {'FLOPs' if flops else 'min'}, so a later one could still be nearer to it: "
                         f"resume that run (arena train --resume --run-dir {cfg.az_run}) past the budget first")
    kept = within(rows, cfg, "az")
    if not kept:
        unit = (f"{cfg.arm_flops('az'):.3g} FLOPs (its first has {rows[0]['flops']:.3g})" if flops
                else f"{cfg.arm_minutes('az'):g} min (its first is at {rows[0]['seconds'] / 60:.1f} min)")
        raise ValueError(f"az_run {cfg.az_run} has no checkpoint within az's budget of {unit}")
    return {"run": cfg.az_run, **{k: kept[-1][k] for k in ("path", "step", "seconds", "flops")}}


def az_rows(cfg, pin=None):
    """``az``'s checkpoints taken from ``az_run``: those up to the pinned one (:func:`az_pin`), or, for a study
    pinned before pins were recorded, those within its budget."""
    rows = run_checkpoints(cfg.az_run)
    if pin is None:
        return within(rows, cfg, "az")
    az_pin(cfg, pin)  # still there, unchanged
    return rows[: [r["path"] for r in rows].index(pin["path"]) + 1]


# -- the engine's games made beforehand ----------------------------------------------------------------------

def engine_games_short(manifest, wanted):
    """Whether an engine dataset holds fewer games than were asked for: ``arena transcripts`` writes one from
    the games finished so far when it is stopped (forfeits are finished games that the dataset leaves out)."""
    c = manifest.get("compute") or {}
    return c.get("engine_games", wanted) + c.get("forfeits", 0) < wanted


def engine_command(cfg, m, out):
    """The ``arena transcripts`` command line that makes (or, rerun, completes) the study's engine games."""
    return (f"arena transcripts --game {cfg.game} --size {cfg.size} --source {shlex.quote(cfg.engine)} --levels "
            f"{cfg.engine_levels} --games {cfg.engine_games} --workers {max(1, cfg.workers)} --seed "
            f"{m.get('seed', 0)} --val-fraction {m.get('val_fraction', 0.05):g} --out {out}")


def check_engine_data(cfg, log):
    """Refuse an ``engine_data`` that is missing, of another board, without both splits (or results for
    ``az_boot``), made by another engine or levels than ``engine``/``engine_levels``, or short of
    ``engine_games`` (a stopped ``arena transcripts``)."""
    d, board = cfg.engine_data, f"{cfg.game} {cfg.size}x{cfg.size}"
    try:
        data = Dataset(d)
    except ValueError as e:
        raise ValueError(f"engine_data: {e}: make it first ({engine_command(cfg, {}, d)}), or leave engine_data "
                         f"empty for the study to make it") from None
    m = data.manifest
    if (m["game"], m["size"]) != (cfg.game, cfg.size):
        raise ValueError(f"engine_data {d} holds {m['game']} {m['size']}x{m['size']} games, not the study's {board}")
    try:
        players = list(engine_players(cfg.engine[len("gtp:"):], cfg.engine_levels, cfg.game))
    except ValueError:
        players = None  # an engine named by ENGINES that is not installed here: the source alone is compared
    made = (m.get("compute") or {}).get("players")
    if m.get("source") != cfg.engine or (players and made and list(made) != players):
        by = ", ".join(made) if made else "levels not recorded"
        raise ValueError(f"engine_data {d} holds games of {m.get('source')!r} ({by}), not of the study's engine "
                         f"{cfg.engine!r} at levels {cfg.engine_levels}: set engine and engine_levels to what made "
                         f"it, or make it again with the study's")
    if engine_games_short(m, cfg.engine_games):
        c = m["compute"]
        raise ValueError(f"engine_data {d} holds {c['engine_games'] + c.get('forfeits', 0):,} of the "
                         f"{cfg.engine_games:,} engine games asked for (a stopped arena transcripts writes the games "
                         f"finished so far): complete it with: rm {d}/manifest.json && {engine_command(cfg, m, d)} "
                         f"(it plays only the games it lacks)")
    if data.count("train") == 0 or data.count("val") == 0:
        raise ValueError(f"engine_data {d} needs train and val games (has {data.count('train')} and "
                         f"{data.count('val')})")
    if "az_boot" in cfg.arms and not m.get("results"):
        raise ValueError(f"engine_data {d} has no results: az_boot learns them (make it with --source gtp:...)")
    log(f"study: engine_data {d}: {m['counts']['train']:,} train and {m['counts']['val']:,} held-out games of "
        f"{m['source']} ({m['counts']['duplicates']:,} duplicates dropped)")


# -- every input, checked ------------------------------------------------------------------------------------

def check_pretrained(cfg, log, key="pretrained"):
    """Refuse a given GPT file (``key``: ``pretrained`` or ``engine_pretrained``) that is missing or not a GPT
    of the study's board; note another shape, and warn where its own pretraining is not P (within 5%)."""
    board = f"{cfg.game} {cfg.size}x{cfg.size}"
    path = getattr(cfg, key)
    try:
        ck = checkpoint.load(path, kind="gpt")
    except ValueError as e:
        raise ValueError(f"{key}: {e}") from None
    tok = ck["meta"].get("tokenizer") or {}
    if (tok.get("game"), tok.get("size")) != (cfg.game, cfg.size):
        raise ValueError(f"{key} {path} is a GPT of {tok.get('game')} {tok.get('size')}x"
                         f"{tok.get('size')}, not of the study's {board}")
    preset = load_config(PretrainConfig, cfg.pretrain_config, cfg.pretrain_set).preset
    want = GPTConfig.preset(preset, ck["model"]["vocab_size"], ck["model"]["block_size"]).to_dict()
    shape = {k: v for k, v in ck["model"].items() if k != "dropout"}
    if shape != {k: v for k, v in want.items() if k != "dropout"}:
        log(f"study: note: {key} {path} is not the {preset} GPT the other arms train "
            f"({shape}): its arms compare another model")
    c = checkpoint.total_compute(ck)
    mins = c["seconds"] / 60
    log(f"study: {key} {path}: {mins:.1f} min and {c['flops']:.3g} FLOPs of "
        f"pretraining (read from the file)" + (f"; the other pretraining arms get P = {cfg.pretrain_minutes:g} min"
                                              if cfg.staged() else ""))
    if pretrained_off_budget(cfg, c["seconds"]):
        log(f"study: warning: {key}'s own pretraining ({mins:.1f} min) is not P = {cfg.pretrain_minutes:g} min "
            f"(beyond 5%): its arms do not stand on the compute the other pretraining arms get (the report says so)")


def check_net(cfg, log, key):
    """Refuse a given AlphaZero net (``key``: ``az_boot_net``) that is missing or not of the study's board; log
    where its weights came from and its training against the budget (warn beyond 5% of it either way)."""
    path, arm = getattr(cfg, key), {v: k for k, v in GIVEN.items()}[key]
    try:
        ck = checkpoint.load(path, kind="alphazero")
    except ValueError as e:
        raise ValueError(f"{key}: {e}") from None
    if (ck["config"].get("game"), ck["config"].get("size")) != (cfg.game, cfg.size):
        raise ValueError(f"{key} {path} is a net of {ck['config'].get('game')} {ck['config'].get('size')}x"
                         f"{ck['config'].get('size')}, not of the study's {cfg.game} {cfg.size}x{cfg.size}")
    mins, budget = checkpoint.total_compute(ck)["seconds"] / 60, cfg.arm_minutes(arm)
    log(f"study: {key} {path}: {origin(ck.get('meta') or {})}, {mins:.1f} min of training (read from the file, "
        f"warm starts included) for {arm}'s budget of {budget:g} min")
    if abs(mins - budget) > 0.05 * budget:
        log(f"study: warning: {key}'s training ({mins:.1f} min) is not {arm}'s budget of {budget:g} min (beyond "
            f"5%): it does not stand on the compute the other arms get (the report says so)")


def pretrained_off_budget(cfg, seconds):
    """Whether the given GPT's own pretraining (``seconds``, its ``compute.seconds``) is more than 5% off P."""
    return cfg.staged() and abs(seconds / 60 - cfg.pretrain_minutes) > 0.05 * cfg.pretrain_minutes


def check_inputs(cfg, log=print, pinned=None):
    """Refuse, in one line, a study whose given inputs cannot serve: a ``pretrained`` file that is missing or
    not a GPT of the study's board, an ``engine_data`` that is no finished dataset of it (see
    :func:`check_engine_data`), an ``az_run`` without a checkpoint of the board within the budget or not yet
    past it (:func:`az_pin`; ``pinned``: the checkpoint pinned at the first start), an unknown or missing
    ``ladder`` engine, a variant whose overrides ``arena finetune`` refuses. Logs how the given compute
    compares with the budgets. Returns ``az``'s pin (None without ``az_run``; a pin of another ``az_run`` is
    not this config's, which the study then refuses as another config)."""
    board = f"{cfg.game} {cfg.size}x{cfg.size}"
    for arm, key in GIVEN.items():
        if cfg.given(arm):
            (check_net if arm.startswith("az") else check_pretrained)(cfg, log, key)
    if cfg.engine_data and any(a in cfg.arms for a in ("seq_engine", "az_boot")):
        check_engine_data(cfg, log)
    pin = None
    if cfg.az_run and "az" in cfg.arms:
        if not os.path.exists(cfg.az_run):
            raise ValueError(f"az_run {cfg.az_run} does not exist (give an arena train run directory or one "
                             f"checkpoint file)")
        pinned = pinned if pinned and pinned.get("run") == cfg.az_run else None
        pin = az_pin(cfg, pinned)
        ck = checkpoint.load(pin["path"], kind="alphazero")
        if (ck["config"].get("game"), ck["config"].get("size")) != (cfg.game, cfg.size):
            raise ValueError(f"az_run {cfg.az_run} trained {ck['config'].get('game')} {ck['config'].get('size')}x"
                             f"{ck['config'].get('size')}, not the study's {board}")
        log(f"study: az is {pin['path']} (step {pin['step']}, {pin['seconds'] / 60:.1f} min of the matched "
            f"{cfg.arm_minutes('az'):g} min), " + ("pinned at the study's first start" if pinned else
                                                   "pinned now: it stays az's player however the run goes on"))
    if cfg.ladder:
        eng = ENGINES.get(cfg.ladder)
        if eng is None:
            raise ValueError(f"ladder: unknown engine {cfg.ladder!r}; use one of {', '.join(ENGINES)}")
        if eng.game != cfg.game or cfg.size not in eng.sizes:
            raise ValueError(f"ladder: {cfg.ladder} plays {eng.game} on {eng.sizes}, not the study's {board}")
        eng.resolve()  # installed, or the line that says how to install it
    for item in cfg.variants:
        name, _, sets = parse_variant(item)
        try:
            load_config(FinetuneConfig, cfg.finetune_config, [*cfg.finetune_set, *sets])
        except ValueError as e:
            raise ValueError(f"variant {name}: {e}") from None
    return pin


# -- what the config names but does not hold: recorded at the first start, compared on resume -----------------

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolved(cfg):
    """``{key: record}`` of what the config names by path: each trainer config the study runs, as loaded with
    its ``*_set`` (the budget and seed, which the study sets per stage, left out), and fingerprints of
    ``pretrained`` (the file's sha256) and ``engine_data`` (its manifest's sha256)."""
    arms = cfg.arms
    out = {}
    for key, cls, used in (("az_config", TrainConfig, any(a in arms for a in AZ_ARMS[1:])
                            or ("az" in arms and not cfg.az_run)),
                           ("pretrain_config", PretrainConfig, any(a.startswith(("seq_", "rl_")) for a in arms)),
                           ("finetune_config", FinetuneConfig, any(a.startswith("rl_") for a in arms))):
        if used:
            c = asdict(load_config(cls, getattr(cfg, key), getattr(cfg, key.replace("_config", "_set"))))
            out[key] = {"path": getattr(cfg, key), "config": json.loads(json.dumps(
                {k: v for k, v in c.items() if k not in BUDGET_FIELDS}))}
    for arm, key in GIVEN.items():
        if cfg.given(arm):
            path = checkpoint.resolve(cfg.given(arm))
            out[key] = {"path": path, "sha256": sha256(path)}
    if cfg.engine_data and any(a in arms for a in ("seq_engine", "az_boot")):
        out["engine_data"] = {"path": cfg.engine_data, "sha256": sha256(os.path.join(cfg.engine_data,
                                                                                      "manifest.json"))}
    return out


def resolved_changes(was, now):
    """What differs between two :func:`resolved` records, in words ("" when nothing does). A key recorded on one
    side only (a study started before it was recorded) is not compared."""
    out = []
    for key in sorted(set(was) & set(now)):
        a, b = was[key], now[key]
        if "config" in a:
            fields = sorted(k for k in set(a["config"]) | set(b["config"]) if a["config"].get(k) != b["config"].get(k))
            if fields:
                out.append(f"{key} {b['path']} (" + ", ".join(f"{k} {a['config'].get(k)!r} then, "
                                                              f"{b['config'].get(k)!r} now" for k in fields) + ")")
        elif a["path"] != b["path"]:
            out.append(f"{key} (then {a['path']}, now {b['path']})")
        elif a != b:
            out.append(f"{key} {b['path']} (its contents changed: sha256 {a['sha256'][:12]}... then, "
                       f"{b['sha256'][:12]}... now)")
    return "; ".join(out)
