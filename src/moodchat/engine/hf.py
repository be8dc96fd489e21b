"""Hugging Face transformers + torch backend, on the CPU, for the same two roles.

Contract (see ``moodchat.engine.base``) plus:
- ``model`` is a local HF model directory (``config.json`` + weights), a hub id (resolved by
  the usual Hugging Face cache; downloads only where a network is allowed), or a ``.gguf``
  file (transformers' GGUF loader dequantizes it; ``gguf_file=`` names one inside a
  directory). A missing local model raises ``ModelNotFoundError``; one that cannot be loaded
  raises ``ModelLoadError``. Neither crashes the process.
- ``dtype`` is ``"float32"`` or ``"bfloat16"``; ``threads`` sets ``torch.set_num_threads``
  (process-wide: torch has one intra-op pool). All work runs under ``torch.inference_mode``.
- ``tokenize`` splits control-token strings as text (``split_special_tokens``), so
  ``<|im_start|>`` typed by a user never becomes the control token; ``control_token``
  looks up the tokenizer's special added tokens only.
- A cached prefix keeps its per-layer key/value tensors and never changes them: each call
  builds a fresh ``DynamicCache`` on a copy of them, so scoring, generations and other
  prefixes never disturb each other. ``next_logits`` is one forward pass over the new tokens;
  ``next_logits_many`` batches continuations right-padded (causal attention makes padding
  after a row's last token invisible to it), in groups of at most ``batch_tokens``.
- Model steps take the shared ``StepLock``: scoring at ``SCORE_PRIORITY``, each generation
  step at ``GENERATE_PRIORITY``. Closing a generator drops its cache. Generations are not
  batched together here: their steps interleave one forward pass each.
- Scoring requests from every thread go through ``scheduling.ScoreCoalescer``: the ones
  queued while the lock is busy are scored together, every continuation of one prefix in
  the same right-padded batches (a lone continuation is one unpadded forward pass).
- Replies are sampled with transformers' logits processors mapped from the same
  ``SamplingParams`` as llama.cpp's chain (``engine.hf_sampler``; no DRY on this backend).
- The model is warmed up at load (one short prefix and one scoring call).
- ``load_adapter`` reads a moodchat GGUF LoRA adapter and injects it with PEFT under its own
  name; each forward pass turns on exactly the adapter of the prefix it extends (none for
  the chat role's prefixes), so the bare model's results are unchanged by loading one.
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from moodchat.engine.base import Engine, Prefix
from moodchat.engine.hardware import physical_cores
from moodchat.engine.hf_adapters import PeftAdapters
from moodchat.engine.hf_sampler import HFSampler
from moodchat.engine.llama_load import check_gguf_file
from moodchat.engine.sampling import SamplingParams, decode_loop
from moodchat.engine.scheduling import (
    GENERATE_PRIORITY,
    SCORE_PRIORITY,
    ScoreCoalescer,
    StepLock,
    context_errors,
    scoring_request,
)
from moodchat.errors import ContextFullError, ModelLoadError, ModelNotFoundError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
KV = tuple[tuple[torch.Tensor, torch.Tensor], ...]
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def byte_decoder() -> dict[str, int]:
    """GPT-2 byte-level BPE alphabet: printable stand-in character -> byte."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    chars = list(keep)
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(keep, chars)}


def locate_model(model: str | Path, gguf_file: str | None = None) -> tuple[str, str | None]:
    """``(source, gguf_name)`` for ``from_pretrained``; raises for a missing or wrong path."""
    path = Path(model).expanduser()
    if gguf_file is not None:
        check_gguf_file(path / gguf_file)
        return str(path), gguf_file
    if path.is_file():
        check_gguf_file(path)
        return str(path.parent), path.name
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path} is not a Hugging Face model directory (no config.json); give a model "
                "directory, a hub id or a .gguf file"
            )
        return str(path), None
    text = str(model)
    if text.startswith(("/", ".", "~")) or text.endswith(".gguf") or text.count("/") > 1:
        raise ModelNotFoundError(f"model not found: {path}")
    return text, None  # a hub id such as Qwen/Qwen1.5-0.5B


class TransformersEngine(Engine):
    """A causal LM run by transformers + torch, with per-prefix key/value tensors."""

    backend = "transformers"

    def __init__(
        self,
        model: str | Path,
        *,
        threads: int | None = None,
        dtype: str = "float32",
        n_ctx: int = 3072,
        batch_tokens: int = 512,
        warm_up: bool = True,
        gguf_file: str | None = None,
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        self.dtype = dtype
        self.n_threads = threads or physical_cores()
        torch.set_num_threads(self.n_threads)
        source, self._gguf = locate_model(model, gguf_file)
        self.model_path = str(Path(source) / self._gguf) if self._gguf else source
        self._tok, self._model = self._load(source, DTYPES[dtype])
        config = self._model.config
        self.n_ctx = min(n_ctx, getattr(config, "max_position_embeddings", n_ctx) or n_ctx)
        self.n_vocab = int(self._model.get_output_embeddings().weight.shape[0])
        self.batch_tokens = batch_tokens
        self._base = self._model.base_model
        self._head = self._model.get_output_embeddings()
        params = inspect.signature(self._base.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._n_tok = self.n_vocab = len(self._tok)
        self._special = self._find_special()
        self._end_tokens = self._find_end_tokens()
        self._pieces: dict[int, bytes] = {}
        self._bytes_of = byte_decoder()
        self._lock = StepLock()
        self._scorer: ScoreCoalescer = ScoreCoalescer(self._lock, self._score_all)
        self._prefixes: dict[int, tuple[KV, np.ndarray]] = {}
        self._handles = itertools.count()
        self._lora = PeftAdapters(self._model)
        if warm_up:
            prefix = self.cache_prefix(self.tokenize("Hello"))
            self.next_logits(prefix, self.tokenize(" world"))
            self.release_prefix(prefix)

    @property
    def model(self):
        """The underlying transformers model (for training; serving goes through the API)."""
        return self._model

    # -- loading -----------------------------------------------------------------
    def _load(self, source: str, dtype: torch.dtype):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kw = {"gguf_file": self._gguf} if self._gguf else {}
        try:
            tok = AutoTokenizer.from_pretrained(source, **kw)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kw)
        except OSError as err:
            if Path(source).exists():
                raise ModelLoadError(
                    f"transformers could not load {self.model_path}: {err}"
                ) from err
            why = (str(err).splitlines() or [""])[0]
            raise ModelNotFoundError(
                f"model {source!r} is neither a local path nor available from the Hugging Face "
                f"cache or hub ({err.__class__.__name__}: {why})"
            ) from err
        except Exception as err:  # corrupt weights, unknown architecture, bad config...
            raise ModelLoadError(
                f"transformers could not load {self.model_path}: {err.__class__.__name__}: {err}"
            ) from err
        model.eval()
        model.requires_grad_(False)
        return tok, model

    def _find_special(self) -> frozenset[int]:
        ids = {i for i, t in self._tok.added_tokens_decoder.items() if t.special}
        return frozenset(ids | set(self._tok.all_special_ids))

    def _find_end_tokens(self) -> frozenset[int]:
        ids: set[int] = set()
        for source in (self._tok.eos_token_id, self._model.generation_config.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(int(i) for i in source)
        return frozenset(ids)

    # -- vocabulary ----------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        enc = self._tok(text, add_special_tokens=False, split_special_tokens=True)
        return list(enc["input_ids"])

    def control_token(self, name: str) -> int:
        for i, tok in self._tok.added_tokens_decoder.items():
            if tok.special and tok.content == name:
                return int(i)
        raise KeyError(f"model has no control token {name!r}")

    def is_control(self, token: int) -> bool:
        return token in self._special

    def token_bytes(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self._piece(token)
        return piece

    def _piece(self, token: int) -> bytes:
        if token in self._special or not 0 <= token < self._n_tok:
            return b""
        added = self._tok.added_tokens_decoder.get(token)
        if added is not None:
            return added.content.encode("utf-8")
        text = self._tok.convert_ids_to_tokens(token)
        byte = _BYTE_TOKEN.fullmatch(text)
        if byte:  # sentencepiece byte fallback
            return bytes([int(byte.group(1), 16)])
        if all(c in self._bytes_of for c in text):  # byte-level BPE (Qwen, GPT-2)
            return bytes(self._bytes_of[c] for c in text)
        return text.replace("\u2581", " ").encode("utf-8")  # sentencepiece word marker

    @property
    def end_tokens(self) -> frozenset[int]:
        return self._end_tokens

    # -- evaluation ----------------------------------------------------------------
    def _cache(self, kv: KV, rows: int = 1):
        """A fresh ``DynamicCache`` holding a copy of ``kv`` (repeated for ``rows`` rows)."""
        from transformers import DynamicCache

        if rows > 1:
            kv = tuple((k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in kv)
        with torch.inference_mode():
            return DynamicCache(kv) if kv else DynamicCache()

    def _hidden(self, cache, ids: torch.Tensor, adapter: int | None) -> torch.Tensor:
        """Last-layer hidden states of ``ids`` (rows x tokens) appended to ``cache``."""
        self._lora.use(adapter)
        with torch.inference_mode():
            out = self._base(input_ids=ids, use_cache=True, **{self._cache_kw: cache})
        return out.last_hidden_state

    def _logits(self, hidden: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return self._head(hidden).float().numpy()

    def _step(
        self, cache, tokens: Sequence[int], start: int, adapter: int | None = None
    ) -> np.ndarray:
        """Evaluate ``tokens`` after ``start`` cached ones; logits after the last."""
        if start + len(tokens) > self.n_ctx:
            raise ContextFullError(
                f"{start + len(tokens)} tokens exceed the model's context of {self.n_ctx}"
            )
        hidden = self._hidden(cache, torch.tensor([list(tokens)], dtype=torch.long), adapter)
        return self._logits(hidden[0, -1])

    @staticmethod
    def _kv_of(cache) -> KV:
        return tuple((layer.keys, layer.values) for layer in cache.layers)

    def cache_prefix(self, tokens: Sequence[int], adapter: int | None = None) -> Prefix:
        if not tokens:
            raise ValueError("cache_prefix needs at least one token")
        self._lora.check(adapter)
        with self._lock.hold(SCORE_PRIORITY):
            cache = self._cache(())
            logits = self._step(cache, tokens, 0, adapter)
        handle = next(self._handles)
        self._prefixes[handle] = (self._kv_of(cache), logits)
        return Prefix(handle=handle, tokens=tuple(tokens), adapter=adapter)

    def release_prefix(self, prefix: Prefix) -> None:
        """Drop a cached prefix's key/value tensors."""
        self._prefixes.pop(prefix.handle, None)

    def _prefix_kv(self, prefix: Prefix) -> tuple[KV, np.ndarray]:
        try:
            return self._prefixes[prefix.handle]
        except KeyError:
            raise ValueError(f"unknown or released prefix handle {prefix.handle}") from None

    def next_logits(self, prefix: Prefix, tokens: Sequence[int]) -> np.ndarray:
        return self.next_logits_many(prefix, [tokens])[0]

    def next_logits_many(self, prefix: Prefix, batch: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Score continuations, coalesced with other threads' requests (see the contract)."""
        self._prefix_kv(prefix)  # an unknown handle fails here, in its own caller
        return self._scorer.score(scoring_request(prefix, batch)) if batch else []

    def _score_all(self, requests: list[tuple[Prefix, list[list[int]]]]) -> list:
        """Per request its logits, or its own error; requests on one prefix batch together."""
        out: list[list] = [[None] * len(batch) for _, batch in requests]
        errors = context_errors(requests, self.n_ctx)
        by_prefix: dict[int, list[tuple[int, int]]] = {}
        for r, (prefix, batch) in enumerate(requests):
            if r not in errors:
                by_prefix.setdefault(prefix.handle, []).extend((r, j) for j in range(len(batch)))
        for refs in by_prefix.values():
            prefix = requests[refs[0][0]][0]
            rows = [requests[r][1][j] for r, j in refs]
            for (r, j), logits in zip(refs, self._score_rows(prefix, rows)):
                out[r][j] = logits
        return [errors.get(r, out[r]) for r in range(len(requests))]

    def _score_rows(self, prefix: Prefix, rows: list[list[int]]) -> list[np.ndarray]:
        """Logits after each row (continuations of ``prefix``), in right-padded batches."""
        kv, _ = self._prefixes[prefix.handle]
        if len(rows) == 1:
            return [self._step(self._cache(kv), rows[0], len(prefix), prefix.adapter)]
        results: list = [None] * len(rows)
        for group in self._groups(rows):
            width = max(len(rows[i]) for i in group)
            ids = torch.tensor([[*rows[i], *[0] * (width - len(rows[i]))] for i in group])
            last = torch.tensor([len(rows[i]) - 1 for i in group])
            hidden = self._hidden(self._cache(kv, rows=len(group)), ids, prefix.adapter)
            logits = self._logits(hidden[torch.arange(len(group)), last])
            for row, i in enumerate(group):
                results[i] = logits[row]
        return results

    def _groups(self, batch: Sequence[Sequence[int]]) -> Iterator[list[int]]:
        """Indices, shortest first, grouped so each padded group stays within ``batch_tokens``."""
        group: list[int] = []
        for i in sorted(range(len(batch)), key=lambda i: len(batch[i])):
            if not batch[i]:
                raise ValueError("next_logits needs at least one token")
            if group and len(batch[i]) * (len(group) + 1) > self.batch_tokens:
                yield group
                group = []
            group.append(i)
        if group:
            yield group

    def generate(
        self,
        prefix: Prefix,
        tokens: Sequence[int],
        *,
        max_new_tokens: int,
        sampling: SamplingParams,
        stop_tokens: frozenset[int] | None = None,
        should_stop: Callable[[], bool] | None = None,
        first_banned: np.ndarray | None = None,
        banned: np.ndarray | None = None,
    ) -> Iterator[int]:
        kv, prefix_logits = self._prefix_kv(prefix)
        cache = self._cache(kv)  # freed with this generator's frame when it closes
        if tokens:
            with self._lock.hold(GENERATE_PRIORITY):
                logits = self._step(cache, tokens, len(prefix), prefix.adapter)
        else:
            logits = prefix_logits

        def step(token: int, pos: int) -> np.ndarray:
            with self._lock.hold(GENERATE_PRIORITY):
                return self._step(cache, [token], pos, prefix.adapter)

        context = [*prefix.tokens, *tokens]  # the penalties see the history too
        sampler = HFSampler(sampling, self.n_ctx, context)
        try:
            yield from decode_loop(
                logits,
                step,
                pos=len(context),
                n_ctx=self.n_ctx,
                max_new_tokens=max_new_tokens,
                sampler=sampler,
                stops=self._end_tokens | (stop_tokens or frozenset()),
                should_stop=should_stop,
                first_banned=first_banned,
                banned=banned,
            )
        finally:
            sampler.close()

    # -- adapters ------------------------------------------------------------------
    def load_adapter(self, path: str) -> int:
        """Inject a moodchat GGUF LoRA adapter with PEFT; it stays off until a prefix uses it."""
        with self._lock.hold(SCORE_PRIORITY):
            return self._lora.load(path)

    def info(self) -> dict:
        config = self._model.config
        return super().info() | {
            "description": f"{config.model_type} via transformers ({Path(self.model_path).name})",
            "dtype": self.dtype,
            "n_params": int(sum(p.numel() for p in self._model.parameters())),
            "torch": torch.__version__,
        }

    def close(self) -> None:
        self._prefixes.clear()
        self._model = None
        self._base = None
        self._head = None
