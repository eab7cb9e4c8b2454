"""One game between two agents, refereed by our rules kernels, with forfeits recorded instead of raised.

    rec = play_game(black, white, "go", 9, komi=7.5, opening=["E5", "C3"], seed=7)
    rec["result"]   # 1 black won, 0 white won, 0.5 draw (black's score)
    rec["reason"]   # "end" | "resign: white" | "forfeit: white: illegal move D4" | ...

Every agent acts on an ``envs.game.Game`` (GTP engines need its history). A move the rules reject,
an :class:`~arena.gtp.EngineError` (timeout, crash, refusal) or a resignation ends the game as a loss
for that side; the other side's score is recorded and the tournament goes on.
"""

import time

from arena.gtp import EngineError, Resign
from envs.game import Game


def play_game(black, white, game, size, komi=None, opening=(), seed=0):
    """Play one game. ``opening``: moves in the game's notation played first for both sides.
    Returns a JSON-ready dict: result (black's score 1/0.5/0), margin (``Game.final_margin``: black's
    area margin after komi, or disc margin with empties to the winner; None after a forfeit or resignation), reason, moves (notation, passes included), plies, seconds."""
    g = Game(game, size, komi=komi)
    for m in opening:
        g.play(m)
    agents = (black, white)
    for i, a in enumerate(agents):
        a.reset(seed * 2 + i)
    t0 = time.perf_counter()
    reason, result = "end", None
    while not g.terminal:
        side = g.to_play
        who = "black" if side == 0 else "white"
        try:
            action = int(agents[side].act(g)[0])
        except Resign:
            reason, result = f"resign: {who}", float(side)  # black resigning scores 0
            break
        except EngineError as e:
            reason, result = f"forfeit: {who}: {e}", float(side)
            break
        try:
            g.play(action)
        except ValueError:
            move = g.move_str(action) if 0 <= action <= size * size else str(action)
            reason, result = f"forfeit: {who}: illegal move {move}", float(side)
            break
    if result is None:
        r = g.reward()
        result = 1.0 if r > 0 else 0.0 if r < 0 else 0.5
    return {"result": result, "margin": g.final_margin() if reason == "end" else None, "reason": reason,
            "moves": [g.move_str(a) for a in g.history], "plies": len(g.history),
            "seconds": round(time.perf_counter() - t0, 3), "game_over": g.terminal}
