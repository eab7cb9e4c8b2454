"""Helpers below every room: config loading (``config``), the one checkpoint format (``checkpoint``) and
its tools (``export``, a model file to ship; ``convert``, the earlier pickled layout to the safe one),
atomic writes and JSON I/O (``files``)."""
