"""What one ``llama_decode`` costs for 1, 2, 4 and 8 tokens on this machine (issue 12).

Continuous batching can only make N concurrent replies faster than one if a decode of N
tokens (one per reply) costs much less than N decodes of one token. This measures exactly
that, below moodchat's scheduler: the default GGUF loaded with moodchat's own settings
(``llama_load``: no weight repacking unless ``--repack``, unified KV cache, n_ubatch 128),
a 40-token sequence copied to 8 sequences, then ``--steps`` decodes of

- N tokens, one in each of N sequences (what a batched step of N replies is), and
- N tokens in one sequence (a short prompt chunk), for comparison,

reporting ms per decode and the throughput ratio against N = 1: the ceiling of the
"N concurrent replies vs one" figure of ``moodchat bench``. Usage (on a quiet machine):

    python scripts/decode_scaling.py [--repack] [--threads 2] [--steps 10]
"""

from __future__ import annotations

import argparse
import time

import llama_cpp

from moodchat.engine.llama_load import load_model, new_context
from moodchat.engine.llama_log import NativeLog
from moodchat.weights.models import resolve_model

PROMPT_TOKENS = 40


def _decode(ctx, batch, rows: list[tuple[int, int, int]]) -> None:
    for i, (token, pos, seq) in enumerate(rows):
        batch.token[i], batch.pos[i] = token, pos
        batch.seq_id[i][0], batch.n_seq_id[i], batch.logits[i] = seq, 1, True
    batch.n_tokens = len(rows)
    if llama_cpp.llama_decode(ctx, batch) != 0:
        raise RuntimeError("llama_decode failed")


def _ms_per_decode(ctx, mem, batch, n: int, steps: int, multi_seq: bool) -> float:
    start = time.perf_counter()
    for k in range(steps):
        if multi_seq:
            rows = [(1000 + k, PROMPT_TOKENS + k, s) for s in range(n)]
        else:
            rows = [(1000 + j, PROMPT_TOKENS + j, 0) for j in range(n)]
        _decode(ctx, batch, rows)
        if not multi_seq:
            llama_cpp.llama_memory_seq_rm(mem, 0, PROMPT_TOKENS, -1)
    seconds = (time.perf_counter() - start) / steps
    for s in range(8):
        llama_cpp.llama_memory_seq_rm(mem, s, PROMPT_TOKENS, -1)
    return seconds * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repack", action="store_true", help="repack the weights (CPU_REPACK)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    log = NativeLog.install(llama_cpp, False)
    path = resolve_model(None, backend="llama", auto_pull=False)
    model = load_model(llama_cpp, path, args.repack, log)
    ctx = new_context(llama_cpp, model, args.threads, 3072, 512, 128, 16)
    mem, batch = llama_cpp.llama_get_memory(ctx), llama_cpp.llama_batch_init(512, 0, 1)
    _decode(ctx, batch, [(100 + i, i, 0) for i in range(PROMPT_TOKENS)])
    for s in range(1, 8):
        llama_cpp.llama_memory_seq_cp(mem, 0, s, 0, PROMPT_TOKENS)
    print(llama_cpp.llama_print_system_info().decode().strip())
    print(f"repack={args.repack} threads={args.threads}")
    base = None
    for n in (1, 2, 4, 8):
        multi = _ms_per_decode(ctx, mem, batch, n, args.steps, multi_seq=True)
        single = _ms_per_decode(ctx, mem, batch, n, args.steps, multi_seq=False)
        base = base or multi
        print(
            f"{n} token(s): {multi:6.1f} ms in {n} sequence(s), {single:6.1f} ms in one; "
            f"{n} replies could step {n * base / multi:.2f}x as fast as one"
        )
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)


if __name__ == "__main__":
    main()
