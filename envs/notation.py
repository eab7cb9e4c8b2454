"""Move notation and text boards for both games.

Othello: column a.. then row 1.., row 1 on top (``f5``); a pass is written ``pass`` for single moves and
left out of transcripts (``f5d6c3...``), as in the standard notation.
Go: GTP coordinates, column letter A..T without I, then row number with row 1 at the **bottom** (``D4``);
``pass``. Actions are ``r*N + c`` with ``r = 0`` the top row as printed; ``N*N`` is pass.
"""

GTP_COLUMNS = "ABCDEFGHJKLMNOPQRST"


def othello_move(action, n):
    """Action -> ``f5`` (lower case) or ``pass``."""
    if action == n * n:
        return "pass"
    r, c = divmod(int(action), n)
    return f"{chr(ord('a') + c)}{r + 1}"


def othello_action(move, n):
    """``f5``/``F5``/``pass`` -> action; ``ValueError`` if it is not a square of an ``n x n`` board."""
    s = str(move).strip().lower()
    if s in ("pass", "pa", "--"):
        return n * n
    if len(s) < 2 or not ("a" <= s[0] <= chr(ord("a") + n - 1)) or not s[1:].isdigit():
        raise ValueError(f"not an Othello move on a {n}x{n} board: {move!r} (expected e.g. 'f5' or 'pass')")
    r = int(s[1:]) - 1
    if not 0 <= r < n:
        raise ValueError(f"row out of range in {move!r} for a {n}x{n} board")
    return r * n + (ord(s[0]) - ord("a"))


def othello_transcript(actions, n):
    """Actions -> one transcript string; passes are not written."""
    return "".join(othello_move(a, n) for a in actions if a != n * n)


def othello_parse_transcript(text, n):
    """Transcript string (``f5d6c3...``, spaces allowed) -> list of square actions (no passes)."""
    s = "".join(str(text).split()).lower()
    if len(s) % 2:
        raise ValueError(f"an Othello transcript has two characters per move; got {len(s)} characters")
    return [othello_action(s[i : i + 2], n) for i in range(0, len(s), 2)]


def gtp_move(action, n):
    """Action -> GTP vertex (``D4``, row 1 at the bottom) or ``pass``."""
    if action == n * n:
        return "pass"
    r, c = divmod(int(action), n)
    return f"{GTP_COLUMNS[c]}{n - r}"


def gtp_action(move, n):
    """GTP vertex or ``pass`` (any case) -> action; ``ValueError`` if off the board."""
    s = str(move).strip().upper()
    if s == "PASS":
        return n * n
    if len(s) < 2 or s[0] not in GTP_COLUMNS[:n] or not s[1:].isdigit():
        raise ValueError(f"not a GTP vertex on a {n}x{n} board: {move!r} (expected e.g. 'D4' or 'pass')")
    row = int(s[1:])
    if not 1 <= row <= n:
        raise ValueError(f"row out of range in {move!r} for a {n}x{n} board")
    return (n - row) * n + GTP_COLUMNS.index(s[0])


def render_grid(cells, n, game, marks=None):
    """Text board. ``cells[r][c]`` in {+1 black, -1 white, 0 empty}; ``marks`` a set of actions shown as
    ``.``-less ``*`` (e.g. legal moves). Othello rows are numbered from the top, Go rows from the bottom."""
    sym = {1: "X", -1: "O", 0: "."}
    marks = marks or ()
    if game == "othello":
        header = "   " + " ".join(chr(ord("a") + c) for c in range(n))
        rows = []
        for r in range(n):
            line = " ".join("*" if (r * n + c) in marks and cells[r][c] == 0 else sym[cells[r][c]] for c in range(n))
            rows.append(f"{r + 1:2d} {line}")
    else:
        header = "   " + " ".join(GTP_COLUMNS[c] for c in range(n))
        rows = []
        for r in range(n):
            line = " ".join("*" if (r * n + c) in marks and cells[r][c] == 0 else sym[cells[r][c]] for c in range(n))
            rows.append(f"{n - r:2d} {line}")
    return "\n".join([header, *rows])
