"""``arena serve``: the web page to play, watch and replay every agent (arena.serve)."""

import os


def cmd_serve(args):
    from arena.serve.app import serve

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {args.port}")
    if args.move_timeout <= 0:
        raise ValueError(f"--move-timeout must be positive, got {args.move_timeout:g}")
    if args.max_games < 1 or args.workers < 1:
        raise ValueError("--max-games and --workers must be at least 1")
    if args.seed < 0:
        raise ValueError(f"--seed must be non-negative, got {args.seed}")
    if args.games is not None and not os.path.isdir(args.games):
        raise ValueError(f"--games {args.games}: no such directory")
    serve(args.host, args.port, args.seed, args.games or "runs", args.move_timeout, args.allow_gtp, args.max_games,
          args.workers, args.access_log)


def register(sub):
    p = sub.add_parser("serve", help="a local web page: play any agent, watch two play, replay recorded games",
                       description="Serve a web page (open the address it prints) to play Othello 6x6/8x8 and Go "
                                   "5x5/7x7/9x9 against any agent spec, watch two agents play move by move, and "
                                   "replay the games of tournament and ladder directories. For az:, mcts: and seq: "
                                   "players the page draws what they thought: the search's visit share or the "
                                   "model's move distribution as a heat-map, the value as a win probability, the "
                                   "principal variation. Every tab has its own game. See docs/serve.md.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the "
                        "network, with gtp: engines off unless --allow-gtp)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one and prints it)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the agents of every game (default 0): the same seed and moves give the same replies")
    p.add_argument("--games", default=None, metavar="DIR",
                   help="where the page finds tournament and ladder results directories to replay: DIR itself "
                        "or any directory up to three levels below it (default runs)")
    p.add_argument("--move-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="an agent's move that takes longer forfeits its game (a search stops there); an analysis "
                        "is given up, and a new game whose agent makes no first move within it is refused "
                        "(default 60)")
    p.add_argument("--max-games", type=int, default=32,
                   help="games kept at once; the least recently used idle one goes first (default 32)")
    p.add_argument("--workers", type=int, default=4,
                   help="agents thinking at once, each in a thread of its own (default 4); a move asked for while "
                        "all are busy is refused (503), never queued")
    p.add_argument("--allow-gtp", action="store_true",
                   help="with a --host beyond this machine, still let requests name gtp: engines (commands the "
                        "server runs); on localhost they are always allowed")
    p.add_argument("--access-log", action="store_true", help="log every request (default: warnings only)")
    p.set_defaults(func=cmd_serve)
