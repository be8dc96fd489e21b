"""How fast the adapter training's two stages run here, in float32 and in bfloat16.

Loads the default GGUF through transformers (dequantized, as ``moodchat train-sentiment``
does), then times, on a random ``--batch`` x ``--tokens`` batch:
- the frozen lower layers (``SplitModel.lower``), in tokens/s;
- a training step of the top ``--top-layers`` layers with LoRA (forward, label loss,
  backward, AdamW step), in examples/s.
Each is the mean of ``--repeats`` runs after one warm-up. Usage:

    python scripts/training_speed.py --top-layers 6
    python scripts/training_speed.py --top-layers 24 --compute float32 --repeats 1
"""

from __future__ import annotations

import argparse
import time

import torch

from moodchat.prompts import sentiment_prompt
from moodchat.roles.sentiment import answer_ids
from moodchat.training.layers import COMPUTE_DTYPES, SplitModel, native_bfloat16
from moodchat.training.lora import Example, attach_lora, label_loss
from moodchat.weights.models import resolve_model


def _timed(fn, repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top-layers", type=int, default=6)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--compute",
        choices=COMPUTE_DTYPES,
        action="append",
        help="time only this one (repeatable; default: both). Without native bfloat16 "
        "(moodchat.training.layers.native_bfloat16) its step can take minutes",
    )
    args = parser.parse_args()

    from moodchat.engine.hf import TransformersEngine

    model_path = resolve_model(None, backend="llama", auto_pull=False)
    engine = TransformersEngine(model_path, threads=args.threads, warm_up=False)
    label_ids = answer_ids(engine, sentiment_prompt("a1-adapter"))
    ids = torch.randint(1000, 20000, (args.batch, args.tokens), generator=torch.Generator())
    rows = [Example(tuple(ids[i].tolist()), i % 2) for i in range(args.batch)]
    print(f"native bfloat16: {native_bfloat16()}")
    exact = SplitModel(engine.model, args.top_layers, "float32")
    splits = {
        c: SplitModel(engine.model, args.top_layers, c) for c in args.compute or COMPUTE_DTYPES
    }
    hidden = exact.lower(ids)
    peft_model = attach_lora(engine.model, exact.upper_indices, 16, 32.0, 0)
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-4)
    lower_layers = exact.split
    for compute, split in splits.items():
        seconds = _timed(lambda s=split: s.lower(ids), args.repeats)
        tokens_s = args.batch * args.tokens / seconds
        print(f"{compute}: {lower_layers} frozen layers {tokens_s:,.0f} tokens/s")
        loss = label_loss(split, label_ids)

        def step(loss=loss) -> None:
            opt.zero_grad(set_to_none=True)
            loss(hidden, rows).backward()
            opt.step()

        seconds = _timed(step, args.repeats)
        print(
            f"{compute}: training step, top {args.top_layers} layers, "
            f"{args.batch / seconds:.1f} examples/s"
        )


if __name__ == "__main__":
    main()
