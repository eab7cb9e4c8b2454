"""Slow, plain-Python reference rules for both games, written for clarity and nothing else.

They share no code with the Numba kernels (no bitboards, no chain arrays, no Zobrist hashing): Othello
walks the 8 directions square by square; Go finds chains and liberties by flood fill and keeps every
earlier position as a tuple in a set. The differential tests play thousands of random games through
both and compare legal masks, terminals and rewards at every step.

Actions follow the core API: ``r*N + c`` (r = 0 top row), ``N*N`` = pass.
"""

DIRS8 = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


class OthelloRef:
    def __init__(self, n=8):
        self.n = n
        self.board = [[0] * n for _ in range(n)]  # +1 black, -1 white, 0 empty
        h = n // 2
        self.board[h - 1][h - 1] = self.board[h][h] = -1
        self.board[h - 1][h] = self.board[h][h - 1] = 1
        self.color = 1  # side to move
        self.over = False

    def _flips(self, r, c, color):
        n = self.n
        if self.board[r][c] != 0:
            return []
        out = []
        for dr, dc in DIRS8:
            run = []
            rr, cc = r + dr, c + dc
            while 0 <= rr < n and 0 <= cc < n and self.board[rr][cc] == -color:
                run.append((rr, cc))
                rr, cc = rr + dr, cc + dc
            if run and 0 <= rr < n and 0 <= cc < n and self.board[rr][cc] == color:
                out.extend(run)
        return out

    def _moves(self, color):
        n = self.n
        return [r * n + c for r in range(n) for c in range(n) if self._flips(r, c, color)]

    def legal_actions(self):
        if self.over:
            return []
        mv = self._moves(self.color)
        return mv if mv else [self.n * self.n]

    def step(self, a):
        if a not in self.legal_actions():
            raise ValueError(f"illegal {a}")
        n = self.n
        if a != n * n:
            r, c = divmod(a, n)
            for rr, cc in self._flips(r, c, self.color):
                self.board[rr][cc] = self.color
            self.board[r][c] = self.color
        self.color = -self.color
        if not self._moves(self.color) and not self._moves(-self.color):
            self.over = True

    def reward(self):
        if not self.over:
            return 0.0
        d = sum(v for row in self.board for v in row)
        return float((d > 0) - (d < 0))


class GoRef:
    """Area scoring, positional superko, no suicide, two passes end it, ``2*N*N`` plies cap."""

    def __init__(self, n=9, komi=7.5):
        self.n = n
        self.komi = komi
        self.board = [[0] * n for _ in range(n)]
        self.color = 1
        self.passes = 0
        self.ply = 0
        self.over = False
        self.seen = {self._key()}

    def _key(self):
        return tuple(tuple(row) for row in self.board)

    def _nbrs(self, r, c):
        n = self.n
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            if 0 <= r + dr < n and 0 <= c + dc < n:
                yield r + dr, c + dc

    def _chain(self, board, r, c):
        color = board[r][c]
        stones, libs, todo = {(r, c)}, set(), [(r, c)]
        while todo:
            p = todo.pop()
            for q in self._nbrs(*p):
                v = board[q[0]][q[1]]
                if v == 0:
                    libs.add(q)
                elif v == color and q not in stones:
                    stones.add(q)
                    todo.append(q)
        return stones, libs

    def _play(self, r, c, color):
        """The board after ``color`` plays (r, c), or None if it is suicide or occupied."""
        if self.board[r][c] != 0:
            return None
        b = [row[:] for row in self.board]
        b[r][c] = color
        for q in self._nbrs(r, c):
            if b[q[0]][q[1]] == -color:
                stones, libs = self._chain(b, *q)
                if not libs:
                    for s in stones:
                        b[s[0]][s[1]] = 0
        if not self._chain(b, r, c)[1]:
            return None
        return b

    def legal_actions(self):
        if self.over:
            return []
        n = self.n
        out = []
        for a in range(n * n):
            b = self._play(*divmod(a, n), self.color)
            if b is not None and tuple(tuple(row) for row in b) not in self.seen:
                out.append(a)
        return out + [n * n]

    def step(self, a):
        if a not in self.legal_actions():
            raise ValueError(f"illegal {a}")
        n = self.n
        if a == n * n:
            self.passes += 1
        else:
            self.passes = 0
            self.board = self._play(*divmod(a, n), self.color)
            self.seen.add(self._key())
        self.color = -self.color
        self.ply += 1
        if self.passes >= 2 or self.ply >= 2 * n * n:
            self.over = True

    def area(self):
        """Black area minus white area."""
        n = self.n
        score, seen = 0, set()
        for r in range(n):
            for c in range(n):
                v = self.board[r][c]
                if v:
                    score += v
                elif (r, c) not in seen:
                    region, border, todo = {(r, c)}, set(), [(r, c)]
                    while todo:
                        p = todo.pop()
                        for q in self._nbrs(*p):
                            u = self.board[q[0]][q[1]]
                            if u == 0 and q not in region:
                                region.add(q)
                                todo.append(q)
                            elif u:
                                border.add(u)
                    seen |= region
                    if border == {1}:
                        score += len(region)
                    elif border == {-1}:
                        score -= len(region)
        return score

    def reward(self):
        if not self.over:
            return 0.0
        s = self.area() - self.komi
        return float((s > 0) - (s < 0))
