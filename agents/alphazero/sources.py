"""Where the learner's positions come from: self-play inside the trainer's process (``workers: 0``, no
Ray), or on Ray actors (agents.alphazero.actors.RaySelfPlay). Both offer the same small interface:

    src.poll(wait)          reports of self-play done since the last call (dicts, see :func:`play_for`);
                            ``wait``: the learner has nothing to do, so wait a little for them (the
                            in-process source then plays one move of every game in flight, and
                            otherwise nothing: the learner and self-play take turns, by counts alone)
    src.sample(n, aux)      a uniform replay sample: (obs float32[n, C, N, N], policy [n, A], value [n]),
                            with ``aux`` also (ownership int8[n, N*N], score [n]) (agents.alphazero.replay)
    src.stats()             {"size", "added", "games"} of the replay buffer
    src.publish(step, net)  the learner's new weights reach self-play (re-checked by its inference backend)
    src.save(path)          the replay buffer, atomically
    src.backend()           the inference backend self-play plays with now, or None when its workers
                            each have their own
    src.close()
"""

import copy
import json
import os
import time

import numpy as np
import torch

from agents.alphazero.replay import Replay
from agents.alphazero.selfplay import Recent, training_selfplay
from envs.core import make_batch


def short(report):
    """The inference report's headline (backend and agreement), for progress reports."""
    return {k: report.get(k) for k in ("inference", "device", "backend", "top1_agreement", "top1_decisive",
                                       "mean_regret", "value_mae", "agrees")}


def play_for(sp, recent, add, games, moves):
    """Play with ``sp`` until ``games`` games end or ``moves`` moves of every game in flight are played
    (at least one): counts, never the clock, so the same calls play the same games. ``add(records)``
    stores the finished games. Returns the report: games, positions (of the finished games), moves
    (positions searched: one per game in flight per move), false resignations, seconds, forward positions,
    the pid and the inference backend's report."""
    ev = sp.full.evaluator
    t, f0, m0 = time.perf_counter(), ev.forward_positions, sp.moves
    records, played = [], 0
    while played < max(1, moves) and len(records) < games:
        records += sp.step()
        played += 1
    recent.add(sp)
    stats = add(records)
    return {"games": len(records), "positions": int(sum(len(r.moves) for r in records)), "moves": sp.moves - m0,
            "false_resign": int(sum(r.false_resign for r in records)), "seconds": time.perf_counter() - t,
            "forward_positions": ev.forward_positions - f0, "pid": os.getpid(), "inference": short(ev.report),
            **{"replay_" + k: v for k, v in stats.items()}}


class LocalSelfPlay:
    """Self-play in this process: one ``SelfPlay`` of ``games_in_flight`` games on ``device``, searching
    with its own copy of ``net`` (the weights self-play uses: the last published), and a replay buffer
    here (``replay_path``: resumed from it when it exists). ``step``: the learner step ``net`` was
    published at, which sets the simulations under progressive simulation. ``games``: the arrays of
    :meth:`state` of the run being resumed: the games in flight continue where they were."""

    def __init__(self, cfg, net, device, replay_path=None, log=print, step=0, games=None):
        probe = make_batch(cfg.game, 1, cfg.size, **cfg.game_kwargs())
        self.replay = Replay(cfg.replay_capacity, probe.input_shape(cfg.inputs), probe.num_actions, cfg.seed,
                             replay_path)
        self.net = copy.deepcopy(net).to(device).eval()
        self.cfg = cfg
        self.sp = training_selfplay(cfg, self.net, 0, device, log=lambda line: log(f"self-play: {line}"), step=step)
        self.recent, self.version = Recent(), -1
        if games is not None:
            try:
                self.sp.restore(games)
                self.recent.restore(games)
                self.version = int(games["version"])
            except ValueError as e:  # e.g. another games_in_flight: the games start afresh
                log(f"self-play: the saved games in flight do not fit ({e}); new games start")
                self.sp = training_selfplay(cfg, self.net, 0, device, log=lambda line: log(f"self-play: {line}"),
                                            step=step)

    def backend(self):
        """The inference backend self-play plays with now (a fall-back included)."""
        return self.sp.full.evaluator.backend

    def state(self):
        """The games in flight and the streams of this self-play, as arrays (see ``games`` above)."""
        return {**self.sp.state(), **self.recent.state(), "version": np.array(self.version, np.int64)}

    def poll(self, wait=True):
        if not wait:
            return []
        return [{**play_for(self.sp, self.recent, self.replay.add, 1, 1), "worker": 0, "version": self.version}]

    def sample(self, n, aux=False):
        return self.replay.sample(n, aux)

    def stats(self):
        return self.replay.stats()

    def publish(self, step, net):
        self.net.load_state_dict(net.state_dict())
        self.version = step
        self.sp.set_simulations(self.cfg.simulations_at(step))
        self.sp.full.evaluator.refresh(self.recent.sample())

    def save(self, path):
        self.replay.save(path)

    def close(self):
        pass


# -- the run's state beside its checkpoints ---------------------------------------------------------------

def save_state(path, step, nets, games=None):
    """Write ``RUN/selfplay.npz`` atomically: the learner ``step`` it belongs to, the weights of ``nets``
    (``{name: net}``: what self-play plays with, the gate's best, the previous gauntlet's net) and, for
    in-process self-play, ``games`` (:meth:`LocalSelfPlay.state`). With the checkpoint and the replay
    buffer it is everything a resume needs to go on as if never stopped."""
    arrays = {"step": np.array(step, np.int64), "nets": np.array(json.dumps(sorted(nets)))}
    for name, net in nets.items():
        for k, v in net.state_dict().items():
            arrays[f"net/{name}/{k}"] = v.detach().cpu().numpy()
    for k, v in (games or {}).items():
        arrays[f"games/{k}"] = v
    with open(path + ".tmp", "wb") as f:
        np.savez(f, **arrays)
    os.replace(path + ".tmp", path)


def load_state(path, step, log=print):
    """``(weights {name: state dict}, games or None)`` saved by :func:`save_state` for learner ``step``;
    ``({}, None)`` when there is none, or it belongs to another step (a crash between the two writes:
    then self-play restarts its games with the learner's weights, and the run is no longer exact)."""
    if not os.path.exists(path):
        return {}, None
    try:
        with np.load(path) as d:
            data = {k: d[k] for k in d.files}
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    if int(data["step"]) != step:
        log(f"{path} is of learner step {int(data['step'])}, not the checkpoint's {step}: self-play restarts "
            f"its games with the checkpoint's weights")
        return {}, None
    weights = {name: {k[len(f"net/{name}/"):]: torch.from_numpy(v) for k, v in data.items()
                      if k.startswith(f"net/{name}/")} for name in json.loads(str(data["nets"]))}
    games = {k[len("games/"):]: v for k, v in data.items() if k.startswith("games/")} or None
    return weights, games
