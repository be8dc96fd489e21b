"""The fixed benchmark workload and the measuring helpers every benchmark child shares.

Contract: ``SHORT`` texts are at most 20 characters, ``LONG`` texts at least 200, ``CHAT``
messages are typical things a user tells an empathetic assistant, ``LONG_REPLY`` messages
ask for a long answer (for the measured up-to-128-token reply); all are hand-written (none
comes from the development data). ``BenchConfig`` holds the run counts and travels
to the children as JSON. ``Recorder`` collects phase memory (RSS now and the kernel's
high-water mark) and timings without importing anything heavy, so a child can record its
interpreter-start RSS before the stack under test is imported.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from dataclasses import asdict, dataclass, field

from moodchat.engine.hardware import mib, peak_rss_bytes, rss_bytes
from moodchat.evaluation.stats import percentiles

SHORT = (
    "太好吃了，五星好评！",
    "送得太慢了，差评。",
    "I love this so much!",
    "Worst day ever.",
    "谢谢你，今天很开心",
    "饭菜都凉了，难吃",
    "Great service, thanks",
    "This is so annoying.",
)

LONG = (
    "下单的时候是中午十二点，结果等到一点半才送到，打电话给骑手说在路上，问商家说早就出餐了。"
    "到手的时候汤洒了一半，米饭也凉透了，菜的分量比图片上少很多，味道也偏咸。以前在这家点过几次"
    "还觉得不错，这次体验实在太差了，联系客服也只是说会反馈，没有任何补偿。真的很失望，以后不会"
    "再点了，也不推荐大家来这家。",
    "今天收到朋友寄来的生日礼物，是一本我找了很久的绝版画册，还附了一张手写的卡片，写满了我们这些"
    "年一起经历的事情。读着读着眼泪就掉下来了，觉得自己真的很幸运，身边有这样一直记得我、关心我的"
    "人。晚上一家人一起吃了蛋糕，妈妈还做了我最爱吃的红烧肉，这大概是我过得最温暖的一个生日了。",
    "I had been looking forward to this trip for months, but almost everything went wrong. The "
    "flight was delayed by six hours, the airline lost one of our bags, and when we finally got "
    "to the hotel our reservation had been cancelled without any notice. The staff were rude and "
    "unhelpful, and the replacement room smelled of smoke. I am exhausted and honestly just want "
    "to go home.",
    "After three years of evening classes I finally passed my certification exam today, and I "
    "still can't quite believe it. My family surprised me with dinner at my favourite restaurant, "
    "my manager sent a lovely message, and my old teacher called to congratulate me. All those "
    "late nights were worth it, and I feel proud, grateful and ready for whatever comes next.",
)

CHAT = (
    "最近工作压力好大，每天都加班到很晚，感觉快撑不住了。",
    "I finally finished my first marathon today!",
    "我和最好的朋友吵架了，不知道该怎么和好。",
    "My dog has been sick all week and I'm really worried about him.",
)

LONG_REPLY = (
    "Please tell me a long, detailed bedtime story about a shy little fox who learns to make "
    "friends. Make it at least 300 words and don't stop early.",
    "我最近总是失眠，心里很乱。请你详细地、慢慢地陪我聊聊，多说一些，至少写三百字，"
    "讲讲你会怎么安慰我，还有我今晚可以试试的几件小事。",
)


@dataclass
class BenchConfig:
    """Run counts and the model under test; serialised to JSON for the children."""

    model: str | None = None
    backend: str = "llama"
    threads: int | None = None
    dtype: str | None = None
    short_runs: int = 24
    long_runs: int = 8
    chat_runs: int = 4
    batch_texts: int = 64
    baseline_short_runs: int = 8
    baseline_long_runs: int = 4
    baseline_chat_runs: int = 2
    max_new_tokens: int = 128
    sentiment_adapter: str | None = None
    chat_adapter: str | None = None
    concurrency_levels: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    concurrency_tokens: int = 64
    concurrency_sentiment_runs: int = 16
    spawned_at: float = field(default_factory=time.time)

    def model_options(self):
        """The ``ModelOptions`` a moodchat child loads (never pulls: the parent did)."""
        from moodchat.assistant import ModelOptions, RoleOptions

        roles = RoleOptions(
            sentiment_adapter=self.sentiment_adapter, chat_adapter=self.chat_adapter
        )
        return ModelOptions(
            self.model, self.backend, self.threads, self.dtype, auto_pull=False, roles=roles
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> BenchConfig:
        return cls(**json.loads(text))


def cycle(texts: tuple[str, ...], n: int) -> list[str]:
    """``n`` texts taken round-robin from ``texts``."""
    return [texts[i % len(texts)] for i in range(n)]


class Recorder:
    """Collects a child's measurements and prints them as one JSON line at the end."""

    def __init__(self, name: str, start_rss: int) -> None:
        self.data: dict = {"name": name, "memory_mib": {"start": mib(start_rss)}}

    def memory(self, phase: str, peak: bool = False) -> None:
        value = peak_rss_bytes() if peak else rss_bytes()
        self.data["memory_mib"][phase] = mib(value)

    def put(self, key: str, value) -> None:
        self.data[key] = value

    def progress(self, text: str) -> None:
        sys.stderr.write(f"  [{self.data['name']}] {text}\n")
        sys.stderr.flush()

    def finish(self) -> None:
        """Record idle RSS with the model still loaded (as a server between requests), emit."""
        gc.collect()
        time.sleep(0.5)
        self.memory("idle_after")
        self.emit()

    def emit(self) -> None:
        self.data["memory_mib"]["peak"] = mib(peak_rss_bytes())
        sys.stdout.write("BENCH-RESULT " + json.dumps(self.data) + "\n")
        sys.stdout.flush()


def put_long_replies(rec: Recorder, totals_ms: list[float], tokens: list[int]) -> None:
    """Record the measured replies to ``LONG_REPLY`` (at most ``max_new_tokens`` each).

    ``chat_reply_128_ms``: wall time of each reply from the start of the chat step to its
    last token, measured, never extrapolated; ``chat_reply_128_tokens``: how many tokens
    those replies had (fewer than the cap when the model ended its turn);
    ``chat_reply_128_ms_per_token``: each reply's time divided by its own token count.
    """
    rec.put("chat_reply_128_ms", percentiles(totals_ms))
    rec.put(
        "chat_reply_128_tokens",
        {"mean": round(sum(tokens) / len(tokens), 1), "min": min(tokens), "max": max(tokens)},
    )
    per_token = [ms / n for ms, n in zip(totals_ms, tokens) if n]
    rec.put("chat_reply_128_ms_per_token", percentiles(per_token))


def baseline_sentiment(config: BenchConfig, rec: Recorder, run_prompt, decode) -> None:
    """Time the baselines' generate-and-parse sentiment, short then long texts.

    ``run_prompt(prompt, max_tokens, greedy)`` -> (tokens, first_ms, total_ms) evaluates the
    whole prompt from an empty cache; ``decode(tokens)`` -> text.
    """
    from moodchat.evaluation.bench.naive import (  # imports moodchat
        parse_label,
        sentiment_prompt_text,
    )

    rec.progress(f"sentiment: {config.baseline_short_runs} short, {config.baseline_long_runs} long")
    run_prompt(sentiment_prompt_text(SHORT[0]), 5, True)  # warm-up
    labels = []
    for kind, texts, n in (
        ("short", SHORT, config.baseline_short_runs),
        ("long", LONG, config.baseline_long_runs),
    ):
        times = []
        for text in cycle(texts, n):
            out, _, total = run_prompt(sentiment_prompt_text(text), 5, True)
            labels.append(parse_label(decode(out), text))
            times.append(total)
        rec.put(f"sentiment_{kind}_ms", percentiles(times))
        if kind == "short":
            rec.put("batch_texts_per_s", round(len(times) / (sum(times) / 1000), 2))
    rec.put("unparsed_labels", sum(lab is None for lab in labels))


def baseline_chat(config: BenchConfig, rec: Recorder, reply) -> None:
    """Time the baselines' chat: ``CHAT`` replies, then the measured ``LONG_REPLY`` ones.

    ``reply(message)`` -> (tokens, first_ms, total_ms), at most ``config.max_new_tokens``
    tokens, stopping at the end of the turn.
    """
    rec.progress(f"chat: {config.baseline_chat_runs} replies, then as many long replies")
    ttft, rates, totals, tokens = [], [], [], []
    for message in cycle(CHAT, config.baseline_chat_runs):
        out, first_ms, total_ms = reply(message)
        rate = (len(out) - 1) / ((total_ms - first_ms) / 1000) if len(out) > 1 else 0.0
        ttft.append(first_ms)
        rates.append(rate)
        totals.append(total_ms)
        tokens.append(len(out))
    rec.put("chat_ttft_ms", percentiles(ttft))
    rec.put("chat_tokens_per_s", round(sum(rates) / len(rates), 2))
    rec.put("chat_reply_ms", percentiles(totals))
    rec.put("chat_reply_tokens_mean", round(sum(tokens) / len(tokens), 1))
    long_ms, long_tokens = [], []
    for message in cycle(LONG_REPLY, config.baseline_chat_runs):
        out, _, total_ms = reply(message)
        long_ms.append(total_ms)
        long_tokens.append(len(out))
    put_long_replies(rec, long_ms, long_tokens)
