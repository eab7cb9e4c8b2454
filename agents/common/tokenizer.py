"""Moves as nominal tokens, as text is to a language model.

    tok = Tokenizer("othello", 8)
    ids = tok.encode(actions)          # [BOS, t1, t2, ...]; Othello passes are left out
    tok.decode(ids)                    # board actions back (no passes)

Vocabulary (ids are arbitrary labels; ``permutation`` reshuffles them for the study's control):
    0       PAD   after the end of a game (never a target)
    1       BOS   the start; the model predicts black's first move from it
    2..     FIRST_MOVE onwards: one id per playable square, in board order. Othello leaves out the four centre squares,
            which are never played (Othello-GPT's 60 squares for 8x8).
    last    Go only: PASS. Go passes are real moves (two end the game), so they are tokens.
            Othello passes are forced and implied, as in standard transcripts and Othello-GPT:
            the model has to infer from the moves alone whose turn it is.
"""

import numpy as np

PAD, BOS = 0, 1
FIRST_MOVE = 2  # ids from here on are moves; below it, PAD and BOS


def is_move(ids):
    """``bool`` array (or tensor) of the same shape: which ids are moves (not PAD or BOS)."""
    return ids >= FIRST_MOVE


class Tokenizer:
    def __init__(self, game, size, permutation=None):
        self.game, self.size = game, int(size)
        n = self.size
        squares = list(range(n * n))
        if game == "othello":
            c = n // 2
            centre = {(c - 1) * n + c - 1, (c - 1) * n + c, c * n + c - 1, c * n + c}
            squares = [s for s in squares if s not in centre]
        actions = squares + ([n * n] if game == "go" else [])
        self.vocab_size = FIRST_MOVE + len(actions)
        self.dtype = np.uint8 if self.vocab_size <= 256 else np.uint16  # compact shards
        ids = np.arange(FIRST_MOVE, self.vocab_size)
        self.permutation = None if permutation is None else [int(x) for x in permutation]
        if permutation is not None:  # a fixed reshuffle of the move ids (nominal labels)
            perm = np.asarray(permutation)
            if sorted(perm.tolist()) != list(range(len(actions))):
                raise ValueError(f"permutation must reorder 0..{len(actions) - 1}")
            ids = ids[perm]
        self.action_to_id = np.full(n * n + 1, -1, np.int64)  # -1: not a token (an Othello pass)
        self.action_to_id[actions] = ids
        self.id_to_action = np.full(self.vocab_size, -1, np.int64)
        self.id_to_action[ids] = actions

    @classmethod
    def permuted(cls, game, size, seed):
        """The tokenizer whose move ids are a seeded random reshuffle of the canonical ones (the study's
        control: ids are nominal labels, so a model's results must not depend on them)."""
        n_moves = cls(game, size).vocab_size - FIRST_MOVE
        return cls(game, size, permutation=np.random.default_rng([seed, 0x7E2]).permutation(n_moves))

    @property
    def max_len(self):
        """Tokens of the longest possible game, BOS included (Go: the 2*N*N ply cap)."""
        n = self.size
        return 1 + (n * n - 4 if self.game == "othello" else 2 * n * n)

    def encode(self, actions):
        """Actions (passes included) -> ``int64`` ids starting with BOS."""
        ids = self.action_to_id[np.asarray(actions, np.int64)]
        if self.game == "go" and (ids < 0).any():
            raise ValueError("action out of range for this board")
        return np.concatenate([[BOS], ids[ids >= 0]])

    def encode_batch(self, actions, lengths):
        """``int16[B, L]`` actions padded with -1 -> ``[B, max_len]`` ids of ``self.dtype`` (uint8 up to
        256 ids), BOS first, PAD after."""
        B = actions.shape[0]
        out = np.zeros((B, self.max_len), self.dtype)
        out[:, 0] = BOS
        a = np.where(actions >= 0, actions, self.size * self.size)
        ids = np.where(actions >= 0, self.action_to_id[a], -1)
        keep = ids >= 0
        pos = np.cumsum(keep, axis=1)  # 1-based position after BOS
        rows, cols = np.nonzero(keep)
        out[rows, pos[rows, cols]] = ids[rows, cols]
        return out

    def decode(self, ids):
        """Ids -> actions, skipping BOS and PAD."""
        ids = np.asarray(ids, np.int64)
        ids = ids[is_move(ids)]
        return self.id_to_action[ids].tolist()

    def legal_ids(self, legal_mask):
        """``bool[B, A]`` legal actions -> ``bool[B, V]`` legal ids. An Othello forced pass has no id;
        the caller plays it without asking the model."""
        B = legal_mask.shape[0]
        out = np.zeros((B, self.vocab_size), bool)
        acts = self.id_to_action[FIRST_MOVE:]
        out[:, FIRST_MOVE:] = legal_mask[:, acts]
        return out

    def describe(self):
        return {"game": self.game, "size": self.size, "vocab_size": self.vocab_size, "pad": PAD, "bos": BOS,
                "pass": ("token" if self.game == "go" else "implied (not a token)"), "max_len": self.max_len,
                **({"permutation": self.permutation} if self.permutation is not None else {})}
