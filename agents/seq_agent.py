"""The sequence model as a player: it reads the game's move history as tokens and plays its next-token
prediction.

    agent = SeqAgent("runs/seq_othello8", temperature=0.0)       # a checkpoint or a run directory
    agent.act(game)                                              # game: envs.game.Game (needs history)

``legal_only=True`` (the default) masks the prediction to legal moves. With ``legal_only=False`` only
the non-move ids (PAD, BOS) are masked: an illegal prediction is played, the referee rejects it, and the
game is a forfeit, so the raw model's legality is measured in the arena. An Othello forced pass has no
token and is played without asking the model. Arena spec: ``seq:PATH,temp=0[,legal_only=false]``.
"""

import numpy as np
import torch

from agents.players import Agent


class SeqAgent(Agent):
    def __init__(self, checkpoint, temperature=0.0, legal_only=True, seed=0, device="cpu", name=None):
        from agents.pretrain import checkpoint_tokenizer, load_gpt

        super().__init__(seed)
        if isinstance(checkpoint, tuple):  # (model, tokenizer) already in memory
            self.model, self.tok = checkpoint
        else:
            self.model, ck = load_gpt(checkpoint, device)
            self.tok = checkpoint_tokenizer(ck)
        self.model.eval()
        self.temperature, self.legal_only, self.device = float(temperature), bool(legal_only), device
        self.name = name or f"seq(temp={temperature:g})"

    @property
    def game(self):
        return self.tok.game

    @torch.no_grad()
    def act(self, games):
        if not hasattr(games, "history"):
            raise TypeError("SeqAgent plays one envs.game.Game at a time (it reads the move history)")
        g = games
        if g.terminal:
            return np.array([-1], np.int64)
        legal = g.legal_actions()
        if g.game == "othello" and legal == [g.size * g.size]:
            return np.array(legal, np.int64)  # a forced pass: not a token
        ids = torch.as_tensor(self.tok.encode(g.history), device=self.device)[None]
        logits = self.model(ids)[0, -1].float()
        allowed = np.zeros(self.tok.vocab_size, bool)
        if self.legal_only:
            allowed = self.tok.legal_ids(g.batch.legal_mask())[0]
        else:
            allowed[2:] = True
        logits[torch.as_tensor(~allowed, device=self.device)] = -float("inf")
        if self.temperature > 0:
            p = torch.softmax(logits / self.temperature, -1).cpu().numpy().astype(np.float64)
            token = int(self.rng.choice(len(p), p=p / p.sum()))
        else:
            token = int(logits.argmax())
        return np.array([self.tok.id_to_action[token]], np.int64)
