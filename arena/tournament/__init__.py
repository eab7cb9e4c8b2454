"""Tournaments (``arena tournament``, ``ratings``, ``view``), one module per concern, each importing only
those on the lines below it (import-linter holds it: pyproject.toml):

    run        the schedule, the openings, games in batches and in parallel as Ray tasks, resuming
    report     the outputs written at the end: ratings (md, csv, json, png), records and the viewer
    viewer     the static HTML viewer (``viewer.html`` is its page)
    results    the games log (``games.jsonl``)  |  records  SGF and transcripts  |  ratings  the Elo fit
    config     the one config, ``TournamentConfig``
"""

from arena.tournament.config import NAME, TournamentConfig
from arena.tournament.report import rewrite_outputs, write_outputs
from arena.tournament.results import game_result, read_games, records_batch, tournament_games
from arena.tournament.run import chunks, close_agents, make_openings, run_parallel, run_tournament, schedule
from arena.tournament.viewer import view

__all__ = ["NAME", "TournamentConfig", "rewrite_outputs", "write_outputs", "game_result", "read_games",
           "records_batch", "tournament_games", "chunks", "close_agents", "make_openings", "run_parallel",
           "run_tournament", "schedule", "view"]
