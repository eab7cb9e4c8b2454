"""What a study takes from outside instead of making it: a GPT pretrained beforehand (``pretrained``), an
engine dataset made beforehand (``engine_data``) and an AlphaZero run (``az_run``); and the ladder's engine.
Each is checked before anything runs (:func:`check_inputs`), with one-line errors, so that a study that
would fail hours in fails at once.

    check_inputs(cfg)                  # ValueError("pretrained: no checkpoint at models/x.pt")
    rows = within(rows, cfg, "az")     # the checkpoints within an arm's budget, nearest to it last
"""

import os

from agents.common import checkpoint
from agents.common.config import load_config
from agents.common.transcripts import Dataset
from agents.seq.finetune import FinetuneConfig
from agents.seq.gpt import GPTConfig
from agents.seq.pretrain import PretrainConfig
from arena.ladder import ENGINES
from arena.study.config import parse_variant


def checkpoint_compute(ck):
    """One checkpoint's own training compute, in the study's units, straight from the checkpoint's
    ``compute`` (agents.common.checkpoint.COMPUTE, the same keys for every trainer)."""
    c = ck["compute"]
    return {"seconds": c["seconds"], "forward": c["forward_passes"], "flops": c["flops"],
            "reward_events": c["reward_events"], "games": c["games"], "trained": c["trained"],
            "positions": c.get("positions", 0)}


def run_checkpoints(run_dir):
    """``[{path, step, **compute}]`` of every checkpoint of a run directory, oldest first."""
    d = os.path.join(run_dir, "checkpoints")
    rows = []
    for f in sorted(x for x in os.listdir(d) if x.endswith(".pt")) if os.path.isdir(d) else []:
        ck = checkpoint.load(os.path.join(d, f))
        rows.append({"path": os.path.join(d, f), "step": ck["step"], **checkpoint_compute(ck)})
    return rows


def within(rows, cfg, arm):
    """The rows (oldest first) whose recorded training is within ``arm``'s budget, wall-clock seconds
    (``compute.seconds``, resumes summed) or, under ``budget: flops``, FLOPs: the last is the checkpoint
    nearest to the budget but not beyond it."""
    if cfg.budget == "flops":
        return [r for r in rows if r["flops"] <= cfg.arm_flops(arm)]
    return [r for r in rows if r["seconds"] <= cfg.arm_minutes(arm) * 60]


def az_rows(cfg):
    """``az``'s checkpoints taken from ``az_run``: those within its budget (P + R when staged)."""
    rows = run_checkpoints(cfg.az_run)
    if not rows:
        raise ValueError(f"az_run {cfg.az_run} has no checkpoints (no checkpoints/step_*.pt): give an arena train "
                         f"run directory")
    kept = within(rows, cfg, "az")
    if not kept:
        unit = (f"{cfg.arm_flops('az'):.3g} FLOPs (its first has {rows[0]['flops']:.3g})" if cfg.budget == "flops"
                else f"{cfg.arm_minutes('az'):g} min (its first is at {rows[0]['seconds'] / 60:.1f} min)")
        raise ValueError(f"az_run {cfg.az_run} has no checkpoint within az's budget of {unit}")
    return kept


def check_inputs(cfg, log=print):
    """Refuse, in one line, a study whose given inputs cannot serve: a ``pretrained`` file that is missing or
    not a GPT of the study's board, an ``engine_data`` that is no finished dataset of it (or has no results
    for ``az_boot``), an ``az_run`` without a checkpoint of the board within the budget, an unknown or
    missing ``ladder`` engine, a variant whose overrides ``arena finetune`` refuses. Logs how the given
    compute compares with the budgets."""
    board = f"{cfg.game} {cfg.size}x{cfg.size}"
    if cfg.pretrained and "seq_pretrained" in cfg.arms:
        try:
            ck = checkpoint.load(cfg.pretrained, kind="gpt")
        except ValueError as e:
            raise ValueError(f"pretrained: {e}") from None
        tok = ck["meta"].get("tokenizer") or {}
        if (tok.get("game"), tok.get("size")) != (cfg.game, cfg.size):
            raise ValueError(f"pretrained {cfg.pretrained} is a GPT of {tok.get('game')} {tok.get('size')}x"
                             f"{tok.get('size')}, not of the study's {board}")
        preset = load_config(PretrainConfig, cfg.pretrain_config, cfg.pretrain_set).preset
        want = GPTConfig.preset(preset, ck["model"]["vocab_size"], ck["model"]["block_size"]).to_dict()
        shape = {k: v for k, v in ck["model"].items() if k != "dropout"}
        if shape != {k: v for k, v in want.items() if k != "dropout"}:
            log(f"study: note: pretrained {cfg.pretrained} is not the {preset} GPT the other arms train "
                f"({shape}): its arms compare another model")
        mins = ck["compute"]["seconds"] / 60
        log(f"study: pretrained {cfg.pretrained}: {mins:.1f} min and {ck['compute']['flops']:.3g} FLOPs of "
            f"pretraining (read from the file)" + (f"; the other pretraining arms get P = {cfg.pretrain_minutes:g} min"
                                                  if cfg.staged() else ""))
    if cfg.engine_data and any(a in cfg.arms for a in ("seq_engine", "az_boot")):
        try:
            data = Dataset(cfg.engine_data)
        except ValueError as e:
            raise ValueError(f"engine_data: {e}: make it first (arena transcripts --source \"{cfg.engine}\" --levels "
                             f"{cfg.engine_levels} --games {cfg.engine_games} --out {cfg.engine_data}), or leave "
                             f"engine_data empty for the study to make it") from None
        m = data.manifest
        if (m["game"], m["size"]) != (cfg.game, cfg.size):
            raise ValueError(f"engine_data {cfg.engine_data} holds {m['game']} {m['size']}x{m['size']} games, not "
                             f"the study's {board}")
        if data.count("train") == 0 or data.count("val") == 0:
            raise ValueError(f"engine_data {cfg.engine_data} needs train and val games (has {data.count('train')} "
                             f"and {data.count('val')})")
        if "az_boot" in cfg.arms and not m.get("results"):
            raise ValueError(f"engine_data {cfg.engine_data} has no results: az_boot learns them (make it with "
                             f"--source gtp:...)")
        log(f"study: engine_data {cfg.engine_data}: {m['counts']['train']:,} train and {m['counts']['val']:,} "
            f"held-out games of {m['source']} ({m['counts']['duplicates']:,} duplicates dropped)")
    if cfg.az_run and "az" in cfg.arms:
        if not os.path.isdir(cfg.az_run):
            raise ValueError(f"az_run {cfg.az_run} is not a directory (give an arena train run directory)")
        rows = az_rows(cfg)
        ck = checkpoint.load(rows[-1]["path"], kind="alphazero")
        if (ck["config"].get("game"), ck["config"].get("size")) != (cfg.game, cfg.size):
            raise ValueError(f"az_run {cfg.az_run} trained {ck['config'].get('game')} {ck['config'].get('size')}x"
                             f"{ck['config'].get('size')}, not the study's {board}")
        log(f"study: az from {rows[-1]['path']} at {rows[-1]['seconds'] / 60:.1f} min of the matched "
            f"{cfg.arm_minutes('az'):g} min")
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
