"""Game records of a tournament: SGF files for Go (via sgfmill), standard transcripts for Othello (one
game per line, passes not written), and ``records.jsonl`` beside them naming the players and the result
of each line or file."""

import json
import os
import re

from agents.common.files import atomic_write
from envs.game import Game


def result_string(rec):
    """SGF-style result: ``B+12``, ``W+3.5``, ``0`` (draw), ``B+R`` (white resigned), ``W+F`` (forfeit)."""
    if rec["reason"] == "end":
        m = rec["margin"]
        return "0" if m == 0 else f"{'B' if m > 0 else 'W'}+{abs(m):g}"
    winner = "B" if rec["result"] == 1 else "W"
    return f"{winner}+{'R' if rec['reason'].startswith('resign') else 'F'}"


def game_order(games):
    """Games sorted by pair, then by their index in the pair."""
    return sorted(games, key=lambda g: (g["pair"][0], g["pair"][1], g["k"]))


def safe(name):
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)[:40]


def replay(rec, game, size, komi=None):
    return Game(game, size, komi=komi if game == "go" else None).play_all(rec["moves"])


def write_records(cfg, out, games):
    games = game_order(games)
    index = []
    if cfg.game == "go":
        d = os.path.join(out, "sgf")
        os.makedirs(d, exist_ok=True)
        for i, rec in enumerate(games):
            fname = f"{i:05d}_{safe(rec['black'])}_vs_{safe(rec['white'])}.sgf"
            g = replay(rec, cfg.game, cfg.size, cfg.komi_value())
            with open(os.path.join(d, fname), "wb") as f:
                f.write(g.to_sgf(rec["black"], rec["white"], result=result_string(rec)))
            index.append({"file": f"sgf/{fname}", **_entry(rec)})
    else:
        for i, rec in enumerate(games):
            index.append({"line": i + 1, **_entry(rec), "transcript": replay(rec, cfg.game, cfg.size).transcript()})
        atomic_write(os.path.join(out, "transcripts.txt"), "".join(e["transcript"] + "\n" for e in index))
    atomic_write(os.path.join(out, "records.jsonl"), "".join(json.dumps(e) + "\n" for e in index))


def _entry(rec):
    return {"id": rec["id"], "black": rec["black"], "white": rec["white"], "result": result_string(rec),
            "reason": rec["reason"], "plies": rec["plies"], "opening_moves": rec.get("opening_moves", 0)}
