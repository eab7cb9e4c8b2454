"""Self-play: many games at once through the batched MCTS, producing training records.

    sp = SelfPlay(evaluator, game="othello", size=6, games_in_flight=64, seed=0)
    for record in sp.play(num_games=100):   # GameRecord per finished game
        ...

Options a user of AlphaZero-style training expects:
- PUCT or Gumbel root (``search``: a SearchConfig); PUCT gets Dirichlet noise and temperature 1 for the
  first ``temperature_moves`` plies, then plays the most visited move. Gumbel explores by its own noise.
- KataGo's playout-cap randomization: each move is a full search with probability ``full_search_prob``
  and a cheap one (``cheap_simulations``, no noise) otherwise; only full searches are trained on.
- Resignation when the searched root value stays below ``resign_threshold``, except in a
  ``no_resign_fraction`` of games, which play on so that false resignations can be counted.
"""

import json
from dataclasses import dataclass, replace

import numpy as np

from agents.alphazero.evaluate import load_net, net_evaluator
from agents.alphazero.network import forward_flops
from agents.search.evaluators import TorchEvaluator
from agents.search.mcts import MCTS, SearchConfig, choose_actions
from envs.core import make_batch


@dataclass
class GameRecord:
    """One finished self-play game. T positions:

    obs: uint8[T, C, N, N] observations (side-to-move relative); policy: float32[T, A] search targets;
    to_play: int8[T]; full: bool[T] (a full search: train on it); result: float (black's view, +1/0/-1);
    resigned: bool; false_resign: bool (a no-resign game in which the side that would have resigned won
    or drew); moves: int64[T] actions played; ownership: int8[N*N], each point's owner on the final
    board (black's view, +1/-1/0; envs.core ``ownership``; the board at resignation for a resigned game);
    margin: black's final score margin (Othello: discs; Go: area after komi).
    """

    obs: np.ndarray
    policy: np.ndarray
    to_play: np.ndarray
    full: np.ndarray
    result: float
    resigned: bool
    false_resign: bool
    moves: np.ndarray
    ownership: np.ndarray | None = None
    margin: float = 0.0

    def value_targets(self):
        """float32[T]: the result from each position's side to move."""
        return np.where(self.to_play == 0, self.result, -self.result).astype(np.float32)


class SelfPlay:
    def __init__(self, evaluator, game="othello", size=6, games_in_flight=64, search=None, seed=0,
                 cheap_simulations=8, full_search_prob=1.0, temperature_moves=8, resign_threshold=-1.0,
                 no_resign_fraction=0.1, **game_kwargs):
        if not 0.0 < full_search_prob <= 1.0:
            raise ValueError(f"full_search_prob must be in (0, 1], got {full_search_prob}")
        if not -1.0 <= resign_threshold <= 1.0:
            raise ValueError(f"resign_threshold must be in [-1, 1] (-1 disables), got {resign_threshold}")
        self.search = search if search is not None else SearchConfig(simulations=32, root="gumbel")
        self.full = MCTS(evaluator, self.search, seed=seed)
        cheap = replace(self.search, simulations=cheap_simulations, dirichlet_fraction=0.0)
        self.cheap = MCTS(evaluator, cheap, seed=seed + 1)
        self.batch = make_batch(game, games_in_flight, size, seed=seed, **game_kwargs)
        self.inputs = getattr(evaluator, "inputs", "basic")  # the planes recorded: those the net reads
        self.rng = np.random.default_rng(seed)
        self.full_search_prob = full_search_prob
        self.temperature_moves = temperature_moves
        self.resign_threshold = resign_threshold
        self.no_resign_fraction = no_resign_fraction
        self.logs = None  # per game in flight: its positions so far (made at the first step)
        self.moves = 0

    def set_simulations(self, n):
        """Full searches use ``n`` simulations from the next move on (progressive simulation); the games
        in flight carry on."""
        if n != self.full.config.simulations:
            self.full.reconfigure(replace(self.full.config, simulations=n))

    def play(self, num_games):
        """Yield ``num_games`` GameRecords as games finish (others keep running in flight)."""
        done = 0
        while done < num_games:
            for record in self.step():
                if done < num_games:
                    yield record
                    done += 1

    def step(self):
        """One move in every game in flight: the GameRecords of the games that ended on it (in batch
        order; their slots start new games). ``moves`` counts the positions searched so far."""
        g, bsz = self.batch, self.batch.batch_size
        if self.logs is None:
            self.logs = [self._new_log() for _ in range(bsz)]
        logs = self.logs
        full = self.rng.random(bsz) < self.full_search_prob
        obs = g.observation(self.inputs)
        policy = np.zeros((bsz, g.num_actions), np.float32)
        action = np.full(bsz, -1, np.int64)
        value = np.zeros(bsz, np.float32)
        for mcts, which in ((self.full, full), (self.cheap, ~full)):
            if which.any():
                r = mcts.search(g, which)
                policy[which], action[which], value[which] = r.policy[which], r.action[which], r.value[which]
        if self.search.root == "puct":
            early = g.ply < self.temperature_moves
            sampled = choose_actions(policy, 1.0, self.rng, np.ones(bsz, np.bool_))
            action = np.where(early, sampled, action)
        for b in range(bsz):
            log = logs[b]
            log["obs"].append(obs[b].astype(np.uint8))
            log["policy"].append(policy[b])
            log["to_play"].append(int(g.to_play[b]))
            log["full"].append(bool(full[b]))
            log["moves"].append(int(action[b]))
            if value[b] < self.resign_threshold and log["resigner"] is None:
                log["resigner"] = int(g.to_play[b])
        g.step(action)
        self.moves += bsz
        finished = []
        for b in range(bsz):
            log = logs[b]
            resigns = log["resigner"] is not None and log["may_resign"]
            if not (g.terminal[b] or resigns):
                continue
            finished.append(self._finish(g, b, log, resigns))
            logs[b] = self._new_log()
            g.reset(np.arange(bsz) == b)
        return finished

    def in_flight(self):
        """``(obs float32[K, C, N, N], mask bool[K, A])`` of the unfinished games in flight: real, recent
        positions for checking (and calibrating) an inference backend."""
        live = np.flatnonzero(~self.batch.terminal)
        return self.batch.observation(self.inputs)[live], self.batch.legal_mask()[live]

    # -- the state of the games in flight (an exact resume) --------------------------------------------
    LOG_ARRAYS = ("obs", "policy", "to_play", "full", "moves")

    def state(self):
        """Everything the next moves depend on, as arrays: the games in flight (their rows and their
        positions so far), the random streams of the self-play and of both searches, and the move count.
        :meth:`restore` on a SelfPlay built with the same arguments continues exactly where this one is
        (with the same weights in the evaluator)."""
        # Before the first move there are no logs yet, and making them would draw from the stream.
        g = self.batch
        logs = self.logs or [{"obs": [], "policy": [], "to_play": [], "full": [], "moves": [], "resigner": None,
                              "may_resign": False} for _ in range(g.batch_size)]
        out = {"i16": g.i16.copy(), "u64": g.u64.copy(), "batch_rng": np.array(g.rng, copy=True),
               "lengths": np.array([len(log["moves"]) for log in logs], np.int64),
               "resigner": np.array([-1 if log["resigner"] is None else log["resigner"] for log in logs], np.int64),
               "may_resign": np.array([log["may_resign"] for log in logs], np.bool_),
               "moves_played": np.array(self.moves, np.int64), "started": np.array(self.logs is not None),
               "simulations": np.array(self.full.config.simulations, np.int64),
               "streams": np.array(json.dumps([r.bit_generator.state for r in (self.rng, self.full.rng,
                                                                                self.cheap.rng)]))}
        shapes = {"obs": (0, *g.input_shape(self.inputs)), "policy": (0, g.num_actions)}
        for k in self.LOG_ARRAYS:
            rows = [np.asarray(x) for log in logs for x in log[k]]
            out[f"log_{k}"] = np.stack(rows) if rows else np.zeros(shapes.get(k, (0,)))
        return out

    def restore(self, state):
        """Continue from :meth:`state`'s arrays (see there)."""
        g = self.batch
        if state["i16"].shape != g.i16.shape or state["u64"].shape != g.u64.shape:
            raise ValueError(f"the saved self-play holds {state['i16'].shape[0]} games of another layout, not "
                             f"{g.batch_size} like this one")
        g.i16[:], g.u64[:], g.rng[:] = state["i16"], state["u64"], state["batch_rng"]
        for r, st in zip((self.rng, self.full.rng, self.cheap.rng), json.loads(str(state["streams"]))):
            r.bit_generator.state = st
        self.moves = int(state["moves_played"])
        self.set_simulations(int(state["simulations"]))
        self.logs = None
        if bool(state["started"]):
            ends = np.cumsum(state["lengths"])
            logs = []
            for b, (end, n) in enumerate(zip(ends, state["lengths"])):
                log = {k: list(state[f"log_{k}"][end - n:end]) for k in self.LOG_ARRAYS}
                log["to_play"] = [int(x) for x in log["to_play"]]
                log["full"] = [bool(x) for x in log["full"]]
                log["moves"] = [int(x) for x in log["moves"]]
                log["resigner"] = None if state["resigner"][b] < 0 else int(state["resigner"][b])
                log["may_resign"] = bool(state["may_resign"][b])
                logs.append(log)
            self.logs = logs

    # -- internals ---------------------------------------------------------------------------------
    def _new_log(self):
        return {"obs": [], "policy": [], "to_play": [], "full": [], "moves": [], "resigner": None,
                "may_resign": self.rng.random() >= self.no_resign_fraction}

    def _finish(self, g, b, log, resigned):
        if resigned:
            result = -1.0 if log["resigner"] == 0 else 1.0
        else:
            result = float(g.reward()[b])
        false_resign = False
        if log["resigner"] is not None and not log["may_resign"]:
            won = result if log["resigner"] == 0 else -result
            false_resign = won >= 0
        return GameRecord(obs=np.stack(log["obs"]), policy=np.stack(log["policy"]),
                          to_play=np.array(log["to_play"], np.int8), full=np.array(log["full"]),
                          result=result, resigned=resigned, false_resign=false_resign,
                          moves=np.array(log["moves"], np.int64), ownership=g.ownership(b).reshape(-1),
                          margin=float(g.score(b)))


def training_selfplay(cfg, net, worker_id, device="cpu", log=None, step=0):
    """The self-play of worker ``worker_id`` of a training run (a ``TrainConfig``): ``games_in_flight``
    games searched with ``net`` (the weights of learner ``step``, which sets the simulations under
    progressive simulation) under ``cfg.inference``, checked first on random-game positions. Returns
    the ``SelfPlay``; its evaluator (a NetEvaluator) is ``.full.evaluator``."""
    ev = net_evaluator(net, cfg.game, cfg.size, cfg.inference, device, batch=cfg.games_in_flight, strict=False,
                       seed=cfg.seed + worker_id, log=log, **cfg.game_kwargs())
    return SelfPlay(ev, cfg.game, cfg.size, cfg.games_in_flight, cfg.search(step), seed=cfg.seed * 1000 + worker_id,
                    cheap_simulations=cfg.cheap_simulations, full_search_prob=cfg.full_search_prob,
                    temperature_moves=cfg.temperature_moves, resign_threshold=cfg.resign_threshold,
                    no_resign_fraction=cfg.no_resign_fraction, **cfg.game_kwargs())


class Recent:
    """``n`` recent in-flight positions of a SelfPlay: the sample a backend is re-checked and
    re-calibrated on after a weight publication. Each :meth:`add` keeps ``n / 16`` of the positions in
    flight, chosen at random, so the sample spans the last 16 calls rather than neighbouring plies."""

    def __init__(self, n=256, seed=0):
        self.n, self.obs, self.mask = n, None, None
        self.rng = np.random.default_rng([seed, 0x2EC])

    def add(self, sp):
        obs, mask = sp.in_flight()
        keep = self.rng.permutation(len(obs))[: max(1, self.n // 16)]
        obs, mask = obs[keep], mask[keep]
        if self.obs is not None:
            obs, mask = np.concatenate([self.obs, obs])[-self.n:], np.concatenate([self.mask, mask])[-self.n:]
        self.obs, self.mask = obs, mask

    def sample(self):
        return None if self.obs is None or not len(self.obs) else (self.obs, self.mask)

    def state(self):
        """The kept positions and the stream, as arrays (:meth:`restore` takes them back)."""
        empty = self.obs is None
        return {"recent_obs": np.zeros(0, np.float32) if empty else self.obs,
                "recent_mask": np.zeros(0, np.bool_) if empty else self.mask,
                "recent_rng": np.array(json.dumps(self.rng.bit_generator.state))}

    def restore(self, state):
        self.rng.bit_generator.state = json.loads(str(state["recent_rng"]))
        obs = state["recent_obs"]
        self.obs, self.mask = (None, None) if obs.ndim == 1 else (obs, state["recent_mask"])


def selfplay_games(run, game, size, games, seed, simulations=32, games_in_flight=128, compute=None, chunk=100):
    """Fresh self-play games of a training run's newest net (Gumbel search, the run's temperature rule),
    made the way the run's own self-play makes them: yields lists of up to ``chunk`` games, each a list of
    actions (passes included). ``compute``, a dict, gets the network's forward positions (every search
    leaf) and the FLOPs they cost, as the games are made. A transcript source (``arena transcripts
    --source selfplay:RUN``)."""
    net, cfg, _ = load_net(run, game, size)
    sp = SelfPlay(TorchEvaluator(net), game, size, min(games_in_flight, games),
                  SearchConfig(simulations=simulations, root="gumbel"), seed=seed,
                  temperature_moves=cfg.temperature_moves, **cfg.game_kwargs())
    ev, per_position = sp.full.evaluator, forward_flops(net)
    batch = []

    def flush():
        if compute is not None:
            compute.update(forward_positions=ev.forward_positions, flops=int(ev.forward_positions * per_position))
        return batch

    for rec in sp.play(games):
        batch.append(rec.moves.tolist())
        if len(batch) == chunk:  # the progress bar moves every few seconds
            yield flush()
            batch = []
    if batch:
        yield flush()
