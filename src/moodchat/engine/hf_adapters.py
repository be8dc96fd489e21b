"""LoRA adapters for the transformers backend: moodchat GGUF adapters injected with PEFT.

Contract:
- ``PeftAdapters(model).load(path)`` reads an adapter file (``moodchat.weights.adapters``),
  maps its ``blk.N.*.lora_a/b`` tensors to the model's linear modules with the same name
  table llama.cpp uses, injects them with ``peft.inject_adapter_in_model`` under a name of
  their own and returns a handle. A tensor that does not fit raises ``AdapterError``.
- ``use(handle)`` turns on exactly that adapter in every LoRA module, or none for ``None``
  (then each module computes exactly its base layer: the bare model's results). It does
  nothing when the wanted state is already set. Callers hold the engine's step lock.
"""

from __future__ import annotations

import numpy as np
import torch

from moodchat.errors import AdapterError

_UNKNOWN = -1


class PeftAdapters:
    """The adapters injected into one transformers model, and which one is on."""

    def __init__(self, model) -> None:
        self.model = model
        self.names: dict[int, str] = {}
        self.modules: list = []
        self.active: int | None = None

    def check(self, handle: int | None) -> None:
        """Raise ``ValueError`` for a handle this model never loaded."""
        if handle is not None and handle not in self.names:
            raise ValueError(f"unknown adapter handle {handle}")

    def load(self, path: str) -> int:
        """Inject the adapter at ``path``; it stays off until ``use`` names it."""
        from peft import LoraConfig, inject_adapter_in_model
        from peft.tuners.lora import LoraLayer

        from moodchat.weights.adapters import adapter_tensors, read_adapter

        info = read_adapter(path)
        pairs = self._pairs(adapter_tensors(path))
        handle = len(self.names) + 1
        name = f"moodchat_{handle}"
        config = LoraConfig(
            r=info.rank, lora_alpha=info.alpha, lora_dropout=0.0, target_modules=list(pairs)
        )
        inject_adapter_in_model(config, self.model, adapter_name=name)
        for module_name, (a, b) in pairs.items():
            module = self.model.get_submodule(module_name)
            module.lora_A[name].weight.data.copy_(torch.from_numpy(a))
            module.lora_B[name].weight.data.copy_(torch.from_numpy(b))
        self.modules = [m for m in self.model.modules() if isinstance(m, LoraLayer)]
        self.names[handle] = name
        self.active = _UNKNOWN  # injection may have switched it on: the next use() decides
        return handle

    def _pairs(self, tensors: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{module name: (A, B)} for every linear module the adapter has matrices for."""
        from moodchat.weights.adapters import gguf_base_name

        n_layers = int(self.model.config.num_hidden_layers)
        pairs = {}
        for module_name, module in self.model.named_modules():
            base = gguf_base_name(module_name, n_layers) if module_name else None
            if base is None or f"{base}.lora_a" not in tensors:
                continue
            a, b = tensors[f"{base}.lora_a"], tensors[f"{base}.lora_b"]
            if a.shape[1] != module.weight.shape[1] or b.shape[0] != module.weight.shape[0]:
                raise AdapterError(f"adapter tensor {base} does not fit this model's {module_name}")
            pairs[module_name] = (a, b)
        if not pairs:
            raise AdapterError("the adapter has no tensor that fits this model")
        return pairs

    def use(self, handle: int | None) -> None:
        """Turn on exactly ``handle``'s adapter (None: the bare model) in every LoRA module."""
        if handle == self.active:
            return
        for module in self.modules:
            if handle is None:
                module.enable_adapters(False)
            else:
                module.enable_adapters(True)
                module.set_adapter(self.names[handle])
        self.active = handle
