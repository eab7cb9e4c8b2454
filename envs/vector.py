"""A batched environment for throughput users: B games of one kind stepped by the kernels at once,
with automatic reset.

    v = VectorGame("othello", num_envs=1024, seed=0)
    obs, mask = v.reset()
    obs, mask, reward, done = v.step(actions)   # actions: int[B], legal for every game

``reward: float32[B]`` is the finished game's result from the view of the player who made the last
move (0 while a game runs); ``done: bool[B]`` marks games that ended on this step and were reset, so
``obs`` and ``mask`` already show the new game's first position. ``final_reward_black`` keeps the
result of each finished game from black's view.
"""

import numpy as np

from envs.core import make_batch


class VectorGame:
    def __init__(self, game="othello", num_envs=64, board_size=None, seed=0, **kwargs):
        self.batch = make_batch(game, num_envs, board_size, seed, **kwargs)
        self.num_envs = self.batch.batch_size
        self.num_actions = self.batch.num_actions
        self.obs_shape = self.batch.obs_shape
        self.final_reward_black = np.zeros(self.num_envs, np.float32)

    def reset(self):
        self.batch.reset()
        return self.batch.observation(), self.batch.legal_mask()

    def step(self, actions):
        b = self.batch
        mover = b.to_play.copy()
        b.step(actions)
        done = b.terminal.copy()
        r_black = b.reward()
        reward = np.where(mover == 0, r_black, -r_black).astype(np.float32)
        self.final_reward_black = np.where(done, r_black, 0.0).astype(np.float32)
        if done.any():
            b.reset(done)
        return b.observation(), b.legal_mask(), reward, done

    def random_actions(self):
        return self.batch.random_actions()
