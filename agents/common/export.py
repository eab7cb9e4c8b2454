"""``arena export``: a training checkpoint as a small model file to ship, the way the nets of ``models/`` are
made.

    export("runs/othello8_az", "models/othello8.pt", command="arena train --config configs/othello8_az.yaml")

The file is the same safe format (agents.common.checkpoint) without the optimizer state, and its ``meta``
says where the weights came from (``knowledge``): zero-knowledge self-play, bootstrapped from how many
engine games, the GPT's transcripts, or fine-tuning on outcomes. Everything is read off the checkpoint
itself, for every trainer, so this module needs nothing from the trainers above it.
"""

import os

from agents.common import checkpoint


def origin(meta):
    """``"zero-knowledge"`` or how the weights were bootstrapped, from an AlphaZero checkpoint's ``meta``
    (a warm start's ``init`` holds the meta of the checkpoint it started from, which is followed back)."""
    while meta:
        if meta.get("bootstrap"):
            b = meta["bootstrap"]
            return f"bootstrapped from {b['games']} games of {b['source']}"
        meta = (meta.get("init") or {}).get("meta")
    return "zero-knowledge"


def knowledge(ck):
    """Where a loaded checkpoint's weights came from, in words."""
    cfg = ck["config"]
    if ck["kind"] == "alphazero":
        return origin(ck.get("meta") or {})
    if ck["trainer"] == "pretrain":
        return (f"transcripts: fresh uniformly random games (the split of {cfg.get('data')})"
                if cfg.get("fresh_games") else f"transcripts: {cfg.get('data')}")
    return "fine-tuned on outcomes"


def export(ckpt, out, command=None):
    """Write checkpoint ``ckpt`` (a file, or a run directory: its newest) to ``out`` (which must not exist)
    with no optimizer state, ``command`` (the training command) recorded in its meta.

    Returns ``{"out", "step", "knowledge", "bytes"}``."""
    if os.path.exists(out):
        raise ValueError(f"{out} exists; choose another path or remove it")
    ck = checkpoint.load(ckpt)
    meta = {**(ck.get("meta") or {}), "knowledge": knowledge(ck), "exported_from": ck["path"],
            "note": "weights only: no optimizer state"}
    if command:
        meta["source"] = command
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    checkpoint.write(out, step=ck["step"], kind=ck["kind"], trainer=ck["trainer"], config=ck["config"],
                     model=ck["model"], weights=ck["weights"], optimizer={}, rng=ck["rng"], compute=ck["compute"],
                     meta=meta)
    return {"out": out, "step": ck["step"], "knowledge": meta["knowledge"], "bytes": os.path.getsize(out)}
