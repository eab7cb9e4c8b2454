"""The sequence model as a player: it reads the game's move history as tokens and plays its next-token
prediction.

    agent = SeqAgent("runs/seq_othello8", temperature=0.0)       # a checkpoint or a run directory
    agent.act(game)                                              # game: envs.game.Game (needs history)

``legal_only=True`` (the default) masks the prediction to legal moves. With ``legal_only=False`` only
the non-move ids (PAD, BOS) are masked: an illegal prediction is played, the referee rejects it, and the
game is a forfeit, so the raw model's legality is measured in the arena. An Othello forced pass has no
token and is played without asking the model. The game is followed with a key/value cache
(agents.seq.decode), so a move costs one token's forward pass. Arena spec:
``seq:PATH,temp=0[,legal_only=false]``.
"""

import numpy as np
import torch

from agents.players import SingleGameAgent
from agents.seq.decode import Decoder, choose_moves
from agents.seq.load import checkpoint_tokenizer, load_gpt


class SeqAgent(SingleGameAgent):
    def __init__(self, checkpoint, temperature=0.0, legal_only=True, seed=0, device="cpu", name=None):
        super().__init__(seed)
        if isinstance(checkpoint, tuple):  # (model, tokenizer) already in memory
            self.model, self.tok = checkpoint
        else:
            self.model, ck = load_gpt(checkpoint, device)
            self.tok = checkpoint_tokenizer(ck)
        self.model.eval()
        self.temperature, self.legal_only = float(temperature), bool(legal_only)
        self.name = name or f"seq(temp={temperature:g})"
        self.counts = {"forward_positions": 0}
        self.decoder, self.fed = None, []

    @property
    def game(self):
        return self.tok.game

    def reset(self, seed=None):
        super().reset(seed)
        self.decoder, self.fed = None, []

    @torch.no_grad()
    def choose(self, game, legal):
        history = list(game.history)
        if self.decoder is None or history[: len(self.fed)] != self.fed:  # a new game, or an undo
            self.decoder, self.fed = Decoder(self.model, self.tok, 1, self.counts), []
        for a in history[len(self.fed):]:
            self.decoder.feed(np.zeros(1, np.int64), np.array([a]))
        self.fed = history
        actions, _ = choose_moves(self.decoder, np.zeros(1, np.int64), game.batch.legal_mask(), self.temperature,
                                  self.rng, self.counts, legal_only=self.legal_only)
        return int(actions[0])
