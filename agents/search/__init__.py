"""Search: the tree as preallocated arrays and its Numba kernels (``tree``), batched PUCT/Gumbel MCTS
(``mcts``), leaf evaluators (``evaluators``), a plain-Python PUCT reference (``reference``) and an
exact solver for small positions (``solver``)."""
