"""llama.cpp's native sampler chain for one reply: the llama backend's ``TokenSampler``.

Contract:
- ``LlamaSampler(lib, vocab, params, n_ctx, context)`` builds one
  ``llama_sampler_chain`` from ``sampling.sampler_stages(params)``: ``penalties``, ``dry``
  (with the model's vocabulary and llama.cpp's default sequence breakers), ``top_k``,
  ``top_p``, ``min_p``, ``temp`` and a seeded ``dist`` - or ``greedy`` alone. It then
  accepts the trailing ``context`` tokens (the whole prompt, history included) the penalty
  and DRY windows can see, so they penalize repeats of the history, not only of the reply.
- ``pick(logits)`` copies the vector into its own ``llama_token_data_array`` and runs
  ``llama_sampler_apply``: it never reads the context's logits (other sequences may have
  been decoded since), never changes the vector, and does not accept the token.
- ``accept(token)`` is ``llama_sampler_accept`` (the penalty and DRY history).
- ``close()`` frees the chain and every sampler in it, once; later calls do nothing, and a
  closed sampler refuses to ``pick``; ``with LlamaSampler(...) as s:`` closes it on exit.
  ``lib`` is the ``llama_cpp`` module (low-level API), ``vocab`` the model's ``llama_vocab``.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np

from moodchat.engine.sampling import SamplingParams, Stage, context_window, sampler_stages

# The layout of llama.cpp's ``llama_token_data``: {int32 id; float logit; float p}.
TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)


class LlamaSampler:
    """One reply's native llama.cpp sampler chain (see the module contract)."""

    def __init__(
        self,
        lib: Any,
        vocab: Any,
        params: SamplingParams,
        n_ctx: int,
        context: Sequence[int] = (),
    ) -> None:
        self._lib = lib
        n_vocab = lib.llama_vocab_n_tokens(vocab)
        self.stages = sampler_stages(params, n_ctx=n_ctx)
        self._chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if not self._chain:
            raise RuntimeError("llama.cpp could not create a sampler chain")
        try:
            for stage in self.stages:
                smpl = self._native(stage, vocab, n_vocab)
                if not smpl:
                    raise RuntimeError(f"llama.cpp could not create the {stage.name} sampler")
                lib.llama_sampler_chain_add(self._chain, smpl)  # the chain owns it now
            window = context_window(self.stages)
            for token in context[len(context) - window :] if window else ():
                self.accept(token)
        except BaseException:
            self.close()
            raise
        self._data = np.zeros(n_vocab, dtype=TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.intc)
        self._ptr = self._data.ctypes.data_as(lib.llama_token_data_p)
        self._array = lib.llama_token_data_array()

    def _native(self, stage: Stage, vocab: Any, n_vocab: int) -> Any:
        """The llama.cpp sampler for one stage (not yet in the chain)."""
        lib, a = self._lib, stage.args
        if stage.name == "penalties":
            return lib.llama_sampler_init_penalties(
                n_vocab, a["last_n"], a["repeat"], a["frequency"], a["presence"]
            )
        if stage.name == "dry":
            breakers = [b.encode("utf-8") for b in a["breakers"]]
            arr = (ctypes.c_char_p * len(breakers))(*breakers)
            return lib.llama_sampler_init_dry(
                vocab, a["multiplier"], a["base"], a["allowed_length"], a["last_n"], arr, len(arr)
            )
        build = {
            "greedy": lambda: lib.llama_sampler_init_greedy(),
            "top_k": lambda: lib.llama_sampler_init_top_k(a["k"]),
            "top_p": lambda: lib.llama_sampler_init_top_p(a["p"], 1),
            "min_p": lambda: lib.llama_sampler_init_min_p(a["p"], 1),
            "temperature": lambda: lib.llama_sampler_init_temp(a["t"]),
            "dist": lambda: lib.llama_sampler_init_dist(a["seed"]),
        }
        return build[stage.name]()

    def accept(self, token: int) -> None:
        if self._chain is None:
            raise RuntimeError("the sampler is closed")
        self._lib.llama_sampler_accept(self._chain, int(token))

    def pick(self, logits: np.ndarray) -> int:
        if self._chain is None:
            raise RuntimeError("the sampler is closed")
        data = self._data
        data["id"] = self._ids
        data["logit"] = logits
        data["p"] = 0.0
        arr = self._array
        arr.data = self._ptr  # samplers may point it elsewhere: reset it every time
        arr.size = len(data)
        arr.selected = -1
        arr.sorted = False
        self._lib.llama_sampler_apply(self._chain, ctypes.byref(arr))
        if not 0 <= arr.selected < arr.size:
            raise RuntimeError("llama.cpp's sampler chain selected no token")
        return int(arr.data[arr.selected].id)

    def __enter__(self) -> LlamaSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        chain, self._chain = self._chain, None
        if chain:
            self._lib.llama_sampler_free(chain)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
