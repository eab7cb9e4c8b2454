"""Engine games for ``arena transcripts --source gtp:COMMAND``: an outside engine's games over GTP, at one
level or at mixed levels, with their results: the data of the engine bootstrap (AlphaGo's supervised
start, ``arena train --init-transcripts DATA``).

    arena transcripts --game go --source gtp:gnugo --levels 1-10 --games 4000 --out data/go9_gnugo
    arena transcripts --source "gtp:/usr/games/gtp-rhino -l {level} -r 2" --levels 1-3 --games 2000 --out DIR

The games are an ordinary round-robin tournament (arena.tournament) kept in ``OUT/games``: one player per
level (``{level}`` in the command is replaced; ``gnugo`` and ``gtp-rhino`` name the ladder's commands for
those engines, arena.ladder.ENGINES), every pair of levels meeting equally often with colours alternating,
from random openings of ``opening_plies`` plies kept whatever their balance (variety is the point; each
is played with both colours by every pair). With one level, two copies of the engine play each other.
The games run in parallel as Ray tasks (``workers``; 0 plays them in this process), are appended as each
ends, and a rerun plays only the missing ones. The dataset holds every finished game of the log: a
Ctrl-C (SIGINT) or SIGTERM stops the games and writes it from those finished so far. Forfeited games (an engine
that crashed or did not answer in time) stay in the tournament's log but are left out of the dataset.
"""

import math
import os
import signal
import threading

from agents.common import cluster
from arena.ladder import ENGINES, level_set, parse_levels
from arena.tournament import TournamentConfig, game_result, make_openings, read_games, records_batch, run_tournament

# Random plies before the engines take over: many distinct openings (8x8 Othello has 390,216 move
# sequences of 8 plies; 9x9 Go more than 40 million of 4), so deterministic engines do not replay a game.
OPENING_PLIES = {"othello": 8, "go": 4}
# Openings made whatever --games says (game k of a pair plays opening k // 2), so that a rerun asking for
# more or fewer games resumes the same tournament.
OPENINGS = 5000


def engine_players(command, levels, game):
    """``NAME=SPEC`` players of an engine command: one per level when the command holds ``{level}`` (or
    names an engine of arena.ladder.ENGINES), else two copies of the one command."""
    command = command.strip()
    if not command:
        raise ValueError("--source gtp: needs a command (gtp:gnugo, gtp:gtp-rhino or gtp:/path/to/engine ...)")
    prefix = "engine"
    if command in ENGINES:
        eng = ENGINES[command]
        if eng.game != game:
            raise ValueError(f"{command} plays {eng.game}, not {game}")
        prefix, command = eng.prefix, eng.spec("{level}", eng.resolve())[len("gtp:"):]
        levels = levels or eng.default_levels
        level_list = parse_levels(levels, eng)
    elif "{level}" in command:
        if not levels:
            raise ValueError("the command holds {level}: give --levels (1-5, 1,3,5 ...)")
        level_list = level_set(levels)
    else:
        if levels:
            raise ValueError("--levels needs {level} in the command (or gtp:gnugo / gtp:gtp-rhino)")
        return (f"{prefix}_a=gtp:{command}", f"{prefix}_b=gtp:{command}")
    if len(level_list) == 1:
        only = command.replace("{level}", str(level_list[0]))
        return (f"{prefix}{level_list[0]}a=gtp:{only}", f"{prefix}{level_list[0]}b=gtp:{only}")
    return tuple(f"{prefix}{lv}=gtp:{command.replace('{level}', str(lv))}" for lv in level_list)


def engine_tournament(command, game, size, games, levels="", opening_plies=None, workers=2, move_timeout=60.0,
                      seed=0, komi=None, openings=OPENINGS):
    """The round-robin tournament that plays ``games`` (at least; rounded up to an even number per pair)
    engine games; see the module docstring."""
    if games < 1:
        raise ValueError("--games must be at least 1")
    players = engine_players(command, levels, game)
    pairs = len(players) * (len(players) - 1) // 2
    per_pair = 2 * math.ceil(games / pairs / 2)
    plies = OPENING_PLIES[game] if opening_plies is None else opening_plies
    cfg = TournamentConfig(game=game, size=size, komi=-1.0 if komi is None else komi, players=players,
                           mode="round_robin", games=per_pair, openings=max(openings, per_pair // 2) if plies else 0,
                           opening_plies=plies, balance=1.0, anchor=players[0].partition("=")[0],
                           workers=workers, move_timeout=move_timeout, seed=seed)
    try:
        make_openings(cfg)  # a board with too few distinct openings of this length fails now, in one line
    except ValueError as e:
        raise ValueError(f"{e.args[0].split(';')[0]} on {game} {size}x{size} (engine games need "
                         f"{cfg.openings}): use more --opening-plies") from None
    return cfg


def engine_games(cfg, out, address=None, log=print, compute=None):
    """Play (or finish) the tournament ``cfg`` in ``out`` and yield its games as one batch of
    ``(actions, lengths, results)`` (agents.common.transcripts), forfeits left out; ``compute`` (a dict)
    gets the games, the forfeits and the engines' seconds."""
    os.makedirs(out, exist_ok=True)
    log(f"engine games: {', '.join(cfg.players)}; {cfg.games} games per pair, {len(cfg.pairs()) * cfg.games} in "
        f"all, from random openings of {cfg.opening_plies} plies, in {out}")
    def stop(*_):
        raise KeyboardInterrupt
    # Ray first (ray.init installs its own SIGTERM handler, which aborts), then our SIGTERM handler: a run
    # in the background, where a shell's & leaves SIGINT ignored, is stopped with kill.
    started = cfg.workers > 0 and cluster.connect(address, namespace=f"arena-engine-games-{os.getpid()}",
                                                  num_cpus=cfg.workers)
    old = signal.signal(signal.SIGTERM, stop) if threading.current_thread() is threading.main_thread() else None
    try:
        run_tournament(cfg, out, address=address, log=lambda *a, **k: None)
    except KeyboardInterrupt:  # keep what is played; a rerun goes on from there
        log("engine games: interrupted; the dataset is written from the games finished so far")
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
        if started:
            import ray  # connected above, so installed

            ray.shutdown()
    recs = read_games(out)
    kept = [r for r in recs if not math.isnan(game_result(r))]  # NaN: a forfeit
    if compute is not None:
        compute.update({"engine_games": len(kept), "forfeits": len(recs) - len(kept), "players": list(cfg.players),
                        "engine_seconds": round(sum(r["seconds"] for r in recs), 1)})
    log(f"engine games: {len(kept)} finished, {len(recs) - len(kept)} forfeited (left out)")
    yield records_batch(kept, cfg)
