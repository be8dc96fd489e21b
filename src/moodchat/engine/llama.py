"""llama.cpp backend (llama-cpp-python's low-level API) for GGUF files on the CPU.

Contract (see ``moodchat.engine.base``) plus:
- One llama.cpp context with a unified KV cache holding several sequences. Each cached
  prefix lives in a sequence of its own and is never evicted, so two roles never thrash
  each other's cache. Scoring decodes its tokens on top of the prefix sequence and removes
  them afterwards; a generation copies the prefix into a working sequence (a metadata-only
  operation in a unified cache) and frees it when the generator closes.
- A missing file raises ``ModelNotFoundError``; a file that is not a loadable GGUF raises
  ``ModelLoadError``. Neither crashes the process.
- The model is warmed up at load (one small decode), so the first request is not the slow one.
- LoRA adapters are loaded once (``llama_adapter_lora_init``) and switched per decode:
  every sequence remembers its prefix's adapter, and before each ``llama_decode`` the
  context's adapter set is made to match (``llama_set_adapters_lora``, a no-op when
  unchanged); one batch never mixes two adapters. This beat a second context with the
  adapter always on: ~4 ms per switch against +44.6 MiB RSS (docs/backends.md).
- Continuous batching: a generation prefills its prompt in ``n_ubatch`` chunks (one lock
  hold each), then its one-token steps go through ``scheduling.StepBatcher``, which decodes
  the pending steps of every running generation in one ``llama_decode``; each keeps its
  own sequence, sampler chain and seed. Scoring waits at most one such step.
- On 2 cores a batched decode costs nearly as much per token as one alone
  (``scripts/decode_scaling.py``: 1 / 4 / 8 tokens in 18.7 / 56.1 / 71.2 ms), so batching
  replies buys at most ~1.3x at 4; what it saves is the waiting, not the compute.
- ``parallel`` replies hold a sequence each, from a pool of their own; beyond it a reply
  waits for one to end. Cached prefixes and scoring use the other ``spare_seqs`` sequences,
  so scoring never waits for a reply to end.
- Coalesced scoring: ``next_logits`` / ``next_logits_many`` requests from every thread go
  through ``scheduling.ScoreCoalescer``; the requests queued while the step lock is busy
  are scored together, in as few decodes as fit (``engine.llama_score``).
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from moodchat.engine.base import Engine, Prefix
from moodchat.engine.hardware import physical_cores
from moodchat.engine.llama_load import check_gguf_file, load_model, new_context
from moodchat.engine.llama_log import NativeLog
from moodchat.engine.llama_sampler import LlamaSampler
from moodchat.engine.llama_score import ScoreRequest, score_requests
from moodchat.engine.sampling import SamplingParams, decode_loop
from moodchat.engine.scheduling import (
    GENERATE_PRIORITY,
    SCORE_PRIORITY,
    ScoreCoalescer,
    SequencePool,
    StepBatcher,
    StepLock,
    scoring_request,
)
from moodchat.errors import AdapterError, ContextFullError

DEFAULT_PARALLEL = 4
# The roles cache up to 4 prefixes (sentiment and chat, zh and en); the other 4 let a
# scoring round put 5 texts of one prefix side by side, about what its 63 rows hold. More
# would cost RSS for nothing (LlamaEngine RSS: +4.6 MiB from 8 to 12 sequences here).
DEFAULT_SPARE_SEQS = 8


class LlamaEngine(Engine):
    """A GGUF model served through llama.cpp with per-prefix KV sequences."""

    backend = "llama"

    def __init__(
        self,
        model_path: str | Path,
        *,
        threads: int | None = None,
        n_ctx: int = 3072,
        n_batch: int = 512,
        n_ubatch: int = 128,
        parallel: int = DEFAULT_PARALLEL,
        spare_seqs: int = DEFAULT_SPARE_SEQS,
        repack: bool = False,
        warm_up: bool = True,
        verbose: bool = False,
    ) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._log = NativeLog.install(llama_cpp, verbose)
        path = Path(model_path).expanduser()
        check_gguf_file(path)
        self.model_path = str(path)
        self.n_threads = threads or physical_cores()
        self._model = load_model(llama_cpp, path, repack, self._log)
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        if parallel < 1 or spare_seqs < 1:
            raise ValueError("parallel and spare_seqs must be at least 1")
        self.parallel = parallel
        n_seq_max = parallel + spare_seqs
        self._ctx = new_context(
            llama_cpp, self._model, self.n_threads, n_ctx, n_batch, n_ubatch, n_seq_max
        )
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self.n_ctx = llama_cpp.llama_n_ctx(self._ctx)
        self.n_batch = n_batch
        self.n_ubatch = min(n_ubatch, n_batch)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._lock = StepLock()
        self._batcher = StepBatcher(self._lock, self._decode_steps)
        self._reply_seqs = SequencePool(parallel)
        self._seqs = SequencePool(spare_seqs, first=parallel)  # prefixes and scoring
        self._scorer: ScoreCoalescer[ScoreRequest, list[np.ndarray]] = ScoreCoalescer(
            self._lock, self._score_all
        )
        self._prefix_seq: dict[int, int] = {}
        self._adapters: dict[int, object] = {}
        self._seq_adapter: dict[int, int | None] = {}
        self._active_adapter: int | None = None
        self._end_tokens = self._find_end_tokens()
        if warm_up:
            self.next_logits(self.cache_prefix(self.tokenize("Hello")), self.tokenize(" world"))

    # -- loading -----------------------------------------------------------------
    def _find_end_tokens(self) -> frozenset[int]:
        ids = {self._lib.llama_vocab_eos(self._vocab), self._lib.llama_vocab_eot(self._vocab)}
        return frozenset(i for i in ids if i >= 0)

    # -- vocabulary ----------------------------------------------------------------
    def _tokenize(self, text: str, special: bool) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8
        buf = (self._lib.llama_token * cap)()
        n = self._lib.llama_tokenize(self._vocab, data, len(data), buf, cap, False, special)
        if n < 0:
            raise ValueError(f"tokenization failed ({n})")
        return list(buf[:n])

    def tokenize(self, text: str) -> list[int]:
        return self._tokenize(text, special=False)

    def control_token(self, name: str) -> int:
        ids = self._tokenize(name, special=True)
        if len(ids) != 1 or not self.is_control(ids[0]):
            raise KeyError(f"model has no control token {name!r}")
        return ids[0]

    def is_control(self, token: int) -> bool:
        return bool(
            self._lib.llama_vocab_is_control(self._vocab, token)
            or self._lib.llama_vocab_is_eog(self._vocab, token)
        )

    def token_bytes(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._lib.llama_token_to_piece(self._vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
        return buf.raw[:n]

    @property
    def end_tokens(self) -> frozenset[int]:
        return self._end_tokens

    # -- evaluation ----------------------------------------------------------------
    def _fill(self, items: Sequence[tuple[int, int, int, bool]]) -> None:
        """Put (token, pos, seq, want_logits) rows into the shared batch."""
        b = self._batch
        for i, (tok, pos, seq, logits) in enumerate(items):
            b.token[i] = tok
            b.pos[i] = pos
            b.seq_id[i][0] = seq
            b.n_seq_id[i] = 1
            b.logits[i] = logits
        b.n_tokens = len(items)

    def load_adapter(self, path: str) -> int:
        """Load a GGUF LoRA adapter for this model; ``AdapterError`` if llama.cpp refuses it."""
        with self._lock.hold(SCORE_PRIORITY):
            ptr = self._lib.llama_adapter_lora_init(self._model, str(path).encode())
        if not ptr:
            why = f" ({self._log.errors[-1]})" if self._log.errors else ""
            raise AdapterError(
                f"llama.cpp could not load the adapter {path}{why}: it is corrupt or was made "
                "for another base model"
            )
        handle = len(self._adapters) + 1
        self._adapters[handle] = ptr
        return handle

    def _switch_adapter(self, seq: int) -> None:
        """Make the context's LoRA set the one ``seq``'s prefix was computed with."""
        want = self._seq_adapter.get(seq)
        if want == self._active_adapter:
            return
        if want is None:
            rc = self._lib.llama_set_adapters_lora(self._ctx, None, 0, None)
        else:
            ptrs = (self._lib.llama_adapter_lora_p_ctypes * 1)(self._adapters[want])
            scales = (ctypes.c_float * 1)(1.0)
            rc = self._lib.llama_set_adapters_lora(self._ctx, ptrs, 1, scales)
        if rc != 0:
            raise RuntimeError(f"llama_set_adapters_lora failed with code {rc}")
        self._active_adapter = want

    def _decode(self, items: Sequence[tuple[int, int, int, bool]]) -> None:
        self._switch_adapter(items[0][2])
        self._fill(items)
        rc = self._lib.llama_decode(self._ctx, self._batch)
        if rc == 1:
            raise ContextFullError(
                f"the model's context ({self.n_ctx} tokens) is full; retry when fewer "
                "requests are running, or raise n_ctx"
            )
        if rc != 0:
            raise RuntimeError(f"llama_decode failed with code {rc}")

    def _decode_run(self, tokens: Sequence[int], seq: int, start: int) -> np.ndarray | None:
        """Decode ``tokens`` at ``start`` in ``seq``; logits after the last one (None if empty)."""
        if start + len(tokens) > self.n_ctx:
            raise ContextFullError(
                f"{start + len(tokens)} tokens exceed the model's context of {self.n_ctx}"
            )
        logits = None
        for lo in range(0, len(tokens), self.n_batch):
            chunk = tokens[lo : lo + self.n_batch]
            last = lo + len(chunk) == len(tokens)
            rows = [
                (t, start + lo + i, seq, last and i == len(chunk) - 1) for i, t in enumerate(chunk)
            ]
            self._decode(rows)
            if last:
                logits = self._logits(len(chunk) - 1)
        return logits

    def _logits(self, row: int) -> np.ndarray:
        ptr = self._lib.llama_get_logits_ith(self._ctx, row)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()

    def _forget(self, seq: int, start: int = -1) -> None:
        self._lib.llama_memory_seq_rm(self._mem, seq, start, -1)

    def cache_prefix(self, tokens: Sequence[int], adapter: int | None = None) -> Prefix:
        if adapter is not None and adapter not in self._adapters:
            raise ValueError(f"unknown adapter handle {adapter}")
        (seq,) = self._seqs.take()
        self._seq_adapter[seq] = adapter
        try:
            with self._lock.hold(SCORE_PRIORITY):
                self._forget(seq)
                self._decode_run(list(tokens), seq, 0)
        except BaseException:
            self._seqs.give(seq)
            raise
        prefix = Prefix(handle=seq, tokens=tuple(tokens), adapter=adapter)
        self._prefix_seq[seq] = seq
        return prefix

    def _copy_prefix(self, prefix: Prefix, seq: int) -> None:
        """Start ``seq`` as a copy of the prefix's KV, on the prefix's adapter."""
        self._lib.llama_memory_seq_cp(self._mem, prefix.handle, seq, 0, len(prefix))
        self._seq_adapter[seq] = prefix.adapter

    def release_prefix(self, prefix: Prefix) -> None:
        """Drop a cached prefix and return its sequence to the pool."""
        if self._prefix_seq.pop(prefix.handle, None) is not None:
            with self._lock.hold(SCORE_PRIORITY):
                self._forget(prefix.handle)
            self._seqs.give(prefix.handle)

    def next_logits(self, prefix: Prefix, tokens: Sequence[int]) -> np.ndarray:
        return self.next_logits_many(prefix, [tokens])[0]

    def next_logits_many(self, prefix: Prefix, batch: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Score several continuations, coalesced with other threads' scoring requests."""
        return self._scorer.score(scoring_request(prefix, batch)) if batch else []

    def _score_all(self, requests: list[ScoreRequest]) -> list:
        return score_requests(self, requests)

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
        (seq,) = self._reply_seqs.take()
        joined = False
        try:
            logits = self._prefill(prefix, list(tokens), seq)
            self._batcher.join()  # from now on its steps are decoded with the others'
            joined = True

            def step(token: int, pos: int) -> np.ndarray:
                return self._batcher.step(seq, token, pos)

            context = [*prefix.tokens, *tokens]  # llama.cpp's chain penalizes the history too
            with LlamaSampler(self._lib, self._vocab, sampling, self.n_ctx, context) as sampler:
                yield from decode_loop(
                    logits,
                    step,
                    pos=len(prefix) + len(tokens),
                    n_ctx=self.n_ctx,
                    max_new_tokens=max_new_tokens,
                    sampler=sampler,
                    stops=self._end_tokens | (stop_tokens or frozenset()),
                    should_stop=should_stop,
                    first_banned=first_banned,
                    banned=banned,
                )
        finally:
            if joined:
                self._batcher.leave()
            with self._lock.hold(SCORE_PRIORITY):
                self._forget(seq)
            self._reply_seqs.give(seq)

    def _prefill(self, prefix: Prefix, tokens: list[int], seq: int) -> np.ndarray:
        """Copy the prefix into ``seq`` and decode ``tokens`` in chunks of ``n_ubatch``, one
        lock hold each, so a long prompt lets running replies step between its chunks."""
        with self._lock.hold(GENERATE_PRIORITY):
            self._copy_prefix(prefix, seq)
        logits, pos = None, len(prefix)
        for lo in range(0, len(tokens), self.n_ubatch):
            chunk = tokens[lo : lo + self.n_ubatch]
            with self._lock.hold(GENERATE_PRIORITY):
                logits = self._decode_run(chunk, seq, pos)
            pos += len(chunk)
        return logits

    def _decode_steps(self, batch: dict[int, tuple[int, int]]) -> dict[int, np.ndarray]:
        """One token for each of several sequences: one decode per adapter among them."""
        out: dict[int, np.ndarray] = {}
        for adapter in {self._seq_adapter.get(seq) for seq in batch}:
            seqs = [seq for seq in batch if self._seq_adapter.get(seq) == adapter]
            self._decode([(*batch[seq], seq, True) for seq in seqs])
            for i, seq in enumerate(seqs):
                out[seq] = self._logits(i)
        return out

    def info(self) -> dict:
        desc = ctypes.create_string_buffer(256)
        self._lib.llama_model_desc(self._model, desc, 256)
        return super().info() | {
            "description": desc.value.decode(errors="replace"),
            "size_bytes": Path(self.model_path).stat().st_size,
            "n_params": int(self._lib.llama_model_n_params(self._model)),
        }

    def close(self) -> None:
        self._adapters = {}  # llama.cpp frees a model's adapters with the model
        if getattr(self, "_ctx", None):
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            self._ctx = None
        if getattr(self, "_model", None):
            self._lib.llama_model_free(self._model)
            self._model = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
