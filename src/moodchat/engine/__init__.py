"""Model backends behind one interface (``moodchat.engine.base.Engine``).

``load_engine`` picks the backend by name and imports it lazily, so the llama.cpp path never
imports torch and the transformers path never needs llama-cpp-python.
"""

from __future__ import annotations

from moodchat.engine.base import Engine, Prefix
from moodchat.engine.sampling import GREEDY, SamplingParams

BACKENDS = ("llama", "transformers")

__all__ = ["BACKENDS", "GREEDY", "Engine", "Prefix", "SamplingParams", "load_engine"]


def load_engine(backend: str, model: str, **options) -> Engine:
    """Load ``model`` (path or id) with the named backend; options go to its constructor."""
    if backend == "llama":
        from moodchat.engine.llama import LlamaEngine

        return LlamaEngine(model, **options)
    if backend == "transformers":
        from moodchat.engine.hf import TransformersEngine

        return TransformersEngine(model, **options)
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
