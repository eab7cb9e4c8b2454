"""The recorded games ``arena serve`` shows: the tournament and ladder results directories under one root
(``--games DIR``; a ladder's OUT is a tournament directory too), read without writing (a tournament may
still be appending to them).

A directory is named by its path relative to the root, and a request can only pick one of the names
:meth:`Records.directories` found: no path from a request is ever joined to the root, so none reaches
outside it. A directory whose files cannot be read is skipped, and said why, without hiding the
others. The boards of a game are the static viewer's (``arena.tournament.viewer.game_data``): our
rules engine's, one string per ply.
"""

import os

from arena.serve.sessions import Refused, one_line
from arena.tournament.config import TournamentConfig
from arena.tournament.records import game_order, result_string
from arena.tournament.results import read_games
from arena.tournament.viewer import game_data
from envs.game import Game

MAX_DEPTH = 3      # directory levels searched under the root
MAX_DIRS = 500     # results directories listed
SKIP = {".git", "__pycache__", "node_modules", "checkpoints", "sgf", "tensorboard"}
BAD_FILE = (ValueError, KeyError, TypeError, AttributeError, IndexError, OSError)  # what a malformed file raises


class Records:
    def __init__(self, root):
        self.root = os.path.realpath(root) if root else None

    def directories(self):
        """``[{"name", "game", "size", "games"}]``: every readable results directory (:meth:`scan`)."""
        return self.scan()[0]

    def scan(self):
        """``(found, skipped)``. ``found``: ``[{"name", "game", "size", "games"}]``, every results directory
        (``tournament.json`` beside ``games.jsonl``) at most ``MAX_DEPTH`` levels under the root, the root
        itself included; ``skipped``: ``[{"name", "error"}]``, those whose ``tournament.json`` is not a
        tournament's config (one line each)."""
        if self.root is None or not os.path.isdir(self.root):
            return [], []
        found, skipped = [], []
        for here, dirs, files in os.walk(self.root):
            depth = os.path.relpath(here, self.root).count(os.sep) + (here != self.root)
            dirs[:] = sorted(d for d in dirs if d not in SKIP and not d.startswith(".")) if depth < MAX_DEPTH else []
            if "tournament.json" in files:
                name = os.path.relpath(here, self.root).replace(os.sep, "/")
                try:
                    cfg = TournamentConfig.from_results(here)
                except Exception as e:  # whatever one directory holds, the others are still listed
                    skipped.append({"name": name, "error": one_line(f"{type(e).__name__}: {e}", 200)})
                    continue
                found.append({"name": name, "game": cfg.game, "size": cfg.size, "games": _count(here)})
                if len(found) >= MAX_DIRS:
                    break
        return found, skipped[:MAX_DIRS]

    def _dir(self, name):
        for d in self.directories():
            if d["name"] == name:
                return os.path.join(self.root, name) if name != "." else self.root
        raise Refused(404, f"no results directory {str(name)[:80]!r} under the games root")

    def games(self, name):
        """A directory's games, in the viewer's order (by pair, then index): their players and results."""
        path = self._dir(name)
        cfg, games = self._read(path)
        return {"name": name, "game": cfg.game, "size": cfg.size, "komi": cfg.komi_value(),
                "games": [{"i": i, "id": r["id"], "black": r["black"], "white": r["white"],
                           "result": result_string(r), "reason": r["reason"], "plies": len(r["moves"])}
                          for i, r in enumerate(games)]}

    def game(self, name, i):
        """Game ``i`` of a directory (its index in :meth:`games`), with the board after every ply."""
        path = self._dir(name)
        cfg, games = self._read(path)
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(games):
            raise Refused(404, f"no game {str(i)[:20]!r} in {name!r} ({len(games)} games)")
        try:
            data = game_data(games[i], cfg.game, cfg.size, cfg.komi_value())
        except BAD_FILE as e:
            raise Refused(400, f"game {i} of {name!r} cannot be replayed: {type(e).__name__}: {one_line(e)}") from None
        komi = Game(cfg.game, cfg.size, komi=cfg.komi_value()).batch.komi if cfg.game == "go" else None
        return {"name": name, "i": i, "game": cfg.game, "size": cfg.size, "komi": komi, **data}

    @staticmethod
    def _read(path):
        try:
            cfg = TournamentConfig.from_results(path)
            return cfg, game_order(read_games(path, repair=False))
        except BAD_FILE as e:
            raise Refused(400, f"cannot read {os.path.basename(path)}: {type(e).__name__}: {one_line(e)}") from None


def _count(path):
    try:
        with open(os.path.join(path, "games.jsonl"), "rb") as f:
            return sum(1 for line in f if line.endswith(b"\n") and line.strip())  # a torn last line is no game
    except OSError:
        return 0
