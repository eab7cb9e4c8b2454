"""A static, self-contained HTML viewer of recorded games: ``arena view RESULTS_DIR`` writes
``RESULTS_DIR/viewer.html`` (open it in any browser; no server, no network). Boards after every ply are
computed here by our rules engine and embedded as strings (``x`` black, ``o`` white, ``.`` empty), so the
page needs no rules of its own. ``#g=3&ply=10`` in the address opens game 3 (0-based) at ply 10."""

import json
import os

from agents.common.files import atomic_write
from arena.tournament.config import TournamentConfig
from arena.tournament.records import game_order, replay, result_string
from arena.tournament.results import read_games
from envs.game import Game

TEMPLATE = os.path.join(os.path.dirname(__file__), "viewer.html")


def board_string(game):
    return "".join(".xo"[int(v)] for v in (game.cells().reshape(-1) % 3))


def game_data(rec, game, size, komi=None):
    g = Game(game, size, komi=komi if game == "go" else None)
    boards = [board_string(g)]
    for m in rec["moves"]:
        g.play(m)
        boards.append(board_string(g))
    return {"id": rec["id"], "black": rec["black"], "white": rec["white"], "result": result_string(rec),
            "reason": rec["reason"], "moves": rec["moves"], "actions": list(g.history), "boards": boards,
            "opening": rec.get("opening_moves", 0)}


def write_viewer(out, game, size, games, komi=None):
    """Write ``out/viewer.html`` for ``games`` (records as in games.jsonl); returns its path."""
    data = {"game": game, "size": size, "komi": replay({"moves": []}, game, size, komi).batch.komi
            if game == "go" else None, "games": [game_data(r, game, size, komi) for r in game_order(games)]}
    with open(TEMPLATE) as f:
        html = f.read()
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")  # cannot close the script tag
    path = os.path.join(out, "viewer.html")
    atomic_write(path, html.replace("/*DATA*/", blob))
    return path


def view(out):
    """Rebuild the viewer from a results directory's ``tournament.json`` and ``games.jsonl``."""
    cfg = TournamentConfig.from_results(out)
    return write_viewer(out, cfg.game, cfg.size, read_games(out), cfg.komi_value())
