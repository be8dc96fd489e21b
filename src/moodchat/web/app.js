// moodchat web page: vanilla JS, same-origin API only, no libraries.
// POST /v1/chat streams server-sent events (sentiment -> token... -> done); EventSource
// cannot POST, so the stream is read with fetch + ReadableStream and parsed here.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_SESSION = "moodchat.session";
const KEY_API = "moodchat.apiKey";

const state = {
  session: localStorage.getItem(KEY_SESSION) || "",
  apiKey: localStorage.getItem(KEY_API) || "",
  moods: [],
  sending: false,
  busyTimer: null,
};

function newSessionId() {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function useSession(id) {
  state.session = id;
  localStorage.setItem(KEY_SESSION, id);
  $("session-label").textContent = "session " + id;
}

function headers(extra = {}) {
  const h = { ...extra };
  if (state.apiKey) h.Authorization = "Bearer " + state.apiKey;
  return h;
}

async function errorMessage(resp) {
  try {
    const body = await resp.json();
    return (body.error && body.error.message) || body.detail || resp.statusText;
  } catch (_) {
    return resp.statusText || "HTTP " + resp.status;
  }
}

// ---- status, banners, key ------------------------------------------------------------

function showStatus(kind, text) {
  const el = $("status");
  el.className = "banner " + kind;
  el.textContent = text;
  el.hidden = false;
}

function clearStatus() {
  $("status").hidden = true;
  $("status").textContent = "";
}

function setEscalated(flag, reason) {
  $("escalation").hidden = !flag;
  document.body.dataset.escalated = flag ? "true" : "false";
  if (flag && reason) $("escalation-reason").textContent = "Reason: " + reason + ".";
}

function needKey() {
  $("key-panel").hidden = false;
  showStatus("error", "This server needs an API key: enter it above.");
  $("api-key").focus();
}

function busy(resp) {
  const wait = Math.max(1, parseInt(resp.headers.get("Retry-After") || "2", 10) || 2);
  const what = resp.status === 429 ? "too many requests right now" : "temporarily unavailable";
  let left = wait;
  clearInterval(state.busyTimer);
  const tick = () => {
    if (left <= 0) {
      clearInterval(state.busyTimer);
      showStatus("busy", "The server is " + what + ". You can try again now.");
      $("send").disabled = false;
      return;
    }
    showStatus("busy", `The server is ${what} (HTTP ${resp.status}). Try again in ${left} s.`);
    left -= 1;
  };
  $("send").disabled = true;
  tick();
  state.busyTimer = setInterval(tick, 1000);
}

// ---- conversation rendering ------------------------------------------------------------

function bubble(role, text) {
  const li = document.createElement("li");
  li.className = "msg " + role;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : "moodchat";
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  li.append(who, body);
  if (role === "user") {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "reading mood\u2026";
    li.append(document.createElement("br"), badge);
  }
  $("log").append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

function setBadge(li, mood) {
  const badge = li.querySelector(".badge");
  const pct = Math.round(mood.confidence * 100);
  badge.dataset.label = mood.label;
  badge.textContent = `${mood.label} \u00b7 ${pct}%`;
  badge.setAttribute("aria-label", `mood ${mood.label}, confidence ${pct} percent`);
}

function addMood(mood, text) {
  state.moods.push({ label: mood.label, confidence: mood.confidence, text });
  drawTimeline();
}

const MOOD_CLASS = { positive: "pos", negative: "neg", neutral: "neu" };

// Up for positive, down for negative, on the axis for neutral (no feeling to plot).
function moodValue(m) {
  if (m.label === "positive") return m.confidence;
  if (m.label === "negative") return -m.confidence;
  return 0;
}

function drawTimeline() {
  const svg = $("timeline");
  const ns = "http://www.w3.org/2000/svg";
  const W = Math.max(100, Math.round(svg.clientWidth || 300)), H = 60, pad = 8;
  const n = state.moods.length;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const axis = document.createElementNS(ns, "line");
  Object.entries({ x1: 0, x2: W, y1: H / 2, y2: H / 2, class: "axis" })
    .forEach(([k, v]) => axis.setAttribute(k, v));
  svg.append(axis);
  const pts = state.moods.map((m, i) => {
    const v = moodValue(m);
    const x = n === 1 ? W / 2 : pad + (i * (W - 2 * pad)) / (n - 1);
    return [x, H / 2 - v * (H / 2 - pad), m];
  });
  if (n > 1) {
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.map(([x, y]) => `${x},${y}`).join(" "));
    line.setAttribute("class", "line");
    svg.append(line);
  }
  for (const [x, y, m] of pts) {
    const dot = document.createElementNS(ns, "circle");
    Object.entries({ cx: x, cy: y, r: n > 40 ? 2.5 : 4.5, class: MOOD_CLASS[m.label] || "neu" })
      .forEach(([k, v]) => dot.setAttribute(k, v));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${m.label} ${Math.round(m.confidence * 100)}%: ${m.text.slice(0, 60)}`;
    dot.append(title);
    svg.append(dot);
  }
  const count = (label) => state.moods.filter((m) => m.label === label).length;
  svg.setAttribute("aria-label", n
    ? `${n} messages: ${count("positive")} positive, ${count("negative")} negative, ` +
      `${count("neutral")} neutral; latest ${state.moods[n - 1].label}`
    : "No messages yet");
}

function clearConversation() {
  $("log").replaceChildren();
  state.moods = [];
  drawTimeline();
  setEscalated(false);
  clearStatus();
}

// ---- server calls ------------------------------------------------------------------------

async function restore() {
  clearConversation();
  let resp;
  try {
    resp = await fetch(`/v1/sessions/${encodeURIComponent(state.session)}`, { headers: headers() });
  } catch (err) {
    showStatus("error", "Cannot reach the server: " + err.message);
    return;
  }
  if (resp.status === 404) return; // a new conversation
  if (resp.status === 401) return needKey();
  if (!resp.ok) return showStatus("error", "Could not load the conversation: " + (await errorMessage(resp)));
  const data = await resp.json();
  for (const m of data.messages) {
    const li = bubble(m.role, m.content);
    if (m.role === "user" && m.sentiment) {
      setBadge(li, m.sentiment);
      state.moods.push({ ...m.sentiment, text: m.content });
    } else if (m.role === "user") {
      li.querySelector(".badge").remove();
    }
  }
  drawTimeline();
  setEscalated(data.escalated, data.escalation_reason);
  document.body.dataset.restored = String(data.messages.length);
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return null;
  const raw = data.join("\n");
  try {
    return { event, data: JSON.parse(raw) };
  } catch (_) {
    return { event, data: raw };
  }
}

async function* sseEvents(resp) {
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let cut;
    while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut).replace(/^\r?\n\r?\n/, "");
      const ev = parseEvent(block);
      if (ev) yield ev;
    }
  }
}

function failed(userLi, text, why) {
  userLi.classList.add("failed");
  const badge = userLi.querySelector(".badge");
  if (badge && !badge.dataset.label) badge.textContent = "not sent";
  if (!$("message").value) $("message").value = text;
  if (why) showStatus("error", why);
}

async function send(text) {
  clearStatus();
  const userLi = bubble("user", text);
  let resp;
  try {
    resp = await fetch("/v1/chat", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ message: text, session_id: state.session, stream: true }),
    });
  } catch (err) {
    return failed(userLi, text, "Cannot reach the server: " + err.message);
  }
  if (resp.status === 401) return failed(userLi, text) || needKey();
  if (resp.status === 429 || resp.status === 503) return failed(userLi, text) || busy(resp);
  if (!resp.ok) return failed(userLi, text, "Error: " + (await errorMessage(resp)));
  await readReply(resp, userLi, text);
}

async function readReply(resp, userLi, text) {
  let botLi = null;
  let finished = false;
  const out = () => botLi.querySelector(".text");
  try {
    for await (const { event, data } of sseEvents(resp)) {
      if (event === "sentiment") {
        setBadge(userLi, data);
        addMood(data, text);
        botLi = bubble("assistant", "");
        botLi.setAttribute("aria-busy", "true");
      } else if (event === "token" && botLi) {
        out().textContent += data.text;
        botLi.scrollIntoView({ block: "end" });
      } else if (event === "done" && botLi) {
        finished = true;
        out().textContent = data.reply || out().textContent.trim();
        botLi.removeAttribute("aria-busy");
        botLi.dataset.done = "true";
        if (data.escalated) setEscalated(true, null);
      } else if (event === "error") {
        const msg = (data && data.error && data.error.message) || String(data);
        throw new Error(msg);
      }
    }
    if (!finished) throw new Error("the connection closed before the reply was complete");
  } catch (err) {
    if (!botLi) return failed(userLi, text, "Error: " + err.message);
    botLi.removeAttribute("aria-busy");
    const note = document.createElement("span");
    note.className = "note";
    note.textContent = "Reply interrupted: " + err.message;
    botLi.append(note);
    showStatus("error", "The reply was interrupted: " + err.message);
  }
  if (finished) refreshEscalation();
}

async function refreshEscalation() {
  try {
    const resp = await fetch(`/v1/sessions/${encodeURIComponent(state.session)}`, { headers: headers() });
    if (resp.ok) {
      const data = await resp.json();
      setEscalated(data.escalated, data.escalation_reason);
    }
  } catch (_) { /* the banner is best effort */ }
}

// ---- wiring ------------------------------------------------------------------------------

async function onSubmit(ev) {
  ev.preventDefault();
  const box = $("message");
  const text = box.value.trim();
  if (!text || state.sending) return;
  state.sending = true;
  $("send").disabled = true;
  document.body.dataset.sending = "true";
  box.value = "";
  try {
    await send(text);
  } finally {
    state.sending = false;
    document.body.dataset.sending = "false";
    if (!$("status").classList.contains("busy")) $("send").disabled = false;
    box.focus();
  }
}

function init() {
  useSession(state.session || newSessionId());
  $("composer").addEventListener("submit", onSubmit);
  $("message").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("new-session").addEventListener("click", () => {
    useSession(newSessionId());
    clearConversation();
  });
  $("forget-session").addEventListener("click", async () => {
    if (!confirm("Delete this conversation and its mood history from the server?")) return;
    await fetch(`/v1/sessions/${encodeURIComponent(state.session)}`, { method: "DELETE", headers: headers() });
    useSession(newSessionId());
    clearConversation();
  });
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.apiKey = $("api-key").value.trim();
    localStorage.setItem(KEY_API, state.apiKey);
    $("key-panel").hidden = true;
    restore();
  });
  drawTimeline();
  window.addEventListener("resize", drawTimeline);
  restore().finally(() => { document.body.dataset.ready = "true"; });
}

init();
