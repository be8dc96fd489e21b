"""Benchmark child: the reference design's stack, transformers + torch in FP32.

Contract: loads the same GGUF weights with ``gguf_file=`` (dequantised to FP32), builds
the whole ChatML prompt string for every message, and calls ``model.generate`` directly:
``max_new_tokens=5`` greedy for sentiment (then parses the label), up to
``max_new_tokens`` sampled for chat, timing the first token with a streamer. This is a
baseline, not moodchat's transformers engine. Prints one ``BENCH-RESULT`` JSON line.
"""

from __future__ import annotations

import time
from pathlib import Path

from moodchat.evaluation.bench.workload import (
    BenchConfig,
    Recorder,
    baseline_chat,
    baseline_sentiment,
)


def run(config: BenchConfig, start_rss: int) -> None:
    rec = Recorder("fp32-transformers", start_rss)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from moodchat.engine.hardware import physical_cores
    from moodchat.weights.models import resolve_model

    torch.set_num_threads(config.threads or physical_cores())
    path = Path(resolve_model(config.model))
    rec.progress("loading the tokenizer and the FP32 model (slow)")
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    rec.memory("after_tokenizer")
    model = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    )
    model.eval()
    rec.put("load_s", round(time.perf_counter() - t0, 2))
    rec.put("cold_start_s", round(time.time() - config.spawned_at, 2))
    rec.memory("after_load")
    stop_ids = [tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id]
    generate = _generator(torch, model, tok, stop_ids)
    baseline_sentiment(config, rec, generate, generate.decode)
    rec.memory("peak_sentiment", peak=True)

    from moodchat.evaluation.bench.naive import chat_prompt_text

    baseline_chat(
        config, rec, lambda m: generate(chat_prompt_text(m), config.max_new_tokens, False)
    )
    rec.memory("peak_chat", peak=True)
    rec.finish()


def _generator(torch, model, tok, stop_ids):
    from transformers.generation.streamers import BaseStreamer

    class FirstToken(BaseStreamer):
        def __init__(self) -> None:
            self.calls, self.first = 0, None

        def put(self, value) -> None:
            self.calls += 1
            if self.calls == 2:  # the first call carries the prompt
                self.first = time.perf_counter()

        def end(self) -> None:
            pass

    def generate(prompt: str, max_new_tokens: int, greedy: bool):
        ids = tok(prompt, return_tensors="pt")
        streamer = FirstToken()
        sampling = (
            {"do_sample": False}
            if greedy
            else {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20,
                  "repetition_penalty": 1.05}
        )  # fmt: skip
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **ids, max_new_tokens=max_new_tokens, eos_token_id=stop_ids,
                pad_token_id=stop_ids[-1], streamer=streamer, **sampling,
            )  # fmt: skip
        end = time.perf_counter()
        new = [t for t in out[0, ids["input_ids"].shape[1] :].tolist() if t not in stop_ids]
        return new, ((streamer.first or end) - start) * 1000, (end - start) * 1000

    generate.decode = lambda ids: tok.decode(ids, skip_special_tokens=True)
    return generate
