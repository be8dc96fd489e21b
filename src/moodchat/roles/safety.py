"""The safety rule for messages about self-harm or suicide: never left to sampling.

Contract:
- ``mentions_self_harm(text)`` is True when the text speaks of suicide, self-harm or not
  wanting to live, in Chinese or English (word patterns, not the model). Everyday figures of
  speech that share words ("kill time", "想死你了", "干掉拖延症", "dying to see") do not match.
- ``crisis_reply(language)`` is the fixed reply such a message gets, in the user's
  language: caring, and pointing to someone they trust, a local crisis line and the local
  emergency number, then asking whether they are safe.
The sentiment role marks such messages (``Sentiment.crisis``), the chat role answers them
with ``crisis_reply``, and the escalation rule hands their session to a human.
"""

from __future__ import annotations

import re

_EN = re.compile(
    r"\b(?:kill(?:ing)?\s+my\s*self|suicid(?:e|al)|end(?:ing)?\s+(?:my\s+life|it\s+all)"
    r"|take\s+my\s+(?:own\s+)?life|self[-\s]?harm|(?:hurt|cut)(?:ting)?\s+my\s*self"
    r"|(?:don'?t|do\s+not)\s+want\s+to\s+(?:live|be\s+alive|exist|be\s+here\s+any\s*more)"
    r"|want\s+to\s+die|better\s+off\s+dead|no\s+reason\s+to\s+(?:live|go\s+on))\b",
    re.IGNORECASE,
)
_ZH = re.compile(
    r"自杀|轻生|不想活|活不下去|想死(?![你您他她它])|去死吧我|结束(?:自己的)?生命|结束这一切"
    r"|伤害自己|自残|割腕|跳楼|没有我.{0,6}会(?:过得)?更好|活着(?:好|真|太)?(?:没意思|没有意义)"
)

_REPLIES = {
    "zh": "听到你这么说，我很担心你，也很谢谢你愿意告诉我。你不需要一个人扛着这些：请现在就联系"
    "一位你信任的人，或者拨打当地的心理援助热线；如果你有立即的危险，请马上拨打当地的急救电话。"
    "你现在安全吗？",
    "en": "I'm really sorry you're feeling this way, and I'm glad you told me. You don't have "
    "to carry this alone: please reach out right now to someone you trust or to a local "
    "crisis line, and if you are in immediate danger, call your local emergency number. "
    "Are you safe right now?",
}


def mentions_self_harm(text: str) -> bool:
    """True when ``text`` speaks of suicide, self-harm or not wanting to live."""
    return bool(_EN.search(text) or _ZH.search(text))


def crisis_reply(language: str) -> str:
    """The fixed caring reply for ``language`` (``zh``; anything else gets English)."""
    return _REPLIES.get(language, _REPLIES["en"])
