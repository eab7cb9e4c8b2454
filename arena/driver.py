"""Games between agents, refereed by our rules kernels, with forfeits recorded instead of raised.

    rec = play_game(black, white, "go", 9, komi=7.5, opening=["E5", "C3"], seed=7)
    rec["result"]   # 1 black won, 0 white won, 0.5 draw (black's score)
    rec["reason"]   # "end" | "resign: white" | "forfeit: white: illegal move D4" | ...

    for i, rec in play_games([a, b], [b, a], "othello", 8, openings=[[], []], seeds=[7, 8]):
        ...             # game i's record (the same fields) as soon as it ends

``play_game`` plays one game, every agent acting on an ``envs.game.Game`` (GTP engines need its history).
A move the rules reject, an :class:`~arena.gtp.EngineError` (timeout, crash, refusal) or a resignation ends
the game as a loss for that side; the other side's score is recorded and the tournament goes on.

``play_games`` plays many games at once in one ``envs.core`` batch, for agents that act on batches
(``agent.plays_batches``): at every ply each agent acts once on all the games where it is to move (one
search or forward pass for them all). Each side of game i draws its random numbers from its own stream,
seeded as ``play_game`` reseeds that side for a game of seed ``seeds[i]``
(:class:`~agents.search.streams.GameStreams`), so game i has the moves it would have alone with
``play_game``, whatever the other games of the batch (exactly so for players whose arithmetic does not
depend on the batch; a network's forward pass can differ in the last bits with the batch size). A move
the rules reject is a forfeit there too; batch players do not resign or time out.
"""

import time

import numpy as np

from agents.search.streams import GameStreams
from arena.gtp import EngineError, Resign
from envs.core import make_batch
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


def play_games(black, white, game, size, komi=None, openings=None, seeds=None):
    """Play ``len(black)`` games at once: ``black[i]``, ``white[i]`` are game i's agents (both acting on
    batches; an agent may play in many games, with either colour), ``openings[i]`` its opening moves (in
    the game's notation; default none) and ``seeds[i]`` its seed (default i). Yields ``(i, record)`` as
    each game ends, the record as :func:`play_game` returns it; ``seconds`` is the time from the start of
    the batch to the game's end (the games of a batch share the machine)."""
    n = len(black)
    openings = [[] for _ in range(n)] if openings is None else openings
    seeds = list(range(n)) if seeds is None else seeds
    g = make_batch(game, n, size, **({"komi": komi} if game == "go" else {}))
    history = []
    for i, moves in enumerate(openings):
        one = Game(game, size, komi=komi).play_all(moves)
        g.put([i], one.batch)
        history.append(list(one.history))
    # Stream 2i + side is side's in game i, seeded as play_game resets that side: seed * 2 + side.
    streams = GameStreams([2 * int(s) + side for s in seeds for side in (0, 1)])
    players = (black, white)
    ended = np.zeros(n, np.bool_)
    t0 = time.perf_counter()

    def record(i, reason, result):
        ended[i] = True
        one = Game(game, size, komi=komi).play_all(history[i])  # the referee's view of game i, for margin
        if result is None:
            r = one.reward()
            result = 1.0 if r > 0 else 0.0 if r < 0 else 0.5
        return i, {"result": result, "margin": one.final_margin() if reason == "end" else None, "reason": reason,
                   "moves": [one.move_str(a) for a in one.history], "plies": len(one.history),
                   "seconds": round(time.perf_counter() - t0, 3), "game_over": one.terminal}

    while True:
        for i in np.flatnonzero(g.terminal & ~ended):
            yield record(i, "end", None)
        live = np.flatnonzero(~g.terminal & ~ended)
        if live.size == 0:
            return
        side = g.to_play[live].astype(np.int64)
        movers = [players[s][i] for i, s in zip(live, side)]
        actions = np.full(live.size, -1, np.int64)
        for agent in {id(a): a for a in movers}.values():  # each agent once, in order of first appearance
            rows = np.flatnonzero([m is agent for m in movers])
            actions[rows] = agent.act(g.take(live[rows]), streams=streams.take(2 * live[rows] + side[rows]))
        ok = (actions >= 0) & (actions < g.num_actions)
        ok[ok] = g.legal_mask()[live[ok], actions[ok]]
        for r in np.flatnonzero(~ok):
            i, a = live[r], int(actions[r])
            who = "black" if side[r] == 0 else "white"
            move = g.move_str(a) if 0 <= a <= size * size else str(a)
            yield record(i, f"forfeit: {who}: illegal move {move}", float(side[r]))  # black forfeiting scores 0
        rows = live[ok]
        if rows.size:
            g.put(rows, g.take(rows).step(actions[ok]))
        for i, a in zip(rows, actions[ok]):
            history[i].append(int(a))
