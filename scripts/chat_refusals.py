"""Count refusals of the chat role's prompt versions on short negative/positive messages.

Usage: python scripts/chat_refusals.py [VERSION ...]   (default: every chat prompt version)
Prints, per version, how many of 24 replies (12 English messages x 2 seeds, 40 tokens)
contain a refusal such as "I can't help with that", and the first few replies.
"""

from __future__ import annotations

import re
import sys

from moodchat.engine.llama import LlamaEngine
from moodchat.engine.sampling import SamplingParams
from moodchat.prompts import chat_prompt, prompt_names
from moodchat.roles.chat import Utf8Stream
from moodchat.template import ChatML
from moodchat.weights.models import default_model_path

MESSAGES = [
    "I failed my driving test today.",
    "My boss yelled at me in front of everyone.",
    "I feel so lonely since I moved to a new city.",
    "My dog died this morning.",
    "I got rejected from my dream school.",
    "My girlfriend broke up with me.",
    "I'm so stressed about my exams.",
    "Nobody came to my birthday party.",
    "I finally got promoted!",
    "It chewed my shoes though.",
    "I lost my wallet on the bus.",
    "My sister is sick in hospital.",
]
REFUSAL = re.compile(r"can(no|')t (assist|help)|unable to|I'm not able|as an AI", re.I)


def reply(engine, template, prefix, message: str, seed: int) -> str:
    """One 40-token reply to ``message``."""
    tokens = template.open_turn("user") + template.text(message) + template.reply_start()
    out, text = Utf8Stream(), ""
    for tok in engine.generate(
        prefix, tokens, max_new_tokens=40, sampling=SamplingParams(seed=seed)
    ):
        text += out.push(engine.token_bytes(tok))
    return text.strip()


def main() -> None:
    engine = LlamaEngine(str(default_model_path()))
    template = ChatML(engine)
    for name in sys.argv[1:] or prompt_names("chat"):
        prompt = chat_prompt(name)
        head = template.turn("system", prompt.system("en"))
        for user, answer in prompt.examples.get("en", ()):
            head += template.turn("user", user) + template.turn("assistant", answer)
        prefix = engine.cache_prefix(head)
        replies = [reply(engine, template, prefix, m, s) for s in (1, 2) for m in MESSAGES]
        refused = sum(bool(REFUSAL.search(r)) for r in replies)
        print(f"{name}: {refused}/{len(replies)} refusals")
        for r in replies[:4]:
            print("   ", r.replace("\n", " ")[:100])
        engine.release_prefix(prefix)


if __name__ == "__main__":
    main()
