"""The rules' view of token rows: the legal ids after every prefix, and the legal-move error rate as
Othello-GPT defines it (the model's top-1 prediction after every prefix of a game; illegal = an error).

    legal = legal_targets(tok, rows)              # rows int64[B, T] -> bool[B, T, V]
    evaluate(model, rows, legal, "cpu")           # {"val_loss", "val_acc", "legal_error", "prefixes"}
"""

import numpy as np
import torch
from torch.nn import functional as F

from agents.common.tokenizer import FIRST_MOVE, is_move
from envs.core import make_batch
from envs.replay import replay


def replay_prefixes(tok, rows, boards=False):
    """Replay token rows with our rules kernels. Returns ``legal: bool[B, T, V]``, the legal ids after
    each prefix ``rows[:, :t+1]`` (all False where the game is over or the row has ended), and with
    ``boards=True`` also ``cells: int8[B, T, N, N]`` (+1 black, -1 white) and ``to_play: int8[B, T]``
    after each prefix. Othello's forced passes, which have no token, are played in between."""
    B, T = rows.shape
    n = tok.size
    legal = np.zeros((B, T, tok.vocab_size), bool)
    cells = np.zeros((B, T, n, n), np.int8) if boards else None
    to_play = np.zeros((B, T), np.int8) if boards else None
    g = make_batch(tok.game, B, n)
    written = is_move(rows[:, 1:])
    lengths = np.cumprod(written, axis=1).sum(axis=1)  # the moves before the first PAD: a record may stop mid-game
    moves = tok.id_to_action[np.where(written, rows[:, 1:], FIRST_MOVE)]
    # Position t follows the prefix rows[:, :t+1] (BOS and t moves) and Othello's implied pass after it.
    for p in replay(g, moves, lengths, strict=True):
        legal[:, p.t] = tok.legal_ids(p.legal)
        if boards:
            for b in np.flatnonzero(p.at):
                cells[b, p.t] = g.cells(b)
            to_play[:, p.t] = g.to_play
    return (legal, cells, to_play) if boards else legal


def legal_targets(tok, rows):
    """``bool[B, T, V]``: the legal ids after each prefix (see :func:`replay_prefixes`)."""
    return replay_prefixes(tok, rows)


@torch.no_grad()
def evaluate(model, rows, legal, device, batch=256):
    """Next-token loss and accuracy over the real targets, and the legal-move error rate over every
    prefix that has a legal move to predict. ``model(ids int64[B, T]) -> logits [B, T, V]``."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    loss_sum = correct = n_tok = illegal = n_prefix = 0
    for i in range(0, len(rows), batch):
        x = torch.from_numpy(rows[i:i + batch]).to(device)
        logits = model(x[:, :-1]).float()
        y = x[:, 1:]
        real = is_move(y)
        loss_sum += F.cross_entropy(logits[real], y[real], reduction="sum").item()
        pred = logits.argmax(-1)
        correct += (pred[real] == y[real]).sum().item()
        n_tok += real.sum().item()
        lg = torch.from_numpy(legal[i:i + batch, :-1]).to(device)
        has = lg.any(-1)
        ok = lg.gather(-1, pred.unsqueeze(-1)).squeeze(-1)
        illegal += (has & ~ok).sum().item()
        n_prefix += has.sum().item()
    if was_training:
        model.train()
    return {"val_loss": loss_sum / max(n_tok, 1), "val_acc": correct / max(n_tok, 1),
            "legal_error": illegal / max(n_prefix, 1), "prefixes": int(n_prefix)}
