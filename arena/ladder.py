"""The ladder: one agent against an engine's levels in order, until it scores under 25% at one.

    arena ladder --agent az:othello8 --engine gtp-rhino --levels 1-5 --games 20

The ladder is a gauntlet tournament (arena.tournament) whose roster grows by one level at a time: the
agent is the focus, level L of the engine plays as the player ``rhino{L}`` (``gnugo{L}``), and each level
is one ``run_tournament`` call with the levels reached so far, so only the new level's games are played.
The results directory is therefore an ordinary tournament's (``tournament.json``, ``openings.json``,
``games.jsonl``, ratings, records, viewer): a rerun of the same command skips the finished games and
decides again, from the log, where the ladder stops; ``arena ratings OUT`` and ``arena view OUT`` work on
it. The ratings are one Bradley-Terry fit over all the ladder's games with the first level anchored at 0,
so the agent and every level it reached are on one scale. Beside them the ladder writes:

    ladder.json   per level: games, wins/draws/losses, score, its 95% Wilson interval, Elo with its 95%
                  interval, whether the ladder stopped there; the agent's Elo; the config
    ladder.md     the same as a markdown table

A level's score counts every game of the agent against it in the log (as the ratings do), so a rerun
with fewer ``games`` than an earlier run still sees the earlier games.
"""

import math
import os
import re
import shutil
from dataclasses import asdict, dataclass

from agents.common import cluster
from agents.common.files import atomic_write, write_json
from agents.players import wilson
from arena.specs import make_agent
from arena.tournament import NAME, TournamentConfig, read_games, run_tournament, schedule
from envs.go_kernels import default_komi

# -- engines and their levels --------------------------------------------------------------------------

@dataclass(frozen=True)
class Engine:
    """An engine with levels, as ``--engine`` names it. ``spec(level)`` is the arena spec of one level."""
    name: str
    """The name ``--engine`` takes."""
    prefix: str
    """Level L plays as the player ``{prefix}{L}``."""
    binary: str | None
    """The program that must be installed (looked up on PATH by its base name when not at this path);
    None for an engine that is no outside program (the tests' levels of baseline players)."""
    package: str
    """The Debian package that installs it, for the error when it is missing."""
    template: str
    """The spec of a level, ``{binary}`` and ``{level}`` filled in."""
    game: str
    size: int
    """The default board size."""
    sizes: tuple[int, ...]
    """The board sizes it plays (``--size``)."""
    levels: tuple[int, ...]
    """The levels it accepts, weakest first."""
    default_levels: str
    """The levels a ladder climbs when it is not told."""
    opening_plies: int
    """Plies of a random opening (as the shipped tournament configs of this game)."""

    def resolve(self):
        """The engine's program: its path, or a one-line ``ValueError`` saying how to install it."""
        if self.binary is None:
            return None
        if os.path.exists(self.binary):
            return self.binary
        found = shutil.which(os.path.basename(self.binary))
        if found:
            return found
        raise ValueError(f"{self.name} is not installed: no {self.binary} and no {os.path.basename(self.binary)} "
                         f"on PATH (apt-get install {self.package})")

    def spec(self, level, binary=None):
        return self.template.format(binary=binary or self.binary, level=level)

    def player(self, level):
        return f"{self.prefix}{level}"


# The GNU Go options are configs/tournament_go9.yaml's: area scoring, every dead stone captured before it
# passes (so our Tromp-Taylor count is fair), a fixed seed. Komi is the size's (7.5 on 9x9), sent by GTP.
ENGINES = {
    "gtp-rhino": Engine("gtp-rhino", "rhino", "/usr/games/gtp-rhino", "grhino", "gtp:{binary} -l {level}",
                        "othello", 8, (8,), tuple(range(1, 6)), "1-5", 4),
    "gnugo": Engine("gnugo", "gnugo", "/usr/games/gnugo", "gnugo",
                    "gtp:{binary} --mode gtp --level {level} --chinese-rules --capture-all-dead --seed 1",
                    "go", 9, tuple(range(2, 20)), tuple(range(11)), "1-10", 2),
}


def parse_levels(text, engine):
    """``"1-5"``, ``"1,3,5"``, ``"2-3,5"`` -> sorted distinct levels, each one the engine accepts."""
    levels = set(level_set(text))
    bad = sorted(levels - set(engine.levels))
    if bad:
        raise ValueError(f"{engine.name} has levels {engine.levels[0]}-{engine.levels[-1]}, not "
                         f"{', '.join(map(str, bad))}")
    return sorted(levels)


def level_set(text):
    """``"1-5"``, ``"1,3,5"``, ``"2-3,5"`` -> sorted distinct levels (any engine's)."""
    levels = set()
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise ValueError(f"bad levels {text!r}: write them as 1-5, 1,3,5 or 2-3,5")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ValueError(f"bad levels {text!r}: {lo}-{hi} runs downwards")
        levels.update(range(lo, hi + 1))
    return sorted(levels)


def split_agent(agent):
    """``NAME=SPEC`` or a bare ``SPEC`` (then named ``agent``) -> ``(name, spec)``."""
    head, sep, tail = str(agent).partition("=")
    if sep and ":" not in head and NAME.match(head.strip()) and tail.strip():
        return head.strip(), tail.strip()
    if not str(agent).strip():
        raise ValueError("give the agent a spec (--agent az:runs/x,sims=32, mcts:rollouts=200, ...)")
    return "agent", str(agent).strip()


# -- the config ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LadderConfig:
    agent: str
    """The agent's spec (arena.specs), or ``NAME=SPEC``; a bare spec plays as ``agent``."""
    engine: str = "gtp-rhino"
    """The engine whose levels it climbs: a name in ``ENGINES`` (gtp-rhino: 8x8 Othello; gnugo: 9x9 Go)."""
    levels: str = ""
    """The levels, played weakest first: ``1-5``, ``1,3,5``; empty: the engine's default (gtp-rhino 1-5,
    GNU Go 1-10)."""
    games: int = 20
    """Games against each level, colours alternating."""
    size: int = 0
    """Board size; 0 takes the engine's (gtp-rhino plays 8x8 only; GNU Go 2-19)."""
    openings: int = -1
    """Balanced random openings, each played with both colours; -1: half the games (none repeated), 0: every
    game from the start position."""
    balance: float = 0.3
    """Keep openings within this of even by a rollout search (arena.tournament.make_openings); 1 keeps all."""
    stop_below: float = 0.25
    """The ladder stops after the first level where the agent's score is under this."""
    workers: int = 2
    """Ray tasks at once, each one game (engines see one game at a time); 0 plays in this process, without Ray."""
    move_timeout: float = 60.0
    """Seconds an engine (or the agent) may take for one GTP answer before it forfeits the game."""
    seed: int = 1
    """Seeds the openings and every game."""

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; use one of: {', '.join(ENGINES)}")
        eng = ENGINES[self.engine]
        self.level_list()
        name, _ = split_agent(self.agent)
        if name in {eng.player(level) for level in eng.levels}:
            raise ValueError(f"the agent's name {name!r} is a level's; name it otherwise (NAME=SPEC)")
        if self.size and self.size not in eng.sizes:
            raise ValueError(f"{eng.name} plays {eng.game} on sizes {', '.join(sizes_text(eng.sizes))}, "
                             f"not {self.size}")
        if self.games < 1:
            raise ValueError(f"games must be at least 1, got {self.games}")
        if self.openings < -1:
            raise ValueError(f"openings must be -1 (half the games), 0 or more, got {self.openings}")
        if not 0 <= self.balance <= 1:
            raise ValueError(f"balance must be between 0 and 1, got {self.balance}")
        if not 0 < self.stop_below <= 1:
            raise ValueError(f"stop_below must be in (0, 1], got {self.stop_below}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")

    def eng(self):
        return ENGINES[self.engine]

    def board(self):
        return self.size or self.eng().size

    def level_list(self):
        return parse_levels(self.levels or self.eng().default_levels, self.eng())

    def tournament(self, reached, binary=None):
        """The gauntlet of the agent against the ``reached`` levels, the first level anchored at 0."""
        eng = self.eng()
        name, spec = split_agent(self.agent)
        players = (f"{name}={spec}", *(f"{eng.player(lv)}={eng.spec(lv, binary)}" for lv in reached))
        return TournamentConfig(game=eng.game, size=self.board(), players=players, mode="gauntlet", focus=name,
                                games=self.games, openings=math.ceil(self.games / 2) if self.openings < 0
                                else self.openings, opening_plies=eng.opening_plies, balance=self.balance,
                                anchor=eng.player(self.level_list()[0]), workers=self.workers,
                                move_timeout=self.move_timeout, seed=self.seed)


def sizes_text(sizes):
    """(2, 3, ..., 19) -> ["2-19"]; (8,) -> ["8"]."""
    if len(sizes) > 2 and list(sizes) == list(range(sizes[0], sizes[-1] + 1)):
        return [f"{sizes[0]}-{sizes[-1]}"]
    return [str(s) for s in sizes]


# -- playing -------------------------------------------------------------------------------------------

def check_ladder(cfg, out, binary):
    """Refuse a results directory that holds another agent's ladder, or another engine's, or no ladder."""
    path = os.path.join(out, "tournament.json")
    if not os.path.exists(path):
        return
    old = TournamentConfig.from_results(out)
    name, spec = split_agent(cfg.agent)
    eng = cfg.eng()
    if old.mode != "gauntlet" or len(old.focus_players()) != 1:
        raise ValueError(f"{out} holds a tournament, not a ladder: use another --out")
    roster = old.roster()
    if old.focus != name or roster.get(name) != spec:
        raise ValueError(f"{out} holds the ladder of {old.focus}={roster.get(old.focus)}, not {name}={spec}: "
                         f"use another --out")
    levels = {eng.player(lv): eng.spec(lv, binary) for lv in eng.levels}
    for player, s in roster.items():
        if player != name and levels.get(player) != s:
            raise ValueError(f"{out} holds a ladder against {player}={s}, not {eng.name}'s levels: use another --out")


def level_stats(games, agent, player):
    """The agent's wins, draws and losses against ``player`` in ``games``."""
    w = d = n = 0
    for g in games:
        if {g["black"], g["white"]} != {agent, player}:
            continue
        s = g["result"] if g["black"] == agent else 1 - g["result"]
        n += 1
        w += s == 1
        d += s == 0.5
    return {"games": n, "wins": w, "draws": d, "losses": n - w - d}


def summarise(cfg, reached, rep, games, stopped, binary=None):
    """The ladder's summary (ladder.json) from the last level's rating report and the games."""
    eng, (name, spec) = cfg.eng(), split_agent(cfg.agent)
    rows = {r["player"]: r for r in rep["rows"]}
    levels = []
    for lv in reached:
        player = eng.player(lv)
        st = level_stats(games, name, player)
        score = (st["wins"] + 0.5 * st["draws"]) / st["games"] if st["games"] else None
        r = rows[player]
        anchor = player == rep["anchor"]
        levels.append({"level": lv, "player": player, "spec": eng.spec(lv, binary), **st,
                       "score": None if score is None else round(score, 4),
                       "ci95": [round(x, 4) for x in wilson(st["wins"] + 0.5 * st["draws"], st["games"])],
                       "elo": r["elo"], "elo_ci95": None if anchor else [r["ci95_low"], r["ci95_high"]],
                       "anchor": anchor, "stopped": stopped == lv})
    a = rows[name]
    return {"agent": {"name": name, "spec": spec, "elo": a["elo"], "elo_ci95": [a["ci95_low"], a["ci95_high"]],
                      "games": a["games"], "score": a["score"]},
            "engine": eng.name, "game": eng.game, "size": cfg.board(),
            "komi": default_komi(cfg.board()) if eng.game == "go" else None,
            "games_per_level": cfg.games, "stop_below": cfg.stop_below, "levels": levels,
            "stopped_at": stopped, "not_played": [lv for lv in cfg.level_list() if lv not in reached],
            "anchor": rep["anchor"], "first_mover": rep["first_mover"], "rated_games": rep["games"],
            "prior_draws": rep["prior_draws"], "config": asdict(cfg)}


def pct(x):
    return "-" if x is None else f"{100 * x:.1f}%"


def markdown(s):
    a = s["agent"]
    fm = s["first_mover"]
    where = "the start position" if s["config"]["openings"] == 0 else "balanced random openings, each with both colours"
    komi = f", komi {s['komi']:g}" if s["komi"] is not None else ""
    lines = [(f"Ladder of {a['name']} (`{a['spec']}`) against {s['engine']} ({s['game']} {s['size']}x{s['size']}"
              f"{komi}): {s['games_per_level']} games per level from {where}; it stops after the first level "
              f"scored under {100 * s['stop_below']:g}%."),
             "",
             (f"Elo: one Bradley-Terry fit over all {s['rated_games']} games, {s['anchor']} = 0, "
              f"{s['prior_draws']:g} virtual draw(s) per pair; first mover {round(fm[0]) or 0:+d} ± "
              f"{1.96 * fm[1]:.0f}. {a['name']}: {a['elo']:.0f} [{a['elo_ci95'][0]:.0f}, {a['elo_ci95'][1]:.0f}]."),
             "",
             "| level | player | games | wins | draws | losses | score | 95% CI | Elo | Elo 95% CI | |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for lv in s["levels"]:
        ci = f"[{100 * lv['ci95'][0]:.1f}, {100 * lv['ci95'][1]:.1f}]"
        eci = "anchor" if lv["elo_ci95"] is None else f"[{lv['elo_ci95'][0]:.0f}, {lv['elo_ci95'][1]:.0f}]"
        note = "stopped here" if lv["stopped"] else ""
        lines.append(f"| {lv['level']} | {lv['player']} | {lv['games']} | {lv['wins']} | {lv['draws']} | "
                     f"{lv['losses']} | {pct(lv['score'])} | {ci} | {lv['elo']:.0f} | {eci} | {note} |")
    if s["not_played"]:
        lines += ["", f"Not played: level {', '.join(map(str, s['not_played']))}."]
    elif s["stopped_at"] is None:
        lines += ["", f"It did not stop: {a['name']} scored at least {100 * s['stop_below']:g}% at every level."]
    return "\n".join(lines)


def write_summary(out, s):
    write_json(os.path.join(out, "ladder.json"), s)
    atomic_write(os.path.join(out, "ladder.md"), markdown(s) + "\n")


def run_ladder(cfg, out, address=None, progress=True, log=print):
    """Play the levels in order, each a growing gauntlet in ``out`` (see the module docstring), stopping
    after the first level the agent scores under ``cfg.stop_below``. Returns the summary (ladder.json)."""
    binary = cfg.eng().resolve()
    levels = cfg.level_list()
    name, spec = split_agent(cfg.agent)
    check_ladder(cfg, out, binary)
    agent = make_agent(spec, cfg.eng().game, cfg.board(), seed=0, move_timeout=cfg.move_timeout)
    try:  # a bad spec or model file fails now, in one line, before anything is printed or written
        if hasattr(agent, "check"):
            agent.check()
    finally:
        if hasattr(agent, "close"):
            agent.close()
    log(f"ladder: {name} ({spec}) against {cfg.eng().name} levels {', '.join(map(str, levels))}, "
        f"{cfg.games} games each, {cfg.eng().game} {cfg.board()}x{cfg.board()}")
    started, reached, stopped, s = False, [], None, None
    try:
        for lv in levels:
            reached.append(lv)
            tcfg = cfg.tournament(reached, binary)
            finished = {g["id"] for g in read_games(out)}
            todo = sum(j["id"] not in finished for j in schedule(tcfg) if cfg.eng().player(lv) in j["pair"])
            player = cfg.eng().player(lv)
            log(f"level {lv} ({player}): {todo} of {cfg.games} games to play")
            if todo and cfg.workers > 0 and not started:
                # One Ray instance for every level (a worker keeps its agents: the net is loaded once).
                started = cluster.connect(address, namespace=f"arena-ladder-{os.getpid()}", num_cpus=cfg.workers)
            rep = run_tournament(tcfg, out, address=address, progress=progress, log=lambda *a, **k: None)
            games = [g for g in read_games(out) if g["black"] in tcfg.roster() and g["white"] in tcfg.roster()]
            st = level_stats(games, name, player)
            score = (st["wins"] + 0.5 * st["draws"]) / st["games"]
            lo, hi = wilson(st["wins"] + 0.5 * st["draws"], st["games"])
            below = score < cfg.stop_below
            stopped = lv if below else None
            log(f"level {lv} ({player}): wins {st['wins']}, draws {st['draws']}, losses {st['losses']}: score "
                f"{pct(score)} [{pct(lo)}, {pct(hi)}]" + (f", under {100 * cfg.stop_below:g}%: the ladder stops"
                                                          if below else ""))
            s = summarise(cfg, reached, rep, games, stopped, binary)
            write_summary(out, s)
            if below:
                break
    finally:
        if started:
            import ray  # connected above only where Ray was needed

            ray.shutdown()
    log("")
    log(markdown(s))
    log(f"\nwrote {out}/ladder.{{md,json}}, ratings, records and {out}/viewer.html (arena ratings / view {out})")
    return s
