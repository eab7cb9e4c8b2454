"""PettingZoo AEC Go: ``envs.go_v0.env(board_size=9, komi=7.5, render_mode=None)``; see envs.aec."""

from envs.aec import BoardGameAEC, make_env


def env(board_size=9, komi=7.5, render_mode=None):
    return make_env("go", board_size, render_mode, komi=komi)


def raw_env(board_size=9, komi=7.5, render_mode=None):
    return BoardGameAEC("go", board_size, render_mode, komi=komi)
