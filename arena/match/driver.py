"""The arena's games, in the game's own notation, played by the one match engine (agents.match).

    rec = play_game(black, white, "go", 9, komi=7.5, opening=["E5", "C3"], seed=7)
    rec["result"]   # 1 black won, 0 white won, 0.5 draw (black's score)
    rec["reason"]   # "end" | "resign: white" | "forfeit: white: illegal move D4" | ...

    for i, rec in play_games([a, b], [b, a], "othello", 8, openings=[[], []], seeds=[7, 8]):
        ...             # game i's record (the same fields) as soon as it ends

A move the rules reject, an :class:`~arena.gtp.EngineError` (timeout, crash, refusal) or a resignation
ends the game as a loss for that side; the other side's score is recorded and the tournament goes on.
Each side of game i draws its random numbers from its own stream seeded by ``seeds[i]``, so game i has
the moves it would have alone, whatever the other games of the batch (agents.match).
"""

import time

from agents.match import play
from envs.game import Game


def play_games(black, white, game, size, komi=None, openings=None, seeds=None):
    """Play ``len(black)`` games at once: ``black[i]``, ``white[i]`` are game i's agents (an agent may play
    in many games, with either colour), ``openings[i]`` its opening moves (in the game's notation; default
    none) and ``seeds[i]`` its seed (default i). Yields ``(i, record)`` as each game ends: result (black's
    score 1/0.5/0), margin (``Game.final_margin``; None after a forfeit or resignation), reason, moves
    (notation, passes included), plies, seconds (from the start of the batch to the game's end: the games
    of a batch share the machine), game_over."""
    kw = {"komi": komi} if game == "go" else {}
    n = len(black)
    openings = [[] for _ in range(n)] if openings is None else openings
    actions = [Game(game, size, **kw).play_all(moves).history for moves in openings]
    t0 = time.perf_counter()
    for i, rec in play(black, white, game, size, actions, seeds, **kw):
        g = Game(game, size, **kw)
        moves = [g.move_str(a) for a in rec.pop("history")]
        yield i, {**rec, "moves": moves, "seconds": round(time.perf_counter() - t0, 3)}


def play_game(black, white, game, size, komi=None, opening=(), seed=0):
    """Play one game from ``opening`` (moves in the game's notation, for both sides) with seed ``seed``:
    :func:`play_games`' record of it."""
    return next(play_games([black], [white], game, size, komi, [list(opening)], [seed]))[1]
