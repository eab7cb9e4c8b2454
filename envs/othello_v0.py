"""PettingZoo AEC Othello: ``envs.othello_v0.env(board_size=8, render_mode=None)``; see envs.aec."""

from envs.aec import BoardGameAEC, make_env


def env(board_size=8, render_mode=None):
    return make_env("othello", board_size, render_mode)


def raw_env(board_size=8, render_mode=None):
    return BoardGameAEC("othello", board_size, render_mode)
