"""Agents, one room per concern, imports pointing only down (held by import-linter, ``lint-imports``):

    agents.common      config loading, the checkpoint format, atomic files and JSON (below everything)
    agents.search      the tree, batched MCTS, leaf evaluators, the plain-Python reference, the exact solver
    agents.players     the one agent interface, the baseline players and their specs, batched matches
    agents.alphazero   config, ResNet, self-play, replay, learner, Ray actors, the training loop, evaluation
    agents.seq         tokenizer, datasets, the GPT and its cached decoding, pretraining, GRPO, probes, agent

``agents.alphazero`` and ``agents.seq`` never import each other; what they share lives below them.
"""
