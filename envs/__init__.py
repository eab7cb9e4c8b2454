"""Game engines: Othello and Go rules as Numba kernels (``othello_kernels``, ``go_kernels``), the batched
core API (``core``), a single-game view (``game``), the replay of game records with Othello's implied
passes put back (``replay``), PettingZoo (``othello_v0``, ``go_v0``), Gymnasium
(``gym_env``, registered as ``selfplay_arena/Othello-v0`` and ``selfplay_arena/Go-v0``) and a vector env
(``vector``)."""

from envs.core import GoBatch, OthelloBatch, make_batch
from envs.game import Game
from envs.gym_env import register as _register

_register()

__all__ = ["Game", "GoBatch", "OthelloBatch", "make_batch"]
