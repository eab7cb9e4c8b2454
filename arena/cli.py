"""The ``arena`` command line. Subcommands print JSON or text and exit non-zero with one clear line on
bad input (never a traceback).

The commands live in arena.commands, a module per group, each command's parser beside its handler; this
module only gathers them, in the order ``arena --help`` lists them, and turns errors into exit codes.
Nothing heavy is imported while parsing: ``arena --help`` or ``arena perft`` start in a fraction of a
second instead of paying for torch, Ray and Numba's caches up front."""

import argparse
import sys

from arena.commands import alphazero, bench, checkpoints, matches, rules, seq, serve, study

GROUPS = (rules, bench, alphazero, matches, serve, seq, study, checkpoints)


def build_parser():
    ap = argparse.ArgumentParser(
        prog="arena",
        description="selfplay-arena: Numba Othello and Go engines, search, training and tournaments.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return ap


def main(argv=None):
    ap = build_parser()
    args = ap.parse_args(argv)
    if not getattr(args, "func", None):
        ap.print_help()
        return 2
    try:
        args.func(args)
    except (ValueError, OSError) as e:
        print(f"arena: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"arena: interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
