"""AlphaZero: its config (``config``), the policy/value ResNet (``network``), batched self-play
(``selfplay``), the replay buffer (``replay``), the learner step (``learner``), the Ray actors
(``actors``), the training loop (``train``, ``arena train``) and evaluation (``evaluate``)."""
