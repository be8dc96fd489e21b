"""Writing a trained PEFT LoRA as a llama.cpp GGUF adapter with moodchat's metadata.

Contract:
- ``lora_tensors(peft_model, n_layers)`` maps PEFT's ``...layers.N.self_attn.q_proj.lora_A``
  names to llama.cpp's ``blk.N.attn_q.weight.lora_a`` (the same map llama.cpp's
  ``convert_lora_to_gguf.py`` uses, through gguf-py's tensor-name table) and returns
  ``{gguf_name: float32 array}``. ``lora_a`` is (rank x in), ``lora_b`` is (out x rank):
  gguf-py reverses numpy shapes, so llama.cpp sees them as ne = [in, rank] and [rank, out].
- ``load_lora_tensors(peft_model, tensors, n_layers)`` is the reverse: it sets every LoRA
  A/B matrix of ``peft_model`` from ``{gguf_name: array}`` (as
  ``moodchat.weights.adapters.adapter_tensors`` reads an adapter file), so a run can start
  from a trained adapter; a missing tensor or a shape that differs (another rank or other
  layers) raises ``ValueError``.
- ``write_adapter(path, tensors, alpha, metadata)`` writes f16 tensors, the adapter keys
  llama.cpp reads (``general.type``, ``adapter.type``, ``adapter.lora.alpha``) and every
  ``moodchat.*`` key of ``moodchat.weights.adapters.KEYS`` (non-string values are stored
  with their type; ``provenance`` as JSON). The write goes to a temporary file that is
  renamed into place, so a failed run never leaves a half-written adapter.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from moodchat.weights.adapters import ALPHA_KEY, KEYS, gguf_base_name

_PEFT_NAME = re.compile(r"(.*model\.layers\.\d+\..+)\.lora_([AB])(?:\.[^.]+)?\.weight$")


def _gguf_name(peft_name: str, n_layers: int, arch: str) -> str:
    match = _PEFT_NAME.fullmatch(peft_name)
    if match is None:
        raise ValueError(f"unexpected adapter tensor {peft_name!r}")
    base = gguf_base_name(match.group(1), n_layers, arch)
    if base is None:
        raise ValueError(f"no llama.cpp name for {match.group(1)!r}")
    return f"{base}.{'lora_a' if match.group(2) == 'A' else 'lora_b'}"


def lora_tensors(peft_model, n_layers: int, arch: str = "qwen2") -> dict[str, np.ndarray]:
    """The LoRA A/B matrices of ``peft_model`` under llama.cpp tensor names."""
    from peft import get_peft_model_state_dict

    out = {
        _gguf_name(name, n_layers, arch): tensor.detach().float().numpy()
        for name, tensor in get_peft_model_state_dict(peft_model).items()
    }
    return dict(sorted(out.items()))


def load_lora_tensors(
    peft_model, tensors: dict[str, np.ndarray], n_layers: int, arch: str = "qwen2"
) -> int:
    """Set ``peft_model``'s LoRA matrices from llama.cpp-named ``tensors``; returns how many."""
    import torch
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    state = {}
    for name, current in get_peft_model_state_dict(peft_model).items():
        gguf_name = _gguf_name(name, n_layers, arch)
        if gguf_name not in tensors:
            raise ValueError(f"the starting adapter has no tensor {gguf_name}")
        value = torch.from_numpy(np.asarray(tensors[gguf_name], dtype=np.float32))
        if value.shape != current.shape:
            raise ValueError(
                f"{gguf_name}: the starting adapter's shape {tuple(value.shape)} is not "
                f"{tuple(current.shape)} (another rank or other layers)"
            )
        state[name] = value.to(current.dtype)
    set_peft_model_state_dict(peft_model, state)
    return len(state)


def _add_value(writer, key: str, value) -> None:
    if isinstance(value, bool):
        writer.add_bool(key, value)
    elif isinstance(value, int):
        writer.add_uint32(key, value) if value >= 0 else writer.add_int32(key, value)
    elif isinstance(value, float):
        writer.add_float32(key, value)
    elif isinstance(value, (dict, list)):
        writer.add_string(key, json.dumps(value, ensure_ascii=False, sort_keys=True))
    else:
        writer.add_string(key, str(value))


def write_adapter(
    path: str | Path,
    tensors: dict[str, np.ndarray],
    *,
    alpha: float,
    metadata: dict,
    arch: str = "qwen2",
) -> Path:
    """Write a GGUF LoRA adapter at ``path`` (atomically) and return the path."""
    import gguf

    missing = set(KEYS) - set(metadata)
    if missing:
        raise ValueError(f"adapter metadata lacks {sorted(missing)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    writer = gguf.GGUFWriter(str(tmp), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string("adapter.type", "lora")
    writer.add_float32(ALPHA_KEY, float(alpha))
    writer.add_name(f"moodchat {metadata['role']} adapter")
    for name, key in KEYS.items():
        _add_value(writer, key, metadata[name])
    for name, array in tensors.items():
        writer.add_tensor(name, np.ascontiguousarray(array, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, path)
    return path
