"""Where the learner's positions come from: self-play inside the trainer's process (``workers: 0``, no
Ray), or on Ray actors (agents.alphazero.actors.RaySelfPlay). Both offer the same small interface:

    src.poll(wait)          reports of self-play done since the last call (dicts, see :func:`play_for`);
                            ``wait``: the learner has nothing to do, so wait a little for them (the
                            in-process source then plays one move of every game in flight, and
                            otherwise nothing: the learner and self-play take turns)
    src.sample(n, aux)      a uniform replay sample: (obs float32[n, C, N, N], policy [n, A], value [n]),
                            with ``aux`` also (ownership int8[n, N*N], score [n]) (agents.alphazero.replay)
    src.stats()             {"size", "added", "games"} of the replay buffer
    src.publish(step, net)  the learner's new weights reach self-play (re-checked by its inference backend)
    src.save(path)          the replay buffer, atomically
    src.close()
"""

import copy
import os
import time


from agents.alphazero.replay import Replay
from agents.alphazero.selfplay import Recent, training_selfplay
from envs.core import make_batch


def short(report):
    """The inference report's headline (backend and agreement), for progress reports."""
    return {k: report[k] for k in ("inference", "device", "backend", "top1_agreement", "value_mae", "agrees")}


def play_for(sp, recent, add, games, seconds):
    """Play with ``sp`` until ``games`` games end or ``seconds`` pass (at least one move); ``add(records)``
    stores the finished games. Returns the report: games, positions (of the finished games), moves
    (positions searched: one per game in flight per move), false resignations, seconds, forward positions,
    the pid and the inference backend's report."""
    ev = sp.full.evaluator
    t, f0, m0 = time.perf_counter(), ev.forward_positions, sp.moves
    records = []
    while len(records) < games and (not records and sp.moves == m0 or time.perf_counter() - t < seconds):
        records += sp.step()
    recent.add(sp)
    stats = add(records)
    return {"games": len(records), "positions": int(sum(len(r.moves) for r in records)), "moves": sp.moves - m0,
            "false_resign": int(sum(r.false_resign for r in records)), "seconds": time.perf_counter() - t,
            "forward_positions": ev.forward_positions - f0, "pid": os.getpid(), "inference": short(ev.report),
            **{"replay_" + k: v for k, v in stats.items()}}


class LocalSelfPlay:
    """Self-play in this process: one ``SelfPlay`` of ``games_in_flight`` games on ``device``, searching
    with its own copy of the learner's net, and a replay buffer here (``replay_path``: resumed from it
    when it exists). ``step``: the learner step of ``net``, which sets the simulations under
    progressive simulation."""

    def __init__(self, cfg, net, device, replay_path=None, log=print, step=0):
        probe = make_batch(cfg.game, 1, cfg.size, **cfg.game_kwargs())
        self.replay = Replay(cfg.replay_capacity, probe.obs_shape, probe.num_actions, cfg.seed, replay_path)
        self.net = copy.deepcopy(net).to(device).eval()
        self.cfg = cfg
        self.sp = training_selfplay(cfg, self.net, 0, device, log=lambda line: log(f"self-play: {line}"), step=step)
        self.recent, self.version = Recent(), -1

    def poll(self, wait=True):
        if not wait:
            return []
        return [{**play_for(self.sp, self.recent, self.replay.add, 1, 0.0), "worker": 0, "version": self.version}]

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
