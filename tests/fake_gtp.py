"""A misbehaving GTP engine for the forfeit tests: ``fake_gtp.py MODE`` answers setup commands
properly and misbehaves on ``genmove`` as MODE says: sleep (never answers), crash (exits), illegal
(an occupied or impossible vertex), garbage (not a move), refuse (``? ...``), resign, junk (an answer
that is not GTP), good (the first empty vertex that GTP move order finds; for sanity)."""

import sys
import time

mode = sys.argv[1]
while True:
    line = sys.stdin.readline()
    if not line:
        break
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "list_commands":
        print("= protocol_version\nlist_commands\nboardsize\nclear_board\nkomi\nplay\ngenmove\nquit\n", flush=True)
    elif cmd[0] == "genmove":
        if mode == "sleep":
            time.sleep(3600)
        elif mode == "crash":
            sys.exit(3)
        elif mode == "illegal":
            print("= A1\n", flush=True)  # an Othello corner is never legal at the start
        elif mode == "garbage":
            print("= Z99\n", flush=True)
        elif mode == "refuse":
            print("? no move for you\n", flush=True)
        elif mode == "resign":
            print("= resign\n", flush=True)
        elif mode == "junk":
            print("hello\n", flush=True)
    elif cmd[0] == "quit":
        print("=\n", flush=True)
        break
    else:
        print("= 2\n" if cmd[0] == "protocol_version" else "=\n", flush=True)
