"""The sequence model as a player: it reads each game's move history as tokens and plays its next-token
prediction.

    agent = SeqAgent("runs/seq_othello8", temperature=0.0)       # a checkpoint or a run directory
    agent.act(game)                                              # one envs.game.Game (it has the history)
    agents.match.play([agent] * 64, [other] * 64, ...)           # 64 games in batches, one forward pass a ply

``legal_only=True`` (the default) masks the prediction to legal moves. With ``legal_only=False`` only
the non-move ids (PAD, BOS) are masked: an illegal prediction is played, the referee rejects it, and the
game is a forfeit, so the raw model's legality is measured in the arena. An Othello forced pass has no
token and is played without asking the model. Every game is followed with a key/value cache
(agents.seq.decode), one row per game of the match, so a move costs one token's forward pass: the match
engine hands each call the games' histories and indices (``needs_history``). At a temperature above 0
each game's sample comes from its own stream, so a game's moves do not depend on its batch. Arena spec:
``seq:PATH,temp=0[,legal_only=false]``.
"""

import numpy as np
import torch

from agents.common.tokenizer import FIRST_MOVE
from agents.players import Agent, as_batch
from agents.seq.decode import Decoder, choose_moves
from agents.seq.load import checkpoint_tokenizer, load_gpt


class SeqAgent(Agent):
    plays_batches = True
    needs_history = True

    def __init__(self, checkpoint, temperature=0.0, legal_only=True, seed=0, device="cpu", name=None, counts=None):
        super().__init__(seed)
        if isinstance(checkpoint, tuple):  # (model, tokenizer) already in memory
            self.model, self.tok = checkpoint
        else:
            self.model, ck = load_gpt(checkpoint, device)
            self.tok = checkpoint_tokenizer(ck)
        self.model.eval()
        self.temperature, self.legal_only = float(temperature), bool(legal_only)
        self.name = name or f"seq(temp={temperature:g})"
        self.counts = {"forward_positions": 0} if counts is None else counts  # forward passes, raw legality
        self.decoder, self.fed = None, []  # the match's cache, one row per game, and what each row was fed
        self.one, self.one_fed = None, [[]]  # the cache of a lone envs.game.Game (arena play, GTP)

    @property
    def game(self):
        return self.tok.game

    def reset(self, seed=None):
        super().reset(seed)
        self.one, self.one_fed = None, [[]]

    def start_match(self, n):
        """A new match of ``n`` games (agents.match): one cache row per game."""
        self.decoder, self.fed = Decoder(self.model, self.tok, n, self.counts), [[] for _ in range(n)]

    @torch.no_grad()
    def act(self, games, streams=None, histories=None, ids=None):
        """Moves for ``games`` (an ``envs.core`` batch with ``histories``, the games' actions so far, and
        ``ids``, their rows in the match; or one ``envs.game.Game``): ``int64[B]``, -1 for finished games."""
        g = as_batch(games)
        if histories is None:  # a lone game, outside a match
            if not hasattr(games, "history"):
                raise TypeError(f"{self.name} reads the move history: give it an envs.game.Game, or play it "
                                f"through agents.match")
            if games.terminal:
                return np.array([-1], np.int64)
            if self.one is None:
                self.one = Decoder(self.model, self.tok, 1, self.counts)
            return self._moves(self.one, self.one_fed, g, [list(games.history)], np.zeros(1, np.int64),
                               streams if streams is not None else self.rng)
        if self.decoder is None:
            raise RuntimeError(f"{self.name}: start_match(n) first (agents.match calls it)")
        return self._moves(self.decoder, self.fed, g, histories, np.asarray(ids, np.int64),
                           streams if streams is not None else self.rng)

    @torch.no_grad()
    def distribution(self, game, legal_only=None):
        """The model's next-move distribution in ``game`` (one unfinished ``envs.game.Game``):
        ``float64[A]`` by action, the softmax of its prediction over the legal moves (``legal_only``,
        by default the player's own setting) or over every move token (the raw model, illegal squares
        included). An Othello pass has no token: its entry is 0, and a forced pass gives all zeros. It
        follows the same one-game cache as ``act``, so asking right after ``act`` costs no forward pass."""
        if self.one is None:
            self.one = Decoder(self.model, self.tok, 1, self.counts)
        self._feed(self.one, self.one_fed, [list(game.history)], np.zeros(1, np.int64))
        legal_only = self.legal_only if legal_only is None else bool(legal_only)
        tok = self.tok
        if legal_only:
            allowed = tok.legal_ids(game.batch.legal_mask()[:1])[0]
        else:
            allowed = np.arange(tok.vocab_size) >= FIRST_MOVE
        out = np.zeros(game.batch.num_actions, np.float64)
        if not allowed.any():
            return out
        logits = self.one.logits[0].float().cpu().masked_fill(~torch.from_numpy(allowed), -float("inf"))
        p = torch.softmax(logits, -1).numpy().astype(np.float64)
        ids = np.flatnonzero(allowed)
        out[tok.id_to_action[ids]] = p[ids]
        return out

    def _feed(self, dec, fed, histories, rows):
        """Feed each row what it has not seen yet (a row whose history no longer extends what it was fed
        starts again)."""
        again = [r for r, h in zip(rows, histories) if fed[r] != h[: len(fed[r])]]
        for r in again:
            fed[r] = []
        dec.restart(again)
        todo = [h[len(fed[r]):] for r, h in zip(rows, histories)]
        for k in range(max((len(t) for t in todo), default=0)):  # every row's k-th new move, together
            j = [i for i, t in enumerate(todo) if len(t) > k]
            dec.feed(rows[j], np.array([todo[i][k] for i in j], np.int64))
            for i in j:  # what each row holds, move by move: a feed that fails part-way is restarted next time
                fed[rows[i]].append(todo[i][k])

    def _moves(self, dec, fed, g, histories, rows, rng):
        """Bring ``rows`` up to their ``histories`` (:meth:`_feed`), then choose their moves."""
        self._feed(dec, fed, histories, rows)
        actions, ids = choose_moves(dec, rows, g.legal_mask(), self.temperature, rng, self.counts,
                                    legal_only=self.legal_only)
        self.chose(dec, rows, ids, g.to_play)
        return actions

    def chose(self, dec, rows, ids, sides):
        """Hears every choice: the cache ``rows``, the chosen token ``ids`` (-1 for a forced pass) and the
        ``sides`` that moved (0 black, 1 white). GRPO's learner records its decisions here."""
