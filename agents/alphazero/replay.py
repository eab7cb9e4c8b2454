"""The replay buffer: a window of the most recent positions, sampled uniformly, saved atomically.

Arrays (capacity P positions): obs uint8[P, C, N, N], policy float32[P, A], value float32[P] (the game
result from the position's side to move), and the auxiliary targets from the side to move: ownership
int8[P, N*N] (the final owner of each point) and score float32[P] (the final margin over N*N). Only
full searches are stored (playout-cap randomization).
"""

import json
import os

import numpy as np


class ReplayBuffer:
    def __init__(self, capacity, obs_shape, num_actions):
        if capacity < 1:
            raise ValueError(f"replay capacity must be positive, got {capacity}")
        self.capacity = int(capacity)
        self.obs = np.zeros((self.capacity, *obs_shape), np.uint8)
        self.policy = np.zeros((self.capacity, num_actions), np.float32)
        self.value = np.zeros(self.capacity, np.float32)
        self.ownership = np.zeros((self.capacity, obs_shape[-1] * obs_shape[-2]), np.int8)
        self.score = np.zeros(self.capacity, np.float32)
        self.size = 0
        self.next = 0          # ring position of the next write
        self.added = 0         # positions ever added
        self.games = 0         # games ever added
        self.rng_state = None  # the sampling stream's state this buffer was saved with (:meth:`load`)

    def add_game(self, record):
        """Store the full-search positions of one GameRecord; returns how many were stored."""
        keep = np.flatnonzero(record.full)
        z = record.value_targets()
        sign = np.where(record.to_play == 0, 1, -1)  # black's view -> the side to move's
        points = self.ownership.shape[1]
        for i in keep:
            self.obs[self.next] = record.obs[i]
            self.policy[self.next] = record.policy[i]
            self.value[self.next] = z[i]
            if record.ownership is not None:
                self.ownership[self.next] = sign[i] * record.ownership
                self.score[self.next] = sign[i] * record.margin / points
            self.next = (self.next + 1) % self.capacity
        self.size = min(self.capacity, self.size + keep.size)
        self.added += keep.size
        self.games += 1
        return int(keep.size)

    def sample(self, batch_size, rng, aux=False):
        """Uniform sample with replacement: (obs float32[B, C, N, N], policy [B, A], value [B]), and with
        ``aux`` also (ownership int8[B, N*N], score [B])."""
        if self.size == 0:
            raise ValueError("the replay buffer is empty")
        idx = rng.integers(0, self.size, size=batch_size)
        out = self.obs[idx].astype(np.float32), self.policy[idx], self.value[idx]
        return (*out, self.ownership[idx], self.score[idx]) if aux else out

    def save(self, path, rng=None):
        """Write atomically (temporary file, then rename): a crash leaves the old file intact. ``rng``: the
        sampling stream, saved with the buffer (``rng_state`` after :meth:`load`)."""
        tmp = f"{path}.tmp"
        extra = {"rng": np.array(json.dumps(rng.bit_generator.state))} if rng is not None else {}
        with open(tmp, "wb") as f:
            np.savez(f, obs=self.obs[: self.size], policy=self.policy[: self.size], value=self.value[: self.size],
                     ownership=self.ownership[: self.size], score=self.score[: self.size],
                     meta=np.array([self.capacity, self.next, self.added, self.games], np.int64), **extra)
        os.replace(tmp, path)

    def stats(self):
        return {"size": self.size, "added": self.added, "games": self.games}

    @classmethod
    def load(cls, path):
        try:
            with np.load(path) as d:
                capacity, nxt, added, games = (int(x) for x in d["meta"])
                buf = cls(capacity, d["obs"].shape[1:], d["policy"].shape[1])
                n = d["obs"].shape[0]
                buf.obs[:n], buf.policy[:n], buf.value[:n] = d["obs"], d["policy"], d["value"]
                if "ownership" in d:  # buffers saved before the auxiliary targets have zeros there
                    buf.ownership[:n], buf.score[:n] = d["ownership"], d["score"]
                if "rng" in d:  # buffers saved before the stream was kept resume with a fresh one
                    buf.rng_state = json.loads(str(d["rng"]))
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"cannot read replay buffer {path}: {e}") from None
        buf.size, buf.next, buf.added, buf.games = n, nxt, added, games
        return buf


class Replay:
    """A ReplayBuffer with its own sampling stream, resumed from ``path`` when that exists: the buffer of
    both trainer sources (in this process, and as agents.alphazero.actors.ReplayActor on Ray)."""

    def __init__(self, capacity, obs_shape, num_actions, seed, path=None):
        self.buf = ReplayBuffer.load(path) if path and os.path.exists(path) else ReplayBuffer(capacity, obs_shape, num_actions)
        # Its own stream: seeded like the learner's, its draws would pick each sample's symmetry in lockstep.
        # Saved with the buffer, so that a resumed run samples what the uninterrupted one would have.
        self.rng = np.random.default_rng([seed, 0x5A4])
        if self.buf.rng_state is not None:
            self.rng.bit_generator.state = self.buf.rng_state

    def add(self, records):
        for r in records:
            self.buf.add_game(r)
        return self.stats()

    def sample(self, n, aux=False):
        return self.buf.sample(n, self.rng, aux)

    def stats(self):
        return self.buf.stats()

    def save(self, path):
        self.buf.save(path, rng=self.rng)
