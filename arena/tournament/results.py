"""A tournament's results directory as files: ``tournament.json`` (its config, read by
``TournamentConfig.from_results``) and ``games.jsonl``, one finished game per line, appended as each
ends and read back on a resume, by ``arena ratings`` and ``arena view``, and as a transcript source."""

import json
import os

from agents.common.files import atomic_write
from agents.common.transcripts import lists_to_batch
from arena.tournament.config import TournamentConfig
from envs.game import Game


def read_games(out, repair=True):
    """Finished games from ``games.jsonl``; a torn last line (a killed run) is dropped, and the file
    rewritten without it unless ``repair`` is False (a reader beside a tournament that may still be
    writing it, such as ``arena serve``)."""
    path = os.path.join(out, "games.jsonl")
    games = []
    if not os.path.exists(path):
        return games
    with open(path) as f:
        lines = f.read().split("\n")
    good = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            games.append(json.loads(line))
            good.append(line)
        except json.JSONDecodeError:
            if i < len(lines) - 2:
                raise ValueError(f"{path}: line {i + 1} is not JSON (edit or remove it)") from None
    if repair and len(good) != sum(1 for line in lines if line.strip()):
        atomic_write(path, "".join(g + "\n" for g in good))
    return games


def append_game(out, rec):
    """Append one finished game and flush it to disk before the next begins."""
    with open(os.path.join(out, "games.jsonl"), "a") as f:
        f.write(json.dumps(rec) + "\n")
        f.flush()
        os.fsync(f.fileno())


def game_result(rec):
    """Black's score in a finished game's record for learning from (a result of the rules or a
    resignation), or NaN when the game was forfeited (an engine's crash or timeout is not a result)."""
    if rec["result"] is None or str(rec["reason"]).startswith("forfeit"):
        return float("nan")
    return float(rec["result"])


def tournament_games(path, game, size):
    """The games of a results directory for ``arena transcripts --source tournament:DIR``: yields one
    batch (agents.common.transcripts.lists_to_batch) of them, passes included, with black's score (NaN
    for a forfeit). Refused when the tournament is another game or size."""
    cfg = TournamentConfig.from_results(path)
    if (cfg.game, cfg.size) != (game, size):
        raise ValueError(f"{path} holds {cfg.game} {cfg.size}x{cfg.size} games, not {game} {size}x{size}")
    yield records_batch(read_games(path), cfg)


def records_batch(recs, cfg):
    """Finished games' records of the tournament ``cfg`` as one transcript batch (agents.common.transcripts
    ``lists_to_batch``): actions, passes included, and black's score (:func:`game_result`)."""
    kw = {"komi": cfg.komi_value()} if cfg.game == "go" else {}
    return lists_to_batch([Game(cfg.game, cfg.size, **kw).play_all(r["moves"]).history for r in recs],
                          [game_result(r) for r in recs])
