"""Weights moodchat ships or fetches: the trained LoRA adapters and their metadata.

``moodchat.weights.adapters`` reads adapter files (GGUF, written by ``moodchat.training``),
checks them and chooses the one a role uses for a given base model.
"""
