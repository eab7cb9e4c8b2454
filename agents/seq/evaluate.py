"""``arena seq-eval``: how well a sequence model knows the game, on fresh random games.

    arena seq-eval --agent seq:othello8 --games 2000 --seed 0
    -> {"legal_error": 0.0083, "probe_linear": 0.912, "probe_linear_layer": 6, ...}

The games are uniformly random (Othello-GPT's synthetic distribution), made on the fly with the seed, and
all on the validation side of the split rule every dataset here uses, so no model trained by
``arena pretrain`` on random games has seen one. ``legal_error`` is Othello-GPT's definition: the share of
prefixes (every prefix of every game that has a legal move to play) after which the model's top-1
prediction is illegal. ``probe_linear`` is the best layer's linear probe accuracy for empty / mine /
theirs, relative to the side to move, trained on four fifths of the games and scored on the rest
(agents.seq.probe); ``probe_mlp`` the same with the 2-layer MLP probe when asked for.
"""

import os

import numpy as np

from agents.common.files import read_json
from agents.common.transcripts import FreshGames
from agents.seq.legal import evaluate, legal_targets
from agents.seq.load import checkpoint_data, checkpoint_tokenizer, load_gpt
from agents.seq.probe import probe


def held_out_rows(tok, games, seed, val_fraction=0.05):
    """``int64[games, max_len]``: fresh random games on the validation side of the split (the share
    ``val_fraction``), in ``tok``'s ids."""
    return FreshGames(tok, seed, val_fraction, side="val").sample(0, games)


def seq_eval(path, games=2000, seed=0, mlp=False, device="cpu", log=print):
    """One dict of measurements of the GPT at ``path`` (a checkpoint or run directory) on ``games`` fresh
    held-out random games drawn with ``seed``."""
    if games < 10:
        raise ValueError(f"games must be at least 10 (a fifth of them score the probes), got {games}")
    model, ck = load_gpt(path, device)
    tok = checkpoint_tokenizer(ck)
    # The model's own dataset may hold out less than the usual 5%: take the narrower side, held out by both.
    data = checkpoint_data(ck)
    manifest = read_json(os.path.join(data, "manifest.json")) if data else None
    rows = held_out_rows(tok, games, seed, min(0.05, (manifest or {}).get("val_fraction", 0.05)))
    m = evaluate(model, rows, legal_targets(tok, rows), device)
    log(f"seq-eval: legal-move error {100 * m['legal_error']:.3f}% over {m['prefixes']:,} prefixes")
    kinds = ("linear", "mlp") if mlp else ("linear",)
    rep = probe(path, rows=rows, kinds=kinds, seed=seed, device=device, log=lambda s: None)
    out = {"checkpoint": ck["path"], "step": ck["step"], "games": games, "seed": seed,
           "legal_error": round(m["legal_error"], 6), "prefixes": m["prefixes"],
           "val_loss": round(m["val_loss"], 4), "val_acc": round(m["val_acc"], 4)}
    for kind in kinds:
        accs = rep["results"][f"{kind}/relative"]
        best = int(np.argmax(accs))
        out[f"probe_{kind}"], out[f"probe_{kind}_layer"] = round(accs[best], 4), best
    out["probe_majority"] = round(rep["majority"]["relative"], 4)
    out["probe_positions"] = rep["test_positions"]
    log(f"seq-eval: linear probe {100 * out['probe_linear']:.1f}% (layer {out['probe_linear_layer']}, majority "
        f"{100 * out['probe_majority']:.1f}%)" + (f", MLP {100 * out['probe_mlp']:.1f}%" if mlp else ""))
    return out
