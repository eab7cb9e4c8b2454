"""Agents: search, learners and baselines (MCTS and AlphaZero arrive with the search issue)."""
