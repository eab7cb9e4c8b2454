"""PettingZoo AEC (api_test, seed_test), Gymnasium (check_env) and the vector env."""

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, seed_test

import envs  # noqa: F401  (registers the Gymnasium ids)
from envs import go_v0, othello_v0
from envs.vector import VectorGame


@pytest.mark.parametrize("factory", [lambda: othello_v0.env(), lambda: othello_v0.env(board_size=6),
                                     lambda: go_v0.env(), lambda: go_v0.env(board_size=5, komi=24.5)])
def test_pettingzoo_api_and_seed(factory):
    api_test(factory(), num_cycles=300)
    seed_test(factory, num_cycles=200)


def test_pettingzoo_render_and_illegal():
    e = othello_v0.env(render_mode="ansi")
    e.reset(seed=1)
    assert "a b c d e f g h" in e.render()
    with pytest.raises(ValueError, match="not legal"):
        e.step(0)


@pytest.mark.parametrize("env_id,kwargs", [("selfplay_arena/Othello-v0", {}),
                                           ("selfplay_arena/Othello-v0", {"board_size": 6, "agent_color": "white"}),
                                           ("selfplay_arena/Go-v0", {"board_size": 5})])
def test_gymnasium_check_env(env_id, kwargs):
    check_env(gymnasium.make(env_id, **kwargs).unwrapped, skip_render_check=True)


def test_gymnasium_episode_and_illegal_action():
    env = gymnasium.make("selfplay_arena/Othello-v0", agent_color="random")
    obs, info = env.reset(seed=5)
    total, done = 0.0, False
    while not done:
        a = int(np.flatnonzero(obs["action_mask"])[0])
        obs, r, done, trunc, info = env.step(a)
        total += r
    assert total in (-1.0, 0.0, 1.0)
    env.reset(seed=5)
    obs, r, done, _, info = env.step(0)  # a1 is never legal at the start
    assert done and r == -1.0 and info["illegal_action"]
    strict = gymnasium.make("selfplay_arena/Othello-v0", illegal_action="raise")
    strict.reset(seed=0)
    with pytest.raises(ValueError, match="a1 is not legal"):
        strict.step(0)


def test_vector_env_autoreset():
    v = VectorGame("go", num_envs=16, board_size=5, seed=0)
    obs, mask = v.reset()
    assert obs.shape == (16, 4, 5, 5) and mask.shape == (16, 26)
    finished = 0
    for _ in range(200):
        obs, mask, reward, done = v.step(v.random_actions())
        finished += int(done.sum())
        assert (reward[~done] == 0).all() and mask.any(1).all()
    assert finished > 0
