"""``arena play``: a person against any agent in the terminal.

Moves are typed in the game's notation (Othello ``f5``, Go ``D4``), or ``pass``, ``undo`` (takes back
your last move and the agent's reply), ``hint`` (the legal moves), ``help``, ``quit``. Illegal or
unreadable input gets one line saying why, and the prompt comes back; nothing is played.
"""

import sys

from arena.gtp import EngineError, Resign
from arena.specs import make_agent
from envs.game import Game

HELP = "type a move (e.g. {example}), 'pass', 'undo', 'hint', 'help' or 'quit'"


def play_terminal(game, size, agent_spec, colour="black", komi=None, seed=0, stdin=sys.stdin, out=sys.stdout):
    """Returns the final Game (or the unfinished one after ``quit`` / end of input)."""
    g = Game(game, size, komi=komi if game == "go" else None)
    agent = make_agent(agent_spec, game, g.size, komi, seed=seed)
    agent.reset(seed)
    human = 0 if colour == "black" else 1
    example = "f5" if game == "othello" else "D4"

    def say(*lines):
        out.write("\n".join(lines) + "\n")
        out.flush()

    say(f"You are {colour}; {agent_spec} plays {'white' if human == 0 else 'black'}. " + HELP.format(example=example))
    show = True  # the board is printed again only after it changed
    while not g.terminal:
        if g.to_play != human:
            try:
                a = int(agent.act(g)[0])
            except (EngineError, Resign) as e:
                say(f"{agent_spec} {'resigned' if isinstance(e, Resign) else 'forfeits: ' + str(e)}. You win.")
                return g
            g.play(a)
            say(f"{agent_spec} plays {g.move_str(a)}")
            show = True
            continue
        if show:
            say("", g.render())
            show = False
        out.write("your move> ")
        out.flush()
        line = stdin.readline()
        if not line:
            say("", "end of input: game left unfinished")
            return g
        cmd = line.strip().lower()
        if not cmd:
            continue
        if cmd in ("quit", "exit", "q"):
            say("game left unfinished")
            return g
        if cmd in ("help", "?"):
            say(HELP.format(example=example))
            continue
        if cmd == "hint":
            say("legal: " + " ".join(g.legal_moves()))
            continue
        if cmd == "undo":
            mine = [i for i in range(len(g.history)) if i % 2 == human]
            if not mine:
                say("nothing to undo")
                continue
            while len(g.history) > mine[-1]:
                g.undo()
            say("took back your last move")
            show = True
            continue
        try:
            a = g.parse(cmd)
        except ValueError as e:
            say(f"not a move: {e}")
            continue
        if a not in g.legal_actions():
            legal = " ".join(g.legal_moves())
            say(f"illegal move {cmd}: {'pass is not allowed here' if a == g.size * g.size else 'not legal here'}; "
                f"legal: {legal}")
            continue
        g.play(a)
        show = True
    m = g.final_margin()
    mine = m if human == 0 else -m
    say("", g.render(show_legal=False),
        f"game over: {'you win' if mine > 0 else 'you lose' if mine < 0 else 'a draw'} by {abs(m):g}")
    return g
