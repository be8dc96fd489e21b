"""The web page in a real headless Chromium (Playwright, system /usr/bin/chromium).

``test_chat_badge_first_reply_then_restore`` runs a real uvicorn server on 127.0.0.1 with
the REAL default model: it sends two messages, checks each mood badge appears before any
reply text, waits for the replies, reloads and checks the session is restored, then keeps
screenshots in ``test-artifacts/`` (desktop and 375 px phone width). The state tests
answer ``/v1/chat`` from Playwright's router (429, 503, 422, an SSE error) to check the
busy and error states without model work.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from live import free_port
from moodchat.server import ServerSettings, create_app

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
MESSAGES = [
    "I finally finished my thesis today and I feel wonderful!",
    "But my landlord just raised the rent again and I'm furious and scared.",
]

# Records, in order, when each user bubble gets its mood and each reply gets its first text.
ORDER_SCRIPT = """
window.__order = [];
new MutationObserver(() => {
  const note = (key) => { if (!window.__order.includes(key)) window.__order.push(key); };
  document.querySelectorAll('.msg.user .badge[data-label]').forEach((_, i) => note('badge' + i));
  document.querySelectorAll('.msg.assistant .text').forEach((t, i) => {
    if (t.textContent.length) note('reply' + i);
  });
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
"""


@pytest.fixture(scope="module")
def live_server(assistant, tmp_path_factory):
    """The moodchat server with the real model, on 127.0.0.1, in a thread."""
    db = tmp_path_factory.mktemp("web") / "web.db"
    settings = ServerSettings(db_path=str(db), max_tokens=40, escalate_after_negative=1)
    app = create_app(settings, assistant=assistant)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: scripts/test.sh installs it (apt-get install chromium)"
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def send(page, text: str) -> None:
    page.fill("#message", text)
    page.press("#message", "Enter")


def test_chat_badge_first_reply_then_restore(live_server, browser):
    context = browser.new_context(viewport={"width": 900, "height": 860})
    page = context.new_page()
    page.add_init_script(ORDER_SCRIPT)
    page.goto(live_server + "/")
    page.wait_for_selector("body[data-ready='true']")
    labels, replies = [], []
    for i, text in enumerate(MESSAGES):
        send(page, text)
        badge = page.locator(".msg.user .badge[data-label]").nth(i)
        badge.wait_for(timeout=60_000)
        labels.append(badge.get_attribute("data-label"))
        done = page.locator(".msg.assistant[data-done='true']").nth(i)
        done.wait_for(timeout=120_000)
        replies.append(done.locator(".text").inner_text())
        assert replies[-1].strip(), "the reply is empty"
    order = page.evaluate("window.__order")
    for i in range(len(MESSAGES)):
        assert order.index(f"badge{i}") < order.index(f"reply{i}"), order
    assert set(labels) <= {"positive", "negative"}
    assert page.locator("#timeline circle").count() == 2
    escalated = "negative" in labels  # the rule: one negative message escalates
    assert page.locator("#escalation").is_visible() == escalated

    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    assert page.locator(".msg.user .text").all_inner_texts() == MESSAGES
    assert [b.get_attribute("data-label") for b in page.locator(".msg.user .badge").all()] == labels
    assert page.locator(".msg.assistant .text").all_inner_texts() == replies
    assert page.locator("#timeline circle").count() == 2
    assert page.locator("#escalation").is_visible() == escalated
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-chat.png"), full_page=True)

    page.set_viewport_size({"width": 375, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.locator("#send").is_visible()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "web-chat-375.png"))
    context.close()


def _error(status: int, code: str, message: str) -> str:
    return json.dumps({"error": {"message": message, "type": "x", "code": code, "param": None}})


@pytest.mark.parametrize("status", [429, 503])
def test_busy_server_state(live_server, browser, status):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 375, "height": 700})
    page.route(
        "**/v1/chat",
        lambda route: route.fulfill(
            status=status,
            headers={"Retry-After": "2", "content-type": "application/json"},
            body=_error(status, "busy", "server busy"),
        ),
    )
    page.goto(live_server + "/")
    page.wait_for_selector("body[data-ready='true']")
    send(page, "hello there")
    status_box = page.locator("#status.busy")
    status_box.wait_for()
    assert f"HTTP {status}" in status_box.inner_text() and "Try again in" in status_box.inner_text()
    assert page.locator("#send").is_disabled()
    assert page.input_value("#message") == "hello there"  # kept for the retry
    assert page.locator(".msg.user.failed").count() == 1
    expect(page.locator("#send")).to_be_enabled(timeout=6000)
    page.close()


def test_error_states(live_server, browser):
    page = browser.new_page()
    replies = iter(
        [
            dict(
                status=422,
                content_type="application/json",
                body=_error(422, "invalid_input", "message: text is too long"),
            ),
            dict(
                status=200,
                content_type="text/event-stream",
                body='event: sentiment\ndata: {"label": "negative", "confidence": 0.9}\n\n'
                'event: token\ndata: {"text": "I am"}\n\n'
                f"event: error\ndata: {_error(503, 'timeout', 'the request took too long')}\n\n",
            ),
        ]
    )
    page.route("**/v1/chat", lambda route: route.fulfill(**next(replies)))
    page.goto(live_server + "/")
    page.wait_for_selector("body[data-ready='true']")
    send(page, "first")
    page.locator("#status.error").wait_for()
    assert "text is too long" in page.inner_text("#status")
    page.fill("#message", "")
    send(page, "second")
    note = page.locator(".msg.assistant .note")
    note.wait_for()
    assert "the request took too long" in note.inner_text()
    assert page.locator(".msg.user .badge[data-label='negative']").count() == 1
    assert "interrupted" in page.inner_text("#status")
    page.close()


def test_a_neutral_mood_gets_its_badge_and_a_dot_on_the_axis(live_server, browser):
    page = browser.new_page()
    body = (
        'event: sentiment\ndata: {"label": "neutral", "confidence": 0.8}\n\n'
        'event: token\ndata: {"text": "It opens at nine."}\n\n'
        'event: done\ndata: {"reply": "It opens at nine.", "finish_reason": "stop"}\n\n'
    )
    page.route(
        "**/v1/chat",
        lambda route: route.fulfill(status=200, content_type="text/event-stream", body=body),
    )
    page.goto(live_server + "/")
    page.wait_for_selector("body[data-ready='true']")
    send(page, "what time do you open on Sunday?")
    badge = page.locator(".msg.user .badge[data-label='neutral']")
    badge.wait_for()
    assert badge.inner_text().startswith("neutral")
    colour = badge.evaluate("b => getComputedStyle(b).color")
    negative = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--neg')")
    assert colour not in ("", negative)
    dot = page.locator("#timeline circle.neu")
    dot.wait_for(state="attached")
    axis_y = page.locator("#timeline line.axis").get_attribute("y1")
    assert float(dot.get_attribute("cy")) == float(axis_y)
    assert "1 neutral" in page.locator("#timeline").get_attribute("aria-label")
    page.close()
