"""``arena transcripts``: a transcript dataset (agents.common.transcripts) from a source named in one string.

    random              a uniformly random legal move at every ply, in Numba (as Othello-GPT)
    selfplay:RUN        fresh games of a training run's newest net (agents.alphazero.selfplay.selfplay_games)
    gtp:COMMAND         an outside engine's games with their results, resumable in OUT/games (arena.engine_games)
    tournament:DIR      a tournament's games with their results (arena.tournament.results.tournament_games)
    wthor:FILE[,FILE]   WTHOR .wtb files, 8x8 Othello

The dataset format and the sources that need nothing above it (random, WTHOR) live in
agents.common.transcripts; the sources that play agents or read the arena's logs are named here, above
both, and handed to it as batches.
"""

import os

from agents.alphazero.selfplay import selfplay_games
from agents.common import transcripts as T
from agents.common.tokenizer import Tokenizer
from arena.engine_games import engine_games, engine_tournament
from arena.tournament import tournament_games

SOURCES = "random, selfplay:RUN, gtp:COMMAND, tournament:DIR or wthor:FILE[,FILE...]"


def source_batches(source, game, size, games, seed, out, simulations=32, levels="", opening_plies=None, workers=2,
                   address=None, compute=None):
    """The batches of ``source`` (see the module docstring) for a dataset in ``out``, and the number of games
    they hold when it is known before they are made (else None). ``games``, ``seed`` and ``simulations``
    size the sources that play; ``levels``, ``opening_plies``, ``workers`` and ``address`` are the gtp
    source's (arena.engine_games.engine_tournament). ``compute`` (a dict) gets what the playing sources
    spent. Nothing is played until the batches are read."""
    kind, _, arg = source.partition(":")
    total = None
    if kind == "random":
        batches, total = T.random_source(game, size, games, seed), games
    elif kind == "selfplay" and arg:
        played = selfplay_games(arg, game, size, games, seed, simulations, compute=compute)
        batches, total = map(T.lists_to_batch, played), games
    elif kind == "gtp" and arg:
        tcfg = engine_tournament(arg, game, size, games, levels or "", opening_plies, workers, seed=seed)
        batches = engine_games(tcfg, os.path.join(out, "games"), address=address, compute=compute)
    elif kind == "tournament" and arg:
        batches = tournament_games(arg, game, size)
    elif kind == "wthor" and arg:
        if (game, size) != ("othello", 8):
            raise ValueError("WTHOR files hold 8x8 Othello games")
        batches = T.wthor_source([p for p in arg.split(",") if p])
    else:
        raise ValueError(f"unknown --source {source!r}; use {SOURCES}")
    if levels and kind != "gtp":
        raise ValueError("--levels applies to --source gtp:COMMAND only")
    return batches, total


def write_transcripts(out, source="random", game="othello", size=None, games=100_000, seed=0, val_fraction=0.05,
                      permute=None, simulations=32, levels="", opening_plies=None, workers=2, address=None):
    """Make the dataset of ``source`` in ``out`` (which must not hold one yet); ``size`` defaults to 8 for
    Othello and 9 for Go, ``permute`` (a seed) reshuffles the move ids (the nominal-token control) and
    keeps the games and their split. Returns the manifest."""
    size = size or (8 if game == "othello" else 9)
    if games < 1 or simulations < 1:
        raise ValueError("--games and --simulations must be at least 1")
    if not 0 < val_fraction < 1:
        raise ValueError("--val-fraction must be between 0 and 1")
    tok = Tokenizer(game, size) if permute is None else Tokenizer.permuted(game, size, permute)
    compute = {}
    batches, total = source_batches(source, game, size, games, seed, out, simulations, levels, opening_plies,
                                    workers, address, compute)
    return T.write_dataset(out, tok, batches, source, seed, val_fraction, total=total, compute=compute)
