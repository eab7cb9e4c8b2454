"""The one config of ``arena tournament``. Loaded from YAML (``configs/tournament_*.yaml``), overridable
with ``--set key=value``, written to the results directory (``tournament.json``) and checked on resume."""

import json
import os
import re
from dataclasses import dataclass

NAME = re.compile(r"^[^\s|]+$")


@dataclass(frozen=True)
class TournamentConfig:
    game: str = "othello"
    """``othello`` or ``go``."""
    size: int = 8
    """Board size (Othello 4/6/8, Go 2-19)."""
    komi: float = -1.0
    """Go komi; -1 takes the size's default (7.5 on 9x9)."""
    players: tuple[str, ...] = ("random=random", "greedy=greedy")
    """``NAME=SPEC`` items (a YAML mapping NAME: SPEC works too); a bare SPEC is its own name. Specs:
    random, greedy, mcts:rollouts=N, az:CHECKPOINT[,sims=N], seq:CHECKPOINT, gtp:COMMAND (arena.specs)."""
    mode: str = "round_robin"
    """``round_robin`` (every pair meets) or ``gauntlet`` (``focus`` meets every other player)."""
    focus: str = ""
    """Gauntlet mode: the player who meets all the others, or several, comma-separated (each meets
    everyone; two players outside the focus never meet)."""
    games: int = 20
    """Games per pair, colours alternating (make it even so each side has both colours equally)."""
    openings: int = 0
    """0: every game from the start position. N > 0: N distinct random openings of ``opening_plies`` plies,
    each played twice per pair with colours swapped, so deterministic agents do not replay one game."""
    opening_plies: int = 4
    """Plies of a random opening."""
    balance: float = 0.3
    """Keep only openings whose value, by a 2000-simulation rollout search, is within this of even
    (values in [-1, 1]); 1 keeps all."""
    anchor: str = "random"
    """The player whose rating is fixed."""
    anchor_rating: float = 0.0
    """The anchor's rating (Elo)."""
    prior_draws: float = 1.0
    """Virtual draws added to every pair that met, so perfect scores get a finite rating (BayesElo)."""
    workers: int = 2
    """Ray tasks run at once (a local Ray instance unless --address), each playing one chunk of
    ``batch_games`` games; 0 plays the chunks one after another in this process, without Ray. The games
    are the same with any number."""
    batch_games: int = 32
    """Games of one pair played at once in one batch (one Ray task): each pair's games, in order, are cut
    into chunks of this many, and each player acts once per ply on all the games of a chunk where it is to
    move (one search or forward pass). 1 plays one game per task. Baseline players' games are the same at
    any value; a network's can differ in the last bits with its batch, so for ``az:`` players this, not the
    number of workers, fixes the games. Pairs with a ``gtp:`` player are played one game per task whatever
    this says."""
    move_timeout: float = 60.0
    """Seconds a GTP engine may take for one answer before it forfeits the game."""
    seed: int = 0
    """Seeds the openings and every game (agents are reset with a per-game seed)."""

    def __post_init__(self):
        if self.game not in ("othello", "go"):
            raise ValueError(f"game must be othello or go, got {self.game!r}")
        if self.mode not in ("round_robin", "gauntlet"):
            raise ValueError(f"mode must be round_robin or gauntlet, got {self.mode!r}")
        for key in ("games", "openings", "opening_plies", "workers"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)}")
        if self.games < 1:
            raise ValueError("games must be at least 1")
        if self.batch_games < 1:
            raise ValueError(f"batch_games must be at least 1, got {self.batch_games}")
        if self.move_timeout <= 0:
            raise ValueError("move_timeout must be positive")
        names = list(self.roster())
        if len(names) < 2:
            raise ValueError("a tournament needs at least two players")
        if self.anchor not in names:
            raise ValueError(f"anchor {self.anchor!r} is not a player; players: {', '.join(names)}")
        if self.mode == "gauntlet" and (not self.focus_players() or set(self.focus_players()) - set(names)):
            raise ValueError(f"gauntlet mode needs focus set to players (comma-separated); players: {', '.join(names)}")

    def roster(self):
        """``{name: spec}`` in the config's order; names must be unique and plain."""
        out = {}
        for item in self.players:
            head, sep, tail = item.partition("=")
            name, spec = (head.strip(), tail.strip()) if sep and ":" not in head else (item.strip(), item.strip())
            if not NAME.match(name):
                raise ValueError(f"player name {name!r} must not contain spaces or | (write NAME=SPEC)")
            if name in out:
                raise ValueError(f"player name {name!r} appears twice")
            out[name] = spec
        return out

    def focus_players(self):
        return [f.strip() for f in self.focus.split(",") if f.strip()]

    def pairs(self):
        names = list(self.roster())
        if self.mode == "gauntlet":
            focus = set(self.focus_players())
            return [(a, b) if a < b else (b, a) for i, a in enumerate(names) for b in names[i + 1:]
                    if a in focus or b in focus]
        return [(a, b) if a < b else (b, a) for i, a in enumerate(names) for b in names[i + 1:]]

    def komi_value(self):
        return None if self.game != "go" or self.komi == -1 else self.komi

    @classmethod
    def from_dict(cls, d):
        """The config back from its JSON form (lists become the tuples the fields declare; ``resolved``, the
        players as built, which tournament.json keeps beside the config, is left out)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k != "resolved"})

    @classmethod
    def from_results(cls, out):
        """The config a results directory was made with (its ``tournament.json``); one-line errors."""
        path = os.path.join(out, "tournament.json")
        if not os.path.exists(path):
            raise ValueError(f"{out} is not a tournament results directory (no tournament.json)")
        try:
            with open(path) as f:
                return cls.from_dict(json.load(f))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path} is not a tournament config: {e}") from None

