"""reply_to: the seed and the temperature reach the sampler; the reply is the done event's."""

from moodchat.engine.sampling import SamplingParams
from moodchat.evaluation.playback import reply_to
from moodchat.types import DoneEvent, Message


class RecordingBot:
    """Answers every message with a fixed reply and keeps the sampling it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Message], int, SamplingParams]] = []

    def respond(self, text, history, *, max_new_tokens, sampling):
        self.calls.append((text, history, max_new_tokens, sampling))
        yield DoneEvent(reply=f"reply to {text}", finish_reason="stop", prompt_tokens=3,
                        completion_tokens=2)  # fmt: skip


def test_serving_default_temperature_unless_one_is_given():
    bot = RecordingBot()
    history = [Message("user", "hi"), Message("assistant", "hello")]
    assert reply_to(bot, "a", history, seed=5, max_tokens=40) == "reply to a"
    assert reply_to(bot, "b", history, seed=6, max_tokens=40, temperature=0.2) == "reply to b"
    (_, hist, limit, default), (_, _, _, cooler) = bot.calls
    assert hist == history and limit == 40
    assert default == SamplingParams(seed=5)
    assert cooler == SamplingParams(seed=6, temperature=0.2)
    assert cooler.top_p == default.top_p and cooler.top_k == default.top_k


def test_no_done_event_gives_an_empty_reply():
    class Silent:
        def respond(self, text, history, *, max_new_tokens, sampling):
            return iter(())

    assert reply_to(Silent(), "x", [], seed=0, max_tokens=8) == ""
