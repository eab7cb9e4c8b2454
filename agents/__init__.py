"""Agents and search: batched MCTS (``agents.mcts``, tree kernels in ``agents.tree``), leaf evaluators
(``agents.evaluators``), the policy/value ResNet (``agents.network``), players with one interface
(``agents.players``), a plain-Python PUCT reference (``agents.mcts_reference``) and an exact solver
for small positions (``agents.solver``)."""
