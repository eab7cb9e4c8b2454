"""PettingZoo AEC environment over a batch of one game (the factories are ``envs.othello_v0.env`` and
``envs.go_v0.env``).

Agents ``black_0`` and ``white_0``. Observation: ``{"observation": float32[C, N, N] (side-to-move
relative planes, see envs.core), "action_mask": int8[N*N+1]}``; the mask is all zero for the agent
not to move and at the end. Rewards: +1/-1/0 to each agent when the game ends. An illegal action
raises ValueError naming the move and the position (nothing is corrected silently).
"""

import gymnasium
import numpy as np
from pettingzoo import AECEnv
from pettingzoo.utils import wrappers

from envs.core import make_batch


class BoardGameAEC(AECEnv):
    metadata = {"render_modes": ["ansi"], "is_parallelizable": False}

    def __init__(self, game, board_size, render_mode=None, **kwargs):
        super().__init__()
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.game_name = game
        self.kwargs = kwargs
        self.board = make_batch(game, 1, board_size, 0, **kwargs)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "name": f"{game}_v0"}
        n = self.board.size
        self.possible_agents = ["black_0", "white_0"]
        self.agents = self.possible_agents[:]
        obs = gymnasium.spaces.Box(0.0, 1.0, self.board.obs_shape, np.float32)
        mask = gymnasium.spaces.Box(0, 1, (n * n + 1,), np.int8)
        self.observation_spaces = {a: gymnasium.spaces.Dict({"observation": obs, "action_mask": mask})
                                   for a in self.possible_agents}
        self.action_spaces = {a: gymnasium.spaces.Discrete(n * n + 1) for a in self.possible_agents}

    def observation_space(self, agent):
        return self.observation_spaces[agent]

    def action_space(self, agent):
        return self.action_spaces[agent]

    def observe(self, agent):
        b = self.board
        planes = b.observation()[0]
        if self.possible_agents.index(agent) != int(b.to_play[0]):
            # the observer is not to move: its own stones come first all the same
            planes = planes.copy()
            planes[[0, 1]] = planes[[1, 0]]
            planes[2] = 0.0  # legal points: it is not this agent's turn
            if b.game == "go":
                planes[3] = 1.0 - planes[3]  # "black to move" seen from the observer's colour
        mask = np.zeros(b.num_actions, np.int8)
        if agent == self.agent_selection and not b.terminal[0]:
            mask[:] = b.legal_mask()[0]
        return {"observation": planes, "action_mask": mask}

    def reset(self, seed=None, options=None):
        self.board.reset()
        self.agents = self.possible_agents[:]
        self.rewards = {a: 0 for a in self.agents}
        self._cumulative_rewards = {a: 0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {} for a in self.agents}
        self.agent_selection = self.possible_agents[0]
        if seed is not None:
            for i, a in enumerate(self.possible_agents):
                self.action_spaces[a].seed(seed + i)

    def step(self, action):
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            return self._was_dead_step(action)
        b = self.board
        b.step(np.array([int(action)]))
        self._cumulative_rewards[agent] = 0
        if b.terminal[0]:
            r = float(b.reward()[0])
            self.rewards = {"black_0": r, "white_0": -r}
            self.terminations = {a: True for a in self.agents}
        self.agent_selection = self.possible_agents[int(b.to_play[0])]
        self._accumulate_rewards()
        if self.render_mode == "ansi":
            print(self.render())

    def render(self):
        if self.render_mode is None:
            gymnasium.logger.warn("render() called with render_mode=None")
            return None
        return self.board.render(0)

    def close(self):
        pass


def make_env(game, board_size, render_mode=None, **kwargs):
    """The raw env wrapped with PettingZoo's order enforcement and bounds checks."""
    env = BoardGameAEC(game, board_size, render_mode, **kwargs)
    env = wrappers.AssertOutOfBoundsWrapper(env)
    env = wrappers.OrderEnforcingWrapper(env)
    return env
