"""LoRA adapters as GGUF files: their metadata, the shipped ones, and which one a role uses.

Contract:
- An adapter is a llama.cpp LoRA GGUF (``general.type = adapter``, ``adapter.type = lora``)
  whose ``moodchat.*`` keys record what it is for: role, the base model's sha256, size and
  cheap fingerprint, the prompt version it was trained with, top layers, rank, alpha,
  temperature, training data with sha256, and measured accuracy. ``KEYS`` names them; the
  writer (``moodchat.training.export``) and the reader here share it.
- ``read_adapter(path)`` returns an ``AdapterInfo`` or raises ``AdapterError`` for a
  missing, truncated or foreign file. It reads metadata only (no tensors).
- Shipped adapters are package data listed in ``data/manifest.json`` with their sha256;
  ``shipped_adapter(role)`` verifies the file against it (a few MB: cheap) and raises
  ``AdapterError`` on a mismatch.
- ``base_fingerprint(path)`` hashes the size plus the first and last MiB of a model file:
  enough to tell the model an adapter was trained on from any other in milliseconds, where a
  full sha256 of ~500 MB would cost seconds at every start.
- ``select_adapter(role, choice, model_source)``: ``choice`` ``"none"`` gives None; a path
  gives that adapter (it must be for ``role``); ``None``/``"auto"`` gives the shipped adapter
  when its recorded fingerprint matches ``model_source``, else None (the prompt-only path).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from moodchat.errors import AdapterError
from moodchat.weights.pull import sha256_file

KEYS = {
    "role": "moodchat.role",
    "base_sha256": "moodchat.base.sha256",
    "base_size": "moodchat.base.size",
    "base_fingerprint": "moodchat.base.fingerprint",
    "prompt": "moodchat.prompt",
    "top_layers": "moodchat.top_layers",
    "rank": "moodchat.rank",
    "temperature": "moodchat.temperature",
    "provenance": "moodchat.provenance",
}
ALPHA_KEY = "adapter.lora.alpha"
FINGERPRINT_BYTES = 1 << 20


@dataclass(frozen=True)
class AdapterInfo:
    """What an adapter file says about itself."""

    path: str
    role: str
    base_sha256: str
    base_size: int
    base_fingerprint: str
    prompt: str
    top_layers: int
    rank: int
    alpha: float
    temperature: float
    provenance: dict = field(default_factory=dict)
    sha256: str = ""

    def to_dict(self) -> dict:
        """JSON-ready summary for ``moodchat info`` (provenance kept to its headline)."""
        out = {k: getattr(self, k) for k in ("path", "role", "prompt", "top_layers", "rank")}
        out |= {"temperature": self.temperature, "sha256": self.sha256}
        out["base_sha256"] = self.base_sha256
        out["dev_accuracy"] = self.provenance.get("dev_accuracy", {})
        return out


def base_fingerprint(path: str | Path) -> str:
    """sha256 over a file's size, first MiB and last MiB."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        digest.update(f.read(FINGERPRINT_BYTES))
        f.seek(max(0, size - FINGERPRINT_BYTES))
        digest.update(f.read(FINGERPRINT_BYTES))
    return digest.hexdigest()


def _field(reader, key: str):
    f = reader.fields.get(key)
    if f is None:
        raise KeyError(key)
    return f.contents()


def read_adapter(path: str | Path) -> AdapterInfo:
    """Metadata of the adapter at ``path``; ``AdapterError`` if it is not a moodchat adapter."""
    from gguf import GGUFReader

    path = Path(path).expanduser()
    if not path.is_file():
        raise AdapterError(f"adapter file not found: {path}")
    try:
        reader = GGUFReader(str(path))
        if _field(reader, "general.type") != "adapter" or _field(reader, "adapter.type") != "lora":
            raise AdapterError(f"{path} is a GGUF file but not a LoRA adapter")
        values = {name: _field(reader, key) for name, key in KEYS.items()}
        alpha = float(_field(reader, ALPHA_KEY))
    except AdapterError:
        raise
    except KeyError as err:
        raise AdapterError(f"{path} is not a moodchat adapter (no {err.args[0]} key)") from None
    except Exception as err:  # truncated or not GGUF at all
        raise AdapterError(
            f"{path} is not a readable GGUF adapter ({err.__class__.__name__}: {err})"
        ) from None
    return AdapterInfo(
        path=str(path),
        role=str(values["role"]),
        base_sha256=str(values["base_sha256"]),
        base_size=int(values["base_size"]),
        base_fingerprint=str(values["base_fingerprint"]),
        prompt=str(values["prompt"]),
        top_layers=int(values["top_layers"]),
        rank=int(values["rank"]),
        alpha=alpha,
        temperature=round(float(values["temperature"]), 4),
        provenance=json.loads(values["provenance"]),
    )


@functools.cache
def _tensor_names(arch: str, n_layers: int):
    """gguf-py's transformers -> llama.cpp tensor-name table, built once per shape."""
    import gguf

    arch_id = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[arch]
    return gguf.get_tensor_name_map(arch_id, n_layers)


def gguf_base_name(module_name: str, n_layers: int, arch: str = "qwen2") -> str | None:
    """llama.cpp's name for the weight of a transformers module (``blk.N.attn_q.weight``).

    ``module_name`` may carry a wrapper's leading path (``base_model.model.``); None when
    the module has no llama.cpp counterpart. The same table ``convert_lora_to_gguf.py`` uses.
    """
    start = module_name.find("model.layers.")
    if start < 0:
        return None
    return _tensor_names(arch, n_layers).get_name(
        module_name[start:] + ".weight", try_suffixes=(".weight",)
    )


def adapter_tensors(path: str | Path) -> dict[str, np.ndarray]:
    """The LoRA matrices of an adapter file as float32 arrays (``lora_a``: rank x in)."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
        return {t.name: np.asarray(t.data, dtype=np.float32) for t in reader.tensors}
    except Exception as err:
        raise AdapterError(f"cannot read the tensors of {path}: {err}") from None


def _manifest() -> dict:
    return json.loads(_data_path("manifest.json").read_text("utf-8"))


def _data_path(name: str) -> Path:
    return Path(str(resources.files("moodchat.weights").joinpath(f"data/{name}")))


def shipped_adapter(role: str) -> AdapterInfo | None:
    """The adapter shipped for ``role``, sha256-verified; None if none is shipped."""
    entry = _manifest().get("adapters", {}).get(role)
    if entry is None:
        return None
    path = _data_path(entry["file"])
    if not path.is_file():
        raise AdapterError(f"the shipped {role} adapter is missing: {path} (reinstall moodchat)")
    digest = sha256_file(Path(path))
    if digest != entry["sha256"]:
        raise AdapterError(
            f"the shipped {role} adapter {path} fails its sha256 check "
            f"({digest[:12]}… != {entry['sha256'][:12]}…): reinstall moodchat"
        )
    info = read_adapter(path)
    return AdapterInfo(**{**info.__dict__, "sha256": digest})


def fits_model(info: AdapterInfo, model_source: str) -> bool:
    """True when ``model_source`` is a local file matching the adapter's base fingerprint."""
    path = Path(model_source)
    if not path.is_file() or path.stat().st_size != info.base_size:
        return False
    return base_fingerprint(path) == info.base_fingerprint


def select_adapter(role: str, choice: str | None, model_source: str) -> AdapterInfo | None:
    """The adapter ``role`` uses for ``model_source`` given ``--<role>-adapter`` ``choice``."""
    if choice == "none":
        return None
    if choice in (None, "", "auto"):
        info = shipped_adapter(role)
        return info if info is not None and fits_model(info, model_source) else None
    info = read_adapter(choice)
    if info.role != role:
        raise AdapterError(f"{choice} is a {info.role!r} adapter, not a {role!r} one")
    return AdapterInfo(**{**info.__dict__, "sha256": sha256_file(Path(choice))})
