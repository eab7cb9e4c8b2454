"""The one batched match engine: every game anything here plays goes through :func:`play` (OpenSpiel's
evaluators all call one ``evaluate_bots``): training gauntlets and gates, GRPO's games, ``arena eval``,
tournaments and ladders.

    for i, rec in play(black, white, "othello", 8, openings=ops, seeds=seeds):   # as each game ends
        rec["result"], rec["reason"], rec["history"]
    score = match(a, b, "othello", 8, games=40, seed=7)      # a's score per game: +1 / 0 / -1
    ops = balanced_openings("othello", 8, 20, plies=4, seed=7)

Game ``i`` is ``black[i]`` against ``white[i]`` (agents.players; one agent may play in many games, with
either colour), from ``openings[i]`` (actions played first for both sides), with seed ``seeds[i]``. The
games advance together in one ``envs.core`` batch: at every ply each agent acts once on all the games
where it is to move (one search or forward pass for them all).

Streams. Each side of game ``i`` draws its random numbers from its own stream (agents.search.streams),
seeded ``2 * seeds[i] + side``, which is what ``agent.reset(2 * seeds[i] + side)`` gives a player of
that game alone; a one-game player (``SingleGameAgent``: an external engine) is reset so before the
batch's first move (one such player belongs in one game of a batch: the arena plays them a game at a
time). So game ``i`` has the moves it would have alone, whatever else is in the batch (exactly for
players whose arithmetic does not depend on the batch; a network's forward pass can differ in its last
bits with the batch size).

History. A batch player that reads the moves played (``needs_history``: the sequence model) gets
``histories`` (each game's actions so far, passes included) and ``ids`` (the games' indices in this
match) with every call, after ``start_match(n)`` once per match.

Endings. A move the rules reject is a forfeit of its side; so is an :class:`~agents.players.AgentError`
(an engine that timed out, crashed or refused), and :class:`~agents.players.Resign` resigns. The record
says which, and the match goes on.
"""

import numpy as np

from agents.players import AgentError, Resign, random_openings
from agents.search.evaluators import RolloutEvaluator
from agents.search.mcts import MCTS, SearchConfig
from agents.search.streams import GameStreams
from envs.core import make_batch
from envs.game import Game

# Random plies before a gauntlet's or a gate's games, as the ladders open against the engines (8x8 Othello
# has 244 move sequences of 4 plies, its perft at depth 4; 9x9 Go 6,480 of 2 plies without a pass).
OPENING_PLIES = {"othello": 4, "go": 2}


def play(black, white, game, size, openings=None, seeds=None, **game_kwargs):
    """Play ``len(black)`` games at once (module docstring); yields ``(i, record)`` as game ``i`` ends:

        result     black's score: 1 win, 0.5 draw, 0 loss
        reason     "end" | "resign: black" | "forfeit: white: illegal move D4" | "forfeit: black: <error>"
        history    every action of the game, the opening's and passes included
        margin     black's final margin (``envs.game.Game.final_margin``); None after a forfeit or resignation
        plies, game_over
    """
    n = len(black)
    if len(white) != n:
        raise ValueError(f"{n} black players but {len(white)} white ones")
    openings = [[] for _ in range(n)] if openings is None else [list(o) for o in openings]
    seeds = list(range(n)) if seeds is None else [int(s) for s in seeds]
    g = make_batch(game, n, size, **game_kwargs)
    history = [[] for _ in range(n)]
    for k in range(max((len(o) for o in openings), default=0)):  # the openings' k-th moves, together
        rows = np.array([i for i in range(n) if len(openings[i]) > k], np.int64)
        act = np.full(n, -1, np.int64)
        act[rows] = [openings[i][k] for i in rows]
        g.step_where(act >= 0, act)  # an illegal opening move is a ValueError naming it
        for i in rows:
            history[i].append(int(act[i]))
    players = (black, white)
    streams = GameStreams([2 * s + side for s in seeds for side in (0, 1)])  # side of game i: row 2i + side
    single = {}  # game -> its envs.game.Game, for games with a one-game player
    for i in range(n):
        for side in (0, 1):
            agent = players[side][i]
            if not agent.plays_batches:
                agent.reset(2 * seeds[i] + side)
                single.setdefault(i, Game(game, size, **game_kwargs).play_all(history[i]))
    for agent in {id(a): a for a in (*black, *white)}.values():
        if getattr(agent, "needs_history", False):
            agent.start_match(n)
    ended = np.zeros(n, np.bool_)

    def record(i, reason, result=None):
        ended[i] = True
        one = Game(game, size, **game_kwargs).play_all(history[i])  # the referee's view, for the margin
        if result is None:
            r = one.reward()
            result = 1.0 if r > 0 else 0.0 if r < 0 else 0.5
        return i, {"result": result, "margin": one.final_margin() if reason == "end" else None, "reason": reason,
                   "history": list(history[i]), "plies": len(history[i]), "game_over": one.terminal}

    while True:
        for i in np.flatnonzero(g.terminal & ~ended):
            yield record(i, "end")
        live = np.flatnonzero(~g.terminal & ~ended)
        if live.size == 0:
            return
        side = g.to_play[live].astype(np.int64)
        movers = [players[s][i] for i, s in zip(live, side)]
        actions = np.full(live.size, -1, np.int64)
        out = {}  # row -> (reason, black's score) for games that end without a move
        for agent in {id(a): a for a in movers}.values():  # each agent once, in order of first appearance
            rows = np.flatnonzero([m is agent for m in movers])
            idx = live[rows]
            if agent.plays_batches:
                kw = {"histories": [history[i] for i in idx], "ids": idx} \
                    if getattr(agent, "needs_history", False) else {}
                actions[rows] = agent.act(g.take(idx), streams=streams.take(2 * idx + side[rows]), **kw)
                continue
            for r, i in zip(rows, idx):
                who = "black" if side[r] == 0 else "white"
                try:
                    actions[r] = int(agent.act(single[i])[0])
                except Resign:
                    out[r] = (f"resign: {who}", float(side[r]))  # black resigning scores 0
                except AgentError as e:
                    out[r] = (f"forfeit: {who}: {e}", float(side[r]))
        ok = (actions >= 0) & (actions < g.num_actions)
        ok[ok] = g.legal_mask()[live[ok], actions[ok]]
        for r in np.flatnonzero(~ok):
            i, a = live[r], int(actions[r])
            if r in out:
                yield record(i, *out[r])
                continue
            who = "black" if side[r] == 0 else "white"
            move = g.move_str(a) if 0 <= a <= size * size else str(a)
            yield record(i, f"forfeit: {who}: illegal move {move}", float(side[r]))
        rows = live[ok]
        if rows.size:
            g.put(rows, g.take(rows).step(actions[ok]))
        for i, a in zip(rows, actions[ok]):
            history[i].append(int(a))
            if i in single:
                single[i].play(int(a))


def scores(records, n, a_black):
    """``float[n]``: the score of player A per game (+1 win, 0 draw, -1 loss) from :func:`play`'s
    records, A being black where ``a_black: bool[n]``."""
    out = np.zeros(n)
    for i, rec in records:
        r = 2 * rec["result"] - 1
        out[i] = r if a_black[i] else -r
    return out


def match(a, b, game, size, games, seed=0, openings=None, **game_kwargs):
    """``a`` against ``b`` over ``games`` games at once, ``a`` black in the even games and white in the
    odd ones; game ``2k`` and ``2k + 1`` share ``openings[k]`` (default: :func:`balanced_openings` of
    ``OPENING_PLIES[game]`` plies, drawn with ``seed``; when there are fewer distinct ones than pairs of
    games, they are played again in turn), so every opening is played with both colours and two
    deterministic players do not replay one game. Returns ``a``'s score per game, ``float[games]``."""
    if openings is None:
        openings = balanced_openings(game, size, (games + 1) // 2, OPENING_PLIES[game], seed, fewer=True,
                                     **game_kwargs)
    ops = [openings[(k // 2) % len(openings)] if openings else [] for k in range(games)]
    a_black = np.arange(games) % 2 == 0
    black = [a if x else b for x in a_black]
    white = [b if x else a for x in a_black]
    seeds = [seed * 100_003 + k for k in range(games)]
    return scores(play(black, white, game, size, ops, seeds, **game_kwargs), games, a_black)


_OPENINGS = {}  # (game, size, n, plies, seed, balance, kwargs) -> openings: gauntlets ask again and again


def balanced_openings(game, size, n, plies, seed=0, balance=0.3, candidates=4, simulations=1000, fewer=False,
                      **game_kwargs):
    """``n`` distinct random openings of ``plies`` plies (lists of actions), the most balanced first among
    those within ``balance`` of even by a rollout search of ``simulations``; from ``candidates * n`` random
    ones, deterministic in ``seed`` (tournaments, ladders, gauntlets and gates open with them). ``n = 0``:
    none. Fewer distinct ones than ``n`` are a ``ValueError``, or with ``fewer`` all there are."""
    if n <= 0:
        return []
    key = (game, size, n, plies, seed, balance, candidates, simulations, fewer, tuple(sorted(game_kwargs.items())))
    if key in _OPENINGS:
        return [list(o) for o in _OPENINGS[key]]
    rng = np.random.default_rng([seed, 0x0BE2])
    want = n * candidates
    moves, g = random_openings(game, size, want, plies, rng, seed=seed, **game_kwargs)
    seen, keep = set(), []
    for b in range(want):
        if tuple(moves[b]) not in seen and not g.terminal[b]:
            seen.add(tuple(moves[b]))
            keep.append(b)
    if balance < 1 and keep:
        value = MCTS(RolloutEvaluator(1, seed=seed), SearchConfig(simulations=simulations), seed=seed) \
            .search(g.take(np.array(keep))).value
        order = np.argsort(np.abs(value), kind="stable")
        fine = [keep[i] for i in order if abs(value[i]) <= balance]
        keep = fine + [keep[i] for i in order if abs(value[i]) > balance]  # the closest if too few
    if len(keep) < n and not (fewer and keep):
        raise ValueError(f"only {len(keep)} distinct openings of {plies} plies; ask for fewer")
    out = [list(moves[b]) for b in keep[:n]]
    _OPENINGS[key] = out
    return [list(o) for o in out]
