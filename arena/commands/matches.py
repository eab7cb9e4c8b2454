"""Games between agents and with people: ``arena gtp``, ``tournament``, ``ladder``, ``ratings``, ``view``
and ``play``."""

import os

from arena.commands import add_config_options


def cmd_gtp(args):
    from arena.gtp.server import GTPServer
    from arena.specs import make_agent

    size = args.size or (9 if args.game == "go" else 8)
    make_agent(args.agent, args.game, size, args.komi)  # a bad spec fails here, in one line, before any GTP
    GTPServer(args.agent, args.game, size, args.komi, args.seed).serve()


def cmd_tournament(args):
    from agents.common.config import load_config
    from arena.tournament import TournamentConfig, run_tournament

    sets = list(args.set or [])
    if args.player:
        sets = [s for s in sets if not s.startswith("players=")]
    # The players before the checks, which hold the anchor and focus to them.
    cfg = load_config(TournamentConfig, args.config, sets, **({"players": tuple(args.player)} if args.player else {}))
    name = os.path.splitext(os.path.basename(args.config))[0] if args.config else "tournament"
    run_tournament(cfg, args.out or os.path.join("runs", name), address=args.address)


def cmd_ladder(args):
    from arena.ladder import LadderConfig, run_ladder

    cfg = LadderConfig(agent=args.agent, engine=args.engine, levels=args.levels or "", games=args.games,
                       size=args.size or 0, openings=args.openings, stop_below=args.stop_below,
                       workers=args.workers, seed=args.seed)
    run_ladder(cfg, args.out or os.path.join("runs", f"ladder_{cfg.eng().prefix}"), address=args.address)


def cmd_ratings(args):
    from arena.tournament import rewrite_outputs

    rewrite_outputs(args.dir)


def cmd_view(args):
    from arena.tournament import view

    print(view(args.dir))


def cmd_play(args):
    from arena.match.human import play_terminal

    size = args.size or (9 if args.game == "go" else 8)
    play_terminal(args.game, size, args.agent, args.color, args.komi, args.seed)


def register(sub):
    gt = sub.add_parser("gtp", help="serve an agent as a GTP v2 engine on stdin/stdout",
                        description="Make any agent a GTP v2 engine (for GoGui, Sabaki, Quarry or another "
                                    "arena). Othello follows gtp-rhino: 'set_game Othello', vertices like D3 "
                                    "with row 1 on top. Malformed commands get '? message'; the engine stays up.")
    gt.add_argument("--game", default="go", choices=["othello", "go"], help="game at start (default go)")
    gt.add_argument("--size", type=int, help="board size at start (default 9 for Go, 8 for Othello)")
    gt.add_argument("--komi", type=float, help="Go komi at start (default: the size's, 7.5 on 9x9)")
    gt.add_argument("--agent", default="mcts:rollouts=200", help="agent spec (default mcts:rollouts=200)")
    gt.add_argument("--seed", type=int, default=0, help="the agent's seed (default 0)")
    gt.set_defaults(func=cmd_gtp)
    to = sub.add_parser("tournament", help="round-robin or gauntlet with Elo ratings, records and a viewer",
                        description="Play a tournament (round-robin or gauntlet) with games in parallel as Ray "
                                    "tasks (local by default), appending each game to OUT/games.jsonl; a rerun "
                                    "skips finished games. Writes ratings (Bradley-Terry Elo with a first-mover "
                                    "term and 95% intervals) as markdown, CSV, JSON and PNG, game records "
                                    "(SGF or transcripts) and OUT/viewer.html.")
    add_config_options(to, "YAML config (configs/tournament_*.yaml)")
    to.add_argument("--player", action="append", metavar="NAME=SPEC",
                    help="a player (repeatable; replaces the config's players), e.g. mcts200=mcts:rollouts=200")
    to.add_argument("--out", help="results directory (default runs/CONFIG)")
    to.add_argument("--address", default=None, help="Ray cluster to join (auto, ray://host:port); default: local")
    to.set_defaults(func=cmd_tournament)
    la = sub.add_parser("ladder", help="an agent against an engine's levels in order, until it scores under 25%%",
                        description="Play an agent against gtp-rhino's levels (8x8 Othello) or GNU Go's (9x9 Go, "
                                    "komi 7.5, area scoring), weakest first, N games per level from balanced "
                                    "random openings with both colours, engine games in parallel as Ray tasks. "
                                    "Stops after the first level where the agent scores under 25%. Prints each "
                                    "level's score with its 95% Wilson interval and one Elo scale for all "
                                    "levels (one Bradley-Terry fit, the first level = 0). OUT is a tournament "
                                    "directory whose roster grows by a level at a time (a rerun resumes; arena "
                                    "ratings / view work on it) with OUT/ladder.json and ladder.md beside it.")
    la.add_argument("--agent", required=True, metavar="[NAME=]SPEC",
                    help="the agent's spec, e.g. az:othello8,sims=64 (plays as 'agent' unless named)")
    la.add_argument("--engine", required=True, help="the engine whose levels it climbs: gtp-rhino or gnugo")
    la.add_argument("--levels", default=None, help="levels, weakest first: 1-5, 1,3,5 (default: gtp-rhino 1-5, gnugo 1-10)")
    la.add_argument("--games", type=int, default=20, help="games per level, colours alternating (default 20)")
    la.add_argument("--size", type=int, default=None, help="board size (default the engine's: gtp-rhino 8 only, gnugo 9)")
    la.add_argument("--openings", type=int, default=-1,
                    help="balanced openings, each with both colours (default half the games; 0: the start position)")
    la.add_argument("--stop-below", type=float, default=0.25, help="stop after a level scored under this (default 0.25)")
    la.add_argument("--workers", type=int, default=2, help="Ray tasks at once; 0: in this process, no Ray (default 2)")
    la.add_argument("--seed", type=int, default=1, help="seed of the openings and games (default 1)")
    la.add_argument("--out", help="results directory (default runs/ladder_rhino or runs/ladder_gnugo)")
    la.add_argument("--address", default=None, help="Ray cluster to join (auto, ray://host:port); default: local")
    la.set_defaults(func=cmd_ladder)
    ra = sub.add_parser("ratings", help="recompute a tournament's ratings, records and viewer from its log",
                        description="Rebuild ratings.{md,csv,json,png}, records and viewer.html of a results "
                                    "directory from tournament.json and games.jsonl, without playing.")
    ra.add_argument("dir", help="tournament results directory")
    ra.set_defaults(func=cmd_ratings)
    vi = sub.add_parser("view", help="write a static HTML viewer of a tournament's games",
                        description="Write DIR/viewer.html: a self-contained page that steps through every "
                                    "recorded game on a drawn board (arrow keys, slider, move list). Prints "
                                    "its path.")
    vi.add_argument("dir", help="tournament results directory")
    vi.set_defaults(func=cmd_view)
    pl = sub.add_parser("play", help="play an agent yourself in the terminal",
                        description="Play against an agent: moves in the game's notation (f5, D4), 'pass', "
                                    "'undo', 'hint', 'help', 'quit'.")
    pl.add_argument("--game", default="othello", choices=["othello", "go"], help="game (default othello)")
    pl.add_argument("--size", type=int, help="board size (default 8 for Othello, 9 for Go)")
    pl.add_argument("--komi", type=float, help="Go komi (default: the size's)")
    pl.add_argument("--agent", default="mcts:rollouts=200", help="opponent spec (default mcts:rollouts=200)")
    pl.add_argument("--color", default="black", choices=["black", "white"], help="your colour (default black)")
    pl.add_argument("--seed", type=int, default=0, help="the agent's seed (default 0)")
    pl.set_defaults(func=cmd_play)
