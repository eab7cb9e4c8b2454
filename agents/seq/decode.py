"""Playing with the GPT: a key/value-cached decoder that follows games move by move, and the one move
sampler that GRPO's games and the ``seq:`` player both use.

    dec = Decoder(model, tok, B, counts)              # BOS fed to every game
    dec.feed(idx, actions)                            # moves played in games idx (Othello passes skipped)
    actions, ids = choose_moves(dec, idx, legal_mask, temperature, rng, counts)
"""

import numpy as np
import torch

from agents.common.tokenizer import BOS, FIRST_MOVE
from agents.search.streams import GameStreams


class Decoder:
    """One GPT following B games move by move with a key/value cache: every move played is fed as it
    happens (:meth:`feed`), so choosing a move costs one token's forward pass instead of the whole
    history's. ``logits: float[B, V]`` are the predictions after each game's last token."""

    def __init__(self, model, tok, B, counts):
        self.model, self.tok, self.counts = model, tok, counts
        self.device = next(model.parameters()).device
        self.cache = model.new_cache(B)
        self.logits = torch.zeros(B, tok.vocab_size, device=self.device)
        self.feed(np.arange(B), None)

    def feed(self, idx, actions):
        """Append the moves ``actions: int64[len(idx)]`` (None: BOS) of games ``idx``; Othello passes
        have no token and are skipped."""
        ids = np.full(len(idx), BOS) if actions is None else self.tok.action_to_id[np.asarray(actions)]
        keep = ids >= 0
        if keep.any():
            i = torch.from_numpy(np.asarray(idx)[keep]).to(self.device)
            self.logits[i] = self.model.decode(self.cache, i, torch.from_numpy(ids[keep]).to(self.device)).float()
            self.counts["forward_positions"] += int(keep.sum())

    def restart(self, idx):
        """Start games ``idx`` again from BOS (a new game in those rows, or an undo)."""
        idx = np.asarray(idx, np.int64)
        if idx.size:
            self.cache["length"][torch.from_numpy(idx).to(self.device)] = 0
            self.feed(idx, None)

    def position(self, b):
        """Token position of game ``b``'s last token (whose logits predict its next move)."""
        return int(self.cache["length"][b]) - 1


def choose_moves(dec, idx, legal_mask, temperature, rng, counts, legal_only=True):
    """Moves for games ``idx`` followed by ``dec`` (a :class:`Decoder`) with ``legal_mask: bool[n, A]``:
    ``(actions int64[n], ids int64[n])``. The prediction is masked to the legal moves, or with
    ``legal_only=False`` only to move ids (an illegal prediction is then played, and forfeits). At
    ``temperature`` 0 the top move, else a sample from softmax(logits / temperature) drawn with
    ``rng`` (a numpy Generator, or ``GameStreams``, one per game of ``idx``). A forced Othello pass is played without the model (it has no token); its id is -1. The raw
    model's legality (is its unmasked top-1 legal?) is counted in ``counts``."""
    tok = dec.tok
    n = len(idx)
    actions = np.full(n, tok.size * tok.size, np.int64)
    ids_out = np.full(n, -1, np.int64)
    ask = np.flatnonzero((tok.game != "othello") | (legal_mask[:, :-1].sum(1) > 0))
    if ask.size:
        logits = dec.logits[torch.from_numpy(np.asarray(idx)[ask]).to(dec.device)].float().cpu()
        legal = torch.from_numpy(tok.legal_ids(legal_mask[ask]))
        counts["raw_illegal"] = counts.get("raw_illegal", 0) + int((~legal.gather(
            1, logits.argmax(-1, keepdim=True))).sum())
        counts["raw_decisions"] = counts.get("raw_decisions", 0) + len(ask)
        allowed = legal if legal_only else torch.arange(tok.vocab_size)[None].expand(len(ask), -1) >= FIRST_MOVE
        logits = logits.masked_fill(~allowed, -float("inf"))
        if temperature > 0:
            p = torch.softmax(logits / temperature, -1).numpy().astype(np.float64)
            # Per-game streams (agents.search.streams): each game asked draws from its own.
            u = rng.take(ask).random(len(ask)) if isinstance(rng, GameStreams) else rng.random(len(ask))
            tok_ids = np.minimum((np.cumsum(p, 1) / p.sum(1, keepdims=True) < u[:, None]).sum(1), p.shape[1] - 1)
        else:
            tok_ids = logits.argmax(-1).numpy()
        ids_out[ask] = tok_ids
        actions[ask] = tok.id_to_action[tok_ids]
    return actions, ids_out
