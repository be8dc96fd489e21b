"""Opening a GGUF file with llama.cpp: the file check, the model and its context.

Contract:
- ``check_gguf_file(path)`` raises ``ModelNotFoundError`` for a missing path and
  ``ModelLoadError`` for a directory or a file that does not start with the GGUF magic,
  before llama.cpp (or gguf-py) ever reads it.
- ``load_model(lib, path, repack, log)`` loads the weights (repacking off by default: the
  repacked copy costs ~28 MiB RSS for no measured speed-up on this model) and raises
  ``ModelLoadError`` with llama.cpp's last logged error when it refuses the file.
- ``new_context(lib, model, threads, n_ctx, n_batch, n_ubatch, n_seq_max)`` creates the
  one context: a unified KV cache shared by ``n_seq_max`` sequences, no embeddings.
``lib`` is the ``llama_cpp`` module (low-level API).
"""

from __future__ import annotations

from pathlib import Path

from moodchat.errors import ModelLoadError, ModelNotFoundError

GGUF_MAGIC = b"GGUF"


def check_gguf_file(path: Path) -> None:
    """Raise a clear error unless ``path`` exists and starts like a GGUF file."""
    if not path.exists():
        raise ModelNotFoundError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelLoadError(f"model path is not a file: {path}")
    with path.open("rb") as f:
        head = f.read(4)
    if head != GGUF_MAGIC:
        raise ModelLoadError(
            f"{path} is not a GGUF model file (starts with {head!r}, expected {GGUF_MAGIC!r})"
        )


def load_model(lib, path: Path, repack: bool, log):
    """The llama.cpp model for ``path``; ``ModelLoadError`` if llama.cpp refuses it."""
    params = lib.llama_model_default_params()
    params.use_extra_bufts = repack
    model = lib.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        why = f" ({log.errors[-1]})" if log.errors else ""
        raise ModelLoadError(
            f"llama.cpp could not load {path}{why}: the file is corrupt, truncated or not "
            "a supported GGUF model (`moodchat pull --force` restores the default model)"
        )
    return model


def new_context(lib, model, threads: int, n_ctx: int, n_batch: int, n_ubatch: int, n_seq_max: int):
    """A context with a unified KV cache for ``n_seq_max`` sequences."""
    params = lib.llama_context_default_params()
    params.n_ctx = n_ctx
    params.n_batch = n_batch
    params.n_ubatch = min(n_ubatch, n_batch)
    params.n_seq_max = n_seq_max
    params.kv_unified = True
    params.n_threads = threads
    params.n_threads_batch = threads
    params.embeddings = False
    ctx = lib.llama_init_from_model(model, params)
    if not ctx:
        raise ModelLoadError("llama.cpp could not create a context for the model")
    return ctx
