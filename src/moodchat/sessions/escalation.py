"""Escalation: when a session should go to a human, and telling a webhook about it.

Contract:
- ``EscalationRule(after_negative=N, confidence=X)`` fires on a negative message that is
  the N-th negative in a row (``N`` of 0 or None disables that part) or whose confidence
  is at least X (None disables that part). ``check(streak, sentiment)`` returns the reason
  as a sentence, or None. The store (``moodchat.sessions.store``) applies it inside the transaction
  that records the message and keeps the flag with the session.
- ``WebhookNotifier(url)``: ``submit(summary)`` only enqueues (never blocks, never raises;
  False when the bounded queue is full, counted as ``dropped``). A daemon thread POSTs each
  summary as JSON with ``httpx``: up to ``max_attempts`` tries with exponential backoff
  (``backoff * 2**k`` seconds, capped at ``max_backoff``) on network errors, 408, 429 and
  5xx; other 4xx give up at once. Outcomes are logged (logger ``moodchat.sessions.escalation``) and
  counted in ``stats()``: ``sent``, ``failed`` (gave up), ``retried`` (extra attempts),
  ``dropped``, ``pending``. ``flush(timeout)`` waits for the queue to empty; ``close()``
  stops the thread, abandoning what is left (counted as failed).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

import httpx

from moodchat.types import Sentiment

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 429})
_STOP = object()


@dataclass(frozen=True)
class EscalationRule:
    """When a session is handed to a human."""

    after_negative: int | None = 3
    confidence: float | None = None
    on_crisis: bool = True

    @classmethod
    def never(cls) -> EscalationRule:
        """A rule that never fires."""
        return cls(after_negative=None, confidence=None, on_crisis=False)

    def check(self, streak: int, sentiment: Sentiment) -> str | None:
        """Why the session escalates after this message (``streak`` includes it), or None.

        With ``on_crisis``, a message about self-harm or suicide (``Sentiment.crisis``)
        escalates at once.
        """
        if sentiment.crisis and self.on_crisis:
            return "message about self-harm or suicide"
        if sentiment.label != "negative":
            return None
        if self.confidence is not None and sentiment.confidence >= self.confidence:
            return (
                f"negative message with confidence {sentiment.confidence:.2f}"
                f" (threshold {self.confidence:g})"
            )
        if self.after_negative and streak >= self.after_negative:
            what = "message" if streak == 1 else "messages in a row"
            return f"{streak} negative {what} (threshold {self.after_negative})"
        return None


class WebhookNotifier:
    """Posts escalation summaries to a URL from a background thread."""

    def __init__(
        self,
        url: str,
        *,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 5.0,
        queue_size: int = 1000,
        headers: dict[str, str] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.url = url
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.headers = {"user-agent": "moodchat-webhook", **(headers or {})}
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._counts = {"sent": 0, "failed": 0, "retried": 0, "dropped": 0}
        self._pending = 0
        self._thread: threading.Thread | None = None

    def submit(self, summary: dict) -> bool:
        """Enqueue ``summary`` for delivery; False (and counted) if it had to be dropped."""
        with self._cond:
            if self._stop.is_set():
                self._counts["dropped"] += 1
                return False
            try:
                self._queue.put_nowait(summary)
            except queue.Full:
                self._counts["dropped"] += 1
                log.error("webhook queue full: dropped summary of %s", summary.get("session_id"))
                return False
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="moodchat-webhook", daemon=True
                )
                self._thread.start()
        return True

    def stats(self) -> dict[str, int]:
        """Counters since start: sent, failed, retried, dropped, and pending deliveries."""
        with self._cond:
            return {**self._counts, "pending": self._pending}

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted summary is delivered or given up; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the worker (interrupting backoff waits) and join it."""
        self._stop.set()
        with self._cond:
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    # -- the worker -------------------------------------------------------------------------

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout, headers=self.headers) as client:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                ok = not self._stop.is_set() and self._deliver(client, item)
                with self._cond:
                    self._counts["sent" if ok else "failed"] += 1
                    self._pending -= 1
                    self._cond.notify_all()
        with self._cond:  # anything still queued after close() is abandoned
            while not self._queue.empty():
                if self._queue.get_nowait() is not _STOP:
                    self._counts["failed"] += 1
                    self._pending -= 1
            self._cond.notify_all()

    def _deliver(self, client: httpx.Client, summary: dict) -> bool:
        sid = summary.get("session_id")
        for attempt in range(self.max_attempts):
            if attempt:
                with self._cond:
                    self._counts["retried"] += 1
                delay = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
                if self._stop.wait(delay):
                    break
            try:
                status = client.post(self.url, json=summary).status_code
            except httpx.HTTPError as err:
                log.warning("webhook for %s: attempt %d failed: %s", sid, attempt + 1, err)
                continue
            if 200 <= status < 300:
                log.info("webhook for %s delivered (HTTP %d)", sid, status)
                return True
            log.warning("webhook for %s: attempt %d got HTTP %d", sid, attempt + 1, status)
            if status < 500 and status not in RETRY_STATUS:
                break
        log.error("webhook for %s: giving up after %d attempt(s)", sid, attempt + 1)
        return False
