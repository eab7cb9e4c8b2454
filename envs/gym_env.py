"""Gymnasium single-agent envs: the agent plays one colour, an opponent policy plays the other.

Registered ids: ``selfplay_arena/Othello-v0`` and ``selfplay_arena/Go-v0`` (kwargs: ``board_size``,
``komi`` for Go, ``agent_color`` "black" | "white" | "random", ``opponent`` a callable
``(game: envs.game.Game, rng: np.random.Generator) -> action`` (default: uniformly random legal
move), ``illegal_action`` "lose" | "raise").

Observation: ``{"observation": float32[C, N, N], "action_mask": int8[N*N+1]}`` from the agent's view.
Reward: +1/-1/0 at the end, from the agent's view. An illegal action either ends the episode as a
loss with ``info["illegal_action"] = True`` (default, so that unmasked learners and
``gymnasium.utils.env_checker`` can step it) or raises ValueError.
"""

import gymnasium
import numpy as np

from envs.game import Game


def random_opponent(game, rng):
    legal = game.legal_actions()
    return legal[int(rng.integers(len(legal)))]


class BoardGameEnv(gymnasium.Env):
    metadata = {"render_modes": ["ansi"]}

    def __init__(self, game="othello", board_size=None, komi=None, agent_color="black", opponent=None,
                 illegal_action="lose", render_mode=None):
        if agent_color not in ("black", "white", "random"):
            raise ValueError(f"agent_color must be 'black', 'white' or 'random', got {agent_color!r}")
        if illegal_action not in ("lose", "raise"):
            raise ValueError(f"illegal_action must be 'lose' or 'raise', got {illegal_action!r}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.game_kwargs = {"game": game, "size": board_size, **({"komi": komi} if game == "go" else {})}
        self.g = Game(**self.game_kwargs)
        self.agent_color = agent_color
        self.opponent = opponent or random_opponent
        self.illegal_action = illegal_action
        self.render_mode = render_mode
        n = self.g.size
        self.observation_space = gymnasium.spaces.Dict({
            "observation": gymnasium.spaces.Box(0.0, 1.0, self.g.batch.obs_shape, np.float32),
            "action_mask": gymnasium.spaces.Box(0, 1, (n * n + 1,), np.int8),
        })
        self.action_space = gymnasium.spaces.Discrete(n * n + 1)
        self._me = 0

    def _obs(self):
        mask = np.zeros(self.g.size ** 2 + 1, np.int8)
        if not self.g.terminal:
            mask[self.g.legal_actions()] = 1
        return {"observation": self.g.observation(), "action_mask": mask}

    def _my_reward(self):
        r = self.g.reward()
        return r if self._me == 0 else -r

    def _opponent_moves(self):
        while not self.g.terminal and self.g.to_play != self._me:
            self.g.play(self.opponent(self.g, self.np_random))

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.action_space.seed(seed)
        self.g = Game(**self.game_kwargs)
        if self.agent_color == "random":
            self._me = int(self.np_random.integers(2))
        else:
            self._me = 0 if self.agent_color == "black" else 1
        self._opponent_moves()
        return self._obs(), {"to_play": self.g.to_play}

    def step(self, action):
        if self.g.terminal:
            raise ValueError("step() called after the episode ended; call reset()")
        a = int(action)
        if a not in self.g.legal_actions():
            if self.illegal_action == "raise":
                self.g.play(a)  # raises ValueError naming the move and the position
            return self._obs(), -1.0, True, False, {"illegal_action": True, "action": a}
        self.g.play(a)
        self._opponent_moves()
        done = self.g.terminal
        return self._obs(), float(self._my_reward()) if done else 0.0, done, False, {"illegal_action": False}

    def render(self):
        if self.render_mode == "ansi":
            return self.g.render()
        return None


def register():
    """Register the ids with Gymnasium (idempotent; called by ``import envs``)."""
    for name, game in (("Othello", "othello"), ("Go", "go")):
        env_id = f"selfplay_arena/{name}-v0"
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point="envs.gym_env:BoardGameEnv", kwargs={"game": game})
