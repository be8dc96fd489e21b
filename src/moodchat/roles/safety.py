"""The safety rule for messages about self-harm or suicide: never left to sampling.

Contract:
- ``mentions_self_harm(text)`` is True when the text speaks of suicide, self-harm, not
  wanting to live, or the warning signs that crisis guidelines list beside them: feeling a
  burden whose absence would relieve others, nobody noticing if one were gone, not being
  able to go on, giving one's belongings away, hopelessness about anything getting better.
  Chinese or English word patterns, not the model. Everyday figures of speech that share
  words ("kill time", "想死你了", "干掉拖延症", "dying to see") do not match.
- ``in_crisis(message, earlier_user_messages)`` is True when the message or an earlier
  user message of the conversation matches: once a conversation has spoken of it, every
  later reply keeps pointing to help.
- ``crisis_reply(language, turn=0)`` is the fixed reply such a turn gets, in the user's
  language: caring, and pointing to someone they trust, a local crisis line and the local
  emergency number. ``turn`` (how many crisis replies the conversation already has) picks
  one of a few wordings, none sharing a sentence with another, so a conversation in crisis
  is never answered with a sentence it was already given.
The sentiment role marks such messages (``Sentiment.crisis``), the chat role answers them
with ``crisis_reply``, and the escalation rule hands their session to a human.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_EN = re.compile(
    r"\b(?:kill(?:ing)?\s+my\s*self|suicid(?:e|al)|end(?:ing)?\s+(?:my\s+life|it\s+all)"
    r"|take\s+my\s+(?:own\s+)?life|self[-\s]?harm"
    r"|(?:hurt(?:ing)?|cut(?:ting)?|harm(?:ing)?)\s+my\s*self"
    r"|(?:don'?t|do\s+not)\s+want\s+to\s+(?:live|be\s+alive|exist|be\s+here\s+any\s*more)"
    r"|want\s+to\s+die|better\s+off\s+(?:dead|without\s+me)|no\s+reason\s+to\s+(?:live|go\s+on)"
    r"|wish\s+I\s+(?:was|were)\s+(?:dead|never\s+born)|(?:if|when)\s+I\s+(?:was|were|am)\s+gone"
    r"|(?:if|when)\s+I\s+(?:wasn'?t|weren'?t)\s+(?:here|around)|(?:a\s+)?burden\s+(?:to|on)\s+"
    r"(?:everyone|everybody|my\s+family|them)|(?:can'?t|cannot|if\s+I\s+can)\s+(?:keep\s+going|go\s+on)(?!\s+(?:to|with|at|in|for|about)\b)"
    r"|giving\s+(?:away\s+)?(?:some\s+of\s+)?my\s+(?:things|stuff|belongings)(?:\s+away)?"
    r"|(?:what'?s|what\s+is)\s+the\s+point\s+(?:of|in)\s+(?:anything|living|life|going\s+on)"
    r"|(?:never|not\s+ever)\s+going\s+to\s+get\s+better)\b",
    re.IGNORECASE,
)
_ZH = re.compile(
    r"自杀|轻生|不想活|活不下去|想死(?![你您他她它])|去死吧我|结束(?:自己的)?生命|结束这一切"
    r"|伤害自己|自残|割腕|跳楼|(?:楼上|楼顶|桥上)(?:跳|跳下去)|一了百了|没有我.{0,6}会(?:过得)?更好"
    r"|活着(?:好|真|太)?(?:没意思|没有意义)|(?:要是|如果|假如)我不在了|(?:我|自己)(?:就|只)?是.{0,6}负担"
    r"|撑不下去|坚持不下去了|不想再醒来|离开这个世界|写(?:好了)?遗书|把(?:我的)?东西(?:都)?送(?:人|给)"
    r"|(?:永远|再也)(?:不会(?:变好|好起来)|好不起来)|看不到(?:任何)?希望"
)

_REPLIES = {
    "zh": (
        "听到你这么说，我很担心你，也很谢谢你愿意告诉我。你不需要一个人扛着这些：请现在就联系"
        "一位你信任的人，或者拨打当地的心理援助热线；如果你有立即的危险，请马上拨打当地的急救电话。"
        "你现在安全吗？",
        "谢谢你继续跟我说，我一直在这里听。说不出口也没关系，可以先给信任的朋友或家人发一条消息，"
        "或者打给当地的心理援助热线，只说一句“我现在很难受”就够了。要是觉得自己有危险，请立刻拨打急救电话。",
        "我很在乎你的安全，你的感受是重要的。此刻最要紧的一步，是让身边信任的人知道你的状况，"
        "或者联系当地的心理援助热线，那里的人愿意倾听。如果你可能会伤害自己，请马上打当地的急救电话求助。",
    ),
    "en": (
        "I'm really sorry you're feeling this way, and I'm glad you told me. You don't have "
        "to carry this alone: please reach out right now to someone you trust or to a local "
        "crisis line, and if you are in immediate danger, call your local emergency number. "
        "Are you safe right now?",
        "Thank you for staying and talking with me; I'm here and listening. If the words are "
        "hard, a short message to a trusted friend or family member, or a call or text to a "
        'local crisis line, saying "I\'m not okay right now" is enough to start. If you feel '
        "you might act on these thoughts, please call emergency services straight away.",
        "Your safety matters to me, and so do your feelings. The most important step right "
        "now is letting a person you trust know how you are, or talking to a local crisis "
        "line, where people want to listen. If you think you could hurt yourself, phone your "
        "local emergency number now.",
    ),
}


def mentions_self_harm(text: str) -> bool:
    """True when ``text`` speaks of suicide, self-harm, not wanting to live or its warning signs."""
    return bool(_EN.search(text) or _ZH.search(text))


def in_crisis(message: str, earlier_user_messages: Iterable[str] = ()) -> bool:
    """True when ``message`` or an earlier user message of its conversation is a crisis one."""
    return mentions_self_harm(message) or any(map(mentions_self_harm, earlier_user_messages))


def crisis_reply(language: str, turn: int = 0) -> str:
    """The fixed caring reply for ``language`` (``zh``; anything else gets English), ``turn``
    picking its wording (the conversation's count of crisis replies so far)."""
    replies = _REPLIES.get(language, _REPLIES["en"])
    return replies[turn % len(replies)]


def is_crisis_reply(text: str) -> bool:
    """True when ``text`` is one of the fixed crisis replies."""
    return any(text.strip() == r for replies in _REPLIES.values() for r in replies)
